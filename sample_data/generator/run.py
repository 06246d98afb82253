"""Top-level generation: reference data, file drops and ground truth in one deterministic run."""

from __future__ import annotations

import math
import shutil
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sample_data.generator import (
    births,
    deaths,
    defects,
    defects_deaths,
    defects_drivers,
    defects_workforce,
    drivers,
    ground_truth,
    sql_births,
    workforce,
)
from sample_data.generator.births import NightBatch, RunContext
from sample_data.generator.records import Counters, Output, PersonPool, Rec
from sample_data.generator.registry import (
    DEFAULT_CITIZENS,
    ExtraPopulation,
    Facility,
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
DATASETS = ("birth_certificates", "death_notices", "driver_health_checks", "health_workforce")


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
    birth_drops = [f for f in facilities if f.sends(births.DATASET) and f.source_kind == "file_drop"]
    citizens = build_citizens(seed, start, citizen_count(len(birth_drops), nights, per_night))
    per_role = math.ceil(3 * nights * per_night * 0.7) + 60
    extra = build_extra_citizens(
        seed, start, {c.personal_id for c in citizens}, per_role, math.ceil(nights * per_night * 1.5) + 20
    )
    registry_dead = PersonPool(extra.registry_dead, derive_rng(seed, "pool", "registry-dead"))
    truth: dict[str, list[ground_truth.TruthRow]] = {name: [] for name in DATASETS}
    files = 0

    # Births, file drops: exactly as before the other datasets existed (same streams, same bytes).
    ctx = RunContext(seed=seed, start=start, per_night=per_night, mothers=births.MotherPool(citizens, seed))
    batches: list[NightBatch] = []
    for night in night_list:
        for facility in birth_drops:
            batches.append(NightBatch(facility=facility, night=night, units=births.plan_night(ctx, facility, night)))
    defects.inject(batches, seed, defect_rate)
    versions: dict[str, dict[str, int]] = {}
    for batch in batches:
        for rendered in births.render_batch(batch, versions.setdefault(batch.facility.code, {}), seed):
            write_bytes(out_dir / "drop" / rendered.rel_path, rendered.data)
            files += 1
            for record, placement in rendered.placements:
                assert isinstance(record, births.BirthRecord)
                truth[births.DATASET].append(
                    ground_truth.TruthRow(
                        facility_code=batch.facility.code,
                        night=batch.night.isoformat(),
                        source_file=rendered.rel_path,
                        source_ref=placement.source_ref,
                        record_key=record.certificate_code,
                        defect=record.defect,
                        expected_rule=record.expected_rule,
                        expected_action=record.expected_action,
                        order=placement.order,
                    )
                )
    legacy_births = list(truth[births.DATASET])

    # Births, SQL source: its own mothers, the XML9 columns in a database table.
    for facility in (f for f in facilities if f.sends(births.DATASET) and f.source_kind == "sql"):
        files += _sql_births(out_dir, facility, night_list, seed, per_night, extra, registry_dead, truth)

    # Death notices.
    death_ctx = deaths.DeathContext(
        seed=seed,
        deceased=PersonPool(extra.deceased, derive_rng(seed, "pool", "deceased")),
        counters=Counters(seed, start, deaths.DATASET, max(1, per_night // 2)),
    )
    death_batches = [
        deaths.plan_night(death_ctx, f, night, per_night)
        for night in night_list
        for f in facilities
        if f.sends(deaths.DATASET)
    ]
    defects_deaths.inject(death_batches, death_ctx, registry_dead)
    death_versions: dict[str, dict[str, int]] = {}
    outputs = [
        o for b in death_batches for o in deaths.render_batch(b, death_versions.setdefault(b.facility.code, {}), seed)
    ]
    files += _write(out_dir, outputs, deaths.record_key, truth[deaths.DATASET])

    # Driver health checks.
    driver_ctx = drivers.DriverContext(
        seed=seed,
        drivers=PersonPool(extra.drivers, derive_rng(seed, "pool", "drivers")),
        counters=Counters(seed, start, drivers.DATASET, max(1, per_night // 2)),
    )
    driver_batches = [
        drivers.plan_night(driver_ctx, f, night, per_night)
        for night in night_list
        for f in facilities
        if f.sends(drivers.DATASET)
    ]
    defects_drivers.inject(driver_batches, driver_ctx, registry_dead)
    outputs = [o for b in driver_batches for o in drivers.render_batch(b, seed)]
    files += _write(out_dir, outputs, drivers.record_key, truth[drivers.DATASET])

    # Health workforce.
    work_ctx = workforce.WorkforceContext(
        seed=seed,
        practitioners=PersonPool(extra.practitioners, derive_rng(seed, "pool", "practitioners")),
        licences=set(),
    )
    work_batches = [
        workforce.plan_night(work_ctx, f, night, per_night)
        for night in night_list
        for f in facilities
        if f.sends(workforce.DATASET)
    ]
    registry_ids = {c.personal_id for c in citizens} | {c.personal_id for c in extra.all()}
    defects_workforce.inject(work_batches, work_ctx, registry_ids)
    outputs = [o for b in work_batches for o in workforce.render_batch(b, seed)]
    files += _write(out_dir, outputs, workforce.record_key, truth[workforce.DATASET])

    everyone = citizens + extra.all()
    write_bytes(out_dir / "reference" / "citizen_registry.csv", citizens_csv(everyone).encode("utf-8"))
    write_bytes(out_dir / "reference" / "facilities.csv", facilities_csv(facilities).encode("utf-8"))
    for name, rows in truth.items():
        write_bytes(out_dir / "ground_truth" / f"{name}.csv", ground_truth.render_csv(rows).encode("utf-8"))
    write_bytes(out_dir / "ground_truth.csv", ground_truth.render_csv(legacy_births, legacy=True).encode("utf-8"))
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
        by_action={a: by_action.get(a, 0) for a in defects.ACTIONS},
        by_defect=dict(sorted(by_defect.items())),
        by_dataset={name: len(rows) for name, rows in truth.items()},
    )


def _write(out_dir: Path, outputs: list[Output], key: Callable[[Rec], str], rows: list[ground_truth.TruthRow]) -> int:
    """Write files of a string-field dataset and append their ground truth; returns files written."""
    for output in outputs:
        write_bytes(out_dir / output.path, output.data)
        for record, source_ref, order in output.placements:
            rows.append(
                ground_truth.TruthRow(
                    facility_code=record.facility_code,
                    night=record.night.isoformat(),
                    source_file=output.source_file,
                    source_ref=source_ref,
                    record_key=key(record),
                    defect=record.defect,
                    expected_rule=record.expected_rule,
                    expected_action=record.expected_action,
                    order=(order,),
                )
            )
    return len(outputs)


def _sql_births(
    out_dir: Path,
    facility: Facility,
    nights: list[date],
    seed: int,
    per_night: int,
    extra: ExtraPopulation,
    registry_dead: PersonPool,
    truth: dict[str, list[ground_truth.TruthRow]],
) -> int:
    """Generate the SQL facility's birth table and its ground truth; returns files written (1)."""
    ctx = RunContext(seed=seed, start=nights[0], per_night=per_night, mothers=births.MotherPool(extra.mothers, seed))
    male = PersonPool(extra.male_in_registry, derive_rng(seed, "pool", "male-in-registry"))
    batches = sql_births.plan(ctx, facility, nights, registry_dead, male)
    rows = sql_births.table_rows_of(batches, seed)
    sql_births.write_sqlite(out_dir / "facility_db" / f"{facility.code}.sqlite", rows)
    source = f"sql/{facility.code}/{sql_births.TABLE}"
    for row in rows:
        r = row.record
        truth[births.DATASET].append(
            ground_truth.TruthRow(
                facility_code=facility.code,
                night=row.night.isoformat(),
                source_file=source,
                source_ref=f"{sql_births.KEY_COLUMN}={row.row_id}",
                record_key=r.certificate_code,
                defect=r.defect,
                expected_rule=r.expected_rule,
                expected_action=r.expected_action,
                order=(row.row_id,),
            )
        )
    return 1


def facility_formats(seed: int = 6) -> dict[str, str]:
    """Facility code -> source format label (the counts tables' ``format`` column)."""
    return {f.code: f.feeds[0].format for f in build_facilities(seed)}


def catalogues() -> dict[str, Mapping[str, Any]]:
    """Dataset -> its defect catalogue(s) (births: file-drop catalogue plus the SQL source's)."""
    return {
        births.DATASET: {**defects.CATALOGUE, **sql_births.SPECS},
        deaths.DATASET: defects_deaths.SPECS,
        drivers.DATASET: defects_drivers.SPECS,
        workforce.DATASET: defects_workforce.SPECS,
    }
