"""FHIR search over REST: one data interval of a resource type into the raw zone, page by page.

``GET <base>/<Type>?_lastUpdated=ge<start>&_lastUpdated=lt<end>&_count=<n>[&_include=<param>]``
answers a ``searchset`` Bundle; its ``link`` with relation ``next`` is followed until there is
none. Every page is landed exactly as received (``page-00001.json`` ...) before it is parsed.
Referenced resources come with the pages (``_include``, entries with ``search.mode = include``);
references the includes did not cover (a server that ignores or caps ``_include``, or a facility
registered without it) are fetched by a second query, ``GET <base>/Patient?_id=a,b,c``, landed as
``patients-00001.json`` ... Together they are the export the reader resolves references in.

Transport, retries (exponential backoff with full jitter, ``Retry-After``), bearer-token / basic
auth and the one-refresh-on-401 rule are the REST extractor's own (:mod:`extractors.rest_api`).
FHIR adds:

* an ``OperationOutcome`` (with a 4xx, or instead of a Bundle) becomes a reason naming its issue
  severities and codes only (:mod:`extractors.fhir.outcome`), never ``diagnostics`` text;
* a server that answers ``not-supported`` to ``_include`` is asked again without it (the second
  query then brings the patients);
* ``next`` links are opaque, but must stay on the server the connection names (scheme, host,
  port): a link elsewhere is refused, so credentials never travel to another host; a link seen
  twice, or a page repeating the previous one, stops the fetch (a server paging forever).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from extractors.fhir.fhirpath import reference_key
from extractors.fhir.outcome import outcome_issues, outcome_summary
from extractors.file_drop.helpers import LandedFile, write_manifest
from extractors.rest_api.client import (  # the REST extractor's transport, reused as is
    AuthConfig,
    BackoffPolicy,
    FetchResult,
    _Fetcher,
    _now_utc,
    _public_endpoint,
    _write_atomic,
)
from extractors.rest_api.errors import ApiProtocolError, ApiRequestRejected

log = logging.getLogger(__name__)

SEARCH_PAGE_PREFIX = "page-"
REFERENCE_PAGE_PREFIX = "patients-"
#: ids per second query (``_id=a,b,c``): short enough for any URL limit
IDS_PER_QUERY = 50
DEFAULT_MAX_PAGES = 10_000


def _instant(value: dt.datetime, name: str) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.isoformat()


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def _outcome_detail(resp: requests.Response) -> str | None:
    try:
        doc = json.loads(resp.content)
    except ValueError:
        return None
    return outcome_summary(doc) if isinstance(doc, dict) and doc.get("resourceType") == "OperationOutcome" else None


def _next_link(doc: dict[str, Any]) -> str | None:
    for link in doc.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return str(link["url"])
    return None


def _entries(doc: dict[str, Any]) -> list[dict[str, Any]]:
    entries = doc.get("entry") or []
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


class FhirSearch:
    """One interval's search (not reusable)."""

    def __init__(self, fetcher: _Fetcher, base_url: str, raw_dir: Path, fmt: str | None, name_prefix: str,
                 max_pages: int) -> None:
        self.fetcher = fetcher
        self.base_url = base_url.rstrip("/")
        self.origin = _origin(self.base_url)
        self.raw_dir = raw_dir
        self.fmt = fmt
        self.prefix = name_prefix
        self.max_pages = max_pages
        self.landed: list[LandedFile] = []
        self.records = 0
        self.pages = 0
        self.outcomes: Counter[str] = Counter()
        self.referenced: set[str] = set()
        self.included: set[str] = set()

    # ------------------------------------------------------------------ one query, all its pages
    def run_query(self, what: str, first_url: str, params: list[tuple[str, str | int]] | None, kind: str,
                  on_doc: Callable[[dict[str, Any]], None]) -> None:
        url: str | None = first_url
        seen: set[str] = set()
        previous: str | None = None
        number = 0
        while url is not None:
            number += 1
            self.pages += 1
            if self.pages > self.max_pages:
                raise ApiProtocolError(f"{what}: more than {self.max_pages} pages; stopping (server paging forever?)",
                                       page=number)
            dest = self.raw_dir / f"{kind}{number:05d}.json"
            received: dict[str, Any] = {}

            def keep(body: bytes, dest: Path = dest, received: dict[str, Any] = received) -> None:
                _write_atomic(dest, body)
                received.update(at=_now_utc(), sha256=hashlib.sha256(body).hexdigest(), size=len(body))

            doc = self.fetcher.get_url(number, url, keep, params if number == 1 else None)
            if isinstance(doc, dict) and doc.get("resourceType") == "OperationOutcome":
                dest.unlink(missing_ok=True)
                raise ApiProtocolError(f"{what} page {number}: the server answered {outcome_summary(doc)}", page=number)
            if not isinstance(doc, dict) or doc.get("resourceType") != "Bundle" or doc.get("type") != "searchset":
                dest.unlink(missing_ok=True)
                raise ApiProtocolError(f"{what} page {number}: response is not a searchset Bundle", page=number)
            entries = _entries(doc)
            digest = hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest()
            if entries and digest == previous:
                dest.unlink(missing_ok=True)
                raise ApiProtocolError(f"{what}: page {number} repeats page {number - 1} (identical content); stopping",
                                       page=number)
            previous = digest
            self.landed.append(LandedFile(name=f"{self.prefix}/{dest.name}", raw_path=str(dest),
                                          sha256=received["sha256"], size=received["size"], format=self.fmt,
                                          encoding="utf-8", received_at=received["at"]))
            on_doc(doc)
            nxt = _next_link(doc)
            if nxt is not None:
                if _origin(nxt) != self.origin:
                    raise ApiProtocolError(f"{what} page {number}: the next link points to another server; not followed",
                                           page=number)
                if nxt in seen:
                    raise ApiProtocolError(f"{what}: page {number + 1} repeats an earlier page (next link returned "
                                           "twice); stopping", page=number)
                seen.add(nxt)
            url = nxt

    # ------------------------------------------------------------------ what the pages hold
    def take_matches(self, resource: str, element: str, target: str) -> Callable[[dict[str, Any]], None]:
        def on_doc(doc: dict[str, Any]) -> None:
            for entry in _entries(doc):
                res = entry.get("resource")
                mode = (entry.get("search") or {}).get("mode")
                if not isinstance(res, dict):
                    continue
                rtype = res.get("resourceType")
                if rtype == "OperationOutcome" or mode == "outcome":
                    self.outcomes.update(outcome_issues(res))
                elif rtype == resource and mode != "include":
                    self.records += 1
                    ref = res.get(element)
                    key = reference_key(ref.get("reference")) if isinstance(ref, dict) else None
                    if key and key.startswith(f"{target}/"):
                        self.referenced.add(key)
                elif rtype == target:
                    self._included(res, entry)
        return on_doc

    def take_targets(self, target: str) -> Callable[[dict[str, Any]], None]:
        def on_doc(doc: dict[str, Any]) -> None:
            for entry in _entries(doc):
                res = entry.get("resource")
                if isinstance(res, dict) and res.get("resourceType") == target:
                    self._included(res, entry)
        return on_doc

    def _included(self, res: dict[str, Any], entry: dict[str, Any]) -> None:
        if isinstance(res.get("id"), str):
            self.included.add(f"{res['resourceType']}/{res['id']}")
        full = reference_key(entry.get("fullUrl"))
        if full:
            self.included.add(full)


def fetch_search_to_raw(
    base_url: str,
    fhir_path: str,
    auth: AuthConfig,
    resource: str,
    window_start: dt.datetime,
    window_end: dt.datetime,
    raw_dir: Path,
    *,
    include: str | None = None,
    reference_element: str = "patient",
    reference_type: str = "Patient",
    page_size: int = 50,
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
    """Search one resource type over ``[window_start, window_end)`` of ``_lastUpdated``; land every page.

    Args:
        base_url: the server root the connection names (``https://host``; the token endpoint of
            ``auth`` is under it).
        fhir_path: the FHIR base under it (``/fhir``).
        auth: credentials (token, basic or none).
        resource: the resource type searched (``Immunization``).
        window_start: inclusive lower bound of ``_lastUpdated`` (timezone-aware).
        window_end: exclusive upper bound (timezone-aware).
        raw_dir: the batch's raw folder; stale pages and the manifest are removed first.
        include: the ``_include`` value (``Immunization:patient``), None to rely on the second query.
        reference_element: the element of ``resource`` that references the resources to land.
        reference_type: their type (``Patient``).
        page_size: ``_count``.
        timeout_s, max_attempts, backoff, session, sleep, rng, clock: as the REST extractor's.
        fmt: ``LandedFile.format`` of the pages.
        name_prefix: folder of ``LandedFile.name`` (default ``api/<base path>``).
        max_pages: hard cap on pages over both queries.

    Returns:
        The landed pages and counts (``FetchResult``).

    Raises:
        ApiTransportError: retryable faults persisted (the task may be retried).
        ApiAuthRejected / ApiRequestRejected: refused (the reason names the OperationOutcome codes).
        ApiProtocolError: not a searchset Bundle, an OperationOutcome instead of one, a repeated page
            or next link, a next link to another server, more than ``max_pages`` pages.
        ValueError: naive or empty window, bad arguments.
    """
    if page_size < 1 or max_attempts < 1 or max_pages < 1 or timeout_s <= 0:
        raise ValueError("page_size, max_attempts and max_pages must be >= 1 and timeout_s > 0")
    if window_end <= window_start:
        raise ValueError("window_end must be after window_start")
    start, end = _instant(window_start, "window_start"), _instant(window_end, "window_end")
    fhir_path = "/" + fhir_path.strip("/") if fhir_path.strip("/") else ""
    base = base_url.rstrip("/") + fhir_path
    base_path = urlsplit(base).path.rstrip("/")
    prefix = (name_prefix or f"api/{base_path.strip('/')}").strip("/")
    raw_dir.mkdir(parents=True, exist_ok=True)
    (raw_dir / "manifest.json").unlink(missing_ok=True)
    for stale in [*raw_dir.glob(f"{SEARCH_PAGE_PREFIX}*.json"), *raw_dir.glob(f"{REFERENCE_PAGE_PREFIX}*.json")]:
        stale.unlink()
    own_session = session is None
    sess = session or requests.Session()
    fetcher = _Fetcher(base_url.rstrip("/"), f"{fhir_path}/{resource}", auth, sess, timeout_s, max_attempts,
                       backoff or BackoffPolicy(), sleep, rng, clock)
    fetcher.error_detail = _outcome_detail
    search = FhirSearch(fetcher, base, raw_dir, fmt, prefix, max_pages)
    params: list[tuple[str, str | int]] = [("_lastUpdated", f"ge{start}"), ("_lastUpdated", f"lt{end}"),
                                           ("_count", page_size)]
    used_include = include
    try:
        try:
            search.run_query(f"/{resource} search", f"{base}/{resource}",
                             params + ([("_include", include)] if include else []), SEARCH_PAGE_PREFIX,
                             search.take_matches(resource, reference_element, reference_type))
        except ApiRequestRejected as exc:
            # A server that does not support _include says so with an OperationOutcome: ask again
            # without it; the second query below brings the referenced resources.
            if not include or search.pages != 1 or "not-supported" not in str(exc):
                raise
            log.warning("%s search: the server does not support _include; fetching %s resources by a second query",
                        resource, reference_type)
            used_include = None
            search.pages = 0
            search.run_query(f"/{resource} search", f"{base}/{resource}", params, SEARCH_PAGE_PREFIX,
                             search.take_matches(resource, reference_element, reference_type))
        missing = sorted(search.referenced - search.included)
        second = 0
        fetcher.path = f"{fhir_path}/{reference_type}"
        for i in range(0, len(missing), IDS_PER_QUERY):
            ids = ",".join(k.split("/", 1)[1] for k in missing[i: i + IDS_PER_QUERY])
            before = search.pages
            search.run_query(f"/{reference_type} query", f"{base}/{reference_type}",
                             [("_id", ids), ("_count", IDS_PER_QUERY)],
                             f"{REFERENCE_PAGE_PREFIX}{i // IDS_PER_QUERY + 1:03d}-", search.take_targets(reference_type))
            second += search.pages - before
    finally:
        if own_session:
            sess.close()
    unresolved = len(search.referenced - search.included)
    statuses = dict(sorted(fetcher.statuses.items()))
    write_manifest(raw_dir, search.landed, extra={
        "source_kind": "rest_api",
        "protocol": "fhir_search",
        "endpoint": _public_endpoint(base, f"/{resource}"),
        "window": {"_lastUpdated_ge": start, "_lastUpdated_lt": end},
        "page_size": page_size,
        "include": used_include,
        "pages": len(search.landed),
        "reference_pages": second,
        "records": search.records,
        "references": len(search.referenced),
        "references_unresolved": unresolved,
        "outcome_issues": dict(search.outcomes),
        "attempts": fetcher.attempts,
        "token_refreshes": fetcher.token_refreshes,
        "http_statuses": {str(k): v for k, v in statuses.items()},
    })
    log.info("/%s: landed %d pages (%d for referenced %s), %d records, %d references unresolved, %d attempts",
             resource, len(search.landed), second, reference_type, search.records, unresolved, fetcher.attempts)
    return FetchResult(files=search.landed, pages=len(search.landed), records=search.records,
                       attempts=fetcher.attempts, http_statuses=statuses, token_refreshes=fetcher.token_refreshes)
