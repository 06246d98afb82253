"""The sample facility API server itself: routes, auth, filtering, ordering, paging, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from sample_data.api_server import FAULT_MODES, start_server
from sample_data.api_server.fhir import FHIR_FAULT_MODES

REPO = Path(__file__).resolve().parents[2]
PATH = "/api/v1/01929/health-workforce"
WINDOW = {"updated_from": "2026-11-21T00:00:00+07:00", "updated_to": "2026-11-22T00:00:00+07:00"}
LINES = [
    '{"staff_id": "B", "n": 1.0, "updated_at": "2026-11-21T10:00:00+07:00"}',
    '{"staff_id":"A","updated_at":"2026-11-21T03:00:00+07:00"}',
    '{"staff_id": "C", "updated_at": "2026-11-21T03:00:00+07:00"}',
    '{"staff_id": "Z", "updated_at": "2026-11-22T00:00:00+07:00"}',
    '{"staff_id": "Y", "updated_at": "2026-11-20T23:59:59+07:00"}',
]
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    root = tmp_path_factory.mktemp("srv")
    folder = root / "api" / "01929" / "health_workforce"
    folder.mkdir(parents=True)
    (folder / "2026-11-21.jsonl").write_text("\n".join(LINES[:3]) + "\n", encoding="utf-8")
    (folder / "2026-11-22.jsonl").write_text("\n".join(LINES[3:]) + "\n", encoding="utf-8")
    with start_server(root, users={"u": "p"}) as handle:
        yield handle


@pytest.fixture(autouse=True)
def _clean(srv):
    srv.clear_faults()
    srv.wait_idle()
    srv.clear_log()


def _get(srv, **params):
    return requests.get(srv.url + PATH, params={**WINDOW, **params}, auth=("u", "p"), timeout=2)


def test_filters_orders_and_keeps_record_text(srv):
    r = _get(srv, page=1, page_size=10)
    assert r.status_code == 200
    doc = r.json()
    assert [d["staff_id"] for d in doc["data"]] == ["A", "C", "B"]
    assert (doc["page"], doc["total_pages"], doc["total"]) == (1, 1, 3)
    for line in (LINES[1], LINES[2], LINES[0]):
        assert line.encode() in r.content  # served exactly as stored


def test_page_and_cursor_paging_agree(srv):
    by_page = [d["staff_id"] for p in (1, 2) for d in _get(srv, page=p, page_size=2).json()["data"]]
    first = _get(srv, page_size=2).json()
    second = _get(srv, page_size=2, cursor=first["next_cursor"]).json()
    assert second["next_cursor"] is None
    assert by_page == [d["staff_id"] for d in first["data"] + second["data"]] == ["A", "C", "B"]
    assert _get(srv, page=9, page_size=2).json()["data"] == []


def test_token_flow(srv):
    r = requests.post(srv.url + "/api/v1/token", json={"username": "u", "password": "p"}, timeout=2)
    token = r.json()["access_token"]
    assert r.json()["expires_in"] > 0
    ok = requests.get(srv.url + PATH, params=WINDOW, headers={"Authorization": f"Bearer {token}"}, timeout=2)
    assert ok.status_code == 200
    srv.set_fault("expired_token", times=1)
    expired = requests.get(srv.url + PATH, params=WINDOW, headers={"Authorization": f"Bearer {token}"}, timeout=2)
    assert expired.status_code == 401 and expired.json() == {"error": "token expired"}
    again = requests.get(srv.url + PATH, params=WINDOW, headers={"Authorization": f"Bearer {token}"}, timeout=2)
    assert again.status_code == 401  # that token is gone for good


def test_token_expires(tmp_path):
    with start_server(tmp_path, token_ttl_s=0.0) as s:
        token = requests.post(s.url + "/api/v1/token", json={"username": "s06", "password": "secret"}, timeout=2).json()
        r = requests.get(s.url + PATH, params=WINDOW, headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=2)
        assert r.status_code == 401


@pytest.mark.parametrize(("params", "auth", "status"), [
    ({}, None, 401),
    ({}, ("u", "wrong"), 401),
    ({"updated_from": ""}, ("u", "p"), 400),
    ({"updated_to": "2026-11-22T00:00:00"}, ("u", "p"), 400),
    ({"cursor": "garbage!"}, ("u", "p"), 400),
    ({"page_size": 0}, ("u", "p"), 400),
])
def test_rejections(srv, params, auth, status):
    r = requests.get(srv.url + PATH, params={**WINDOW, **params}, auth=auth, timeout=2)
    assert r.status_code == status


def test_unknown_routes_404(srv):
    assert requests.get(srv.url + "/api/v1/01929/other", auth=("u", "p"), timeout=2).status_code == 404
    assert requests.get(srv.url + "/api/v1/99999/health-workforce", params=WINDOW, auth=("u", "p"), timeout=2).status_code == 404


def test_faults_are_counted_and_page_limited(srv):
    srv.set_fault("error_500", times=1, page=2)
    assert _get(srv, page=1, page_size=1).status_code == 200
    assert _get(srv, page=2, page_size=1).status_code == 500
    assert _get(srv, page=2, page_size=1).status_code == 200
    srv.set_fault("rate_limit_429", retry_after=4)
    r = _get(srv, page=1)
    assert r.status_code == 429 and r.headers["Retry-After"] == "4"
    assert [(e.method, e.page, e.status) for e in srv.requests_log] == [
        ("GET", 1, 200), ("GET", 2, 500), ("GET", 2, 200), ("GET", 1, 429)]
    with pytest.raises(ValueError, match="unknown fault mode"):
        srv.set_fault("meltdown")
    # the REST fault modes this test and the extractor tests exercise, and the FHIR search ones
    rest = {"slow", "error_500", "rate_limit_429", "truncated_body", "repeat_page", "expired_token", "auth_reject",
            "bad_request_400"}
    assert rest | FHIR_FAULT_MODES == FAULT_MODES


def test_cli_serves(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "sample_data.api_server", "--data", str(tmp_path), "--port", "0"],
                            stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)
    try:
        line = proc.stdout.readline()
        url = line.split(" on ")[1].split(" ")[0]
        r = requests.post(url + "/api/v1/token", json={"username": "s06", "password": "secret"}, timeout=5)
        assert r.status_code == 200 and json.loads(r.content)["access_token"]
    finally:
        proc.terminate()
        proc.wait(timeout=5)
    assert proc.returncode == 0
