"""Smoke run of the XML reader benchmark on a few hundred records: it runs, both readers read
every record, the floors agree, and the JSON has the ratios. Not a timed assertion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_xml_reader_bench_runs(tmp_path: Path) -> None:
    from bench.bench_xml_readers import main

    out = tmp_path / "xml.json"
    result = main(["--records", "300", "--repeat", "1", "--json", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    for name in ("xml9", "flat"):
        r = result[name]
        assert {"reader_s", "floor_s", "floor_columns_s", "floor_arrow_s", "ratio", "ratio_cpu", "ratio_columns",
                "ratio_arrow", "ratio_arrow_cpu"} <= r.keys()
        assert r["ratio"] > 0 and r["file_mib"] > 0
