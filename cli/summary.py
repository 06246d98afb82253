"""Human summary of nights from the ledger: what operators read after a run.

Counts and reasons only: the summary never prints a name, an ID or a date of birth::

    s06 summary --start 2026-11-21 --nights 3 [--dataset birth_certificates]
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from config.contracts import available_datasets
from config.settings import Settings, load_settings
from loaders import staging
from loaders.schema import acknowledgements, quarantine


def render(settings: Settings, datasets: list[str], nights: list[dt.date]) -> str:
    """A plain-text report per night and facility (received, loaded, quarantined by reason...)."""
    engine = staging.make_engine(settings.staging_url)
    staging.ensure_schema(engine, datasets)
    night_set = {n.isoformat() for n in nights}
    lines: list[str] = []
    rows = [r for ds in datasets for r in staging.ledger_rows(engine, ds) if r["batch_id"].rsplit("/", 1)[-1] in night_set]
    batch_ids = [r["batch_id"] for r in rows]
    rules = staging.counts_by_batch(engine, quarantine, "rule_id", batch_ids)
    acks = staging.counts_by_batch(engine, acknowledgements, "status", batch_ids)
    header = (f"{'facility':<8} {'status':<7} {'recv':>6} {'loaded':>6} {'quar':>5} {'super':>5} {'held':>5} "
              f"{'flag':>5} {'acked':>5}  quarantined by rule")
    for ds in datasets:
        for night in sorted(night_set):
            batch = [r for r in rows if r["dataset"] == ds and r["batch_id"].endswith("/" + night)]
            if not batch:
                continue
            lines.append(f"\n== {ds} - night {night} ==")
            lines.append(header)
            for r in batch:
                by_rule = ", ".join(f"{k}:{v}" for k, v in rules.get(r["batch_id"], {}).items()) or "-"
                acked = sum(acks.get(r["batch_id"], {}).values())
                lines.append(
                    f"{r['facility_code']:<8} {r['status']:<7} {r['received']:>6} {r['loaded']:>6} "
                    f"{r['quarantined']:>5} {r['superseded']:>5} {r['held']:>5} {r['flagged']:>5} {acked:>5}  {by_rule}"
                )
                rejected = acks.get(r["batch_id"], {}).get("rejected")
                if rejected:
                    lines.append(f"{'':<8} population DB rejected {rejected} (see acknowledgements)")
                if r["files_rejected"] or r["files_skipped"]:
                    lines.append(f"{'':<8} files: {r['files_received']} received, {r['files_rejected']} rejected, "
                                 f"{r['files_skipped']} skipped (already loaded)")
                if r["reason"]:
                    lines.append(f"{'':<8} ! {r['reason']}")
            tot = {k: sum(r[k] for r in batch) for k in ("received", "loaded", "quarantined", "superseded", "held")}
            ok = all(staging.reconcile(r) is None for r in batch if r["status"] != "failed")
            lines.append(
                f"{'total':<8} {'':<7} {tot['received']:>6} {tot['loaded']:>6} {tot['quarantined']:>5} "
                f"{tot['superseded']:>5} {tot['held']:>5}              reconciled: {'yes' if ok else 'NO'}"
            )
    failed = [r for r in rows if r["status"] in ("failed", "held", "partial")]
    if failed:
        lines.append("\nNeeds attention (the other facilities of the night were loaded and published):")
        for r in failed:
            lines.append(f"  {r['dataset']:<22} {r['facility_code']:<6} {r['batch_id'].rsplit('/', 1)[-1]} "
                         f"{r['status']:<7} {r.get('source_kind') or '':<9} {r['reason'] or ''}")
    curated = sorted(Path(settings.curated_root).glob("*/*/*/part-*.parquet"))
    lines.append("\nOutputs:")
    lines.append(f"  staging store     {settings.staging_url}")
    lines.append(f"  curated Parquet   {settings.curated_root} ({len(curated)} partition file(s))")
    for path in curated:
        lines.append(f"                    {path.relative_to(settings.curated_root)}")
    lines.append(f"  quarantine zone   {settings.quarantine_root}  (restricted: held-back rows as received)")
    lines.append(f"  raw zone          {settings.raw_root}  (files as received + manifest.json)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: print the summary of the given nights."""
    import argparse

    p = argparse.ArgumentParser(prog="s06 summary", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--start", type=dt.date.fromisoformat, required=True, help="first night (local date)")
    p.add_argument("--nights", type=int, default=1, help="number of consecutive nights")
    p.add_argument("--dataset", action="append", choices=available_datasets(), help="dataset(s); default: all")
    args = p.parse_args(argv)
    nights = [args.start + dt.timedelta(days=i) for i in range(args.nights)]
    print(render(load_settings(), args.dataset or available_datasets(), nights))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
