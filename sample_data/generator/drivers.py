"""Driver health certificates (giấy khám sức khỏe lái xe, VSS ``gksk``): generation and layouts.

Field names are the gksk keys of the shared spec (DOMAIN §5.3), in spec order; values are text
in the JSON convention (``GIOITINHVAL`` 0 male / 1 female). The ``csv`` layout lower-cases the
names and writes the sex as 1 male / 2 female (the XML convention); one csv facility is
Windows-1258. Drivers are adult registry citizens old enough for the class; group-3 classes
always carry a drug-test result (``MATUY``) in clean records.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sample_data.generator import code_lists as cl
from sample_data.generator import reference as ref
from sample_data.generator.births import address
from sample_data.generator.places import communes_of
from sample_data.generator.records import (
    Batch,
    Counters,
    Output,
    PersonPool,
    Rec,
    iso_local,
    json_line,
    night_volume,
    normalize,
    stamp_updates,
)
from sample_data.generator.registry import Citizen, Facility, random_name
from sample_data.generator.rng import derive_rng, weighted_choice
from sample_data.generator.writers import csv_text, encode_text

DATASET = "driver_health_checks"
FIELDS: tuple[str, ...] = (
    "SO", "HOTEN", "GIOITINHVAL", "NGAYSINH", "DIACHITHUONGTRU", "MATINH_THUONGTRU", "MAXA_THUONGTRU",
    "SOCMND_PASSPORT", "NGAYTHANGNAMCAPCMND", "NOICAP", "IDBENHVIEN", "BENHVIEN", "NGAYKHAM", "NONGDOCON",
    "DVINONGDOCON", "MATUY", "NGAYKETLUAN", "BACSYKETLUAN", "KETLUAN", "HANGBANGLAI", "NGAYKHAMLAI", "LYDO",
    "TINHTRANGBENH", "STATE",
)  # fmt: skip
CSV_HEADER: tuple[str, ...] = tuple(f.lower() for f in FIELDS)
CSV_SEX = {"0": "1", "1": "2"}  # json convention -> csv convention
SECOND_CLASS_SHARE = 0.08
NUMBER_SHARE = 0.2  # jsonl/api lines whose GIOITINHVAL/MATUY are JSON numbers


def dmy(day: date) -> str:
    """``dd/MM/yyyy``."""
    return day.strftime("%d/%m/%Y")


def parse_dmy(text: str) -> date:
    """Inverse of :func:`dmy` (valid values only)."""
    return datetime.strptime(text, "%d/%m/%Y").date()


def certificate_no(sequence: int, facility_code: str, year: int) -> str:
    """``NNNNN/GKSKLX/<facility>/<YY>``."""
    return f"{sequence:05d}/GKSKLX/{facility_code}/{year % 100:02d}"


def pick_class(rng: random.Random, age: int) -> str:
    """A licence class the driver is old enough for."""
    allowed = {c: w for c, w in cl.CLASS_WEIGHTS.items() if cl.MIN_AGE[c] <= age}
    return weighted_choice(rng, allowed)


@dataclass
class DriverContext:
    """State shared by the facility-nights of one run.

    Attributes:
        seed: run seed.
        drivers: citizens who take a check.
        counters: certificate numbers per facility and year.
    """

    seed: int
    drivers: PersonPool
    counters: Counters


def person_fields(c: Citizen, rng: random.Random) -> dict[str, str]:
    """The driver's identity fields from the registry (JSON sex convention)."""
    commune = rng.choice(communes_of(c.home_province))
    assert c.id_issue_date is not None
    return {
        "HOTEN": c.full_name,
        "GIOITINHVAL": "0" if c.sex == 1 else "1",
        "NGAYSINH": dmy(c.birth_date),
        "DIACHITHUONGTRU": address(rng, commune.name, c.home_province),
        "MATINH_THUONGTRU": c.home_province,
        "MAXA_THUONGTRU": commune.code,
        "SOCMND_PASSPORT": c.personal_id,
        "NGAYTHANGNAMCAPCMND": dmy(c.id_issue_date),
        "NOICAP": ref.ID_ISSUER,
    }


def outcome(rng: random.Random, klass: str, concluded: date) -> dict[str, str]:
    """Drug test, conclusion and the fields that go with it, consistent with the class."""
    tested = klass in cl.GROUP3_CLASSES or rng.random() < 0.4
    verdict = weighted_choice(rng, {cl.FIT: 88, cl.FIT_REEXAM: 8, cl.UNFIT: 4})
    return {
        "MATUY": "0" if tested else "",
        "KETLUAN": verdict,
        "NGAYKHAMLAI": dmy(concluded + timedelta(days=182)) if verdict == cl.FIT_REEXAM else "",
        "TINHTRANGBENH": cl.HEALTH_NOTES[verdict],
    }


def make_check(
    ctx: DriverContext,
    facility: Facility,
    night: date,
    rng: random.Random,
    person: Citizen,
    concluded: date,
    klass: str | None = None,
) -> Rec:
    """One clean ``ADD`` certificate concluded on ``concluded`` (numbered in its year)."""
    exam = concluded - timedelta(days=weighted_choice(rng, {0: 70, 1: 20, 2: 10}))
    klass = klass or pick_class(rng, person.age_on(exam))
    seq = ctx.counters.next(facility.code, concluded.year)
    fields = {
        "SO": certificate_no(seq, facility.code, concluded.year),
        **person_fields(person, rng),
        "IDBENHVIEN": facility.code,
        "BENHVIEN": facility.name,
        "NGAYKHAM": dmy(exam),
        "NONGDOCON": "0",
        "DVINONGDOCON": "1",
        "NGAYKETLUAN": dmy(concluded),
        "BACSYKETLUAN": rng.choice(facility.attendants).split(" ", 1)[-1],
        "HANGBANGLAI": klass,
        "LYDO": rng.choice(cl.EXAM_REASONS),
        "STATE": "ADD",
        **outcome(rng, klass, concluded),
    }
    fmt = facility.feed(DATASET).format
    numbers = frozenset({"GIOITINHVAL", "MATUY"}) if fmt != "csv" and rng.random() < NUMBER_SHARE else frozenset()
    return Rec(
        facility_code=facility.code,
        night=night,
        fields={name: fields[name] for name in FIELDS},
        person=person,
        numbers=numbers,
    )


def plan_night(ctx: DriverContext, facility: Facility, night: date, per_night: int) -> Batch:
    """The clean certificates a facility delivers on one night (some drivers with two classes).

    Args:
        ctx: run state.
        facility: the facility.
        night: delivery night.
        per_night: the births average (volumes scale with it).

    Returns:
        The batch, ordered by conclusion date.
    """
    rng = derive_rng(ctx.seed, "night", DATASET, facility.code, night.isoformat())
    n = night_volume(ctx.seed, DATASET, facility.code, night, per_night)
    records: list[Rec] = []
    while len(records) < n:
        concluded = night - timedelta(days=weighted_choice(rng, {0: 40, 1: 30, 2: 20, 3: 10}))
        exam_floor = concluded - timedelta(days=2)
        person = ctx.drivers.take(lambda c, day=exam_floor: c.age_on(day) >= 18)
        rec = make_check(ctx, facility, night, rng, person, concluded)
        records.append(rec)
        if rng.random() < SECOND_CLASS_SHARE:
            # The same certificate number for a second class (natural key SO + HANGBANGLAI).
            age = person.age_on(parse_dmy(rec.fields["NGAYKHAM"]))
            others = [c for c in ("A1", "A", "B", "C1") if c != rec.fields["HANGBANGLAI"] and cl.MIN_AGE[c] <= age]
            second = rec.copy()
            second.fields["HANGBANGLAI"] = rng.choice(others)
            if rec.fields["HANGBANGLAI"] in cl.GROUP3_CLASSES or second.fields["HANGBANGLAI"] in cl.GROUP3_CLASSES:
                second.fields["MATUY"] = rec.fields["MATUY"] = "0"
            second.defect, second.locked, rec.locked = "second_class", True, True
            records.append(second)
    records.sort(key=lambda r: (parse_dmy(r.fields["NGAYKETLUAN"]), r.fields["SO"]))
    return Batch(facility=facility, dataset=DATASET, night=night, records=records)


def record_key(r: Rec) -> str:
    """Natural key as written: ``SO|HANGBANGLAI`` (empty for an unparseable line)."""
    if r.raw_text is not None:
        return ""
    return f"{r.overrides.get('SO', r.fields['SO'])}|{r.overrides.get('HANGBANGLAI', r.fields['HANGBANGLAI'])}"


def values(r: Rec, fmt: str) -> dict[str, str]:
    """Field -> text in a format's convention, overrides applied."""
    out = dict(r.fields)
    if fmt == "csv":
        out["GIOITINHVAL"] = CSV_SEX.get(out["GIOITINHVAL"], out["GIOITINHVAL"])
    out.update(r.overrides)
    return out


def jsonl_text(records: list[Rec], fmt: str, with_updated_at: bool) -> str:
    """One gksk object per line (a raw line verbatim), LF line ends."""
    lines = []
    for r in records:
        if r.raw_text is not None:
            lines.append(r.raw_text)
            continue
        extra = {"updated_at": iso_local(r.updated_at)} if with_updated_at and r.updated_at else None
        lines.append(json_line(values(r, fmt), r.numbers, extra))
    return "\n".join(lines) + "\n"


def render_batch(batch: Batch, seed: int) -> list[Output]:
    """Serialise one facility-night batch.

    * ``gksk_jsonl``: ``drop/<fac>/driver_health_checks/<night>/<YYYY-MM-DD>.jsonl``, ``line N``.
    * ``csv``: ``drop/.../gksk_<fac>_<YYYYMMDD>.csv`` (lower-cased keys), ``row N``.
    * ``gksk_api``: ``api/<fac>/driver_health_checks/<YYYY-MM-DD>.jsonl`` with ``updated_at``;
      source_file ``api/<fac>/driver_health_checks``, empty source_ref.

    Args:
        batch: the batch.
        seed: run seed.

    Returns:
        The files.
    """
    fac, night = batch.facility.code, batch.night.isoformat()
    folder = f"{fac}/{DATASET}/{night}"
    if batch.format == "gksk_jsonl":
        rel = f"{folder}/{night}.jsonl"
        text = normalize(jsonl_text(batch.records, batch.format, False), batch.normalization)
        placed = [(r, f"line {n}", n) for n, r in enumerate(batch.records, start=1)]
        return [Output(f"drop/{rel}", encode_text(text, batch.encoding), rel, placed)]
    if batch.format == "csv":
        rows = [[values(r, "csv")[name] for name in FIELDS] for r in batch.records]
        rel = f"{folder}/gksk_{fac}_{batch.night:%Y%m%d}.csv"
        text = normalize(csv_text(CSV_HEADER, rows), batch.normalization)
        placed = [(r, f"row {n}", n) for n, r in enumerate(batch.records, start=1)]
        return [Output(f"drop/{rel}", encode_text(text, batch.encoding), rel, placed)]
    if batch.format == "gksk_api":
        stamp_updates(batch.records, batch.night, derive_rng(seed, "updated-at", DATASET, fac, night))
        text = jsonl_text(batch.records, batch.format, True)
        placed = [(r, "", n) for n, r in enumerate(batch.records, start=1)]
        return [
            Output(f"api/{fac}/{DATASET}/{night}.jsonl", encode_text(text, "utf-8"), f"api/{fac}/{DATASET}", placed)
        ]
    raise ValueError(f"unknown driver-check format {batch.format!r}")


def doctor(rng: random.Random) -> str:
    """A concluding doctor's name (for corrections)."""
    return random_name(rng, 1 if rng.random() < 0.5 else 2)
