import base64
import codecs
import unicodedata

import pytest

from extractors.formats import FileRejected, detect_encoding, read_csv, read_flat_document, read_giamdinhhs_xml9

INNER = (
    "<CHI_TIEU_DU_LIEU_GIAY_CHUNG_SINH><DSACH_GIAYCHUNGSINH>"
    "<DU_LIEU_GIAY_CHUNG_SINH><MA_LK>LK1</MA_LK><SO>00001.GCS.01929.26</SO><HO_TEN_NND>Lê Thị A</HO_TEN_NND></DU_LIEU_GIAY_CHUNG_SINH>"
    "<DU_LIEU_GIAY_CHUNG_SINH><MA_LK>LK1</MA_LK><SO>00002.GCS.01929.26</SO><HO_TEN_NND>Lê Thị A</HO_TEN_NND></DU_LIEU_GIAY_CHUNG_SINH>"
    "</DSACH_GIAYCHUNGSINH></CHI_TIEU_DU_LIEU_GIAY_CHUNG_SINH>"
)


def _envelope(*contents: str) -> str:
    hoso = "".join(
        f"<HOSO><FILEHOSO><LOAIHOSO>XML1</LOAIHOSO><NOIDUNGFILE>{base64.b64encode(b'<x/>').decode()}</NOIDUNGFILE></FILEHOSO>"
        f"<FILEHOSO><LOAIHOSO>XML9</LOAIHOSO><NOIDUNGFILE>{c}</NOIDUNGFILE></FILEHOSO></HOSO>"
        for c in contents
    )
    return (f"<?xml version='1.0' encoding='utf-8'?><GIAMDINHHS><THONGTINDONVI><MACSKCB>01929</MACSKCB></THONGTINDONVI>"
            f"<THONGTINHOSO><NGAYLAP>20261121</NGAYLAP><DANHSACHHOSO>{hoso}</DANHSACHHOSO></THONGTINHOSO><CHUKYDONVI/></GIAMDINHHS>")


def test_xml9_envelope_twins_and_refs(tmp_path):
    p = tmp_path / "a.xml"
    p.write_text(_envelope(base64.b64encode(INNER.encode()).decode()), encoding="utf-8")
    (table,) = list(read_giamdinhhs_xml9(p, 1000))
    rows = table.to_pylist()
    assert [r["_source_ref"] for r in rows] == ["HOSO[1]/DU_LIEU_GIAY_CHUNG_SINH[1]", "HOSO[1]/DU_LIEU_GIAY_CHUNG_SINH[2]"]
    assert {r["MA_LK"] for r in rows} == {"LK1"} and rows[0]["_envelope_facility"] == "01929"


def test_xml9_bad_base64_is_a_row_error_not_a_file_error(tmp_path):
    good = base64.b64encode(INNER.encode()).decode()
    p = tmp_path / "a.xml"
    p.write_text(_envelope("!!!notbase64", good), encoding="utf-8")
    rows = next(iter(read_giamdinhhs_xml9(p, 1000))).to_pylist()
    assert rows[0]["_reader_error"] == "NOIDUNGFILE is not valid base64"
    assert rows[0]["_source_ref"] == "HOSO[1]"
    assert len(rows) == 3


def test_xml9_base64_wrapped_in_lines_or_indented_reads_and_bad_padding_does_not(tmp_path):
    """XML base64 may carry white space: MIME-style exporters wrap at 76 characters (LF or CRLF)."""
    wrapped = base64.encodebytes(INNER.encode()).decode()  # 76-character lines, LF
    assert "\n" in wrapped.strip()
    crlf = "\r\n    ".join(wrapped.splitlines())
    no_padding = base64.b64encode(INNER.encode() + b" ").decode().rstrip("=")
    p = tmp_path / "a.xml"
    p.write_text(_envelope(wrapped, crlf, no_padding, "QUJD\u00a0REVG"), encoding="utf-8")
    rows = next(iter(read_giamdinhhs_xml9(p, 1000))).to_pylist()
    assert [r["_source_ref"] for r in rows if r["_reader_error"] is None] == [
        "HOSO[1]/DU_LIEU_GIAY_CHUNG_SINH[1]", "HOSO[1]/DU_LIEU_GIAY_CHUNG_SINH[2]",
        "HOSO[2]/DU_LIEU_GIAY_CHUNG_SINH[1]", "HOSO[2]/DU_LIEU_GIAY_CHUNG_SINH[2]"]
    assert [(r["_source_ref"], r["_reader_error"]) for r in rows if r["_reader_error"]] == [
        ("HOSO[3]", "NOIDUNGFILE is not valid base64"), ("HOSO[4]", "NOIDUNGFILE is not valid base64")]


def test_truncated_xml_rejects_file_without_content_in_reason(tmp_path):
    p = tmp_path / "t.xml"
    p.write_text(_envelope(base64.b64encode(INNER.encode()).decode())[:-40], encoding="utf-8")
    with pytest.raises(FileRejected) as err:
        list(read_giamdinhhs_xml9(p, 1000))
    assert "not well-formed" in err.value.reason and "Lê" not in err.value.reason


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param('<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><HSDLGCS><GIAYCHUNGSINH><MA_GCS>&b;</MA_GCS></GIAYCHUNGSINH></HSDLGCS>', id="entity-expansion"),
        pytest.param('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><HSDLGCS><GIAYCHUNGSINH><MA_GCS>&e;</MA_GCS></GIAYCHUNGSINH></HSDLGCS>', id="external-entity"),
    ],
)
def test_dtd_and_entities_forbidden(tmp_path, payload):
    p = tmp_path / "evil.xml"
    p.write_text(payload, encoding="utf-8")
    with pytest.raises(FileRejected, match="DTD or entities"):
        list(read_flat_document(p, 10))


def test_flat_pl02_document(tmp_path):
    p = tmp_path / "g.xml"
    p.write_text('<HSDLGCS><GIAYCHUNGSINH Id="Id-1"><MA_GCS>00001.GCS.01929.26</MA_GCS><CAP_LAN_DAU>1</CAP_LAN_DAU>'
                 "</GIAYCHUNGSINH><CHUKYDONVI/></HSDLGCS>", encoding="utf-8")
    (table,) = list(read_flat_document(p, 10))
    assert table.to_pylist() == [{"MA_GCS": "00001.GCS.01929.26", "CAP_LAN_DAU": "1", "_source_ref": "GIAYCHUNGSINH[1]"}]


def _cp1258_bytes(text: str) -> bytes:
    # cp1258 holds base letters with circumflex/breve/horn precomposed and tone marks combining.
    decomposed = unicodedata.normalize("NFD", text)
    out = []
    for ch in decomposed:
        out.append(ch)
    composed = unicodedata.normalize("NFC", "".join(out))
    result = bytearray()
    for ch in composed:
        try:
            result += ch.encode("cp1258")
        except UnicodeEncodeError:
            base, *marks = unicodedata.normalize("NFD", ch)
            base_c = unicodedata.normalize("NFC", base + "".join(m for m in marks if m in "\u0302\u0306\u031b"))
            result += base_c.encode("cp1258") + "".join(m for m in marks if m not in "\u0302\u0306\u031b").encode("cp1258")
    return bytes(result)


def test_csv_cp1258_detected_and_leading_zeros_kept(tmp_path):
    p = tmp_path / "a.csv"
    p.write_bytes(_cp1258_bytes("ma_gcs,ho_ten_me,so_cccd_me\n00001.GCS.01929.26,Nguyễn Thị Hương,001190012345\n"))
    assert detect_encoding(p) == "cp1258"
    (table,) = list(read_csv(p, 100))
    row = table.to_pylist()[0]
    assert unicodedata.normalize("NFC", row["ho_ten_me"]) == "Nguyễn Thị Hương"
    assert row["so_cccd_me"] == "001190012345" and row["_source_ref"] == "row 1"


def test_csv_utf8_bom(tmp_path):
    p = tmp_path / "b.csv"
    p.write_bytes(codecs.BOM_UTF8 + "ma_gcs,ho_ten_me\nX,Đặng\n".encode())
    assert detect_encoding(p) == "utf-8-sig"
    assert next(iter(read_csv(p, 100))).column_names == ["ma_gcs", "ho_ten_me", "_source_ref"]


def test_csv_shape_error_names_no_data(tmp_path, monkeypatch):
    p = tmp_path / "c.csv"
    p.write_text("a,b\n1,2\nSECRET-VALUE,3,4\n", encoding="utf-8")
    rows = [r for t in read_csv(p, 100) for r in t.to_pylist()]  # within one read block: a row error
    assert rows[1]["_reader_error"] == "row 2 (line 3) has 3 fields where the header has 2 (an unquoted delimiter or quote?)"
    assert "SECRET" not in str(rows[1])
    import extractors.formats as formats

    monkeypatch.setattr(formats, "CSV_BLOCK_BYTES", 20)  # a file over one block streams: the same row error
    streamed = [r for t in read_csv(p, 100) for r in t.to_pylist()]
    assert [{**r, "_reader_error": r.get("_reader_error")} for r in streamed] == rows and "SECRET" not in str(streamed)


@pytest.mark.parametrize("streamed", [False, True], ids=["one-block", "streamed"])
def test_csv_separated_by_semicolons_or_tabs_reads_like_commas(tmp_path, monkeypatch, streamed):
    """A spreadsheet saves "CSV" with its locale's list separator: a semicolon where the decimal
    mark is a comma (Vietnamese Windows), a tab for "Unicode text" (UTF-16). The header decides;
    quoting, blank lines and misshapen records work as with commas."""
    import extractors.formats as formats

    if streamed:
        monkeypatch.setattr(formats, "CSV_BLOCK_BYTES", 40)
    text = 'ma_gcs;ho_ten_me;ghi_chu\n00001.GCS.01929.26;Nguyễn Thị Hương;"a; b"\n;;\nX;Y\n00002;Lê Thị Hoa;\n'
    semi = tmp_path / "semi.csv"
    semi.write_bytes(codecs.BOM_UTF8 + text.encode())
    rows = [r for t in read_csv(semi, 100) for r in t.to_pylist()]
    assert [(r["ma_gcs"], r["ho_ten_me"], r["ghi_chu"], r["_source_ref"]) for r in rows] == [
        ("00001.GCS.01929.26", "Nguyễn Thị Hương", "a; b", "row 1"), (None, None, None, "row 2"),
        ("00002", "Lê Thị Hoa", "", "row 3")]
    assert rows[1]["_reader_error"] == "row 2 (line 4) has 2 fields where the header has 3 (an unquoted delimiter or quote?)"
    tab = tmp_path / "unicode_text.csv"
    tab.write_bytes(text.replace(";", "\t").replace('"a\t b"', '"a; b"').encode("utf-16"))
    assert [r for t in read_csv(tab, 100) for r in t.to_pylist()] == rows


@pytest.mark.parametrize("streamed", [False, True], ids=["one-block", "streamed"])
def test_csv_excel_separator_hint_line(tmp_path, monkeypatch, streamed):
    """Tools that export for Excel write ``sep=;`` before the header: that is the separator, the
    next line is the header, and references and misshapen-row lines still count from the file."""
    import extractors.formats as formats

    if streamed:
        monkeypatch.setattr(formats, "CSV_BLOCK_BYTES", 40)
    path = tmp_path / "hint.csv"
    path.write_text('sep=;\r\nma_gcs;ho_ten_me\r\n00001;"Lê; Thị"\r\nX;Y;Z\r\n00002;B\r\n', encoding="utf-8")
    rows = [r for t in read_csv(path, 100) for r in t.to_pylist()]
    assert [(r["ma_gcs"], r["ho_ten_me"], r["_source_ref"]) for r in rows] == [
        ("00001", "Lê; Thị", "row 1"), (None, None, "row 2"), ("00002", "B", "row 3")]
    assert rows[1]["_reader_error"] == "row 2 (line 4) has 3 fields where the header has 2 (an unquoted delimiter or quote?)"
    comma = tmp_path / "hint_comma.csv"
    comma.write_text("sep=,\nma_gcs,ho_ten_me\n1,A\n", encoding="utf-8")
    assert [r["ho_ten_me"] for t in read_csv(comma, 100) for r in t.to_pylist()] == ["A"]
    bar = tmp_path / "hint_bar.csv"
    bar.write_text("sep=|\nma_gcs|ho_ten_me\n1|A\n", encoding="utf-8")
    assert [r["ho_ten_me"] for t in read_csv(bar, 100) for r in t.to_pylist()] == ["A"]
    # "sep=" with anything but a field separator is no hint: the line is the header (a quote or
    # a letter as the separator would mangle every record)
    odd = tmp_path / "hint_quote.csv"
    odd.write_text('sep="\nma_gcs,ho_ten_me\n1,A\n', encoding="utf-8")
    assert next(iter(read_csv(odd, 100))).column_names[0] == 'sep="'


def test_csv_a_comma_header_keeps_the_comma(tmp_path):
    """Only a header without a comma can choose another separator: one comma column, or a name
    holding a semicolon, keeps the comma (and data rows never decide)."""
    one = tmp_path / "one.csv"
    one.write_text("ma_gcs\n00001;x\n", encoding="utf-8")
    assert [r["ma_gcs"] for t in read_csv(one, 100) for r in t.to_pylist()] == ["00001;x"]
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("a;b,c\n1;2,3\n", encoding="utf-8")
    assert next(iter(read_csv(mixed, 100))).column_names == ["a;b", "c", "_source_ref"]


def test_csv_larger_than_the_sniff_block_with_a_multibyte_character_on_its_edge(tmp_path):
    """The header sniff reads 1 MiB; a Vietnamese character cut by that boundary must not reject
    the file (it did: 'CSV header is not valid utf-8')."""
    from extractors.formats import SNIFF_BYTES, read_csv

    header = b"ma,ten\n"
    filler = b"0," + b"a" * (SNIFF_BYTES - 7 - len(header) - 3) + b"\n"
    row = "1,Nguyễn\n".encode()
    data = header + filler + row * 1000
    assert data[SNIFF_BYTES - 1:SNIFF_BYTES + 2] == "ễ".encode()  # cut after its first byte
    path = tmp_path / "big.csv"
    path.write_bytes(data)
    assert sum(t.num_rows for t in read_csv(path, 100_000)) == 1001


def test_every_json_channel_gives_the_same_strings(tmp_path):
    """A gksk object as a JSON line, inside an API page and inside a register export: identical
    strings (numbers as written, flags 1/0; an object where one value belongs is no value, its
    field named in ``_nested_fields``), so its record hash does not depend on the channel it
    came through."""
    import json

    from extractors.formats import read_json_records
    from extractors.rest_api import read_json_pages
    from extractors.sql.jsonl import read_jsonl

    line = '{"SO": "00012", "MATUY": 1, "NONGDOCON": 0.0, "W": 3.10, "OK": true, "N": null, "X": {"b": 1, "a": [2.50]}}'
    (tmp_path / "a.jsonl").write_text(line + "\n", encoding="utf-8")
    (tmp_path / "page-00001.json").write_text('{"data": [' + line + "]}", encoding="utf-8")
    (tmp_path / "export.json").write_text('{"nhanVien": [' + line + "]}", encoding="utf-8")
    drop = lambda t: {k: v for k, v in t.to_pylist()[0].items()  # noqa: E731
                      if not k.startswith("_") or k == "_nested_fields"}
    got = [drop(next(read_jsonl(tmp_path / "a.jsonl", 10))),
           drop(next(read_json_pages(tmp_path / "page-00001.json", 10))),
           drop(next(read_json_records(tmp_path / "export.json", 10, records_key="nhanVien")))]
    expected = {"SO": "00012", "MATUY": "1", "NONGDOCON": "0.0", "W": "3.10", "OK": "1", "N": None,
                "X": None, "_nested_fields": "\x1fX\x1f"}
    assert got == [expected] * 3
    assert json.loads(line)["X"] == {"b": 1, "a": [2.5]}  # what was sent, and is not loaded as text


def test_json_export_reader_refs_errors_and_rejection(tmp_path):
    from extractors.formats import FileRejected, read_json_records

    path = tmp_path / "export.json"
    path.write_text('{"maCSKCB": "46001", "nhanVien": [{"hoTen": "Lê Thị Hoa"}, 7, {"hoTen": "B"}]}', encoding="utf-8")
    tables = list(read_json_records(path, 2, records_key="nhanVien"))
    rows = [r for t in tables for r in t.to_pylist()]
    assert [t.num_rows for t in tables] == [2, 1]
    assert [r["_source_ref"] for r in rows] == ["nhanVien[1]", "nhanVien[2]", "nhanVien[3]"]
    assert rows[1]["_reader_error"] == "nhanVien[2] is not a JSON object" and rows[0]["hoTen"] == "Lê Thị Hoa"
    path.write_text('{"nhanVien": [{"hoTen": "Lê Thị', encoding="utf-8")
    with pytest.raises(FileRejected, match="truncated") as err:
        list(read_json_records(path, 2, records_key="nhanVien"))
    assert "Lê" not in err.value.reason
    path.write_text('{"other": []}', encoding="utf-8")
    with pytest.raises(FileRejected, match="no 'nhanVien' list"):
        list(read_json_records(path, 2, records_key="nhanVien"))
    # Only the list, without its wrapper (what many exporting tools write): read as that list.
    path.write_text('[{"hoTen": "Lê Thị Hoa"}, 7, {"hoTen": "B"}]', encoding="utf-8")
    bare = [r for t in read_json_records(path, 2, records_key="nhanVien") for r in t.to_pylist()]
    assert [r["_source_ref"] for r in bare] == ["record[1]", "record[2]", "record[3]"]
    assert [r["hoTen"] for r in bare] == ["Lê Thị Hoa", None, "B"] and bare[1]["_reader_error"] == "record[2] is not a JSON object"
    from extractors.formats import read_json_document  # a REST page keeps its wrapper

    with pytest.raises(FileRejected, match="no 'data' list"):
        list(read_json_document.__wrapped__(path, 2, records_key="data", what="API page"))


@pytest.mark.parametrize("text", [
    '[\n  {"SOGIAYKHAM": "1"},\n  {"SOGIAYKHAM": "2"}\n]\n',  # json.dumps(records, indent=2)
    '{\n  "SOGIAYKHAM": "1"\n}\n',  # one pretty-printed object
    '\ufeff[{"SOGIAYKHAM": "1"}, {"SOGIAYKHAM": "2"}]\n',  # an array on one line, after a BOM
    '\n\n  [\n{"SOGIAYKHAM": "1"}\n]',  # blank lines first
])
def test_a_json_document_delivered_as_json_lines_is_one_file_rejection(tmp_path, text):
    from extractors.sql.jsonl import read_jsonl

    path = tmp_path / "a.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FileRejected) as err:
        list(read_jsonl(path, 10))
    assert "not JSON Lines" in err.value.reason and "SOGIAYKHAM" not in err.value.reason


def test_json_lines_with_a_broken_line_keep_their_row_errors(tmp_path):
    from extractors.sql.jsonl import read_jsonl

    path = tmp_path / "b.jsonl"
    path.write_text('{"A": "1"}\n{"A": \n{"A": "3"}\n', encoding="utf-8")
    rows = [r for t in read_jsonl(path, 10) for r in t.to_pylist()]
    assert [(r["A"], r["_reader_error"]) for r in rows] == [
        ("1", None), (None, "line 2 is not a valid JSON object"), ("3", None)]


def test_a_field_holding_elements_is_a_row_error_not_an_empty_value(tmp_path):
    """The records are flat: an identity number sent as ``<SO_CCCD_NND><SO>…</SO></SO_CCCD_NND>``
    would otherwise load with the field empty, without a word. Its record is a row error naming
    the element (never its content); the records beside it load."""
    p = tmp_path / "f.xml"
    p.write_text("<?xml version='1.0' encoding='utf-8'?><HSDLGCS>"
                 "<GIAYCHUNGSINH Id='Id-1'><MA_GCS>1</MA_GCS></GIAYCHUNGSINH>"
                 "<GIAYCHUNGSINH Id='Id-2'><MA_GCS>2</MA_GCS><SO_CCCD_NND><SO>001195700001</SO></SO_CCCD_NND>"
                 "</GIAYCHUNGSINH>"
                 "<GIAYCHUNGSINH Id='Id-3'><MA_GCS>3</MA_GCS></GIAYCHUNGSINH><CHUKYDONVI/></HSDLGCS>", encoding="utf-8")
    rows = [r for t in read_flat_document(p, 100) for r in t.to_pylist()]
    assert [(r["MA_GCS"], r.get("_reader_error")) for r in rows] == [
        ("1", None),
        (None, "element 'SO_CCCD_NND' holds other elements instead of a value (a field must be plain text)"),
        ("3", None)]
    assert "001195700001" not in str(rows)
    nested_inner = INNER.replace("<HO_TEN_NND>Lê Thị A</HO_TEN_NND></DU_LIEU", "<HO_TEN_NND><HO>Lê</HO></HO_TEN_NND></DU_LIEU", 1)
    p.write_text(_envelope(base64.b64encode(nested_inner.encode()).decode()), encoding="utf-8")
    rows = next(iter(read_giamdinhhs_xml9(p, 1000))).to_pylist()
    assert [r["_reader_error"] is not None for r in rows] == [True, False]


def test_records_converted_in_parts_read_exactly_as_in_one(tmp_path, monkeypatch):
    """The readers convert every ROWS_PER_PART records to Arrow as they go: a chunk made of parts
    whose fields differ (a field first seen in a later part, one missing in between, row errors
    in one part only, the envelope's lineage column) reads exactly as when it is one part."""
    import random

    import extractors.formats as formats

    rng = random.Random(7)
    records = []
    for i in range(1, 60):
        fields = [f"<MA_GCS>{i}</MA_GCS>"]
        if rng.random() < 0.7:
            fields.append(f"<HO_TEN>Nguyễn {i}</HO_TEN>")
        if i > 20 and rng.random() < 0.5:
            fields.append(f"<GHI_CHU>g{i}</GHI_CHU>")  # a field first seen in a later part
        if i in (5, 6, 41):
            fields.append("<MA_GCS>again</MA_GCS>")  # a repeated field: a row error
        records.append(f"<GIAYCHUNGSINH>{''.join(fields)}</GIAYCHUNGSINH>")
    p = tmp_path / "f.xml"
    p.write_text(f"<HSDLGCS>{''.join(records)}<CHUKYDONVI/></HSDLGCS>", encoding="utf-8")
    x9 = tmp_path / "x9.xml"
    x9.write_text(_envelope(*[base64.b64encode(INNER.encode()).decode()] * 9, "!!bad"), encoding="utf-8")

    def read(path, reader):
        return [t for t in reader(path, 25)]

    whole = {n: read(path, r) for n, path, r in (("flat", p, read_flat_document), ("xml9", x9, read_giamdinhhs_xml9))}
    monkeypatch.setattr(formats, "ROWS_PER_PART", 4)
    for name, path, reader in (("flat", p, read_flat_document), ("xml9", x9, read_giamdinhhs_xml9)):
        parts = read(path, reader)
        assert [t.column_names for t in parts] == [t.column_names for t in whole[name]], name
        assert [t.to_pylist() for t in parts] == [t.to_pylist() for t in whole[name]], name
    flat = [r for t in whole["flat"] for r in t.to_pylist()]
    assert len(flat) == 59 and sum(r.get("_reader_error") is not None for r in flat) == 3
    assert [len(t) for t in whole["flat"]] == [25, 25, 9]


def test_xml_readers_name_the_first_records_fields_held_in_attributes(tmp_path):
    """A leaf field with attributes and no text in a file's first record is named in the chunks'
    schema metadata (the shard turns it into a note on the file); ``xsi:nil`` marks an empty
    value on purpose and is not counted; a field with text and an attribute reads as usual."""
    from extractors.formats import ATTRIBUTE_FIELDS_KEY

    xsi = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
    flat = tmp_path / "f.xml"
    flat.write_text(f'<HSDLGCS {xsi}><GIAYCHUNGSINH><MA_GCS kieu="so">1</MA_GCS><CAN_NANG value="3200"/>'
                    '<GHI_CHU xsi:nil="true"/><HO_TEN/></GIAYCHUNGSINH>'
                    '<GIAYCHUNGSINH><MA_GCS>2</MA_GCS><CAN_NANG>3100</CAN_NANG></GIAYCHUNGSINH></HSDLGCS>',
                    encoding="utf-8")
    (table,) = read_flat_document(flat, 100)
    assert table.schema.metadata[ATTRIBUTE_FIELDS_KEY] == b"CAN_NANG"
    assert table.column("MA_GCS").to_pylist() == ["1", "2"] and table.column("CAN_NANG").to_pylist() == ["", "3100"]
    inner = INNER.replace("<HO_TEN_NND>Lê Thị A</HO_TEN_NND>", '<HO_TEN_NND v="x"/>', 1)
    x9 = tmp_path / "x9.xml"
    x9.write_text(_envelope(base64.b64encode(inner.encode()).decode()), encoding="utf-8")
    (table,) = read_giamdinhhs_xml9(x9, 100)
    assert table.schema.metadata[ATTRIBUTE_FIELDS_KEY] == b"HO_TEN_NND"
    clean = tmp_path / "c.xml"
    clean.write_text(_envelope(base64.b64encode(INNER.encode()).decode()), encoding="utf-8")
    (table,) = read_giamdinhhs_xml9(clean, 100)
    assert ATTRIBUTE_FIELDS_KEY not in (table.schema.metadata or {})


def test_an_unpaired_surrogate_escape_in_json_is_a_row_error(tmp_path):
    """JSON may escape a lone surrogate (``"\\ud800"``); Python keeps it, and Arrow, hashing and the
    database all refuse it: the whole batch or page failed. It is that record's row error now,
    in a JSON document, in JSON Lines (a value or a key), and a valid pair still reads."""
    from extractors.formats import read_json_records
    from extractors.sql.jsonl import read_jsonl

    doc = tmp_path / "a.json"
    doc.write_text('{"data": [{"A": "1"}, {"A": "x\\ud800y"}, {"A": "\\ud83d\\ude00"}]}', encoding="utf-8")
    rows = [r for t in read_json_records(doc, 10, records_key="data") for r in t.to_pylist()]
    assert [(r["A"], r.get("_reader_error")) for r in rows] == [
        ("1", None), (None, "data[2] holds an invalid Unicode escape (an unpaired surrogate, \\ud800-\\udfff)"),
        ("\U0001f600", None)]
    lines = tmp_path / "b.jsonl"
    lines.write_text('{"A": "1"}\n{"A": "\\udfff"}\n{"\\ud800": "2"}\n{"A": "3"}\n', encoding="utf-8")
    rows = [r for t in read_jsonl(lines, 10) for r in t.to_pylist()]
    assert [(r["A"], r["_reader_error"]) for r in rows] == [
        ("1", None), (None, "line 2 holds an invalid Unicode escape (an unpaired surrogate, \\ud800-\\udfff)"),
        (None, "line 3 holds an invalid Unicode escape (an unpaired surrogate, \\ud800-\\udfff)"), ("3", None)]
