"""Reader of landed API pages (``page-00001.json``): string-typed Arrow chunks with lineage.

Same contract as the readers in :mod:`extractors.formats`: columns are the records' own keys,
every value a string (``None`` stays null), plus ``_source_ref`` (``page-00001.json#data[3]``,
1-based) and, when a record is not a JSON object, ``_reader_error``. Values are rendered:

* strings unchanged;
* integers as digits, integral floats without ``.0`` (``7.0`` -> ``"7"``), other floats by ``str``;
* booleans as ``"1"`` / ``"0"``;
* nested objects and arrays as compact JSON text (keys sorted).

A page that is not valid JSON or has no ``data`` list raises
:class:`~extractors.formats.FileRejected` with a reason free of file content.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from extractors.formats import FileRejected, detect_encoding


def stringify(value: Any) -> str | None:
    """One record value as the reader's string (see the module docstring)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return str(value)


def _reject_constant(name: str) -> Any:
    raise ValueError("non-standard JSON constant")


def _table(records: list[dict[str, str | None]]) -> pa.Table:
    names: dict[str, None] = {}
    for rec in records:
        names.update(dict.fromkeys(rec))
    return pa.table({n: pa.array([r.get(n) for r in records], pa.string()) for n in names})


def read_json_pages(path: Path, chunk_rows: int, encoding: str = "auto") -> Iterator[pa.Table]:
    """Read one landed API page: the records of its ``data`` list, ``chunk_rows`` at a time.

    Args:
        path: a ``page-NNNNN.json`` file as landed by :func:`~extractors.rest_api.fetch_to_raw`.
        chunk_rows: records per yielded table.
        encoding: declared encoding (``auto``: BOM, then UTF-8, then Windows-1258).

    Yields:
        String-typed tables with ``_source_ref`` and ``_reader_error`` columns.

    Raises:
        FileRejected: the page is not decodable, not valid JSON or has no ``data`` list.
    """
    enc = detect_encoding(path, encoding)
    try:
        text = path.read_bytes().decode(enc)
    except UnicodeDecodeError:
        raise FileRejected(f"API page is not valid {enc}") from None
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise FileRejected(f"API page is not valid JSON (truncated or corrupt) at line {exc.lineno}, column {exc.colno}") from None
    except (ValueError, RecursionError):
        raise FileRejected("API page is not valid JSON (non-standard constant or nesting too deep)") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise FileRejected("API page has no 'data' list")
    buf: list[dict[str, str | None]] = []
    for i, item in enumerate(doc["data"], start=1):
        ref = f"{path.name}#data[{i}]"
        if isinstance(item, dict):
            rec: dict[str, str | None] = {str(k): stringify(v) for k, v in item.items()}
            rec["_source_ref"] = ref
        else:
            rec = {"_source_ref": ref, "_reader_error": "record is not a JSON object"}
        buf.append(rec)
        if len(buf) >= chunk_rows:
            yield _table(buf)
            buf = []
    if buf:
        yield _table(buf)
