"""``python -m qolaba_nb.simulator``: serve the simulator in the foreground until Ctrl+C."""

from __future__ import annotations

import argparse
import sys

from ._app import DEFAULT_API_KEY, create_app
from ._runner import bind_socket, make_server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m qolaba_nb.simulator",
        description="Serve a local simulator of the Qolaba chat API.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port, 0 for any (default 8765)")
    parser.add_argument("--key", default=DEFAULT_API_KEY, help="accepted API key")
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="multiplies the models' pacing: 0.5 twice as fast, 0 no pauses (default 1)",
    )
    args = parser.parse_args(argv)
    if args.speed < 0:
        parser.error("--speed must be >= 0")

    try:
        sock = bind_socket(args.host, args.port)
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if ":" in args.host else args.host
    # The default key is public; a key chosen with --key might be real, so it is not echoed.
    shown = args.key if args.key == DEFAULT_API_KEY else "as given with --key"
    print(f"Qolaba simulator on http://{host}:{port} (key: {shown})", flush=True)
    server = make_server(create_app(args.key, speed=args.speed), foreground=True)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the Ctrl+C it already handled
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
