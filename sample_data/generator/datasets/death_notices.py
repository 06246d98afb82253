"""Death notices (giấy báo tử, ``GIAYBAOTU``): generation and the ``pl02``/``csv`` layouts.

Field names are the PL02 tags of the shared spec (DOMAIN §4.2), in spec order; every value is
text. The deceased is a registry citizen whose registry death date is empty (name, date of
birth and sex from the registry, ``LOAI_GIAYTO=1``, ``SO_GIAYTO`` = personal ID), or, for the
``unknown_person`` case, ``KHÔNG RÕ`` without ID.

Defects: Defect catalogue of death notices and its injection (rules of the shared spec, §death_notices).
Benchmarks: :func:`write_deaths_csv` (clean rows, fast).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from sample_data.generator import code_lists as cl
from sample_data.generator import reference as ref
from sample_data.generator.bench_common import DEFAULT_END, POOL, _numbering, _people, _q, _write
from sample_data.generator.ground_truth import TruthRow, write_outputs
from sample_data.generator.places import address, communes_of, province_codes, province_name
from sample_data.generator.protocol import Generated, RunInputs
from sample_data.generator.records import (
    FLAG,
    LOAD,
    QUARANTINE,
    REJECT_FILE,
    SUPERSEDE,
    BaseInjector,
    Batch,
    Counters,
    Output,
    PersonPool,
    Rec,
    Spec,
    catalogue,
    mark,
    night_volume,
    normalize,
)
from sample_data.generator.registry import NO_INSURANCE, Citizen, Facility, random_name
from sample_data.generator.rng import derive_rng, derive_uuid, digits, weighted_choice
from sample_data.generator.writers import csv_text, encode_text, flat_document, truncate_markup

DATASET = "death_notices"
FIELDS: tuple[str, ...] = (
    "MA_GBT", "MA_BN", "MA_HSBA", "HO_TEN", "NGAY_SINH", "GIOI_TINH", "MA_THE", "MA_DANTOC", "MA_QUOCTICH",
    "DCHI_THUONGTRU", "MATINH_THUONGTRU", "MAXA_THUONGTRU", "LOAI_GIAYTO", "SO_GIAYTO", "NGAY_CAP", "NOI_CAP",
    "NGAYGIO_VV", "NGAY_TV", "TINH_TRANG_TV", "NGUYENNHAN_TV", "NGUOI_THANTHICH", "NGUOI_GHIGIAY", "TTRUONG_DVI",
    "SO_BAOTU", "QUYEN_SO", "NGAY_CAPGIAYBT", "SO_BAOTU_BD", "QUYEN_SO_BD", "MACSKCB", "DIACHI_CSKCB", "MA_BHXH",
    "BENH_ICD10_ID", "BENH_ICD10_TEN",
)  # fmt: skip
CSV_HEADER: tuple[str, ...] = tuple(f.lower() for f in FIELDS)
NOTICES_PER_BOOK = 100


def stamp12(moment: datetime) -> str:
    """``yyyyMMddHHmm``."""
    return moment.strftime("%Y%m%d%H%M")


def stamp8(day: date) -> str:
    """``yyyyMMdd``."""
    return day.strftime("%Y%m%d")


def parse12(text: str) -> datetime:
    """Inverse of :func:`stamp12` (valid values only)."""
    return datetime.strptime(text, "%Y%m%d%H%M")


def parse8(text: str) -> date:
    """Inverse of :func:`stamp8` (valid values only)."""
    return datetime.strptime(text, "%Y%m%d").date()


def notice_code(sequence: int, facility_code: str, year: int) -> str:
    """``NNNNN.GBT.<facility>.YY``."""
    return f"{sequence:05d}.GBT.{facility_code}.{year % 100:02d}"


def book(sequence: int, year: int) -> str:
    """Book (quyển số) of a notice number."""
    return f"{(sequence - 1) // NOTICES_PER_BOOK + 1:02d}/{year}"


@dataclass
class DeathContext:
    """State shared by the facility-nights of one run.

    Attributes:
        seed: run seed.
        deceased: citizens who may die (registry death date empty).
        counters: notice numbers per facility and year.
    """

    seed: int
    deceased: PersonPool
    counters: Counters


def causes(rng: random.Random) -> tuple[str, str, str]:
    """Draw ICD-10 code(s), their names and the cause text.

    Returns:
        ``(BENH_ICD10_ID, BENH_ICD10_TEN, NGUYENNHAN_TV)``.
    """
    weights = {code: w for code, (_, w) in cl.CAUSES_OF_DEATH.items()}
    main = weighted_choice(rng, weights)
    codes = [main]
    if rng.random() < 0.25:
        extra = rng.choice([c for c in cl.CONTRIBUTING_CODES if c != main])
        codes.append(extra)
    names = [cl.CAUSES_OF_DEATH[c][0] for c in codes]
    return ";".join(codes), "; ".join(names), names[0]


def person_fields(c: Citizen, rng: random.Random, upper: bool) -> dict[str, str]:
    """The deceased's identity fields from the registry."""
    commune = rng.choice(communes_of(c.home_province))
    assert c.id_issue_date is not None
    return {
        "HO_TEN": c.full_name.upper() if upper else c.full_name,
        "NGAY_SINH": stamp8(c.birth_date),
        "GIOI_TINH": str(c.sex),
        "MA_THE": "" if c.health_card_no == NO_INSURANCE else c.health_card_no,
        "DCHI_THUONGTRU": address(rng, commune.name, c.home_province),
        "MATINH_THUONGTRU": c.home_province,
        "MAXA_THUONGTRU": commune.code,
        "LOAI_GIAYTO": ref.ID_TYPE_CCCD,
        "SO_GIAYTO": c.personal_id,
        "NGAY_CAP": stamp8(c.id_issue_date),
        "NOI_CAP": ref.ID_ISSUER,
        "MA_BHXH": "" if c.social_insurance_no == NO_INSURANCE else c.social_insurance_no,
    }


def _notice(ctx: DeathContext, facility: Facility, night: date, rng: random.Random) -> Rec:
    """One clean first-issue notice delivered on ``night``."""
    fmt = facility.feed(DATASET).format
    days_before = weighted_choice(rng, {0: 30, 1: 35, 2: 20, 3: 15})
    day = night - timedelta(days=days_before)
    death = datetime(day.year, day.month, day.day, rng.randrange(23), rng.randrange(60))
    admission = death - timedelta(minutes=60 + rng.randrange(10 * 24 * 60))
    issue = night if rng.random() < 0.6 else day + timedelta(days=rng.randrange(days_before + 1))
    person = ctx.deceased.take()
    seq = ctx.counters.next(facility.code, issue.year)
    icd_ids, icd_names, cause = causes(rng)
    fields = {
        "MA_GBT": notice_code(seq, facility.code, issue.year),
        "MA_BN": digits(rng, 10),
        "MA_HSBA": f"{admission:%y}{digits(rng, 6)}",
        **person_fields(person, rng, upper=fmt == "pl02"),
        "MA_DANTOC": weighted_choice(rng, ref.ETHNICITY_WEIGHTS),
        "MA_QUOCTICH": ref.NATIONALITY_VN,
        "NGAYGIO_VV": stamp12(admission),
        "NGAY_TV": stamp12(death),
        "TINH_TRANG_TV": "0",
        "NGUYENNHAN_TV": cause,
        "NGUOI_THANTHICH": random_name(rng, 1 if rng.random() < 0.5 else 2),
        "NGUOI_GHIGIAY": rng.choice(facility.recorders),
        "TTRUONG_DVI": facility.head_name,
        "SO_BAOTU": f"{seq:05d}",
        "QUYEN_SO": book(seq, issue.year),
        "NGAY_CAPGIAYBT": stamp8(issue),
        "SO_BAOTU_BD": "",
        "QUYEN_SO_BD": "",
        "MACSKCB": facility.code,
        "DIACHI_CSKCB": f"{facility.name}, {province_name(facility.province_code)}",
        "BENH_ICD10_ID": icd_ids,
        "BENH_ICD10_TEN": icd_names,
    }
    return Rec(
        facility_code=facility.code,
        night=night,
        fields={name: fields[name] for name in FIELDS},
        person=person,
        element_id=f"Id-{derive_uuid(rng)}",
    )


def plan_night(ctx: DeathContext, facility: Facility, night: date, per_night: int) -> Batch:
    """The clean notices a facility delivers on one night, ordered by death time.

    Args:
        ctx: run state.
        facility: the facility.
        night: delivery night.
        per_night: the births average (volumes scale with it).

    Returns:
        The batch.
    """
    rng = derive_rng(ctx.seed, "night", DATASET, facility.code, night.isoformat())
    n = night_volume(ctx.seed, DATASET, facility.code, night, per_night)
    records = [_notice(ctx, facility, night, rng) for _ in range(n)]
    records.sort(key=lambda r: (r.fields["NGAY_TV"], r.fields["MA_GBT"]))
    return Batch(facility=facility, dataset=DATASET, night=night, records=records)


def record_key(r: Rec) -> str:
    """Natural key as written: ``MA_GBT``."""
    return r.fields["MA_GBT"] if r.raw_text is None else ""


def values(r: Rec) -> list[tuple[str, str | None]]:
    """``(tag, text)`` in spec order with overrides applied."""
    return [(name, r.overrides.get(name, r.fields[name])) for name in FIELDS]


def render_batch(batch: Batch, versions: dict[str, int], seed: int) -> list[Output]:
    """Serialise one facility-night batch.

    * ``pl02``: one ``HSDLGBT_<MA_GBT>_<n>.xml`` per notice (``n`` = versions of the code sent
      by the facility so far: ``_2`` is a re-send or re-issue); source_ref ``GIAYBAOTU[1]``.
    * ``csv``: one ``giay_bao_tu_<facility>_<YYYYMMDD>.csv`` per night (lower-cased tags);
      source_ref ``row N``.

    Args:
        batch: the batch.
        versions: code -> files already sent for it by this facility (updated).
        seed: run seed (where a truncated file is cut).

    Returns:
        The files.
    """
    folder = f"{batch.facility.code}/{DATASET}/{batch.night.isoformat()}"
    form = batch.normalization
    if batch.format == "pl02":
        rng = derive_rng(seed, "truncate", DATASET, batch.facility.code, batch.night.isoformat())
        out: list[Output] = []
        for r in batch.records:
            code = r.fields["MA_GBT"]
            versions[code] = versions.get(code, 0) + 1
            text = normalize(flat_document("HSDLGBT", "GIAYBAOTU", r.element_id, values(r)), form)
            if r.file_truncated:
                text = truncate_markup(text, rng)
            rel = f"{folder}/HSDLGBT_{code.replace('/', '-')}_{versions[code]}.xml"
            out.append(Output(f"drop/{rel}", encode_text(text, "utf-8"), rel, [(r, "GIAYBAOTU[1]", 1)]))
        return out
    if batch.format == "csv":
        rows = [[v for _, v in values(r)] for r in batch.records]
        text = normalize(csv_text(CSV_HEADER, rows), form)
        rel = f"{folder}/giay_bao_tu_{batch.facility.code}_{batch.night:%Y%m%d}.csv"
        placed = [(r, f"row {n}", n) for n, r in enumerate(batch.records, start=1)]
        return [Output(f"drop/{rel}", encode_text(text, batch.encoding), rel, placed)]
    raise ValueError(f"unknown death-notice format {batch.format!r}")


F = ("pl02", "csv")
SPECS = catalogue(
    (
        Spec("missing_required", "REQ", QUARANTINE, F, "`HO_TEN` or `NGAYGIO_VV` empty"),
        Spec("bad_code_pattern", "D1", QUARANTINE, F, "`MA_GBT` = `1234.GBT.<fac>.26` or `00012-GBT-<fac>-26`"),
        Spec("code_facility_mismatch", "D1", QUARANTINE, F, "facility part of `MA_GBT` = another facility"),
        Spec("code_year_mismatch", "D1", QUARANTINE, F, "first issue whose `MA_GBT` YY = issue year - 1"),
        Spec("impossible_date", "D2", QUARANTINE, F, "`NGAYGIO_VV` on 31 February"),
        Spec("admitted_after_death", "D2", QUARANTINE, F, "admission 1 day after death, `TINH_TRANG_TV=0`"),
        Spec("issued_before_death", "D2", QUARANTINE, F, "`NGAY_CAPGIAYBT` 1-3 days before the death date"),
        Spec("future_death", "D3", QUARANTINE, F, "death 2 days after the night (issue date = death date)"),
        Spec("late_issue", "D3", FLAG, F, "first issue 40-60 days after the death"),
        Spec("bad_icd", "D5", QUARANTINE, F, "`BENH_ICD10_ID` holds `I70.00`, `Z99.99` or `ABC`"),
        Spec(
            "unknown_code",
            "CODE",
            QUARANTINE,
            F,
            "`GIOI_TINH=9`, `MA_DANTOC=77`, `TINH_TRANG_TV=2` or `LOAI_GIAYTO=7`",
            2,
        ),
        Spec("bad_personal_id", "P1", QUARANTINE, F, "`LOAI_GIAYTO=1` with an 11-digit ID or a bad province prefix"),
        Spec("bad_commune", "A3", QUARANTINE, F, "`MAXA_THUONGTRU` = a ward of another province"),
        Spec("conflicting_duplicate", "D7", QUARANTINE, F, "same `MA_GBT` again, first issue, other address/relative"),
        Spec("exact_duplicate", "DUP", SUPERSEDE, F, "the notice again, identical (pl02: `_2` file)"),
        Spec(
            "reissue", "", LOAD, F, "re-issue: same `MA_GBT`, later `NGAY_CAPGIAYBT`, `SO_BAOTU_BD` = first number", 2
        ),
        Spec("died_en_route", "", LOAD, F, "`TINH_TRANG_TV=1`, admission 30 min after death (D4 relaxes D2)"),
        Spec("unknown_person", "D8", FLAG, F, "`HO_TEN=KHÔNG RÕ`, `LOAI_GIAYTO=0`, no ID, year-only `NGAY_SINH`", 2),
        Spec("registry_already_dead", "X1", FLAG, F, "deceased whose registry death date is already set"),
        Spec("truncated_xml", "FILE", REJECT_FILE, ("pl02",), "one pl02 file cut mid-element (last night)"),
    )
)


class DeathInjector(BaseInjector):
    """Places :data:`SPECS` into the death-notice batches."""

    def __init__(self, batches: list[Batch], ctx: DeathContext, registry_dead: PersonPool) -> None:
        """Set up.

        Args:
            batches: every death-notice batch.
            ctx: run state (notice numbers for re-issues).
            registry_dead: citizens whose registry death date is set (X1).
        """
        super().__init__(batches, ctx.seed, SPECS, "death_notices")
        self.ctx = ctx
        self.registry_dead = registry_dead

    def file_level(self) -> None:
        """Truncate one pl02 file of the last night."""
        rng = derive_rng(self.seed, "file-defects", "death_notices")
        last = [b for b in self.batches if b.format == "pl02" and b.night == self.nights[-1]]
        if last:
            record = rng.choice(rng.choice(last).records)
            mark(record, SPECS["truncated_xml"])
            record.file_truncated = True

    def _set(self, batch: Batch, r: Rec, kind: str, **changes: str) -> bool:
        r.fields.update(changes)
        mark(r, SPECS[kind])
        return True

    # ------------------------------------------------------------------ handlers

    def _missing_required(self, batch: Batch, r: Rec) -> bool:
        tag = ("HO_TEN", "NGAYGIO_VV")[self.variant("missing_required") % 2]
        return self._set(batch, r, "missing_required", **{tag: ""})

    def _bad_code_pattern(self, batch: Batch, r: Rec) -> bool:
        seq, _, fac, yy = r.fields["MA_GBT"].split(".")
        code = (
            f"{int(seq) % 10000:04d}.GBT.{fac}.{yy}" if self.variant("bad_code") % 2 == 0 else f"{seq}-GBT-{fac}-{yy}"
        )
        return self._set(batch, r, "bad_code_pattern", MA_GBT=code)

    def _code_facility_mismatch(self, batch: Batch, r: Rec) -> bool:
        others = sorted(
            {f["code"] for f in ref.FACILITIES} | {f["code"] for f in cl.NEW_FACILITIES} - {r.facility_code}
        )
        seq, gbt, _, yy = r.fields["MA_GBT"].split(".")
        return self._set(batch, r, "code_facility_mismatch", MA_GBT=f"{seq}.{gbt}.{self.rng.choice(others)}.{yy}")

    def _code_year_mismatch(self, batch: Batch, r: Rec) -> bool:
        seq = int(r.fields["MA_GBT"][:5])
        year = parse8(r.fields["NGAY_CAPGIAYBT"]).year - 1
        return self._set(batch, r, "code_year_mismatch", MA_GBT=notice_code(seq, r.facility_code, year))

    def _impossible_date(self, batch: Batch, r: Rec) -> bool:
        admission = parse12(r.fields["NGAYGIO_VV"])
        return self._set(batch, r, "impossible_date", NGAYGIO_VV=f"{admission.year}0231{admission:%H%M}")

    def _admitted_after_death(self, batch: Batch, r: Rec) -> bool:
        death = parse12(r.fields["NGAY_TV"])
        admission = death + timedelta(days=1)
        issue = max(parse8(r.fields["NGAY_CAPGIAYBT"]), admission.date())
        if issue > batch.night:
            return False
        return self._set(batch, r, "admitted_after_death", NGAYGIO_VV=stamp12(admission), NGAY_CAPGIAYBT=stamp8(issue))

    def _issued_before_death(self, batch: Batch, r: Rec) -> bool:
        death = parse12(r.fields["NGAY_TV"])
        issue = death.date() - timedelta(days=1 + self.rng.randrange(3))
        if issue.year != death.year:
            return False
        return self._set(batch, r, "issued_before_death", NGAY_CAPGIAYBT=stamp8(issue))

    def _future_death(self, batch: Batch, r: Rec) -> bool:
        day = batch.night + timedelta(days=2)
        death = datetime(day.year, day.month, day.day, 9 + self.rng.randrange(10), self.rng.randrange(60))
        if day.year != batch.night.year:
            return False
        return self._set(
            batch,
            r,
            "future_death",
            NGAY_TV=stamp12(death),
            NGAYGIO_VV=stamp12(death - timedelta(hours=2)),
            NGAY_CAPGIAYBT=stamp8(day),
        )

    def _late_issue(self, batch: Batch, r: Rec) -> bool:
        day = batch.night - timedelta(days=40 + self.rng.randrange(21))
        issue = parse8(r.fields["NGAY_CAPGIAYBT"])
        if day.year != issue.year:
            return False
        death = datetime(day.year, day.month, day.day, 8 + self.rng.randrange(12), self.rng.randrange(60))
        return self._set(
            batch,
            r,
            "late_issue",
            NGAY_TV=stamp12(death),
            NGAYGIO_VV=stamp12(death - timedelta(hours=5 + self.rng.randrange(48))),
        )

    def _bad_icd(self, batch: Batch, r: Rec) -> bool:
        n = self.variant("bad_icd")
        bad = cl.INVALID_ICD_CODES[n % len(cl.INVALID_ICD_CODES)]
        codes = f"{r.fields['BENH_ICD10_ID'].split(';')[0]};{bad}" if n % 2 else bad
        return self._set(batch, r, "bad_icd", BENH_ICD10_ID=codes)

    def _unknown_code(self, batch: Batch, r: Rec) -> bool:
        tag, value = (("GIOI_TINH", "9"), ("MA_DANTOC", "77"), ("TINH_TRANG_TV", "2"), ("LOAI_GIAYTO", "7"))[
            self.variant("unknown_code") % 4
        ]
        return self._set(batch, r, "unknown_code", **{tag: value})

    def _bad_personal_id(self, batch: Batch, r: Rec) -> bool:
        pid = r.fields["SO_GIAYTO"]
        if self.variant("bad_personal_id") % 2 == 0:
            pid = pid[:-1]
        else:
            pid = ref.BAD_ID_PREFIXES[self.rng.randrange(len(ref.BAD_ID_PREFIXES))] + pid[3:]
        return self._set(batch, r, "bad_personal_id", SO_GIAYTO=pid)

    def _bad_commune(self, batch: Batch, r: Rec) -> bool:
        others = [p for p in province_codes() if p != r.fields["MATINH_THUONGTRU"]]
        commune = self.rng.choice(communes_of(self.rng.choice(others)))
        return self._set(batch, r, "bad_commune", MAXA_THUONGTRU=commune.code)

    def _conflicting_duplicate(self, batch: Batch, r: Rec) -> bool:
        copy = r.copy()
        copy.fields["NGUOI_THANTHICH"] = random_name(self.rng, 2)
        copy.element_id = f"Id-{derive_uuid(self.rng)}"
        mark(copy, SPECS["conflicting_duplicate"])
        r.locked = True
        self.insert_after(batch, r, copy)
        return True

    def _exact_duplicate(self, batch: Batch, r: Rec) -> bool:
        copy = r.copy()
        mark(copy, SPECS["exact_duplicate"])
        r.locked = True
        self.insert_after(batch, r, copy)
        return True

    def _reissue(self, batch: Batch, r: Rec) -> bool:
        same_night = self._variants.get("reissue", 0) % 2 == 0
        first_issue = parse8(r.fields["NGAY_CAPGIAYBT"])
        if same_night:
            if first_issue >= batch.night:
                return False
            target, issue = (
                batch,
                first_issue + timedelta(days=1 + self.rng.randrange((batch.night - first_issue).days)),
            )
        else:
            later = self.later_batch(batch)
            if later is None:
                return False
            target, issue = later, later.night
        if issue.year != first_issue.year:
            return False
        self.variant("reissue")
        copy = r.copy()
        copy.night = target.night
        seq = self.ctx.counters.next(r.facility_code, issue.year)
        copy.fields.update(
            SO_BAOTU=f"{seq:05d}",
            QUYEN_SO=book(seq, issue.year),
            NGAY_CAPGIAYBT=stamp8(issue),
            SO_BAOTU_BD=r.fields["SO_BAOTU"],
            QUYEN_SO_BD=r.fields["QUYEN_SO"],
        )
        # The correction the re-issue carries: the address or the relative's name.
        if self.variant("reissue-correction") % 2 == 0:
            copy.fields["DCHI_THUONGTRU"] = (
                f"Số {1 + self.rng.randrange(199)}, " + r.fields["DCHI_THUONGTRU"].split(", ", 1)[-1]
            )
        else:
            copy.fields["NGUOI_THANTHICH"] = random_name(self.rng, 1)
        copy.element_id = f"Id-{derive_uuid(self.rng)}"
        mark(copy, SPECS["reissue"])
        r.locked = True
        if same_night:
            r.expected_action = SUPERSEDE
            self.insert_after(batch, r, copy)
        else:
            self.insert_anywhere(target, copy)
        return True

    def _died_en_route(self, batch: Batch, r: Rec) -> bool:
        death = parse12(r.fields["NGAY_TV"])
        return self._set(
            batch, r, "died_en_route", TINH_TRANG_TV="1", NGAYGIO_VV=stamp12(death + timedelta(minutes=30))
        )

    def _unknown_person(self, batch: Batch, r: Rec) -> bool:
        year = parse8(r.fields["NGAY_SINH"]).year
        r.person = None
        return self._set(
            batch,
            r,
            "unknown_person",
            HO_TEN=cl.UNKNOWN_PERSON_NAME,
            NGAY_SINH=str(year),
            MA_THE="",
            DCHI_THUONGTRU="Không rõ",
            LOAI_GIAYTO=cl.ID_TYPE_NONE,
            SO_GIAYTO="",
            NGAY_CAP="",
            NOI_CAP="",
            MA_BHXH="",
        )

    def _registry_already_dead(self, batch: Batch, r: Rec) -> bool:
        person = self.registry_dead.take()
        r.person = person
        upper = batch.format == "pl02"
        return self._set(batch, r, "registry_already_dead", **person_fields(person, self.rng, upper))


def inject(batches: list[Batch], ctx: DeathContext, registry_dead: PersonPool) -> None:
    """Inject :data:`SPECS` into the death-notice batches (in place)."""
    DeathInjector(batches, ctx, registry_dead).run()


def write_deaths_csv(
    path: Path, n_rows: int, seed: int = 6, *, facility_code: str = "79011", end: date = DEFAULT_END
) -> int:
    """Write ``n_rows`` clean death notices in the ``csv`` layout (UTF-8, NFC).

    Args:
        path: output file.
        n_rows: data rows.
        seed: seed of every random draw.
        facility_code: issuing facility (``MACSKCB`` and the code's facility part).
        end: last issue date.

    Returns:
        Rows written.
    """
    rng = derive_rng(seed, "bench", "death_notices", facility_code)
    people = _people(rng, POOL, (45, 90), end)
    causes = list(cl.CAUSES_OF_DEATH.items())
    relatives = [_q(random_name(rng, 1 + rng.randrange(2))) for _ in range(256)]
    facility = _q(f"Cơ sở {facility_code}")
    number = _numbering(n_rows, end)

    def row(i: int) -> str:
        seq, year = number(i)
        p = people[rng.randrange(POOL)]
        day = min(date(year, 1 + rng.randrange(12), 1 + rng.randrange(28)), end - timedelta(days=3))
        hh, mm = rng.randrange(20), rng.randrange(60)
        issue = day + timedelta(days=rng.randrange(3))
        code, (name, _) = causes[rng.randrange(len(causes))]
        values = [
            f"{seq:05d}.GBT.{facility_code}.{issue.year % 100:02d}", digits(rng, 10), "", _q(p[0]),
            p[1].replace("-", ""), p[2], "", weighted_choice(rng, ref.ETHNICITY_WEIGHTS), ref.NATIONALITY_VN,
            _q(p[5]), p[6], p[7], ref.ID_TYPE_CCCD, p[3], p[4].replace("-", ""), _q(ref.ID_ISSUER),
            f"{day:%Y%m%d}{max(hh - 2, 0):02d}{mm:02d}", f"{day:%Y%m%d}{hh:02d}{mm:02d}", "0", _q(name),
            relatives[i % 256], relatives[(i * 7) % 256], relatives[3], f"{seq:05d}",
            f"{(seq - 1) // 100 + 1:02d}/{issue.year}", f"{issue:%Y%m%d}", "", "", facility_code, facility, "",
            code, _q(name),
        ]  # fmt: skip
        return ",".join(values)

    return _write(path, CSV_HEADER, n_rows, row)


# ---------------------------------------------------------------------------- the generator protocol

CATALOGUE = SPECS
BENCH_FACILITY = "79011"
BENCH_FILE = "giay_bao_tu_bench.csv"
BENCH_SEED = 6
write_bench_csv = write_deaths_csv


def generate(run: RunInputs) -> Generated:
    """Every night's records of every facility that sends the dataset, with the catalogue's defects."""
    ctx = DeathContext(
        seed=run.seed,
        deceased=PersonPool(run.extra.deceased, derive_rng(run.seed, "pool", "deceased")),
        counters=Counters(run.seed, run.start, DATASET, max(1, run.per_night // 2)),
    )
    batches = [plan_night(ctx, f, night, run.per_night) for night in run.nights for f in run.facilities
               if f.sends(DATASET)]
    inject(batches, ctx, run.registry_dead)
    versions: dict[str, dict[str, int]] = {}
    outputs = [o for b in batches for o in render_batch(b, versions.setdefault(b.facility.code, {}), run.seed)]
    truth: list[TruthRow] = []
    files = write_outputs(run.out_dir, outputs, record_key, truth)
    return Generated(files, truth)
