"""Airflow's worker log server, bound to 127.0.0.1 (Airflow's own ``serve_logs`` binds every interface).

The scheduler, triggerer and Celery workers run with ``--skip-serve-logs``; this process serves the
same FastAPI app (JWT-protected, signed with ``[api] secret_key``) on loopback only.

    python -m ops.serve_logs --port 8793
"""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    args = p.parse_args(argv)
    uvicorn.run("airflow.utils.serve_logs.log_server:get_app", factory=True, host=args.host, port=args.port,
                log_level="warning", log_config=None, access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
