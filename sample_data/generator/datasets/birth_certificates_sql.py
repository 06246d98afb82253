"""Birth certificates read from a facility database (source kind ``sql``, format ``sql_xml9``).

The facility's HIS keeps the XML9 table (QĐ 130/3176 table 9) as a database table
``xml9_birth_certificates``: one row per child, one TEXT column per XML9 tag (the tags and
values the ``xml9`` file format carries), plus ``UPDATED_AT`` (local ``YYYY-MM-DD HH:MM:SS``
inside the delivery night's interval) and an integer primary key ``ROW_ID``. The generator
writes it as ``<out>/facility_db/<facility>.sqlite``; :func:`table_rows` gives the same rows so
tests can load them into PostgreSQL.

Records come from the births generator (its ``xml9`` layout) with mothers from their own pool
(the six file drops keep theirs). Defects: the cross-dataset warnings X3/X4 and a few births
rules (A3, B3, DUP), marked like the births catalogue.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from sample_data.generator.datasets import birth_certificates_records as births
from sample_data.generator.datasets.birth_certificates_records import BirthRecord, NightBatch, RunContext
from sample_data.generator.places import communes_of, province_codes
from sample_data.generator.records import FLAG, QUARANTINE, SUPERSEDE, PersonPool, Spec, catalogue
from sample_data.generator.registry import Citizen, Facility, Feed
from sample_data.generator.rng import derive_rng

TABLE = "xml9_birth_certificates"
CURSOR_COLUMN = "UPDATED_AT"
KEY_COLUMN = "ROW_ID"
FMT = "sql_xml9"
SPECS = catalogue(
    (
        Spec("mother_dead_in_registry", "X3", FLAG, (FMT,), "mother whose registry death date is before the birth", 2),
        Spec(
            "mother_male_in_registry", "X4", FLAG, (FMT,), "mother whose registry sex is male (ID digit says female)", 2
        ),
        Spec("bad_commune", "A3", QUARANTINE, (FMT,), "`MAXA_CU_TRU` = a ward of another province"),
        Spec("unknown_sex_code", "B3", QUARANTINE, (FMT,), "`GIOI_TINH_CON=9`"),
        Spec("exact_duplicate", "DUP", SUPERSEDE, (FMT,), "the row again (new `ROW_ID`), identical"),
    )
)


def columns() -> list[str]:
    """Table columns in order: ``ROW_ID``, the XML9 tags, ``UPDATED_AT``."""
    return [KEY_COLUMN, *(tag for tag, _ in births.xml9_fields(_SAMPLE)), CURSOR_COLUMN]


def as_xml9(facility: Facility) -> Facility:
    """The facility as the births generator sees it (XML9 layout: no surrogacy fields)."""
    return dataclasses.replace(facility, feeds=(Feed(dataset=births.DATASET, format="xml9", encoding="utf-8"),))


@dataclass
class SqlRow:
    """One table row and its ground truth.

    Attributes:
        row_id: primary key.
        night: delivery night.
        record: the birth record.
        updated_at: local time of the row's last change.
    """

    row_id: int
    night: date
    record: BirthRecord
    updated_at: datetime


def _mark(record: BirthRecord, name: str) -> None:
    spec = SPECS[name]
    record.defect, record.expected_rule, record.expected_action, record.locked = (
        spec.name,
        spec.rule,
        spec.action,
        True,
    )


def _as_mother(record: BirthRecord, mother: Citizen) -> None:
    """Put another registry woman (as far as her ID says) on the certificate."""
    record.mother_full_name = mother.full_name
    record.mother_birth_date = mother.birth_date
    record.mother_id_number = mother.personal_id
    record.mother_id_issue_date = mother.id_issue_date
    record.mother_social_insurance_no = mother.social_insurance_no
    record.mother_health_card_no = mother.health_card_no


def _died_before(day: date) -> Callable[[Citizen], bool]:
    """Predicate: the registry says the citizen died before ``day``."""
    return lambda c: c.death_date is not None and c.death_date < day


def inject(batches: list[NightBatch], seed: int, registry_dead: PersonPool, male_in_registry: PersonPool) -> None:
    """Place :data:`SPECS` on singleton records, cycling over the nights (in place).

    Args:
        batches: the SQL facility's batches, one per night.
        seed: run seed.
        registry_dead: women whose registry death date is set (X3).
        male_in_registry: citizens registered as male with a female ID (X4).
    """
    rng = derive_rng(seed, "defects", FMT)
    plan = [name for name, spec in SPECS.items() for _ in range(spec.per_format)]
    for i, name in enumerate(plan):
        batch = batches[i % len(batches)]
        candidates = [u for u in batch.units if len(u) == 1 and not u[0].locked]
        if not candidates:
            continue
        unit = candidates[rng.randrange(len(candidates))]
        r = unit[0]
        if name == "mother_dead_in_registry":
            _as_mother(r, registry_dead.take(_died_before(r.birth_day())))
        elif name == "mother_male_in_registry":
            _as_mother(r, male_in_registry.take())
        elif name == "bad_commune":
            others = [p for p in province_codes() if p != r.residence_province_code]
            r.residence_commune_code = rng.choice(communes_of(rng.choice(others))).code
        elif name == "unknown_sex_code":
            r.overrides["child_sex"] = "9"
        else:
            copy = dataclasses.replace(r, overrides=dict(r.overrides))
            _mark(copy, name)
            r.locked = True
            index = batch.units.index(unit)
            batch.units.insert(rng.randrange(index + 1, len(batch.units) + 1), [copy])
            continue
        _mark(r, name)


def plan(
    ctx: RunContext, facility: Facility, nights: list[date], registry_dead: PersonPool, male_in_registry: PersonPool
) -> list[NightBatch]:
    """Clean episodes per night (births generator, XML9 layout) with the SQL defects placed."""
    xml9 = as_xml9(facility)
    batches = [NightBatch(facility=xml9, night=night, units=births.plan_night(ctx, xml9, night)) for night in nights]
    inject(batches, ctx.seed, registry_dead, male_in_registry)
    return batches


def table_rows_of(batches: list[NightBatch], seed: int) -> list[SqlRow]:
    """Number the rows (``ROW_ID`` from 1, document order) and time-stamp them within each night."""
    out: list[SqlRow] = []
    row_id = 0
    for batch in batches:
        records = batch.records()
        rng = derive_rng(seed, "updated-at", FMT, batch.facility.code, batch.night.isoformat())
        step = 16 * 3600 // (len(records) + 1)
        moment = datetime.combine(batch.night, time(7, 0))
        for record in records:
            moment += timedelta(seconds=max(1, step // 2 + rng.randrange(max(step, 1))))
            moment = min(moment, datetime.combine(batch.night, time(23, 59, 59)))
            row_id += 1
            out.append(SqlRow(row_id=row_id, night=batch.night, record=record, updated_at=moment))
    return out


def as_dict(row: SqlRow) -> dict[str, str | int | None]:
    """One table row as ``column -> value`` (TEXT values; ``ROW_ID`` an int)."""
    values: dict[str, str | int | None] = {KEY_COLUMN: row.row_id}
    values.update(dict(births.xml9_fields(row.record)))
    values[CURSOR_COLUMN] = row.updated_at.strftime("%Y-%m-%d %H:%M:%S")
    return values


def write_sqlite(path: Path, rows: list[SqlRow]) -> None:
    """Write the table to a fresh SQLite file.

    Args:
        path: the database file (replaced).
        rows: the rows.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    cols = columns()
    ddl = ", ".join(f'"{c}" INTEGER PRIMARY KEY' if c == KEY_COLUMN else f'"{c}" TEXT' for c in cols)
    conn = sqlite3.connect(path)
    try:
        conn.execute(f"CREATE TABLE {TABLE} ({ddl})")
        conn.execute(f'CREATE INDEX ix_{TABLE}_updated_at ON {TABLE} ("{CURSOR_COLUMN}")')
        marks = ", ".join("?" for _ in cols)
        conn.executemany(
            f"INSERT INTO {TABLE} ({', '.join(chr(34) + c + chr(34) for c in cols)}) VALUES ({marks})",
            [[as_dict(r)[c] for c in cols] for r in rows],
        )
        conn.commit()
    finally:
        conn.close()


def table_rows(out_dir: Path, facility_code: str = "22015") -> list[dict[str, str | int | None]]:
    """Read back the rows of a generated facility database (to load them elsewhere, e.g. PostgreSQL).

    Args:
        out_dir: the generator's output folder.
        facility_code: the SQL facility.

    Returns:
        One dict per row, in ``ROW_ID`` order, keys = :func:`columns`.
    """
    conn = sqlite3.connect(out_dir / "facility_db" / f"{facility_code}.sqlite")
    try:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(f'SELECT * FROM {TABLE} ORDER BY "{KEY_COLUMN}"')]
    finally:
        conn.close()


_SAMPLE = BirthRecord(
    facility_code="00000", night=date(2026, 1, 1), source_format="xml9", element_id="", patient_id="", sequence=0,
    certificate_code="", episode_key="", mother_full_name="", mother_birth_date=date(2000, 1, 1),
    mother_ethnicity_code="", mother_nationality_code="", mother_id_type="", mother_id_number="",
    mother_id_issue_date=None, mother_social_insurance_no="", mother_health_card_no="", residence_address="",
    residence_province_code="", residence_commune_code="", father=None, child_temp_card_no="", child_name="",
    child_sex=1, children_in_delivery=1, birth_order=1, living_children=1, birth_weight_g=3000,
    birth_datetime=datetime(2026, 1, 1), birth_place="", child_condition="", caesarean=False, under_32_weeks=False,
    notes="", birth_attendant="", recorder="", issue_date=date(2026, 1, 1), book_number="", first_issue=True,
    surrogate=None, surrogate_husband=None, head_insurance_no="", head_name="",
)  # fmt: skip
