"""Rule options per facility: declared in the contract, overridden in the registry, applied per
facility inside one shard (one GX call per distinct option set)."""

from __future__ import annotations

import datetime as dt

import pytest

from config.registry import RegistryError, parse_registry
from config.settings import load_settings
from loaders import staging
from pipeline.shard import run_shard
from tests.pipeline.test_batch import TZ, _child, _drop, _xml9

NIGHT = dt.date(2026, 11, 21)
REGISTRY = """facilities:
  - {code: "01929", name: A, province_code: "01", source_kind: file_drop,
     datasets: {birth_certificates: {format: xml9}}}
  - {code: "01930", name: B, province_code: "01", source_kind: file_drop,
     datasets: {birth_certificates: {format: xml9, rule_options: {weight_warn_max_g: 7000}}}}
"""


def _entry(**dataset) -> dict:
    return {"facilities": [{"code": "01929", "name": "A", "province_code": "01", "source_kind": "file_drop",
                            "datasets": {"birth_certificates": {"format": "xml9", **dataset}}}]}


def test_registry_accepts_known_rule_options():
    (fac,) = parse_registry(_entry(rule_options={"max_issue_lag_days": 400}))
    assert fac.datasets["birth_certificates"].rule_options == {"max_issue_lag_days": 400}
    assert "rule_options" not in fac.datasets["birth_certificates"].options


@pytest.mark.parametrize(
    ("rule_options", "message"),
    [
        pytest.param({"max_issue_lag": 400}, r"facilities\[0\] \(code 01929\).*rule_options.*max_issue_lag", id="unknown"),
        pytest.param({"max_issue_lag_days": "a year"}, r"code 01929.*max_issue_lag_days.*integer", id="type"),
        pytest.param({"weight_min_g": 9000}, r"code 01929.*weight_min_g must not exceed weight_max_g", id="range"),
        pytest.param([1], r"code 01929.*rule_options' must be a mapping", id="not-a-mapping"),
    ],
)
def test_registry_rejects_bad_rule_options_naming_facility_and_key(rule_options, message):
    with pytest.raises(RegistryError, match=message):
        parse_registry(_entry(rule_options=rule_options))


def test_each_facility_is_judged_with_its_own_options_in_one_shard(tmp_path, monkeypatch):
    import expectations

    monkeypatch.setenv("S06_DATA_ROOT", str(tmp_path))
    (tmp_path / "facilities.yaml").write_text(REGISTRY, encoding="utf-8")
    monkeypatch.setenv("S06_FACILITIES_FILE", str(tmp_path / "facilities.yaml"))
    monkeypatch.setenv("S06_PSEUDONYM_KEY", "test-key-0123456789abcdef")
    heavy = [_child(i, fac).replace("<CAN_NANG_CON>3200<", "<CAN_NANG_CON>6500<") for i, fac in ((1, "01929"),)]
    _drop(tmp_path, "01929", NIGHT, "a.xml", _xml9([_child(2), *heavy]))
    heavy_b = _child(3, "01930").replace("<CAN_NANG_CON>3200<", "<CAN_NANG_CON>6500<")
    _drop(tmp_path, "01930", NIGHT, "b.xml", _xml9([_child(4, "01930"), heavy_b], envelope="01930"))
    calls = []
    original = expectations.validate_frame

    def counting(frame, dataset, options=None):
        calls.append(dict(options or {}))
        return original(frame, dataset, options)

    monkeypatch.setattr(expectations, "validate_frame", counting)
    start = dt.datetime(NIGHT.year, NIGHT.month, NIGHT.day, tzinfo=TZ)
    batches = run_shard("birth_certificates", ["01929", "01930"], start, start + dt.timedelta(days=1))
    assert [b.ledger["status"] for b in batches] == ["loaded", "loaded"]
    # 6500 g: outside the default warning range (500-6000) at A, inside B's (500-7000).
    assert [b.flagged for b in batches] == [1, 0]
    assert [w["rule_id"] for w in batches[0].warnings] == ["B4"]
    assert sorted(calls, key=len) == [{}, {"weight_warn_max_g": 7000}]  # one call per option set
    engine = staging.make_engine(load_settings().staging_url)
    rows = {r["facility_code"]: r for r in staging.ledger_rows(engine, "birth_certificates")}
    assert (rows["01929"]["flagged"], rows["01930"]["flagged"]) == (1, 0)


def test_derivation_options_are_set_in_the_contract_not_per_facility():
    raw = {"facilities": [{"code": "37012", "name": "A", "province_code": "37", "source_kind": "file_drop",
                           "datasets": {"driver_health_checks": {"format": "csv",
                                                                 "rule_options": {"validity_months": 6}}}}]}
    with pytest.raises(RegistryError, match=r"code 37012.*\['validity_months'\] are derivation options"):
        parse_registry(raw)


def test_the_hook_gets_the_contracts_derivation_options():
    from config.contracts import load_contract
    from pipeline.datasets import hooks_for

    derive = hooks_for("driver_health_checks").derive
    assert derive.keywords == load_contract("driver_health_checks").derivation_options()
    assert derive.keywords["validity_change_date"] == dt.date(2025, 1, 1)
