"""Chaos: kill a night's run with SIGKILL at random points, re-run it, compare with a clean run.

    python -m tools.chaos --runs 30                          # per dialect: SQLite and PostgreSQL
    python -m tools.chaos --runs 3 --dialect sqlite --nights 2 --per-night 8 --json out.json
    make chaos N=30

What it runs: the **public entry point** ``python -m cli.backfill --from … --to …`` over the
generated sample nights (every dataset, every source kind: file drops, the sample REST API server
on a loopback port, the sample SQLite facility database) — nothing internal, so it keeps working
when the batch runner is rewritten.

Per dialect: one clean run (its end state is the reference, and it counts the kill points it
passes through), then ``--runs`` times, each on a fresh copy of the data root and a fresh store:

1. run the backfill and kill it with SIGKILL at a random point,
2. run the same backfill again to the end (it must exit as the clean run did),
3. compare the store and the curated zone with the reference.

Kill points (``--mode points``, the default) are named places hooked from outside the pipeline by
``tools.chaos_child`` — before an SQL statement, at a COMMIT, before a file swap — and one is
drawn uniformly among all the passages the clean run made (``S06_CHAOS_KILL=<point>:<n>``). A
random *delay* (``--mode delay``: SIGKILL after U(0, clean-run time) seconds) is also available;
it spreads kills over wall-clock time, so they land mostly where the process is slow rather than
where state changes, and cannot be replayed — which is why the points are the default.

Compared (personal data is compared inside this process and never printed):

* staging: every row of every dataset's current and ``_versions`` table; the ledger's counts per
  batch (status, received, loaded, quarantined, superseded, held, flagged, files, reason, high-water
  mark — not attempts, timings or the inserted/updated/unchanged split, which a re-run legitimately
  reports as "unchanged"); quarantine and warning findings (rule, file, reference); ingested files;
* the change feed as a multiset of (dataset, natural key, operation, version key);
* the curated Parquet: the set of partition files and each file's rows (as a multiset).

Exit code 0 when every run matched the reference, 1 otherwise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
START = dt.date(2026, 11, 21)
LEDGER_FIELDS = ("status", "received", "loaded", "quarantined", "superseded", "held", "flagged", "files_received",
                 "files_rejected", "files_skipped", "reason", "high_water_mark")
SIGKILL_CODES = (-9, 137)


@dataclass
class RunResult:
    """One chaos iteration (no personal data: counts, names of what differed)."""

    dialect: str
    index: int
    kill: str
    killed: bool
    killed_after_s: float
    rerun_exit: int
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


# --------------------------------------------------------------------------- state snapshot


def _rows(conn: Any, sql: str) -> list[str] | str:
    """The rows as sorted reprs, or what went wrong (a kill may leave a store without a table)."""
    import sqlalchemy as sa

    try:
        return sorted(repr(tuple(r)) for r in conn.execute(sa.text(sql)))
    except sa.exc.DBAPIError as exc:
        conn.rollback()
        return f"unreadable ({type(exc.orig).__name__})"


def snapshot(data_root: Path, staging_url: str) -> dict[str, Any]:
    """Everything the comparison covers, as comparable Python values."""
    import pyarrow.parquet as pq
    import sqlalchemy as sa

    from config.contracts import available_datasets
    from loaders.schema import dataset_tables

    state: dict[str, Any] = {}
    engine = sa.create_engine(staging_url)
    try:
        with engine.connect() as conn:
            for ds in available_datasets():
                for table in dataset_tables(ds):
                    cols = ", ".join(f'"{c.name}"' for c in table.columns)
                    state[f"staging {table.name}"] = _rows(conn, f'SELECT {cols} FROM "{table.name}"')
            fields = ", ".join(LEDGER_FIELDS)
            state["ledger"] = _rows(conn, f"SELECT batch_id, {fields} FROM batch_ledger")
            state["change feed"] = _rows(conn, "SELECT dataset, natural_key, operation, version_key FROM change_feed")
            for table in ("quarantine", "dq_warnings"):
                state[table] = _rows(conn, f"SELECT batch_id, rule_id, severity, source_file, source_ref, record_key, "
                                           f"column_name, reason FROM {table}")
            state["ingested files"] = _rows(conn, "SELECT batch_id, file_name, sha256, status, records, reason "
                                                  "FROM ingested_files")
    finally:
        engine.dispose()
    curated = data_root / "curated"
    files = sorted(p for p in curated.rglob("part-*.parquet")) if curated.exists() else []
    state["curated files"] = [str(p.relative_to(curated)) for p in files]
    months: dict[str, list[str]] = {}
    for path in files:  # a month is the union of its parts (one per night, weekly compacted parts)
        table = pq.read_table(path, partitioning=None)
        months.setdefault(str(path.parent.relative_to(curated)), []).extend(
            repr(tuple(r.values())) for r in table.to_pylist())
    for month, rows in months.items():
        state[f"curated {month}"] = sorted(rows)
    return state


def compare(reference: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """What differs (names and counts only: never a value)."""
    out = []
    for key in sorted(set(reference) | set(got)):
        a, b = reference.get(key), got.get(key)
        if a == b:
            continue
        if a is None or b is None:
            out.append(f"{key}: {'missing' if b is None else 'unexpected'}")
            continue
        if isinstance(a, str) or isinstance(b, str):
            out.append(f"{key}: {b if isinstance(b, str) else 'readable'} (clean run: {a if isinstance(a, str) else 'readable'})")
            continue
        ca, cb = Counter(a), Counter(b)
        out.append(f"{key}: {sum((ca - cb).values())} missing, {sum((cb - ca).values())} extra of {len(a)}")
    return out


def leftovers(data_root: Path) -> list[str]:
    """Hidden temporary files a kill left in the curated zone (readers ignore them)."""
    curated = data_root / "curated"
    return sorted(str(p.relative_to(curated)) for p in curated.rglob(".*.tmp")) if curated.exists() else []


# --------------------------------------------------------------------------- runs


@dataclass
class Scenario:
    """The nights to run and where the pristine sample data lives."""

    template: Path
    nights: int
    env: dict[str, str]
    datasets: list[str] = field(default_factory=list)

    @property
    def args(self) -> list[str]:
        last = START + dt.timedelta(days=self.nights - 1)
        only = [a for ds in self.datasets for a in ("--dataset", ds)]
        return ["cli.backfill", "--from", START.isoformat(), "--to", last.isoformat(), *only]


def _child(scenario: Scenario, data_root: Path, staging_url: str,
           extra: dict[str, str]) -> tuple[subprocess.Popen[bytes], float]:
    env = dict(scenario.env)
    env.update({"S06_DATA_ROOT": str(data_root), "S06_STAGING_URL": staging_url, **extra})
    log = open(data_root.parent / f"{data_root.name}.log", "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([sys.executable, "-m", "tools.chaos_child", *scenario.args], env=env, cwd=REPO,
                            stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return proc, time.monotonic()


def run_once(scenario: Scenario, data_root: Path, staging_url: str, extra: dict[str, str] | None = None,
             kill_after: float | None = None, timeout: float = 1800) -> tuple[int, float]:
    """Run the backfill to its end (or until killed); returns (exit code, seconds)."""
    proc, t0 = _child(scenario, data_root, staging_url, extra or {})
    try:
        if kill_after is not None:
            try:
                proc.wait(kill_after)
            except subprocess.TimeoutExpired:
                proc.kill()  # SIGKILL
        code = proc.wait(timeout)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return code, time.monotonic() - t0


def fresh_root(scenario: Scenario, parent: Path, name: str) -> Path:
    root = parent / name
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(scenario.template, root, ignore=shutil.ignore_patterns("staging.db*", "curated", "raw", "work",
                                                                          "quarantine"))
    return root


class Stores:
    """Fresh staging stores for one dialect (a file per run, or a database per run)."""

    def __init__(self, dialect: str, server: Any = None) -> None:
        self.dialect, self.server, self.count = dialect, server, 0

    def new(self, root: Path) -> str:
        self.count += 1
        if self.dialect == "sqlite":
            return f"sqlite:///{root / 'staging.db'}"
        return self.server.create_database(f"chaos_{self.count}")  # type: ignore[no-any-return]


def chaos(dialect: str, scenario: Scenario, runs: int, rng: random.Random, work: Path, mode: str,
          server: Any = None, say: Any = print) -> tuple[dict[str, Any], list[RunResult]]:
    """The clean reference run, then ``runs`` kill-and-re-run iterations; returns facts and results."""
    stores = Stores(dialect, server)
    root = fresh_root(scenario, work, f"{dialect}-reference")
    url = stores.new(root)
    counts_file = work / f"{dialect}-points.json"
    ref_exit, ref_s = run_once(scenario, root, url, {"S06_CHAOS_COUNT": str(counts_file)})
    points = json.loads(counts_file.read_text(encoding="utf-8"))
    reference = snapshot(root, url)
    facts = {"dialect": dialect, "reference_exit": ref_exit, "reference_s": round(ref_s, 1), "points": points,
             "reference_rows": {k: len(v) for k, v in reference.items() if isinstance(v, list)}}
    say(f"[{dialect}] clean run: exit {ref_exit} in {ref_s:.0f} s; kill points passed: {points}")
    if ref_exit not in (0, 1):
        raise SystemExit(f"[{dialect}] the clean run could not run (exit {ref_exit}); see {root}.log")
    population = [(p, n) for p, total in sorted(points.items()) for n in range(1, total + 1)]
    results = []
    for i in range(1, runs + 1):
        root = fresh_root(scenario, work, f"{dialect}-{i:03d}")
        url = stores.new(root)
        if mode == "delay":
            delay = rng.uniform(0, ref_s)
            kill, extra, after = f"after {delay:.1f} s", {}, delay
        else:
            point, n = rng.choice(population)
            kill, extra, after = f"{point}:{n}", {"S06_CHAOS_KILL": f"{point}:{n}"}, None
        code, killed_s = run_once(scenario, root, url, extra, kill_after=after)
        killed = code in SIGKILL_CODES
        rerun_exit, _ = run_once(scenario, root, url)
        result = RunResult(dialect, i, kill, killed, round(killed_s, 1), rerun_exit)
        if rerun_exit != ref_exit:
            result.differences.append(f"re-run exit {rerun_exit}, clean run {ref_exit}")
        result.differences += compare(reference, snapshot(root, url))
        results.append(result)
        left = leftovers(root)
        say(f"[{dialect}] run {i}/{runs}: kill {kill} -> {'killed' if killed else f'not reached (exit {code})'} "
            f"after {killed_s:.1f} s; re-run exit {rerun_exit}; "
            + ("state equal to the clean run" if result.ok else "DIFFERS: " + "; ".join(result.differences))
            + (f" ({len(left)} hidden temp file(s) left in curated)" if left else ""))
        if result.ok:
            shutil.rmtree(root, ignore_errors=True)
    return facts, results


@contextmanager
def sample_world(work: Path, nights: int, per_night: int, seed: int,
                 datasets: list[str] | None = None) -> Iterator[Scenario]:
    """Generate the sample nights once and serve the sample facility systems for every run."""
    from config.registry import load_registry
    from config.settings import REPO_ROOT, load_settings
    from sample_data.generator import generate
    from sample_data.sources import sample_sources

    template = work / "template"
    generate(template, START, nights, seed=seed, per_night=per_night)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if not env.get("S06_PSEUDONYM_KEY") and not env.get("AIRFLOW_CONN_S06_PSEUDONYM_KEY"):
        env["AIRFLOW_CONN_S06_PSEUDONYM_KEY"] = (REPO_ROOT / "config" / "dev_connections" /
                                                 "s06_pseudonym_key.json").read_text(encoding="utf-8")
    # Serve the facility systems of the registry the runs read (S06_FACILITIES_FILE, else the
    # production one), so every REST/SQL facility of it has its sample system.
    with sample_sources(template, load_registry(load_settings().facilities_file)):
        env.update({k: v for k, v in os.environ.items() if k.startswith("AIRFLOW_CONN_S06_FAC")})
        yield Scenario(template=template, nights=nights, env=env, datasets=datasets or [])


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=10, help="kill-and-re-run iterations per dialect")
    p.add_argument("--dialect", action="append", choices=["sqlite", "postgresql"], help="default: both")
    p.add_argument("--nights", type=int, default=3, help="sample nights from 2026-11-21")
    p.add_argument("--per-night", type=int, default=40, help="sample volume (births per facility and night)")
    p.add_argument("--dataset", action="append", help="only these datasets (default: all)")
    p.add_argument("--seed", type=int, default=6, help="seed of the kill points (and of the sample data)")
    p.add_argument("--mode", choices=["points", "delay"], default="points", help="kill points or a random delay")
    p.add_argument("--work", type=Path, help="working folder (default: a temporary one, removed when all matched)")
    p.add_argument("--json", type=Path, help="write the facts and every run's result here")
    args = p.parse_args(argv)
    dialects = args.dialect or ["sqlite", "postgresql"]
    rng = random.Random(args.seed)
    work = args.work or Path(tempfile.mkdtemp(prefix="s06-chaos-"))
    work.mkdir(parents=True, exist_ok=True)
    all_facts, all_results = [], []
    t0 = time.monotonic()
    with sample_world(work, args.nights, args.per_night, args.seed, args.dataset) as scenario:
        for dialect in dialects:
            server = None
            if dialect == "postgresql":
                from tests.pg_server import start_server

                server = start_server()
            try:
                facts, results = chaos(dialect, scenario, args.runs, rng, work, args.mode, server)
            finally:
                if server is not None:
                    server.stop()
            all_facts.append(facts)
            all_results += results
    bad = [r for r in all_results if not r.ok]
    killed = sum(r.killed for r in all_results)
    summary = {"runs": len(all_results), "killed": killed, "matched": len(all_results) - len(bad),
               "mode": args.mode, "nights": args.nights, "per_night": args.per_night, "seed": args.seed,
               "datasets": args.dataset or "all",
               "seconds": round(time.monotonic() - t0)}
    print(f"chaos: {summary['runs']} run(s), {killed} killed by SIGKILL, {summary['matched']} equal to the clean run "
          f"after the re-run, {len(bad)} differ ({summary['seconds']} s)")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "facts": all_facts,
                                         "results": [asdict(r) | {"ok": r.ok} for r in all_results]}, indent=2))
    if not bad and args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    elif bad:
        print(f"kept for inspection: {work}")
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
