"""The analyst dictionary: every curated column documented (both languages) in the Parquet field
metadata and in docs/data_dictionary/, ICD-10 codes as a list with a chapter column."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from config.contracts import available_datasets, load_contract
from loaders import dictionary
from loaders.curated import CURATED_LINEAGE, curated_schema, to_curated
from transforms.icd10_chapters import chapter_of


def test_committed_dictionaries_are_up_to_date():
    assert dictionary.main(["--check"]) == 0, "run python -m loaders.dictionary and commit docs/data_dictionary/"


@pytest.mark.parametrize("dataset", available_datasets())
def test_every_curated_field_carries_its_dictionary_entry(dataset):
    schema = curated_schema(load_contract(dataset))
    for f in schema:
        meta = {k.decode(): v.decode() for k, v in (f.metadata or {}).items()}
        assert meta.get("description_vi") and meta.get("description_en"), f.name
        assert meta["description_vi"] != meta["description_en"], f.name
        assert meta.get("logical_type") and meta.get("personal_data") and meta.get("treatment"), f.name
        if pa.types.is_timestamp(f.type):
            assert "Asia/Ho_Chi_Minh" in meta["timezone"], f.name
    assert set(CURATED_LINEAGE) <= set(schema.names)
    assert schema.metadata[b"s06.naive_timestamps"].decode().endswith("Asia/Ho_Chi_Minh")
    page = (dictionary.DOCS_DIR / f"{dataset}.md").read_text(encoding="utf-8")
    for name in schema.names:
        assert f"| `{name}` |" in page, name


def test_value_labels_say_what_a_code_means():
    meta = curated_schema(load_contract("birth_certificates")).field("child_sex").metadata
    assert json.loads(meta[b"values"])["2"] == {"vi": "Nữ", "en": "female"}
    assert "`2` female / Nữ" in (dictionary.DOCS_DIR / "birth_certificates.md").read_text(encoding="utf-8")


def _death_rows(codes):
    contract = load_contract("death_notices")
    n = len(codes)
    cols = {}
    schema_types = {"date": pa.date32(), "datetime": pa.timestamp("s"), "int": pa.int32(), "bool": pa.bool_()}
    for name, spec in contract.columns.items():
        cols[name] = pa.nulls(n, schema_types.get(spec.type, pa.string()))
        if spec.year_only_allowed:
            cols[f"{name}_year"] = pa.nulls(n, pa.int32())
    cols["icd10_codes"] = pa.array(codes, pa.string())
    cols["icd10_names"] = pa.array([None if c is None else "a; b" for c in codes], pa.string())
    cols["death_datetime"] = pa.array([dt.datetime(2026, 11, 21, 8)] * n, pa.timestamp("s"))
    for name in CURATED_LINEAGE:
        cols[name] = pa.array(["x"] * n)
    return contract, pa.table(cols)


def test_icd10_codes_become_a_list_with_the_chapter_of_the_first_code(tmp_path):
    contract, table = _death_rows(["R99;N18.9", " I10 ", None, "V89.2; A41.9"])
    curated = to_curated(table, contract, b"k" * 32)
    assert curated.schema.field("icd10_codes").type == pa.list_(pa.string())
    assert curated.column("icd10_codes").to_pylist() == [["R99", "N18.9"], ["I10"], None, ["V89.2", "A41.9"]]
    assert curated.column("icd10_chapter").to_pylist() == ["XVIII", "IX", None, "XX"]
    assert curated.column("icd10_names").to_pylist()[0] == ["a", "b"]
    pq.write_table(curated, tmp_path / "d.parquet")
    back = pq.read_schema(tmp_path / "d.parquet")
    assert json.loads(back.field("icd10_chapter").metadata[b"values"])["IX"]["en"] == "Diseases of the circulatory system"
    assert back.field("icd10_codes").metadata[b"description_en"].startswith(b"ICD-10 cause-of-death codes")


@pytest.mark.parametrize(("code", "chapter"), [("A00", "I"), ("B99.9", "I"), ("C00", "II"), ("D48", "II"),
                                                 ("D50", "III"), ("H59", "VII"), ("H60", "VIII"), ("S72.0", "XIX"),
                                                 ("T98", "XIX"), ("Y98", "XX"), ("U07.1", "XXII"), ("Z99", "XXI"),
                                                 ("9AB", None), ("", None)])
def test_chapter_boundaries(code, chapter):
    assert chapter_of(code) == chapter
