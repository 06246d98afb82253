"""Failing examples found by the fuzz runs, kept as explicit regression tests."""

from __future__ import annotations

import pytest

from tests.fuzz.mutations import SAMPLES, mutate, sample_inner, sample_xml9
from tests.fuzz.test_fuzz_readers import check_reader


@pytest.mark.parametrize(
    ("name", "ops"),
    [
        # A flipped bit in the XML declaration named an unknown encoding ('utf-9'): LookupError escaped.
        pytest.param("flat_document", [("truncate", 777), ("truncate", 769), ("truncate", 176), ("flip", 106, 1)],
                     id="flat-unknown-encoding"),
        pytest.param("giamdinhhs_xml9", [("drop_line", 1), ("flip", 186, 1)], id="xml9-unknown-encoding"),
    ],
)
def test_found_by_fuzzing(name, ops):
    sample = SAMPLES[name]
    reason = check_reader(sample.reader, sample.filename, mutate(sample.data, ops), dict(sample.options))
    assert reason != "ok"


def test_unknown_encoding_declared_by_an_inner_xml9_document_is_a_row_error():
    docs = [sample_inner(0).replace(b"utf-8", b"utf-9"), sample_inner(1)]
    assert check_reader("giamdinhhs_xml9", "a.xml", sample_xml9(docs)) == "ok"


def test_inner_document_losing_a_byte_of_its_declaration():
    """Found by fuzzing: a deleted byte turned ``utf-8`` into ``utf8'`` in an inner declaration."""
    docs = [mutate(sample_inner(0), [("delete", 61974, 1)]), sample_inner(1), sample_inner(2)]
    assert check_reader("giamdinhhs_xml9", "a.xml", sample_xml9(docs)) == "ok"
