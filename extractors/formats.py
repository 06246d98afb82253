"""Readers of the source formats: bytes in, string-typed Arrow chunks out.

Every reader yields ``pa.Table`` chunks whose columns are the source's own tag/column names
(every value a string, exactly as sent, leading zeros intact), plus lineage columns:

* ``_source_ref`` - where the record sits in its file (``row 17``,
  ``HOSO[3]/DU_LIEU_GIAY_CHUNG_SINH[2]``, ``GIAYCHUNGSINH[1]``);
* ``_reader_error`` - NULL, or a reason when the record could not be taken as sent (its envelope
  does not decode, a value is longer than ``S06_MAX_VALUE_CHARS``, a value holds a control
  character, the record has more than ``S06_MAX_COLUMNS`` fields, ...). The record is then
  quarantined with rule ``ENVELOPE``; the offending values are blanked (NULL) so they never reach
  a database; the rest of the file proceeds.

A file that cannot be read at all (empty, over ``S06_MAX_FILE_BYTES``, binary, truncated XML, a
DTD or entity declaration, undecodable bytes, a CSV header that does not parse) raises
:class:`FileRejected` with a reason that never contains file content. No other exception leaves
a reader (property-tested in ``tests/fuzz/``).

XML is parsed without DTDs: the prolog (everything before the root element) is scanned first and a
``<!DOCTYPE`` rejects the file - or, inside an XML9 envelope, that ``HOSO`` - before any parser
sees an entity, naming what the DTD holds (entity declarations, external references). The
standard library's C parser then parses a document that cannot declare entities; it has no
resolver (never opens an external entity, DTD or XInclude) and limits entity amplification
(expat >= 2.4), a second wall. lxml was measured 10-30 % slower on these documents (element
proxies), which the 1.2x budget against a plain ``iterparse`` does not leave room for. See
``docs/readers.md``.
"""

from __future__ import annotations

import binascii
import codecs
import csv
import functools
import importlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import IO, Any, NamedTuple
from xml.etree import ElementTree as StdET

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

SNIFF_BYTES = 1 << 20
#: CSV block size: small enough to pipeline parsing, large enough to amortise per-block cost.
#: A single CSV record longer than this rejects the file (it is far beyond any value limit).
CSV_BLOCK_BYTES = 16 << 20
#: A quoted CSV value may hold a line break (a two-line address). Arrow's block splitter must
#: then track quotes, or a value spanning a block boundary splits the record (the file was
#: rejected at the first 16 MiB boundary such a value crossed). Test: test_independent_inputs.
NEWLINES_IN_VALUES = True
#: Bytes of the file start inspected for binary content.
BINARY_SNIFF_BYTES = 64 << 10
#: Lineage columns a source field must never set itself (``_batch`` and ``_source_file`` are
#: added by the batch runner after the reader; the others by readers).
#: Lineage column of the JSON readers: the fields of a record that held an object or an array
#: where one value belongs, written ``\x1fname\x1fname\x1f`` (their values are NULL; the
#: normalizer reports each one the layout reads, under the column's parse rule).
NESTED_FIELDS = "_nested_fields"
#: Lineage column of SQL extracts: the columns of a row whose text in the source database was not
#: valid UTF-8, in the same form (their values are NULL; reported like a nested field).
UNDECODABLE_FIELDS = "_undecodable_fields"
#: Separator of the names in :data:`NESTED_FIELDS` and :data:`UNDECODABLE_FIELDS`.
FIELD_SEPARATOR = "\x1f"
LINEAGE_COLUMNS = frozenset({"_source_ref", "_reader_error", "_envelope_facility", "_source_file", "_batch",
                             NESTED_FIELDS, UNDECODABLE_FIELDS})
#: Longest row reference a reader may give (``HOSO[12]/DU_LIEU_GIAY_CHUNG_SINH[3]``, ``line 12``,
#: a SQL extract's ``key=value``); a longer or control-character one is replaced (see guard_chunk).
MAX_REF_CHARS = 200
#: The XInclude namespace: an element in it is refused (never processed).
XINCLUDE_NS = "{http://www.w3.org/2001/XInclude}"

class FileRejected(Exception):
    """The whole file is unreadable. ``reason`` is safe to log: it carries no file content."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ---------------------------------------------------------------------------- limits


@dataclass(frozen=True)
class ReaderLimits:
    """Size limits every reader enforces (settings ``S06_MAX_FILE_BYTES``, ``S06_MAX_VALUE_CHARS``,
    ``S06_MAX_COLUMNS``; see :mod:`config.settings`)."""

    max_file_bytes: int
    max_value_chars: int
    max_columns: int


def current_limits() -> ReaderLimits:
    """The limits from the environment (read on every file; parsed once per distinct setting)."""
    import os

    return _limits(os.environ.get("S06_MAX_FILE_BYTES"), os.environ.get("S06_MAX_VALUE_CHARS"),
                   os.environ.get("S06_MAX_COLUMNS"))


@functools.lru_cache(maxsize=8)
def _limits(_file: str | None, _value: str | None, _columns: str | None) -> ReaderLimits:
    from config.settings import load_settings

    s = load_settings()
    return ReaderLimits(s.max_file_bytes, s.max_value_chars, s.max_columns)


#: A column, field or key name that a reason may quote: ASCII letters, digits, ``_ . -``, at most
#: 64, starting with a letter or ``_``, with no run of five digits. A name outside it is named by
#: position: a value pasted where a name belongs (a citizen ID, a date of birth, a phone number)
#: is digit-led or holds a long run of digits, and a Vietnamese name carries letters outside ASCII.
_SAFE_NAME = re.compile(r"(?=[A-Za-z_])(?!.*\d{5})[A-Za-z0-9_.\-]{1,64}")


def column_label(name: str, index: int) -> str:
    """How a reason names a column: its name when it is a plain identifier, else its position
    (a name made of arbitrary text might itself be content)."""
    return f"'{name}'" if _SAFE_NAME.fullmatch(name) else f"#{index + 1}"


# ---------------------------------------------------------------------------- encodings


@dataclass(frozen=True)
class EncodingDecision:
    """Which encoding a file is read with, and why (``bom``, ``declared`` or ``detected``)."""

    encoding: str
    source: str

    @property
    def label(self) -> str:
        """``UTF-8``/``cp1258``... for reasons."""
        return "UTF-8" if self.encoding in ("utf-8", "utf-8-sig") else self.encoding

    def describe(self) -> str:
        """``UTF-8 (detected)``, ``cp1258 (declared in the registry)``, ``UTF-8 (byte-order mark)``."""
        why = {"bom": "byte-order mark", "declared": "declared in the registry", "detected": "detected",
               "utf8_over_declared": "detected: its first megabyte is valid UTF-8, not the registry's "
                                     "encoding"}[self.source]
        return f"{self.label} ({why})"


_LONE_SURROGATE = re.compile("[\udc80-\udcff]")


def _utf8_verdict(head: bytes, complete: bool) -> tuple[int, int]:
    """(invalid bytes, valid multi-byte characters) of ``head`` read as UTF-8."""
    if not complete:
        # The sniff block may end inside a character: drop an incomplete trailing sequence.
        cut = len(head)
        for back in range(1, min(4, len(head)) + 1):
            b = head[-back]
            if b < 0x80:
                break
            if b >= 0xC0:  # a lead byte: keep the sequence only if it is complete
                need = 2 if b < 0xE0 else 3 if b < 0xF0 else 4
                if back < need:
                    cut = len(head) - back
                break
        head = head[:cut]
    text = head.decode("utf-8", errors="surrogateescape")
    bad = len(_LONE_SURROGATE.findall(text))
    non_ascii = len(text) - len(text.encode("ascii", errors="ignore").decode("ascii"))
    return bad, non_ascii - bad


def decide_encoding(path: Path, declared: str = "auto") -> EncodingDecision:
    """Decide the text encoding of a file, and say how it was decided.

    A byte-order mark wins; then an encoding declared in the registry, unless the first megabyte
    is valid UTF-8 holding non-ASCII characters while a legacy code page is declared (then UTF-8,
    source ``utf8_over_declared``: the read stage notes it on the file); otherwise the first megabyte is
    inspected: valid UTF-8 is UTF-8; UTF-8 with a few invalid bytes among many valid multi-byte
    characters is still UTF-8 (a corrupt UTF-8 file, which the reader rejects naming the byte
    offset - not a cp1258 file); otherwise Windows-1258, the legacy Vietnamese code page Python can
    decode (TCVN3/VNI/VISCII have no codec and are not guessed - see README "known gaps").
    """
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if head.startswith(codecs.BOM_UTF8):
        return EncodingDecision("utf-8-sig", "bom")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return EncodingDecision("utf-16", "bom")
    complete = len(head) < SNIFF_BYTES
    if declared not in ("auto", ""):
        if not is_utf8_name(declared):
            # A legacy single-byte declaration on a file that is valid UTF-8 with non-ASCII
            # characters is out of date (the facility's system now exports UTF-8): read as
            # declared, every such character would load as mojibake without a word. Text in a
            # Vietnamese code page is practically never valid UTF-8 once it has accents.
            bad, multibyte = _utf8_verdict(head, complete=complete)
            if bad == 0 and multibyte > 0:
                return EncodingDecision("utf-8", "utf8_over_declared")
        return EncodingDecision(declared, "declared")
    bad, multibyte = _utf8_verdict(head, complete=complete)
    if bad == 0 or multibyte >= bad:
        return EncodingDecision("utf-8", "detected")
    return EncodingDecision("cp1258", "detected")


def is_utf8_name(name: str) -> bool:
    """Whether the codec ``name`` is UTF-8 (any spelling: ``utf8``, ``UTF-8``, ``utf-8-sig``)."""
    try:
        return codecs.lookup(name).name in ("utf-8", "utf-8-sig")
    except LookupError:
        return False


def detect_encoding(path: Path, declared: str = "auto") -> str:
    """The encoding :func:`decide_encoding` settles on (the manifest's ``encoding``)."""
    return decide_encoding(path, declared).encoding


def first_invalid_byte(path: Path, encoding: str, start: int = 0) -> int | None:
    """Byte offset of the first byte ``encoding`` cannot decode (None: the file decodes)."""
    try:
        decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    except LookupError:
        return None
    offset = start
    with path.open("rb") as fh:
        fh.seek(start)
        while True:
            block = fh.read(SNIFF_BYTES)
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                return max(offset - pending + exc.start, start)
            if not block:
                return None
            offset += len(block)


def _invalid_text_reason(what: str, path: Path, decision: EncodingDecision, start: int = 0) -> str:
    where = first_invalid_byte(path, decision.encoding, start)
    at = f" at byte {where}" if where is not None else ""
    return f"{what} is not valid {decision.label}: invalid {decision.label}{at} (encoding {decision.describe()})"


# ---------------------------------------------------------------------------- whole-file guard


def _binary_reason(head: bytes) -> str | None:
    """A reason when the start of a file is not text (NULs and other control bytes)."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or head[:2] in (b"<\x00", b"\x00<"):
        return None  # UTF-16 text carries NUL bytes legitimately
    sample = head[:BINARY_SNIFF_BYTES]
    if not sample:
        return None
    controls = len(sample) - len(sample.translate(None, _C0_BYTES))
    if controls * 10 > len(sample):
        return (f"binary content, not a text file ({controls} of the first {len(sample)} bytes are "
                "NUL or other control bytes)")
    return None


_C0_BYTES = bytes(b for b in range(32) if b not in (9, 10, 13))
_C0_RE = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def check_file(path: Path, limits: ReaderLimits | None = None) -> bytes | None:
    """Reject what no reader should parse: empty, too large, or binary files.

    Returns:
        The whole file when it is small enough to have been read entirely (else None).

    Raises:
        FileRejected: ``empty file`` (no bytes, or only whitespace), over ``S06_MAX_FILE_BYTES``,
            or binary content.
    """
    limits = limits or current_limits()
    size = path.stat().st_size
    if size == 0:
        raise FileRejected("empty file")
    if size > limits.max_file_bytes:
        raise FileRejected(f"file is {size} bytes, over the limit of {limits.max_file_bytes} (S06_MAX_FILE_BYTES)")
    with path.open("rb") as fh:
        head = fh.read(BINARY_SNIFF_BYTES)
    if size <= BINARY_SNIFF_BYTES:
        body = head
        if body.startswith(codecs.BOM_UTF8):
            body = body[3:]
        elif body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            body = body[2:].replace(b"\x00", b"")
        if not body.strip(b" \t\r\n"):
            raise FileRejected("empty file")
    reason = _binary_reason(head)
    if reason:
        raise FileRejected(reason)
    return head if size <= BINARY_SNIFF_BYTES else None


def _control_rows(col: pa.ChunkedArray) -> pa.Array | None:
    """Rows of a string column holding a C0 control character other than tab, CR, LF."""
    suspect = False
    for chunk in col.chunks:
        if len(chunk) == 0 or chunk.null_count == len(chunk):
            continue
        offsets_buf, data_buf = chunk.buffers()[1], chunk.buffers()[2]
        if data_buf is None:
            continue
        otype = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        offsets = np.frombuffer(offsets_buf, dtype=otype)[chunk.offset: chunk.offset + len(chunk) + 1]
        data = np.frombuffer(data_buf, dtype=np.uint8)[offsets[0]: offsets[-1]]
        if data.size and data.min() < 32:
            low = data[data < 32]
            if np.count_nonzero((low != 9) & (low != 10) & (low != 13)):
                suspect = True
                break
    if not suspect:
        return None
    return pc.fill_null(pc.match_substring_regex(col, r"[\x00-\x08\x0b\x0c\x0e-\x1f]"), False).combine_chunks()


def guard_chunk(table: pa.Table, limits: ReaderLimits) -> pa.Table:
    """Per-row checks every reader's output goes through.

    A value longer than ``max_value_chars`` or holding a C0 control character (other than tab, CR,
    LF: NUL is refused by PostgreSQL, so SQLite and PostgreSQL would disagree) gives its row a
    ``_reader_error`` naming the column (never the value), and the value is blanked.
    """
    if table.num_rows == 0:
        return table
    table = _guard_refs(table)
    errors: list[str | None] | None = None
    columns = {}
    for index, name in enumerate(table.column_names):
        if name in LINEAGE_COLUMNS:
            continue
        col = table.column(name)
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            continue
        bad_masks: list[tuple[pa.Array, str]] = []
        longest = pc.max(pc.binary_length(col)).as_py() or 0
        if longest > limits.max_value_chars:
            too_long = pc.fill_null(pc.greater(pc.utf8_length(col), limits.max_value_chars), False).combine_chunks()
            if pc.any(too_long).as_py():
                bad_masks.append((too_long, f"value of column {column_label(name, index)} is longer than "
                                            f"{limits.max_value_chars} characters (S06_MAX_VALUE_CHARS)"))
        ctrl = _control_rows(col)
        if ctrl is not None and pc.any(ctrl).as_py():
            bad_masks.append((ctrl, f"value of column {column_label(name, index)} contains a control character "
                                    "(U+0000-U+001F other than tab, CR, LF)"))
        if not bad_masks:
            continue
        if errors is None:
            errors = (table.column("_reader_error").to_pylist() if "_reader_error" in table.column_names
                      else [None] * table.num_rows)
        blank = bad_masks[0][0]
        for mask, reason in bad_masks:
            blank = pc.or_(blank, mask)
            for i in np.flatnonzero(mask.to_numpy(zero_copy_only=False)):
                errors[i] = errors[i] or reason
        columns[name] = pc.if_else(blank, pa.scalar(None, col.type), col)
    if errors is None:
        return table
    for name, arr in columns.items():
        table = table.set_column(table.column_names.index(name), name, arr)
    err = pa.array(errors, pa.string())
    if "_reader_error" in table.column_names:
        return table.set_column(table.column_names.index("_reader_error"), "_reader_error", err)
    return table.append_column("_reader_error", err)


#: What replaces a row reference that is too long or holds a control character.
UNUSABLE_REF = "(reference not usable)"


def _guard_refs(table: pa.Table) -> pa.Table:
    """Replace row references longer than :data:`MAX_REF_CHARS` or holding a C0 control character.

    Readers build references from positions, but a SQL extract's reference carries a key value
    from the facility's database: a NUL there would fail the PostgreSQL load, a long one would
    fill the quarantine. The row itself is kept.
    """
    if "_source_ref" not in table.column_names:
        return table
    refs = table.column("_source_ref")
    if not (pa.types.is_string(refs.type) or pa.types.is_large_string(refs.type)):
        return table
    bad = pc.or_(pc.greater(pc.utf8_length(refs), MAX_REF_CHARS),
                 pc.match_substring_regex(refs, r"[\x00-\x1f\x7f]"))
    bad = pc.fill_null(bad, False)
    if not pc.any(bad).as_py():
        return table
    fixed = pc.if_else(bad, pa.scalar(UNUSABLE_REF, refs.type), refs)
    return table.set_column(table.column_names.index("_source_ref"), "_source_ref", fixed)


def guarded(func: Callable[..., Iterator[pa.Table]] | None = None, *,
            escape_free: bool = False) -> Any:
    """Wrap a reader: :func:`check_file` first, then :func:`guard_chunk` on every chunk.

    ``escape_free`` formats (CSV; XML 1.0, where a character reference to a C0 control is not
    well-formed) cannot produce a control character or a value longer than the file from clean
    bytes: a small file whose bytes hold no C0 control (other than tab, CR, LF) and that is
    shorter than ``S06_MAX_VALUE_CHARS`` skips the per-column guard (a measured ~1 ms per small
    file). JSON is not escape-free (``"\u0000"``).

    Any exception other than :class:`FileRejected` escaping a reader is a bug; as a last wall it
    is turned into a rejection naming only the exception type (the fuzz tests keep the list of
    such bugs empty).
    """
    if func is None:
        return lambda f: guarded(f, escape_free=escape_free)
    if getattr(func, "__s06_guarded__", False):
        return func
    inner = func

    @functools.wraps(inner)
    def wrapper(path: Path, chunk_rows: int, *args: Any, **kwargs: Any) -> Iterator[pa.Table]:
        limits = current_limits()
        path = Path(path)
        whole = check_file(path, limits)
        clean = (escape_free and whole is not None and len(whole) <= limits.max_value_chars
                 and _C0_RE.search(whole) is None)
        try:
            for chunk in inner(path, chunk_rows, *args, **kwargs):
                yield chunk if clean else guard_chunk(chunk, limits)
        except FileRejected:
            raise
        except (MemoryError, RecursionError):
            raise FileRejected("file is too large or too deeply nested to read") from None
        except (UnicodeError, ValueError, LookupError, OSError, pa.ArrowException, StdET.ParseError,
                csv.Error) as exc:
            raise FileRejected(f"file could not be read ({type(exc).__name__})") from None

    wrapper.__s06_guarded__ = True  # type: ignore[attr-defined]
    return wrapper


# ---------------------------------------------------------------------------- XML


class XmlProlog(NamedTuple):
    """What precedes the root element of an XML document.

    Attributes:
        root: the root element's name (None when not found in the bytes scanned).
        doctype: a ``<!DOCTYPE`` declaration was found.
        entities: the DTD declares entities (``<!ENTITY``, general or parameter).
        external: the DTD or an entity refers to an external resource (``SYSTEM``/``PUBLIC``).
        complete: the scan reached the root (or proved the bytes are not XML).
    """

    root: str | None
    doctype: bool
    entities: bool
    external: bool
    complete: bool

    def dtd_reason(self) -> str:
        """The rejection reason for a document with a DOCTYPE (no content)."""
        parts = []
        if self.entities:
            parts.append("entity declarations")
        if self.external:
            parts.append("external references (SYSTEM/PUBLIC)")
        detail = f": a DTD with {' and '.join(parts)}" if parts else ": a DOCTYPE declaration"
        return f"XML declares a DTD or entities (forbidden){detail}"


_NAME = re.compile(r"[^\s/>!?<\"'=]+")


def _prolog_text(head: bytes) -> str:
    """The bytes as text for the prolog scan (the prolog's structural characters are ASCII)."""
    if head.startswith(codecs.BOM_UTF8):
        return head[3:].decode("latin-1")
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return head.decode("utf-32", errors="replace")
    if head.startswith(codecs.BOM_UTF16_LE) or head.startswith(codecs.BOM_UTF16_BE):
        return head.decode("utf-16", errors="replace")
    if head[:2] == b"<\x00":
        return head.decode("utf-16-le", errors="replace")
    if head[:2] == b"\x00<":
        return head.decode("utf-16-be", errors="replace")
    return head.decode("latin-1")


def _skip_doctype(text: str, i: int) -> tuple[int, bool, bool]:
    """Index after the DOCTYPE starting at ``text[i:]`` (``<!DOCTYPE`` already matched), or -1
    when it runs past the text; plus whether it declares entities / refers outside."""
    n = len(text)
    entities = external = False
    in_subset = False
    header_start = i
    while i < n:
        c = text[i]
        if c in "\"'":
            j = text.find(c, i + 1)
            if j < 0:
                return -1, entities, external
            i = j + 1
            continue
        if in_subset:
            if text.startswith("<!--", i):
                j = text.find("-->", i + 4)
                if j < 0:
                    return -1, entities, external
                i = j + 3
                continue
            if text.startswith("<?", i):
                j = text.find("?>", i + 2)
                if j < 0:
                    return -1, entities, external
                i = j + 2
                continue
            if text.startswith("<!ENTITY", i):
                entities = True
                j = i + 8
                k = text.find(">", j)
                decl = text[j: k if k >= 0 else n]
                if re.search(r"\b(SYSTEM|PUBLIC)\b", decl):
                    external = True
            if c == "]":
                in_subset = False
            i += 1
            continue
        if c == "[":
            if re.search(r"\b(SYSTEM|PUBLIC)\b", text[header_start:i]):
                external = True
            in_subset = True
        elif c == ">":
            if re.search(r"\b(SYSTEM|PUBLIC)\b", text[header_start:i]) and "[" not in text[header_start:i]:
                external = True
            return i + 1, entities, external
        i += 1
    return -1, entities, external


def scan_prolog(head: bytes) -> XmlProlog:
    """Scan the start of an XML document up to its root element (XML declaration, comments,
    processing instructions, whitespace and a DOCTYPE may come first; nothing else can)."""
    text = _prolog_text(head)
    i, n = 0, len(text)
    doctype = entities = external = False
    while i < n:
        c = text[i]
        if c in " \t\r\n\ufeff":
            i += 1
        elif text.startswith("<?", i):
            j = text.find("?>", i + 2)
            if j < 0:
                return XmlProlog(None, doctype, entities, external, False)
            i = j + 2
        elif text.startswith("<!--", i):
            j = text.find("-->", i + 4)
            if j < 0:
                return XmlProlog(None, doctype, entities, external, False)
            i = j + 3
        elif text[i: i + 9].upper() == "<!DOCTYPE":
            doctype = True
            i, ent, ext = _skip_doctype(text, i + 9)
            entities, external = entities or ent, external or ext
            if i < 0:
                return XmlProlog(None, doctype, entities, external, False)
        elif c == "<":
            m = _NAME.match(text, i + 1)
            if m is None:
                return XmlProlog(None, doctype, entities, external, True)
            if m.end() >= n:  # the name may go on past the scanned bytes
                return XmlProlog(None, doctype, entities, external, False)
            return XmlProlog(m.group(0), doctype, entities, external, True)
        else:
            return XmlProlog(None, doctype, entities, external, True)  # not XML: the parser says so
    return XmlProlog(None, doctype, entities, external, False)


def xml_root_tag(path: Path) -> str | None:
    """The root element's name, from a scan of the start of the file (None if not found).

    Found also for a document with a DTD (the DTD is skipped, never interpreted), so the file is
    given to its reader, which rejects it for the DTD.
    """
    with path.open("rb") as fh:
        return scan_prolog(fh.read(SNIFF_BYTES)).root


def check_xml_prolog(path: Path) -> None:
    """Reject a file whose prolog declares a DTD, or whose prolog does not end within 1 MiB."""
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    prolog = scan_prolog(head)
    if prolog.doctype:
        raise FileRejected(prolog.dtd_reason())
    if not prolog.complete and len(head) >= SNIFF_BYTES:
        raise FileRejected("XML prolog (before the root element) is longer than 1 MiB")


#: expat error codes worth their own reason (``xml.parsers.expat.errors``).
_EXPAT_INVALID_TOKEN = 4
_EXPAT_UNDEFINED_ENTITY = 11
_EXPAT_AMPLIFICATION = 43  # expat >= 2.4: entity expansion over its amplification limit


def _control_char_at(path: Path, line: int, column: int) -> bool:
    """Whether the byte at (line, column) is a C0 control character (failure path only)."""
    if path.stat().st_size > 64 << 20:
        return False
    with path.open("rb") as fh:
        for number, text in enumerate(fh, start=1):
            if number == line:
                return 0 <= column < len(text) and text[column] < 32 and text[column] not in (9, 10, 13)
    return False


def _xml_rejection(path: Path, exc: StdET.ParseError) -> FileRejected:
    line, column = getattr(exc, "position", (0, 0))
    code = getattr(exc, "code", None)
    where = f"at line {line}, column {column}"
    if code == _EXPAT_UNDEFINED_ENTITY:
        return FileRejected(f"XML refers to an undeclared entity {where} (entities are forbidden)")
    if code == _EXPAT_AMPLIFICATION:
        return FileRejected(f"XML expands entities beyond the parser's limit {where} (entities are forbidden)")
    if code == _EXPAT_INVALID_TOKEN and _control_char_at(path, line, column):
        return FileRejected(f"XML holds a control character XML does not allow {where}")
    return FileRejected(f"XML not well-formed (truncated or corrupt) {where}")


def _xml_events(path: Path) -> Iterator[tuple[str, Any]]:
    """``iterparse`` end events of ``path``, after the prolog check. The C parser of the standard
    library never opens an external entity or DTD (it has no resolver) and limits entity
    amplification (expat >= 2.4); with the DOCTYPE refused before it runs, no entity other than
    the five predefined ones can exist. The caller maps ``ParseError`` with :func:`_xml_rejection`
    and clears the elements it consumed."""
    check_xml_prolog(path)
    return StdET.iterparse(str(path), events=("end", "start-ns"))


def local_name(tag: str) -> str:
    """An element's name without its namespace (``{urn:x}HOSO`` -> ``HOSO``).

    The public formats name no namespace, but an exporting system may declare one (a default
    ``xmlns``, or a prefix): the readers match elements by local name, so such a file reads the same.
    An XInclude element keeps its namespace, so the readers' XInclude refusal still sees it.
    """
    if tag[:1] != "{" or tag.startswith(XINCLUDE_NS):
        return tag
    return tag.rpartition("}")[2]


#: Arrow schema metadata key under which the XML readers name the leaf fields of a file's first
#: record that carry attributes and no text (comma-separated local names; see
#: :func:`attribute_held_fields`).
ATTRIBUTE_FIELDS_KEY = b"s06.attribute_fields"


def attribute_held_fields(elem: Any) -> list[str]:
    """Local names of ``elem``'s leaf children that have attributes but no text.

    The formats carry every value as element text; an exporter that writes
    ``<CAN_NANG_CON value="3200"/>`` instead has its values read empty. The readers look at a
    file's first record only (the exporter's habit, not a per-record check in the inner loop)
    and hand the names on as chunk metadata, which becomes a note on the file. XML Schema
    instance attributes (``xsi:nil``) are not values.
    """
    return [local_name(c.tag) for c in elem if len(c) == 0 and not (c.text or "").strip()
            and any(not a.startswith(_XSI) for a in c.attrib)]


#: XML Schema instance attributes (``xsi:nil="true"`` marks an empty value on purpose) hold no value.
_XSI = "{http://www.w3.org/2001/XMLSchema-instance}"


def _with_attribute_note(table: pa.Table, held: list[str] | None) -> pa.Table:
    """``table`` carrying ``held`` (see :func:`attribute_held_fields`) as schema metadata."""
    if not held:
        return table
    return table.replace_schema_metadata({**(table.schema.metadata or {}),
                                          ATTRIBUTE_FIELDS_KEY: ",".join(held).encode("utf-8")})


def checked_fields(elem: Any, rec: dict[str, str], namespaced: bool) -> tuple[dict[str, str], str | None]:
    """A record's leaf fields ``rec`` (built by the reader from ``elem``) checked: the fields, and
    a problem or None.

    The readers build ``{tag: text}`` of the leaf children inline and call this only when the
    count differs from the children's (a repeated leaf, or a nested element) or the document
    declared a namespace. A leaf element that appears twice in one record is a problem: keeping
    either value would silently choose between two, say, identity numbers. So is an element that
    holds other elements: the formats' records are flat (every field plain text), and reading
    around it would load the record with that field empty (an identity number sent as
    ``<SO_CCCD_NND><SO>…</SO></SO_CCCD_NND>`` lost without a word). ``namespaced``: names are made
    local.
    """
    if len(rec) != len(elem):  # a repeated leaf, or a nested element: look closer (rare)
        seen: set[str] = set()
        for c in elem:
            if len(c):
                return rec, (f"element {_element_label(c.tag)} holds other elements instead of a value (a field "
                             "must be plain text)")
            if c.tag in seen:
                return rec, f"element {_element_label(c.tag)} appears more than once in the record"
            seen.add(c.tag)
    if namespaced:
        local = {local_name(k): v for k, v in rec.items()}
        if len(local) != len(rec):
            return rec, "two elements of the record have the same name in different namespaces"
        rec = local
    return rec, None


def _element_label(tag: str) -> str:
    name = local_name(tag)
    return f"'{name}'" if _SAFE_NAME.fullmatch(name) else "(a field)"


class _Columns:
    """The distinct field names of one file, bounded by ``max_columns``."""

    def __init__(self, limits: ReaderLimits) -> None:
        self.names: set[str] = set()
        self.limit = limits.max_columns

    def add(self, keys: tuple[str, ...]) -> None:
        if not self.names.issuperset(keys):
            self.names.update(keys)
            if len(self.names) > self.limit:
                raise FileRejected(f"records use more than {self.limit} distinct field names (S06_MAX_COLUMNS)")


#: Records gathered before they are converted to Arrow (see :meth:`_Rows._convert`).
ROWS_PER_PART = 8192


class _Rows:
    """One chunk's records, kept as runs sharing one field layout and turned into columns at the end.

    Records with the run's exact field list cost one ``tuple`` of the names and one
    ``list.extend`` of the values; a record with fewer fields is laid out in the run's layout (its
    missing fields NULL); a record bringing a new field name starts a run whose layout is the union.
    So the number of runs per chunk is bounded by the number of distinct field names, however the
    records vary. Reader-error rows stay in the run (all fields NULL, the reason beside).

    Checks that depend only on a record's field list (too many fields, a reserved or XInclude name,
    the file's distinct-field bound) run once per distinct field list, not per record.
    """

    def __init__(self, limits: ReaderLimits, columns: _Columns, extra_name: str | None = None) -> None:
        self.limits = limits
        self.columns = columns
        self.extra_name = extra_name  # a per-record lineage value (``_envelope_facility``)
        self.values: list[Any] = []  # every row's values in its run's layout, flat, in order
        # runs: [layout (field names), its set, extra value, offset into values, refs, reasons]
        self.runs: list[list[Any]] = []
        self.parts: list[pa.Table] = []  # converted records of the chunk (see :meth:`_convert`)
        self.n = 0
        self._verdicts: dict[tuple[str, ...], str | None] = {}

    def _verdict(self, keys: tuple[str, ...]) -> str | None:
        if keys in self._verdicts:
            return self._verdicts[keys]
        verdict = None
        if len(keys) > self.limits.max_columns:
            verdict = f"record has {len(keys)} fields, over the limit of {self.limits.max_columns} (S06_MAX_COLUMNS)"
        elif not LINEAGE_COLUMNS.isdisjoint(keys):
            verdict = "record uses a reserved field name (_source_ref, _reader_error, ...)"
        elif any(k.startswith(XINCLUDE_NS) for k in keys):
            verdict = "record contains an XInclude element (forbidden; never processed)"
        else:
            self.columns.add(keys)
        if len(self._verdicts) < 4096:
            self._verdicts[keys] = verdict
        return verdict

    def _new_run(self, layout: tuple[str, ...], extra: Any) -> list[Any]:
        run = [layout, frozenset(layout), extra, len(self.values), [], []]
        self.runs.append(run)
        return run

    def add(self, rec: dict[str, Any], ref: str, extra: Any = None) -> None:
        """Add one record (``{field: text}``) with its reference; refused ones become errors."""
        keys = tuple(rec)
        run = self.runs[-1] if self.runs else None
        if run is not None and run[0] == keys and run[2] == extra:
            self.values.extend(rec.values())  # the common case: same fields as the record before
        else:
            problem = self._verdict(keys)
            if problem:
                self.error(ref, problem, extra)
                return
            if run is None or run[2] != extra:
                run = self._new_run(keys, extra)
            elif not run[1].issuperset(keys):
                run = self._new_run(run[0] + tuple(k for k in keys if k not in run[1]), extra)
            if run[0] == keys:
                self.values.extend(rec.values())
            else:
                self.values.extend([rec.get(k) for k in run[0]])
        run[4].append(ref)
        run[5].append(None)
        self.n += 1
        if not self.n % ROWS_PER_PART:
            self._convert()

    def error(self, ref: str, reason: str, extra: Any = None) -> None:
        """A row that carries only its reference and a reader error."""
        run = self.runs[-1] if self.runs else None
        if run is None or run[2] != extra:
            run = self._new_run((), extra)
        self.values.extend(repeat(None, len(run[0])))
        run[4].append(ref)
        run[5].append(reason)
        self.n += 1
        if not self.n % ROWS_PER_PART:
            self._convert()

    def table(self) -> pa.Table:
        """The chunk as a string table: the fields (union, in order of first appearance), then
        ``_source_ref``, the extra lineage column, ``_reader_error`` (when any)."""
        if self.runs:
            self._convert()
        parts, self.parts, self.n = self.parts, [], 0
        if len(parts) == 1:
            return parts[0]
        out = pa.concat_tables(parts, promote_options="default")  # a field a part lacks is NULL there
        lineage = [c for c in ("_source_ref", self.extra_name, "_reader_error") if c and c in out.column_names]
        return out.select([c for c in out.column_names if c not in lineage] + lineage)

    def _convert(self) -> None:
        """Turn the records gathered since the last conversion into one Arrow part.

        Done every :data:`ROWS_PER_PART` records, while their strings are still in the CPU's
        caches: converting a whole chunk at the end read hundreds of MB of Python strings back
        from memory (on a 100,000-record flat document, 1.4 s of the reader's time).

        All values of a part are converted in one call and each column is taken from it by index
        (one conversion of a long list is several times cheaper than one per column)."""
        runs = self.runs
        names = dict.fromkeys(k for run in runs for k in run[0])
        values = pa.array(self.values, pa.string())
        refs: list[str] = []
        extra: list[Any] = []
        errors: list[str | None] = []
        for _layout, _set, value, _offset, run_refs, reasons in runs:
            refs.extend(run_refs)
            extra.extend(repeat(value, len(run_refs)))
            errors.extend(reasons)
        arrays: dict[str, pa.Array] = {}
        for name in names:
            parts = []
            for layout, layout_set, _value, offset, run_refs, _reasons in runs:
                count = len(run_refs)
                if name in layout_set:
                    parts.append(np.arange(count, dtype=np.int64) * len(layout) + (offset + layout.index(name)))
                else:
                    parts.append(np.full(count, -1, dtype=np.int64))
            positions = parts[0] if len(parts) == 1 else np.concatenate(parts)
            mask = positions < 0
            arrays[name] = values.take(pa.array(positions, mask=mask if mask.any() else None))
        arrays["_source_ref"] = pa.array(refs, pa.string())
        if self.extra_name:
            arrays[self.extra_name] = pa.array(extra, pa.string())
        if any(e is not None for e in errors):
            arrays["_reader_error"] = pa.array(errors, pa.string())
        self.values, self.runs = [], []
        self.parts.append(pa.table(arrays))


#: The usual start of a document: optional BOM, optional XML declaration, then the root element.
#: When this matches, there is no room for a DOCTYPE (nor a comment or PI) before the root.
_PLAIN_PROLOG = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*(?:<\?xml[^>]*\?>[ \t\r\n]*)?<[A-Za-z_][A-Za-z0-9_.\-]*[ \t\r\n/>]")


#: XML's white space (space, tab, CR, LF), removed from base64 content before decoding: an XML
#: base64 value may be wrapped in lines (MIME-style exporters wrap at 76 characters) and indented.
#: Anything else outside the base64 alphabet, and bad padding, still make the content invalid.
_XML_SPACE = str.maketrans("", "", " \t\r\n")


def _base64_content(text: str) -> bytes:
    """The bytes of an XML base64 value: decoded strictly as sent, else once more without XML
    white space (the deletion reads every character, so only a value with white space pays it).

    Raises:
        binascii.Error: not base64 even without white space.
    """
    try:
        return binascii.a2b_base64(text.strip(), strict_mode=True)
    except binascii.Error:
        return binascii.a2b_base64(text.translate(_XML_SPACE), strict_mode=True)


def parse_inner_document(data: bytes) -> Any:
    """Parse one base64-decoded XML9 document (bytes in memory) safely.

    The whole prolog is in ``data``, so the DOCTYPE scan is exact; the C parser of the standard
    library then parses a document that cannot declare entities (it never fetches anything).

    Raises:
        FileRejected: with the DTD reason (the caller makes it a row error).
        xml.etree.ElementTree.ParseError: not well-formed.
    """
    if _PLAIN_PROLOG.match(data) is None:
        prolog = scan_prolog(data)
        if prolog.doctype:
            raise FileRejected(prolog.dtd_reason())
    return StdET.fromstring(data)


@guarded(escape_free=True)
def read_giamdinhhs_xml9(path: Path, chunk_rows: int, encoding: str = "auto") -> Iterator[pa.Table]:
    """Read the XML9 birth table inside a ``GIAMDINHHS`` claim envelope (DOMAIN §2.1, §3.2).

    One ``HOSO`` per delivery episode; its ``FILEHOSO`` with ``LOAIHOSO=XML9`` carries base64
    of the inner table, one ``DU_LIEU_GIAY_CHUNG_SINH`` element per child. Other tables
    (XML1..XML15) are ignored. ``MACSKCB`` of the envelope is added as ``_envelope_facility``.
    An inner document that is not base64, not well-formed or declares a DTD is a row error
    (``_reader_error``) for that ``HOSO``; the outer file with a DTD is rejected whole.
    """
    limits = current_limits()
    rows = _Rows(limits, _Columns(limits), extra_name="_envelope_facility")
    facility: str | None = None
    hoso_index = 0
    xml9_tables = 0
    namespaced = False
    held: list[str] | None = None
    try:
        for event, elem in _xml_events(path):
            if event == "start-ns":
                namespaced = True
                continue
            tag = local_name(elem.tag) if namespaced else elem.tag
            if tag == "HOSO":
                hoso_index += 1
                ref = f"HOSO[{hoso_index}]"
                for filehoso in _descendants_named(elem, "FILEHOSO", namespaced):
                    if (_text_of(filehoso, "LOAIHOSO", namespaced) or "").strip().upper() != "XML9":
                        continue
                    xml9_tables += 1
                    try:
                        inner = _base64_content(_text_of(filehoso, "NOIDUNGFILE", namespaced) or "")
                        doc = parse_inner_document(inner)
                    except (binascii.Error, ValueError):
                        rows.error(ref, "NOIDUNGFILE is not valid base64")
                        continue
                    except FileRejected as exc:
                        rows.error(ref, f"XML9 content: {exc.reason}")
                        continue
                    except StdET.ParseError:
                        rows.error(ref, "XML9 content is not well-formed XML")
                        continue
                    except LookupError:
                        rows.error(ref, "XML9 content declares an encoding that cannot be decoded")
                        continue
                    inner_ns = b"xmlns" in inner
                    for j, child in enumerate(_descendants_named(doc, "DU_LIEU_GIAY_CHUNG_SINH", inner_ns),
                                              start=1):
                        if held is None:
                            held = attribute_held_fields(child)
                        rec = {c.tag: (c.text or "") for c in child if len(c) == 0}
                        if inner_ns or len(rec) != len(child):
                            rec, problem = checked_fields(child, rec, inner_ns)
                            if problem:
                                rows.error(f"{ref}/DU_LIEU_GIAY_CHUNG_SINH[{j}]", problem, facility)
                                continue
                        rows.add(rec, f"{ref}/DU_LIEU_GIAY_CHUNG_SINH[{j}]", facility)
                elem.clear()
                if rows.n >= chunk_rows:
                    yield _with_attribute_note(rows.table(), held)
            elif tag == "MACSKCB" and facility is None:
                facility = (elem.text or "").strip()
    except StdET.ParseError as exc:
        raise _xml_rejection(path, exc) from None
    except LookupError:
        raise FileRejected("XML declares an encoding that cannot be decoded") from None
    if xml9_tables == 0:
        # Zero records would otherwise be "loaded" without a word (a wrong root, a renamed table).
        raise FileRejected("no HOSO element in the document" if hoso_index == 0
                           else f"none of the {hoso_index} HOSO elements carries an XML9 table (LOAIHOSO=XML9)")
    if rows.n:
        yield _with_attribute_note(rows.table(), held)


def _descendants_named(elem: Any, name: str, namespaced: bool) -> Iterator[Any]:
    """``elem.iter(name)``, by local name when ``namespaced``."""
    if not namespaced:
        return elem.iter(name)
    return (e for e in elem.iter() if local_name(e.tag) == name)


def _text_of(elem: Any, name: str, namespaced: bool) -> str | None:
    """Text of the first child named ``name`` (``findtext``), by local name when ``namespaced``."""
    if not namespaced:
        return elem.findtext(name)
    return next((c.text or "" for c in elem if local_name(c.tag) == name), None)


@guarded(escape_free=True)
def read_flat_document(path: Path, chunk_rows: int, encoding: str = "auto", element: str = "GIAYCHUNGSINH") -> Iterator[pa.Table]:
    """Read a flat 2025 e-document (``HSDLGCS``/``HSDLGBT``): data elements under the root."""
    limits = current_limits()
    rows = _Rows(limits, _Columns(limits))
    count = 0
    namespaced = False
    held: list[str] | None = None
    try:
        for event, elem in _xml_events(path):
            if event == "start-ns":
                namespaced = True
                continue
            if elem.tag == element or (namespaced and local_name(elem.tag) == element):
                count += 1
                if count == 1:
                    held = attribute_held_fields(elem)
                rec = {c.tag: (c.text or "") for c in elem if len(c) == 0}
                problem = None
                if namespaced or len(rec) != len(elem):
                    rec, problem = checked_fields(elem, rec, namespaced)
                if problem:
                    rows.error(f"{element}[{count}]", problem)
                else:
                    rows.add(rec, f"{element}[{count}]")
                elem.clear()
                if rows.n >= chunk_rows:
                    yield _with_attribute_note(rows.table(), held)
    except StdET.ParseError as exc:
        raise _xml_rejection(path, exc) from None
    except LookupError:
        raise FileRejected("XML declares an encoding that cannot be decoded") from None
    if count == 0:
        raise FileRejected(f"no {element} element in document")
    if rows.n:
        yield _with_attribute_note(rows.table(), held)



# ---------------------------------------------------------------------------- CSV

_CSV_SHAPE = re.compile(r"Expected (\d+) columns, got (\d+)")
_CSV_HEADER_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")


#: Field separators a CSV header may use besides the comma: spreadsheets save "CSV" with the list
#: separator of the computer's locale, a semicolon where the decimal mark is a comma (Vietnamese
#: among them), and "Unicode text" exports are tab-separated.
CSV_OTHER_DELIMITERS = (";", "\t")


@dataclass(frozen=True)
class CsvDialect:
    """How one CSV file is laid out: its field separator, and the lines before its data (the
    header, after Excel's ``sep=;`` hint line when the file starts with one)."""

    delimiter: str = ","
    header_lines: int = 1

    @property
    def blank_line(self) -> str:
        """What a line of no record is made of: a line with the wrong number of fields that is only
        blanks and separators (``,,`` in a two-column file) is no record either (see ``_BLANK``)."""
        return _BLANK + self.delimiter


#: Excel's hint line naming the separator (``sep=;``), written before the header by tools that
#: export for Excel. Only a field separator is taken (comma, semicolon, tab, bar): ``sep=`` with
#: anything else is no hint, and that first line is then read as the header.
_SEP_HINT = re.compile(r"sep=([,;\t|])")


def _csv_header(path: Path, decision: EncodingDecision, limits: ReaderLimits) -> tuple[list[str], CsvDialect]:
    """The header's column names and the file's dialect, or :class:`FileRejected` saying why the
    header is unusable.

    The separator is the comma unless the header holds none and splits into several names on one
    of :data:`CSV_OTHER_DELIMITERS` (column names never hold a separator, so the header decides it
    for the whole file), or unless the file starts with Excel's hint line (``sep=;``): then that
    separator, and the header is the next line."""
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    whole = len(head) < SNIFF_BYTES
    try:
        text = codecs.getincrementaldecoder(decision.encoding)(errors="strict").decode(head, final=whole)
    except LookupError:
        raise FileRejected(f"unknown encoding {decision.encoding!r} ({decision.describe()})") from None
    except UnicodeDecodeError:
        raise FileRejected(_invalid_text_reason("CSV file", path, decision)) from None
    text = text.lstrip("\ufeff")
    # The header ends at the first line break: LF, CRLF or a lone CR (classic Mac exports; the
    # CSV parser accepts all three).
    breaks = [i for i in (text.find("\n"), text.find("\r")) if i >= 0]
    newline = min(breaks) if breaks else -1
    if newline < 0 and not whole:
        raise FileRejected("CSV header line is longer than 1 MiB")
    line = (text if newline < 0 else text[:newline]).rstrip("\r")
    hint = _SEP_HINT.fullmatch(line.strip())
    if hint and newline >= 0:  # the header is the next line
        rest = text[newline + 2:] if text.startswith("\r\n", newline) else text[newline + 1:]
        breaks = [i for i in (rest.find("\n"), rest.find("\r")) if i >= 0]
        if not breaks and not whole:
            raise FileRejected("CSV header line is longer than 1 MiB")
        line = (rest if not breaks else rest[:min(breaks)]).rstrip("\r")
    if not line.strip():
        raise FileRejected("empty file" if not text.strip() else "CSV header line is empty")
    if _CSV_HEADER_CONTROL.search(line):
        raise FileRejected("CSV header contains a control character (binary or corrupt file)")
    parsed: dict[str, list[str]] = {}
    for delimiter in ((hint.group(1),) if hint else (",", *CSV_OTHER_DELIMITERS)):
        try:
            parsed[delimiter] = [n.strip() for n in next(csv.reader([line], strict=True, delimiter=delimiter))]
        except (csv.Error, StopIteration):
            continue  # ("a";"b" does not parse on commas: a quote is followed by a semicolon)
    delimiter = next((d for d, split in parsed.items() if len(split) > 1), hint.group(1) if hint else ",")
    if delimiter not in parsed:
        raise FileRejected("CSV header does not parse (an unclosed or stray quote)")
    names = parsed[delimiter]
    if len(names) > limits.max_columns:
        raise FileRejected(f"CSV header has {len(names)} columns, over the limit of {limits.max_columns} (S06_MAX_COLUMNS)")
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise FileRejected(f"CSV header repeats a column name (columns {seen[name] + 1} and {i + 1})")
        if name in LINEAGE_COLUMNS:
            raise FileRejected(f"CSV header uses a reserved column name (column {i + 1})")
        seen[name] = i
    return names, CsvDialect(delimiter, 2 if hint else 1)


@guarded(escape_free=True)
def read_csv(path: Path, chunk_rows: int, encoding: str = "auto") -> Iterator[pa.Table]:
    """Stream a CSV export: every column as a string, bounded memory, ``row N`` references.

    The header must be one line of unique, non-reserved names within ``S06_MAX_COLUMNS``;
    undecodable bytes reject the file naming the byte offset and how the encoding was decided.
    """
    limits = current_limits()
    decision = decide_encoding(path, encoding)
    names, dialect = _csv_header(path, decision, limits)
    # pyarrow decodes UTF-8 natively (and skips a BOM) only when told "utf8"; any other spelling
    # routes every byte through a Python codec, ten times slower.
    enc = decision.encoding
    arrow_enc = "utf8" if enc in ("utf-8", "utf-8-sig") else enc
    read_opts = pacsv.ReadOptions(encoding=arrow_enc, block_size=CSV_BLOCK_BYTES, column_names=names,
                                  skip_rows=dialect.header_lines)
    conv = pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=False)
    # A file within one read block is parsed whole before its first row is yielded: a record with
    # the wrong number of fields can then be set aside and become a row error (located by a second
    # pass, below). A larger file streams; at its first such record the rows before it have gone
    # downstream, so the file is located in full by the second pass and read again from there
    # (:func:`_resume_after_misshapen`).
    tolerant = path.stat().st_size <= CSV_BLOCK_BYTES
    misshapen = [0]

    def on_invalid(invalid: Any) -> str:
        if not (invalid.text or "").strip(dialect.blank_line):
            return "skip"  # a line of only blanks and delimiters is no record (an editor's trailing line)
        if tolerant:
            misshapen[0] += 1
            return "skip"
        return "error"

    parse = pacsv.ParseOptions(delimiter=dialect.delimiter, invalid_row_handler=on_invalid,
                               newlines_in_values=NEWLINES_IN_VALUES)
    row = 0
    resume = False
    try:
        reader = pacsv.open_csv(str(path), read_options=read_opts, parse_options=parse, convert_options=conv)
        if tolerant:
            batches = [b for b in reader if b.num_rows]
            t = _without_blank_records(pa.Table.from_batches(batches, schema=reader.schema))
            if misshapen[0]:
                yield _with_misshapen_rows(t, path, enc, names, misshapen[0], dialect)
            elif t.num_rows:
                yield t.append_column("_source_ref", _row_refs(np.arange(1, t.num_rows + 1)))
            return
        for batch in reader:
            t = _without_blank_records(pa.Table.from_batches([batch]))
            if t.num_rows == 0:
                continue
            refs = _row_refs(np.arange(row + 1, row + t.num_rows + 1))
            row += t.num_rows
            yield t.append_column("_source_ref", refs)
    except UnicodeDecodeError:
        raise FileRejected(_invalid_text_reason("CSV file", path, decision)) from None
    except pa.ArrowInvalid as exc:
        message = str(exc)
        if "utf8" in message.lower():
            raise FileRejected(_invalid_text_reason("CSV file", path, decision)) from None
        if "straddl" in message:
            raise FileRejected(f"a CSV record is longer than {CSV_BLOCK_BYTES >> 20} MiB (after data row {row})") from None
        if not _CSV_SHAPE.search(message):
            raise FileRejected(f"CSV parse error after data row {row}") from None
        resume = True
    if resume:
        yield from _resume_after_misshapen(path, read_opts, conv, enc, names, row, dialect)


#: What a blank field is made of (white space, Unicode's included, spelt out so that Arrow's trim
#: and Python's ``str.strip`` agree exactly): a record whose every field is only these is not a
#: record, for both CSV parsers.
_BLANK = " \t\r\n\x0b\x0c\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"


def _without_blank_records(table: pa.Table) -> pa.Table:
    """``table`` without the records whose every field is empty or white space (``,,,``: a
    spreadsheet's empty row). The second pass (:func:`_misshapen_rows`) skips the same records, so
    both parsers number data rows alike. Column by column on the rows still blank so far: the
    first column is trimmed for every row, the next ones only for the (usually no) rows left."""
    if table.num_rows == 0 or table.num_columns == 0:
        return table
    candidates: np.ndarray | None = None  # None: every row
    for col in table.columns:
        part = col if candidates is None else col.take(pa.array(candidates))
        empty = pc.fill_null(pc.equal(pc.binary_length(pc.utf8_trim(part, _BLANK)), 0), True)
        hits = np.flatnonzero(empty.to_numpy(zero_copy_only=False))
        candidates = hits if candidates is None else candidates[hits]
        if candidates.size == 0:
            return table
    keep = np.ones(table.num_rows, dtype=bool)
    keep[candidates] = False
    return table.filter(pa.array(keep))


def _resume_after_misshapen(path: Path, read_opts: pacsv.ReadOptions, conv: pacsv.ConvertOptions, encoding: str,
                            names: list[str], done: int, dialect: CsvDialect) -> Iterator[pa.Table]:
    """The rest of a streamed CSV after its first record with the wrong number of fields.

    ``done`` data rows (all before that record) have already been yielded. The stdlib parser
    lists every misshapen record of the file (data row, physical line); Arrow reads the file
    again setting them aside, the first ``done`` rows are dropped, and every other row gets its
    real reference, with one row error per misshapen record in file order. Memory stays one
    chunk plus the list of misshapen rows. The two parsers must agree on which records they set
    aside; if they do not, references could be wrong, so the file is rejected (the read stage
    then drops the rows it already received from it).
    """
    scan = _misshapen_rows(path, encoding, len(names), dialect)
    if scan is None or not scan[0] or scan[0][0][0] <= done:
        raise _misshapen_rejection(path, encoding, names, dialect)
    bad, total = scan
    bad_rows = np.array([b[0] for b in bad], dtype=np.int64)
    good_rows = np.setdiff1d(np.arange(1, total + 1, dtype=np.int64), bad_rows)
    set_aside = [0]

    def on_invalid(invalid: Any) -> str:
        if (invalid.text or "").strip(dialect.blank_line):
            set_aside[0] += 1
        return "skip"

    parse = pacsv.ParseOptions(delimiter=dialect.delimiter, invalid_row_handler=on_invalid,
                               newlines_in_values=NEWLINES_IN_VALUES)
    seen = emitted = 0
    try:
        for batch in pacsv.open_csv(str(path), read_options=read_opts, parse_options=parse, convert_options=conv):
            whole = _without_blank_records(pa.Table.from_batches([batch]))
            start = max(0, done - seen)
            seen += whole.num_rows
            if whole.num_rows <= start:
                continue
            table = whole.slice(start)
            first = seen - table.num_rows
            if seen > len(good_rows):
                raise _misshapen_rejection(path, encoding, names, dialect)
            refs = good_rows[first:seen]
            upto = int(np.searchsorted(bad_rows, refs[-1]))
            yield _with_row_errors(table, names, refs, bad[emitted:upto])
            emitted = upto
    except (pa.ArrowInvalid, UnicodeDecodeError):
        raise _misshapen_rejection(path, encoding, names, dialect) from None
    if seen != len(good_rows) or set_aside[0] != len(bad):
        raise _misshapen_rejection(path, encoding, names, dialect)
    if emitted < len(bad):
        yield _with_row_errors(None, names, np.empty(0, dtype=np.int64), bad[emitted:])


def _misshapen_rejection(path: Path, encoding: str, names: list[str], dialect: CsvDialect) -> FileRejected:
    where = _first_misshapen_row(path, encoding, len(names), dialect)
    at = f"data row {where[0]} (line {where[1]})" if where else "a data row"
    return FileRejected(f"CSV parse error: {at} has a different number of fields than the header "
                        "(an unquoted delimiter or quote?)")


def _row_refs(numbers: np.ndarray) -> pa.Array:
    """``row N`` references (data rows, 1-based)."""
    return pc.binary_join_element_wise("row ", pc.cast(pa.array(numbers), pa.string()), "")


def _misshapen_rows(path: Path, encoding: str, fields: int, dialect: CsvDialect, first_only: bool = False
                    ) -> tuple[list[tuple[int, int, int]], int] | None:
    """``([(data row, physical line, field count), ...], data rows)`` of the records whose field
    count is not ``fields`` (None: the stdlib parser cannot read the file either).

    Only on the error path: the stdlib parser re-reads the file with the same quoting rules to say
    where the problem is; Arrow's own message quotes the row's text, which must not be repeated.
    """
    found: list[tuple[int, int, int]] = []
    data_row = 0
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))  # values are bounded elsewhere
    try:
        with path.open("r", encoding=encoding, errors="strict", newline="") as fh:
            rows = csv.reader(fh, delimiter=dialect.delimiter)
            for _ in range(dialect.header_lines):  # the header (after a ``sep=`` hint line)
                next(rows, None)
            for record in rows:
                if not record or not "".join(record).strip(_BLANK):
                    continue
                data_row += 1
                if len(record) != fields:
                    found.append((data_row, rows.line_num, len(record)))
                    if first_only:
                        break
    except (UnicodeDecodeError, LookupError, csv.Error):
        return None
    return found, data_row


def _first_misshapen_row(path: Path, encoding: str, fields: int, dialect: CsvDialect) -> tuple[int, int] | None:
    """(data row, physical line) of the first record whose field count is not ``fields``."""
    scan = _misshapen_rows(path, encoding, fields, dialect, first_only=True)
    return (scan[0][0][0], scan[0][0][1]) if scan and scan[0] else None


def _with_misshapen_rows(table: pa.Table, path: Path, encoding: str, names: list[str], skipped: int,
                         dialect: CsvDialect) -> pa.Table:
    """The rows Arrow read plus one row error per record it set aside, in file order.

    The second pass must find exactly the records Arrow set aside; if the two parsers disagree
    the references could be wrong, so the file is rejected instead (saying where it can).
    """
    scan = _misshapen_rows(path, encoding, len(names), dialect)
    if scan is None or len(scan[0]) != skipped or scan[1] != table.num_rows + skipped:
        raise _misshapen_rejection(path, encoding, names, dialect)
    bad, total = scan
    bad_rows = np.array([b[0] for b in bad], dtype=np.int64)
    return _with_row_errors(table, names, np.setdiff1d(np.arange(1, total + 1, dtype=np.int64), bad_rows), bad)


def _with_row_errors(table: pa.Table | None, names: list[str], good_rows: np.ndarray,
                     bad: list[tuple[int, int, int]]) -> pa.Table:
    """Rows read (data row numbers ``good_rows``) and the misshapen records ``bad`` (data row,
    physical line, field count) as row errors, in file order. The error names positions and
    counts only, never the record's text."""
    bad_rows = np.array([b[0] for b in bad], dtype=np.int64)
    errors = pa.table({
        **{n: pa.nulls(len(bad), pa.string()) for n in names},
        "_source_ref": _row_refs(bad_rows),
        "_reader_error": pa.array([f"row {r} (line {line}) has {n} fields where the header has {len(names)} "
                                   "(an unquoted delimiter or quote?)" for r, line, n in bad], pa.string()),
    })
    if table is None:
        return errors
    good = table.append_column("_source_ref", _row_refs(good_rows))
    good = good.append_column("_reader_error", pa.nulls(good.num_rows, pa.string()))
    both = pa.concat_tables([good, errors.cast(good.schema)])
    order = np.argsort(np.concatenate([good_rows, bad_rows]), kind="stable")
    return both.take(pa.array(order))


# ---------------------------------------------------------------------------- JSON


class JsonNumber(str):
    """A JSON number kept as the text it was written with (``3.10`` stays ``3.10``)."""

    __slots__ = ()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class RepeatedKey(ValueError):
    """A JSON object names one key twice: which value the source meant is unknown."""

    def __init__(self, key: str) -> None:
        self.label = f"'{key}'" if _SAFE_NAME.fullmatch(key) else "(a key)"
        super().__init__(f"the key {self.label} appears more than once in one object")


def _first_repeat(pairs: list[tuple[str, Any]]) -> str | None:
    """The first key that ``pairs`` name a second time, or None."""
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return key
        seen.add(key)
    return None


def _object_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):  # Python's json keeps the last silently; an identity field could swap
        raise RepeatedKey(str(_first_repeat(pairs)))
    return obj


def parse_json(text: str) -> Any:
    """Parse JSON keeping numbers as written (:class:`JsonNumber`); ``NaN``/``Infinity`` rejected.

    Every JSON reader (documents, API pages, JSON lines) parses this way, so the same object
    arriving through two channels gives the same strings, hence the same record hash. An object
    that repeats a key raises :class:`RepeatedKey` (a ``ValueError``).
    """
    return json.loads(text, parse_int=JsonNumber, parse_float=JsonNumber, parse_constant=_reject_constant,
                      object_pairs_hook=_object_pairs)


def parse_json_noting_repeats(text: str) -> tuple[Any, dict[int, str]]:
    """As :func:`parse_json`, but an object that repeats a key does not stop the parse.

    Returns the document and, for each object that repeated a key, its ``id()`` with the label of
    the first repeated key (``'id'``, or ``(a key)`` for a name not safe to show). The object keeps
    the last value, as Python's ``json`` does; the caller decides which part of the document such
    an object spoils (one entry of a FHIR search page, or the whole page when it is the page's
    own envelope). The ids stay valid while the document lives.
    """
    repeats: dict[int, str] = {}

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(items)
        if len(obj) != len(items):
            repeats[id(obj)] = RepeatedKey(str(_first_repeat(items))).label
        return obj

    doc = json.loads(text, parse_int=JsonNumber, parse_float=JsonNumber, parse_constant=_reject_constant,
                     object_pairs_hook=pairs)
    return doc, repeats


def repeat_within(value: Any, repeats: dict[int, str]) -> str | None:
    """The label of a repeated key in an object inside ``value`` (itself included), or None.

    ``repeats`` as :func:`parse_json_noting_repeats` returns it; walks with an explicit stack (a
    document the parser accepted may be nested deeper than Python's recursion allows here)."""
    if not repeats:
        return None
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            label = repeats.get(id(item))
            if label is not None:
                return label
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


_JSON_DECODER = json.JSONDecoder(parse_int=JsonNumber, parse_float=JsonNumber, parse_constant=_reject_constant,
                                 object_pairs_hook=_object_pairs)
#: The same without the repeated-key check: finds where a record that repeats a key ends.
_JSON_LENIENT = json.JSONDecoder(parse_int=JsonNumber, parse_float=JsonNumber, parse_constant=_reject_constant)


@dataclass(frozen=True)
class RepeatedKeyRecord:
    """Stands for a streamed JSON value that repeats a key (the reader makes it a row error)."""

    problem: str


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


_UNPAIRED_SURROGATE = re.compile("[\ud800-\udfff]")
#: The row error of a JSON record holding an unpaired surrogate escape.
SURROGATE_PROBLEM = "holds an invalid Unicode escape (an unpaired surrogate, \\ud800-\\udfff)"


def has_unpaired_surrogate(rec: dict[str, str | None]) -> bool:
    """Whether a JSON record's keys or values hold an unpaired surrogate.

    JSON may write ``"\\ud800"`` alone: Python's decoder keeps it as a lone surrogate, which no
    UTF-8 writer (Arrow, a hash, the database) accepts, so the whole page or batch failed on it.
    The JSON readers make such a record a row error instead. ASCII text is skipped at once.
    """
    for key, value in rec.items():
        if not key.isascii() and _UNPAIRED_SURROGATE.search(key):
            return True
        if value is not None and not value.isascii() and _UNPAIRED_SURROGATE.search(value):
            return True
    return False


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


def json_record_text(item: dict[str, Any]) -> tuple[dict[str, str | None], str | None]:
    """A JSON record's fields as the reader's strings (:func:`json_value_text`), and the fields
    that held an object or an array (:data:`NESTED_FIELDS` form, None when none did).

    Such a field's value is NULL: a facility that sends ``{"ho": "Lê", "ten": "Hoa"}`` or a list
    of phone numbers where one name or number belongs has not sent that value, and its JSON text
    must not load as if it were one. Fields the layout does not read are not judged at all.
    """
    rec: dict[str, str | None] = {}
    nested: list[str] | None = None
    for key, value in item.items():
        if isinstance(value, dict | list):
            rec[key] = None
            nested = [key] if nested is None else [*nested, key]
        else:
            rec[key] = json_value_text(value)
    return rec, (FIELD_SEPARATOR + FIELD_SEPARATOR.join(nested) + FIELD_SEPARATOR) if nested else None


#: Characters read per block from a JSON document.
JSON_BLOCK_CHARS = 1 << 18
#: One JSON value (a record, or any top-level member) may not be longer than this.
JSON_MAX_VALUE_CHARS = 64 << 20
_JSON_WS = re.compile(r"[ \t\r\n]*")


class _JsonStream:
    """One JSON document read incrementally: ``raw_decode`` one value at a time from a sliding
    text buffer, so memory is bounded by the largest single record, not the document."""

    def __init__(self, fh: IO[str], what: str) -> None:
        self.fh = fh
        self.what = what
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.lines_before = 0  # newlines in text already dropped from the buffer
        self.col_base = 0  # characters since the last dropped newline

    def _fill(self) -> bool:
        if self.eof:
            return False
        if self.pos:
            dropped = self.buf[: self.pos]
            nl = dropped.count("\n")
            self.lines_before += nl
            self.col_base = (len(dropped) - dropped.rfind("\n") - 1) if nl else self.col_base + len(dropped)
            self.buf = self.buf[self.pos:]
            self.pos = 0
        block = self.fh.read(max(JSON_BLOCK_CHARS, len(self.buf)))
        if not block:
            self.eof = True
            return False
        self.buf += block
        return True

    def error(self, pos: int | None = None) -> FileRejected:
        pos = self.pos if pos is None else pos
        nl = self.buf.count("\n", 0, pos)
        line = self.lines_before + nl + 1
        column = (pos - self.buf.rfind("\n", 0, pos)) if nl else self.col_base + pos + 1
        return FileRejected(f"{self.what} is not valid JSON (truncated or corrupt) at line {line}, column {column}")

    def peek(self) -> str | None:
        """The next non-whitespace character (not consumed); None at the end of the text."""
        while True:
            m = _JSON_WS.match(self.buf, self.pos)
            self.pos = m.end() if m else self.pos
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._fill():
                return None

    def expect(self, ch: str) -> None:
        if self.peek() != ch:
            raise self.error()
        self.pos += 1

    def value(self) -> Any:
        """The next complete JSON value."""
        if self.peek() is None:
            raise self.error()
        while True:
            try:
                val, end = _JSON_DECODER.raw_decode(self.buf, self.pos)
            except RepeatedKey as repeated:
                try:
                    _ignored, end = _JSON_LENIENT.raw_decode(self.buf, self.pos)
                except json.JSONDecodeError:  # incomplete in this block: read on, decode again
                    if self.eof or not self._fill():
                        raise self.error() from None
                    continue
                if end >= len(self.buf) and not self.eof and self._fill():
                    continue
                self.pos = end
                return RepeatedKeyRecord(str(repeated))
            except json.JSONDecodeError as exc:
                incomplete = exc.pos >= len(self.buf) - 8 or exc.msg.startswith("Unterminated string")
                if incomplete and not self.eof:
                    if len(self.buf) - self.pos > JSON_MAX_VALUE_CHARS:
                        raise FileRejected(f"{self.what} holds a JSON value longer than {JSON_MAX_VALUE_CHARS >> 20} Mi "
                                           "characters (or an unterminated string)") from None
                    self._fill()
                    continue
                raise self.error(exc.pos) from None
            if end >= len(self.buf) and not self.eof and self._fill():
                continue  # a bare number may go on in the next block
            self.pos = end
            return val

    def items(self) -> Iterator[Any]:
        """The values of the array starting at the next character (``[`` not yet consumed)."""
        self.expect("[")
        if self.peek() == "]":
            self.pos += 1
            return
        while True:
            yield self.value()
            c = self.peek()
            self.pos += 1
            if c == ",":
                continue
            if c == "]":
                return
            self.pos -= 1
            raise self.error()

    def end(self) -> None:
        if self.peek() is not None:
            raise self.error()


def _json_records(stream: _JsonStream, records_key: str | None, label: str) -> Iterator[Any]:
    """The entries of the document's record list, streamed."""
    first = stream.peek()
    if first is None:
        raise FileRejected("empty file")
    no_list = FileRejected(f"{stream.what} has no '{label}' list")
    if records_key is None:
        if first != "[":
            stream.value()
            stream.end()
            raise no_list
        yield from stream.items()
        stream.end()
        return
    if first != "{":
        stream.value()
        stream.end()
        raise no_list
    stream.pos += 1
    found = named = False
    if stream.peek() == "}":
        stream.pos += 1
    else:
        while True:
            if stream.peek() != '"':
                raise stream.error()
            key = stream.value()
            stream.expect(":")
            if key == records_key and named:
                # Two record lists under one name: which one the source meant is unknown, and
                # reading either would silently drop the other (the rows of the first are dropped
                # with the file).
                raise FileRejected(f"{stream.what} names its '{label}' list more than once")
            if key == records_key and stream.peek() == "[":
                found = named = True
                yield from stream.items()
            else:
                named = named or key == records_key
                stream.value()
            c = stream.peek()
            stream.pos += 1
            if c == ",":
                continue
            if c == "}":
                break
            stream.pos -= 1
            raise stream.error()
    stream.end()
    if not found:
        raise no_list


@guarded
def read_json_document(path: Path, chunk_rows: int, encoding: str = "auto", records_key: str | None = None,
                       ref_prefix: str = "", what: str = "JSON document", bare_list: bool = False) -> Iterator[pa.Table]:
    """Read a JSON document holding a list of flat record objects, streaming.

    Args:
        path: the file.
        chunk_rows: rows per yielded table.
        encoding: declared encoding (``auto``: BOM, then UTF-8, else cp1258).
        records_key: the key of the record list in the top-level object (``nhanVien``, ``data``);
            None when the document itself is the list.
        ref_prefix: prepended to each record's reference (``page-00001.json#``).
        what: how reasons name the file (``API page``).
        bare_list: a document that is itself a list (``[{...}, ...]``) is the record list even
            when ``records_key`` names a wrapper (references are then ``record[N]``).

    Yields:
        String tables with ``_source_ref`` = ``<prefix><records_key>[N]`` (1-based). A list entry
        that is not an object, or has too many fields, or uses a reserved field name, becomes a
        row with ``_reader_error`` (quarantined as ENVELOPE).

    Raises:
        FileRejected: not decodable, not valid JSON (e.g. truncated), or no record list; the
            reason carries no file content. A large file may have yielded chunks before this (the
            batch runner then discards the whole file).

    The document is read incrementally (one record at a time through ``json``'s own decoder, the
    same number handling as every other JSON channel), so memory is bounded by ``chunk_rows``
    and the largest record, not by the file (a 2 GiB export no longer needs 4 GB).
    """
    limits = current_limits()
    decision = decide_encoding(path, encoding)
    label = records_key or "record"
    rows = _Rows(limits, _Columns(limits), extra_name=NESTED_FIELDS)
    try:
        with path.open("r", encoding=decision.encoding, errors="strict", newline="") as fh:
            stream = _JsonStream(fh, what)
            if bare_list and records_key is not None and stream.peek() == "[":
                records_key, label = None, "record"
            for i, item in enumerate(_json_records(stream, records_key, label), start=1):
                ref = f"{ref_prefix}{label}[{i}]"
                if isinstance(item, RepeatedKeyRecord):
                    rows.error(ref, f"{label}[{i}]: {item.problem}")
                elif not isinstance(item, dict):
                    rows.error(ref, f"{label}[{i}] is not a JSON object")
                elif len(item) > limits.max_columns:
                    rows.error(ref, f"{label}[{i}] has {len(item)} fields, over the limit of {limits.max_columns} "
                                    "(S06_MAX_COLUMNS)")
                else:
                    rec, nested = json_record_text(item)
                    if has_unpaired_surrogate(rec):
                        rows.error(ref, f"{label}[{i}] {SURROGATE_PROBLEM}")
                    else:
                        rows.add(rec, ref, nested)
                if rows.n >= chunk_rows:
                    yield rows.table()
    except UnicodeDecodeError:
        raise FileRejected(_invalid_text_reason(what, path, decision)) from None
    except LookupError:
        raise FileRejected(f"unknown encoding {decision.encoding!r} ({decision.describe()})") from None
    except (ValueError, RecursionError):
        raise FileRejected(f"{what} is not valid JSON (non-standard constant or nesting too deep)") from None
    if rows.n:
        yield rows.table()


@guarded
def read_json_records(path: Path, chunk_rows: int, encoding: str = "auto", records_key: str | None = None) -> Iterator[pa.Table]:
    """A facility's JSON export (reader ``json_records``): see :func:`read_json_document`.

    The export's record list is under ``records_key`` (``{"nhanVien": [...]}``); a document that
    is only the list (``[{...}, ...]``, what many exporting tools write) is read as that list."""
    return read_json_document.__wrapped__(path, chunk_rows, encoding, records_key,  # type: ignore[attr-defined]
                                          what="JSON export", bare_list=True)


#: Readers by name (a contract's ``source_formats.<fmt>.reader``).
READERS: dict[str, Callable[..., Iterator[pa.Table]]] = {
    "giamdinhhs_xml9": read_giamdinhhs_xml9,
    "flat_document": read_flat_document,
    "hsdlgcs": read_flat_document,
    "csv": read_csv,
    "json_records": read_json_records,
}

#: Readers that decode with the registry's declared encoding (:func:`decide_encoding`); the XML
#: readers follow the document's own declaration, the others are UTF-8 by definition.
REGISTRY_ENCODING_READERS = frozenset({"csv", "json_records"})

#: Readers that live with their extractor, imported on first use ("module:function").
LAZY_READERS = {
    "jsonl": "extractors.sql.jsonl:read_jsonl",
    "json_pages": "extractors.rest_api:read_json_pages",
    "fhir_ndjson": "extractors.fhir:read_fhir_ndjson",  # integration(vaccination): FHIR Bulk Data files
    "fhir_bundle": "extractors.fhir:read_fhir_bundles",  # integration(vaccination): FHIR search pages
}


def reader(name: str) -> Callable[..., Iterator[pa.Table]]:
    """The reader called ``name``, with the whole-file and per-row guards (:func:`guarded`).

    Raises:
        KeyError: naming the reader, when no such reader exists.
    """
    if name in READERS:
        return READERS[name]
    if name in LAZY_READERS:
        module, func = LAZY_READERS[name].split(":")
        READERS[name] = guarded(getattr(importlib.import_module(module), func))
        return READERS[name]
    raise KeyError(f"no reader called '{name}'")
