"""A facility API that misbehaves at the HTTP level (found by an audit with a hand-written server):
redirects to other hosts must not carry credentials or bring another host's data; a server that
drips its response must not hold the shard; chunked and gzip bodies still read."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import pytest

from extractors.rest_api import ApiProtocolError, ApiTransportError, AuthConfig, BackoffPolicy, fetch_to_raw

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
START = dt.datetime(2026, 11, 21, tzinfo=TZ)
END = dt.datetime(2026, 11, 22, tzinfo=TZ)
PATH = "/api/v1/01929/driver-health-checks"
FAST = BackoffPolicy(base=0.01, factor=2.0, cap=0.02)
PAGE = json.dumps({"data": [{"id": "R1"}], "page": 1, "total_pages": 1}).encode()


class Server:
    """A loopback HTTP server whose handler is a function of (method, path, body) -> behaviour."""

    def __init__(self, behave):
        self.seen: list[tuple[str, str, bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _handle(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.seen.append((method, self.path, body))
                behave(self, method, body)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _send(handler, status=200, body=PAGE, headers=None):
    handler.send_response(status)
    for k, v in {"Content-Type": "application/json", "Content-Length": str(len(body)), **(headers or {})}.items():
        handler.send_header(k, v)
    handler.end_headers()
    handler.wfile.write(body)


@pytest.fixture
def servers():
    made: list[Server] = []

    def make(behave):
        made.append(Server(behave))
        return made[-1]

    yield make
    for s in made:
        s.close()


def _fetch(base, tmp_path, auth, **kw):
    kw.setdefault("timeout_s", 2.0)
    return fetch_to_raw(base, PATH, auth, START, END, tmp_path / "raw", backoff=FAST, sleep=lambda s: None, **kw)


def test_the_token_request_is_never_redirected_with_the_password(servers, tmp_path):
    other = servers(lambda h, m, b: _send(h, body=json.dumps({"access_token": "stolen"}).encode()))
    api = servers(lambda h, m, b: _send(h, 307, b"", {"Location": f"{other.url}/collect/token"}))
    with pytest.raises(ApiProtocolError, match="redirected it"):
        _fetch(api.url, tmp_path, AuthConfig("token", "s06", "PASSWORDSECRET"))
    assert other.seen == []


def test_a_page_redirect_to_another_host_is_refused_and_one_to_the_same_host_followed(servers, tmp_path):
    other = servers(lambda h, m, b: _send(h, body=json.dumps({"data": [{"id": "FROM-OTHER-HOST"}], "page": 1,
                                                                   "total_pages": 1}).encode()))
    away = servers(lambda h, m, b: _send(h, 302, b"", {"Location": f"{other.url}{h.path}"}))
    with pytest.raises(ApiProtocolError, match="redirected to another host"):
        _fetch(away.url, tmp_path, AuthConfig("basic", "s06", "PASSWORDSECRET"))
    assert other.seen == []

    def same(h, m, b):
        if h.path.startswith("/moved"):
            _send(h)
        else:
            _send(h, 301, b"", {"Location": "/moved" + h.path})

    here = servers(same)
    result = _fetch(here.url, tmp_path, AuthConfig("basic", "s06", "x"))
    assert result.records == 1 and [p for _m, p, _b in here.seen][1].startswith("/moved")


def test_a_server_that_drips_its_response_is_given_up_on_and_retried(servers, tmp_path):
    def drip(h, m, b):
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(PAGE)))
        h.end_headers()
        try:
            for byte in PAGE:
                h.wfile.write(bytes([byte]))
                h.wfile.flush()
                time.sleep(0.05)  # each byte well within the read timeout; the whole far beyond
        except (BrokenPipeError, ConnectionResetError):
            pass

    slow = servers(drip)
    t0 = time.monotonic()
    with pytest.raises(ApiTransportError, match="Timeout"):
        _fetch(slow.url, tmp_path, AuthConfig("none"), timeout_s=0.2, max_attempts=2)
    assert time.monotonic() - t0 < 15  # 2 attempts x (10 x 0.2 s), not len(PAGE) x 0.05 s each


def test_chunked_and_gzip_bodies_are_read(servers, tmp_path):
    def chunked_gzip(h, m, b):
        data = gzip.compress(PAGE)
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Encoding", "gzip")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for i in range(0, len(data), 7):
            part = data[i:i + 7]
            h.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        h.wfile.write(b"0\r\n\r\n")

    api = servers(chunked_gzip)
    assert _fetch(api.url, tmp_path, AuthConfig("none")).records == 1


def test_a_page_over_the_file_limit_is_refused_as_it_arrives_also_when_compressed(servers, tmp_path, monkeypatch):
    """A page lands as a file, so it gets a file's limit (S06_MAX_FILE_BYTES) - counted on the
    decompressed body while it arrives, so neither a huge page nor a gzip bomb fills the memory.
    Not retried: the same page would be as large again."""
    monkeypatch.setenv("S06_MAX_FILE_BYTES", "1000000")
    big = json.dumps({"data": [{"id": "R" * 1000}] * 2000, "page": 1, "total_pages": 1}).encode()
    api = servers(lambda h, m, b: _send(h, body=big))
    with pytest.raises(ApiProtocolError, match=r"over 1000000 bytes \(S06_MAX_FILE_BYTES\)"):
        _fetch(api.url, tmp_path, AuthConfig("none"), max_attempts=3)
    assert len(api.seen) == 1

    bomb = gzip.compress(b'{"data": [' + b" " * 5_000_000 + b"]}")
    assert len(bomb) < 100_000
    zipped = servers(lambda h, m, b: _send(h, body=bomb, headers={"Content-Encoding": "gzip"}))
    with pytest.raises(ApiProtocolError, match="S06_MAX_FILE_BYTES"):
        _fetch(zipped.url, tmp_path, AuthConfig("none"))
    small = servers(lambda h, m, b: _send(h))
    assert _fetch(small.url, tmp_path, AuthConfig("none")).records == 1  # an ordinary page still reads
