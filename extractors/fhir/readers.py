"""Readers of FHIR sources: NDJSON (Bulk Data export files) and searchset Bundle pages.

Both follow the reader contract of :mod:`extractors.formats`: they yield ``pa.Table`` chunks of at
most ``chunk_rows`` rows, one row per resource of the view's type, every column a string (the
view's column names), plus ``_source_ref`` and ``_reader_error``:

* ``read_fhir_ndjson`` (reader ``fhir_ndjson``) streams a Bulk Data NDJSON file line by line
  (memory bounded by ``chunk_rows``, not by the file): ``_source_ref`` = ``line N``. A line that is
  not a JSON object, or a resource of a type the view neither reads nor resolves, is a row with a
  ``_reader_error`` (quarantined as ``ENVELOPE``); resources of a referenced type (``Patient`` in
  ``Patient.ndjson``) are reference data, not records: they yield no row.
* ``read_fhir_bundles`` (reader ``fhir_bundle``) reads one landed search page (a ``searchset``
  Bundle, pages are bounded by ``_count``): ``_source_ref`` = ``Immunization/<id>``. Entries with
  ``search.mode = include`` and ``OperationOutcome`` entries are not records. A page that is not a
  Bundle (an ``OperationOutcome`` answered with HTTP 200, say) rejects the file with a reason that
  names the issue codes only.

References are resolved within the export (:mod:`extractors.fhir.export`): the other files of the
same raw folder. Undecodable bytes reject the file (:class:`~extractors.formats.FileRejected`),
naming the line, never content.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from extractors.fhir.export import ExportIndex, export_index, first_text, page_repeats
from extractors.fhir.fhirpath import evaluate
from extractors.fhir.outcome import outcome_summary
from extractors.fhir.views import View, load_view
from extractors.formats import (
    SURROGATE_PROBLEM,
    FileRejected,
    RepeatedKey,
    first_invalid_byte,
    has_unpaired_surrogate,
    parse_json,
    parse_json_noting_repeats,
)

_TYPE_NAME = re.compile(r"[A-Z][A-Za-z]{1,63}")
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def flatten(view: View, resource: dict[str, Any], index: ExportIndex | None) -> dict[str, str | None]:
    """One resource as the view's columns (strings or None)."""
    row: dict[str, str | None] = {}
    lookups: dict[int, tuple[str | None, ...] | None] = {}
    resolved_positions = {p.text: i for i, p in enumerate(view.resolved_paths)}
    for col in view.columns:
        value: str | None = None
        for alt in col.alternatives:
            if col.resolved:
                refs = [r for r in evaluate(alt.path, resource) if isinstance(r, dict) and r.get("reference")]
                if refs:
                    value = "1" if index is not None and index.lookup(refs[0]) is not None else "0"
                break
            if alt.before is None or alt.after is None:
                value = first_text(evaluate(alt.path, resource))
            else:
                for ref in evaluate(alt.before, resource):
                    key = id(ref)
                    if key not in lookups:
                        lookups[key] = index.lookup(ref) if index is not None else None
                    found = lookups[key]
                    if found is not None:
                        value = found[resolved_positions[alt.after.text]]
                        break
            if value is not None:
                break
        row[col.name] = value
    return row


class _Chunk:
    def __init__(self, columns: list[str]) -> None:
        self.columns = [*columns, "_source_ref", "_reader_error"]
        self.rows: list[dict[str, str | None]] = []

    def add(self, row: dict[str, str | None], ref: str) -> None:
        if has_unpaired_surrogate(row):
            self.error(ref, f"{ref} {SURROGATE_PROBLEM}")
            return
        self.rows.append({**row, "_source_ref": ref, "_reader_error": None})

    def error(self, ref: str, reason: str) -> None:
        self.rows.append({"_source_ref": ref, "_reader_error": reason})

    def table(self) -> pa.Table:
        rows, self.rows = self.rows, []
        return pa.table({c: pa.array([r.get(c) for r in rows], pa.string()) for c in self.columns})


def _type_label(value: Any) -> str:
    return value if isinstance(value, str) and _TYPE_NAME.fullmatch(value) else "(not a type name)"


def _patterns(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(str(v) for v in value)


def read_fhir_ndjson(path: Path, chunk_rows: int, encoding: str = "auto", view: str = "",
                     resolve_files: str | list[str] = "Patient*.ndjson") -> Iterator[pa.Table]:
    """Stream one Bulk Data NDJSON file as the view's string columns (see the module docstring).

    Args:
        path: the file in the raw zone.
        chunk_rows: rows per yielded table.
        encoding: declared encoding; NDJSON is UTF-8 (``auto``), a BOM is tolerated.
        view: the view name (``config/fhir/<view>.yaml``).
        resolve_files: file-name pattern(s) of the export's files holding referenced resources.

    Raises:
        FileRejected: undecodable bytes (naming the line) or an unknown view.
    """
    v = load_view(view)
    index = export_index(path.parent, view, _patterns(resolve_files), "ndjson") if v.references else None
    chunk = _Chunk(v.column_names)
    enc = "utf-8-sig" if encoding in ("auto", "", "utf-8", "utf-8-sig") else encoding
    number = 0
    try:
        with path.open("r", encoding=enc, errors="strict", newline="\n") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                ref = f"line {number}"
                try:
                    obj = parse_json(line)
                except RepeatedKey as repeated:
                    chunk.error(ref, f"line {number} repeats the key {repeated.label} in one object "
                                     "(which value was meant is unknown)")
                except (ValueError, RecursionError):
                    chunk.error(ref, f"line {number} is not a valid JSON object (truncated or corrupt)")
                else:
                    rtype = obj.get("resourceType") if isinstance(obj, dict) else None
                    if not isinstance(obj, dict):
                        chunk.error(ref, f"line {number} is not a JSON object")
                    elif rtype == v.resource:
                        chunk.add(flatten(v, obj, index), ref)
                    elif rtype in v.references:
                        continue  # reference data of the export (resolved, not a record)
                    else:
                        chunk.error(ref, f"line {number} holds a resource of type {_type_label(rtype)}, not {v.resource}")
                if len(chunk.rows) >= chunk_rows:
                    yield chunk.table()
    except UnicodeDecodeError:
        where = first_invalid_byte(path, enc)
        raise FileRejected(f"NDJSON file is not valid UTF-8 (invalid byte at offset {where}, after line {number})") \
            from None
    except LookupError:
        raise FileRejected(f"unknown declared encoding {encoding!r}") from None
    if chunk.rows:
        yield chunk.table()


def read_fhir_bundles(path: Path, chunk_rows: int, encoding: str = "auto", view: str = "",
                      resolve_files: str | list[str] = "*.json") -> Iterator[pa.Table]:
    """Read one landed FHIR search page (a ``searchset`` Bundle) as the view's string columns.

    Args:
        path: the page in the raw zone (``page-00001.json``).
        chunk_rows: rows per yielded table.
        encoding: declared encoding (FHIR JSON is UTF-8).
        view: the view name.
        resolve_files: pattern(s) of the pages whose entries may be referenced (the search pages
            with their ``include`` entries, and the pages of a second query).

    Raises:
        FileRejected: not JSON, not a Bundle (an OperationOutcome is summarised by issue codes).
    """
    v = load_view(view)
    try:
        doc, repeats = parse_json_noting_repeats(path.read_text(encoding="utf-8-sig", errors="strict"))
    except UnicodeDecodeError:
        raise FileRejected("FHIR page is not valid UTF-8") from None
    except (ValueError, RecursionError):
        raise FileRejected("FHIR page is not valid JSON (truncated or corrupt)") from None
    # An object that names a key twice spoils what it belongs to (which value was meant is
    # unknown): an entry's becomes that entry's row error; one in the page's own envelope (the
    # Bundle, its type, links, ...) rejects the page, as before.
    outside, in_entries = page_repeats(doc, repeats)
    if outside is not None:
        raise FileRejected(f"FHIR page repeats the key {outside} in one object (which value was meant is unknown)")
    if isinstance(doc, dict) and doc.get("resourceType") == "OperationOutcome":
        raise FileRejected(f"FHIR page is an OperationOutcome, not a Bundle: {outcome_summary(doc)}")
    if not isinstance(doc, dict) or doc.get("resourceType") != "Bundle":
        raise FileRejected("FHIR page is not a Bundle")
    entries = doc.get("entry") or []
    if not isinstance(entries, list):
        raise FileRejected("FHIR page: Bundle.entry is not a list")
    index = export_index(path.parent, view, _patterns(resolve_files), "bundle") if v.references else None
    chunk = _Chunk(v.column_names)
    for i, entry in enumerate(entries, start=1):
        repeated = in_entries[i - 1] if in_entries else None
        if repeated is not None:
            chunk.error(f"entry[{i}]", f"entry[{i}] repeats the key {repeated} in one object "
                                       "(which value was meant is unknown)")
            if len(chunk.rows) >= chunk_rows:
                yield chunk.table()
            continue
        resource = entry.get("resource") if isinstance(entry, dict) else None
        mode = (entry.get("search") or {}).get("mode") if isinstance(entry, dict) else None
        rtype = resource.get("resourceType") if isinstance(resource, dict) else None
        rid = resource.get("id") if isinstance(resource, dict) else None
        ref = f"{v.resource}/{rid}" if isinstance(rid, str) and _ID.fullmatch(rid) else f"entry[{i}]"
        if not isinstance(resource, dict):
            chunk.error(f"entry[{i}]", f"entry[{i}] has no resource")
        elif rtype == v.resource and mode != "include":
            chunk.add(flatten(v, resource, index), ref)
        elif rtype in v.references or rtype == "OperationOutcome" or mode in ("include", "outcome"):
            continue
        else:
            chunk.error(f"entry[{i}]", f"entry[{i}] holds a resource of type {_type_label(rtype)}, not {v.resource}")
        if len(chunk.rows) >= chunk_rows:
            yield chunk.table()
    if chunk.rows:
        yield chunk.table()
