"""Fetch one data interval from a facility REST API into the raw zone, page by page.

The run's data interval is the ``updated`` window ``[window_start, window_end)``, sent as the
query parameters ``updated_from`` / ``updated_to`` (ISO 8601 with offset). Every page body is
written to the raw folder exactly as received (``page-00001.json``, ...) before it is parsed;
``manifest.json`` is written last, only when the whole window was fetched, so a folder without a
manifest is an incomplete fetch.

Retries (exponential backoff with full jitter) cover connection errors, timeouts, truncated or
invalid JSON bodies, HTTP 429 (``Retry-After`` honoured, capped) and 5xx. Any other 4xx fails at
once. Nothing logged or raised quotes a response body, a credential or a token.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import json
import logging
import os
import random
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
from urllib3 import exceptions as urllib3_exceptions

from extractors.file_drop.helpers import LandedFile, write_manifest
from extractors.formats import current_limits
from extractors.rest_api.errors import (
    ApiAuthRejected,
    ApiBodyUnusable,
    ApiProtocolError,
    ApiRequestRejected,
    ApiTransportError,
)

log = logging.getLogger(__name__)

Pagination = Literal["page", "cursor"]
AuthKind = Literal["token", "basic", "none"]

DEFAULT_TOKEN_PATH = "/api/v1/token"
DEFAULT_MAX_PAGES = 10_000
#: Refresh a bearer token this many seconds before the server says it expires.
TOKEN_EXPIRY_MARGIN_S = 30.0
#: Redirects followed per request, and only within the requested URL's scheme, host and port: a
#: credential (basic auth, the token request's body) must never reach a host the registry does
#: not name, and another host's data must not be landed as the facility's.
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: A whole response (headers and body) must arrive within this many times ``timeout_s``: the
#: per-read timeout alone lets a server that drips a byte at a time hold a shard for hours.
RESPONSE_DEADLINE_FACTOR = 10.0
PAGE_GLOB = "page-*.json"

#: requests exceptions that are transport faults (worth another attempt).
RETRYABLE_EXCEPTIONS: tuple[type[BaseException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


def is_retryable_status(status: int) -> bool:
    """HTTP statuses worth another attempt: 429 (rate limited) and every 5xx."""
    return status == 429 or 500 <= status <= 599


@dataclass(frozen=True)
class BackoffPolicy:
    """Exponential backoff with (optional) full jitter.

    The ceiling before attempt ``n + 1`` is ``min(cap, base * factor ** (n - 1))``; with full
    jitter the delay is uniform in ``[0, ceiling]`` (AWS "full jitter"). A server's
    ``Retry-After`` replaces the computed delay, capped at ``retry_after_cap``.
    """

    base: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    jitter: bool = True
    retry_after_cap: float = 120.0

    def ceiling(self, attempt: int) -> float:
        """Upper bound of the delay after failed attempt ``attempt`` (1-based)."""
        exponent = max(0, min(attempt - 1, 64))
        return float(min(self.cap, self.base * self.factor**exponent))

    def delay(self, attempt: int, retry_after: float | None = None, rng: Any = random) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based) before the next one.

        Args:
            attempt: how many attempts have failed so far (1 after the first failure).
            retry_after: the server's ``Retry-After`` in seconds, if it sent one.
            rng: anything with ``uniform(a, b)`` (``random`` or a seeded ``random.Random``).
        """
        if retry_after is not None:
            return float(min(max(retry_after, 0.0), self.retry_after_cap))
        ceiling = self.ceiling(attempt)
        return float(rng.uniform(0.0, ceiling)) if self.jitter else ceiling


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; None if absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


@dataclass(frozen=True)
class AuthConfig:
    """How to authenticate against a facility API. ``password`` never appears in ``repr``."""

    kind: AuthKind
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token_path: str = DEFAULT_TOKEN_PATH

    def __post_init__(self) -> None:
        if self.kind not in ("token", "basic", "none"):
            raise ValueError(f"unknown auth kind {self.kind!r} (expected token, basic or none)")
        if self.kind != "none" and (not self.username or self.password is None):
            raise ValueError(f"auth kind {self.kind!r} needs a login and a password in the connection")


class ConnectionLike(Protocol):
    """The attributes of an Airflow ``Connection`` this module reads."""

    host: str | None
    schema: str | None
    port: int | None
    login: str | None
    password: str | None

    @property
    def extra_dejson(self) -> dict[str, Any]: ...  # pragma: no cover


def connection_config(conn: ConnectionLike) -> tuple[str, AuthConfig]:
    """Base URL and auth settings from an Airflow-style HTTP connection.

    ``host`` may carry the scheme (``https://api.example``); otherwise ``schema`` is used as the
    scheme (Airflow's HTTP connection convention), else ``https``. The connection *type* is not a
    scheme: Airflow names every HTTP connection ``http``, so reading it as one would send
    credentials in clear to every API configured without a scheme. A URI-form connection to a
    plain-HTTP API names the scheme in its path, Airflow's ``schema``:
    ``AIRFLOW_CONN_X='http://user:pw@host:8080/http?auth=basic'``. ``port`` is appended when
    set. ``extra_dejson``: ``auth`` (``token`` | ``basic`` | ``none``, default ``token``) and
    optionally ``token_path`` (default ``/api/v1/token``).
    """
    host = (conn.host or "").strip()
    if not host:
        raise ValueError("the API connection has no host")
    if "://" not in host:
        host = f"{(conn.schema or '').strip() or 'https'}://{host}"
    parts = urlsplit(host)
    netloc = parts.netloc
    if conn.port and parts.port is None:
        netloc = f"{netloc}:{int(conn.port)}"
    base_url = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    extra = dict(conn.extra_dejson or {})
    kind = str(extra.get("auth", "token")).lower()
    auth = AuthConfig(
        kind=kind,  # type: ignore[arg-type]  # validated in __post_init__
        username=conn.login,
        password=conn.password,
        token_path=str(extra.get("token_path", DEFAULT_TOKEN_PATH)),
    )
    return base_url, auth


@dataclass(frozen=True)
class FetchResult:
    """What one fetch landed (``files`` as in the manifest) and what it cost."""

    files: list[LandedFile]
    pages: int
    records: int
    attempts: int
    http_statuses: dict[int, int] = field(default_factory=dict)
    token_refreshes: int = 0


_OPTION_TYPES: dict[str, type | tuple[type, ...]] = {
    "pagination": str,
    "page_size": int,
    "timeout_s": (int, float),
    "max_attempts": int,
    "max_pages": int,
}
_BACKOFF_OPTIONS = {"backoff_base_s": "base", "backoff_factor": "factor", "backoff_cap_s": "cap", "backoff_jitter": "jitter"}


def fetch_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for :func:`fetch_to_raw` from a facility's/dataset's ``options`` dict.

    Recognised keys: ``pagination``, ``page_size``, ``timeout_s``, ``max_attempts``,
    ``max_pages`` and ``backoff_base_s``/``backoff_factor``/``backoff_cap_s``/``backoff_jitter``.
    Other keys are ignored (they belong to other parts of the pipeline).

    Raises:
        ValueError: naming the option whose value has the wrong type or range.
    """
    out: dict[str, Any] = {}
    for key, typ in _OPTION_TYPES.items():
        if key not in options:
            continue
        value = options[key]
        if isinstance(value, bool) or not isinstance(value, typ):
            raise ValueError(f"option {key!r} has the wrong type ({type(value).__name__})")
        out[key] = value
    if "pagination" in out and out["pagination"] not in ("page", "cursor"):
        raise ValueError("option 'pagination' must be 'page' or 'cursor'")
    for key in ("page_size", "max_attempts", "max_pages"):
        if key in out and out[key] < 1:
            raise ValueError(f"option {key!r} must be at least 1")
    if "timeout_s" in out and out["timeout_s"] <= 0:
        raise ValueError("option 'timeout_s' must be positive")
    backoff: dict[str, Any] = {}
    for key, attr in _BACKOFF_OPTIONS.items():
        if key in options:
            value = options[key]
            ok = isinstance(value, bool) if attr == "jitter" else isinstance(value, int | float) and not isinstance(value, bool)
            if not ok:
                raise ValueError(f"option {key!r} has the wrong type ({type(value).__name__})")
            backoff[attr] = value
    if backoff:
        out["backoff"] = BackoffPolicy(**backoff)
    return out


def _join(base_url: str, path: str) -> str:
    return f"{base_url.rstrip('/')}/{path.lstrip('/')}"


def _public_endpoint(base_url: str, path: str) -> str:
    """The endpoint URL without user info, query or fragment (safe for the manifest)."""
    parts = urlsplit(_join(base_url, path))
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _write_atomic(dest: Path, body: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _now_utc() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class _Fetcher:
    """One fetch's state: session, auth, counters. Not reusable across fetches."""

    def __init__(
        self,
        base_url: str,
        path: str,
        auth: AuthConfig,
        session: requests.Session,
        timeout_s: float,
        max_attempts: int,
        backoff: BackoffPolicy,
        sleep: Callable[[float], None],
        rng: Any,
        clock: Callable[[], float],
    ) -> None:
        self.base_url = base_url
        self.path = "/" + path.strip("/")
        self.url = _join(base_url, path)
        self.auth = auth
        self.session = session
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.sleep = sleep
        self.rng = rng
        self.clock = clock
        self.attempts = 0
        self.statuses: Counter[int] = Counter()
        self.token_refreshes = 0
        self._token: str | None = None
        self._token_expires_at = 0.0
        #: a content-free detail for a refused request (FHIR: the OperationOutcome's issue codes)
        self.error_detail: Callable[[requests.Response], str | None] | None = None

    # -- authentication -------------------------------------------------------------------
    def _request_kwargs(self) -> dict[str, Any]:
        if self.auth.kind == "basic":
            return {"auth": (self.auth.username or "", self.auth.password or "")}
        if self.auth.kind == "token":
            if self._token is None or self.clock() >= self._token_expires_at:
                self._obtain_token()
            return {"headers": {"Authorization": f"Bearer {self._token}"}}
        return {}

    def _obtain_token(self) -> None:
        """POST the credentials to the token endpoint (with retries on transport faults)."""
        url = _join(self.base_url, self.auth.token_path)
        payload = {"username": self.auth.username, "password": self.auth.password}
        what = "token request"

        def send() -> requests.Response:
            resp = self.session.post(url, json=payload, timeout=self.timeout_s, allow_redirects=False, stream=True)
            if resp.status_code in REDIRECT_STATUSES:
                resp.close()
                raise ApiProtocolError(f"{what} to {self.auth.token_path}: the server redirected it (HTTP "
                                       f"{resp.status_code}); credentials are only sent to the configured URL")
            return self._read(resp)

        _resp, body = self._with_retries(what, None, send, parse_json=True)
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str) or not body["access_token"]:
            raise ApiProtocolError(f"{what} to {self.auth.token_path}: response has no access_token")
        expires_in = body.get("expires_in")
        ttl = float(expires_in) if isinstance(expires_in, int | float) and not isinstance(expires_in, bool) else 3600.0
        self._token = body["access_token"]
        self._token_expires_at = self.clock() + ttl - min(TOKEN_EXPIRY_MARGIN_S, ttl / 2)
        log.info("obtained an API token for %s (expires in %.0f s)", self.path, ttl)

    # -- the retry loop -------------------------------------------------------------------
    def _with_retries(
        self,
        what: str,
        page: int | None,
        send: Callable[[], requests.Response],
        *,
        parse_json: bool,
        on_body: Callable[[bytes], None] | None = None,
    ) -> tuple[requests.Response, Any]:
        """Send until a 200 with (if asked) valid JSON arrives; raise after ``max_attempts``.

        A 401 on a bearer-authenticated page request gets one token refresh and a re-send that
        does not count against the attempt budget; a second 401 is final.
        """
        where = f"{what} for {self.path}" if page is None else f"{what} for {self.path} page {page}"
        failed = 0
        refreshed = False
        content_type = "no content type"
        not_json = 0
        while True:
            self.attempts += 1
            retry_after: float | None = None
            try:
                resp = send()
            except RETRYABLE_EXCEPTIONS as exc:
                reason = type(exc).__name__
            else:
                status = resp.status_code
                self.statuses[status] += 1
                if status == 200:
                    body = resp.content
                    if on_body is not None:
                        on_body(body)
                    if not parse_json:
                        return resp, None
                    try:
                        return resp, json.loads(body)
                    except ValueError:  # JSONDecodeError and UnicodeDecodeError
                        reason = "invalid JSON"
                        not_json += 1
                        media = _MEDIA_TYPE.match(resp.headers.get("Content-Type") or "")
                        content_type = media.group(0).lower() if media else "no content type"
                elif status == 401 and page is not None and self.auth.kind == "token" and not refreshed:
                    refreshed = True
                    self.token_refreshes += 1
                    log.warning("%s: HTTP 401, obtaining a new token once and re-sending", where)
                    self._token = None
                    continue
                elif is_retryable_status(status):
                    reason = f"HTTP {status}"
                    if status == 429:
                        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                elif status in (401, 403):
                    raise ApiAuthRejected(
                        f"{where}: HTTP {status}{self._detail(resp)}, credentials or token rejected (not retried)",
                        status=status, page=page,
                    )
                else:
                    raise ApiRequestRejected(f"{where}: HTTP {status}{self._detail(resp)} (not retried)", status=status,
                                             page=page)
            failed += 1
            if failed >= self.max_attempts:
                if reason == "invalid JSON":
                    what = f"page {page} of {self.path}" if page is not None else where
                    raise ApiBodyUnusable(
                        f"{what}: HTTP 200 with a body that is not valid JSON ({content_type}) in {not_json} of "
                        f"{failed} attempts, the last one included",
                        page=page or 0, attempts=failed, reason=reason)
                else:
                    message = f"{where} failed after {failed} attempts; last error: {reason}"
                raise ApiTransportError(message, page=page or 0, attempts=failed, reason=reason)
            delay = self.backoff.delay(failed, retry_after, self.rng)
            log.warning("%s: attempt %d/%d failed (%s); retrying in %.2f s", where, failed, self.max_attempts, reason, delay)
            self.sleep(delay)

    def _detail(self, resp: requests.Response) -> str:
        """``" (<detail>)"`` from :attr:`error_detail`, or nothing."""
        if self.error_detail is None:
            return ""
        try:
            detail = self.error_detail(resp)
        except Exception:  # a detail must never hide the status
            return ""
        return f" ({detail})" if detail else ""

    def _get(self, page: int, url: str, params: Any) -> requests.Response:
        """One GET, following same-origin redirects only, its body read within the deadline."""
        for _hop in range(MAX_REDIRECTS + 1):
            resp = self.session.get(url, params=params, timeout=self.timeout_s, allow_redirects=False, stream=True,
                                    **self._request_kwargs())
            if resp.status_code not in REDIRECT_STATUSES:
                return self._read(resp, page)
            here = getattr(resp, "url", None) or url
            target = urljoin(here, resp.headers.get("Location") or "")
            resp.close()
            if not _same_origin(here, target):
                raise ApiProtocolError(f"GET for {self.path} page {page}: the server redirected to another host "
                                       f"(HTTP {resp.status_code}); not followed (configure the final URL)", page=page)
            url, params = target, None
        raise ApiProtocolError(f"GET for {self.path} page {page}: more than {MAX_REDIRECTS} redirects", page=page)

    def _read(self, resp: requests.Response, page: int | None = None) -> requests.Response:
        """Read a streamed response's body, giving up (a retryable ``Timeout``) at the deadline.

        ``timeout_s`` bounds each wait for the next bytes; this bounds the whole response, so a
        server that sends a byte at a time cannot hold the facility's shard indefinitely. A body
        (decompressed) over ``S06_MAX_FILE_BYTES`` - the limit of a dropped file, which is what a
        page lands as - is refused as it arrives (``ApiProtocolError``, not retried: the same
        page would be as large again), so one page cannot take the worker's memory.
        """
        raw = getattr(resp, "raw", None)
        if raw is None or not hasattr(raw, "read1"):  # already in memory (a scripted response)
            return resp
        limit = self.timeout_s * RESPONSE_DEADLINE_FACTOR
        deadline = time.monotonic() + limit
        max_bytes = current_limits().max_file_bytes
        parts: list[bytes] = []
        size = 0
        try:
            while True:
                if time.monotonic() > deadline:
                    raise requests.Timeout(f"response not complete within {limit:.0f} s")
                part = raw.read1(1 << 16, decode_content=True)
                if not part:
                    break
                size += len(part)
                if size > max_bytes:
                    resp.close()
                    what = f"page {page}" if page is not None else "the response"
                    raise ApiProtocolError(f"GET for {self.path} {what}: the body is over {max_bytes} bytes "
                                           f"(S06_MAX_FILE_BYTES); ask for smaller pages (page_size)", page=page)
                parts.append(part)
        except requests.Timeout:
            resp.close()
            raise
        except urllib3_exceptions.ProtocolError as exc:
            resp.close()
            raise requests.exceptions.ChunkedEncodingError(type(exc).__name__) from None
        except urllib3_exceptions.DecodeError as exc:
            resp.close()
            raise requests.exceptions.ContentDecodingError(type(exc).__name__) from None
        except urllib3_exceptions.ReadTimeoutError as exc:
            resp.close()
            raise requests.Timeout(type(exc).__name__) from None
        resp._content = b"".join(parts)  # what requests itself stores once a body is read
        resp._content_consumed = True
        resp.close()  # body consumed: returns the connection to the pool (keep-alive across pages)
        return resp

    def get_url(self, page: int, url: str, on_body: Callable[[bytes], None],
                params: list[tuple[str, str | int]] | None = None) -> Any:
        """GET an absolute URL (a FHIR ``next`` link; retrying, same auth) and parse its JSON."""
        _resp, doc = self._with_retries("GET", page, lambda: self._get(page, url, params), parse_json=True,
                                        on_body=on_body)
        return doc

    def get_page(self, page: int, params: dict[str, str | int], on_body: Callable[[bytes], None]) -> Any:
        """GET one page (retrying), handing every received body to ``on_body`` before parsing."""
        _resp, doc = self._with_retries("GET", page, lambda: self._get(page, self.url, params), parse_json=True,
                                        on_body=on_body)
        return doc


def _same_origin(a: str, b: str) -> bool:
    """Same scheme, host and port (default ports made explicit)."""
    ua, ub = urlsplit(a), urlsplit(b)
    defaults = {"http": 80, "https": 443}

    def origin(u: Any) -> tuple[str, str, int | None]:
        return (u.scheme.lower(), (u.hostname or "").lower(), u.port or defaults.get(u.scheme.lower()))

    return origin(ua) == origin(ub)


def _window_param(value: dt.datetime, name: str) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.isoformat()


#: A Content-Type's media type (``text/html``), the only part of it a message repeats.
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}")


def _data_of(doc: Any, path: str, page: int) -> list[Any]:
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise ApiProtocolError(f"page {page} of {path}: response has no 'data' list", page=page)
    return doc["data"]


def _content_hash(data: list[Any]) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # surrogatepass: JSON may escape an unpaired surrogate (the reader makes that record a row
    # error); only this hash needs bytes here.
    return hashlib.sha256(canonical.encode("utf-8", errors="surrogatepass")).hexdigest()


def fetch_to_raw(
    base_url: str,
    path: str,
    auth: AuthConfig,
    window_start: dt.datetime,
    window_end: dt.datetime,
    raw_dir: Path,
    *,
    pagination: Pagination = "page",
    page_size: int = 500,
    timeout_s: float = 30.0,
    max_attempts: int = 5,
    backoff: BackoffPolicy | None = None,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
    fmt: str | None = None,
    name_prefix: str | None = None,
    max_pages: int = DEFAULT_MAX_PAGES,
    rng: Any = random,
    clock: Callable[[], float] = time.monotonic,
) -> FetchResult:
    """Fetch every record updated in ``[window_start, window_end)`` and land the pages unchanged.

    Args:
        base_url: the API root (``https://host:port``), e.g. from :func:`connection_config`.
        path: the dataset endpoint, e.g. ``/api/v1/01929/driver-health-checks``.
        auth: credentials (token, basic or none).
        window_start: inclusive lower bound of ``updated_at`` (timezone-aware).
        window_end: exclusive upper bound of ``updated_at`` (timezone-aware).
        raw_dir: this batch's raw-zone folder; stale ``page-*.json`` and the manifest are
            removed first, so a re-run of the same window replaces the pages.
        pagination: ``page`` (``page=1..``, ``page_size``; ``total_pages`` in the response) or
            ``cursor`` (``cursor`` absent first, then each response's ``next_cursor``).
        page_size: records per page requested.
        timeout_s: connect and read timeout of each request.
        max_attempts: attempts per request (first try included) before giving up.
        backoff: delay policy between attempts (default :class:`BackoffPolicy`).
        session: a ``requests.Session`` to use (one is created and closed otherwise).
        sleep: how to wait between attempts (tests pass a recorder).
        fmt: ``LandedFile.format`` of the pages (e.g. ``gksk_api``), given by the caller.
        name_prefix: folder of ``LandedFile.name`` (default ``api/<path>``).
        max_pages: hard cap on pages; exceeding it fails (a server paging forever).
        rng: random source for the jitter.
        clock: monotonic clock (token expiry).

    Returns:
        The landed pages (as in ``manifest.json``) and counts.

    Raises:
        ApiTransportError: retryable faults persisted through ``max_attempts`` (a
            :class:`~config.errors.TransportError`: the task may be retried).
        FetchFailed: the base of the non-retryable errors below.
        ApiAuthRejected: 401/403 (after one token refresh for bearer tokens).
        ApiRequestRejected: any other 4xx.
        ApiProtocolError: a repeated page (the content of any earlier page) or cursor, a response
            without a ``data`` list, a page number other than the one asked for, more than
            ``max_pages`` pages, or fewer records than the response's ``total`` says.
        ValueError: naive window bounds, an empty window or bad arguments.
    """
    if pagination not in ("page", "cursor"):
        raise ValueError("pagination must be 'page' or 'cursor'")
    if page_size < 1 or max_attempts < 1 or max_pages < 1 or timeout_s <= 0:
        raise ValueError("page_size, max_attempts and max_pages must be >= 1 and timeout_s > 0")
    window = {
        "updated_from": _window_param(window_start, "window_start"),
        "updated_to": _window_param(window_end, "window_end"),
    }
    if window_end <= window_start:
        raise ValueError("window_end must be after window_start")
    clean_path = "/" + path.split("?", 1)[0].strip("/")
    prefix = (name_prefix or f"api/{clean_path.strip('/')}").strip("/")

    raw_dir.mkdir(parents=True, exist_ok=True)
    (raw_dir / "manifest.json").unlink(missing_ok=True)
    for stale in raw_dir.glob(PAGE_GLOB):
        stale.unlink()

    own_session = session is None
    sess = session or requests.Session()
    fetcher = _Fetcher(base_url, clean_path, auth, sess, timeout_s, max_attempts, backoff or BackoffPolicy(), sleep, rng, clock)
    landed: list[LandedFile] = []
    records = 0
    cursor: str | None = None
    seen_cursors: dict[str, int] = {}
    seen_pages: dict[str, int] = {}  # content hash -> the page that had it
    reported_total: int | None = None
    page = 0
    try:
        while True:
            page += 1
            if page > max_pages:
                raise ApiProtocolError(f"{clean_path}: more than {max_pages} pages; stopping (server paging forever?)", page=page)
            params: dict[str, str | int] = dict(window)
            params["page_size"] = page_size
            if pagination == "page":
                params["page"] = page
            elif cursor is not None:
                params["cursor"] = cursor
            dest = raw_dir / f"page-{page:05d}.json"
            received: dict[str, Any] = {}

            def keep(body: bytes, dest: Path = dest, received: dict[str, Any] = received) -> None:
                _write_atomic(dest, body)
                received.update(at=_now_utc(), sha256=hashlib.sha256(body).hexdigest(), size=len(body))

            doc = fetcher.get_page(page, params, keep)
            data = _data_of(doc, clean_path, page)
            digest = _content_hash(data)
            if data and digest in seen_pages:  # any earlier page: a server whose page numbers wrap around
                dest.unlink(missing_ok=True)
                raise ApiProtocolError(
                    f"{clean_path}: page {page} repeats page {seen_pages[digest]} (identical content); stopping",
                    page=page)
            seen_pages[digest] = page
            total_records = doc.get("total")
            if isinstance(total_records, int) and not isinstance(total_records, bool):
                reported_total = total_records
            if pagination == "page" and "page" in doc and doc["page"] != page:
                dest.unlink(missing_ok=True)
                raise ApiProtocolError(f"{clean_path}: asked for page {page}, server answered another page", page=page)
            landed.append(
                LandedFile(
                    name=f"{prefix}/{dest.name}",
                    raw_path=str(dest),
                    sha256=received["sha256"],
                    size=received["size"],
                    format=fmt,
                    encoding="utf-8",
                    received_at=received["at"],
                )
            )
            records += len(data)
            log.info("%s page %d: %d records", clean_path, page, len(data))
            if pagination == "page":
                total = doc.get("total_pages")
                if isinstance(total, int) and not isinstance(total, bool):
                    if page >= total:
                        break
                elif len(data) < page_size:
                    break
            else:
                nxt = doc.get("next_cursor")
                if nxt is None or nxt == "":
                    break
                if not isinstance(nxt, str):
                    raise ApiProtocolError(f"{clean_path}: page {page} has a non-string next_cursor", page=page)
                if nxt == cursor or nxt in seen_cursors:
                    first = seen_cursors.get(nxt, page - 1)
                    raise ApiProtocolError(
                        f"{clean_path}: page {page + 1} repeats page {first + 1} (cursor returned twice); stopping",
                        page=page,
                    )
                seen_cursors[nxt] = page
                cursor = nxt
    finally:
        if own_session:
            sess.close()
    if reported_total is not None and records < reported_total:
        # A wrong total_pages (or a cursor that ends early) would otherwise lose records silently.
        raise ApiProtocolError(
            f"{clean_path}: the server reported {reported_total} records in total but its {len(landed)} page(s) held "
            f"{records}; stopping (pages missing: a wrong total_pages or next_cursor?)", page=page)

    statuses = dict(sorted(fetcher.statuses.items()))
    write_manifest(
        raw_dir,
        landed,
        extra={
            "source_kind": "rest_api",
            "endpoint": _public_endpoint(base_url, clean_path),
            "url_path": clean_path,
            "window": window,
            "pagination": pagination,
            "page_size": page_size,
            "pages": len(landed),
            "records": records,
            "attempts": fetcher.attempts,
            "token_refreshes": fetcher.token_refreshes,
            "http_statuses": {str(k): v for k, v in statuses.items()},
        },
    )
    log.info("%s: landed %d pages, %d records in %d attempts", clean_path, len(landed), records, fetcher.attempts)
    return FetchResult(
        files=landed,
        pages=len(landed),
        records=records,
        attempts=fetcher.attempts,
        http_statuses=statuses,
        token_refreshes=fetcher.token_refreshes,
    )
