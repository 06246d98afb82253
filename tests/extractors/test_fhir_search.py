"""FHIR search over REST against the sample facility API server on a real loopback socket:
``_lastUpdated`` window, ``_count`` and ``next`` links, ``_include`` or the second Patient query,
OperationOutcome errors as content-free reasons, and the REST transport's faults."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from extractors.fhir import fetch_search_to_raw, read_fhir_bundles
from extractors.rest_api import (
    ApiAuthRejected,
    ApiProtocolError,
    ApiRequestRejected,
    ApiTransportError,
    AuthConfig,
    BackoffPolicy,
)
from sample_data.api_server import start_server

pytestmark = pytest.mark.integration

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
START = dt.datetime(2026, 11, 21, tzinfo=TZ)
END = dt.datetime(2026, 11, 22, tzinfo=TZ)
FAC = "79530"
TOKEN = AuthConfig("token", "s06", "secret")
FAST = BackoffPolicy(base=0.01, factor=2.0, cap=0.05)
NATIONAL_ID = "http://fhir.ehealth.gov.vn/core/sid/national_id"
SECRET_DIAGNOSTIC = "the search failed"


def _imm(k: int, when: str, patient: str) -> dict:
    return {"resourceType": "Immunization", "id": f"i{k:03d}", "meta": {"lastUpdated": when}, "status": "completed",
            "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "102"}]},
            "patient": {"reference": f"Patient/{patient}"}, "occurrenceDateTime": when}


def _pat(pid: str, k: int) -> dict:
    return {"resourceType": "Patient", "id": pid, "birthDate": "2026-08-01", "gender": "male",
            "identifier": [{"system": NATIONAL_ID, "value": f"001226{k:06d}"}]}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("fhir-data")
    folder = root / "api" / FAC / "vaccination_records"
    folder.mkdir(parents=True)
    inside = [_imm(k, f"2026-11-21T{8 + k // 12:02d}:{(k * 5) % 60:02d}:00+07:00", f"p{k % 9}") for k in range(23)]
    outside = [_imm(100, "2026-11-20T23:59:59+07:00", "p1"), _imm(101, "2026-11-22T00:00:00+07:00", "p1"),
               _imm(102, "2026-11-21T17:30:00Z", "p2")]  # 00:30 on the 22nd in Hanoi: outside
    (folder / "2026-11-21.ndjson").write_text("\n".join(json.dumps(r) for r in inside + outside) + "\n")
    # p8 is referenced but not on the server at all
    (folder / "Patient.ndjson").write_text("\n".join(json.dumps(_pat(f"p{k}", k)) for k in range(8)) + "\n")
    with start_server(root) as handle:
        yield handle


@pytest.fixture(autouse=True)
def _clean(server):
    server.clear_faults()
    server.clear_log()
    yield
    server.clear_faults()


def fetch(server, raw: Path, **kw):
    kw.setdefault("page_size", 5)
    kw.setdefault("include", "Immunization:patient")
    return fetch_search_to_raw(f"{server.url}/{FAC}", "/fhir", TOKEN, "Immunization", START, END, raw,
                               backoff=FAST, sleep=lambda s: None, fmt="fhir_search",
                               name_prefix=f"api/{FAC}/vaccination_records", **kw)


def records(raw: Path) -> list[dict]:
    out = []
    for page in sorted(raw.glob("page-*.json")):
        for t in read_fhir_bundles(page, 100, view="vn_core_immunization",
                                   resolve_files=["page-*.json", "patients-*.json"]):
            out += t.to_pylist()
    return out


def test_window_paging_and_include(server, tmp_path):
    result = fetch(server, tmp_path)
    assert result.records == 23 and result.pages == 6  # 23 in the window, _count 5 (5 pages) + 1 Patient page
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["include"] == "Immunization:patient" and manifest["references_unresolved"] == 1  # p8
    assert manifest["reference_pages"] == 1  # the second query for p8 found nothing, but was asked
    got = records(tmp_path)
    assert sorted(r["id"] for r in got) == [f"i{k:03d}" for k in range(23)]
    assert {r["patient_in_export"] for r in got if r["patient_reference"] != "Patient/p8"} == {"1"}
    assert {r["patient_in_export"] for r in got if r["patient_reference"] == "Patient/p8"} == {"0"}
    assert all(r["personal_id"].startswith("001226") for r in got if r["patient_in_export"] == "1")
    paths = [(r.path, r.page) for r in server.requests_log if r.method == "GET"]
    assert paths[:5] == [(f"/{FAC}/fhir/Immunization", p) for p in range(1, 6)]
    assert paths[5][0] == f"/{FAC}/fhir/Patient"


def test_a_server_that_ignores_include_is_completed_by_the_second_query(server, tmp_path):
    server.set_fault("no_include")
    fetch(server, tmp_path)
    assert list(tmp_path.glob("patients-*.json"))
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["references_unresolved"] == 1
    assert sum(1 for r in records(tmp_path) if r["patient_in_export"] == "1") == 21  # all but the two to p8


def test_include_not_supported_is_asked_again_without_it(server, tmp_path):
    server.set_fault("include_not_supported", times=1)
    result = fetch(server, tmp_path)
    assert result.records == 23
    assert json.loads((tmp_path / "manifest.json").read_text())["include"] is None
    assert sum(1 for r in records(tmp_path) if r["patient_in_export"] == "1") == 21
    assert next(r.status for r in server.requests_log if r.method == "GET") == 400


def test_an_operation_outcome_becomes_a_reason_with_codes_only(server, tmp_path):
    server.set_fault("bad_request_400", page=2)
    with pytest.raises(ApiRequestRejected) as info:
        fetch(server, tmp_path)
    assert "HTTP 400 (OperationOutcome error/invalid) (not retried)" in str(info.value)
    assert SECRET_DIAGNOSTIC not in str(info.value)
    server.set_fault("outcome_200", page=1)
    with pytest.raises(ApiProtocolError, match="the server answered OperationOutcome error/too-costly"):
        fetch(server, tmp_path)


def test_transport_faults_are_retried_and_tokens_refreshed(server, tmp_path):
    server.set_fault("error_500", times=2, page=2)
    server.set_fault("rate_limit_429", times=1, page=3, retry_after=0)
    server.set_fault("expired_token", times=1, page=4)
    result = fetch(server, tmp_path)
    assert result.records == 23 and result.token_refreshes == 1
    assert result.http_statuses[500] == 2 and result.http_statuses[429] == 1
    server.clear_faults()
    server.set_fault("error_500")
    with pytest.raises(ApiTransportError, match="failed after 2 attempts; last error: HTTP 500"):
        fetch(server, tmp_path, max_attempts=2)
    server.clear_faults()
    server.set_fault("auth_reject")
    with pytest.raises(ApiAuthRejected):
        fetch(server, tmp_path)


def test_a_repeated_page_or_a_foreign_next_link_stops_the_fetch(server, tmp_path):
    server.set_fault("repeat_page", page=3)
    with pytest.raises(ApiProtocolError, match="page 3 repeats page 2"):
        fetch(server, tmp_path)
    server.clear_faults()
    server.set_fault("foreign_next", page=1)
    with pytest.raises(ApiProtocolError, match="next link points to another server; not followed"):
        fetch(server, tmp_path)
    assert all(r.path.startswith(f"/{FAC}/") for r in server.requests_log)


def test_a_rerun_replaces_the_pages(server, tmp_path):
    fetch(server, tmp_path, page_size=5)
    fetch(server, tmp_path, page_size=50)
    assert sorted(p.name for p in tmp_path.glob("page-*.json")) == ["page-00001.json"]
    assert len(records(tmp_path)) == 23
