"""Health workforce (practitioner registrations): generation and the ``csv``/``json`` layouts.

One record = one practitioner's registration at one facility (natural key: licence number,
licence issuer, facility code). Field names are the csv names of the shared spec; the ``json``
and ``json_api`` layouts use the camelCase names. Practitioners are adult registry citizens
(name, date of birth, sex and personal ID from the registry). Each night's export lists the
registrations added or changed that day (``ngay_cap_nhat``).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sample_data.generator import code_lists as cl
from sample_data.generator.records import (
    Batch,
    Output,
    PersonPool,
    Rec,
    iso_local,
    json_line,
    night_volume,
    normalize,
    stamp_updates,
)
from sample_data.generator.registry import Citizen, Facility
from sample_data.generator.rng import derive_rng, digits, weighted_choice
from sample_data.generator.writers import csv_text, encode_text

DATASET = "health_workforce"
FIELDS: tuple[str, ...] = (
    "so_dinh_danh", "ho_ten", "ngay_sinh", "gioi_tinh", "chuc_danh", "so_giay_phep", "noi_cap", "ngay_cap_gp",
    "pham_vi", "ma_cskcb", "tu_ngay", "den_ngay", "ngay_cap_nhat",
)  # fmt: skip
CAMEL: dict[str, str] = {
    "so_dinh_danh": "soDinhDanh",
    "ho_ten": "hoTen",
    "ngay_sinh": "ngaySinh",
    "gioi_tinh": "gioiTinh",
    "chuc_danh": "chucDanh",
    "so_giay_phep": "soGiayPhep",
    "noi_cap": "noiCap",
    "ngay_cap_gp": "ngayCapGP",
    "pham_vi": "phamVi",
    "ma_cskcb": "maCSKCB",
    "tu_ngay": "tuNgay",
    "den_ngay": "denNgay",
    "ngay_cap_nhat": "ngayCapNhat",
}


def ymd(day: date) -> str:
    """``yyyyMMdd``."""
    return day.strftime("%Y%m%d")


def parse_ymd(text: str) -> date:
    """Inverse of :func:`ymd` (valid values only)."""
    return datetime.strptime(text, "%Y%m%d").date()


@dataclass
class WorkforceContext:
    """State shared by the facility-nights of one run.

    Attributes:
        seed: run seed.
        practitioners: citizens who register.
        licences: licence numbers handed out (unique per run).
    """

    seed: int
    practitioners: PersonPool
    licences: set[str]

    def licence(self, rng: random.Random, title: str) -> tuple[str, str]:
        """A new licence ``(so_giay_phep, noi_cap)`` for a title (pharmacists: ``CCHND``)."""
        n_digits, suffix, issuer = cl.PHARMACY_LICENCE if title == cl.PHARMACIST else rng.choice(cl.LICENCES)
        number = f"{digits(rng, n_digits)}/{suffix}"
        while number in self.licences or number.startswith("0"):
            number = f"{digits(rng, n_digits)}/{suffix}"
        self.licences.add(number)
        return number, issuer


def registration(ctx: WorkforceContext, facility_code: str, night: date, rng: random.Random, person: Citizen) -> Rec:
    """One clean, ongoing registration updated in the 3 days before ``night``."""
    title = weighted_choice(rng, {t: w for t, (w, _) in cl.TITLES.items()})
    number, issuer = ctx.licence(rng, title)
    earliest = date(max(person.birth_date.year + 23, 2010), 1, 1)
    licensed = earliest + timedelta(days=rng.randrange(max((date(2025, 6, 30) - earliest).days, 1)))
    started = licensed + timedelta(days=rng.randrange(30, 400))
    updated = night - timedelta(days=weighted_choice(rng, {0: 40, 1: 30, 2: 20, 3: 10}))
    started = min(started, updated - timedelta(days=1))
    fields = {
        "so_dinh_danh": person.personal_id,
        "ho_ten": person.full_name,
        "ngay_sinh": ymd(person.birth_date),
        "gioi_tinh": str(person.sex),
        "chuc_danh": title,
        "so_giay_phep": number,
        "noi_cap": issuer,
        "ngay_cap_gp": ymd(licensed),
        "pham_vi": rng.choice(cl.TITLES[title][1]),
        "ma_cskcb": facility_code,
        "tu_ngay": ymd(started),
        "den_ngay": "",
        "ngay_cap_nhat": ymd(updated),
    }
    return Rec(facility_code=facility_code, night=night, fields=fields, person=person)


def plan_night(ctx: WorkforceContext, facility: Facility, night: date, per_night: int) -> Batch:
    """The clean registrations a facility exports on one night.

    Args:
        ctx: run state.
        facility: the facility.
        night: delivery night.
        per_night: the births average (volumes scale with it).

    Returns:
        The batch, ordered by update date then licence number.
    """
    rng = derive_rng(ctx.seed, "night", DATASET, facility.code, night.isoformat())
    n = night_volume(ctx.seed, DATASET, facility.code, night, per_night)
    records = [registration(ctx, facility.code, night, rng, ctx.practitioners.take()) for _ in range(n)]
    records.sort(key=lambda r: (r.fields["ngay_cap_nhat"], r.fields["so_giay_phep"]))
    return Batch(facility=facility, dataset=DATASET, night=night, records=records)


def record_key(r: Rec) -> str:
    """Natural key as written: ``so_giay_phep|noi_cap|ma_cskcb``."""
    v = values(r)
    return f"{v['so_giay_phep']}|{v['noi_cap']}|{v['ma_cskcb']}"


def values(r: Rec) -> dict[str, str]:
    """Field -> text, overrides applied."""
    return {**r.fields, **r.overrides}


def camel(r: Rec) -> dict[str, str]:
    """The camelCase object of a record."""
    return {CAMEL[k]: v for k, v in values(r).items()}


def render_batch(batch: Batch, seed: int) -> list[Output]:
    """Serialise one facility-night batch.

    * ``csv``: ``drop/<fac>/health_workforce/<night>/nhan_luc_<fac>_<YYYYMMDD>.csv``, ``row N``.
    * ``json``: ``drop/.../<YYYY-MM-DD>.json`` = ``{"maCSKCB", "ngayXuat", "nhanVien": [...]}``,
      ``nhanVien[N]``.
    * ``json_api``: ``api/<fac>/health_workforce/<YYYY-MM-DD>.jsonl`` with ``updated_at``.

    Args:
        batch: the batch.
        seed: run seed.

    Returns:
        The files.
    """
    fac, night = batch.facility.code, batch.night.isoformat()
    folder = f"{fac}/{DATASET}/{night}"
    form = batch.normalization
    if batch.format == "csv":
        rows = [[values(r)[name] for name in FIELDS] for r in batch.records]
        rel = f"{folder}/nhan_luc_{fac}_{batch.night:%Y%m%d}.csv"
        placed = [(r, f"row {n}", n) for n, r in enumerate(batch.records, start=1)]
        return [
            Output(f"drop/{rel}", encode_text(normalize(csv_text(FIELDS, rows), form), batch.encoding), rel, placed)
        ]
    if batch.format == "json":
        doc = {"maCSKCB": fac, "ngayXuat": ymd(batch.night), "nhanVien": [camel(r) for r in batch.records]}
        text = json.dumps(doc, ensure_ascii=False, indent=1) + "\n"
        rel = f"{folder}/{night}.json"
        placed = [(r, f"nhanVien[{n}]", n) for n, r in enumerate(batch.records, start=1)]
        return [Output(f"drop/{rel}", encode_text(normalize(text, form), batch.encoding), rel, placed)]
    if batch.format == "json_api":
        stamp_updates(batch.records, batch.night, derive_rng(seed, "updated-at", DATASET, fac, night))
        lines = [
            json_line(camel(r), extra={"updated_at": iso_local(r.updated_at)}) for r in batch.records if r.updated_at
        ]
        placed = [(r, "", n) for n, r in enumerate(batch.records, start=1)]
        data = encode_text("\n".join(lines) + "\n", "utf-8")
        return [Output(f"api/{fac}/{DATASET}/{night}.jsonl", data, f"api/{fac}/{DATASET}", placed)]
    raise ValueError(f"unknown workforce format {batch.format!r}")
