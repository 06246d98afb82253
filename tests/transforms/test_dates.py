import datetime as dt

import numpy as np
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


def test_fixed_width_reading_gives_the_regular_expressions_fields():
    """The numpy reading of fixed-width columns must give exactly the fields the regular expressions
    read, for every layout and any digits (impossible dates included: the checks come after)."""
    import random

    import pyarrow.compute as pc

    from transforms.dates import _FIXED_LAYOUTS, _fixed_width_fields, _regex_fields

    rng = random.Random(5)

    def fill(layout: str) -> str:
        return "".join(str(rng.randint(0, 9)) if c in "ymdHMS" else rng.choice(" T") if c == "T" else c
                       for c in layout)

    for _ in range(300):
        year_only = rng.random() < 0.5
        layouts = [*_FIXED_LAYOUTS.values(), *(["yyyy"] if year_only else [])]
        values = [fill(rng.choice(layouts) if rng.random() < 0.2 else layouts[_ % len(layouts)])
                  for _ in range(rng.randint(1, 30))]
        arr = pa.array([None if rng.random() < 0.1 else v for v in values])
        present = pc.fill_null(pc.not_equal(arr, ""), False).to_numpy(zero_copy_only=False)
        fast = _fixed_width_fields(arr, present, year_only)
        assert fast is not None
        slow = _regex_fields(arr, len(arr), False, True, year_only)
        assert slow[7][present].all()  # matched
        for got, want in zip(fast, slow[:7], strict=True):  # the fields and whether a time was written
            assert np.array_equal(got[present], want[present])


@pytest.mark.parametrize("value", ["1/2/2020", "01/02/20201", "0102202", "01-02-2020", "01/02/2020 9:30", "2020010a", "2020"])
def test_a_value_outside_the_fixed_widths_sends_the_column_to_the_regular_expressions(value):
    from transforms.dates import _fixed_width_fields

    arr = pa.array(["01/02/2020", value])
    assert _fixed_width_fields(arr, np.array([True, True]), False) is None


@pytest.mark.parametrize("regex", [False, True])
def test_a_required_time_fails_a_date_alone_and_keeps_every_timed_form(regex):
    """``time_required`` (the birth's NGAY_SINH_CON): a date without its hour and minute is a
    failure, not midnight, in the compact and the dd/MM/yyyy forms, on both readings."""
    values = ["202611290830", "20261129083015", "29/11/2026 08:30", "29/11/2026 08:30:15", "20261129", "29/11/2026"]
    if regex:
        values.append("1/2/2020 9:30")  # outside the fixed widths: the regular expressions read the column
    parsed = parse_dates(pa.array(values), with_time=True, time_required=True)
    expect = [False, False, False, False, True, True] + ([False] if regex else [])
    assert parsed.failed.tolist() == expect
    assert parsed.values.to_pylist()[:2] == [dt.datetime(2026, 11, 29, 8, 30), dt.datetime(2026, 11, 29, 8, 30, 15)]
    loose = parse_dates(pa.array(values), with_time=True)
    assert not loose.failed.any() and loose.values.to_pylist()[4] == dt.datetime(2026, 11, 29)
