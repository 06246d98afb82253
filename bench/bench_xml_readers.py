"""Benchmark: the XML readers against a plain standard-library ``iterparse`` of the same file.

Generates an XML9 claim envelope (``GIAMDINHHS``, one ``HOSO`` per record, each with an XML1 and an
XML9 ``FILEHOSO`` whose base64 inner document holds one ``DU_LIEU_GIAY_CHUNG_SINH`` of 35 fields)
and a flat ``HSDLGCS`` document with the same number of ``GIAYCHUNGSINH`` elements, then times,
in the same run and alternating:

* **reader**: the project reader (``extractors.formats``), every chunk consumed as Arrow tables,
  with every safety check on (prolog DOCTYPE scan, hardened lxml, per-row guards);
* **floor**: ``xml.etree.ElementTree.iterparse`` (C parser, no checks) doing the same extraction
  into one dict per record (base64 decode and ``fromstring`` of the inner documents included);
* **floor_columns**: the same, collecting the values into per-tag Python lists instead ("iterparse
  into columns", what the reader builds);
* **floor_arrow**: the columns floor, each list then turned into an Arrow string array (what the
  pipeline needs from a reader, and what the two floors above leave out: the reader's output is
  Arrow tables, and turning expat's Python strings into Arrow is most of what it costs over them).

Reports medians of ``--repeat`` runs, wall and process CPU time (the machine is shared: CPU time
is the steadier figure), and the ratios reader / floor; JSON into
``bench/results/xml_readers.json`` (or ``--json``)::

    python -m bench.bench_xml_readers --records 100000 --repeat 3
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_pipeline import machine_facts
from extractors.formats import read_flat_document, read_giamdinhhs_xml9

RESULTS = Path(__file__).resolve().parent / "results"
TAGS = [f"TRUONG_{i:02d}" for i in range(35)]


def _fields(i: int) -> str:
    values = [f"{i:08d}", "Nguyễn Thị Hương", "Số 12 đường Lê Lợi, phường Bến Thành", "20261121083000", "0"]
    return "".join(f"<{t}>{escape(values[k % len(values)])}{k}</{t}>" for k, t in enumerate(TAGS))


def write_xml9(path: Path, records: int) -> int:
    """An XML9 envelope with ``records`` HOSO, one child each; returns its size in bytes."""
    xml1 = base64.b64encode(b"<?xml version='1.0' encoding='utf-8'?><TONG_HOP><MA_LK>1</MA_LK></TONG_HOP>").decode()
    with path.open("w", encoding="utf-8") as fh:
        fh.write("<?xml version='1.0' encoding='utf-8'?>\n<GIAMDINHHS><THONGTINDONVI><MACSKCB>01929</MACSKCB>"
                 "</THONGTINDONVI><THONGTINHOSO><NGAYLAP>20261121</NGAYLAP><DANHSACHHOSO>\n")
        for i in range(records):
            inner = ("<?xml version='1.0' encoding='utf-8'?>\n<CHI_TIEU_DU_LIEU_GIAY_CHUNG_SINH><DSACH_GIAYCHUNGSINH>"
                     f"<DU_LIEU_GIAY_CHUNG_SINH>{_fields(i)}</DU_LIEU_GIAY_CHUNG_SINH>"
                     "</DSACH_GIAYCHUNGSINH></CHI_TIEU_DU_LIEU_GIAY_CHUNG_SINH>\n").encode()
            fh.write(f"<HOSO><FILEHOSO><LOAIHOSO>XML1</LOAIHOSO><NOIDUNGFILE>{xml1}</NOIDUNGFILE></FILEHOSO>"
                     f"<FILEHOSO><LOAIHOSO>XML9</LOAIHOSO><NOIDUNGFILE>{base64.b64encode(inner).decode()}"
                     "</NOIDUNGFILE></FILEHOSO></HOSO>\n")
        fh.write("</DANHSACHHOSO></THONGTINHOSO><CHUKYDONVI/></GIAMDINHHS>\n")
    return path.stat().st_size


def write_flat(path: Path, records: int) -> int:
    """A flat HSDLGCS document with ``records`` GIAYCHUNGSINH elements; returns its size."""
    with path.open("w", encoding="utf-8") as fh:
        fh.write("<?xml version='1.0' encoding='utf-8'?>\n<HSDLGCS>\n")
        for i in range(records):
            fh.write(f'<GIAYCHUNGSINH Id="Id-{i}">{_fields(i)}</GIAYCHUNGSINH>\n')
        fh.write("<CHUKYDONVI/></HSDLGCS>\n")
    return path.stat().st_size


def floor_xml9(path: Path) -> int:
    """Plain stdlib iterparse of the envelope plus fromstring of each XML9 document."""
    n = 0
    for _event, elem in ET.iterparse(str(path), events=("end",)):
        if elem.tag == "HOSO":
            for filehoso in elem.iter("FILEHOSO"):
                if (filehoso.findtext("LOAIHOSO") or "").strip().upper() != "XML9":
                    continue
                doc = ET.fromstring(base64.b64decode((filehoso.findtext("NOIDUNGFILE") or "").strip()))
                for child in doc.iter("DU_LIEU_GIAY_CHUNG_SINH"):
                    _rec = {c.tag: (c.text or "") for c in child if len(c) == 0}
                    n += 1
            elem.clear()
    return n


def floor_flat(path: Path) -> int:
    """Plain stdlib iterparse of the flat document."""
    n = 0
    for _event, elem in ET.iterparse(str(path), events=("end",)):
        if elem.tag == "GIAYCHUNGSINH":
            _rec = {c.tag: (c.text or "") for c in elem if len(c) == 0}
            n += 1
            elem.clear()
    return n


def _to_arrow(cols: dict[str, list[str]]) -> None:
    """The hand-written conversion: one ``pa.array`` per column, into one table."""
    pa.table({tag: pa.array(values, pa.string()) for tag, values in cols.items()})


def floor_xml9_columns(path: Path, arrow: bool = False) -> int:
    """As :func:`floor_xml9`, collecting values into per-tag Python lists ("into columns"), then
    with ``arrow`` converted to an Arrow table."""
    cols: dict[str, list[str]] = defaultdict(list)
    n = 0
    for _event, elem in ET.iterparse(str(path), events=("end",)):
        if elem.tag == "HOSO":
            for filehoso in elem.iter("FILEHOSO"):
                if (filehoso.findtext("LOAIHOSO") or "").strip().upper() != "XML9":
                    continue
                doc = ET.fromstring(base64.b64decode((filehoso.findtext("NOIDUNGFILE") or "").strip()))
                for child in doc.iter("DU_LIEU_GIAY_CHUNG_SINH"):
                    for c in child:
                        if len(c) == 0:
                            cols[c.tag].append(c.text or "")
                    n += 1
            elem.clear()
    if arrow:
        _to_arrow(cols)
    return n


def floor_flat_columns(path: Path, arrow: bool = False) -> int:
    """As :func:`floor_flat`, collecting values into per-tag Python lists ("into columns"), then
    with ``arrow`` converted to an Arrow table."""
    cols: dict[str, list[str]] = defaultdict(list)
    n = 0
    for _event, elem in ET.iterparse(str(path), events=("end",)):
        if elem.tag == "GIAYCHUNGSINH":
            for c in elem:
                if len(c) == 0:
                    cols[c.tag].append(c.text or "")
            n += 1
            elem.clear()
    if arrow:
        _to_arrow(cols)
    return n


def reader_rows(read: Callable[..., Any], path: Path, chunk_rows: int) -> int:
    """Rows the project reader yields (every chunk built and consumed)."""
    return sum(t.num_rows for t in read(path, chunk_rows))


def _time(func: Callable[[], int]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of this process, rows)."""
    w0, c0 = time.perf_counter(), time.process_time()
    n = func()
    return time.perf_counter() - w0, time.process_time() - c0, n


def run(records: int, repeat: int, chunk_rows: int, workdir: Path) -> dict[str, Any]:
    """Generate both files, then time the reader and both floors in turn, ``repeat`` times."""
    xml9, flat = workdir / "GIAMDINHHS_bench.xml", workdir / "HSDLGCS_bench.xml"
    sizes = {"xml9": write_xml9(xml9, records), "flat": write_flat(flat, records)}
    cases: dict[str, dict[str, Callable[[], int]]] = {
        "xml9": {"floor": lambda: floor_xml9(xml9), "floor_columns": lambda: floor_xml9_columns(xml9),
                 "floor_arrow": lambda: floor_xml9_columns(xml9, arrow=True),
                 "reader": lambda: reader_rows(read_giamdinhhs_xml9, xml9, chunk_rows)},
        "flat": {"floor": lambda: floor_flat(flat), "floor_columns": lambda: floor_flat_columns(flat),
                 "floor_arrow": lambda: floor_flat_columns(flat, arrow=True),
                 "reader": lambda: reader_rows(read_flat_document, flat, chunk_rows)},
    }
    out: dict[str, Any] = {"records": records, "repeat": repeat, "chunk_rows": chunk_rows, "machine": machine_facts(),
                           "note": "ratio = reader / plain iterparse into dicts; ratio_columns = reader / plain "
                                   "iterparse into per-tag lists; ratio_arrow = reader / that, converted to Arrow; *_cpu from process "
                                   "CPU time (the machine is shared)"}
    reader_rows(read_flat_document, flat, chunk_rows)  # imports and first-call costs out of the figures
    for name, variants in cases.items():
        wall: dict[str, list[float]] = {k: [] for k in variants}
        cpu: dict[str, list[float]] = {k: [] for k in variants}
        for _ in range(repeat):
            for key, func in variants.items():
                w, c, n = _time(func)
                if n != records:
                    raise RuntimeError(f"{name} {key}: read {n} records, expected {records}")
                wall[key].append(w)
                cpu[key].append(c)
        med = {k: statistics.median(v) for k, v in wall.items()}
        med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
        out[name] = {
            "file_mib": round(sizes[name] / 2**20, 1),
            **{f"{k}_s": round(v, 3) for k, v in med.items()},
            **{f"{k}_cpu_s": round(v, 3) for k, v in med_cpu.items()},
            "ratio": round(med["reader"] / med["floor"], 3),
            "ratio_cpu": round(med_cpu["reader"] / med_cpu["floor"], 3),
            "ratio_columns": round(med["reader"] / med["floor_columns"], 3),
            "ratio_columns_cpu": round(med_cpu["reader"] / med_cpu["floor_columns"], 3),
            "ratio_arrow": round(med["reader"] / med["floor_arrow"], 3),
            "ratio_arrow_cpu": round(med_cpu["reader"] / med_cpu["floor_arrow"], 3),
            "runs_wall": {k: [round(x, 3) for x in v] for k, v in wall.items()},
        }
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command line: ``--records``, ``--repeat``, ``--chunk-rows``, ``--json``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunk-rows", type=int, default=200_000)
    parser.add_argument("--json", type=Path, default=RESULTS / "xml_readers.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="s06-bench-xml-") as tmp:
        result = run(args.records, args.repeat, args.chunk_rows, Path(tmp))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for name in ("xml9", "flat"):
        r = result[name]
        print(f"{name:5} {args.records} records, {r['file_mib']} MiB: reader {r['reader_s']:.2f} s "
              f"(CPU {r['reader_cpu_s']:.2f}); plain iterparse {r['floor_s']:.2f} s (CPU {r['floor_cpu_s']:.2f}), "
              f"into columns {r['floor_columns_s']:.2f} s (CPU {r['floor_columns_cpu_s']:.2f}); ratio {r['ratio']:.2f} "
              f"(CPU {r['ratio_cpu']:.2f}), vs columns {r['ratio_columns']:.2f} (CPU {r['ratio_columns_cpu']:.2f})")
    return result


if __name__ == "__main__":
    main()
