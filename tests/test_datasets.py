"""Every registered dataset agrees with itself across the repository.

The registry is ``config/datasets/*.yaml``. For each dataset: its contract parses and names a
derivation hook and a match column; the compiled suite reads exactly the validation columns the
contract derives from its rules; the hook derives those columns from rows the dataset's sample
generator writes, and the suite finds no error in them; a migration creates the staging table the
contract describes; the generator's defect catalogue and ground truth only expect rules the
contract (or the pipeline) knows; the rendered data dictionary is current; a DAG and its tag exist.
"""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest

from config.contracts import available_datasets, load_contract

REPO = Path(__file__).resolve().parent.parent
DATASETS = available_datasets()
#: Rule ids the pipeline itself reports (not declared in a contract): a file that cannot be read,
#: a record whose envelope cannot be decoded, an exact re-send.
PIPELINE_RULES = {"FILE", "ENVELOPE", "DUP"}
START = dt.date(2026, 11, 21)


def known_rules(dataset: str) -> set[str]:
    contract = load_contract(dataset)
    parse_rules = {r for spec in contract.columns.values() for r in (*spec.rules, spec.parse_rule) if r}
    return {rule.id for rule in contract.all_rules()} | parse_rules | PIPELINE_RULES


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    from sample_data.generator import generate

    out = tmp_path_factory.mktemp("sample")
    generate(out, START, 2, seed=6, per_night=12)
    return out


def test_the_registry_is_the_contract_files():
    assert sorted(p.stem for p in (REPO / "config" / "datasets").glob("*.yaml")) == DATASETS
    assert DATASETS, "no dataset registered"


@pytest.mark.parametrize("dataset", DATASETS)
def test_contract_wiring(dataset):
    import importlib

    contract = load_contract(dataset)
    assert contract.dataset == dataset
    module = importlib.import_module(contract.hook)
    assert callable(module.derive_validation_columns)
    assert contract.match_column in contract.columns and contract.columns[contract.match_column].type == "id"
    assert contract.options, "rules take their thresholds and code lists from options"
    assert {r.id for r in contract.rules}, "a dataset declares rules"


@pytest.mark.parametrize("dataset", DATASETS)
def test_compiled_suite_reads_the_validation_columns(dataset):
    from expectations.compile import compiled
    from expectations.runner import plan_frame

    contract = load_contract(dataset)
    suite = compiled(dataset).build_suite()
    assert suite.name == contract.suite_name
    assert set(plan_frame(suite).columns) == set(contract.validation_columns) == set(contract.column_kinds)
    assert [e.meta["rule_id"] for e in suite.expectations] == [r.id for r in contract.all_rules()]


@pytest.mark.parametrize("dataset", DATASETS)
def test_hook_derives_the_validation_frame_from_generated_rows_and_they_pass(dataset, tmp_path):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from expectations import validate_frame
    from pipeline.datasets import hooks_for
    from pipeline.stages.judge import validation_frame
    from sample_data.generator import generator_for
    from transforms.normalize import normalize

    contract = load_contract(dataset)
    gen = generator_for(dataset)
    assert dataset == gen.DATASET
    path = tmp_path / gen.BENCH_FILE
    assert gen.write_bench_csv(path, 40, seed=gen.BENCH_SEED, facility_code=gen.BENCH_FACILITY) == 40
    header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
    raw = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(header, pa.string())))
    assert set(header) <= set(contract.source_tags("csv")), "the generator writes the contract's csv tags"
    norm = normalize(raw, contract, "csv")
    assert not any(f.rows.any() for f in norm.failures), [f.rule_id for f in norm.failures if f.rows.any()]
    hooks = hooks_for(dataset)
    table = hooks.derive(norm.table, gen.BENCH_FACILITY, dt.datetime(2026, 12, 31, 23, 59), None)
    table = table.append_column("duplicate_first_issue", pa.array([False] * table.num_rows))
    assert contract.first_issue_column in table.column_names
    flags = {n for n, c in contract.columns.items() if c.type == "bool" and c.sources}
    frame = validation_frame(table, contract.validation_columns, flags)
    findings, summary = validate_frame(frame, dataset)
    assert summary["rows"] == 40
    assert [f.rule_id for f in findings if f.severity == "error"] == []


@pytest.mark.parametrize("dataset", DATASETS)
def test_a_migration_creates_the_table_the_contract_describes(dataset, tmp_path):
    from loaders import staging

    engine = staging.make_engine(f"sqlite:///{tmp_path / 'staging.db'}")
    staging.ensure_schema(engine, [dataset])  # raises SchemaError when migration and contract disagree
    engine.dispose()


@pytest.mark.parametrize("dataset", DATASETS)
def test_generator_catalogue_and_ground_truth_expect_known_rules(dataset, sample_run):
    from sample_data.generator import generator_for
    from sample_data.generator.ground_truth import read_csv

    known = known_rules(dataset)
    catalogue = generator_for(dataset).CATALOGUE
    assert {spec.rule for spec in catalogue.values() if spec.rule} <= known
    rows = read_csv(sample_run / "ground_truth" / f"{dataset}.csv")
    assert rows, "the sample run generates the dataset"
    expected = {rule for row in rows for rule in row["expected_rule"].split("+") if rule}
    assert expected <= known, expected - known


@pytest.mark.parametrize("dataset", DATASETS)
def test_data_dictionary_is_current(dataset):
    from loaders.dictionary import render_analyst_dictionary, staging_mapping

    path = REPO / "docs" / "data_dictionary" / f"{dataset}.md"
    page = path.read_text(encoding="utf-8")
    assert page == render_analyst_dictionary(load_contract(dataset)), "regenerate: python -m loaders.dictionary"
    # the engineers' part (source tags, rules, options) is the contract's own rendering
    assert page.endswith(staging_mapping(load_contract(dataset)))


@pytest.mark.parametrize("dataset", DATASETS)
def test_dag_tag_and_consumer_follow_the_registry(dataset):
    from cli.consumer import match_column
    from pipeline.dag_factory import ALLOWED_TAGS

    assert dataset in ALLOWED_TAGS
    assert match_column(dataset) == load_contract(dataset).match_column


def test_generator_dataset_modules_do_not_import_each_other():
    folder = REPO / "sample_data" / "generator" / "datasets"
    wrong = []
    for path in sorted(folder.glob("*.py")):
        if path.stem == "__init__":
            continue
        owner = next((d for d in DATASETS if path.stem == d or path.stem.startswith(d + "_")), None)
        assert owner is not None, f"{path.name} belongs to no registered dataset"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.startswith("sample_data.generator.datasets."):
                    stem = name.split(".")[3]
                    if not (stem == owner or stem.startswith(owner + "_")):
                        wrong.append(f"{path.name} imports {name}")
    assert wrong == []


def test_every_dataset_has_a_generator_module():
    from sample_data.generator import generators

    assert [g.DATASET for g in generators()] == DATASETS


def test_a_dataset_without_a_hook_gets_the_generic_derivation():
    import pyarrow as pa

    from pipeline.datasets import generic_derive

    out = generic_derive(pa.table({"x": [1, 2]}), "01929", dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert out.column("facility_code").to_pylist() == ["01929", "01929"]
    assert out.column("batch_cutoff").to_pylist() == [dt.datetime(2026, 1, 1)] * 2
