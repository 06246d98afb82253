"""Driver health certificates (giấy khám sức khỏe lái xe, VSS ``gksk``): generation and layouts.

Field names are the gksk keys of the shared spec (DOMAIN §5.3), in spec order; values are text
in the JSON convention (``GIOITINHVAL`` 0 male / 1 female). The ``csv`` layout lower-cases the
names and writes the sex as 1 male / 2 female (the XML convention); one csv facility is
Windows-1258. Drivers are adult registry citizens old enough for the class; group-3 classes
always carry a drug-test result (``MATUY``) in clean records.

Defects: Defect catalogue of driver health checks and its injection (shared spec, §driver_health_checks).
Benchmarks: :func:`write_drivers_csv` (clean rows, fast).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path

from sample_data.generator import code_lists as cl
from sample_data.generator import reference as ref
from sample_data.generator.bench_common import DEFAULT_END, POOL, _numbering, _people, _q, _write
from sample_data.generator.ground_truth import TruthRow, write_outputs
from sample_data.generator.places import address, communes_of
from sample_data.generator.protocol import Generated, RunInputs
from sample_data.generator.records import (
    FLAG,
    LOAD,
    QUARANTINE,
    SUPERSEDE,
    BaseInjector,
    Batch,
    Counters,
    Output,
    PersonPool,
    Rec,
    Spec,
    catalogue,
    iso_local,
    json_line,
    mark,
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


def _adult_on(c: Citizen, day: date) -> bool:
    return c.age_on(day) >= 18


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
        person = ctx.drivers.take(partial(_adult_on, day=exam_floor))
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


J, C, A = "gksk_jsonl", "csv", "gksk_api"
SPECS = catalogue(
    (
        Spec("missing_required", "REQ", QUARANTINE, (J, C), "`HOTEN` or `NGAYKETLUAN` empty"),
        Spec("unknown_class", "K1", QUARANTINE, (J, C, A), "`HANGBANGLAI=Z9`"),
        Spec("legacy_class", "K1", FLAG, (J, C), "legacy class `B2` or `E` (driver aged 30+, drug test done)"),
        Spec("underage_for_class", "K2", FLAG, (J, C, A), "class `D` for a driver aged 18-26 (drug test done)"),
        Spec("drug_test_missing", "K3", QUARANTINE, (J, C), "group-3 class (`C`/`C1`) with `MATUY` empty"),
        Spec("positive_but_fit", "K4", QUARANTINE, (J, C), "`MATUY=1` with `KETLUAN=A0-1`"),
        Spec(
            "bad_date",
            "K6",
            QUARANTINE,
            (J, C),
            "`NGAYKHAM=31/02/2026`, exam after conclusion, or conclusion after the night",
            2,
        ),
        Spec("edit_unknown_key", "K7", QUARANTINE, (J, C), "`STATE=EDIT` for a key never sent before"),
        Spec("conflicting_add", "K7", QUARANTINE, (J, C), "same key again as `ADD` in the night, other doctor"),
        Spec(
            "unknown_code",
            "CODE",
            QUARANTINE,
            (J, C, A),
            "sex `2` (json) / `0` (csv), `KETLUAN=A0-9`, `STATE=UPDATE`, `MATUY=2`",
            2,
        ),
        Spec("bad_personal_id", "P1", QUARANTINE, (J, C), "12 digits with a bad prefix, or 11/13 digits"),
        Spec("exact_duplicate", "DUP", SUPERSEDE, (J, C, A), "the line again, identical"),
        Spec("registry_dead_driver", "X2", FLAG, (J, C), "driver whose registry death date is before `NGAYKHAM`"),
        Spec(
            "edit",
            "",
            LOAD,
            (J, C, A),
            "`STATE=EDIT` correction (other doctor / later conclusion): same night (ADD superseded) or later night",
            2,
        ),
        Spec("late_2024", "", LOAD, (J, C, A), "certificate concluded in Oct-Dec 2024 (late arrival, `SO` year 24)"),
        Spec("second_class", "", LOAD, (J, C, A), "same `SO`, second licence class (generated, not injected)"),
        Spec("truncated_line", "ENVELOPE", QUARANTINE, (J,), 'one line `{"SO": "000` (second night)'),
    )
)
TRUNCATED_LINE = '{"SO": "000'


class DriverInjector(BaseInjector):
    """Places :data:`SPECS` into the driver-check batches."""

    def __init__(self, batches: list[Batch], ctx: DriverContext, registry_dead: PersonPool) -> None:
        """Set up.

        Args:
            batches: every driver-check batch.
            ctx: run state (certificate numbers for 2024 certificates).
            registry_dead: citizens whose registry death date is set (X2).
        """
        super().__init__(batches, ctx.seed, SPECS, "driver_health_checks")
        self.ctx = ctx
        self.registry_dead = registry_dead
        for batch in batches:
            for r in batch.records:
                if r.defect == "second_class":
                    r.expected_rule, r.expected_action = "", LOAD

    def file_level(self) -> None:
        """One truncated JSON line in a jsonl file of the second night."""
        rng = derive_rng(self.seed, "file-defects", "driver_health_checks")
        night = self.nights[min(1, len(self.nights) - 1)]
        jsonl = [b for b in self.batches if b.format == J and b.night == night]
        if jsonl:
            batch = rng.choice(jsonl)
            broken = Rec(facility_code=batch.facility.code, night=batch.night, fields={}, raw_text=TRUNCATED_LINE)
            mark(broken, SPECS["truncated_line"])
            batch.records.insert(rng.randrange(1, len(batch.records)), broken)

    def _set(self, r: Rec, kind: str, **changes: str) -> bool:
        r.fields.update(changes)
        mark(r, SPECS[kind])
        return True

    def _age(self, r: Rec) -> int:
        assert r.person is not None
        return r.person.age_on(parse_dmy(r.fields["NGAYKHAM"]))

    # ------------------------------------------------------------------ handlers

    def _missing_required(self, batch: Batch, r: Rec) -> bool:
        tag = ("HOTEN", "NGAYKETLUAN")[self.variant("missing_required") % 2]
        return self._set(r, "missing_required", **{tag: ""})

    def _unknown_class(self, batch: Batch, r: Rec) -> bool:
        return self._set(r, "unknown_class", HANGBANGLAI="Z9")

    def _legacy_class(self, batch: Batch, r: Rec) -> bool:
        if self._age(r) < 30:
            return False
        klass = ("B2", "E")[self.variant("legacy_class") % 2]
        return self._set(r, "legacy_class", HANGBANGLAI=klass, MATUY="0")

    def _underage_for_class(self, batch: Batch, r: Rec) -> bool:
        if not 18 <= self._age(r) <= 26:
            return False
        return self._set(r, "underage_for_class", HANGBANGLAI="D", MATUY="0")

    def _drug_test_missing(self, batch: Batch, r: Rec) -> bool:
        klass = "C" if self._age(r) >= cl.MIN_AGE["C"] else "C1"
        return self._set(r, "drug_test_missing", HANGBANGLAI=klass, MATUY="")

    def _positive_but_fit(self, batch: Batch, r: Rec) -> bool:
        return self._set(
            r, "positive_but_fit", MATUY="1", KETLUAN=cl.FIT, NGAYKHAMLAI="", TINHTRANGBENH=cl.HEALTH_NOTES[cl.FIT]
        )

    def _bad_date(self, batch: Batch, r: Rec) -> bool:
        concluded = parse_dmy(r.fields["NGAYKETLUAN"])
        which = self.variant("bad_date") % 3
        if which == 0:
            return self._set(r, "bad_date", NGAYKHAM=f"31/02/{concluded.year}")
        if which == 1:
            return self._set(r, "bad_date", NGAYKHAM=dmy(concluded + timedelta(days=2)))
        future = batch.night + timedelta(days=2)
        if future.year != concluded.year:
            return False
        return self._set(r, "bad_date", NGAYKHAM=dmy(future), NGAYKETLUAN=dmy(future))

    def _edit_unknown_key(self, batch: Batch, r: Rec) -> bool:
        return self._set(r, "edit_unknown_key", STATE="EDIT")

    def _conflicting_add(self, batch: Batch, r: Rec) -> bool:
        copy = r.copy()
        copy.fields["BACSYKETLUAN"] = doctor(self.rng)
        mark(copy, SPECS["conflicting_add"])
        r.locked = True
        self.insert_after(batch, r, copy)
        return True

    def _unknown_code(self, batch: Batch, r: Rec) -> bool:
        which = self.variant("unknown_code") % 4
        if which == 0:
            r.overrides["GIOITINHVAL"] = "0" if batch.format == C else "2"
            mark(r, SPECS["unknown_code"])
            return True
        tag, value = (("KETLUAN", "A0-9"), ("STATE", "UPDATE"), ("MATUY", "2"))[which - 1]
        return self._set(r, "unknown_code", **{tag: value})

    def _bad_personal_id(self, batch: Batch, r: Rec) -> bool:
        pid = r.fields["SOCMND_PASSPORT"]
        which = self.variant("bad_personal_id") % 3
        if which == 0:
            pid = ref.BAD_ID_PREFIXES[self.rng.randrange(len(ref.BAD_ID_PREFIXES))] + pid[3:]
        elif which == 1:
            pid = pid[:-1]
        else:
            pid = pid + str(self.rng.randrange(10))
        return self._set(r, "bad_personal_id", SOCMND_PASSPORT=pid)

    def _exact_duplicate(self, batch: Batch, r: Rec) -> bool:
        copy = r.copy()
        mark(copy, SPECS["exact_duplicate"])
        r.locked = True
        self.insert_after(batch, r, copy)
        return True

    def _registry_dead_driver(self, batch: Batch, r: Rec) -> bool:
        person = self.registry_dead.take()
        r.person = person
        r.fields.update(person_fields(person, self.rng))
        if cl.MIN_AGE.get(r.fields["HANGBANGLAI"], 99) > self._age(r):
            r.fields["HANGBANGLAI"] = "B"
        mark(r, SPECS["registry_dead_driver"])
        return True

    def _edit(self, batch: Batch, r: Rec) -> bool:
        same_night = self._variants.get("edit", 0) % 2 == 0
        if same_night:
            target = batch
        else:
            later = self.later_batch(batch)
            if later is None:
                return False
            target = later
        self.variant("edit")
        copy = r.copy()
        copy.night = target.night
        copy.fields["STATE"] = "EDIT"
        copy.fields["BACSYKETLUAN"] = doctor(self.rng)
        if not same_night:
            copy.fields["NGAYKETLUAN"] = dmy(target.night)
            if copy.fields["NGAYKHAMLAI"]:
                copy.fields["NGAYKHAMLAI"] = dmy(target.night + timedelta(days=182))
        mark(copy, SPECS["edit"])
        r.locked = True
        if same_night:
            r.expected_action = SUPERSEDE
            self.insert_after(batch, r, copy)
        else:
            self.insert_anywhere(target, copy)
        return True

    def _late_2024(self, batch: Batch, r: Rec) -> bool:
        concluded = date(2024, 10, 1) + timedelta(days=self.rng.randrange(85))
        exam = concluded - timedelta(days=self.rng.randrange(2))
        assert r.person is not None
        if r.person.age_on(exam) < cl.MIN_AGE[r.fields["HANGBANGLAI"]]:
            return False
        seq = self.ctx.counters.next(r.facility_code, 2024)
        changes = {
            "SO": certificate_no(seq, r.facility_code, 2024),
            "NGAYKHAM": dmy(exam),
            "NGAYKETLUAN": dmy(concluded),
        }
        if r.fields["NGAYKHAMLAI"]:
            changes["NGAYKHAMLAI"] = dmy(concluded + timedelta(days=182))
        return self._set(r, "late_2024", **changes)


def inject(batches: list[Batch], ctx: DriverContext, registry_dead: PersonPool) -> None:
    """Inject :data:`SPECS` into the driver-check batches (in place)."""
    DriverInjector(batches, ctx, registry_dead).run()


def write_drivers_csv(
    path: Path, n_rows: int, seed: int = 6, *, facility_code: str = "37012", end: date = DEFAULT_END
) -> int:
    """Write ``n_rows`` clean driver health certificates in the ``csv`` layout (UTF-8; sex 1/2).

    Args:
        path: output file.
        n_rows: data rows.
        seed: seed of every random draw.
        facility_code: examining facility.
        end: last conclusion date.

    Returns:
        Rows written.
    """
    rng = derive_rng(seed, "bench", "driver_health_checks", facility_code)
    people = _people(rng, POOL, (40, 70), end)
    doctors = [_q(random_name(rng, 1 + rng.randrange(2))) for _ in range(64)]
    facility = _q(f"Cơ sở {facility_code}")
    classes = [c for c in cl.CLASS_WEIGHTS for _ in range(cl.CLASS_WEIGHTS[c])]
    number = _numbering(n_rows, end)

    def row(i: int) -> str:
        seq, year = number(i)
        p = people[rng.randrange(POOL)]
        day = min(date(year, 1 + rng.randrange(12), 1 + rng.randrange(28)), end)
        klass = classes[rng.randrange(len(classes))]
        dob = date.fromisoformat(p[1])
        issued = date.fromisoformat(p[4])
        values = [
            f"{seq:05d}/GKSKLX/{facility_code}/{year % 100:02d}", _q(p[0]), p[2], f"{dob:%d/%m/%Y}", _q(p[5]), p[6],
            p[7], p[3], f"{issued:%d/%m/%Y}", _q(ref.ID_ISSUER), facility_code, facility, f"{day:%d/%m/%Y}", "0", "1",
            "0", f"{day:%d/%m/%Y}", doctors[i % 64], cl.FIT, klass, "", _q(cl.EXAM_REASONS[i % 3]),
            _q(cl.HEALTH_NOTES[cl.FIT]), "ADD",
        ]  # fmt: skip
        return ",".join(values)

    return _write(path, CSV_HEADER, n_rows, row)


# ---------------------------------------------------------------------------- the generator protocol

CATALOGUE = SPECS
BENCH_FACILITY = "37012"
BENCH_FILE = "gksk_lai_xe_bench.csv"
BENCH_SEED = 6
write_bench_csv = write_drivers_csv


def generate(run: RunInputs) -> Generated:
    """Every night's records of every facility that sends the dataset, with the catalogue's defects."""
    ctx = DriverContext(
        seed=run.seed,
        drivers=PersonPool(run.extra.drivers, derive_rng(run.seed, "pool", "drivers")),
        counters=Counters(run.seed, run.start, DATASET, max(1, run.per_night // 2)),
    )
    batches = [plan_night(ctx, f, night, run.per_night) for night in run.nights for f in run.facilities
               if f.sends(DATASET)]
    inject(batches, ctx, run.registry_dead)
    outputs = [o for b in batches for o in render_batch(b, run.seed)]
    truth: list[TruthRow] = []
    files = write_outputs(run.out_dir, outputs, record_key, truth)
    return Generated(files, truth)
