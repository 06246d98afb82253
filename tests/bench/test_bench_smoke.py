"""Smoke runs of the benchmarks on a few hundred rows: they run end to end and report what they
should. Not timed assertions - the figures of a tiny run mean nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config.contracts import available_datasets
from tests.pg_server import pg_bin

pytestmark = pytest.mark.integration

ROWS = 300


@pytest.mark.parametrize("dataset", available_datasets())
def test_pipeline_bench_runs_and_loads_every_row(dataset: str, tmp_path: Path) -> None:
    from bench.bench_pipeline import STAGES, main

    out = tmp_path / "result.json"
    main(["--dataset", dataset, "--rows", str(ROWS), "--json", str(out)])
    [r] = json.loads(out.read_text())
    assert r["dataset"] == dataset and r["rows"] == ROWS and r["backend"] == "sqlite"
    assert {"summary", "rerun_summary", "timings", "peak_mib", "generate_s", "csv_mib", "machine"} <= r.keys()
    assert set(STAGES) <= r["timings"].keys()
    assert all(v >= 0 for v in r["timings"].values())
    # The bench writers write clean rows for the bench facility: a quarantine here means the bench
    # measures the wrong thing (wrong facility code, dates outside the interval, ...).
    assert r["summary"]["received"] == ROWS
    assert r["summary"]["quarantined"] == 0, r["summary"]["quarantined_by_rule"]
    assert r["summary"]["loaded"] == ROWS
    # The identical re-run is recognised as unchanged and skipped; its recorded outcome stands.
    assert r["rerun_skipped"] and r["rerun_summary"] == r["summary"]


@pytest.mark.skipif(pg_bin() is None, reason="PostgreSQL server binaries not installed")
def test_pipeline_bench_alternates_pairs_with_the_floor_and_reports_the_median(tmp_path: Path) -> None:
    from bench.bench_pipeline import main

    out = tmp_path / "pairs.json"
    main(["--dataset", "birth_certificates", "--rows", str(ROWS), "--postgres", "--pairs", "2", "--json", str(out)])
    [r] = json.loads(out.read_text())
    assert r["backend"] == "postgresql" and len(r["pairs"]) == 2
    # Every run starts from empty zones and an empty store: each one loads every row (a run that
    # saw the previous one's ledger would be an identical re-run and skip).
    assert r["summary"]["loaded"] == ROWS and r["floor"]["datasets"]["birth_certificates"]["loaded"] == ROWS
    ratios = [p["ratio"] for p in r["pairs"]]
    assert all(p["floor_s"] > 0 and p["end_to_end_s"] > 0 for p in r["pairs"])
    assert r["floor_ratio"] == max(ratios)  # the upper (less flattering) middle of two
    assert round(r["timings"]["end_to_end"] / r["floor"]["total_s"], 2) == r["floor_ratio"]


@pytest.mark.skipif(pg_bin() is None, reason="PostgreSQL server binaries not installed")
def test_pg_load_bench_runs(tmp_path: Path) -> None:
    from bench.bench_pg_load import main

    out = tmp_path / "pg.json"
    main(["--rows", str(ROWS), "--profile", "--json", str(out)])
    r = json.loads(out.read_text())
    assert {
        "copy_s",
        "first_load_s",
        "reload_s",
        "first_load_ratio",
        "reload_ratio",
        "copy_runs_s",
        "first_load",
        "reload",
        "server",
        "machine",
        "explain_first_load",
        "explain_reload",
    } <= r.keys()
    assert r["valid_rows"] == ROWS
    assert r["first_load"]["counts"]["inserted"] == ROWS
    assert r["reload"]["counts"] == {"inserted": 0, "updated": 0, "unchanged": ROWS, "stale": 0}
    assert r["first_load_ratio"] == pytest.approx(r["first_load_s"] / r["copy_s"])


@pytest.mark.skipif(pg_bin() is None, reason="PostgreSQL server binaries not installed")
def test_national_bench_runs_pipeline_and_floor_on_the_same_night(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.bench_national import main

    # Shards of 10 facilities: 8 shards over the four datasets instead of the default 44 (one to
    # three facilities each at this size). Each shard pays a fixed validation call; several shards
    # per dataset are still run (workforce: 4, births: 2).
    monkeypatch.setenv("S06_FACILITIES_PER_TASK", "10")
    out = tmp_path / "national.json"
    r = main(["--facilities", "40", "--births", "20", "--deaths", "10", "--drivers", "10", "--pairs", "2",
              "--json", str(out)])
    assert json.loads(out.read_text())["batches"] == r["batches"] == 80
    assert r["shard_size_env"] == "10"
    assert 0 < r["silent_batches"] < r["batches"]
    for ds, d in r["project"]["datasets"].items():
        # every delivered row is accounted for and the night reconciles
        assert d["problem"] is None, (ds, d["problem"])
        assert d["totals"]["received"] == r["rows"][ds]
        assert d["totals"]["loaded"] + d["totals"]["quarantined"] + d["totals"]["superseded"] == r["rows"][ds]
        assert r["floor"]["datasets"][ds]["rows"] == r["rows"][ds]
    assert r["same_work_ok"], r["same_work"]  # the ratio compares equal work: the same rows loaded
    assert r["ratio"] > 0 and r["rerun"]["total_s"] > 0
    assert r["project_per_batch"]["silent_ms"] > 0 and r["floor_per_batch"]["delivering_ms"] > 0
    # two pairs taking turns, each on its own zones and servers; the reported one is among them
    assert [p["order"] for p in r["pairs"]] == [["pipeline", "floor"], ["floor", "pipeline"]]
    assert r["ratio"] in [p["ratio"] for p in r["pairs"]]
    assert round(r["project"]["total_s"], 2) in [p["project_s"] for p in r["pairs"]]


def test_history_bench_loads_the_same_night_into_an_empty_and_a_full_store(tmp_path: Path) -> None:
    from bench.bench_history import main

    r = main(["--history", "2000", "--night", "200", "--repeat", "1", "--settle", "0", "--json", str(tmp_path / "h.json")])
    assert json.loads((tmp_path / "h.json").read_text())["ratio"] == r["ratio"] > 0
    (empty,), (full,) = r["runs"]["empty"], r["runs"]["full"]
    assert empty["loaded"] == full["loaded"] == 200  # the same night, fully loaded both times
    assert (empty["store_rows"], full["store_rows"]) == (200, 2200)  # the full store really held the history


@pytest.mark.skipif(pg_bin() is None, reason="PostgreSQL server binaries not installed")
def test_start_bench_times_real_batches_against_the_floor(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    # its own process: the bench points the settings at its generated night through os.environ
    out = tmp_path / "start.json"
    repo = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-m", "bench.bench_start", "--repeat", "2", "--json", str(out)], cwd=repo,
                   env={**os.environ, "PYTHONPATH": str(repo)}, check=True, capture_output=True, timeout=600)
    r = json.loads(out.read_text())
    for key in ("cold_start_s", "cold_start_without_gx_s", "floor_cold_start_s", "forked_start_s"):
        assert r[key] > 0, key
    sb = r["small_batch"]
    assert sb["repeat"] == 2 and sb["alone_s"] > 0 and sb["floor_alone_s"] > 0
    assert sb["alone_ratio"] == round(sb["alone_s"] / sb["floor_alone_s"], 2)
    # the timed runs did the work: the lone batch reloads its 20 rows (forced re-run), and the
    # shard ran every one of its 200 facilities
    assert sb["alone_loaded"] == sb["rows_per_batch"] == 20
    assert sb["in_shard_batches"] == 200 and sb["in_shard_loaded"] == 200 * 20
