"""The ``qolaba-nb`` command: ``lab`` (the main job), ``tutorials``, ``demo`` and ``simulate``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _lab(args: argparse.Namespace) -> int:
    """JupyterLab on the tutorials, with the simulator when no key is set; see ``_lab.py``."""
    from ._lab import run_lab

    return run_lab(args.directory, args.port, args.simulator_port)


def _tutorials(args: argparse.Namespace) -> int:
    from ._resources import copy_tutorials

    dest = Path(args.dest).resolve()
    written = copy_tutorials(dest)
    kept = "" if written else " (every file was already there; none overwritten)"
    print(f"Copied {len(written)} files into {dest}{kept}.")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from . import Client, RateLimitError, ValidationError
    from ._render import usage_line
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
        line = usage_line(
            reply.credit,
            reply.cost,
            reported=reply.usage is not None,
            latency_s=reply.latency_s,
            ttft_s=reply.ttft_s,
        )
        print(f"\n\n{line}")
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
    lab = sub.add_parser(
        "lab",
        help="JupyterLab on the tutorials (with the simulator if no key is set)",
        description="JupyterLab with the tutorials, and the built-in simulator when no "
        "QOLABA_API_KEY is set. From a checkout it opens notebooks/; from an installed "
        "package it opens DIRECTORY and copies the tutorials into DIRECTORY/qolaba-tutorials/ "
        "unless that folder exists. Ctrl+C, SIGTERM or SIGHUP stop everything.",
    )
    lab.add_argument(
        "directory",
        nargs="?",
        help="the directory to open (default: notebooks/ of a checkout, else the current one)",
    )
    lab.add_argument(
        "--port",
        type=int,
        default=None,
        help="JupyterLab's port; an error if it is busy (default: 8888 or the next free one)",
    )
    lab.add_argument("--simulator-port", type=int, default=0, help="default: any free port")
    tutorials = sub.add_parser(
        "tutorials", help="copy the tutorial notebooks and prompt sets into DEST"
    )
    tutorials.add_argument("dest", help="destination directory (existing files are kept)")
    demo = sub.add_parser("demo", help="stream one reply from the built-in simulator")
    demo.add_argument("--model", default="google/gemini-2.5-flash")
    demo.add_argument("--prompt", default="What is the capital of France?")
    sub.add_parser("simulate", help="run the built-in simulator in the foreground")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return _demo(args)
    if args.command == "lab":
        return _lab(args)
    if args.command == "tutorials":
        return _tutorials(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
