"""A sample facility REST API on a real socket, with switchable faults for tests and demos.

Data: ``<data_dir>/api/<facility>/<dataset>/<YYYY-MM-DD>.jsonl`` (one JSON object per line, each
with an ``updated_at`` ISO timestamp with offset). Routes:

* every route also answers under ``/<facility>`` (``/<facility>/api/v1/token``,
  ``/<facility>/api/v1/driver-health-checks``): one base URL per facility system;
* ``POST /api/v1/token`` - JSON ``{"username", "password"}`` -> ``{"access_token", "expires_in"}``;
* ``GET /api/v1/<facility>/driver-health-checks`` and ``GET /api/v1/<facility>/health-workforce``
  with ``updated_from`` / ``updated_to`` (half-open window) and either ``page`` + ``page_size``
  (-> ``{"data", "page", "page_size", "total_pages", "total"}``) or ``cursor`` (-> ``{"data",
  "next_cursor"}``; ``cursor`` absent on the first request, ``page_size`` optional).

Records are served in ``(updated_at, file name, line)`` order with their JSON text exactly as in
the file (nothing added, nothing dropped, ``updated_at`` kept). Bearer tokens and HTTP basic
auth are both accepted. The request log keeps method, path, page and status - never bodies.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import math
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

#: URL slug -> dataset folder.
ROUTES = {"driver-health-checks": "driver_health_checks", "health-workforce": "health_workforce"}
TOKEN_PATH = "/api/v1/token"
DEFAULT_USERS: Mapping[str, str] = {"s06": "secret"}
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

FAULT_MODES = frozenset(
    {
        "slow",
        "error_500",
        "rate_limit_429",
        "truncated_body",
        "repeat_page",
        "expired_token",
        "auth_reject",
        "bad_request_400",
    }
)


class LoggedRequest(NamedTuple):
    """One request as the server saw it (no bodies, no credentials)."""

    method: str
    path: str
    page: int | None
    status: int


@dataclass
class Fault:
    """An active fault: ``times`` occurrences left (None = unlimited), only on ``page`` if set."""

    mode: str
    times: int | None = None
    page: int | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Record:
    updated_at: dt.datetime
    file: str
    line: int
    text: str


class _State:
    """Shared server state (thread-safe)."""

    def __init__(self, data_dir: Path, users: Mapping[str, str], token_ttl_s: float) -> None:
        self.data_dir = data_dir
        self.users = dict(users)
        self.token_ttl_s = token_ttl_s
        self.lock = threading.Lock()
        self.tokens: dict[str, float] = {}  # token -> monotonic expiry
        self.faults: list[Fault] = []
        self.log: list[LoggedRequest] = []
        self.in_flight = 0
        #: set (and replaced) by clear_faults/stop: wakes handlers sleeping in a ``slow`` fault
        self.wake = threading.Event()

    def take_fault(self, modes: frozenset[str] | set[str], page: int | None) -> Fault | None:
        """The first active fault of one of ``modes`` matching ``page``; uses up one occurrence."""
        with self.lock:
            for fault in self.faults:
                if fault.mode not in modes or (fault.page is not None and fault.page != page):
                    continue
                if fault.times is not None:
                    if fault.times <= 0:
                        continue
                    fault.times -= 1
                return fault
        return None

    def records(self, facility: str, dataset: str, start: dt.datetime, end: dt.datetime) -> list[_Record]:
        """Records of one facility and dataset with ``start <= updated_at < end``, in order."""
        folder = self.data_dir / "api" / facility / dataset
        out: list[_Record] = []
        for path in sorted(folder.glob("*.jsonl")):
            with path.open(encoding="utf-8") as fh:
                for lineno, line in enumerate(fh, start=1):
                    text = line.strip()
                    if not text:
                        continue
                    try:
                        updated = dt.datetime.fromisoformat(str(json.loads(text)["updated_at"]))
                    except (ValueError, KeyError, TypeError):
                        log.warning("%s line %d: no readable updated_at; not served", path.name, lineno)
                        continue
                    if updated.tzinfo is None:
                        log.warning("%s line %d: updated_at has no offset; not served", path.name, lineno)
                        continue
                    if start <= updated < end:
                        out.append(_Record(updated, path.name, lineno, text))
        out.sort(key=lambda r: (r.updated_at, r.file, r.line))
        return out


class _BadRequest(Exception):
    pass


def _encode_cursor(offset: int, page: int) -> str:
    raw = json.dumps({"o": offset, "p": page}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        doc = json.loads(raw)
        offset, page = int(doc["o"]), int(doc["p"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise _BadRequest("invalid cursor") from None
    if offset < 0 or page < 1:
        raise _BadRequest("invalid cursor")
    return offset, page


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms delayed-ACK stalls
    server: _Server

    # -- plumbing ---------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:
        """Route http.server's access log to ``logging`` (debug)."""
        log.debug("api_server: " + format, *args)

    @property
    def state(self) -> _State:
        return self.server.state

    def _record(self, status: int, page: int | None) -> None:
        with self.state.lock:
            self.state.log.append(LoggedRequest(self.command, urlsplit(self.path).path, page, status))

    def _send(
        self,
        status: int,
        body: bytes,
        page: int | None = None,
        headers: Mapping[str, str] | None = None,
        declared_length: int | None = None,
    ) -> None:
        self._record(status, page)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body) if declared_length is None else declared_length))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            if declared_length is not None:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            self.close_connection = True

    def _json(self, status: int, doc: Any, page: int | None = None, headers: Mapping[str, str] | None = None) -> None:
        self._send(status, json.dumps(doc).encode("utf-8"), page, headers)

    def _error(self, status: int, message: str, page: int | None = None, headers: Mapping[str, str] | None = None) -> None:
        self._json(status, {"error": message}, page, headers)

    # -- auth -------------------------------------------------------------------------------
    def _authenticate(self) -> tuple[bool, str | None]:
        """(ok, bearer token used or None). Sends nothing."""
        header = self.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value:
            with self.state.lock:
                expiry = self.state.tokens.get(value)
            return (expiry is not None and time.monotonic() < expiry), value
        if scheme.lower() == "basic" and value:
            try:
                user, _, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False, None
            known = self.state.users.get(user)
            return known is not None and secrets.compare_digest(known, password), None
        return False, None

    # -- routes -----------------------------------------------------------------------------
    def do_POST(self) -> None:
        """``POST /api/v1/token``."""
        self._counted(self._post)

    def do_GET(self) -> None:
        """``GET /api/v1/<facility>/<dataset-slug>``."""
        self._counted(self._get)

    def _counted(self, handler: Any) -> None:
        with self.state.lock:
            self.state.in_flight += 1
        try:
            handler()
        finally:
            with self.state.lock:
                self.state.in_flight -= 1

    def _post(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        # Also /<facility>/api/v1/token: each facility as its own system under its own base URL.
        if path != TOKEN_PATH and not (path.endswith(TOKEN_PATH) and path.count("/") == TOKEN_PATH.count("/") + 1):
            self._error(404, "not found")
            return
        if self.state.take_fault({"auth_reject"}, None):
            self._error(401, "authentication rejected")
            return
        try:
            doc = json.loads(raw)
            user, password = str(doc["username"]), str(doc["password"])
        except (ValueError, KeyError, TypeError):
            self._error(400, "expected JSON with username and password")
            return
        known = self.state.users.get(user)
        if known is None or not secrets.compare_digest(known, password):
            self._error(401, "invalid credentials")
            return
        token = secrets.token_urlsafe(24)
        with self.state.lock:
            self.state.tokens[token] = time.monotonic() + self.state.token_ttl_s
        self._json(200, {"access_token": token, "token_type": "Bearer", "expires_in": self.state.token_ttl_s})

    def _get(self) -> None:
        parts = urlsplit(self.path)
        segs = parts.path.strip("/").split("/")
        if len(segs) == 4 and segs[1:3] == ["api", "v1"]:
            # /<facility>/api/v1/<slug>: the facility's own base URL (how the pipeline's
            # connections address it), same as /api/v1/<facility>/<slug>.
            segs = ["api", "v1", segs[0], segs[3]]
        if len(segs) != 4 or segs[:2] != ["api", "v1"] or segs[3] not in ROUTES:
            self._error(404, "not found")
            return
        facility, dataset = segs[2], ROUTES[segs[3]]
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            page, offset, page_size, use_cursor = self._paging(query)
        except _BadRequest as exc:
            self._error(400, str(exc))
            return
        if self.state.take_fault({"auth_reject"}, page):
            self._error(401, "authentication rejected", page)
            return
        ok, token = self._authenticate()
        if not ok:
            self._error(401, "invalid or expired token" if token else "authentication required", page,
                        {"WWW-Authenticate": 'Bearer error="invalid_token"' if token else 'Bearer realm="api"'})
            return
        if token is not None and self.state.take_fault({"expired_token"}, page):
            with self.state.lock:
                self.state.tokens.pop(token, None)
            self._error(401, "token expired", page,
                        {"WWW-Authenticate": 'Bearer error="invalid_token", error_description="token expired"'})
            return
        if self._pre_faults(page):
            return
        if not (self.state.data_dir / "api" / facility).is_dir():
            self._error(404, "unknown facility", page)
            return
        try:
            start = self._instant(query, "updated_from")
            end = self._instant(query, "updated_to")
        except _BadRequest as exc:
            self._error(400, str(exc), page)
            return
        records = self.state.records(facility, dataset, start, end)
        repeat = self.state.take_fault({"repeat_page"}, page) if page > 1 else None
        served_page, served_offset = page, offset
        same_cursor = False
        if repeat is not None:
            if use_cursor and repeat.params.get("what") == "cursor":
                same_cursor = True  # fresh data, but hand back the cursor just received
            else:
                served_page, served_offset = page - 1, offset - page_size
        chunk = records[served_offset : served_offset + page_size]
        data = "[" + ",".join(r.text for r in chunk) + "]"
        if use_cursor:
            end_offset = served_offset + page_size
            if same_cursor:
                next_cursor: str | None = query.get("cursor")
            else:
                next_cursor = _encode_cursor(end_offset, served_page + 1) if end_offset < len(records) else None
            tail: dict[str, Any] = {"next_cursor": next_cursor}
        else:
            tail = {
                "page": page,
                "page_size": page_size,
                "total_pages": max(1, math.ceil(len(records) / page_size)),
                "total": len(records),
            }
        body = ('{"data":' + data + "," + json.dumps(tail)[1:]).encode("utf-8")
        truncated = self.state.take_fault({"truncated_body"}, page)
        if truncated is not None:
            cut = max(1, int(len(body) * float(truncated.params.get("fraction", 0.5))))
            if truncated.params.get("declare_full_length", True):
                self._send(200, body[:cut], page, declared_length=len(body))
            else:
                self._send(200, body[:cut], page)
            return
        self._send(200, body, page)

    # -- helpers ----------------------------------------------------------------------------
    def _pre_faults(self, page: int | None) -> bool:
        """Apply slow / 500 / 429 / 400 faults; True if a response was already sent."""
        slow = self.state.take_fault({"slow"}, page)
        if slow is not None:
            with self.state.lock:
                wake = self.state.wake
            wake.wait(float(slow.params.get("seconds", 1.0)))
        fault = self.state.take_fault({"error_500", "rate_limit_429", "bad_request_400"}, page)
        if fault is None:
            return False
        if fault.mode == "error_500":
            self._error(500, "internal server error", page)
        elif fault.mode == "rate_limit_429":
            self._error(429, "too many requests", page, {"Retry-After": str(fault.params.get("retry_after", 1))})
        else:
            self._error(400, "bad request", page)
        return True

    @staticmethod
    def _instant(query: Mapping[str, str], name: str) -> dt.datetime:
        text = query.get(name)
        if not text:
            raise _BadRequest(f"{name} is required")
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            raise _BadRequest(f"{name} is not an ISO 8601 timestamp") from None
        if value.tzinfo is None:
            raise _BadRequest(f"{name} needs a UTC offset")
        return value

    @staticmethod
    def _paging(query: Mapping[str, str]) -> tuple[int, int, int, bool]:
        """(page number, offset, page size, cursor style?)."""
        try:
            page_size = int(query.get("page_size") or DEFAULT_PAGE_SIZE)
        except ValueError:
            raise _BadRequest("page_size must be an integer") from None
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise _BadRequest(f"page_size must be 1..{MAX_PAGE_SIZE}")
        if "page" in query:
            try:
                page = int(query["page"])
            except ValueError:
                raise _BadRequest("page must be an integer") from None
            if page < 1:
                raise _BadRequest("page must be >= 1")
            return page, (page - 1) * page_size, page_size, False
        if query.get("cursor"):
            offset, page = _decode_cursor(query["cursor"])
            return page, offset, page_size, True
        return 1, 0, page_size, True


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: _State) -> None:
        super().__init__(address, _Handler)
        self.state = state


class ServerHandle:
    """A running sample API server (stop it, or use it as a context manager)."""

    def __init__(self, server: _Server, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self.port: int = server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def requests_log(self) -> list[LoggedRequest]:
        """A copy of the requests served so far (method, path, page, status)."""
        with self._server.state.lock:
            return list(self._server.state.log)

    def set_fault(self, mode: str, *, times: int | None = None, page: int | None = None, **params: Any) -> None:
        """Switch on a fault (replacing one of the same mode).

        Args:
            mode: one of :data:`FAULT_MODES`.
            times: occurrences before the fault switches itself off (None = every request).
            page: only requests for this page number (1-based; cursor pages count too).
            params: ``slow``: ``seconds``; ``rate_limit_429``: ``retry_after``;
                ``truncated_body``: ``fraction`` (0.5), ``declare_full_length`` (True);
                ``repeat_page``: ``what`` = ``content`` (default: page k's content again for
                page k+1) or ``cursor`` (return the cursor just received).
        """
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}; expected one of {sorted(FAULT_MODES)}")
        if mode == "repeat_page" and page is None:
            page = 2
        with self._server.state.lock:
            self._server.state.faults = [f for f in self._server.state.faults if f.mode != mode]
            self._server.state.faults.append(Fault(mode, times, page, dict(params)))

    def clear_faults(self) -> None:
        """Switch every fault off (and cut short any ``slow`` response still sleeping)."""
        state = self._server.state
        with state.lock:
            state.faults.clear()
            state.wake.set()
            state.wake = threading.Event()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is being handled (so the request log is settled)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._server.state.lock:
                if self._server.state.in_flight == 0:
                    return True
            time.sleep(0.005)
        return False

    def clear_log(self) -> None:
        """Forget the requests served so far."""
        with self._server.state.lock:
            self._server.state.log.clear()

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        if self._thread.is_alive():
            self._server.state.wake.set()
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def start_server(
    data_dir: Path,
    port: int = 0,
    users: Mapping[str, str] | None = None,
    *,
    host: str = "127.0.0.1",
    token_ttl_s: float = 3600.0,
) -> ServerHandle:
    """Start the sample API in a background thread.

    Args:
        data_dir: root holding ``api/<facility>/<dataset>/<YYYY-MM-DD>.jsonl``.
        port: TCP port (0 = any free port; see ``handle.port``).
        users: username -> password accepted by the token endpoint and basic auth
            (default ``{"s06": "secret"}``, dev only).
        host: interface to bind (loopback by default).
        token_ttl_s: lifetime of issued tokens.
    """
    state = _State(Path(data_dir), DEFAULT_USERS if users is None else users, token_ttl_s)
    server = _Server((host, port), state)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="api-server", daemon=True)
    thread.start()
    return ServerHandle(server, thread)


__all__ = ["FAULT_MODES", "ROUTES", "Fault", "LoggedRequest", "ServerHandle", "start_server"]
