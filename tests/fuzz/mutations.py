"""Valid sample files of every reader, and a Hypothesis strategy of mutations of them.

Mutations: byte flips, truncation, insertion of random bytes or of NULs/control bytes, a changed
text encoding (cp1258, UTF-16, latin-1, a BOM), duplicated or removed XML elements, duplicated or
removed CSV columns and rows, duplicated/removed/renamed JSON keys, huge values, deep nesting.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

NAMES = ["Nguyễn Thị Hương", "Lê Văn Bình", "Trần Thị Ánh"]
MARKER = "Zq9Marker"  # a value that must never appear in a rejection reason


def _fields(i: int) -> list[tuple[str, str]]:
    return [("SO", f"{i:05d}.GCS.01929.26"), ("HO_TEN", NAMES[i % 3]), ("GHI_CHU", f"{MARKER}{i}"),
            ("NGAY", "20261121"), ("CAN_NANG", "3200")]


def sample_csv() -> bytes:
    rows = ["SO,HO_TEN,GHI_CHU,NGAY,CAN_NANG"] + [",".join(v for _k, v in _fields(i)) for i in range(4)]
    return ("\n".join(rows) + "\n").encode("utf-8")


def sample_flat() -> bytes:
    recs = "".join("<GIAYCHUNGSINH Id=\"x\">" + "".join(f"<{k}>{v}</{k}>" for k, v in _fields(i)) + "</GIAYCHUNGSINH>"
                   for i in range(3))
    return f"<?xml version='1.0' encoding='utf-8'?>\n<HSDLGCS>{recs}<CHUKYDONVI/></HSDLGCS>\n".encode()


def sample_inner(i: int) -> bytes:
    rec = "".join(f"<{k}>{v}</{k}>" for k, v in _fields(i))
    return (f"<?xml version='1.0' encoding='utf-8'?><CHI_TIEU><DSACH><DU_LIEU_GIAY_CHUNG_SINH>{rec}"
            "</DU_LIEU_GIAY_CHUNG_SINH></DSACH></CHI_TIEU>").encode()


def sample_xml9(inner: list[bytes] | None = None) -> bytes:
    docs = inner if inner is not None else [sample_inner(i) for i in range(3)]
    hoso = "".join(f"<HOSO><FILEHOSO><LOAIHOSO>XML9</LOAIHOSO><NOIDUNGFILE>{base64.b64encode(d).decode()}"
                   "</NOIDUNGFILE></FILEHOSO></HOSO>" for d in docs)
    return (f"<?xml version='1.0' encoding='utf-8'?>\n<GIAMDINHHS><THONGTINDONVI><MACSKCB>01929</MACSKCB>"
            f"</THONGTINDONVI><THONGTINHOSO><DANHSACHHOSO>{hoso}</DANHSACHHOSO></THONGTINHOSO></GIAMDINHHS>\n").encode()


def sample_records() -> list[dict[str, Any]]:
    return [{k: v for k, v in _fields(i)} | {"SO_NAM": i, "HS": 1.50, "OK": True, "X": None} for i in range(3)]


def sample_json_export() -> bytes:
    return json.dumps({"maCSKCB": "46001", "nhanVien": sample_records()}, ensure_ascii=False).encode()


def sample_json_page() -> bytes:
    return json.dumps({"page": 1, "data": sample_records(), "next": None}, ensure_ascii=False).encode()


def sample_jsonl() -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in sample_records()).encode()


def _fhir_pair(i: int) -> list[dict[str, Any]]:
    """An Immunization and the Patient it references (names and markers in free-text fields)."""
    return [
        {"resourceType": "Patient", "id": f"p{i}", "name": [{"text": NAMES[i % 3]}], "birthDate": "2026-08-01",
         "identifier": [{"system": "http://fhir.ehealth.gov.vn/core/sid/national_id", "value": f"0012260{i:05d}"}]},
        {"resourceType": "Immunization", "id": f"i{i}", "status": "completed", "lotNumber": f"{MARKER}{i}",
         "meta": {"lastUpdated": "2026-11-21T10:00:00+07:00"}, "patient": {"reference": f"Patient/p{i}"},
         "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "102"}], "text": NAMES[i % 3]},
         "occurrenceDateTime": "2026-11-21T09:00:00+07:00", "protocolApplied": [{"doseNumberPositiveInt": 1}]},
    ]


def sample_fhir_ndjson() -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for i in range(3) for r in _fhir_pair(i)).encode()


def sample_fhir_bundle() -> bytes:
    entries = [{"resource": r, "search": {"mode": "include" if r["resourceType"] == "Patient" else "match"}}
               for i in range(3) for r in _fhir_pair(i)]
    return json.dumps({"resourceType": "Bundle", "type": "searchset", "entry": entries}, ensure_ascii=False).encode()


@dataclass(frozen=True)
class Sample:
    """One reader and a valid file for it."""

    reader: str
    filename: str
    data: bytes
    options: tuple[tuple[str, str], ...] = ()


SAMPLES = {
    "csv": Sample("csv", "a.csv", sample_csv()),
    "flat_document": Sample("flat_document", "a.xml", sample_flat()),
    "giamdinhhs_xml9": Sample("giamdinhhs_xml9", "a.xml", sample_xml9()),
    "json_records": Sample("json_records", "a.json", sample_json_export(), (("records_key", "nhanVien"),)),
    "json_pages": Sample("json_pages", "page-00001.json", sample_json_page()),
    "jsonl": Sample("jsonl", "a.jsonl", sample_jsonl()),
    # the export's references are resolved in the mutated file itself
    "fhir_ndjson": Sample("fhir_ndjson", "Immunization.ndjson", sample_fhir_ndjson(),
                          (("view", "vn_core_immunization"), ("resolve_files", "*.ndjson"))),
    "fhir_bundle": Sample("fhir_bundle", "page-00001.json", sample_fhir_bundle(),
                          (("view", "vn_core_immunization"), ("resolve_files", "page-*.json"))),
}

_ELEMENT = re.compile(rb"<([A-Z_]+)[^>]*>[^<]*</\1>")


def _apply(data: bytes, op: tuple[Any, ...]) -> bytes:
    kind = op[0]
    n = len(data)
    if kind == "flip":
        _, pos, mask = op
        if n:
            pos %= n
            data = data[:pos] + bytes([data[pos] ^ mask]) + data[pos + 1:]
    elif kind == "truncate":
        data = data[: op[1] % (n + 1)]
    elif kind == "insert":
        _, pos, blob = op
        pos %= n + 1
        data = data[:pos] + blob + data[pos:]
    elif kind == "delete":
        _, pos, length = op
        pos %= n + 1
        data = data[:pos] + data[pos + length:]
    elif kind == "huge":
        _, pos, size = op
        pos %= n + 1
        data = data[:pos] + b"x" * size + data[pos:]
    elif kind == "encoding":
        text = data.decode("utf-8", errors="replace")
        enc = op[1]
        data = b"\xef\xbb\xbf" + data if enc == "bom" else text.encode(enc, errors="replace")
    elif kind in ("dup_element", "drop_element"):
        matches = list(_ELEMENT.finditer(data))
        if matches:
            m = matches[op[1] % len(matches)]
            middle = data[m.start(): m.end()] * 2 if kind == "dup_element" else b""
            data = data[: m.start()] + middle + data[m.end():]
    elif kind in ("dup_line", "drop_line"):
        lines = data.split(b"\n")
        i = op[1] % len(lines)
        lines[i:i + 1] = [lines[i], lines[i]] if kind == "dup_line" else []
        data = b"\n".join(lines)
    elif kind in ("dup_column", "drop_column"):
        lines = data.split(b"\n")
        out = []
        for line in lines:
            cells = line.split(b",")
            j = op[1] % len(cells)
            cells[j:j + 1] = [cells[j], cells[j]] if kind == "dup_column" else []
            out.append(b",".join(cells))
        data = b"\n".join(out)
    elif kind == "nest":
        data = data.replace(b"{", b"[" * op[1] + b"{", 1)
    return data


_BLOBS = st.one_of(
    st.binary(min_size=1, max_size=16),
    st.sampled_from([b"\x00", b"\x00\x00\x00", b"\x07", b"\x1b[31m", b"\r", b'"', b"'", b",", b"<", b">", b"&",
                     b"&e;", b"]]>", b"<!DOCTYPE x>", b"<![CDATA[", b"{", b"}", b"[", b"]", b"\\", b"\\u0000",
                     b"\xff\xfe", b"\xef\xbb\xbf", b"\xc3", b"\xe1\xba", "ễ".encode(), b"NaN", b"1e999"]),
)

OPERATION = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), _BLOBS),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 40)),
    st.tuples(st.just("huge"), st.integers(0, 10**6), st.sampled_from([100, 40_000, 200_000])),
    st.tuples(st.just("encoding"), st.sampled_from(["cp1258", "utf-16", "latin-1", "bom"])),
    st.tuples(st.sampled_from(["dup_element", "drop_element", "dup_line", "drop_line", "dup_column", "drop_column"]),
              st.integers(0, 1000)),
    st.tuples(st.just("nest"), st.integers(1, 3000)),
)


def mutate(data: bytes, ops: list[tuple[Any, ...]]) -> bytes:
    """Apply the operations in order."""
    for op in ops:
        data = _apply(data, op)
    return data


MUTATIONS = st.lists(OPERATION, min_size=1, max_size=4)


#: Whole-batch examples per run: a few in ``make test``, hundreds under ``make fuzz``.
BATCH_EXAMPLES = (int(os.environ.get("S06_FUZZ_BATCH_EXAMPLES", "4"))
                  if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci"
                  else int(os.environ.get("S06_FUZZ_BATCH_EXAMPLES", "300")))
