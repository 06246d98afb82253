"""CLI: ``python -m sample_data.api_server --data <dir> --port N [--user NAME:PASSWORD]``."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path

from sample_data.api_server.server import FAULT_MODES, start_server


def main(argv: list[str] | None = None) -> int:
    """Serve until interrupted (Ctrl-C or SIGTERM)."""
    parser = argparse.ArgumentParser(prog="python -m sample_data.api_server", description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="data root holding api/<facility>/<dataset>/*.jsonl")
    parser.add_argument("--port", type=int, default=8086, help="TCP port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--user", action="append", default=[], metavar="NAME:PASSWORD",
                        help="accepted credentials (repeatable; default s06:secret, dev only)")
    parser.add_argument("--fault", choices=sorted(FAULT_MODES), action="append", default=[],
                        help="switch a fault on for every request (repeatable)")
    parser.add_argument("--token-ttl", type=float, default=3600.0, help="token lifetime in seconds")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    users = dict(u.split(":", 1) for u in args.user) if args.user else None
    handle = start_server(args.data, args.port, users, token_ttl_s=args.token_ttl)
    for mode in args.fault:
        handle.set_fault(mode)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print(f"sample facility API on {handle.url} (data {args.data}); Ctrl-C to stop", flush=True)
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        handle.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
