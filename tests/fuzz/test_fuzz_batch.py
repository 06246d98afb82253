"""Fuzzing the whole batch: ``pipeline.batch.run_batch`` on a one-facility registry, one mutated
file next to one good file. No exception escapes a file (the batch never fails), the good file is
processed and all its rows load, and the ledger balances
(received = loaded + quarantined + superseded + held)."""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.fuzz.mutations import BATCH_EXAMPLES, MUTATIONS, mutate

GOOD_ROWS = 5
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def _files(tmp: Path) -> tuple[bytes, bytes]:
    """(the good file, the file to mutate): two clean CSVs whose certificate codes differ."""
    import sample_data.generator as gen

    gen.write_births_csv(tmp / "good.csv", GOOD_ROWS, seed=11, facility_code="31011")
    gen.write_births_csv(tmp / "other.csv", 4, seed=12, facility_code="31011")
    good = (tmp / "good.csv").read_bytes()
    # Move the good file's certificate codes to another number range (no key shared with the other).
    good = re.sub(rb"\b0(\d{4})\.GCS\.", rb"9\1.GCS.", good)
    return good, (tmp / "other.csv").read_bytes()


def run_pair(good: bytes, bad: bytes, bad_name: str) -> dict:
    """Run one batch over a drop holding ``good`` and ``bad``; check the invariants."""
    from bench.bench_pipeline import DATASETS, NIGHT, registry_yaml
    from loaders import staging
    from loaders.schema import batch_ledger, dataset_tables, ingested_files
    from pipeline.batch import run_batch

    ds = DATASETS["birth_certificates"]
    with tempfile.TemporaryDirectory(prefix="s06-fuzz-batch-") as tmp_name:
        root = Path(tmp_name)
        folder = root / "drop" / ds.facility / ds.dataset / NIGHT.isoformat()
        folder.mkdir(parents=True)
        (folder / "good.csv").write_bytes(good)
        (folder / bad_name).write_bytes(bad)
        (root / "facilities.yaml").write_text(registry_yaml(ds), encoding="utf-8")
        env = {"S06_DATA_ROOT": str(root), "S06_FACILITIES_FILE": str(root / "facilities.yaml"),
               "S06_QUARANTINE_THRESHOLD": "1.0", "S06_PSEUDONYM_KEY": "fuzz-key-0123456789abcdef"}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        engine = staging.make_engine(f"sqlite:///{root / 'staging.db'}")
        try:
            start = dt.datetime(NIGHT.year, NIGHT.month, NIGHT.day, tzinfo=TZ)
            summary = run_batch(ds.dataset, ds.facility, start, start + dt.timedelta(days=1), engine=engine)
            with engine.connect() as conn:
                files = {r.file_name.rsplit("/", 1)[-1]: r for r in conn.execute(sa.select(ingested_files)).all()}
                ledger = conn.execute(sa.select(batch_ledger)).one()
                current = dataset_tables(ds.dataset)[0]
                good_loaded = conn.execute(sa.select(sa.func.count()).select_from(current)
                                           .where(current.c.certificate_code.like("9%"))).scalar()
        finally:
            engine.dispose()
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    assert summary["status"] in ("loaded", "partial"), summary
    assert files["good.csv"].status == "processed" and files["good.csv"].records == GOOD_ROWS
    assert good_loaded == GOOD_ROWS
    assert ledger.received == ledger.loaded + ledger.quarantined + ledger.superseded + ledger.held
    assert ledger.status == summary["status"]
    return summary


_SAMPLES: dict[str, tuple[bytes, bytes]] = {}


def _samples() -> tuple[bytes, bytes]:
    if "csv" not in _SAMPLES:
        with tempfile.TemporaryDirectory() as tmp:
            _SAMPLES["csv"] = _files(Path(tmp))
    return _SAMPLES["csv"]


@settings(max_examples=BATCH_EXAMPLES)
@given(ops=MUTATIONS, name=st.sampled_from(["bad.csv", "bad.xml", "bad.json"]))
@example(ops=[("insert", 120, b"\x00")], name="bad.csv")
@example(ops=[("dup_column", 1)], name="bad.csv")
@example(ops=[("truncate", 0)], name="bad.xml")
def test_one_mutated_file_never_breaks_the_batch(ops, name):
    good, other = _samples()
    run_pair(good, mutate(other, ops), name)
