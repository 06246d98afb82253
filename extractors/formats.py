"""Readers of the source formats: bytes in, string-typed Arrow chunks out.

Every reader yields ``pa.Table`` chunks whose columns are the source's own tag/column names
(every value a string, exactly as sent, leading zeros intact), plus lineage columns:

* ``_source_ref`` - where the record sits in its file (``row 17``,
  ``HOSO[3]/DU_LIEU_GIAY_CHUNG_SINH[2]``, ``GIAYCHUNGSINH[1]``);
* ``_reader_error`` - NULL, or a reason when the record's envelope could not be decoded (the
  record is then quarantined with rule ``ENVELOPE``; the rest of the file proceeds).

A file that cannot be read at all (truncated XML, forbidden DTD/entities, undecodable bytes)
raises :class:`FileRejected` with a reason that never contains file content.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import importlib
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

SNIFF_BYTES = 1 << 20
#: CSV block size: small enough to pipeline parsing, large enough to amortise per-block cost.
CSV_BLOCK_BYTES = 16 << 20


class FileRejected(Exception):
    """The whole file is unreadable. ``reason`` is safe to log: it carries no file content."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def detect_encoding(path: Path, declared: str = "auto") -> str:
    """Decide the text encoding of a file.

    A BOM wins; then a declared encoding from the registry; then strict UTF-8 over the first
    megabyte; otherwise Windows-1258, the legacy Vietnamese code page Python can decode
    (TCVN3/VNI/VISCII have no codec and are not guessed - see README "known gaps").
    """
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if declared not in ("auto", ""):
        return declared
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < SNIFF_BYTES)
    except UnicodeDecodeError:
        return "cp1258"
    return "utf-8"


def xml_root_tag(path: Path) -> str | None:
    """The root element's tag, read safely from the start of the file (None if not XML)."""
    try:
        for _event, elem in SafeET.iterparse(str(path), events=("start",), forbid_dtd=True):
            return str(elem.tag)
    except (ParseError, DefusedXmlException, ValueError):
        return None
    return None


def _element_record(elem: Element) -> dict[str, str]:
    return {child.tag: (child.text or "") for child in elem if len(child) == 0}


def _table(records: list[dict[str, str | None]]) -> pa.Table:
    names: dict[str, None] = {}
    for rec in records:
        names.update(dict.fromkeys(rec))
    return pa.table({n: pa.array([r.get(n) for r in records], pa.string()) for n in names})


def _xml_errors(exc: ParseError) -> FileRejected:
    line, column = getattr(exc, "position", (0, 0))
    return FileRejected(f"XML not well-formed (truncated or corrupt) at line {line}, column {column}")


def read_giamdinhhs_xml9(path: Path, chunk_rows: int, encoding: str = "auto") -> Iterator[pa.Table]:
    """Read the XML9 birth table inside a ``GIAMDINHHS`` claim envelope (DOMAIN §2.1, §3.2).

    One ``HOSO`` per delivery episode; its ``FILEHOSO`` with ``LOAIHOSO=XML9`` carries base64
    of the inner table, one ``DU_LIEU_GIAY_CHUNG_SINH`` element per child. Other tables
    (XML1..XML15) are ignored. ``MACSKCB`` of the envelope is added as ``_envelope_facility``.
    """
    facility: str | None = None
    buf: list[dict[str, str | None]] = []
    hoso_index = 0
    try:
        for _event, elem in SafeET.iterparse(str(path), events=("end",), forbid_dtd=True):
            if elem.tag == "MACSKCB" and facility is None:
                facility = (elem.text or "").strip()
            elif elem.tag == "HOSO":
                hoso_index += 1
                for filehoso in elem.iter("FILEHOSO"):
                    if (filehoso.findtext("LOAIHOSO") or "").strip().upper() != "XML9":
                        continue
                    ref = f"HOSO[{hoso_index}]"
                    try:
                        inner = base64.b64decode((filehoso.findtext("NOIDUNGFILE") or "").strip(), validate=True)
                        doc = SafeET.fromstring(inner, forbid_dtd=True)
                    except (binascii.Error, ValueError):
                        buf.append({"_source_ref": ref, "_reader_error": "NOIDUNGFILE is not valid base64"})
                        continue
                    except (ParseError, DefusedXmlException):
                        buf.append({"_source_ref": ref, "_reader_error": "XML9 content is not well-formed XML"})
                        continue
                    for j, child in enumerate(doc.iter("DU_LIEU_GIAY_CHUNG_SINH"), start=1):
                        rec: dict[str, str | None] = dict(_element_record(child))
                        rec["_source_ref"] = f"{ref}/DU_LIEU_GIAY_CHUNG_SINH[{j}]"
                        rec["_envelope_facility"] = facility
                        buf.append(rec)
                elem.clear()
                if len(buf) >= chunk_rows:
                    yield _table(buf)
                    buf = []
    except DefusedXmlException:
        raise FileRejected("XML declares a DTD or entities (forbidden)") from None
    except ParseError as exc:
        raise _xml_errors(exc) from None
    if buf:
        yield _table(buf)


def read_flat_document(path: Path, chunk_rows: int, encoding: str = "auto", element: str = "GIAYCHUNGSINH") -> Iterator[pa.Table]:
    """Read a flat 2025 e-document (``HSDLGCS``/``HSDLGBT``): one data element under the root."""
    buf: list[dict[str, str | None]] = []
    count = 0
    try:
        for _event, elem in SafeET.iterparse(str(path), events=("end",), forbid_dtd=True):
            if elem.tag == element:
                count += 1
                rec: dict[str, str | None] = dict(_element_record(elem))
                rec["_source_ref"] = f"{element}[{count}]"
                buf.append(rec)
                elem.clear()
    except DefusedXmlException:
        raise FileRejected("XML declares a DTD or entities (forbidden)") from None
    except ParseError as exc:
        raise _xml_errors(exc) from None
    if count == 0:
        raise FileRejected(f"no {element} element in document")
    for start in range(0, len(buf), chunk_rows):
        yield _table(buf[start : start + chunk_rows])


_CSV_SHAPE = re.compile(r"Expected (\d+) columns, got (\d+)")


def read_csv(path: Path, chunk_rows: int, encoding: str = "auto") -> Iterator[pa.Table]:
    """Stream a CSV export: every column as a string, bounded memory, ``row N`` references."""
    enc = detect_encoding(path, encoding)
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    # Decode only the header line: the sniff block may end inside a multi-byte character.
    newline = head.find(b"\n")
    header_bytes = head if newline < 0 else head[:newline]
    try:
        first_line = header_bytes.decode(enc, errors="strict").rstrip("\r") if head else ""
    except UnicodeDecodeError:
        raise FileRejected(f"CSV header is not valid {enc}") from None
    if not first_line.strip():
        raise FileRejected("CSV file is empty")
    names = [n.strip() for n in pacsv.read_csv(pa.py_buffer((first_line + "\n").encode("utf-8"))).schema.names]
    # pyarrow decodes UTF-8 natively (and skips a BOM) only when told "utf8"; any other spelling
    # routes every byte through a Python codec, ten times slower.
    arrow_enc = "utf8" if enc in ("utf-8", "utf-8-sig") else enc
    read_opts = pacsv.ReadOptions(encoding=arrow_enc, block_size=CSV_BLOCK_BYTES, column_names=names, skip_rows=1)
    conv = pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=False)
    row = 0
    try:
        reader = pacsv.open_csv(str(path), read_options=read_opts, convert_options=conv)
        for batch in reader:
            if batch.num_rows == 0:
                continue
            t = pa.Table.from_batches([batch])
            numbers = pc.cast(pa.array(np.arange(row + 1, row + t.num_rows + 1)), pa.string())
            refs = pc.binary_join_element_wise("row ", numbers, "")
            row += t.num_rows
            yield t.append_column("_source_ref", refs)
    except UnicodeDecodeError:
        raise FileRejected(f"CSV body is not valid {enc}") from None
    except pa.ArrowInvalid as exc:
        shape = _CSV_SHAPE.search(str(exc))
        detail = f": expected {shape.group(1)} columns, got {shape.group(2)}" if shape else ""
        raise FileRejected(f"CSV parse error after data row {row}{detail}") from None


class JsonNumber(str):
    """A JSON number kept as the text it was written with (``3.10`` stays ``3.10``)."""

    __slots__ = ()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str) -> Any:
    """Parse JSON keeping numbers as written (:class:`JsonNumber`); ``NaN``/``Infinity`` rejected.

    Every JSON reader (documents, API pages, JSON lines) parses this way, so the same object
    arriving through two channels gives the same strings, hence the same record hash.
    """
    return json.loads(text, parse_int=JsonNumber, parse_float=JsonNumber, parse_constant=_reject_constant)


def _json_dump(value: Any) -> str:
    """Compact JSON text of a nested value, keys and numbers as written."""
    if isinstance(value, JsonNumber):
        return str.__str__(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value is True or value is False or value is None:
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ",".join(_json_dump(v) for v in value) + "]"
    return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + _json_dump(v) for k, v in value.items()) + "}"


def json_value_text(value: Any) -> str | None:
    """One parsed JSON value as the reader's string.

    Strings as they are; ``null`` -> NULL; numbers exactly as written (``7``, ``3.10``, ``1e5``:
    nothing rounded, ints never gain a ``.0``); ``true``/``false`` -> ``"1"``/``"0"`` (the flag
    spelling of the XML and CSV sources); nested arrays/objects -> compact JSON text.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, str):  # includes JsonNumber
        return str.__str__(value)
    return _json_dump(value)


def read_json_document(path: Path, chunk_rows: int, encoding: str = "auto", records_key: str | None = None,
                       ref_prefix: str = "", what: str = "JSON document") -> Iterator[pa.Table]:
    """Read a JSON document holding a list of flat record objects.

    Args:
        path: the file.
        chunk_rows: rows per yielded table.
        encoding: declared encoding (``auto``: BOM, then UTF-8, else cp1258).
        records_key: the key of the record list in the top-level object (``nhanVien``, ``data``);
            None when the document itself is the list.
        ref_prefix: prepended to each record's reference (``page-00001.json#``).
        what: how reasons name the file (``API page``).

    Yields:
        String tables with ``_source_ref`` = ``<prefix><records_key>[N]`` (1-based). A list entry
        that is not an object becomes a row with ``_reader_error`` (quarantined as ENVELOPE).

    Raises:
        FileRejected: not decodable, not valid JSON (e.g. truncated), or no record list; the
            reason carries no file content.

    The document is parsed whole: register exports and API pages are megabytes, not gigabytes.
    A source that sends gigabytes should send JSON lines (reader ``jsonl``).
    """
    enc = detect_encoding(path, encoding)
    try:
        doc = parse_json(path.read_bytes().decode(enc))
    except UnicodeDecodeError:
        raise FileRejected(f"{what} is not valid {enc}") from None
    except json.JSONDecodeError as exc:
        raise FileRejected(f"{what} is not valid JSON (truncated or corrupt) at line {exc.lineno}, "
                           f"column {exc.colno}") from None
    except (ValueError, RecursionError):
        raise FileRejected(f"{what} is not valid JSON (non-standard constant or nesting too deep)") from None
    items = doc.get(records_key) if records_key and isinstance(doc, dict) else doc
    label = records_key or "record"
    if not isinstance(items, list):
        raise FileRejected(f"{what} has no '{label}' list")
    buf: list[dict[str, str | None]] = []
    for i, item in enumerate(items, start=1):
        ref = f"{ref_prefix}{label}[{i}]"
        if isinstance(item, dict):
            try:
                rec: dict[str, str | None] = {str(k): json_value_text(v) for k, v in item.items()}
                rec["_source_ref"] = ref
            except RecursionError:
                rec = {"_source_ref": ref, "_reader_error": f"{label}[{i}] is nested too deeply"}
        else:
            rec = {"_source_ref": ref, "_reader_error": f"{label}[{i}] is not a JSON object"}
        buf.append(rec)
        if len(buf) >= chunk_rows:
            yield _table(buf)
            buf = []
    if buf:
        yield _table(buf)


def read_json_records(path: Path, chunk_rows: int, encoding: str = "auto", records_key: str | None = None) -> Iterator[pa.Table]:
    """A facility's JSON export (reader ``json_records``): see :func:`read_json_document`."""
    return read_json_document(path, chunk_rows, encoding, records_key, what="JSON export")


#: Readers by name (a contract's ``source_formats.<fmt>.reader``).
READERS = {
    "giamdinhhs_xml9": read_giamdinhhs_xml9,
    "flat_document": read_flat_document,
    "hsdlgcs": read_flat_document,
    "csv": read_csv,
    "json_records": read_json_records,
}

#: Readers that live with their extractor, imported on first use ("module:function").
LAZY_READERS = {
    "jsonl": "extractors.sql.jsonl:read_jsonl",
    "json_pages": "extractors.rest_api:read_json_pages",
}


def reader(name: str) -> Callable[..., Iterator[pa.Table]]:
    """The reader called ``name``.

    Raises:
        KeyError: naming the reader, when no such reader exists.
    """
    if name in READERS:
        return READERS[name]
    if name in LAZY_READERS:
        module, func = LAZY_READERS[name].split(":")
        READERS[name] = getattr(importlib.import_module(module), func)
        return READERS[name]
    raise KeyError(f"no reader called '{name}'")
