"""The run-summary notifier through real channels on loopback: an SMTP server (aiosmtpd) and a JSON
webhook (HTTP), both configured as Airflow connections. The summary comes from a real staging ledger
(a held batch and a partly rejected one); marker values planted in the sample data's names, personal
IDs and a file name must not reach either channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import json
import re
from types import SimpleNamespace

import pytest

from ops.sinks import smtp_sink, start_http_sink
from pipeline.errors import BatchFailed, BatchHeldBack
from pipeline.notify import RunSummaryNotifier, build_message
from pipeline.runparams import night_interval

NIGHT = dt.date(2026, 11, 23)
NAME_MARKER = "Zzqmarker Thi Nguyet"
ID_MARKER = "079123454321"
CODE_MARKER = "QX99777x"


@pytest.fixture(scope="module")
def held_night(tmp_path_factory):
    """Night 3 of the sample with markers planted; 31011 (held) and 79034 (a truncated file) processed."""
    import os

    from config.settings import load_settings
    from pipeline.tasks import process_shard
    from sample_data.generator import generate

    root = tmp_path_factory.mktemp("notify")
    saved = {k: os.environ.get(k) for k in ("S06_DATA_ROOT", "S06_STAGING_URL")}
    os.environ["S06_DATA_ROOT"] = str(root)
    os.environ.pop("S06_STAGING_URL", None)
    try:
        generate(root, dt.date(2026, 11, 21), 3)
        drop = root / "drop"
        path = next((drop / "31011" / "birth_certificates" / NIGHT.isoformat()).glob("*.csv"))
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
        for row in rows:
            row["ho_ten_me"], row["so_cccd_me"] = NAME_MARKER, ID_MARKER
        with path.open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        folder = drop / "79034" / "birth_certificates" / NIGHT.isoformat()
        for f in folder.glob("HSDLGCS_*.xml"):  # every per-certificate file name carries a marker code
            f.rename(folder / f.name.replace("HSDLGCS_", f"HSDLGCS_{CODE_MARKER}"))
        start, end = night_interval(NIGHT)
        for code in ("31011", "79034"):
            with contextlib.suppress(BatchHeldBack, BatchFailed):
                process_shard("birth_certificates", [code], start, end, load_settings())
        yield root, start, end
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def channels(held_night, monkeypatch):
    root, _start, _end = held_night
    monkeypatch.setenv("S06_DATA_ROOT", str(root))
    monkeypatch.delenv("S06_STAGING_URL", raising=False)
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://127.0.0.1:8080")
    sink = start_http_sink()
    with smtp_sink() as (port, mails):
        monkeypatch.setenv("AIRFLOW_CONN_S06_TEST_MAIL", json.dumps({
            "conn_type": "smtp", "host": "127.0.0.1", "port": port,
            "extra": {"from": "pipeline@s06.local", "to": ["ops@s06.local", "oncall@s06.local"]}}))
        monkeypatch.setenv("AIRFLOW_CONN_S06_TEST_HOOK", json.dumps({"conn_type": "http", "host": sink.url}))
        monkeypatch.setenv("S06_ALERT_CONN_IDS", "s06_test_mail,s06_test_hook")
        yield mails, sink
    sink.stop()


def _context(start, end, run_id="night_2026-11-23__manual__20261130T000000Z"):
    run = SimpleNamespace(dag_id="birth_certificates", run_id=run_id, state="failed", conf={"night": NIGHT.isoformat()},
                          data_interval_start=start, data_interval_end=end)
    return {"dag_run": run, "params": {"night": NIGHT.isoformat(), "facilities": None}}


def _assert_clean(raw: str) -> None:
    assert NAME_MARKER not in raw and "Zzqmarker" not in raw
    assert ID_MARKER not in raw and CODE_MARKER not in raw
    assert not re.search(r"\d{9,}", raw), "a long digit run (an ID?) in the notification"


def test_failure_summary_by_smtp_and_webhook(held_night, channels):
    mails, sink = channels
    _root, start, end = held_night
    RunSummaryNotifier(event="failure").notify(_context(start, end))
    assert len(mails) == 1 and len(sink.received) == 1
    mail = mails[0]
    assert mail["Subject"].strip().startswith(f"[Scheme 06] birth_certificates night {NIGHT}: FAILED")
    assert "ops@s06.local" in mail["X-Envelope-To"] and "oncall@s06.local" in mail["X-Envelope-To"]
    body = mail.get_content()
    assert "31011 held" in body and "B2 ×" in body and "79034 partial" in body
    assert "http://127.0.0.1:8080/dags/birth_certificates/runs/night_2026-11-23__manual__20261130T000000Z" in body
    payload = json.loads(sink.received[0]["body"])
    assert payload["event"] == "failure" and payload["night"] == NIGHT.isoformat()
    attention = {a["facility"]: a for a in payload["summary"]["attention"]}
    assert attention["31011"]["status"] == "held" and attention["31011"]["top_rules"]["B2"] >= 20
    assert "<file>" in attention["79034"]["reason"]
    _assert_clean(mail.as_string())
    _assert_clean(sink.received[0]["body"].decode("utf-8"))


def test_deadline_path_is_async_and_sends_the_same_summary(held_night, channels):
    mails, sink = channels
    _root, start, end = held_night
    # what the triggerer passes: the run as the REST model's JSON
    run = {"dag_id": "birth_certificates", "dag_run_id": "scheduled__2026-11-23", "state": "running", "conf": {},
           "data_interval_start": start.isoformat(), "data_interval_end": end.isoformat()}

    async def fire():
        await RunSummaryNotifier(event="deadline", context={"dag_run": run, "deadline": {"deadline_time": "x"}})

    asyncio.run(fire())
    assert len(mails) == 1 and len(sink.received) == 1
    assert "DEADLINE MISSED" in mails[0]["Subject"]
    payload = json.loads(sink.received[0]["body"])
    assert payload["event"] == "deadline" and payload["run_id"] == "scheduled__2026-11-23"
    assert payload["text"].startswith("The night was not complete by its deadline.")
    _assert_clean(mails[0].as_string())


def test_one_broken_channel_does_not_stop_the_other(held_night, channels, monkeypatch):
    mails, sink = channels
    _root, start, end = held_night
    monkeypatch.setenv("AIRFLOW_CONN_S06_TEST_DEAD", json.dumps({"conn_type": "http", "host": "http://127.0.0.1:9/x"}))
    monkeypatch.setenv("S06_ALERT_CONN_IDS", "s06_test_dead,s06_test_missing,s06_test_hook")
    RunSummaryNotifier(event="failure").notify(_context(start, end))
    assert len(sink.received) == 1 and not mails


def test_message_without_a_readable_ledger_still_names_the_run():
    facts = {"dataset": "death_notices", "night": "2026-11-22", "run_id": "r1", "state": "failed",
             "url": "http://x/dags/death_notices/runs/r1", "facilities": None}
    msg = build_message("failure", facts, None)
    assert "death_notices" in msg["subject"] and "ledger: not readable" in msg["text"]
