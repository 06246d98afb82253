"""Top-level generation: reference data, file drops and ground truth in one deterministic run."""

from __future__ import annotations

import math
import shutil
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sample_data.generator import ground_truth
from sample_data.generator.datasets import generators
from sample_data.generator.protocol import RunInputs
from sample_data.generator.records import ACTIONS, PER_NIGHT_SPREAD, PersonPool
from sample_data.generator.registry import (
    DEFAULT_CITIZENS,
    build_citizens,
    build_extra_citizens,
    build_facilities,
    citizens_csv,
    facilities_csv,
    registry_yaml,
)
from sample_data.generator.rng import derive_rng
from sample_data.generator.writers import write_bytes

# What generate() owns under --out (and may replace on a re-run).
OWNED_NAMES = frozenset({"drop", "api", "facility_db", "reference", "ground_truth", "ground_truth.csv"})


class OutputDirError(RuntimeError):
    """The output folder holds files the generator did not write."""


@dataclass
class GenerationSummary:
    """What a run wrote (counts only: no personal data).

    Attributes:
        out_dir: the output folder.
        start: first delivery night.
        nights: number of nights.
        seed: run seed.
        citizens: rows of ``reference/citizen_registry.csv``.
        facilities: rows of ``reference/facilities.csv``.
        files: files written under ``drop/``, ``api/`` and ``facility_db/``.
        records: ground-truth rows of all datasets (= records written).
        by_action: expected action -> records.
        by_defect: defect id (``""`` = clean) -> records.
    """

    out_dir: Path
    start: date
    nights: int
    seed: int
    citizens: int
    facilities: int
    files: int
    records: int
    by_action: dict[str, int] = field(default_factory=dict)
    by_defect: dict[str, int] = field(default_factory=dict)
    by_dataset: dict[str, int] = field(default_factory=dict)


def _prepare(out_dir: Path) -> None:
    """Create ``out_dir`` or clear what a previous run wrote there (and nothing else).

    Other entries (the pipeline's raw/curated zones and staging DB when ``out_dir`` is the data
    root) are left untouched, so the main job can regenerate its sample data run after run.
    """
    if out_dir.exists():
        for name in sorted(OWNED_NAMES):
            target = out_dir / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)


def citizen_count(n_facilities: int, nights: int, per_night: int) -> int:
    """Citizens needed so that no woman is a mother twice in a run.

    Args:
        n_facilities: facilities.
        nights: nights.
        per_night: average certificates per facility-night.

    Returns:
        At least :data:`~sample_data.generator.registry.DEFAULT_CITIZENS`.
    """
    episodes = n_facilities * nights * per_night * (1 + PER_NIGHT_SPREAD)
    return max(DEFAULT_CITIZENS, math.ceil(episodes * 1.6 / 0.72 / 100) * 100)


def generate(
    out_dir: Path,
    start: date,
    nights: int,
    seed: int = 6,
    per_night: int = 40,
    defect_rate: float = 0.12,
    *,
    registry_out: Path | None = None,
) -> GenerationSummary:
    """Write synthetic sources of the four datasets with defects and their ground truth.

    Writes under ``out_dir``: ``reference/citizen_registry.csv``, ``reference/facilities.csv``,
    ``drop/<facility>/<dataset>/<YYYY-MM-DD>/<file>`` (file drops),
    ``api/<facility>/<dataset>/<YYYY-MM-DD>.jsonl`` (REST sources),
    ``facility_db/<facility>.sqlite`` (SQL source), ``ground_truth/<dataset>.csv`` and the legacy
    ``ground_truth.csv`` (births file drops). Files a previous run wrote there are replaced;
    anything else is left alone. The same arguments give byte-identical output.

    Args:
        out_dir: output folder.
        start: first delivery night (local date).
        nights: number of consecutive nights.
        seed: seed of every random draw.
        per_night: average birth certificates per facility and night (each varies ±30 %); the
            other datasets send about half as many records per facility and night.
        defect_rate: share of birth records of the file drops that get a record-level defect
            (file-level defects come on top). The other datasets place every kind of their
            catalogue a fixed number of times.
        registry_out: also write the facility registry YAML there.

    Returns:
        Counts of what was written.

    Raises:
        ValueError: invalid arguments.
    """
    if nights < 1 or per_night < 1 or not 0 <= defect_rate <= 1:
        raise ValueError("need nights >= 1, per_night >= 1 and 0 <= defect_rate <= 1")
    out_dir = Path(out_dir)
    _prepare(out_dir)
    night_list = [start + timedelta(days=k) for k in range(nights)]

    facilities = build_facilities(seed)
    birth_drops = [f for f in facilities if f.sends("birth_certificates") and f.source_kind == "file_drop"]
    citizens = build_citizens(seed, start, citizen_count(len(birth_drops), nights, per_night))
    per_role = math.ceil(3 * nights * per_night * 0.7) + 60
    extra = build_extra_citizens(
        seed, start, {c.personal_id for c in citizens}, per_role, math.ceil(nights * per_night * 1.5) + 20
    )
    run = RunInputs(
        out_dir=out_dir, seed=seed, start=start, nights=night_list, per_night=per_night, defect_rate=defect_rate,
        facilities=facilities, citizens=citizens, extra=extra,
        registry_dead=PersonPool(extra.registry_dead, derive_rng(seed, "pool", "registry-dead")),
    )
    # One module per dataset, in registry order (they draw from the shared registry_dead pool).
    truth: dict[str, list[ground_truth.TruthRow]] = {}
    files = 0
    for gen in generators():
        made = gen.generate(run)
        truth[gen.DATASET] = made.truth
        files += made.files
        for rel, data in made.extra_files.items():
            write_bytes(out_dir / rel, data)

    everyone = citizens + extra.all()
    write_bytes(out_dir / "reference" / "citizen_registry.csv", citizens_csv(everyone).encode("utf-8"))
    write_bytes(out_dir / "reference" / "facilities.csv", facilities_csv(facilities).encode("utf-8"))
    for name, rows in truth.items():
        write_bytes(out_dir / "ground_truth" / f"{name}.csv", ground_truth.render_csv(rows).encode("utf-8"))
    if registry_out is not None:
        write_bytes(Path(registry_out), registry_yaml(facilities).encode("utf-8"))

    all_rows = [r for rows in truth.values() for r in rows]
    by_action = Counter(r.expected_action for r in all_rows)
    by_defect = Counter(r.defect for r in all_rows)
    return GenerationSummary(
        out_dir=out_dir,
        start=start,
        nights=nights,
        seed=seed,
        citizens=len(everyone),
        facilities=len(facilities),
        files=files,
        records=len(all_rows),
        by_action={a: by_action.get(a, 0) for a in ACTIONS},
        by_defect=dict(sorted(by_defect.items())),
        by_dataset={name: len(rows) for name, rows in truth.items()},
    )


def facility_formats(seed: int = 6) -> dict[str, str]:
    """Facility code -> source format label (the counts tables' ``format`` column)."""
    return {f.code: f.feeds[0].format for f in build_facilities(seed)}


def catalogues() -> dict[str, Mapping[str, Any]]:
    """Dataset -> its defect catalogue (births: file-drop catalogue plus the SQL source's)."""
    return {gen.DATASET: gen.CATALOGUE for gen in generators()}
