"""Reader of JSON-lines files (one JSON object per line): SQL-extract chunks and ``.jsonl`` drops.

Follows the reader contract of :mod:`extractors.formats`: it yields ``pa.Table`` chunks of at most
``chunk_rows`` rows whose columns are all strings, plus the lineage columns ``_source_ref`` and
``_reader_error``.

Values become text as in every JSON reader (:func:`extractors.formats.json_value_text`: numbers
exactly as written, ``true``/``false`` -> ``"1"``/``"0"``, ``null`` -> NULL). An object or an
array where one value belongs is NULL, its field named in ``_nested_fields``
(:func:`extractors.formats.json_record_text`; the normalizer reports it if the layout reads it).

Columns are the union of the keys of the whole file, in order of first appearance, so every chunk
of one file has the same schema. With ``source_refs`` (files the pipeline's own SQL extractor
wrote; the batch runner sets it for ``sql`` sources only) the key ``__ref`` becomes
``_source_ref``; otherwise, and in every file a facility drops, the reference is ``line N``
(1-based physical line) and ``__ref`` is an ordinary key, so a facility cannot choose what the
quarantine shows as a row's reference. Blank lines are
skipped. A line that is not a JSON object (bad syntax, an array, a bare value, a reserved lineage
key such as ``_source_ref``) does not reject the file: it yields a row carrying only
``_source_ref = "line N"`` and a ``_reader_error`` (quarantined with rule ``ENVELOPE``).

Undecodable bytes reject the whole file (:class:`~extractors.formats.FileRejected`). The file is
read twice (first pass: decode check and column union; second pass: rows), so a rejection
happens before any chunk is yielded and memory stays bounded by ``chunk_rows`` (plus one line).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from extractors.formats import (
    FIELD_SEPARATOR,
    LINEAGE_COLUMNS,
    NESTED_FIELDS,
    SURROGATE_PROBLEM,
    UNDECODABLE_FIELDS,
    FileRejected,
    RepeatedKey,
    has_unpaired_surrogate,
    json_record_text,
    json_value_text,
    parse_json,
)

#: Key under which a producer (the SQL extractor) puts a row's own reference.
REF_KEY = "__ref"
#: Key under which the SQL extractor lists a row's columns whose text was not valid UTF-8 in the
#: source database (their values are NULL); read into :data:`UNDECODABLE_FIELDS`.
UNDECODABLE_KEY = "__undecodable"
#: Lineage columns a data line must not set itself.
RESERVED_KEYS = LINEAGE_COLUMNS


def _decoder_encoding(encoding: str) -> str:
    """``auto``/UTF-8 -> ``utf-8-sig`` (JSON is UTF-8; a BOM is tolerated); else as declared."""
    if encoding in ("auto", "") or encoding.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig"):
        return "utf-8-sig"
    return encoding


def _lines(path: Path, encoding: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of the non-blank lines; undecodable bytes -> :class:`FileRejected`."""
    number = 0
    label = "UTF-8" if encoding == "utf-8-sig" else encoding
    try:
        with Path(path).open("r", encoding=encoding, errors="strict", newline="\n") as fh:
            for number, line in enumerate(fh, start=1):
                if line.strip():
                    yield number, line
    except UnicodeDecodeError:
        raise FileRejected(f"JSON lines file is not valid {label} (after line {number})") from None
    except LookupError:
        raise FileRejected(f"unknown declared encoding {encoding!r}") from None


def _starts_a_document(line: str) -> bool:
    """A first line that opens an array, or a lone ``{``: a JSON document delivered as JSON Lines
    (``json.dumps(records, indent=2)``). Read line by line it would be one row error per line,
    enough to hold the facility's batch back, with ``received`` counting lines, not records."""
    head = line.strip().lstrip("\ufeff")
    return head.startswith("[") or head == "{"


def _object(line: str) -> dict[str, Any] | str:
    """The parsed object, or why the line is not a usable JSON object."""
    try:
        value = parse_json(line)
    except RepeatedKey as exc:
        return f"repeats the key {exc.label} (which value was meant is unknown)"
    except (ValueError, RecursionError):
        return "is not a valid JSON object"
    if not isinstance(value, dict) or RESERVED_KEYS.intersection(value):
        return "is not a valid JSON object"
    return value


def _field_list(names: Any) -> str | None:
    """``\x1fA\x1fB\x1f`` (the lineage columns' form) of the SQL extractor's list of names."""
    if not isinstance(names, list) or not names:
        return None
    return FIELD_SEPARATOR + "".join(f"{n}{FIELD_SEPARATOR}" for n in names if isinstance(n, str))


def _table(columns: list[str], rows: list[dict[str, str | None]]) -> pa.Table:
    return pa.table({c: pa.array([r.get(c) for r in rows], pa.string()) for c in columns})


def read_jsonl(path: Path, chunk_rows: int, encoding: str = "auto", source_refs: bool = False) -> Iterator[pa.Table]:
    """Stream a JSON-lines file as string-typed Arrow chunks with lineage columns.

    Args:
        path: the file (in the raw zone).
        chunk_rows: maximum rows per yielded table.
        encoding: declared encoding; ``auto`` means UTF-8 (with or without BOM).
        source_refs: take each row's reference from its ``__ref`` key (the SQL extractor's files).

    Yields:
        Tables with the file's keys (union, first-appearance order) then ``_source_ref`` and
        ``_reader_error``; nothing for a file without data lines.

    Raises:
        FileRejected: undecodable bytes or an unknown declared encoding (reason has no content).
    """
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    enc = _decoder_encoding(encoding)
    ref_key = REF_KEY if source_refs else None
    own_keys = {REF_KEY, UNDECODABLE_KEY} if source_refs else set()
    keys: dict[str, None] = {}
    any_line = False
    any_nested = False
    any_undecodable = False
    for _number, line in _lines(path, enc):  # pass 1: decodability and the column union
        if not any_line and _starts_a_document(line):
            raise FileRejected("the file is one JSON document (an array, or an object over several lines), not JSON "
                               "Lines (one record object per line)")
        any_line = True
        obj = _object(line)
        if not isinstance(obj, str) and not has_unpaired_surrogate(dict.fromkeys(obj)):  # such a key names no column
            keys.update((k, None) for k in obj if k not in own_keys)
            any_nested = any_nested or any(isinstance(v, dict | list) for k, v in obj.items() if k not in own_keys)
            any_undecodable = any_undecodable or bool(source_refs and obj.get(UNDECODABLE_KEY))
    if not any_line:
        return
    # ``_nested_fields`` only in a file where some record has an object or array as a value
    columns = [*keys, "_source_ref", "_reader_error", *([NESTED_FIELDS] if any_nested else []),
               *([UNDECODABLE_FIELDS] if any_undecodable else [])]
    buf: list[dict[str, str | None]] = []
    for number, line in _lines(path, enc):  # pass 2: rows
        obj = _object(line)
        rec: dict[str, str | None]
        if isinstance(obj, str):
            rec = {"_source_ref": f"line {number}", "_reader_error": f"line {number} {obj}"}
        else:
            rec, nested = json_record_text({k: v for k, v in obj.items() if k not in own_keys})
            ref = json_value_text(obj.get(ref_key)) if ref_key else None
            if has_unpaired_surrogate(rec) or (ref is not None and has_unpaired_surrogate({"": ref})):
                rec = {"_source_ref": f"line {number}", "_reader_error": f"line {number} {SURROGATE_PROBLEM}"}
            else:
                rec["_source_ref"] = ref if ref else f"line {number}"
                rec[NESTED_FIELDS] = nested
                if any_undecodable:
                    rec[UNDECODABLE_FIELDS] = _field_list(obj.get(UNDECODABLE_KEY))
        buf.append(rec)
        if len(buf) >= chunk_rows:
            yield _table(columns, buf)
            buf = []
    if buf:
        yield _table(columns, buf)
