"""Top-level generation: reference data, file drops and ground truth in one deterministic run."""

from __future__ import annotations

import math
import shutil
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from sample_data.generator import births, defects, ground_truth
from sample_data.generator.births import NightBatch, RunContext
from sample_data.generator.registry import (
    DEFAULT_CITIZENS,
    build_citizens,
    build_facilities,
    citizens_csv,
    facilities_csv,
    registry_yaml,
)
from sample_data.generator.writers import write_bytes

# What generate() owns under --out (and may replace on a re-run).
OWNED_NAMES = frozenset({"drop", "reference", "ground_truth.csv"})


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
        files: files written under ``drop/``.
        records: rows of ``ground_truth.csv`` (= records written).
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
    episodes = n_facilities * nights * per_night * (1 + births.PER_NIGHT_SPREAD)
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
    """Write a synthetic facility drop of birth certificates with defects and ground truth.

    Writes under ``out_dir``: ``reference/citizen_registry.csv``, ``reference/facilities.csv``,
    ``drop/<facility>/birth_certificates/<YYYY-MM-DD>/<file>`` and ``ground_truth.csv``. Files
    a previous run wrote there are replaced; any other content makes the call fail. The same
    arguments give byte-identical output.

    Args:
        out_dir: output folder.
        start: first delivery night (local date).
        nights: number of consecutive nights.
        seed: seed of every random draw.
        per_night: average certificates per facility and night (each varies ±30 %).
        defect_rate: share of records that get a record-level defect (file-level defects come
            on top).
        registry_out: also write the facility registry YAML there.

    Returns:
        Counts of what was written.

    Raises:
        ValueError: invalid arguments.
        OutputDirError: ``out_dir`` holds foreign files.
    """
    if nights < 1 or per_night < 1 or not 0 <= defect_rate <= 1:
        raise ValueError("need nights >= 1, per_night >= 1 and 0 <= defect_rate <= 1")
    out_dir = Path(out_dir)
    _prepare(out_dir)

    facilities = build_facilities(seed)
    citizens = build_citizens(seed, start, citizen_count(len(facilities), nights, per_night))
    ctx = RunContext(seed=seed, start=start, per_night=per_night, mothers=births.MotherPool(citizens, seed))
    batches: list[NightBatch] = []
    for k in range(nights):
        night = start + timedelta(days=k)
        for facility in facilities:
            batches.append(NightBatch(facility=facility, night=night, units=births.plan_night(ctx, facility, night)))
    defects.inject(batches, seed, defect_rate)

    rows: list[ground_truth.TruthRow] = []
    versions: dict[str, dict[str, int]] = {}
    files = 0
    for batch in batches:
        for rendered in births.render_batch(batch, versions.setdefault(batch.facility.code, {}), seed):
            write_bytes(out_dir / "drop" / rendered.rel_path, rendered.data)
            files += 1
            for record, placement in rendered.placements:
                assert isinstance(record, births.BirthRecord)
                rows.append(
                    ground_truth.TruthRow(
                        facility_code=batch.facility.code,
                        night=batch.night.isoformat(),
                        source_file=rendered.rel_path,
                        source_ref=placement.source_ref,
                        certificate_code=record.certificate_code,
                        defect=record.defect,
                        expected_rule=record.expected_rule,
                        expected_action=record.expected_action,
                        order=placement.order,
                    )
                )

    write_bytes(out_dir / "reference" / "citizen_registry.csv", citizens_csv(citizens).encode("utf-8"))
    write_bytes(out_dir / "reference" / "facilities.csv", facilities_csv(facilities).encode("utf-8"))
    write_bytes(out_dir / "ground_truth.csv", ground_truth.render_csv(rows).encode("utf-8"))
    if registry_out is not None:
        write_bytes(Path(registry_out), registry_yaml(facilities).encode("utf-8"))

    by_action = Counter(r.expected_action for r in rows)
    by_defect = Counter(r.defect for r in rows)
    return GenerationSummary(
        out_dir=out_dir,
        start=start,
        nights=nights,
        seed=seed,
        citizens=len(citizens),
        facilities=len(facilities),
        files=files,
        records=len(rows),
        by_action={a: by_action.get(a, 0) for a in defects.ACTIONS},
        by_defect=dict(sorted(by_defect.items())),
    )
