"""Record identity helpers shared by every dataset: content hashes and version keys."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from transforms.text import DIGITS, UPPER_ALNUM, layout_matches, utf8_bytes, value_matrix


def constant(value: object, type_: pa.DataType, n: int) -> pa.Array:
    """``n`` copies of one value (Arrow repeats it; a Python list of ``n`` objects costs far more)."""
    return pa.repeat(pa.scalar(value, type_), n)


def code_parts(code: pa.Array | pa.ChunkedArray, pattern: str, layout: str, groups: dict[str, tuple[int, int]]
               ) -> dict[str, pa.Array]:
    """The named groups of ``pattern`` in each code (NULL where the code does not match).

    ``layout`` is the same form at a fixed width (``9`` a digit, ``Z`` a digit or capital letter,
    anything else itself) and ``groups`` the code-unit span of each group in it. When every
    non-NULL code fits the layout (the usual column), the groups are sliced out without running
    the pattern; otherwise the pattern decides, row by row.
    """
    arr = code.combine_chunks() if isinstance(code, pa.ChunkedArray) else code
    if _fits_layout(arr, layout):
        return {g: pc.utf8_slice_codeunits(arr, a, b) for g, (a, b) in groups.items()}
    parts = pc.extract_regex(pc.fill_null(arr, ""), pattern)
    matched = parts.is_valid()
    null = pa.nulls(len(arr), pa.string())
    return {g: pc.if_else(matched, pc.struct_field(parts, g), null) for g in groups}


def _fits_layout(arr: pa.Array, layout: str) -> bool:
    """Whether every non-NULL value of a string array has ``layout`` (see :func:`code_parts`)."""
    if arr.type != pa.string() or arr.null_count == len(arr):
        return False
    _, offsets = utf8_bytes(arr)
    rows = np.flatnonzero(arr.is_valid().to_numpy(zero_copy_only=False)) if arr.null_count else None
    lengths = (offsets[1:] - offsets[:-1]) if rows is None else (offsets[rows + 1] - offsets[rows])
    if not (lengths == len(layout)).all():
        return False
    return layout_matches(value_matrix(arr, len(layout), rows), layout, {"9": DIGITS, "Z": UPPER_ALNUM})


def set_columns(table: pa.Table, columns: dict[str, pa.Array]) -> pa.Table:
    """``table`` with ``columns`` set: replaced in place where the name exists, else appended."""
    for name, arr in columns.items():
        if name in table.column_names:
            table = table.set_column(table.column_names.index(name), name, arr)
        else:
            table = table.append_column(name, arr)
    return table


def facility_column(facility_code: str | pa.Array | pa.ChunkedArray, n: int) -> pa.Array:
    """The sending facility of each row: one code for a one-facility table, or already per row.

    The batch runner processes a shard of facilities together and passes a per-row array; unit
    tests and ad-hoc callers pass a single code.
    """
    if isinstance(facility_code, str):
        return constant(facility_code, pa.string(), n)
    arr = facility_code.combine_chunks() if isinstance(facility_code, pa.ChunkedArray) else facility_code
    if len(arr) != n:
        raise ValueError(f"facility codes: {len(arr)} values for {n} rows")
    return arr.cast(pa.string())


def natural_key_array(table: pa.Table, columns: tuple[str, ...] | list[str]) -> pa.Array:
    """One string per row identifying its natural key (composite keys joined with ``|``).

    NULL when any key part is NULL (such a row has no identity; REQ quarantines it). The same
    ``|`` join is what ``change_feed.natural_key`` and the quarantine's ``record_key`` show.
    """
    parts = [table.column(c).combine_chunks().cast(pa.string()) for c in columns]
    if len(parts) == 1:
        return parts[0]
    return pc.binary_join_element_wise(*parts, "|", null_handling="emit_null")


def record_hash(table: pa.Table, columns: list[str]) -> pa.Array:
    """A 64-bit content hash (as a decimal string) over ``columns`` of each row.

    Used to tell an exact re-send (same hash: superseded duplicate, no staging write) from a
    changed record (new version). Lineage columns must not be included, or an identical record in
    another file would look changed.
    """
    parts = [pc.cast(table.column(name), pa.string()) for name in columns]
    # a NULL value is hashed as "\x00" (the join substitutes it: one pass instead of one per column)
    joined = (pc.binary_join_element_wise(*parts, "\x1f", null_handling="replace", null_replacement="\x00")
              if parts else pa.nulls(table.num_rows, pa.string()))
    # As bytes objects: pandas hashes a str by its UTF-8 encoding, which these bytes already are
    # (the same hash without decoding every row into a str and encoding it back).
    values = np.asarray(joined.cast(pa.binary()).to_numpy(zero_copy_only=False), dtype=object)
    hashed = pd.util.hash_array(values, categorize=False)
    return pc.cast(pa.array(hashed, type=pa.uint64()), pa.string())


def version_key(table: pa.Table, order: list[str], interval_start: str, row_offset: int,
                positions: np.ndarray | None = None) -> pa.Array:
    """A sortable string giving the version order of records with the same natural key.

    Args:
        table: canonical rows.
        order: columns deciding the order, most significant first (dates or booleans).
        interval_start: the batch's data-interval start (``YYYYmmddTHHMM``): a later night's
            copy of an identical-looking record wins over an earlier night's.
        row_offset: position of the chunk's first row in the batch (ties inside one batch go to
            the later row, i.e. the one the facility sent last).
        positions: each row's position within its batch, when the chunk holds rows of several
            batches (then ``row_offset`` is ignored).

    Returns:
        Strings such as ``2026-11-21 00:00:00|1|20261121T0000|000000042``; a larger string is newer.
    """
    parts = []
    for name in order:
        col = table.column(name)
        if pa.types.is_boolean(col.type):
            parts.append(pc.if_else(pc.fill_null(col, False), "1", "0"))
        else:
            # ISO text ("2026-11-21 10:30:00") sorts like the instant it names.
            as_ts = pc.cast(col, pa.timestamp("s")) if pa.types.is_date(col.type) else col.cast(pa.timestamp("s"))
            parts.append(pc.fill_null(pc.cast(as_ts, pa.string()), "0000-00-00 00:00:00"))
    n = table.num_rows
    parts.append(constant(interval_start, pa.string(), n))
    if positions is None:
        positions = np.arange(row_offset, row_offset + n, dtype=np.int64)
    parts.append(pc.utf8_lpad(pc.cast(pa.array(positions, pa.int64()), pa.string()), 9, "0"))
    return pc.binary_join_element_wise(*parts, "|")
