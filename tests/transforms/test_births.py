import datetime as dt

import pyarrow as pa
import pytest

from transforms.births import episode_sizes
from transforms.identity import cccd_checks, effective_id_type


@pytest.mark.parametrize(
    ("id_type", "number", "expected"),
    [
        pytest.param(None, "001190012345", "1", id="12-digits-inferred-cccd"),
        pytest.param(None, "00119001234", "1", id="11-digits-still-cccd-so-length-is-checked"),
        pytest.param(None, "012345678", "2", id="9-digits-cmnd"),
        pytest.param(None, "B1234567", "3", id="letters-passport"),
        pytest.param("3", "001190012345", "3", id="declared-type-wins"),
        pytest.param(None, None, None, id="missing"),
    ],
)
def test_effective_id_type(id_type, number, expected):
    got = effective_id_type(pa.array([id_type], pa.string()), pa.array([number], pa.string()))
    assert got.to_pylist() == [expected]


@pytest.mark.parametrize(
    ("number", "year", "valid", "female", "year_ok"),
    [
        pytest.param("001195012345", 1995, True, True, True, id="female-1900s"),
        pytest.param("079300012345", 2000, True, True, True, id="female-2000s"),
        pytest.param("001095012345", 1995, True, False, True, id="male-digit"),
        pytest.param("001195012345", 1996, True, True, False, id="year-mismatch"),
        pytest.param("003195012345", 1995, False, None, None, id="prefix-not-in-63-list"),
        pytest.param("00119501234", 1995, False, None, None, id="short"),
        pytest.param("001195012345", None, True, True, None, id="year-unknown"),
    ],
)
def test_cccd_checks(number, year, valid, female, year_ok):
    v, f, y = cccd_checks(pa.array([number]), pa.array([year], pa.int32()))
    assert (v.to_pylist()[0], f.to_pylist()[0], y.to_pylist()[0]) == (valid, female, year_ok)


def test_episode_sizes_count_distinct_codes():
    sizes = episode_sizes(pa.array(["E1", "E1", "E1", "E2", None]), pa.array(["a", "b", "a", "c", "d"]))
    assert sizes.to_pylist() == [2, 2, 2, 1, None]


def test_commune_versioned_by_event_date():
    from transforms.admin_units import commune_in_province

    got = commune_in_province(
        pa.array(["01", "79", "01"]), pa.array(["00070", "00070", "00070"]),
        pa.array([dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 1), dt.datetime(2025, 6, 30)]),
    )
    assert got.to_pylist() == [True, False, None]  # pre-reform codes are not checkable


def _derive(**overrides):
    from config.contracts import load_contract
    from transforms.births import derive_validation_columns
    from transforms.normalize import normalize

    values = {"MA_GCS": "00001.GCS.79034.25", "NGAY_CT": "20260105", "NGAY_SINH_CON": "20251230103000",
              "CAP_LAN_DAU": "1"} | overrides
    raw = pa.table({k: [v] for k, v in values.items()} | {"_source_ref": ["GIAYCHUNGSINH[1]"]})
    table = normalize(raw, load_contract("birth_certificates"), "pl02").table
    return derive_validation_columns(table, "79034", dt.datetime(2026, 1, 6)).to_pylist()[0]


def test_b1_year_check_exempts_reissues_across_new_year():
    first = _derive()
    assert (first["code_year"], first["issue_year_2d"]) == ("25", "26")  # a first issue: B1 mismatch
    reissue = _derive(CAP_LAN_DAU="0")
    assert reissue["issue_year_2d"] is None  # a re-issue keeps last year's code: not compared
    assert reissue["is_reissue"] is True and reissue["issue_lag_days"] == 6.0


def test_derivation_produces_every_validation_column_the_contract_declares():
    # One declaration: the contract's rules name the validation frame; the hook derives it
    # (duplicate_first_issue is the batch's dedup, added after the hook).
    from config.contracts import load_contract

    contract = load_contract("birth_certificates")
    row = _derive()
    assert contract.hook == "transforms.births"
    assert set(contract.validation_columns) - {"duplicate_first_issue"} <= set(row)


def test_episode_sizes_equal_a_distinct_count_per_episode():
    """Against the definition (a grouped distinct count; NULL codes not counted, NULL episodes
    get no size), on random columns with repeats, NULLs and chunked input."""
    import random

    rng = random.Random(4)
    for _ in range(50):
        n = rng.randint(1, 60)
        episodes = [None if rng.random() < 0.1 else f"E{rng.randint(0, 6)}" for _ in range(n)]
        codes = [None if rng.random() < 0.1 else f"c{rng.randint(0, 4)}" for _ in range(n)]
        expected = [None if e is None else len({c for e2, c in zip(episodes, codes, strict=True)
                                                if (e2 or "") == e and c is not None}) for e in episodes]
        chunked = pa.chunked_array([episodes[: n // 2], episodes[n // 2:]], pa.string())
        assert episode_sizes(chunked, pa.array(codes, pa.string())).to_pylist() == expected
