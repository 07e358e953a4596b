"""The ``qolaba-nb`` command: ``lab`` (the main job), ``demo`` and ``simulate``."""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

from ._config import resolve_api_key
from ._connect import SIMULATOR_ENV

REPO = Path(__file__).resolve().parent.parent


def _lab(args: argparse.Namespace) -> int:
    """JupyterLab on the notebooks, with the simulator when no key is set; Ctrl+C stops both."""
    from .simulator import Simulator

    env = dict(os.environ)
    sim = None
    if resolve_api_key(None) is None:
        sim = Simulator(port=args.simulator_port)
        sim.start()
        env.update(QOLABA_BASE_URL=sim.base_url, QOLABA_API_KEY=sim.api_key)
        env[SIMULATOR_ENV] = "1"
        print(
            f"QOLABA_API_KEY is not set: the notebooks use the built-in simulator at {sim.base_url}"
        )
    else:
        print("Using the Qolaba API with the key from QOLABA_API_KEY / .env")
    if (REPO / "labconfig" / "page_config.json").exists():
        # our labconfig (announcements off) on top of the user's own configuration
        extra = env.get("JUPYTER_CONFIG_PATH")
        env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(filter(None, [str(REPO), extra]))
    token = secrets.token_hex(16)
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        f"--ServerApp.root_dir={args.notebooks}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={args.port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.open_browser=False",
        f"--IdentityProvider.token={token}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    # Its own session: Ctrl+C reaches this process only, which then stops Lab without its
    # "Shutdown this Jupyter server (y/[n])?" question.
    lab = subprocess.Popen(command, env=env, start_new_session=True)
    print(f"JupyterLab: http://127.0.0.1:{args.port}/lab?token={token}", flush=True)
    print("Press Ctrl+C to stop JupyterLab and the simulator.", flush=True)
    try:
        return lab.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if lab.poll() is None:
            lab.send_signal(signal.SIGTERM)
            try:
                lab.wait(15)
            except subprocess.TimeoutExpired:
                lab.kill()
        if sim is not None:
            sim.stop()
        print("Stopped.")


def _demo(args: argparse.Namespace) -> int:
    from . import Client, RateLimitError, ValidationError
    from .simulator import Simulator

    with Simulator() as sim, Client(sim.api_key, sim.base_url, ledger=False) as client:
        print(f"Qolaba simulator on {sim.base_url} (offline, no key needed)\n")
        models = client.list_models()
        print("models:", ", ".join(m.id for m in models[:8]), "...\n")
        model = args.model
        print(f"> {args.prompt}\n[{model}] ", end="", flush=True)
        with client.stream(args.prompt, model=model) as stream:
            for delta in stream.text_deltas():
                print(delta, end="", flush=True)
            reply = stream.completion()
        usage = reply.usage
        credit = f"{usage.credit:g} credits, ${usage.cost:.6f}" if usage else "no usage reported"
        print(f"\n\n{credit}; {reply.latency_s:.2f} s, first token after {reply.ttft_s or 0:.2f} s")
        try:
            client.chat("hello", model=model, temperature=3)
        except ValidationError as err:
            print(f"\nrefused before sending: {err}")
        try:
            client.chat("hello", model="sim/rate-limited")
        except RateLimitError as err:
            print(f"rate limited after {client.max_retries} retries: {err}")
    return 0


def _simulate(argv: list[str]) -> int:
    from .simulator.__main__ import main

    return main(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["simulate"]:
        return _simulate(argv[1:])
    parser = argparse.ArgumentParser(prog="qolaba-nb", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    lab = sub.add_parser("lab", help="JupyterLab on notebooks/ (with the simulator if no key)")
    lab.add_argument("--port", type=int, default=8888)
    lab.add_argument("--simulator-port", type=int, default=0)
    lab.add_argument("--notebooks", default=str(REPO / "notebooks"))
    demo = sub.add_parser("demo", help="stream one reply from the built-in simulator")
    demo.add_argument("--model", default="google/gemini-2.5-flash")
    demo.add_argument("--prompt", default="What is the capital of France?")
    sub.add_parser("simulate", help="run the built-in simulator in the foreground")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return _demo(args)
    if args.command == "lab":
        return _lab(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
