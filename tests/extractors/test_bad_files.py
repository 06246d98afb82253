"""A bad file stays a bad file: each class is rejected whole with a reason that names no content,
or - for a bad value - only its row gets a reader error (quarantined under ENVELOPE)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from extractors.formats import (
    FileRejected,
    decide_encoding,
    read_csv,
    read_flat_document,
    read_giamdinhhs_xml9,
    read_json_document,
    read_json_records,
    reader,
)

REPO = Path(__file__).resolve().parents[2]
NAME = "Nguyễn Thị Hương"


def _rows(read, path, **kw):
    return [r for t in read(path, 1000, **kw) for r in t.to_pylist()]


def _reject(read, path, **kw) -> str:
    with pytest.raises(FileRejected) as err:
        _rows(read, path, **kw)
    assert NAME not in err.value.reason and "SECRET" not in err.value.reason
    return err.value.reason


# ---------------------------------------------------------------- CSV headers and bodies


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b"ma_gcs,ho_ten,ma_gcs\n1,SECRET,2\n", "CSV header repeats a column name (columns 1 and 3)",
                     id="duplicated-column"),
        pytest.param(b'ma_gcs,"ho_ten\n1,SECRET\n', "CSV header does not parse", id="unclosed-quote"),
        pytest.param(b"ma_gcs,_reader_error\n1,SECRET\n", "reserved column name", id="reserved-column"),
        pytest.param(b"ma\x01gcs,ho_ten\n1,SECRET\n", "CSV header contains a control character", id="control-in-header"),
        pytest.param(b"\n\nma_gcs\n1\n", "CSV header line is empty", id="blank-first-line"),
    ],
)
def test_csv_header_problems_reject_the_file(tmp_path, content, expected):
    path = tmp_path / "h.csv"
    path.write_bytes(content)
    assert expected in _reject(read_csv, path)


def test_csv_first_line_over_one_mib(tmp_path):
    path = tmp_path / "long.csv"
    path.write_bytes(b"a" * (2 << 20) + b"\n1\n")
    assert _reject(read_csv, path) == "CSV header line is longer than 1 MiB"
    path.write_bytes(b"sep=;\n" + b"a" * (2 << 20) + b"\n1\n")  # the header after Excel's hint line
    assert _reject(read_csv, path) == "CSV header line is longer than 1 MiB"


def test_csv_header_over_the_column_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("S06_MAX_COLUMNS", "5")
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(6)) + "\n" + ",".join("1" * 6) + "\n")
    assert "CSV header has 6 columns, over the limit of 5" in _reject(read_csv, path)


@pytest.mark.parametrize("size", [0, 3 << 20])
def test_all_zero_file_is_empty_or_binary(tmp_path, size):
    path = tmp_path / "zeros.csv"
    path.write_bytes(b"\x00" * size)
    reason = _reject(read_csv, path)
    assert reason == "empty file" if size == 0 else reason.startswith("binary content, not a text file")


def test_random_binary_file_is_binary(tmp_path):
    import random

    rng = random.Random(7)
    path = tmp_path / "blob.json"
    path.write_bytes(bytes(rng.randrange(256) for _ in range(200_000)))
    assert _reject(read_json_records, path).startswith("binary content")


def test_utf8_file_with_one_bad_byte_is_reported_as_utf8_at_its_offset(tmp_path):
    body = "ma_gcs,ho_ten\n" + "".join(f"{i:05d},{NAME}\n" for i in range(200))
    data = bytearray(body.encode("utf-8"))
    offset = data.index(b"00150,")  # an ASCII digit: the bad byte is exactly there
    data[offset] = 0xFF
    path = tmp_path / "u.csv"
    path.write_bytes(bytes(data))
    decision = decide_encoding(path)
    assert (decision.encoding, decision.source) == ("utf-8", "detected")
    reason = _reject(read_csv, path)
    assert f"invalid UTF-8 at byte {offset}" in reason and "(encoding UTF-8 (detected))" in reason
    assert "cp1258" not in reason


def test_utf8_bad_byte_beyond_the_sniff_block(tmp_path):
    rows = "".join(f"{i:07d},{NAME}\n" for i in range(60_000))
    data = bytearray(("ma,ten\n" + rows).encode())
    offset = len(data) - 100
    data[offset] = 0xC3  # a lead byte followed by ASCII: invalid
    data[offset + 1] = ord("A")
    path = tmp_path / "big.csv"
    path.write_bytes(bytes(data))
    assert f"invalid UTF-8 at byte {offset}" in _reject(read_csv, path)


def test_declared_encoding_is_said_to_be_declared(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes("ma,ten\n1,Hương\n".encode("cp1258"))  # not UTF-8 either: the declaration stands
    reason = _reject(read_csv, path, encoding="ascii")
    assert "invalid ascii at byte" in reason and "declared in the registry" in reason


def test_a_legacy_declaration_on_a_valid_utf8_file_reads_it_as_utf8(tmp_path):
    path = tmp_path / "u.csv"
    path.write_bytes("ma,ten\n1,Hương\n".encode())
    decision = decide_encoding(path, "cp1258")
    assert (decision.encoding, decision.source) == ("utf-8", "utf8_over_declared")
    assert _rows(read_csv, path, encoding="cp1258")[0]["ten"] == "Hương"
    assert decide_encoding(path, "utf8").source == "declared"  # a UTF-8 declaration is simply right
    path.write_bytes(b"ma,ten\n1,Huong\n")  # ASCII only: nothing says the declaration is wrong
    assert decide_encoding(path, "cp1258").encoding == "cp1258"


def test_cp1258_file_is_still_detected_as_cp1258(tmp_path):
    path = tmp_path / "c.csv"
    path.write_bytes("ma,ten\n1,Nguy\u00ean\u0303n\n".encode("cp1258"))
    assert decide_encoding(path).encoding == "cp1258"
    assert _rows(read_csv, path)[0]["ma"] == "1"


def test_csv_value_longer_than_the_read_block_is_a_row_error(tmp_path):
    """A 17 MiB value (longer than the 16 MiB CSV block): that row gets a reader error."""
    path = tmp_path / "huge.csv"
    path.write_bytes(b"a,b\n1,2\n" + b"3," + b"x" * (17 << 20) + b"\n4,5\n")
    rows = _rows(read_csv, path)
    assert [r["a"] for r in rows] == ["1", "3", "4"]
    assert rows[1]["_reader_error"] == "value of column 'b' is longer than 32768 characters (S06_MAX_VALUE_CHARS)"
    assert rows[1]["b"] is None and rows[2]["_reader_error"] is None


# ---------------------------------------------------------------- per-row value checks


def _xml9(children: str) -> str:
    inner = f"<R><DU_LIEU_GIAY_CHUNG_SINH>{children}</DU_LIEU_GIAY_CHUNG_SINH></R>".encode()
    good = b"<R><DU_LIEU_GIAY_CHUNG_SINH><SO>ok</SO><TEN>b</TEN></DU_LIEU_GIAY_CHUNG_SINH></R>"
    hoso = "".join(f"<HOSO><FILEHOSO><LOAIHOSO>XML9</LOAIHOSO><NOIDUNGFILE>{base64.b64encode(d).decode()}"
                   "</NOIDUNGFILE></FILEHOSO></HOSO>" for d in (inner, good))
    return f"<GIAMDINHHS><MACSKCB>01929</MACSKCB>{hoso}</GIAMDINHHS>"


FORMATS = {
    "csv": ("x.csv", lambda v: f"SO,TEN\nbad,{v}\nok,b\n", read_csv, {}),
    "json": ("x.json", lambda v: json.dumps([{"SO": "bad", "TEN": v}, {"SO": "ok", "TEN": "b"}]), read_json_records, {}),
    "jsonl": ("x.jsonl", lambda v: json.dumps({"SO": "bad", "TEN": v}) + "\n" + '{"SO": "ok", "TEN": "b"}\n',
              reader("jsonl"), {}),
    "flat": ("x.xml", lambda v: f"<HSDLGCS><GIAYCHUNGSINH><SO>bad</SO><TEN>{v}</TEN></GIAYCHUNGSINH>"
                                "<GIAYCHUNGSINH><SO>ok</SO><TEN>b</TEN></GIAYCHUNGSINH></HSDLGCS>", read_flat_document, {}),
    "xml9": ("x.xml", lambda v: _xml9(f"<SO>bad</SO><TEN>{v}</TEN>"), read_giamdinhhs_xml9, {}),
}


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_value_over_the_limit_is_a_row_error_naming_the_column(tmp_path, monkeypatch, fmt):
    monkeypatch.setenv("S06_MAX_VALUE_CHARS", "100")
    name, render, read, kw = FORMATS[fmt]
    path = tmp_path / name
    path.write_text(render("SECRET" * 50), encoding="utf-8")
    rows = _rows(read, path, **kw)
    bad = next(r for r in rows if (r["_reader_error"] and "TEN" in r["_reader_error"]) or r.get("SO") == "bad")
    assert "value of column 'TEN' is longer than 100 characters" in bad["_reader_error"]
    assert bad["TEN"] is None  # blanked: never reaches a database
    assert not any("SECRET" in str(v) for r in rows for v in r.values())
    good = next(r for r in rows if r.get("SO") == "ok")
    assert good["_reader_error"] is None and good["TEN"] == "b"


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b"])
def test_control_character_in_a_value_is_a_row_error(tmp_path, fmt, char):
    name, render, read, kw = FORMATS[fmt]
    path = tmp_path / name
    text = render(f"SECRET{char}x")
    path.write_bytes(text.encode("utf-8"))
    rows = _rows(read, path, **kw)
    bad = next(r for r in rows if r["_reader_error"])
    assert bad["_reader_error"] == "value of column 'TEN' contains a control character (U+0000-U+001F other than tab, CR, LF)"
    assert bad["TEN"] is None
    assert [r["SO"] for r in rows if not r["_reader_error"]] == ["ok"]


def test_tab_cr_lf_are_not_control_errors(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps([{"SO": "1", "TEN": "a\tb\r\nc"}]), encoding="utf-8")
    (row,) = _rows(read_json_records, path)
    assert row["TEN"] == "a\tb\r\nc" and row.get("_reader_error") is None


@pytest.mark.parametrize("fmt", ["json", "flat"])
def test_record_with_too_many_fields_is_a_row_error(tmp_path, monkeypatch, fmt):
    monkeypatch.setenv("S06_MAX_COLUMNS", "10")
    path = tmp_path / ("w.json" if fmt == "json" else "w.xml")
    if fmt == "json":
        path.write_text(json.dumps([{f"k{i}": "v" for i in range(20)}, {"SO": "ok"}]), encoding="utf-8")
        rows = _rows(read_json_records, path)
    else:
        wide = "".join(f"<k{i}>v</k{i}>" for i in range(20))
        path.write_text(f"<HSDLGCS><GIAYCHUNGSINH>{wide}</GIAYCHUNGSINH><GIAYCHUNGSINH><SO>ok</SO></GIAYCHUNGSINH>"
                        "</HSDLGCS>", encoding="utf-8")
        rows = _rows(read_flat_document, path)
    assert "20 fields, over the limit of 10" in rows[0]["_reader_error"]
    assert rows[1]["SO"] == "ok" and rows[1]["_reader_error"] is None


def test_records_using_too_many_distinct_fields_reject_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("S06_MAX_COLUMNS", "50")
    path = tmp_path / "many.json"
    path.write_text(json.dumps([{f"k{i}": "v"} for i in range(100)]), encoding="utf-8")
    assert "more than 50 distinct field names" in _reject(read_json_records, path)


def test_json_record_with_a_reserved_key_is_a_row_error(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps([{"SO": "1", "_reader_error": "forged SECRET"}, {"SO": "2"}]), encoding="utf-8")
    rows = _rows(read_json_records, path)
    assert rows[0]["_reader_error"] == "record uses a reserved field name (_source_ref, _reader_error, ...)"
    assert rows[1]["SO"] == "2"


# ---------------------------------------------------------------- empty and oversized files


EMPTY_CASES = {
    "csv": ("e.csv", read_csv, {}),
    "json": ("e.json", read_json_records, {}),
    "json-page": ("page-00001.json", reader("json_pages"), {}),
    "jsonl": ("e.jsonl", reader("jsonl"), {}),
    "flat": ("e.xml", read_flat_document, {}),
    "xml9": ("e.xml", read_giamdinhhs_xml9, {}),
}


@pytest.mark.parametrize("content", [b"", b"  \r\n\t\n", b"\xef\xbb\xbf"], ids=["zero-bytes", "whitespace", "bom-only"])
@pytest.mark.parametrize("fmt", list(EMPTY_CASES))
def test_empty_file_is_one_outcome_in_every_format(tmp_path, fmt, content):
    name, read, kw = EMPTY_CASES[fmt]
    path = tmp_path / name
    path.write_bytes(content)
    assert _reject(read, path, **kw) == "empty file"


def test_file_over_the_size_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("S06_MAX_FILE_BYTES", "1000")
    path = tmp_path / "big.csv"
    path.write_text("a\n" + "1\n" * 1000)
    assert _reject(read_csv, path) == "file is 2002 bytes, over the limit of 1000 (S06_MAX_FILE_BYTES)"


def test_settings_reject_bad_limits(monkeypatch):
    from config.settings import load_settings

    monkeypatch.setenv("S06_MAX_VALUE_CHARS", "0")
    with pytest.raises(ValueError, match="S06_MAX_VALUE_CHARS must be positive"):
        load_settings()
    monkeypatch.setenv("S06_MAX_VALUE_CHARS", "lots")
    with pytest.raises(ValueError, match="whole number"):
        load_settings()


# ---------------------------------------------------------------- JSON streaming


def test_json_document_streams_with_records_key_anywhere(tmp_path):
    path = tmp_path / "p.json"
    path.write_text('{"page": 1, "meta": {"a": [1, 2]}, "data": [{"SO": 1}, {"SO": 2.50}, 7], "next": null}',
                    encoding="utf-8")
    rows = _rows(read_json_document, path, records_key="data")
    assert [r["SO"] for r in rows] == ["1", "2.50", None]
    assert rows[2]["_reader_error"] == "data[3] is not a JSON object"


@pytest.mark.parametrize(
    "text",
    ['{"data": [{"SO": 1}, ', '{"data": [{"SO": 1}] } trailing', '{"data": [{"SO": 1} {"SO": 2}]}',
     '[{"SO": NaN}]', '{"data": [{"SO": "unterminated}]}'],
)
def test_json_document_corrupt_or_truncated_is_rejected(tmp_path, text):
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    assert "not valid JSON" in _reject(read_json_document, path, records_key="data" if text.startswith("{") else None)


def test_json_records_straddling_block_boundaries(tmp_path, monkeypatch):
    import extractors.formats as formats

    monkeypatch.setattr(formats, "JSON_BLOCK_CHARS", 7)
    items = [{"SO": f"{i:05d}", "TEN": NAME, "N": 12345678901234567890, "F": 1.50e3} for i in range(50)]
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"x": "y", "nhanVien": items}, ensure_ascii=False), encoding="utf-8")
    rows = _rows(read_json_records, path, records_key="nhanVien")
    assert [r["SO"] for r in rows] == [f"{i:05d}" for i in range(50)]
    assert rows[0]["N"] == "12345678901234567890" and rows[0]["TEN"] == NAME and rows[0]["F"] == "1500.0"


MEMORY_PROBE = textwrap.dedent("""
    import json, resource, sys
    from pathlib import Path
    from extractors.formats import read_json_records
    import pyarrow
    path = Path(sys.argv[1])
    warm = path.with_name("warm.json")  # one-off initialisation (compute kernels) out of the figure
    warm.write_text('[{"a": "1"}, {"a": "2", "b": "3"}]')
    list(read_json_records(warm, 1))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rows = 0
    for table in read_json_records(path, 2000):
        rows += table.num_rows
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"rows": rows, "growth_kib": peak - base}))
""")


def test_json_document_memory_stays_bounded(tmp_path):
    """A ~60 MB JSON array is read with a peak RSS growth far below its size (the old reader held
    the text, the parsed objects and the string table at once: several times the file)."""
    path = tmp_path / "big.json"
    record = {"soGiayPhep": "000123/HCM-CCHN", "hoTen": NAME, "diaChi": "Số 12 đường Lê Lợi, phường Bến Thành",
              "ngayCap": "2024-01-02", "soNam": 12, "ghiChu": "x" * 200}
    n = 150_000
    with path.open("w", encoding="utf-8") as fh:
        fh.write("[")
        for i in range(n):
            fh.write(("," if i else "") + json.dumps({**record, "i": i}, ensure_ascii=False))
        fh.write("]")
    size_mib = path.stat().st_size / 2**20
    assert size_mib > 50
    out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(path)], capture_output=True, text=True, check=True,
                         cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    result = json.loads(out.stdout)
    assert result["rows"] == n
    growth_mib = result["growth_kib"] / 1024
    assert growth_mib < 40, f"RSS grew {growth_mib:.0f} MiB reading a {size_mib:.0f} MiB document"


def test_records_with_varying_fields_keep_their_order_and_values(tmp_path):
    """Optional fields left out, new fields appearing late, errors in between: every row keeps
    its own values in its own place (the column-wise buffer re-lays records out)."""
    items = [{"a": "1", "b": "x"}, {"a": "2"}, 5, {"b": "y", "c": "z"}, {"a": "4", "b": "w"}, {"c": "q", "a": "6"}]
    path = tmp_path / "v.json"
    path.write_text(json.dumps(items), encoding="utf-8")
    rows = _rows(read_json_records, path)
    assert [(r["a"], r["b"], r["c"], r["_reader_error"]) for r in rows] == [
        ("1", "x", None, None), ("2", None, None, None), (None, None, None, "record[3] is not a JSON object"),
        (None, "y", "z", None), ("4", "w", None, None), ("6", None, "q", None)]
    assert [r["_source_ref"] for r in rows] == [f"record[{i}]" for i in range(1, 7)]
