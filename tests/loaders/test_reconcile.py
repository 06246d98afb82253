"""The ledger's balance checks (loaders.staging.reconcile): both identities are checked, and a
run whose ledger does not balance fails the night."""

from __future__ import annotations

import datetime as dt

import pytest

from loaders import staging

BALANCED = {"batch_id": "birth_certificates/01929/2026-11-21", "received": 10, "loaded": 6, "quarantined": 2,
            "superseded": 1, "held": 1, "inserted": 3, "updated": 2, "unchanged": 1}


def test_a_balanced_row_passes():
    assert staging.reconcile(BALANCED) is None


@pytest.mark.parametrize(("change", "names"), [
    pytest.param({"received": 11}, "received 11", id="received-more-than-accounted"),
    pytest.param({"quarantined": 1}, "quarantined 1", id="a-quarantined-row-lost"),
    pytest.param({"held": 0, "received": 9, "inserted": 4}, "inserted + updated + unchanged", id="loaded-fewer-than-written"),
    pytest.param({"unchanged": 0}, "inserted + updated + unchanged", id="loaded-more-than-written"),
    pytest.param({"updated": 3, "unchanged": 0}, None, id="same-total-other-split-is-fine"),
])
def test_each_identity_is_checked(change, names):
    problem = staging.reconcile(BALANCED | change)
    if names is None:
        assert problem is None
    else:
        assert problem is not None and names in problem and BALANCED["batch_id"] in problem


def test_a_ledger_row_that_does_not_add_up_fails_the_night(tmp_path, monkeypatch):
    """received = loaded + ... holds but loaded != inserted + updated + unchanged: reconcile says so."""
    from pipeline.errors import ReconciliationError
    from pipeline.tasks import reconcile_interval

    monkeypatch.setenv("S06_DATA_ROOT", str(tmp_path))
    from config.settings import load_settings

    settings = load_settings()
    engine = staging.make_engine(settings.staging_url)
    staging.ensure_schema(engine, ["birth_certificates"])
    start = dt.datetime(2026, 11, 21, tzinfo=dt.timezone(dt.timedelta(hours=7)))
    row = {"dataset": "birth_certificates", "facility_code": "01929", "interval_start": start.isoformat(),
           "interval_end": (start + dt.timedelta(days=1)).isoformat(), "status": "loaded", "flagged": 0,
           "files_received": 1, "files_rejected": 0, "files_skipped": 0} | BALANCED | {"held": 0, "received": 9}
    with engine.begin() as conn:
        staging.write_ledger(conn, row)
    assert reconcile_interval("birth_certificates", start, settings)["received"] == 9
    with engine.begin() as conn:
        staging.write_ledger(conn, row | {"unchanged": 0})
    with pytest.raises(ReconciliationError, match="loaded != inserted \\+ updated \\+ unchanged"):
        reconcile_interval("birth_certificates", start, settings)
    engine.dispose()
