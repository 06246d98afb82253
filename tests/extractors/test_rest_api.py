"""REST API extractor: backoff, retry classification, pagination, landing, the page reader, and
every fault mode of the sample facility API on a real socket."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import random
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import requests

from extractors.formats import FileRejected
from extractors.rest_api import (
    ApiAuthRejected,
    ApiProtocolError,
    ApiRequestRejected,
    ApiTransportError,
    AuthConfig,
    BackoffPolicy,
    FetchFailed,
    connection_config,
    fetch_options,
    fetch_to_raw,
    is_retryable_status,
    parse_retry_after,
    read_json_pages,
)
from pipeline.errors import BatchFailed, TransportError
from sample_data.api_server import start_server

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
W_START = dt.datetime(2026, 11, 21, tzinfo=TZ)
W_END = dt.datetime(2026, 11, 24, tzinfo=TZ)
PATH = "/api/v1/01929/driver-health-checks"
TOKEN = AuthConfig("token", "s06", "secret")
BASIC = AuthConfig("basic", "s06", "secret")
FAST = BackoffPolicy(base=0.01, factor=2.0, cap=0.05)


# ---------------------------------------------------------------------------------------------
# unit: backoff, Retry-After, statuses, connection, options
# ---------------------------------------------------------------------------------------------


def test_backoff_ceiling_is_exponential_and_capped():
    policy = BackoffPolicy(base=0.5, factor=2.0, cap=5.0, jitter=False)
    assert [policy.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert policy.delay(10_000) == 5.0  # no overflow


def test_backoff_full_jitter_stays_within_bounds():
    policy = BackoffPolicy(base=1.0, factor=3.0, cap=20.0)
    rng = random.Random(6)
    for attempt in range(1, 6):
        ceiling = min(20.0, 3.0 ** (attempt - 1))
        samples = [policy.delay(attempt, rng=rng) for _ in range(300)]
        assert all(0.0 <= s <= ceiling for s in samples)
        assert max(samples) > 0.8 * ceiling and min(samples) < 0.2 * ceiling  # spread, not constant


def test_backoff_honours_retry_after_capped():
    policy = BackoffPolicy(base=1.0, cap=2.0, retry_after_cap=30.0)
    assert policy.delay(1, retry_after=7.0) == 7.0
    assert policy.delay(3, retry_after=600.0) == 30.0
    assert policy.delay(1, retry_after=-3.0) == 0.0


def test_parse_retry_after():
    now = dt.datetime(2026, 11, 21, 12, 0, 0, tzinfo=dt.UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("Sat, 21 Nov 2026 12:00:10 GMT", now=now) == 10.0
    assert parse_retry_after("Sat, 21 Nov 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(("status", "retry"), [(429, True), (500, True), (502, True), (503, True), (504, True),
                                               (400, False), (401, False), (403, False), (404, False), (422, False)])
def test_which_statuses_retry(status, retry):
    assert is_retryable_status(status) is retry


def _conn(**kw):
    base = {"host": "api.bv.example", "schema": "https", "port": None, "login": "s06", "password": "pw", "extra_dejson": {}}
    base.update(kw)
    return SimpleNamespace(**base)


def test_connection_config():
    url, auth = connection_config(_conn(port=8443))
    assert url == "https://api.bv.example:8443"
    assert auth == AuthConfig("token", "s06", "pw")
    url, auth = connection_config(_conn(host="http://127.0.0.1:9000/", schema=None, extra_dejson={"auth": "basic"}))
    assert url == "http://127.0.0.1:9000" and auth.kind == "basic"
    _, auth = connection_config(_conn(extra_dejson={"token_path": "/oauth/token"}))
    assert auth.token_path == "/oauth/token"
    assert "pw" not in repr(auth)
    with pytest.raises(ValueError, match="unknown auth kind"):
        connection_config(_conn(extra_dejson={"auth": "kerberos"}))
    with pytest.raises(ValueError, match="login and a password"):
        connection_config(_conn(password=None))
    with pytest.raises(ValueError, match="no host"):
        connection_config(_conn(host=""))


def test_fetch_options_from_registry_dict():
    opts = fetch_options({"pagination": "cursor", "page_size": 200, "timeout_s": 10, "backoff_cap_s": 4.0, "format": "x"})
    assert opts == {"pagination": "cursor", "page_size": 200, "timeout_s": 10, "backoff": BackoffPolicy(cap=4.0)}
    with pytest.raises(ValueError, match="'page_size'"):
        fetch_options({"page_size": "200"})
    with pytest.raises(ValueError, match="'pagination'"):
        fetch_options({"pagination": "offset"})


def test_error_classes_map_onto_pipeline_retry_behaviour():
    assert issubclass(ApiTransportError, TransportError)
    for cls in (ApiRequestRejected, ApiAuthRejected, ApiProtocolError):
        assert issubclass(cls, FetchFailed) and issubclass(cls, BatchFailed) and not issubclass(cls, TransportError)
    assert not issubclass(ApiTransportError, FetchFailed)


# ---------------------------------------------------------------------------------------------
# unit: the fetch loop against a scripted session (no sockets)
# ---------------------------------------------------------------------------------------------


def _resp(status: int, body: object = None, headers: dict[str, str] | None = None) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r._content = body if isinstance(body, bytes) else json.dumps(body if body is not None else {"error": "x"}).encode()
    r.headers.update(headers or {})
    return r


class ScriptedSession:
    """Replays responses (or raises exceptions) in order; records the calls."""

    def __init__(self, *script):
        self.script = list(script)
        self.calls: list[tuple[str, dict]] = []

    def _next(self, method, params):
        self.calls.append((method, dict(params or {})))
        item = self.script.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    def get(self, url, params=None, timeout=None, **kw):
        return self._next("GET", params)

    def post(self, url, json=None, timeout=None, **kw):
        return self._next("POST", None)

    def close(self):
        pass


def _page(n, total, ids):
    return _resp(200, {"data": [{"id": i} for i in ids], "page": n, "total_pages": total})


def _fetch(tmp_path, session, sleeps=None, **kw):
    kw.setdefault("page_size", 2)
    kw.setdefault("timeout_s", 1.0)
    kw.setdefault("backoff", FAST)
    sleep = sleeps.append if sleeps is not None else (lambda s: None)
    return fetch_to_raw("http://api.test", PATH, BASIC, W_START, W_END, tmp_path / "raw", session=session, sleep=sleep, **kw)


def test_window_and_page_params(tmp_path):
    s = ScriptedSession(_page(1, 2, ["a", "b"]), _page(2, 2, ["c"]))
    result = _fetch(tmp_path, s)
    assert [c[1] for c in s.calls] == [
        {"updated_from": "2026-11-21T00:00:00+07:00", "updated_to": "2026-11-24T00:00:00+07:00", "page_size": 2, "page": 1},
        {"updated_from": "2026-11-21T00:00:00+07:00", "updated_to": "2026-11-24T00:00:00+07:00", "page_size": 2, "page": 2},
    ]
    assert (result.pages, result.records, result.attempts) == (2, 3, 2)


def test_manifest_endpoint_drops_user_info_and_query(tmp_path):
    fetch_to_raw("http://user:pw@api.test:8080/root", PATH + "?key=abc", BASIC, W_START, W_END, tmp_path / "raw",
                 page_size=2, timeout_s=1, session=ScriptedSession(_page(1, 1, ["a"])))
    manifest = json.loads((tmp_path / "raw" / "manifest.json").read_text())
    assert manifest["endpoint"] == "http://api.test:8080/root" + PATH and manifest["url_path"] == PATH
    assert "user:pw" not in json.dumps(manifest) and "key=abc" not in json.dumps(manifest)


def test_window_must_be_aware_and_non_empty(tmp_path):
    with pytest.raises(ValueError, match="timezone-aware"):
        fetch_to_raw("http://api.test", PATH, BASIC, dt.datetime(2026, 11, 21), W_END, tmp_path, page_size=2, timeout_s=1,
                     session=ScriptedSession())
    with pytest.raises(ValueError, match="after window_start"):
        fetch_to_raw("http://api.test", PATH, BASIC, W_END, W_START, tmp_path, page_size=2, timeout_s=1,
                     session=ScriptedSession())


def test_page_style_without_total_pages_stops_on_short_page(tmp_path):
    s = ScriptedSession(_resp(200, {"data": [{"id": 1}, {"id": 2}]}), _resp(200, {"data": [{"id": 3}]}))
    assert _fetch(tmp_path, s).records == 3
    assert len(s.calls) == 2


def test_cursor_style_follows_next_cursor(tmp_path):
    s = ScriptedSession(
        _resp(200, {"data": [{"id": 1}, {"id": 2}], "next_cursor": "c2"}),
        _resp(200, {"data": [{"id": 3}], "next_cursor": None}),
    )
    result = _fetch(tmp_path, s, pagination="cursor")
    assert "cursor" not in s.calls[0][1] and s.calls[1][1]["cursor"] == "c2"
    assert "page" not in s.calls[0][1]
    assert (result.pages, result.records) == (2, 3)


def test_cursor_returned_twice_fails(tmp_path):
    s = ScriptedSession(
        _resp(200, {"data": [{"id": 1}, {"id": 2}], "next_cursor": "c2"}),
        _resp(200, {"data": [{"id": 3}, {"id": 4}], "next_cursor": "c3"}),
        _resp(200, {"data": [{"id": 5}, {"id": 6}], "next_cursor": "c2"}),
    )
    with pytest.raises(ApiProtocolError, match=r"page 4 repeats page 2 \(cursor returned twice\)"):
        _fetch(tmp_path, s, pagination="cursor")
    assert not (tmp_path / "raw" / "manifest.json").exists()


def test_identical_page_content_fails(tmp_path):
    s = ScriptedSession(_page(1, 3, ["a", "b"]), _page(2, 3, ["a", "b"]))
    with pytest.raises(ApiProtocolError, match="page 2 repeats page 1"):
        _fetch(tmp_path, s)
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["page-00001.json"]


def test_wrong_page_number_and_missing_data_fail(tmp_path):
    with pytest.raises(ApiProtocolError, match="asked for page 2"):
        _fetch(tmp_path, ScriptedSession(_page(1, 3, ["a", "b"]), _page(3, 3, ["c", "d"])))
    with pytest.raises(ApiProtocolError, match="no 'data' list"):
        _fetch(tmp_path, ScriptedSession(_resp(200, {"rows": []})))


def test_hard_cap_on_pages(tmp_path):
    s = ScriptedSession(*[_resp(200, {"data": [{"id": i}], "next_cursor": f"c{i}"}) for i in range(10)])
    with pytest.raises(ApiProtocolError, match="more than 3 pages"):
        _fetch(tmp_path, s, pagination="cursor", max_pages=3)


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_retryable_status_is_retried_up_to_max_attempts(tmp_path, status):
    sleeps: list[float] = []
    s = ScriptedSession(*[_resp(status) for _ in range(4)])
    with pytest.raises(ApiTransportError, match=rf"page 1 failed after 4 attempts; last error: HTTP {status}") as err:
        _fetch(tmp_path, s, sleeps, max_attempts=4)
    assert len(s.calls) == 4 and len(sleeps) == 3
    assert err.value.attempts == 4 and err.value.page == 1


@pytest.mark.parametrize("status", [400, 403, 404, 422])
def test_other_4xx_fail_at_once(tmp_path, status):
    sleeps: list[float] = []
    s = ScriptedSession(_resp(status, {"error": "PERSONAL-DATA-IN-BODY"}))
    with pytest.raises(ApiRequestRejected, match=rf"{PATH} page 1: HTTP {status}") as err:
        _fetch(tmp_path, s, sleeps)
    assert "PERSONAL-DATA-IN-BODY" not in str(err.value)
    assert len(s.calls) == 1 and sleeps == []


def test_basic_auth_401_fails_at_once(tmp_path):
    s = ScriptedSession(_resp(401))
    with pytest.raises(ApiAuthRejected, match="HTTP 401"):
        _fetch(tmp_path, s)
    assert len(s.calls) == 1


def test_retry_after_is_honoured(tmp_path):
    sleeps: list[float] = []
    s = ScriptedSession(_resp(429, headers={"Retry-After": "7"}), _page(1, 1, ["a"]))
    result = _fetch(tmp_path, s, sleeps, backoff=BackoffPolicy(retry_after_cap=5.0))
    assert sleeps == [5.0]  # capped
    assert result.http_statuses == {200: 1, 429: 1} and result.attempts == 2


def test_connection_errors_and_timeouts_are_retried(tmp_path):
    sleeps: list[float] = []
    s = ScriptedSession(requests.ConnectionError("refused"), requests.ReadTimeout("slow"), _page(1, 1, ["a"]))
    assert _fetch(tmp_path, s, sleeps).records == 1
    assert len(sleeps) == 2 and all(0 <= x <= FAST.cap for x in sleeps)
    s = ScriptedSession(*[requests.ConnectTimeout("x") for _ in range(3)])
    with pytest.raises(ApiTransportError, match="after 3 attempts; last error: ConnectTimeout"):
        _fetch(tmp_path, s, max_attempts=3)


def test_invalid_json_is_retried_then_fails(tmp_path):
    s = ScriptedSession(_resp(200, b'{"data": [{"id"'), _page(1, 1, ["a"]))
    assert _fetch(tmp_path, s).records == 1
    s = ScriptedSession(*[_resp(200, b'{"data": [') for _ in range(3)])
    with pytest.raises(ApiTransportError, match=f"page 1 of {PATH}: HTTP 200 with a body that is not valid JSON \\(no content type\\) in 3 of 3 attempts") as err:
        _fetch(tmp_path, s, max_attempts=3)
    assert err.value.label == "source answered, but not with JSON"  # retried by the task, not "unreachable"
    html = _resp(200, b"<html><body>B\xe1o tr\xec</body></html>")
    html.headers["Content-Type"] = "text/html; charset=utf-8"
    with pytest.raises(ApiTransportError, match=r"not valid JSON \(text/html\) in 1 of 2 attempts"):
        _fetch(tmp_path, ScriptedSession(requests.ReadTimeout("slow"), html), max_attempts=2)


def test_rerun_replaces_stale_pages(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    for n in (1, 2, 3):
        (raw / f"page-{n:05d}.json").write_text("{}")
    (raw / "keep.txt").write_text("not ours")
    _fetch(tmp_path, ScriptedSession(_page(1, 1, ["a"])))
    assert sorted(p.name for p in raw.iterdir()) == ["keep.txt", "manifest.json", "page-00001.json"]


# ---------------------------------------------------------------------------------------------
# unit: the page reader
# ---------------------------------------------------------------------------------------------


def test_read_json_pages_stringifies_with_lineage(tmp_path):
    page = tmp_path / "page-00001.json"
    page.write_text(json.dumps({"data": [
        {"id": "0012", "n": 7, "x": 7.0, "y": 1.25, "ok": True, "no": False, "none": None, "nested": {"b": 1, "a": [1, "z"]}},
        {"id": "0013", "extra": "ạ"},
        "not an object",
    ]}), encoding="utf-8")
    tables = list(read_json_pages(page, chunk_rows=2))
    assert [t.num_rows for t in tables] == [2, 1]
    rows = [r for t in tables for r in t.to_pylist()]
    assert rows[0] == {"id": "0012", "n": "7", "x": "7.0", "y": "1.25", "ok": "1", "no": "0", "none": None,
                       "nested": None, "_nested_fields": "\x1fnested\x1f", "_source_ref": "page-00001.json#data[1]",
                       "extra": None}
    assert rows[1]["_nested_fields"] is None
    assert rows[1]["extra"] == "ạ" and rows[1]["_source_ref"] == "page-00001.json#data[2]"
    assert rows[2] == {"_source_ref": "page-00001.json#data[3]", "_reader_error": "data[3] is not a JSON object",
                       "_nested_fields": None}
    assert all(str(f.type) == "string" for t in tables for f in t.schema)


def test_read_json_pages_rejects_bad_pages(tmp_path):
    page = tmp_path / "page-00001.json"
    page.write_bytes(b'{"data": [{"id": "SECRET-ID"')
    with pytest.raises(FileRejected, match="not valid JSON") as err:
        list(read_json_pages(page, 10))
    assert "SECRET-ID" not in err.value.reason
    page.write_bytes(b'{"rows": []}')
    with pytest.raises(FileRejected, match="no 'data' list"):
        list(read_json_pages(page, 10))
    page.write_bytes(b'{"data": []}')
    assert list(read_json_pages(page, 10)) == []


# ---------------------------------------------------------------------------------------------
# integration: the sample facility API on a real socket
# ---------------------------------------------------------------------------------------------

DAYS = [dt.date(2026, 11, d) for d in (20, 21, 22, 23, 24)]


def _write_data(root: Path) -> list[str]:
    """Five days x four records (one at exactly the window end); returns the ids inside the window, in order."""
    inside: list[str] = []
    folder = root / "api" / "01929" / "driver_health_checks"
    folder.mkdir(parents=True)
    for day in DAYS:
        lines = []
        # written out of time order: the server must order by updated_at, then line
        for hour, n in ((9, 2), (0, 0), (5, 1), (5, 3)):
            rid = f"DHC-{day:%m%d}-{n}"
            stamp = dt.datetime(day.year, day.month, day.day, hour, tzinfo=TZ)
            lines.append(json.dumps({"record_id": rid, "driver_name": f"Nguyễn Văn {rid}", "bmi": 22.5,
                                     "fit": n != 1, "updated_at": stamp.isoformat()}, ensure_ascii=False))
            if W_START <= stamp < W_END:
                inside.append((stamp, rid))
        (folder / f"{day.isoformat()}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    wf = root / "api" / "01929" / "health_workforce"
    wf.mkdir(parents=True)
    (wf / "2026-11-21.jsonl").write_text(json.dumps({"staff_id": "HW1", "updated_at": "2026-11-21T08:00:00+07:00"}) + "\n")
    return [rid for _stamp, rid in sorted(inside)]


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    root = tmp_path_factory.mktemp("api-data")
    expected = _write_data(root)
    with start_server(root, token_ttl_s=600) as handle:
        handle.expected = expected
        yield handle


@pytest.fixture(autouse=True)
def _fresh_server(request):
    if "api" in request.fixturenames:
        srv = request.getfixturevalue("api")
        srv.clear_faults()
        srv.wait_idle()
        srv.clear_log()
        yield
        srv.clear_faults()
    else:
        yield


def _run(api, tmp_path, sleeps=None, *, auth=TOKEN, path=PATH, **kw):
    kw.setdefault("page_size", 2)
    kw.setdefault("timeout_s", 2.0)
    kw.setdefault("backoff", FAST)
    sleep = sleeps.append if sleeps is not None else (lambda s: None)
    return fetch_to_raw(api.url, path, auth, W_START, W_END, tmp_path / "raw", sleep=sleep, fmt="dhc_api",
                        name_prefix="api/01929/driver_health_checks", **kw)


def _landed_ids(tmp_path) -> list[str]:
    ids = []
    for page in sorted((tmp_path / "raw").glob("page-*.json")):
        for table in read_json_pages(page, 100):
            ids += table.column("record_id").to_pylist()
    return ids


def _gets(api) -> list[tuple[int | None, int]]:
    return [(r.page, r.status) for r in api.requests_log if r.method == "GET"]


@pytest.mark.integration
@pytest.mark.parametrize("pagination", ["page", "cursor"])
def test_fetch_lands_every_record_once_byte_exact(api, tmp_path, pagination, caplog):
    caplog.set_level(logging.DEBUG)
    result = _run(api, tmp_path, pagination=pagination)
    expected = api.expected
    assert len(expected) == 12 and expected[0] == "DHC-1121-0"  # updated_at == window start: included
    assert "DHC-1124-0" not in expected  # updated_at == window end: excluded
    assert expected[1:4] == ["DHC-1121-1", "DHC-1121-3", "DHC-1121-2"]  # same instant: file line order
    assert _landed_ids(tmp_path) == expected
    assert result.records == 12 and result.pages == 6
    assert [f.name for f in result.files] == [f"api/01929/driver_health_checks/page-{n:05d}.json" for n in range(1, 7)]
    # byte-exact: what a plain client gets for the same request is what was landed
    params = {"updated_from": W_START.isoformat(), "updated_to": W_END.isoformat(), "page_size": 2}
    if pagination == "page":
        params["page"] = 1
    direct = requests.get(api.url + PATH, params=params, auth=("s06", "secret"), timeout=2).content
    assert (tmp_path / "raw" / "page-00001.json").read_bytes() == direct
    for f in result.files:
        body = Path(f.raw_path).read_bytes()
        assert f.sha256 == hashlib.sha256(body).hexdigest() and f.size == len(body)
        assert f.format == "dhc_api" and f.encoding == "utf-8" and f.received_at.endswith("+00:00")
    manifest = json.loads((tmp_path / "raw" / "manifest.json").read_text())
    assert manifest["source_kind"] == "rest_api" and manifest["url_path"] == PATH
    assert manifest["window"] == {"updated_from": "2026-11-21T00:00:00+07:00", "updated_to": "2026-11-24T00:00:00+07:00"}
    assert manifest["pages"] == 6 and manifest["records"] == 12 and manifest["http_statuses"] == {"200": 7}
    assert len(manifest["files"]) == 6
    text = (tmp_path / "raw" / "manifest.json").read_text() + caplog.text
    assert "secret" not in text and "Nguyễn" not in text and "DHC-" not in text and "Bearer" not in text


@pytest.mark.integration
def test_records_served_unmodified(api, tmp_path):
    _run(api, tmp_path, page_size=100, auth=BASIC)
    body = json.loads((tmp_path / "raw" / "page-00001.json").read_bytes())
    first = body["data"][0]
    assert first == {"record_id": "DHC-1121-0", "driver_name": "Nguyễn Văn DHC-1121-0", "bmi": 22.5, "fit": True,
                     "updated_at": "2026-11-21T00:00:00+07:00"}


@pytest.mark.integration
def test_other_dataset_route(api, tmp_path):
    result = _run(api, tmp_path, path="/api/v1/01929/health-workforce")
    assert result.records == 1 and result.pages == 1


@pytest.mark.integration
def test_rerun_same_window_replaces_pages(api, tmp_path):
    _run(api, tmp_path, page_size=2)
    result = _run(api, tmp_path, page_size=100)
    assert sorted(p.name for p in (tmp_path / "raw").glob("page-*.json")) == ["page-00001.json"]
    assert result.pages == 1 and _landed_ids(tmp_path) == api.expected


@pytest.mark.integration
@pytest.mark.parametrize("pagination", ["page", "cursor"])
def test_error_500_retried_then_succeeds_without_duplicates(api, tmp_path, pagination):
    api.set_fault("error_500", times=2, page=3)
    sleeps: list[float] = []
    result = _run(api, tmp_path, sleeps, pagination=pagination)
    assert _landed_ids(tmp_path) == api.expected
    assert len(sleeps) == 2 and result.http_statuses == {200: 7, 500: 2}
    assert _gets(api) == [(1, 200), (2, 200), (3, 500), (3, 500), (3, 200), (4, 200), (5, 200), (6, 200)]


@pytest.mark.integration
def test_error_500_exhausts_attempts(api, tmp_path):
    api.set_fault("error_500")
    with pytest.raises(ApiTransportError, match=rf"GET for {PATH} page 1 failed after 3 attempts; last error: HTTP 500"):
        _run(api, tmp_path, max_attempts=3)
    assert _gets(api) == [(1, 500)] * 3
    assert not (tmp_path / "raw" / "manifest.json").exists()


@pytest.mark.integration
def test_rate_limit_429_honours_retry_after(api, tmp_path):
    api.set_fault("rate_limit_429", times=1, page=2, retry_after=3)
    sleeps: list[float] = []
    result = _run(api, tmp_path, sleeps)
    assert sleeps == [3.0]
    assert result.records == 12 and _landed_ids(tmp_path) == api.expected
    api.set_fault("rate_limit_429", retry_after=1)
    with pytest.raises(ApiTransportError, match="after 2 attempts; last error: HTTP 429"):
        _run(api, tmp_path, max_attempts=2)


@pytest.mark.integration
def test_slow_response_beyond_timeout_retried_then_succeeds(api, tmp_path):
    api.set_fault("slow", times=1, page=2, seconds=0.6)
    sleeps: list[float] = []
    result = _run(api, tmp_path, sleeps, timeout_s=0.2)
    assert len(sleeps) == 1 and result.records == 12
    assert _landed_ids(tmp_path) == api.expected


@pytest.mark.integration
def test_slow_response_always_fails_after_attempts(api, tmp_path):
    api.set_fault("slow", seconds=0.5)
    with pytest.raises(ApiTransportError, match="page 1 failed after 2 attempts; last error: ReadTimeout"):
        _run(api, tmp_path, auth=BASIC, timeout_s=0.15, max_attempts=2)


@pytest.mark.integration
def test_slow_response_within_timeout_is_fine(api, tmp_path):
    api.set_fault("slow", seconds=0.05)
    sleeps: list[float] = []
    assert _run(api, tmp_path, sleeps, auth=BASIC, page_size=100, timeout_s=1.0).records == 12
    assert sleeps == []


@pytest.mark.integration
@pytest.mark.parametrize("declare_full_length", [True, False])
def test_truncated_body_retried(api, tmp_path, declare_full_length):
    api.set_fault("truncated_body", times=1, page=2, declare_full_length=declare_full_length)
    sleeps: list[float] = []
    result = _run(api, tmp_path, sleeps)
    assert len(sleeps) == 1 and result.records == 12
    assert _landed_ids(tmp_path) == api.expected  # the cut body was replaced by the full one
    json.loads((tmp_path / "raw" / "page-00002.json").read_bytes())


@pytest.mark.integration
def test_truncated_body_always_fails_with_invalid_json(api, tmp_path):
    api.set_fault("truncated_body", page=2, declare_full_length=False)
    with pytest.raises(ApiTransportError, match=f"page 2 of {PATH}: HTTP 200 with a body that is not valid JSON"):
        _run(api, tmp_path, max_attempts=3)
    api.set_fault("truncated_body", page=2)
    with pytest.raises(ApiTransportError, match="page 2 failed after 2 attempts; last error: ChunkedEncodingError"):
        _run(api, tmp_path, max_attempts=2)


@pytest.mark.integration
@pytest.mark.parametrize(("pagination", "what", "message"), [
    ("page", "content", "page 3 repeats page 2 \\(identical content\\)"),
    ("cursor", "content", "page 3 repeats page 2 \\(identical content\\)"),
    ("cursor", "cursor", "page 4 repeats page 3 \\(cursor returned twice\\)"),
])
def test_repeated_page_fails_clearly(api, tmp_path, pagination, what, message):
    api.set_fault("repeat_page", page=3, what=what)
    with pytest.raises(ApiProtocolError, match=message):
        _run(api, tmp_path, pagination=pagination)
    raw = tmp_path / "raw"
    assert not (raw / "manifest.json").exists()
    ids = _landed_ids(tmp_path)
    assert len(ids) == len(set(ids))  # the repeated page is not kept
    assert len(_gets(api)) == 3  # no endless loop, no retry


@pytest.mark.integration
def test_expired_token_refreshed_once(api, tmp_path):
    api.set_fault("expired_token", times=1, page=2)
    sleeps: list[float] = []
    result = _run(api, tmp_path, sleeps)
    assert result.token_refreshes == 1 and sleeps == []
    assert _landed_ids(tmp_path) == api.expected
    log = [(r.method, r.page, r.status) for r in api.requests_log]
    assert log[:5] == [("POST", None, 200), ("GET", 1, 200), ("GET", 2, 401), ("POST", None, 200), ("GET", 2, 200)]


@pytest.mark.integration
def test_expired_token_twice_on_a_page_is_rejected(api, tmp_path):
    api.set_fault("expired_token", page=1)
    with pytest.raises(ApiAuthRejected, match=f"{PATH} page 1: HTTP 401"):
        _run(api, tmp_path)
    assert [(r.method, r.status) for r in api.requests_log] == [("POST", 200), ("GET", 401), ("POST", 200), ("GET", 401)]


@pytest.mark.integration
@pytest.mark.parametrize("auth", [TOKEN, BASIC], ids=["token", "basic"])
def test_auth_reject_not_retried(api, tmp_path, auth):
    api.set_fault("auth_reject")
    sleeps: list[float] = []
    with pytest.raises(ApiAuthRejected, match="HTTP 401, credentials or token rejected") as err:
        _run(api, tmp_path, sleeps, auth=auth)
    assert len(api.requests_log) == 1 and sleeps == []
    assert "secret" not in str(err.value)


@pytest.mark.integration
def test_wrong_password_rejected(api, tmp_path):
    with pytest.raises(ApiAuthRejected, match="token request"):
        _run(api, tmp_path, auth=AuthConfig("token", "s06", "wrong"))


@pytest.mark.integration
def test_bad_request_400_not_retried(api, tmp_path):
    api.set_fault("bad_request_400", page=2)
    sleeps: list[float] = []
    with pytest.raises(ApiRequestRejected, match=rf"GET for {PATH} page 2: HTTP 400 \(not retried\)") as err:
        _run(api, tmp_path, sleeps)
    assert err.value.status == 400 and sleeps == []
    assert _gets(api) == [(1, 200), (2, 400)]


@pytest.mark.integration
def test_connection_refused_is_a_transport_error(tmp_path):
    with start_server(tmp_path) as srv:
        url = srv.url
    sleeps: list[float] = []
    with pytest.raises(TransportError, match="after 2 attempts; last error: ConnectionError"):
        fetch_to_raw(url, PATH, BASIC, W_START, W_END, tmp_path / "raw", page_size=2, timeout_s=0.5, max_attempts=2,
                     backoff=FAST, sleep=sleeps.append)
    assert len(sleeps) == 1


def test_pages_that_wrap_around_to_an_earlier_one_stop_at_the_first_repeat(tmp_path):
    """A server whose page numbers wrap (page 3 = page 1) and which sends no total_pages: only the
    page before used to be compared, so it ran to the 10,000-page cap."""
    pages = [_resp(200, {"data": [{"id": "a"}, {"id": "b"}]}), _resp(200, {"data": [{"id": "c"}, {"id": "d"}]})]
    s = ScriptedSession(*pages, *pages, *pages)
    with pytest.raises(ApiProtocolError, match="page 3 repeats page 1 \\(identical content\\)"):
        _fetch(tmp_path, s)
    assert len(s.calls) == 3


def test_fewer_records_than_the_reported_total_fail_the_fetch(tmp_path):
    """A wrong total_pages used to end the fetch after page 1 with half the records, no word."""
    s = ScriptedSession(_resp(200, {"data": [{"id": "a"}, {"id": "b"}], "page": 1, "total_pages": 1, "total": 4}))
    with pytest.raises(ApiProtocolError, match="reported 4 records in total but its 1 page\\(s\\) held 2"):
        _fetch(tmp_path, s)
    assert not (tmp_path / "raw" / "manifest.json").exists()
    ok = ScriptedSession(_resp(200, {"data": [{"id": "a"}, {"id": "b"}], "page": 1, "total_pages": 2, "total": 3}),
                         _resp(200, {"data": [{"id": "c"}], "page": 2, "total_pages": 2, "total": 3}))
    assert _fetch(tmp_path, ok).records == 3


def test_a_connection_without_a_scheme_is_https_whatever_its_type():
    """Airflow names every HTTP connection ``http`` (JSON, UI or URI form): the type is not a
    scheme, or every API configured without one would get its credentials in clear. A URI-form
    connection to a plain-HTTP API names the scheme in its path (Airflow's schema)."""
    from airflow.models.connection import Connection

    for conn in (Connection(conn_id="x", uri="http://s06:pw@api.bv.example:8443?auth=basic"),
                 _conn(host="api.bv.example", port=8443, schema="", conn_type="http")):
        url, _ = connection_config(conn)
        assert url == "https://api.bv.example:8443"
    url, auth = connection_config(Connection(conn_id="x", uri="http://s06:pw@127.0.0.1:8080/http?auth=basic"))
    assert url == "http://127.0.0.1:8080" and auth.kind == "basic"
