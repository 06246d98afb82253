"""Vectorized parsing of the date forms Vietnamese health data uses (DOMAIN §10, §14.4).

Accepted forms: compact ``yyyyMMdd`` (8), ``yyyyMMddHHmm`` (12), ``yyyyMMddHHmmss`` (14),
``dd/MM/yyyy`` optionally followed by `` HH:mm[:ss]``, and (where a column allows it) a bare
``yyyy``. ISO ``yyyy-MM-dd`` is *not* a documented form of any source and is rejected, so a
facility whose export drifts to it is caught instead of silently accepted.

Impossible dates (31/02, 31/04, day 32, month 13, hour 24) are failures – never shifted
(``pyarrow.compute.strptime`` would turn 31/02 into 03/03; this module does not use it).

A source format that is defined to carry ISO 8601 (FHIR: ``date`` ``YYYY[-MM[-DD]]``, ``dateTime``
with ``THH:MM[:SS[.fff]]`` and an offset ``Z``/``+07:00``) declares ``date_style: iso8601`` in its
contract; for it (and only for it) :func:`parse_dates` is called with ``iso=True`` and the contract's
timezone: an instant with an offset becomes local wall-clock time in that zone, a partial date is
year-only (where allowed) or a failure, and the Vietnamese forms above are *not* accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.text import DIGITS, layout_matches, utf8_bytes, value_matrix

_COMPACT = r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})(?:(?P<H>\d{2})(?P<M>\d{2})(?P<S>\d{2})?)?$"
_DMY = r"^(?P<d>\d{1,2})/(?P<m>\d{1,2})/(?P<y>\d{4})(?:[ T](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?)?$"
_YEAR = r"^(?P<y>\d{4})$"
#: FHIR ``date`` / ``dateTime`` (ISO 8601 profile of FHIR R4); seconds and the offset are optional
#: here (FHIR requires both with a time; a naive time is taken as local wall-clock time).
_ISO = (r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.\d{1,9})?)?"
        r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$")
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


def accepted_forms(*, with_time: bool, year_only_allowed: bool = False, iso: bool = False,
                   time_required: bool = False) -> str:
    """The forms :func:`parse_dates` accepts with these options, for a facility-facing reason."""
    if iso:
        forms = "YYYY-MM-DDThh:mm[:ss][+07:00]" if with_time else "YYYY-MM-DD"
        if year_only_allowed:
            forms += ", YYYY or YYYY-MM (year only)"
        return forms + (", with a time" if time_required else "")
    if with_time and time_required:
        forms = "yyyyMMddHHmm, yyyyMMddHHmmss or dd/MM/yyyy HH:mm[:ss] (the time is required)"
    elif with_time:
        forms = "yyyyMMddHHmm, yyyyMMddHHmmss, dd/MM/yyyy HH:mm[:ss], or a date alone (yyyyMMdd, dd/MM/yyyy)"
    else:
        forms = "yyyyMMdd or dd/MM/yyyy"
    if year_only_allowed:
        forms += "; yyyy alone (or 00 for an unknown day or month) is a year only"
    return forms


def parse_dates(arr: pa.Array | pa.ChunkedArray, *, with_time: bool, year_only_allowed: bool = False,
                iso: bool = False, timezone: str | None = None, time_required: bool = False) -> ParsedDates:
    """Parse a string array of dates or date-times.

    Args:
        arr: strings (already trimmed; NULL/empty = missing).
        with_time: produce ``timestamp[s]`` (local wall time) instead of ``date32``.
        year_only_allowed: accept a bare ``yyyy`` (and ``00`` month/day placeholders) as a
            year-only value: ``values`` NULL, ``year`` set, not a failure.
        iso: the source writes ISO 8601 / FHIR dates (``2026-11-21``, ``2026-11-21T09:15:00+07:00``)
            instead of the Vietnamese forms; ``YYYY`` / ``YYYY-MM`` are year-only values.
        timezone: with ``iso``, the zone an instant with an offset is converted into (the
            contract's); None keeps the wall-clock time as written.
        time_required: with ``with_time``, a value without its hour and minute (a date alone) is
            a failure instead of midnight (a birth's time of day is part of the record).

    Returns:
        The parsed arrays and the failure mask.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = pc.utf8_trim_whitespace(arr.cast(pa.string()))
    n = len(arr)
    present = pc.fill_null(pc.not_equal(arr, ""), False).to_numpy(zero_copy_only=False)
    offset = np.zeros(n, np.int64)
    has_tz = np.zeros(n, bool)
    fields = None if iso else _fixed_width_fields(arr, present, year_only_allowed)
    if fields is not None:
        y, m, d, hh, mi, ss, timed = fields
        matched = present.copy()
    else:
        y, m, d, hh, mi, ss, timed, matched, offset, has_tz = _regex_fields(arr, n, iso, with_time, year_only_allowed)
    if iso:  # the offset must be a real one (-14:00 .. +14:00)
        matched &= np.abs(offset) <= 14 * 3600
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
    if with_time and time_required:
        valid &= timed
    failed = present & ~valid & ~year_only
    months = np.where(valid, (y - 1970) * 12 + (mm - 1), 0).astype("datetime64[M]")
    days = months.astype("datetime64[D]") + np.where(valid, d - 1, 0).astype("timedelta64[D]")
    mask = ~valid
    if with_time:
        secs = days.astype("datetime64[s]") + (hh * 3600 + mi * 60 + ss).astype("timedelta64[s]")
        values = pa.array(secs, type=pa.timestamp("s"), mask=mask)
        convert = has_tz & valid
        if timezone is not None and convert.any():
            values = _to_local(values, offset, convert, timezone)
    else:
        values = pa.array(days, type=pa.date32(), mask=mask)
    year_known = valid | year_only
    if iso and with_time and timezone is not None and has_tz.any():
        # the local year of a converted instant (31 Dec 20:00Z is 1 Jan in Hanoi)
        y = np.where(valid, pc.fill_null(pc.year(values), 0).to_numpy(zero_copy_only=False), y)
    year_arr = pa.array(np.where(year_known, y, 0).astype(np.int32), type=pa.int32(), mask=~year_known)
    return ParsedDates(values=values, year=year_arr, failed=failed)


#: The fixed-width forms (length -> layout) most sources write throughout a column: ``d`` ``m``
#: ``y`` ``H`` ``M`` ``S`` are digits of that field, anything else must be that very character
#: (``T`` stands for the space or ``T`` between date and time). Each is a form :data:`_COMPACT` or
#: :data:`_DMY` accepts, read to the same fields.
_FIXED_LAYOUTS = {
    8: "yyyymmdd",
    10: "dd/mm/yyyy",
    12: "yyyymmddHHMM",
    14: "yyyymmddHHMMSS",
    16: "dd/mm/yyyyTHH:MM",
    19: "dd/mm/yyyyTHH:MM:SS",
}
_DATE_CLASSES = {**dict.fromkeys("ymdHMS", DIGITS), "T": b" T"}


def _fixed_width_fields(arr: pa.Array, present: np.ndarray, year_only_allowed: bool
                        ) -> tuple[np.ndarray, ...] | None:
    """The fields of every present value when each has one of the fixed-width layouts (numpy over
    the column's bytes, no regex), else None (then the regular expressions read the column).

    Returns ``(y, m, d, H, M, S, timed)``: -1 for an absent date field, 0 for an absent time field,
    as the regular expressions give them; ``timed``: the value has a time of day.
    """
    if arr.type != pa.string():
        return None
    n = len(arr)
    _, offsets = utf8_bytes(arr)
    lengths = offsets[1:] - offsets[:-1]
    layouts = dict(_FIXED_LAYOUTS)
    if year_only_allowed:
        layouts[4] = "yyyy"
    out = [np.full(n, -1, np.int64) for _ in range(3)] + [np.zeros(n, np.int64) for _ in range(3)]
    done = np.zeros(n, bool)
    timed = np.zeros(n, bool)
    for length, layout in layouts.items():
        selected = present & (lengths == length)
        count = int(np.count_nonzero(selected))
        if not count:
            continue
        # every value has this layout: the matrix is a view of the buffer
        rows: Any = None if count == n and offsets[-1] == n * length else np.flatnonzero(selected)
        chars = value_matrix(arr, length, rows)
        if not layout_matches(chars, layout, _DATE_CLASSES):
            return None
        numeric = [i for i, c in enumerate(layout) if c in "ymdHMS"]
        digits = chars[:, numeric].astype(np.int32) - 48
        at = slice(None) if rows is None else rows
        for target, letter in zip(out, "ymdHMS", strict=True):
            where = [k for k, i in enumerate(numeric) if layout[i] == letter]
            if where:
                target[at] = digits[:, where] @ (10 ** np.arange(len(where) - 1, -1, -1, dtype=np.int32))
        done[at] = True
        if "H" in layout:
            timed[at] = True
    if not np.array_equal(done, present):
        return None  # some value has another form: the regular expressions decide
    return (*out, timed)


def _regex_fields(arr: pa.Array, n: int, iso: bool, with_time: bool, year_only_allowed: bool
                  ) -> tuple[np.ndarray, ...]:
    """Fields of each value matched by the first of the forms' regular expressions it fits.

    Returns ``(y, m, d, H, M, S, timed, matched, offset, has_tz)`` (``timed``: the value has a
    time of day).
    """
    y = np.full(n, -1, np.int64)
    m = np.full(n, -1, np.int64)
    d = np.full(n, -1, np.int64)
    hh = np.full(n, 0, np.int64)
    mi = np.full(n, 0, np.int64)
    ss = np.full(n, 0, np.int64)
    timed = np.zeros(n, bool)
    matched = np.zeros(n, bool)
    offset = np.zeros(n, np.int64)
    has_tz = np.zeros(n, bool)
    patterns = [_ISO] if iso else [_COMPACT, _DMY] + ([_YEAR] if year_only_allowed else [])
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
                if name == "H":
                    timed[ok] = got[ok] >= 0
        if pattern is _ISO:
            offset, has_tz = _offsets(ex, ok)
            if not with_time:
                has_tz[:] = False  # a FHIR date has no time: nothing to convert
        matched |= ok
    return y, m, d, hh, mi, ss, timed, matched, offset, has_tz


def _offsets(ex: pa.Array, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Seconds east of UTC of each ISO value's offset (``Z`` = 0) and whether it had one."""
    text = pc.fill_null(pc.struct_field(ex, "tz"), "")
    full = pc.equal(pc.utf8_length(text), 6)  # +hh:mm / -hh:mm (else "" or "Z")
    hours = pc.cast(pc.if_else(full, pc.utf8_slice_codeunits(text, 1, 3), "0"), pa.int64())
    minutes = pc.cast(pc.if_else(full, pc.utf8_slice_codeunits(text, 4, 6), "0"), pa.int64())
    seconds = pc.add(pc.multiply(hours, 3600), pc.multiply(minutes, 60))
    signed = pc.if_else(pc.starts_with(text, "-"), pc.negate(seconds), seconds)
    has = ok & pc.not_equal(text, "").to_numpy(zero_copy_only=False)
    return np.where(ok, signed.to_numpy(zero_copy_only=False), 0).astype(np.int64), has


def _to_local(values: pa.Array, offset: np.ndarray, convert: np.ndarray, timezone: str) -> pa.Array:
    """Wall-clock times written with an offset, as local wall-clock time in ``timezone``."""
    secs = pc.fill_null(values.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
    utc = pa.array(np.where(convert, secs - offset, 0).astype(np.int64), type=pa.int64()).cast(
        pa.timestamp("s", tz="UTC"))
    local = pc.local_timestamp(utc.cast(pa.timestamp("s", tz=timezone))).cast(pa.timestamp("s"))
    return pc.if_else(pa.array(convert), local, values)
