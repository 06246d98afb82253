"""Dataset-independent serialisers: date styles, text encodings, XML envelopes and CSV.

A dataset module (``births``) turns a record into an ordered list of ``(tag, value)`` fields per
source format; the functions here turn those fields into bytes. ``value`` is always a string
(DOMAIN §2.2: "every field as a character string"); ``None`` means "element absent".
"""

from __future__ import annotations

import base64
import csv
import io
import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Protocol
from xml.sax.saxutils import escape, quoteattr

Fields = list[tuple[str, str | None]]

XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'


class DateLike(Protocol):
    """Anything with calendar fields: ``date``, ``datetime`` or :class:`LooseStamp`."""

    @property
    def year(self) -> int:
        """Year."""

    @property
    def month(self) -> int:
        """Month 1-12."""

    @property
    def day(self) -> int:
        """Day of month."""


@dataclass(frozen=True)
class LooseStamp:
    """A date-time that is not checked for validity (e.g. 31 February), for injected defects.

    Attributes:
        year: year.
        month: month 1-12.
        day: day of month, possibly impossible (31, 32).
        hour: hour.
        minute: minute.
        second: second.
    """

    year: int
    month: int
    day: int
    hour: int = 0
    minute: int = 0
    second: int = 0


# Date styles by name. Each renders the calendar fields of a DateLike; hour/minute/second are
# read with getattr so that a plain ``date`` renders with zeros.
DATE_STYLES: dict[str, str] = {
    "yyyymmdd": "{y:04d}{m:02d}{d:02d}",
    "yyyymmddHHMM": "{y:04d}{m:02d}{d:02d}{H:02d}{M:02d}",
    "yyyymmddHHMMSS": "{y:04d}{m:02d}{d:02d}{H:02d}{M:02d}{S:02d}",
    "yyyy": "{y:04d}",
    "dd/mm/yyyy": "{d:02d}/{m:02d}/{y:04d}",
    "dd/mm/yyyy HH:MM": "{d:02d}/{m:02d}/{y:04d} {H:02d}:{M:02d}",
    "yyyy-mm-dd HH:MM": "{y:04d}-{m:02d}-{d:02d} {H:02d}:{M:02d}",
}


def render_date(value: DateLike | None, style: str) -> str:
    """Render a date or date-time in one of :data:`DATE_STYLES`.

    Args:
        value: the date; None renders as the empty string.
        style: a key of :data:`DATE_STYLES`.

    Returns:
        The rendered string.
    """
    if value is None:
        return ""
    return DATE_STYLES[style].format(
        y=value.year,
        m=value.month,
        d=value.day,
        H=getattr(value, "hour", 0),
        M=getattr(value, "minute", 0),
        S=getattr(value, "second", 0),
    )


# --------------------------------------------------------------------------- text encodings

# Diacritics that change the *letter* (â ê ô ă ơ ư): Windows-1258 has these precomposed.
_SHAPE_MARKS = frozenset({"\u0302", "\u0306", "\u031b"})
# Tone marks (huyền, sắc, ngã, hỏi, nặng): Windows-1258 carries them as combining characters.
TONE_MARKS = ("\u0300", "\u0301", "\u0303", "\u0309", "\u0323")


def to_cp1258_form(text: str) -> str:
    """Rewrite text into the form Windows-1258 can encode (DOMAIN §11).

    Python's ``cp1258`` encoder cannot encode NFC toned letters (``ễ``) nor plain NFD (it has
    no combining circumflex/breve/horn). The code page stores precomposed base letters
    (``â ê ô ă ơ ư đ``) followed by a *combining* tone mark. So: decompose (NFD), then
    recompose each base letter with its shape marks only, keeping the tone marks combining.

    Args:
        text: any Unicode text (NFC or NFD).

    Returns:
        Equivalent text in which every Vietnamese letter is encodable in cp1258; decoding the
        encoded bytes and normalising to NFC gives back ``unicodedata.normalize("NFC", text)``.
    """
    out: list[str] = []
    base = ""
    marks: list[str] = []

    def flush() -> None:
        if not base:
            out.extend(marks)
            return
        shapes = "".join(m for m in marks if m in _SHAPE_MARKS)
        tones = "".join(m for m in marks if m not in _SHAPE_MARKS)
        composed = unicodedata.normalize("NFC", base + shapes) if shapes else base
        out.append(composed + tones)

    for ch in unicodedata.normalize("NFD", text):
        if unicodedata.combining(ch):
            marks.append(ch)
            continue
        flush()
        base, marks = ch, []
    flush()
    return "".join(out)


def encode_text(text: str, encoding: str) -> bytes:
    """Encode a whole file's text as a facility would.

    Args:
        text: the file content.
        encoding: ``utf-8``, ``utf-8-sig`` (UTF-8 with BOM) or ``cp1258``.

    Returns:
        The bytes. cp1258 output goes through :func:`to_cp1258_form`; any character the code
        page still cannot hold raises, rather than being replaced silently.

    Raises:
        UnicodeEncodeError: a character cannot be encoded.
        ValueError: unknown encoding.
    """
    if encoding == "cp1258":
        return to_cp1258_form(text).encode("cp1258", errors="strict")
    if encoding in ("utf-8", "utf-8-sig"):
        return text.encode(encoding)
    raise ValueError(f"unsupported encoding {encoding!r}")


# --------------------------------------------------------------------------- XML


def xml_fields(fields: Fields, indent: str) -> list[str]:
    """Render leaf elements, one per line; ``None`` values are left out.

    Args:
        fields: ordered ``(tag, value)`` pairs.
        indent: leading whitespace of each line.

    Returns:
        Lines such as ``<MA_LK>01929.261121.0001</MA_LK>``.
    """
    lines: list[str] = []
    for tag, value in fields:
        if value is None:
            continue
        lines.append(f"{indent}<{tag}>{escape(value)}</{tag}>" if value else f"{indent}<{tag}></{tag}>")
    return lines


def inner_table(root: str, list_tag: str, item_tag: str, items: Sequence[Fields]) -> bytes:
    """A QĐ 130 table document (the content of one ``NOIDUNGFILE``), UTF-8 encoded.

    Args:
        root: root tag (``CHI_TIEU_DU_LIEU_GIAY_CHUNG_SINH``).
        list_tag: list tag (``DSACH_GIAYCHUNGSINH``).
        item_tag: one row's tag (``DU_LIEU_GIAY_CHUNG_SINH``).
        items: the rows, in document order.

    Returns:
        The document bytes.
    """
    lines = [XML_DECLARATION, f"<{root}>", f"  <{list_tag}>"]
    for item in items:
        lines.append(f"    <{item_tag}>")
        lines.extend(xml_fields(item, "      "))
        lines.append(f"    </{item_tag}>")
    lines += [f"  </{list_tag}>", f"</{root}>"]
    return ("\n".join(lines) + "\n").encode("utf-8")


def giamdinhhs(facility_code: str, created: date, files: Sequence[Sequence[tuple[str, bytes]]]) -> str:
    """The legacy claim envelope ``GIAMDINHHS`` (DOMAIN §2.1).

    Args:
        facility_code: ``MACSKCB``.
        created: ``NGAYLAP``.
        files: one entry per ``HOSO`` (episode): its ``(LOAIHOSO, content bytes)`` pairs; the
            content is base64-encoded into ``NOIDUNGFILE``.

    Returns:
        The envelope text (UTF-8 when encoded; no signature: ``<CHUKYDONVI/>``).
    """
    lines = [
        XML_DECLARATION,
        "<GIAMDINHHS>",
        "  <THONGTINDONVI>",
        f"    <MACSKCB>{escape(facility_code)}</MACSKCB>",
        "  </THONGTINDONVI>",
        "  <THONGTINHOSO>",
        f"    <NGAYLAP>{render_date(created, 'yyyymmdd')}</NGAYLAP>",
        f"    <SOLUONGHOSO>{len(files)}</SOLUONGHOSO>",
        "    <DANHSACHHOSO>",
    ]
    for hoso in files:
        lines.append("      <HOSO>")
        for kind, content in hoso:
            lines += [
                "        <FILEHOSO>",
                f"          <LOAIHOSO>{escape(kind)}</LOAIHOSO>",
                f"          <NOIDUNGFILE>{base64.b64encode(content).decode('ascii')}</NOIDUNGFILE>",
                "        </FILEHOSO>",
            ]
        lines.append("      </HOSO>")
    lines += ["    </DANHSACHHOSO>", "  </THONGTINHOSO>", "  <CHUKYDONVI/>", "</GIAMDINHHS>"]
    return "\n".join(lines) + "\n"


def flat_document(root: str, element: str, element_id: str, fields: Fields) -> str:
    """A flat 2025 e-document (``HSDLGCS``/``HSDLGBT``, DOMAIN §2.2).

    Args:
        root: root tag.
        element: the data element (``GIAYCHUNGSINH``).
        element_id: its ``Id`` attribute (``Id-<uuid>``).
        fields: its children.

    Returns:
        The document text (no signature: ``<CHUKYDONVI/>``).
    """
    lines = [XML_DECLARATION, f"<{root}>", f"  <{element} Id={quoteattr(element_id)}>"]
    lines.extend(xml_fields(fields, "    "))
    lines += [f"  </{element}>", "  <CHUKYDONVI/>", f"</{root}>"]
    return "\n".join(lines) + "\n"


def truncate_markup(text: str, rng: random.Random) -> str:
    """Cut a document off in the middle of an element's text (an interrupted transfer).

    Args:
        text: a complete XML document.
        rng: chooses where to cut (between 40 % and 75 % of the text).

    Returns:
        The text up to a point strictly inside some element content, so the result is not
        well-formed XML.
    """
    start = int(len(text) * (0.4 + 0.35 * rng.random()))
    # Move forward to the first text node with at least two characters and cut inside it.
    pos = start
    while pos < len(text):
        gt = text.find(">", pos)
        lt = text.find("<", gt + 1)
        if gt == -1 or lt == -1:
            break
        if lt - gt > 2 and text[gt + 1 : lt].strip():
            return text[: gt + 1 + (lt - gt) // 2]
        pos = lt + 1
    return text[: max(len(text) // 2, 1)]


# --------------------------------------------------------------------------- files


@dataclass(frozen=True)
class Placement:
    """Where one record sits in a written file (the ground truth's ``source_ref``).

    Attributes:
        source_ref: the reader's reference (``row 3``, ``HOSO[2]/DU_LIEU_GIAY_CHUNG_SINH[1]``,
            ``GIAYCHUNGSINH[1]``).
        order: numeric sort key of the position in the file.
    """

    source_ref: str
    order: tuple[int, ...]


@dataclass
class RenderedFile:
    """One file of a drop, ready to write.

    Attributes:
        rel_path: path relative to ``drop/``, forward slashes.
        data: the bytes.
        placements: one entry per record in the file, with the record object.
    """

    rel_path: str
    data: bytes
    placements: list[tuple[object, Placement]]


# --------------------------------------------------------------------------- CSV


def csv_text(header: Sequence[str], rows: Sequence[Sequence[str | None]]) -> str:
    """RFC-4180 CSV text: comma separated, minimal quoting, CRLF line ends.

    Args:
        header: column names.
        rows: data rows (strings; no value may contain a newline).

    Returns:
        The CSV text.

    Raises:
        ValueError: a value contains a line break (the readers count rows by line).
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    for row in rows:
        if any(v is not None and ("\n" in v or "\r" in v) for v in row):
            raise ValueError("CSV values must not contain line breaks")
        writer.writerow(row)
    return buf.getvalue()


def write_bytes(path: Path, data: bytes) -> None:
    """Write a file, creating its parent folders.

    Args:
        path: destination.
        data: content.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
