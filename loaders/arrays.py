"""Many values in one PostgreSQL parameter: a ``text[]`` literal built in Arrow, bound as ``TEXT[]``.

Used where a statement asks about many values at once (the cross-record lookups, the load's
check that a night's keys are all new): one statement and one plan however many values.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa


def array_literal(values: pa.Array) -> str:
    """A PostgreSQL ``text[]`` literal of ``values`` (no NULLs), built in Arrow.

    Every element is double-quoted, with ``\\`` and ``"`` backslash-escaped, so any text reads
    back as itself (commas, braces, spaces, the word NULL). A Python list bound as an array made
    the driver adapt every element: ``death_dates`` of 1,000,000 IDs against 200,000 stored
    notices took 5.5-6.7 s that way and 2.3 s with the literal (same server, alternating).
    """
    if len(values) == 0:
        return "{}"
    text = values.cast(pa.large_string())
    text = pc.replace_substring(pc.replace_substring(text, "\\", "\\\\"), '"', '\\"')
    quote = pa.scalar('"', pa.large_string())
    quoted = pc.binary_join_element_wise(quote, text, quote, pa.scalar("", pa.large_string()))
    one = pa.LargeListArray.from_arrays(pa.array([0, len(quoted)], pa.int64()), quoted)
    return "{" + pc.binary_join(one, pa.scalar(",", pa.large_string()))[0].as_py() + "}"


class TextArray(sa.types.UserDefinedType[str]):
    """An array literal bound as ``$1::TEXT[]``: the server parses it when the statement is bound,
    so the planner sees a constant array (a hashed ``= ANY`` over a sequential scan, or one index
    probe per value). Bound as text and cast in the statement (``CAST($1::VARCHAR AS TEXT[])``) it
    is an expression evaluated at run time: the planner guesses a few values, and a sequential
    scan compared every row with every value (minutes for a million IDs)."""

    cache_ok = True
    render_bind_cast = True

    def get_col_spec(self, **_kw: Any) -> str:
        return "TEXT[]"
