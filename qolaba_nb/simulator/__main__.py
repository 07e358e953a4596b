"""``python -m qolaba_nb.simulator``: serve the simulator in the foreground until Ctrl+C."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ._app import DEFAULT_API_KEY, create_app
from ._runner import bind_socket, make_server

#: The simulator's key, from the environment (never from the command line).
KEY_ENV = "QOLABA_SIMULATOR_KEY"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m qolaba_nb.simulator",
        description="Serve a local simulator of the Qolaba chat API.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port, 0 for any (default 8765)")
    parser.add_argument(
        "--key-file",
        type=Path,
        help="a file holding the accepted API key (else $QOLABA_SIMULATOR_KEY, else the "
        "public default key); a key on the command line would be visible to every user in ps",
    )
    parser.add_argument("--key", help=argparse.SUPPRESS)  # visible in ps: refused, see below
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="multiplies the models' pacing: 0.5 twice as fast, 0 no pauses (default 1)",
    )
    args = parser.parse_args(argv)
    if args.speed < 0:
        parser.error("--speed must be >= 0")
    if args.key is not None:
        parser.error(
            "--key would show the key to every user in ps: use --key-file or $QOLABA_SIMULATOR_KEY"
        )
    if args.key_file is not None:
        try:
            key = args.key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            parser.error(f"cannot read --key-file: {exc}")
    else:
        key = os.environ.get(KEY_ENV, "").strip() or DEFAULT_API_KEY

    try:
        sock = bind_socket(args.host, args.port)
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if ":" in args.host else args.host
    # The default key is public; a chosen key might be real, so it is not echoed.
    shown = key if key == DEFAULT_API_KEY else "the one given"
    print(f"Qolaba simulator on http://{host}:{port} (key: {shown})", flush=True)
    server = make_server(create_app(key, speed=args.speed), foreground=True)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the Ctrl+C it already handled
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
