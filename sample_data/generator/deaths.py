"""Death notices (giấy báo tử, ``GIAYBAOTU``): generation and the ``pl02``/``csv`` layouts.

Field names are the PL02 tags of the shared spec (DOMAIN §4.2), in spec order; every value is
text. The deceased is a registry citizen whose registry death date is empty (name, date of
birth and sex from the registry, ``LOAI_GIAYTO=1``, ``SO_GIAYTO`` = personal ID), or, for the
``unknown_person`` case, ``KHÔNG RÕ`` without ID.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sample_data.generator import code_lists as cl
from sample_data.generator import reference as ref
from sample_data.generator.births import address
from sample_data.generator.places import communes_of, province_name
from sample_data.generator.records import Batch, Counters, Output, PersonPool, Rec, night_volume, normalize
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


def values(r: Rec) -> list[tuple[str, str]]:
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
