"""Render ``docs/benchmarks.md`` from ``bench/results/*.json`` (figures, the commit, the machine).

Every table states the commit and the time each figure was measured at, and the load average of
the shared machine when the run started: the ratios (pipeline / hand-written floor, measured in
the same run) are the figures to read; absolute seconds move with the machine's load.

    python -m bench.report            # writes docs/benchmarks.md
    python -m bench.report --check    # fails if docs/benchmarks.md is not what the results give
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
OUT = REPO / "docs" / "benchmarks.md"


def _load(pattern: str) -> list[tuple[str, Any]]:
    out = []
    for path in sorted(RESULTS.glob(pattern)):
        out.append((path.name, json.loads(path.read_text(encoding="utf-8"))))
    return out


def _stamp(machine: dict[str, Any] | None) -> str:
    m = machine or {}
    load = m.get("loadavg_1_5_15") or ["?"]
    return f"commit `{m.get('git_commit') or '?'}`, {m.get('when', '?')}, load average {load[0]}"


def _national() -> list[str]:
    lines = ["## A national night", "",
             "`python -m bench.bench_national` (sizing in `bench/national.py`): 13,000 facility codes, all "
             "registered for `health_workforce`, births from 6,000, death notices from 2,000, driver checks from "
             "1,500; per facility and dataset nothing with probability 0.2 (silent), else 1-5 records in one CSV "
             "file. The pipeline runs the DAG's task functions (`plan_shards` → `process_shard` per shard → "
             "`publish_curated` → `reconcile_interval`) against PostgreSQL 15; the floor (`bench/floor.py`: list, "
             "land with SHA-256, `pyarrow.csv`, casts and checks, `COPY`, ledger `COPY`, pseudonymized Parquet) "
             "processes the same files into the same server in the same run.", ""]
    found = _load("national_*.json")
    if not found:
        return [*lines, "_No result yet._", ""]
    lines += ["| run | facilities | batches (silent) | rows | shards | pipeline s | floor s | **ratio** | "
              "silent batch ms (floor) | delivering batch ms (floor) | identical re-run s | peak MiB (floor) | "
              "measured |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, r in found:
        p, f = r["project"], r.get("floor") or {}
        shards = sum(d["shards"] for d in p["datasets"].values())
        pb, fb = r["project_per_batch"], r.get("floor_per_batch") or {}
        lines.append(
            f"| `{name}` ({r['backend']}, {r['workers']} worker(s)) | {r['sizing']['facilities']:,} | "
            f"{r['batches']:,} ({r['silent_batches']:,}) | {sum(r['rows'].values()):,} | {shards} | "
            f"{p['total_s']:.1f} | {f.get('total_s', float('nan')):.1f} | **{r.get('ratio')}** | "
            f"{pb['silent_ms']:.2f} ({fb.get('silent_ms', float('nan')):.2f}) | "
            f"{pb['delivering_ms']:.1f} ({fb.get('delivering_ms', float('nan')):.1f}) | {r['rerun']['total_s']:.1f} | "
            f"{p['peak_mib']:.0f} ({f.get('peak_mib', float('nan')):.0f}) | {_stamp(r.get('machine'))} |")
    lines.append("")
    name, r = found[-1]
    lines += [f"Per dataset (`{name}`):", "", "| dataset | facilities | shards | process s | publish s | total s | "
              "floor s |", "|---|---:|---:|---:|---:|---:|---:|"]
    for ds, d in r["project"]["datasets"].items():
        fl = (r.get("floor") or {}).get("datasets", {}).get(ds, {}).get("total_s", float("nan"))
        lines.append(f"| `{ds}` | {d['facilities']:,} | {d['shards']} | {d['process_s']:.1f} | {d['publish_s']:.1f} | "
                     f"{d['total_s']:.1f} | {fl:.1f} |")
    return [*lines, ""]


def _history() -> list[str]:
    lines = ["## A night into a large store", "",
             "`python -m bench.bench_history`: the same night (one facility, `--night` birth rows) processed and "
             "published into an empty store and into one holding `--history` rows (the months already large), "
             "fresh databases each time, medians; the target is at most 1.2×.", ""]
    found = _load("history_*.json")
    if not found:
        return [*lines, "_No result yet._", ""]
    lines += ["| store rows | night rows | empty s (publish) | full s (publish) | **ratio** | publish ratio | measured |",
              "|---:|---:|---:|---:|---:|---:|---|"]
    for _name, r in found:
        e, f = r["median"]["empty"], r["median"]["full"]
        lines.append(f"| {r['history_rows']:,} | {r['night_rows']:,} | {e['total_s']:.2f} ({e['publish_s']:.2f}) | "
                     f"{f['total_s']:.2f} ({f['publish_s']:.2f}) | **{r['ratio']}** | {r['publish_ratio']} | "
                     f"{_stamp(r.get('machine'))} |")
    return [*lines, ""]


def _start() -> list[str]:
    lines = ["## Process start and one small batch", "",
             "`python -m bench.bench_start`: a fresh interpreter importing what a facility task imports (with "
             "and without Great Expectations), a task process forked from a worker that imported everything "
             "beforehand (`ops/preload.py`), and one 20-record facility alone and inside a 200-facility shard; "
             "each against the hand-written floor in the same run.", ""]
    found = _load("start.json")
    if not found:
        return [*lines, "_No result yet._", ""]
    _name, r = found[0]
    sb = r.get("small_batch", {})
    lines += [
        "| measure | pipeline s | floor s | ratio |", "|---|---:|---:|---:|",
        f"| cold start (imports incl. Great Expectations) | {r['cold_start_s']:.2f} | {r['floor_cold_start_s']:.2f} | "
        f"{r['cold_start_ratio']} |",
        f"| cold start without Great Expectations (silent/unchanged shards) | {r['cold_start_without_gx_s']:.2f} | "
        f"{r['floor_cold_start_s']:.2f} | {r['cold_start_without_gx_ratio']} |",
        f"| task process forked from a preloaded worker | {r['forked_start_s']:.3f} | {r['floor_cold_start_s']:.2f} | "
        f"{r['forked_start_ratio']} |",
        f"| one 20-row batch alone (warm process) | {sb.get('alone_s', float('nan')):.3f} | "
        f"{sb.get('floor_alone_s') or float('nan'):.3f} | {sb.get('alone_ratio')} |",
        f"| one 20-row batch inside a 200-facility shard (per batch) | {sb.get('per_batch_in_shard_s', float('nan')):.3f} | "
        f"{sb.get('floor_alone_s') or float('nan'):.3f} | {sb.get('in_shard_ratio')} |",
        "", f"Measured at {_stamp(r.get('machine'))}.", ""]
    return lines


def _throughput() -> list[str]:
    lines = ["## Throughput: a million rows", "",
             "`python -m bench.bench_pipeline --dataset <ds> --rows 1000000 [--postgres]`: one facility CSV through "
             "the shard runner (the code the DAG runs), then the curated publish and the identical re-run "
             "(skipped: inputs unchanged). With `--postgres`, the floor processes the same file into the same "
             "server in the same run.", ""]
    found = [(n, r) for n, r in _load("*_1m_*.json") if isinstance(r, dict) and "timings" in r]
    if not found:
        return [*lines, "_No result yet._", ""]
    lines += ["| dataset | backend | read | normalize | validate | spill | load | publish | **end to end** | floor | "
              "ratio | identical re-run | peak MiB | measured |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
              "---:|---:|---|"]
    for _name, r in found:
        t = r["timings"]
        floor = r.get("floor", {}).get("total_s")
        lines.append(
            f"| `{r['dataset']}` | {r['backend']} | {t.get('read', 0):.1f} | {t.get('normalize', 0):.1f} | "
            f"{t.get('validate', 0):.1f} | {t.get('spill', 0):.1f} | {t.get('load', 0):.1f} | "
            f"{t.get('publish_parquet', 0):.1f} | **{t.get('end_to_end', 0):.1f}** | "
            f"{'' if floor is None else f'{floor:.1f}'} | {r.get('floor_ratio', '')} | "
            f"{t.get('rerun_same_interval', 0):.1f} | {r['peak_mib']:.0f} | {_stamp(r.get('machine'))} |")
    return [*lines, ""]


def _other(pattern: str, title: str, render: Any) -> list[str]:
    found = _load(pattern)
    if not found:
        return []
    lines = [f"## {title}", ""]
    for name, r in found:
        lines += render(name, r)
    return [*lines, ""]


def _pg_load(name: str, r: dict[str, Any]) -> list[str]:
    return [f"`{name}`: plain COPY {r.get('copy_s', 0):.1f} s; staging first load {r.get('first_load_s', 0):.1f} s "
            f"(**{r.get('first_load_ratio')}×** COPY); identical re-load {r.get('reload_s', 0):.1f} s "
            f"({r.get('reload_ratio')}×); {_stamp(r.get('machine'))}.", ""]


def _xml(name: str, r: dict[str, Any]) -> list[str]:
    rows = r.get("results") or r.get("formats") or []
    lines = [f"`{name}` ({_stamp(r.get('machine'))}):", ""]
    if isinstance(rows, list):
        lines += ["| format | records | reader s | plain iterparse s | ratio |", "|---|---:|---:|---:|---:|"]
        for x in rows:
            lines.append(f"| {x.get('format')} | {x.get('records', '')} | {x.get('reader_s', float('nan')):.2f} | "
                         f"{x.get('iterparse_s', float('nan')):.2f} | {x.get('ratio')} |")
    return [*lines, ""]


def render() -> str:
    parts = ["# Benchmarks", "",
             "Generated by `python -m bench.report` from `bench/results/*.json`; do not edit by hand. Each figure "
             "comes with the commit it was measured at and the machine's load average (2 cores, 24 GiB, shared with "
             "other work: read ratios, not seconds). Run them with `make bench` (everything) or the commands below.",
             ""]
    parts += _national() + _history() + _start() + _throughput()
    parts += _other("pg_load_*.json", "PostgreSQL staging load against plain COPY", _pg_load)
    parts += _other("xml_readers*.json", "XML readers against a plain iterparse", _xml)
    return "\n".join(parts).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not OUT.is_file() or OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT.relative_to(REPO)} is stale: run python -m bench.report", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
