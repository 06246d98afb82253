"""Stage *read*: landed files into string-typed Arrow chunks, grouped into units.

A *unit* is what is read and judged as one: every large file alone (streamed chunk by chunk, so
memory does not grow with the file), and the small files of one format together across all the
shard's facilities (one certificate per file is common, and thousands of facilities send a few
records each). Small files are read whole before any of their rows is used, so a broken one is
rejected before it touches its batch. Each chunk carries ``_source_file`` and ``_batch`` (the
position of its facility in the shard).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from extractors.formats import ATTRIBUTE_FIELDS_KEY, REGISTRY_ENCODING_READERS, is_utf8_name, reader
from pipeline.stages.land import files_to_read
from transforms.records import constant

if TYPE_CHECKING:  # pragma: no cover
    from config.contracts import DatasetContract
    from extractors.file_drop import LandedFile
    from pipeline.stages.state import Batch, Shard

log = logging.getLogger(__name__)

#: Readers whose columns come from a header: a required column absent from it means the whole
#: file is in the wrong layout, not that each record lacks a value.
HEADER_READERS = frozenset({"csv"})
#: A progress line in the task log every this many rows of one large file.
PROGRESS_ROWS = 100_000


@dataclass(frozen=True)
class Item:
    """One file of one batch."""

    batch: Batch
    landed: LandedFile


@dataclass(frozen=True)
class Unit:
    """Files read and judged together: one large file, or the small files of one format."""

    format: str
    items: tuple[Item, ...]
    streamed: bool


def units(shard: Shard, small_file_bytes: int) -> list[Unit]:
    """Split the shard's files into units: small files grouped per format, large ones alone.

    Order: the small-file groups by format name, then the large files; within a group, the
    batches in shard order and each batch's files in name order (the order decides which of two
    versions of a record in one batch is the later one).
    """
    small: dict[str, list[Item]] = {}
    large: list[Unit] = []
    for batch in shard.active():
        for lf in files_to_read(batch):
            item = Item(batch, lf)
            if lf.size <= small_file_bytes:
                small.setdefault(lf.format or "", []).append(item)
            else:
                large.append(Unit(lf.format or "", (item,), streamed=True))
    return [Unit(fmt, tuple(items), streamed=False) for fmt, items in sorted(small.items())] + large


def read_file(item: Item, contract: DatasetContract, chunk_rows: int, shard: Shard,
              clock: bool = True) -> Iterator[pa.Table]:
    """Chunks of one file with the lineage columns; raises ``FileRejected`` if it cannot be read.

    With ``clock`` (the default) the time spent reading is added to the shard's *read* timing;
    a caller that reads ahead in another thread (:func:`read_ahead`) times its own waits instead.
    """
    landed = item.landed
    fmt = contract.source_formats[landed.format or ""]
    read = reader(fmt.reader)
    options = dict(fmt.reader_options)
    if fmt.reader == "jsonl" and item.batch.source_kind == "sql":
        options["source_refs"] = True  # the pipeline's own SQL extract: its `__ref` is the row's reference
    rows = 0
    next_progress = PROGRESS_ROWS
    t0 = time.perf_counter()
    # Per column list: a streamed file's chunks gain ``_reader_error`` from the first row error on.
    names_for: dict[tuple[str, ...], list[str]] = {}
    attribute_held: set[str] = set()
    for chunk in read(Path(landed.raw_path), chunk_rows, encoding=_declared_encoding(item), **options):
        n = chunk.num_rows
        held = (chunk.schema.metadata or {}).get(ATTRIBUTE_FIELDS_KEY)
        if held:
            attribute_held.update(held.decode("utf-8").split(","))
        names = names_for.get(tuple(chunk.column_names))
        if names is None:
            names = names_for[tuple(chunk.column_names)] = header_names(
                chunk.column_names, contract, landed.format or "", fmt.reader)
        if rows == 0:  # the file's notes come from its first chunk's header
            if item.batch.source_kind == "sql" and fmt.reader == "jsonl":
                note = absent_columns_note(names, contract, landed.format or "")
            else:
                note = ignored_columns_note(names, contract, landed.format or "", fmt.reader)
            declared = _declared_encoding(item)
            if (fmt.reader in REGISTRY_ENCODING_READERS and declared not in ("auto", "")
                    and landed.encoding in ("utf-8", "utf-8-sig") and not is_utf8_name(declared)):
                stale = (f"read as UTF-8: the registry declares {declared}, but the file is valid UTF-8 "
                         "(update the facility's encoding in the registry)")
                note = f"{stale}; {note}" if note else stale
            if note:
                shard.file_notes[landed.name] = note
        if names != chunk.column_names:
            chunk = chunk.rename_columns(names)
        clash = [name for name in ("_source_file", "_batch") if name in chunk.column_names]
        if clash:  # readers refuse reserved names; this is the wall for any reader that does not
            from extractors.formats import FileRejected

            raise FileRejected(f"the file uses a reserved field name ({', '.join(clash)})")
        if rows == 0:
            missing = missing_required_columns(chunk, contract, landed.format or "", fmt.reader)
            if missing:
                from extractors.formats import FileRejected

                if not set(names) & set(contract.source_tags(landed.format or "")):
                    raise FileRejected(f"the first line names none of the {landed.format} layout's columns (a title "
                                       "line above the header, or another layout?); required: "
                                       f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
                raise FileRejected(f"missing required column(s) {', '.join(missing)} in the header")
        chunk = chunk.append_column("_source_file", constant(landed.name, pa.string(), n))
        chunk = chunk.append_column("_batch", constant(item.batch.index, pa.int32(), n))
        rows += n
        if rows >= next_progress:
            log.info("%s: %d rows read from %s", item.batch.batch_id, rows, Path(landed.name).name)
            next_progress += PROGRESS_ROWS
        if clock:
            t0 = shard.timed("read", t0)
        yield chunk
        t0 = time.perf_counter()
    if clock:
        shard.timed("read", t0)
    if fmt.reader not in HEADER_READERS:  # a header's case variants are matched (header_names)
        for note in (case_variant_note({n for names in names_for for n in names}, contract, landed.format or ""),
                     attribute_note(attribute_held, contract, landed.format or "")):
            if note:
                before = shard.file_notes.get(landed.name)
                shard.file_notes[landed.name] = f"{before}; {note}" if before else note


#: Readers that parse outside the GIL (pyarrow's CSV reader): a large file of theirs is read a
#: chunk ahead in a thread while the shard conforms and validates the chunk before it.
READ_AHEAD_READERS = frozenset({"csv"})
#: Chunks a read-ahead holds at most (besides the one being processed).
READ_AHEAD_CHUNKS = 2


def read_ahead(item: Item, contract: DatasetContract) -> bool:
    """Whether :func:`read_file` of ``item`` is worth running a chunk ahead in a thread."""
    return contract.source_formats[item.landed.format or ""].reader in READ_AHEAD_READERS


def _declared_encoding(item: Item) -> str:
    """The encoding to give the reader: the registry's, for a dropped file that declares one.

    A dropped file's landed encoding is what detection settled on; passing it on as if declared
    made a rejection say "declared in the registry" when nothing was. So a file drop without a
    declared encoding is read with ``auto`` (the reader decides again, the same way, and says
    "detected"); API pages and SQL extracts are written as UTF-8 by the pipeline itself.
    """
    batch = item.batch
    if batch.source_kind != "file_drop" or batch.facility is None:
        return item.landed.encoding
    feed = batch.facility.datasets.get(batch.spec.dataset)
    return getattr(feed, "encoding", None) or "auto"


def header_names(columns: list[str], contract: DatasetContract, fmt: str, reader_name: str) -> list[str]:
    """A header's column names, with the contract's spelling where only the letter case differs.

    Exports from spreadsheets and other systems change the case of a header (``MA_GCS`` for
    ``ma_gcs``); matching exactly would drop an optional column without a word. A name matching
    one contract tag case-insensitively takes the tag's spelling. Two columns folding to the same
    tag, the exact tag among them or not, reject the file: keeping either would silently choose
    (``ho_ten_me`` and ``HO_TEN_ME``). Columns the contract does not read may repeat in any case.

    Raises:
        FileRejected: two header columns differ only in letter case and match a contract tag.
    """
    if reader_name not in HEADER_READERS:
        return columns
    tags = set(contract.source_tags(fmt))
    present = set(columns)
    folded: dict[str, list[str]] = {}
    for name in columns:
        if name not in tags:
            folded.setdefault(name.casefold(), []).append(name)
    renames: dict[str, str] = {}
    for tag in tags & present:
        if tag.casefold() in folded:  # the tag itself and the same name in other letter case
            from extractors.formats import FileRejected

            raise FileRejected(f"the header has {len(folded[tag.casefold()]) + 1} columns named {tag!r} in different "
                               "letter case")
    for tag in tags - present:
        matches = folded.get(tag.casefold(), [])
        if len(matches) > 1:
            from extractors.formats import FileRejected

            raise FileRejected(f"the header has {len(matches)} columns named {tag!r} in different letter case")
        if matches:
            renames[matches[0]] = tag
    return [renames.get(name, name) for name in columns]


def ignored_columns_note(columns: list[str], contract: DatasetContract, fmt: str, reader_name: str) -> str | None:
    """For a header-based file: which of its columns the contract does not read (None: none).

    They are not an error (a facility may export more than asked), but a column the facility
    believes it sends (a misspelt header) should not vanish without a word: the note goes on the
    file's ``ingested_files`` row. Names that are not plain identifiers are given by position.
    """
    if reader_name not in HEADER_READERS:
        return None
    from extractors.formats import column_label

    tags = contract.source_tags(fmt)
    unknown = [column_label(c, i) for i, c in enumerate(columns) if c not in tags and not c.startswith("_")]
    if not unknown:
        return None
    return f"{len(unknown)} column(s) not in the {fmt} layout were ignored: {_listed(unknown)}"


def _listed(names: list[str]) -> str:
    """The first ten of ``names`` for a file note, and how many more there are."""
    return ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")


def case_variant_note(names: set[str], contract: DatasetContract, fmt: str) -> str | None:
    """For XML and JSON files: the layout fields some record named in other letter case (None: none).

    Their names are case-sensitive, so ``<Ho_Ten_Con>`` is not ``HO_TEN_CON``: the value is not
    read, and an optional field would load empty without a word (a required one fails its rule).
    The note names the layout's tags (never the facility's spelling, which might be anything).
    """
    tags = contract.source_tags(fmt)
    folded: dict[str, str] = {}
    for tag in tags:
        folded.setdefault(tag.casefold(), tag)
    meant = sorted({folded[n.casefold()] for n in names
                    if n not in tags and not n.startswith("_") and n.casefold() in folded})
    if not meant:
        return None
    return (f"{len(meant)} field(s) of the {fmt} layout were sent in other letter case and not read "
            f"(names are case-sensitive here): {_listed(meant)}")


def attribute_note(held: set[str], contract: DatasetContract, fmt: str) -> str | None:
    """For XML files: the layout fields whose value the file's first record carried in an attribute
    instead of element text (None: none); see ``extractors.formats.attribute_held_fields``.

    Such a value is read empty, so a required field fails its rule in every record and an optional
    one loads empty; the note tells the facility why. Only the layout's tags are named."""
    tags = contract.source_tags(fmt)
    meant = sorted(n for n in held if n in tags)
    if not meant:
        return None
    return (f"{len(meant)} field(s) of the {fmt} layout carry their value in an XML attribute, not as the "
            f"element's text, and were read empty: {_listed(meant)}")


def absent_columns_note(columns: list[str], contract: DatasetContract, fmt: str) -> str | None:
    """For the pipeline's own extract of a facility table: the layout's columns the table lacks.

    The extract writes every column of the table into every row, so a column the layout reads
    and the rows lack is not in the table: renamed or dropped at the source. Its values load as
    empty (a required one then fails its rule in every row); the note says which, on the file's
    ``ingested_files`` row, instead of leaving an empty column to be noticed later.
    """
    present = set(columns)
    absent = [tag for name in contract.columns if (tag := contract.tag_for(name, fmt)) is not None
              and tag not in present]
    if not absent:
        return None
    return f"{len(absent)} column(s) of the {fmt} layout are not in the source table (loaded empty): {_listed(absent)}"


def missing_required_columns(chunk: pa.Table, contract: DatasetContract, fmt: str, reader_name: str) -> list[str]:
    """Source tags of required columns absent from a header-based file (empty: none missing)."""
    if reader_name not in HEADER_READERS:
        return []
    present = set(chunk.column_names)
    missing = []
    for name, spec in contract.columns.items():
        if not spec.required:
            continue
        tag = contract.tag_for(name, fmt)
        if tag is not None and tag not in present:
            missing.append(tag)
    return missing
