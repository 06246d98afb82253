"""Local alert sinks on 127.0.0.1: a JSON-webhook HTTP server and an SMTP server (aiosmtpd).

``make up`` runs the HTTP sink as the demo's alert channel (alerts land in a JSON-lines file);
the tests run both to receive real notifications over real sockets.

    python -m ops.sinks --port 0 --out .work/service/alerts.jsonl
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class HttpSink:
    """A running webhook sink; ``received`` holds each request (path, headers, body bytes)."""

    server: ThreadingHTTPServer
    thread: threading.Thread
    received: list[dict[str, Any]] = field(default_factory=list)
    out: Path | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/alerts"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_http_sink(port: int = 0, out: Path | None = None) -> HttpSink:
    """Serve ``POST /<anything>`` on 127.0.0.1, answer 204, keep (and optionally append) each body."""
    sink: HttpSink

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
            entry = {"path": self.path, "headers": dict(self.headers), "body": body}
            sink.received.append(entry)
            if sink.out is not None:
                with sink.out.open("ab") as fh:
                    fh.write(body.replace(b"\n", b" ") + b"\n")
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:  # quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    sink = HttpSink(server, thread, out=out)
    thread.start()
    return sink


@contextmanager
def smtp_sink() -> Iterator[tuple[int, list[Any]]]:
    """An aiosmtpd server on 127.0.0.1 (free port); yields ``(port, messages)``, each an
    ``email.message.EmailMessage``."""
    import email
    import email.policy
    import socket

    from aiosmtpd.controller import Controller

    messages: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
            msg["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
            messages.append(msg)
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, messages
    finally:
        controller.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--out", type=Path, required=True, help="JSON-lines file receiving each alert body")
    args = p.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sink = start_http_sink(args.port, args.out)
    print(json.dumps({"url": sink.url}), flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sink.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
