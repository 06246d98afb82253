"""Files written the way other systems write the public formats (found by an audit with
hand-written inputs): namespaces, repeated fields, reserved names, references a file sets."""

from __future__ import annotations

import base64
import json

import pytest

from extractors.formats import (
    UNUSABLE_REF,
    FileRejected,
    read_flat_document,
    read_giamdinhhs_xml9,
    read_json_records,
    reader,
)

ID_A, ID_B = "001195012345", "079195099999"


def _rows(read, path, **kw):
    return [r for t in read(path, 1000, **kw) for r in t.to_pylist()]


def _with_error_column(rows):
    """Rows as the judge sees them: a chunk without ``_reader_error`` has none on any row."""
    return [{**r, "_reader_error": r.get("_reader_error")} for r in rows]


def _envelope(inner: bytes, ns: str = "", tables: str = "XML9") -> str:
    b64 = base64.b64encode(inner).decode()
    return (f'<GIAMDINHHS{ns}><THONGTINDONVI><MACSKCB>01929</MACSKCB></THONGTINDONVI><THONGTINHOSO><DANHSACHHOSO>'
            f"<HOSO><FILEHOSO><LOAIHOSO>{tables}</LOAIHOSO><NOIDUNGFILE>{b64}</NOIDUNGFILE></FILEHOSO></HOSO>"
            "</DANHSACHHOSO></THONGTINHOSO></GIAMDINHHS>")


def _inner(children: str, ns: str = "") -> bytes:
    return (f"<CHI_TIEU_DU_LIEU_GIAY_CHUNG_SINH{ns}><DSACH_GIAYCHUNGSINH><DU_LIEU_GIAY_CHUNG_SINH>{children}"
            "</DU_LIEU_GIAY_CHUNG_SINH></DSACH_GIAYCHUNGSINH></CHI_TIEU_DU_LIEU_GIAY_CHUNG_SINH>").encode()


@pytest.mark.parametrize(("outer_ns", "inner_ns"), [
    (' xmlns="urn:bhxh:giamdinh"', ""),
    ("", ' xmlns="urn:bhxh:xml9"'),
    (' xmlns:g="urn:x" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"', ""),
], ids=["default-outer", "default-inner", "declared-unused"])
def test_an_xml9_envelope_with_namespaces_reads_like_one_without(tmp_path, outer_ns, inner_ns):
    path = tmp_path / "hs.xml"
    path.write_text(_envelope(_inner(f"<SO>1</SO><SO_CCCD_NND>{ID_A}</SO_CCCD_NND>", inner_ns), outer_ns),
                    encoding="utf-8")
    rows = _rows(read_giamdinhhs_xml9, path)
    assert [(r["SO"], r["SO_CCCD_NND"], r.get("_reader_error")) for r in rows] == [("1", ID_A, None)]
    assert rows[0]["_envelope_facility"] == "01929"


def test_an_envelope_without_any_xml9_table_is_rejected_not_loaded_empty(tmp_path):
    path = tmp_path / "hs.xml"
    path.write_text(_envelope(b"<XML1/>", tables="XML1"), encoding="utf-8")
    with pytest.raises(FileRejected, match="none of the 1 HOSO elements carries an XML9 table"):
        _rows(read_giamdinhhs_xml9, path)
    path.write_text("<GIAMDINHHSX><HOSO_X/></GIAMDINHHSX>", encoding="utf-8")
    with pytest.raises(FileRejected, match="no HOSO element"):
        _rows(read_giamdinhhs_xml9, path)


def test_a_namespaced_flat_document_is_read(tmp_path):
    path = tmp_path / "gcs.xml"
    path.write_text('<p:HSDLGCS xmlns:p="urn:moh:pl02"><p:GIAYCHUNGSINH><p:SO>7</p:SO></p:GIAYCHUNGSINH></p:HSDLGCS>',
                    encoding="utf-8")
    assert [r["SO"] for r in _rows(read_flat_document, path)] == ["7"]


@pytest.mark.parametrize("document", [
    '{"data": [{"SO": "1"}], "meta": {}, "data": [{"SO": "2"}]}',
    '{"data": null, "data": [{"SO": "2"}]}',
    '{"data": [{"SO": "1"}], "data": []}',
])
def test_a_record_list_named_twice_rejects_the_document(tmp_path, document):
    """The wrapper object names its record list twice: reading either list would silently drop
    the other (the second was skipped without a word), so the file is rejected."""
    path = tmp_path / "d.json"
    path.write_text(document, encoding="utf-8")
    with pytest.raises(FileRejected) as err:
        _rows(read_json_records, path, records_key="data")
    assert err.value.reason == "JSON export names its 'data' list more than once"
    path.write_text('{"meta": {"meta": 1}, "data": [{"SO": "1"}], "total": 1}', encoding="utf-8")
    assert [r["SO"] for r in _rows(read_json_records, path, records_key="data")] == ["1"]


def test_a_repeated_field_is_a_row_error_never_a_silent_choice(tmp_path):
    """Two ID elements (or keys) in one record: which one was meant is unknown, so the row is
    quarantined; the next record is read normally; the reason names the field, not the values."""
    xml9 = tmp_path / "hs.xml"
    xml9.write_text(_envelope(_inner(f"<SO>1</SO><SO_CCCD_NND>{ID_A}</SO_CCCD_NND><SO_CCCD_NND>{ID_B}</SO_CCCD_NND>")),
                    encoding="utf-8")
    (row,) = _rows(read_giamdinhhs_xml9, xml9)
    assert row["_reader_error"] == "element 'SO_CCCD_NND' appears more than once in the record"
    assert row.get("SO_CCCD_NND") is None and ID_A not in str(row) and ID_B not in str(row)
    flat = tmp_path / "gcs.xml"
    flat.write_text("<R><GIAYCHUNGSINH><SO>1</SO><SO>2</SO></GIAYCHUNGSINH><GIAYCHUNGSINH><SO>3</SO></GIAYCHUNGSINH></R>",
                    encoding="utf-8")
    assert [(r["SO"], r.get("_reader_error")) for r in _rows(read_flat_document, flat)] == [
        (None, "element 'SO' appears more than once in the record"), ("3", None)]
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text(f'{{"SO": "{ID_A}", "SO": "{ID_B}"}}\n{{"SO": "3"}}\n', encoding="utf-8")
    assert [(r["SO"], r.get("_reader_error")) for r in _rows(reader("jsonl"), jsonl)] == [
        (None, "line 1 repeats the key 'SO' (which value was meant is unknown)"), ("3", None)]
    doc = tmp_path / "d.json"
    doc.write_text(f'[{{"SO": "{ID_A}", "SO": "{ID_B}"}}, {{"SO": "3"}}]', encoding="utf-8")
    rows = _rows(read_json_records, doc)
    assert [r["SO"] for r in rows] == [None, "3"]
    assert rows[0]["_reader_error"] == "record[1]: the key 'SO' appears more than once in one object"
    assert not any(ID_A in str(r) or ID_B in str(r) for r in rows)


@pytest.mark.parametrize("name", ["_batch", "_source_file", "_envelope_facility"])
def test_reserved_lineage_names_in_records_are_row_errors(tmp_path, name):
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text(json.dumps({"SO": "1", name: "x"}) + "\n" + '{"SO": "2"}\n', encoding="utf-8")
    rows = _rows(reader("jsonl"), jsonl)
    assert rows[0]["_reader_error"] and rows[1]["SO"] == "2" and name not in rows[0]
    flat = tmp_path / "gcs.xml"
    flat.write_text(f"<R><GIAYCHUNGSINH><SO>1</SO><{name}>x</{name}></GIAYCHUNGSINH></R>", encoding="utf-8")
    assert _rows(read_flat_document, flat)[0]["_reader_error"].startswith("record uses a reserved field name")


def test_a_dropped_file_cannot_choose_its_rows_references(tmp_path):
    """Only the pipeline's own SQL extract sets references (``source_refs``); in a dropped file
    ``__ref`` is an ordinary key, and a reference that is too long or holds a control character
    is replaced (a NUL would fail the PostgreSQL load)."""
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"SO": "1", "__ref": f"Nguyễn Văn A {ID_A}"}) + "\n"
                    + json.dumps({"SO": "2", "__ref": "x\u0000y"}) + "\n"
                    + json.dumps({"SO": "3", "__ref": "k" * 5000}) + "\n", encoding="utf-8")
    dropped = _rows(reader("jsonl"), path)
    assert [r["_source_ref"] for r in dropped] == ["line 1", "line 2", "line 3"]
    extracted = _rows(reader("jsonl"), path, source_refs=True)
    assert [r["_source_ref"] for r in extracted] == [f"Nguyễn Văn A {ID_A}", UNUSABLE_REF, UNUSABLE_REF]
    assert all(r["_reader_error"] is None for r in extracted)


def test_a_misshapen_csv_row_is_a_row_error_named_by_its_real_position(tmp_path, monkeypatch):
    """A record with an unquoted comma is quarantined by itself (its neighbours load, their
    references unchanged); the reason names the data row and the physical line (a quoted value
    may span lines), never the row's text, whether the file is read whole or streamed in blocks.
    A trailing line of spaces is a blank line."""
    import extractors.formats as formats
    from extractors.formats import read_csv

    path = tmp_path / "b.csv"
    path.write_text('so,ten\n1,a\n2,"b\nc"\n3,Nguyễn, Văn A\n4,d\n5,e,f\n', encoding="utf-8")
    rows = _rows(read_csv, path)
    assert [(r["so"], r["_source_ref"], r["_reader_error"]) for r in rows] == [
        ("1", "row 1", None), ("2", "row 2", None),
        (None, "row 3", "row 3 (line 5) has 3 fields where the header has 2 (an unquoted delimiter or quote?)"),
        ("4", "row 4", None),
        (None, "row 5", "row 5 (line 7) has 3 fields where the header has 2 (an unquoted delimiter or quote?)")]
    assert "Nguyễn" not in str(rows[2])
    monkeypatch.setattr(formats, "CSV_BLOCK_BYTES", 32)  # streamed: the same rows and references
    assert _with_error_column(_rows(read_csv, path)) == rows
    monkeypatch.undo()
    path.write_text("so,ten\n1,a\n2,b\n   \n", encoding="utf-8")
    assert [r["so"] for r in _rows(read_csv, path)] == ["1", "2"]


@pytest.mark.parametrize("seed", range(6))
def test_a_streamed_csv_with_misshapen_records_reads_like_a_whole_one(tmp_path, monkeypatch, seed):
    """A file over one read block streams: rows before its first misshapen record have gone
    downstream when it is found. The rest must still come out exactly as from a file read whole:
    every good row once, with its real reference, and one row error per misshapen record (first,
    last, several in a row, next to quoted line breaks), in file order."""
    import random

    import extractors.formats as formats
    from extractors.formats import read_csv

    rng = random.Random(seed)
    lines = []
    for i in range(1, 400):
        kind = rng.random()
        if kind < 0.08 or i in (1, 399):
            lines.append(f"{i},Nguyễn, Văn {i},x")  # an unquoted comma: 4 fields
        elif kind < 0.12:
            lines.append(f"{i},a")  # a field short
        elif kind < 0.3:
            lines.append(f'{i},"Số {i}\nHà Nội",y{i}')
        else:
            lines.append(f"{i},Trần Thị {i},z{i}")
    path = tmp_path / "s.csv"
    path.write_text("so,ten,ma\n" + "\n".join(lines) + "\n", encoding="utf-8")
    whole = _rows(read_csv, path)
    assert len(whole) == 399 and sum(r["_reader_error"] is not None for r in whole) >= 2
    for block in (64, 333, 2048):
        monkeypatch.setattr(formats, "CSV_BLOCK_BYTES", block)
        assert _with_error_column(_rows(read_csv, path)) == whole, block


def test_a_blank_record_is_no_record_and_does_not_cost_the_file_its_misshapen_row(tmp_path, monkeypatch):
    """A record of only delimiters and spaces (a spreadsheet's empty row: ``,,`` or `` , ``) is not a
    record: both parsers skip it, so rows keep their numbers and a misshapen record beside it is
    still a row error of its own, read whole or streamed (they used to disagree on it and the
    whole file was rejected). Its text is never in a reason."""
    import extractors.formats as formats
    from extractors.formats import read_csv

    path = tmp_path / "d.csv"
    path.write_text("so,ten\n" + "".join(f"{i},a\n" for i in range(1, 30)) + "30,SECRET,x\n , \n,\n31,b\n\t,\n",
                    encoding="utf-8")
    expected = [(str(i), f"row {i}", None) for i in range(1, 30)] + [
        (None, "row 30", "row 30 (line 31) has 3 fields where the header has 2 (an unquoted delimiter or quote?)"),
        ("31", "row 31", None)]
    for block in (1 << 20, 64):
        monkeypatch.setattr(formats, "CSV_BLOCK_BYTES", block)
        rows = _with_error_column(_rows(read_csv, path))
        assert [(r["so"], r["_source_ref"], r["_reader_error"]) for r in rows] == expected, block
        assert "SECRET" not in str([r["_reader_error"] for r in rows])
    path.write_text("so,ten\n1,a\n,\n2,b\n", encoding="utf-8")  # no misshapen record: no phantom record either
    assert [(r["so"], r["_source_ref"]) for r in _rows(read_csv, path)] == [("1", "row 1"), ("2", "row 2")]


def test_a_csv_with_classic_mac_line_ends_is_read(tmp_path):
    from extractors.formats import read_csv

    path = tmp_path / "b.csv"
    path.write_bytes("so,ten\r1,Hương\r2,b\r".encode())
    assert [(r["so"], r["ten"]) for r in _rows(read_csv, path)] == [("1", "Hương"), ("2", "b")]


def test_quoted_line_breaks_across_read_blocks(tmp_path, monkeypatch):
    """Two-line addresses in quotes: a value crossing a read-block boundary split its record and
    rejected the whole file ("CSV parse error") once the file outgrew one block (16 MiB). Blocks
    are shrunk here so that many boundaries fall inside quoted values."""
    import extractors.formats as formats
    from extractors.formats import read_csv

    monkeypatch.setattr(formats, "CSV_BLOCK_BYTES", 4096)
    path = tmp_path / "addr.csv"
    lines = [f'{i},"Số {i} phố Huế\nPhường {i % 7}, Hà Nội",x{i}' for i in range(2000)]
    path.write_text("so,dia_chi,ten\n" + "\n".join(lines) + "\n", encoding="utf-8")
    rows = _rows(read_csv, path)
    assert len(rows) == 2000
    assert rows[1234]["dia_chi"] == "Số 1234 phố Huế\nPhường 2, Hà Nội" and rows[1234]["_source_ref"] == "row 1235"


@pytest.mark.parametrize("blank", ["\xa0", " " * 40 + ",", ",,", "\u3000,\t", '"",'])
def test_any_blank_record_is_skipped_alike_by_both_parsers(tmp_path, monkeypatch, blank):
    """Unicode spaces, a long run of spaces, or more delimiters than the header has: still no
    record, whole and streamed, beside a misshapen row (found by review: each of these made the
    two parsers disagree and rejected the file)."""
    import extractors.formats as formats
    from extractors.formats import read_csv

    path = tmp_path / "b.csv"
    good = "".join(f"{i},ab{i}\n" for i in range(1, 9))
    path.write_text(f"so,ten\n{good}{blank}\n30,x,y\n9,b\n", encoding="utf-8")
    assert path.stat().st_size > 64
    expected = [(str(i), f"row {i}", None) for i in range(1, 9)] + [
        (None, "row 9", "row 9 (line 11) has 3 fields where the header has 2 (an unquoted delimiter or quote?)"),
        ("9", "row 10", None)]
    for block in (1 << 20, 64):
        monkeypatch.setattr(formats, "CSV_BLOCK_BYTES", block)
        rows = _with_error_column(_rows(read_csv, path))
        assert [(r["so"], r["_source_ref"], r["_reader_error"]) for r in rows] == expected, (blank, block)
