"""Property-based fuzzing of every reader: for arbitrary mutations of a valid file, the reader
either yields string-typed chunks with ``_source_ref`` (and ``_reader_error`` as documented) or
raises :class:`FileRejected` with a content-free reason - never another exception, never output
out of proportion to its input (a blow-up such as entity expansion or a column explosion)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from extractors.formats import FileRejected, reader
from tests.fuzz.mutations import MARKER, MUTATIONS, NAMES, SAMPLES, mutate, sample_inner, sample_xml9


def check_reader(name: str, filename: str, data: bytes, options: dict[str, str] | None = None) -> str:
    """Run one reader over ``data``; assert the reader contract; return 'ok' or the reason."""
    with tempfile.TemporaryDirectory(prefix="s06-fuzz-") as tmp:
        path = Path(tmp) / filename
        path.write_bytes(data)
        read = reader(name)
        produced = 0
        try:
            for table in read(path, 3, **(options or {})):
                assert isinstance(table, pa.Table)
                assert table.num_rows > 0 or name == "csv"  # CSV yields its parser's blocks
                assert "_source_ref" in table.column_names
                assert len(set(table.column_names)) == table.num_columns
                for field in table.schema:
                    assert pa.types.is_string(field.type), (field.name, field.type)
                assert table.column("_source_ref").null_count == 0
                if "_reader_error" in table.column_names:
                    for reason in table.column("_reader_error").to_pylist():
                        assert reason is None or (MARKER not in reason and not any(n in reason for n in NAMES))
                produced += table.nbytes
        except FileRejected as exc:
            reason = exc.reason
            assert isinstance(reason, str) and reason
            assert not reason.startswith("file could not be read"), f"reader bug caught by the last wall: {reason}"
            assert MARKER not in reason and not any(n in reason for n in NAMES)
            assert not any(ord(c) < 32 for c in reason)
            return reason
        # Bounded output: never more than a small multiple of the input (plus per-row overhead).
        assert produced <= 20 * len(data) + 100_000, (produced, len(data))
        return "ok"


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_valid_samples_read(name):
    sample = SAMPLES[name]
    assert check_reader(sample.reader, sample.filename, sample.data, dict(sample.options)) == "ok"


@pytest.mark.parametrize("name", sorted(SAMPLES))
@given(ops=MUTATIONS)
@example(ops=[("truncate", 0)])
@example(ops=[("insert", 30, b"\x00")])
@example(ops=[("huge", 40, 200_000)])
@example(ops=[("encoding", "utf-16")])
def test_mutated_file_is_read_or_rejected(name, ops):
    sample = SAMPLES[name]
    check_reader(sample.reader, sample.filename, mutate(sample.data, ops), dict(sample.options))


@given(ops=MUTATIONS, position=st.integers(0, 2))
def test_mutated_inner_xml9_document(ops, position):
    """Mutations of the base64 document inside an envelope stay a row problem at most."""
    docs = [sample_inner(i) for i in range(3)]
    docs[position] = mutate(docs[position], ops)
    result = check_reader("giamdinhhs_xml9", "a.xml", sample_xml9(docs))
    assert result == "ok"  # the envelope itself is intact: never a file rejection
