"""SQL-database extractor: a facility's own table or view, read incrementally by a cursor column.

``extract_window`` lands one data interval's rows as JSON-lines chunks plus a manifest in the raw
zone; ``read_jsonl`` (registered as reader ``jsonl``) reads them back - and any ``.jsonl`` drop.
"""

from __future__ import annotations

from extractors.sql.connection import sqlalchemy_url_from_connection
from extractors.sql.extract import (
    DEFAULT_CURSOR_TIMEZONE,
    SqlExtractResult,
    SqlSourceError,
    cell_text,
    extract_window,
)
from extractors.sql.jsonl import read_jsonl

__all__ = [
    "DEFAULT_CURSOR_TIMEZONE",
    "SqlExtractResult",
    "SqlSourceError",
    "cell_text",
    "extract_window",
    "read_jsonl",
    "sqlalchemy_url_from_connection",
]
