"""Vectorized parsing of the date forms Vietnamese health data uses (DOMAIN §10, §14.4).

Accepted forms: compact ``yyyyMMdd`` (8), ``yyyyMMddHHmm`` (12), ``yyyyMMddHHmmss`` (14),
``dd/MM/yyyy`` optionally followed by `` HH:mm[:ss]``, and (where a column allows it) a bare
``yyyy``. ISO ``yyyy-MM-dd`` is *not* a documented form of any source and is rejected, so a
facility whose export drifts to it is caught instead of silently accepted.

Impossible dates (31/02, 31/04, day 32, month 13, hour 24) are failures – never shifted
(``pyarrow.compute.strptime`` would turn 31/02 into 03/03; this module does not use it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_COMPACT = r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})(?:(?P<H>\d{2})(?P<M>\d{2})(?P<S>\d{2})?)?$"
_DMY = r"^(?P<d>\d{1,2})/(?P<m>\d{1,2})/(?P<y>\d{4})(?:[ T](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?)?$"
_YEAR = r"^(?P<y>\d{4})$"
_DAYS_IN_MONTH = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
MIN_YEAR, MAX_YEAR = 1900, 2199


@dataclass(frozen=True)
class ParsedDates:
    """Result of parsing one string column.

    Attributes:
        values: ``timestamp[s]`` (for date-times) or ``date32`` (for dates); NULL where the
            input was missing, unparseable, impossible or year-only.
        year: the year whenever it is known (also for year-only values), else NULL.
        failed: True where a non-empty input could not be parsed into a valid value.
    """

    values: pa.Array
    year: pa.Array
    failed: np.ndarray


def _field(struct: pa.Array, name: str) -> np.ndarray:
    """Integer numpy array of a regex group; -1 where absent/empty."""
    col = pc.struct_field(struct, name)
    col = pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)
    return pc.fill_null(pc.cast(col, pa.int64()), -1).to_numpy(zero_copy_only=False)


def parse_dates(arr: pa.Array | pa.ChunkedArray, *, with_time: bool, year_only_allowed: bool = False) -> ParsedDates:
    """Parse a string array of dates or date-times.

    Args:
        arr: strings (already trimmed; NULL/empty = missing).
        with_time: produce ``timestamp[s]`` (local wall time) instead of ``date32``.
        year_only_allowed: accept a bare ``yyyy`` (and ``00`` month/day placeholders) as a
            year-only value: ``values`` NULL, ``year`` set, not a failure.

    Returns:
        The parsed arrays and the failure mask.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = pc.utf8_trim_whitespace(arr.cast(pa.string()))
    n = len(arr)
    present = pc.fill_null(pc.not_equal(arr, ""), False).to_numpy(zero_copy_only=False)
    y = np.full(n, -1, np.int64)
    m = np.full(n, -1, np.int64)
    d = np.full(n, -1, np.int64)
    hh = np.full(n, 0, np.int64)
    mi = np.full(n, 0, np.int64)
    ss = np.full(n, 0, np.int64)
    matched = np.zeros(n, bool)
    patterns = [_COMPACT, _DMY] + ([_YEAR] if year_only_allowed else [])
    for pattern in patterns:
        ex = pc.extract_regex(arr, pattern)
        ok = pc.fill_null(ex.is_valid(), False).to_numpy(zero_copy_only=False) & ~matched
        if not ok.any():
            continue
        y = np.where(ok, _field(ex, "y"), y)
        if pattern is not _YEAR:
            m = np.where(ok, _field(ex, "m"), m)
            d = np.where(ok, _field(ex, "d"), d)
            for target, name in ((hh, "H"), (mi, "M"), (ss, "S")):
                got = _field(ex, name)
                target[ok] = np.where(got[ok] < 0, 0, got[ok])
        matched |= ok
    year_ok = (y >= MIN_YEAR) & (y <= MAX_YEAR)
    # "00" day/month (and bare yyyy) mean "unknown part": a year-only value where allowed.
    year_only = matched & year_ok & ((m <= 0) | (d <= 0)) & year_only_allowed
    mm = np.clip(m, 1, 12)
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    dim = _DAYS_IN_MONTH[mm - 1] + ((mm == 2) & leap)
    valid = (
        matched
        & year_ok
        & (m >= 1) & (m <= 12)
        & (d >= 1) & (d <= dim)
        & (hh >= 0) & (hh <= 23) & (mi >= 0) & (mi <= 59) & (ss >= 0) & (ss <= 59)
    )
    failed = present & ~valid & ~year_only
    months = np.where(valid, (y - 1970) * 12 + (mm - 1), 0).astype("datetime64[M]")
    days = months.astype("datetime64[D]") + np.where(valid, d - 1, 0).astype("timedelta64[D]")
    mask = ~valid
    if with_time:
        secs = days.astype("datetime64[s]") + (hh * 3600 + mi * 60 + ss).astype("timedelta64[s]")
        values = pa.array(secs, type=pa.timestamp("s"), mask=mask)
    else:
        values = pa.array(days, type=pa.date32(), mask=mask)
    year_known = valid | year_only
    year_arr = pa.array(np.where(year_known, y, 0).astype(np.int32), type=pa.int32(), mask=~year_known)
    return ParsedDates(values=values, year=year_arr, failed=failed)
