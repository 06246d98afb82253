import datetime as dt

import pyarrow as pa
import pytest

from transforms.dates import parse_dates


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("202611211030", dt.datetime(2026, 11, 21, 10, 30), id="12-digit"),
        pytest.param("20261121103005", dt.datetime(2026, 11, 21, 10, 30, 5), id="14-digit"),
        pytest.param("20261121", dt.datetime(2026, 11, 21), id="8-digit"),
        pytest.param("21/11/2026 07:05", dt.datetime(2026, 11, 21, 7, 5), id="dmy-time"),
        pytest.param("1/2/2024", dt.datetime(2024, 2, 1), id="dmy-short"),
        pytest.param("29/02/2024", dt.datetime(2024, 2, 29), id="leap-day"),
        pytest.param(" 20261121 ", dt.datetime(2026, 11, 21), id="padded"),
    ],
)
def test_accepted_forms(raw, expected):
    parsed = parse_dates(pa.array([raw]), with_time=True)
    assert parsed.values.to_pylist() == [expected]
    assert not parsed.failed.any()


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("31/02/2026", id="31-feb"),
        pytest.param("202602311030", id="31-feb-compact"),
        pytest.param("29/02/2025", id="not-leap"),
        pytest.param("31/04/2026", id="31-apr"),
        pytest.param("20261321", id="month-13"),
        pytest.param("202611212430", id="hour-24"),
        pytest.param("2026-11-21", id="iso-not-a-source-form"),
        pytest.param("21.11.2026", id="dots"),
        pytest.param("abc", id="garbage"),
        pytest.param("18001121", id="year-out-of-range"),
    ],
)
def test_impossible_or_unknown_forms_fail_not_shift(raw):
    parsed = parse_dates(pa.array([raw]), with_time=True)
    assert parsed.values.to_pylist() == [None]
    assert parsed.failed.tolist() == [True]


def test_missing_is_not_a_failure():
    parsed = parse_dates(pa.array([None, "", "  "]), with_time=False)
    assert parsed.values.to_pylist() == [None, None, None]
    assert parsed.failed.tolist() == [False, False, False]


def test_year_only_where_allowed():
    allowed = parse_dates(pa.array(["1990", "19900000", "19900315"]), with_time=False, year_only_allowed=True)
    assert allowed.values.to_pylist() == [None, None, dt.date(1990, 3, 15)]
    assert allowed.year.to_pylist() == [1990, 1990, 1990]
    assert not allowed.failed.any()
    strict = parse_dates(pa.array(["1990"]), with_time=False)
    assert strict.failed.tolist() == [True]


def test_dates_only_output_type():
    parsed = parse_dates(pa.array(["20261121"]), with_time=False)
    assert parsed.values.type == pa.date32()
