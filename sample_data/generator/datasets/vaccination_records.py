"""Vaccination records (FHIR ``Immunization``, DOMAIN §17): generation, defects and the three layouts.

One record = one dose. Children under two get the dose their age calls for on the night's date
(a simplified EPI schedule: birth doses, DTP-HepB-Hib and polio at 2-3-4 months, IPV, measles at
9 months, JE, MR and the DTP booster at 18 months); newborns born during the run get their
hepatitis B birth dose or BCG; some adults get a service (``dich-vu``) influenza dose. Each person
is vaccinated once a run, so clean records never meet V5 (interval) or V4 (series length).

Layouts (the registry's ``format``):

* ``fhir_ndjson`` - a FHIR Bulk Data export in the drop folder: ``Immunization.ndjson`` (one
  VN Core Immunization per line, ``line N``) and ``Patient.ndjson`` (the Patients those reference);
* ``fhir_search`` - the same resources served by the sample API server's FHIR search:
  ``api/<facility>/vaccination_records/<night>.ndjson`` (Immunizations, ``meta.lastUpdated`` in the
  night) and ``Patient.ndjson`` (every Patient of the run);
* ``csv`` - the national platform's flat export ``tiem_chung_<YYYYMMDD>.csv`` (``row N``).

Defects: :data:`SPECS` (a corrected dose, an entered-in-error dose, a birth dose before the personal
ID exists, a too-short interval, an expired lot, a dose after the person's recorded death ...).
Benchmarks: :func:`write_vaccination_csv` (clean rows, fast).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sample_data.generator import reference as ref
from sample_data.generator.bench_common import DEFAULT_END, _write
from sample_data.generator.ground_truth import TruthRow, write_outputs
from sample_data.generator.protocol import Generated, RunInputs
from sample_data.generator.records import (
    FLAG,
    LOAD,
    QUARANTINE,
    SUPERSEDE,
    BaseInjector,
    Batch,
    Output,
    PersonPool,
    Rec,
    Spec,
    catalogue,
    mark,
    night_volume,
)
from sample_data.generator.registry import Citizen, Facility, make_personal_id
from sample_data.generator.rng import derive_rng
from sample_data.generator.writers import csv_text, encode_text

DATASET = "vaccination_records"
VN_TYPES = "http://fhir.hl7.org.vn/core/CodeSystem/vn-vaccine-type-cs"
CVX = "http://hl7.org/fhir/sid/cvx"
NATIONAL_ID = "http://fhir.ehealth.gov.vn/core/sid/national_id"
PROGRAMME_EXT = "http://fhir.hl7.org.vn/core/StructureDefinition/vn-ext-immunization-program-type"
ADDRESS_EXT = "http://fhir.ehealth.gov.vn/core/StructureDefinition/extension-administrative-address"
PROFILE = "http://fhir.hl7.org.vn/core/StructureDefinition/vn-core-immunization"
FUNDING = "http://terminology.hl7.org/CodeSystem/immunization-funding-source"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
GENDER = {1: "male", 2: "female"}
SERIES = {"hepb": "VGB sơ sinh", "bcg": "Lao", "dtp": "DPT-VGB-Hib", "polio": "Bại liệt", "ipv": "IPV",
          "measles": "Sởi", "je": "Viêm não Nhật Bản", "mr": "Sởi - Rubella", "tt": "Uốn ván",
          "influenza": "Cúm mùa"}

#: (antigen, dose, youngest age in days, oldest, VN vaccine-type code, CVX code, series length)
SCHEDULE: tuple[tuple[str, int, int, int, str, str, int], ...] = (
    ("dtp", 1, 60, 89, "dpt", "102", 4),
    ("polio", 1, 60, 89, "opv", "178", 3),
    ("dtp", 2, 90, 119, "dpt", "102", 4),
    ("polio", 2, 90, 119, "opv", "178", 3),
    ("dtp", 3, 120, 179, "dpt", "102", 4),
    ("polio", 3, 120, 179, "opv", "178", 3),
    ("ipv", 1, 150, 269, "ipv", "10", 2),
    ("measles", 1, 270, 359, "measles", "05", 2),
    ("je", 1, 365, 539, "je", "134", 3),
    ("mr", 1, 540, 729, "mr", "04", 1),
    ("dtp", 4, 540, 729, "dpt", "20", 4),
)
BIRTH_DOSES: tuple[tuple[str, str, str], ...] = (("hepb", "hepb", "08"), ("bcg", "bcg", "19"))
#: the layouts that code with the Vietnamese list (the others use CVX, also accepted)
VN_CODED = ("fhir_ndjson",)
CSV_HEADER: tuple[str, ...] = (
    "ma_mui_tiem", "ngay_cap_nhat", "trang_thai", "ly_do_khong_tiem", "ma_vac_xin", "he_ma_vac_xin",
    "loai_chuong_trinh", "ngay_tiem", "so_lo", "han_dung", "ma_co_so_tiem", "nguon_kinh_phi", "mui_thu",
    "so_mui_phac_do", "phac_do", "ma_doi_tuong", "so_dinh_danh", "ngay_sinh", "gioi_tinh", "ma_tinh",
)  # fmt: skip
#: commune health stations the national platform's doses come from (performer facility codes)
PLATFORM_PERFORMERS: tuple[str, ...] = ("01001", "01007", "79012", "79025", "31003", "48002")


@dataclass
class VaxContext:
    """State shared by the facility-nights of one run."""

    seed: int
    children: PersonPool
    newborns: list[Citizen]
    adults: list[Citizen]
    used: set[str]


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + "+07:00"


def _from_iso(text: str) -> datetime:
    return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")


def patient_id(seed: int, facility_code: str, person: str) -> str:
    """The patient's logical id at a facility's system (stable over the run, not the personal ID)."""
    return "pat-" + f"{derive_rng(seed, 'patient', facility_code, person).getrandbits(48):012x}"


def _dose_fields(facility: Facility, fmt: str, number: int, night: date, rng: random.Random, person: Citizen,
                 antigen: str, dose: int, vn: str, cvx: str, series_doses: int, programme: str) -> dict[str, str]:
    occurred = datetime.combine(night, time(7, 0)) + timedelta(minutes=rng.randrange(10 * 60))
    updated = occurred + timedelta(minutes=5 + rng.randrange(55))
    code, system = (vn, VN_TYPES) if fmt in VN_CODED else (cvx, CVX)
    performer = rng.choice(PLATFORM_PERFORMERS) if fmt == "csv" else facility.code
    ident = f"TC{night:%Y%m%d}{number:05d}" if fmt == "csv" else f"imm-{night:%Y%m%d}-{number:04d}"
    return {
        "id": ident,
        "last_updated": _iso(updated),
        "status": "completed",
        "status_reason": "",
        "vaccine_code": code,
        "vaccine_system": system,
        "programme_type": programme,
        "occurrence": _iso(occurred),
        "lot_number": f"{vn.upper()}-{night.year}-{rng.randrange(1, 400):03d}",
        "expiration_date": (night + timedelta(days=120 + rng.randrange(500))).isoformat(),
        "performer_facility": performer,
        "funding_source": "private" if programme == "dich-vu" else "public",
        "dose_number": str(dose),
        "series_doses": str(series_doses),
        "series": SERIES.get(antigen, antigen),
        "patient_id": patient_id(0, facility.code, person.personal_id),
        "personal_id": person.personal_id,
        "birth_date": person.birth_date.isoformat(),
        "gender": GENDER.get(person.sex, "unknown"),
        "residence_province": person.home_province,
        "antigen": antigen,
        "patient_in_export": "1",
    }


def plan_night(ctx: VaxContext, facility: Facility, night: date, per_night: int) -> Batch:
    """The clean doses one source sends for one night: birth doses, the schedule, a few adults."""
    fmt = facility.feed(DATASET).format
    rng = derive_rng(ctx.seed, "night", DATASET, facility.code, night.isoformat())
    n = night_volume(ctx.seed, DATASET, facility.code, night, per_night)
    records: list[Rec] = []

    def add(person: Citizen, *dose: Any) -> None:
        fields = _dose_fields(facility, fmt, len(records) + 1, night, rng, person, *dose)
        fields["patient_id"] = patient_id(ctx.seed, facility.code, person.personal_id)
        if dose[0] in ("hepb", "bcg"):  # a birth dose: within hours of the birth
            born = person.birth_date
            moment = datetime.combine(max(born, night), time(8, 0)) + timedelta(minutes=rng.randrange(8 * 60))
            fields["occurrence"] = _iso(moment)
            fields["last_updated"] = _iso(moment + timedelta(minutes=10 + rng.randrange(50)))
        records.append(Rec(facility_code=facility.code, night=night, fields=fields, person=person))

    born_now = [c for c in ctx.newborns if c.personal_id not in ctx.used and night - timedelta(days=1) <= c.birth_date
                <= night]
    for child, (antigen, vn, cvx) in zip(born_now[:2], BIRTH_DOSES, strict=False):
        ctx.used.add(child.personal_id)
        add(child, antigen, 1, vn, cvx, 1, "tcmr")
    adults = [a for a in ctx.adults if a.personal_id not in ctx.used]
    for adult in adults[: 1 + rng.randrange(2)]:
        ctx.used.add(adult.personal_id)
        add(adult, "influenza", 1, "influenza", "141", 2, "dich-vu")
    while len(records) < n:
        def due(c: Citizen) -> bool:
            age = (night - c.birth_date).days
            return any(lo <= age <= hi for _a, _d, lo, hi, *_ in SCHEDULE)

        child = ctx.children.take(due)
        age = (night - child.birth_date).days
        options = [s for s in SCHEDULE if s[2] <= age <= s[3]]
        antigen, dose, _lo, _hi, vn, cvx, length = options[rng.randrange(len(options))]
        add(child, antigen, dose, vn, cvx, length, "tcmr")
    return Batch(facility=facility, dataset=DATASET, night=night, records=records)


def values(r: Rec) -> dict[str, str]:
    """Field -> text, overrides applied."""
    return {**r.fields, **r.overrides}


def record_key(r: Rec) -> str:
    """The natural key as the pipeline builds it: Immunization id | source system (the sending facility)."""
    return f"{values(r)['id']}|{r.facility_code}"


# ---------------------------------------------------------------------------- FHIR resources


def immunization(v: dict[str, str]) -> dict[str, Any]:
    """The VN Core Immunization of a record."""
    res: dict[str, Any] = {
        "resourceType": "Immunization",
        "id": v["id"],
        "meta": {"lastUpdated": v["last_updated"], "profile": [PROFILE]},
        "extension": [{"url": PROGRAMME_EXT, "valueCode": v["programme_type"]}] if v["programme_type"] else [],
        "status": v["status"],
    }
    if v["status_reason"]:
        res["statusReason"] = {"coding": [{"system": ACT_REASON, "code": v["status_reason"]}]}
    if v["vaccine_code"]:
        res["vaccineCode"] = {"coding": [{"system": v["vaccine_system"], "code": v["vaccine_code"]}]}
    res["patient"] = {"reference": f"Patient/{v['patient_id']}"}
    res["occurrenceDateTime"] = v["occurrence"]
    res["primarySource"] = True
    if v["lot_number"]:
        res["lotNumber"] = v["lot_number"]
    if v["expiration_date"]:
        res["expirationDate"] = v["expiration_date"]
    res["performer"] = [{"actor": {"identifier": {"value": v["performer_facility"]}}}]
    res["fundingSource"] = {"coding": [{"system": FUNDING, "code": v["funding_source"]}]}
    applied: dict[str, Any] = {"series": v["series"], "doseNumberPositiveInt": int(v["dose_number"])}
    if v["series_doses"]:
        applied["seriesDosesPositiveInt"] = int(v["series_doses"])
    res["protocolApplied"] = [applied]
    return res


def patient(v: dict[str, str], person: Citizen | None) -> dict[str, Any]:
    """The VN Core Patient a record references (no name: the pipeline does not read it)."""
    res: dict[str, Any] = {"resourceType": "Patient", "id": v["patient_id"]}
    if v["personal_id"]:
        res["identifier"] = [{"use": "official", "system": NATIONAL_ID, "value": v["personal_id"]}]
    res["gender"] = v["gender"]
    res["birthDate"] = v["birth_date"]
    res["address"] = [{"use": "home", "extension": [{"url": ADDRESS_EXT, "extension": [
        {"url": "state", "valueCodeableConcept": {"coding": [{"code": v["residence_province"]}]}}]}]}]
    return res


def _line(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def _patients(records: list[Rec]) -> list[str]:
    """Patient lines for the records (each once; none for a record whose Patient is missing)."""
    seen: dict[str, str] = {}
    for r in records:
        v = values(r)
        if v["patient_in_export"] == "1" and v["patient_id"] not in seen:
            seen[v["patient_id"]] = _line(patient(v, r.person))
    return list(seen.values())


def _dmy(text: str) -> str:
    return f"{text[8:10]}/{text[5:7]}/{text[:4]}" if text else ""


def _dmy_time(text: str) -> str:
    return f"{_dmy(text[:10])} {text[11:19]}" if text else ""


def csv_row(v: dict[str, str]) -> list[str]:
    """A record as a row of the national platform's CSV export."""
    return [
        v["id"], _dmy_time(v["last_updated"]), v["status"], v["status_reason"], v["vaccine_code"], v["vaccine_system"],
        v["programme_type"], _dmy_time(v["occurrence"]), v["lot_number"], _dmy(v["expiration_date"]),
        v["performer_facility"], v["funding_source"], v["dose_number"], v["series_doses"], v["series"],
        v["patient_id"], v["personal_id"], _dmy(v["birth_date"]), {"male": "1", "female": "2"}.get(v["gender"], "9"),
        v["residence_province"],
    ]


def render_batch(batch: Batch) -> list[Output]:
    """Serialise one facility-night batch (REST batches: the night's file of the sample server)."""
    fac, night = batch.facility.code, batch.night
    folder = f"{fac}/{DATASET}/{night.isoformat()}"
    if batch.format == "fhir_ndjson":
        lines = [r.raw_text if r.raw_text is not None else _line(immunization(values(r))) for r in batch.records]
        rel = f"{folder}/Immunization.ndjson"
        placed = [(r, f"line {n}", n) for n, r in enumerate(batch.records, start=1)]
        patients = "\n".join(_patients(batch.records)) + "\n"
        return [Output(f"drop/{rel}", ("\n".join(lines) + "\n").encode("utf-8"), rel, placed),
                Output(f"drop/{folder}/Patient.ndjson", patients.encode("utf-8"), f"{folder}/Patient.ndjson", [])]
    if batch.format == "fhir_search":
        lines = [_line(immunization(values(r))) for r in batch.records]
        placed = [(r, "", n) for n, r in enumerate(batch.records, start=1)]
        return [Output(f"api/{fac}/{DATASET}/{night.isoformat()}.ndjson", ("\n".join(lines) + "\n").encode("utf-8"),
                       f"api/{fac}/{DATASET}", placed)]
    if batch.format == "csv":
        rows = [csv_row(values(r)) for r in batch.records]
        rel = f"{folder}/tiem_chung_{night:%Y%m%d}.csv"
        placed = [(r, f"row {n}", n) for n, r in enumerate(batch.records, start=1)]
        return [Output(f"drop/{rel}", encode_text(csv_text(CSV_HEADER, rows), batch.encoding), rel, placed)]
    raise ValueError(f"unknown vaccination format {batch.format!r}")


def server_patients(batches: list[Batch]) -> list[Output]:
    """Each FHIR search facility's ``Patient.ndjson`` (every Patient its Immunizations reference)."""
    out = []
    for code in sorted({b.facility.code for b in batches if b.format == "fhir_search"}):
        records = [r for b in batches if b.facility.code == code for r in b.records]
        text = "\n".join(_patients(records)) + "\n"
        out.append(Output(f"api/{code}/{DATASET}/Patient.ndjson", text.encode("utf-8"), f"api/{code}/{DATASET}", []))
    return out


# ---------------------------------------------------------------------------- defects

N, S, C = "fhir_ndjson", "fhir_search", "csv"
SPECS = catalogue(
    (
        Spec("missing_required", "REQ", QUARANTINE, (N, S, C), "no vaccine code (vaccineCode / `ma_vac_xin` empty)"),
        Spec("bad_personal_id", "V1", QUARANTINE, (N, C), "personal ID of 11 digits"),
        Spec("birth_dose_without_id", "V1", FLAG, (N, S, C),
             "hepatitis B birth dose of a newborn whose personal ID does not exist yet"),
        Spec("id_missing_after_grace", "V1", QUARANTINE, (N, C), "a child of several months without personal ID"),
        Spec("future_dose", "V2", QUARANTINE, (N, C), "occurrence three days after the night"),
        Spec("dose_before_birth", "V2", QUARANTINE, (N, C), "occurrence before the birth date"),
        Spec("expired_lot", "V2", QUARANTINE, (N, S, C), "lot expired a month before the dose"),
        Spec("unknown_vaccine", "V3", QUARANTINE, (N, S, C), "vaccine code not in the list of its system"),
        Spec("bad_code_system", "V3", QUARANTINE, (C,), "vaccine code system SNOMED CT instead of VN/CVX"),
        Spec("dose_beyond_series", "V4", FLAG, (N, C), "DTP dose number 5 (series of 4)"),
        Spec("short_interval", "V5", FLAG, (N, S, C),
             "the next DTP/polio dose of the same child one or two nights after the previous one (in staging)"),
        Spec("late_birth_dose", "V6", FLAG, (N, S, C), "hepatitis B birth dose three days after birth"),
        Spec("not_done_no_reason", "V7", FLAG, (N, C), "status not-done without a status reason"),
        Spec("not_done", "", LOAD, (N, S, C), "status not-done with a reason (OSTOCK): accepted"),
        Spec("entered_in_error", "", LOAD, (N, S, C),
             "a dose sent again on a later night with status entered-in-error: a tombstone (cancel)"),
        Spec("corrected_dose", "", LOAD, (N, S, C),
             "the dose again with a corrected lot number and a later lastUpdated: later night, or (csv) the same "
             "night with the first version superseded"),
        Spec("exact_duplicate", "DUP", SUPERSEDE, (N, C), "the same dose twice, identical"),
        Spec("unresolved_patient", "REF", QUARANTINE, (N, S), "the referenced Patient is not in the export"),
        Spec("bad_status", "CODE", QUARANTINE, (N, C), "status `done`"),
        Spec("bad_programme", "CODE", QUARANTINE, (N, S, C), "programme type `tiem-le`"),
        Spec("dose_after_death", "X6", FLAG, (N, C), "a tetanus dose to a person whose registry death date is earlier"),
        Spec("broken_line", "ENVELOPE", QUARANTINE, (N,), "an NDJSON line cut off (not valid JSON)"),
    )
)


class VaxInjector(BaseInjector):
    """Places :data:`SPECS` into the vaccination batches."""

    def __init__(self, batches: list[Batch], ctx: VaxContext, registry_dead: PersonPool) -> None:
        super().__init__(batches, ctx.seed, SPECS, DATASET)
        self.ctx = ctx
        self.registry_dead = registry_dead

    def _set(self, r: Rec, kind: str, **changes: str) -> bool:
        r.fields.update(changes)
        mark(r, SPECS[kind])
        return True

    @staticmethod
    def _child(r: Rec, *antigens: str) -> bool:
        return r.fields["antigen"] in antigens and r.person is not None and r.fields["status"] == "completed"

    def _later_copy(self, batch: Batch, r: Rec, kind: str, **changes: str) -> Rec | None:
        """A copy of ``r`` in the same source's next night's batch, last updated that night."""
        later = self.later_batch(batch)
        if later is None:
            return None
        copy = r.copy()
        copy.night = later.night
        moment = datetime.combine(later.night, time(9, 0)) + timedelta(minutes=self.rng.randrange(8 * 60))
        copy.fields.update(last_updated=_iso(moment), **changes)
        mark(copy, SPECS[kind])
        r.locked = True
        self.insert_anywhere(later, copy)
        return copy

    # ------------------------------------------------------------------ handlers
    def _missing_required(self, batch: Batch, r: Rec) -> bool:
        return self._set(r, "missing_required", vaccine_code="", vaccine_system="")

    def _bad_personal_id(self, batch: Batch, r: Rec) -> bool:
        return bool(r.fields["personal_id"]) and self._set(r, "bad_personal_id", personal_id=r.fields["personal_id"][:-1])

    def _birth_dose_without_id(self, batch: Batch, r: Rec) -> bool:
        return self._child(r, "hepb") and self._set(r, "birth_dose_without_id", personal_id="")

    def _id_missing_after_grace(self, batch: Batch, r: Rec) -> bool:
        return self._child(r, "dtp", "polio", "ipv", "measles") and self._set(r, "id_missing_after_grace", personal_id="")

    def _future_dose(self, batch: Batch, r: Rec) -> bool:
        moment = _from_iso(r.fields["occurrence"]) + timedelta(days=3)
        return self._set(r, "future_dose", occurrence=_iso(moment),
                         expiration_date=(moment.date() + timedelta(days=200)).isoformat())

    def _dose_before_birth(self, batch: Batch, r: Rec) -> bool:
        if not self._child(r, "dtp", "polio", "measles", "je"):
            return False
        born = _from_iso(r.fields["occurrence"]).date() + timedelta(days=20)
        return self._set(r, "dose_before_birth", birth_date=born.isoformat())

    def _expired_lot(self, batch: Batch, r: Rec) -> bool:
        expired = _from_iso(r.fields["occurrence"]).date() - timedelta(days=30)
        return self._set(r, "expired_lot", expiration_date=expired.isoformat())

    def _unknown_vaccine(self, batch: Batch, r: Rec) -> bool:
        code = "xyz" if r.fields["vaccine_system"] == VN_TYPES else "999"
        return self._set(r, "unknown_vaccine", vaccine_code=code)

    def _bad_code_system(self, batch: Batch, r: Rec) -> bool:
        return self._set(r, "bad_code_system", vaccine_system="http://snomed.info/sct", vaccine_code="871751006")

    def _dose_beyond_series(self, batch: Batch, r: Rec) -> bool:
        return self._child(r, "dtp") and self._set(r, "dose_beyond_series", dose_number="5")

    def _short_interval(self, batch: Batch, r: Rec) -> bool:
        if not self._child(r, "dtp", "polio") or int(r.fields["dose_number"]) >= 3 or not r.fields["personal_id"]:
            return False
        later = self.later_batch(batch)
        if later is None:
            return False
        number = len(later.records) + 1
        ident = f"TC{later.night:%Y%m%d}{900 + number:05d}" if later.format == "csv" \
            else f"imm-{later.night:%Y%m%d}-{900 + number:04d}"
        moment = datetime.combine(later.night, time(8, 0)) + timedelta(minutes=self.rng.randrange(8 * 60))
        copy = self._later_copy(batch, r, "short_interval", id=ident, dose_number=str(int(r.fields["dose_number"]) + 1),
                                occurrence=_iso(moment), lot_number=f"{r.fields['lot_number']}B")
        if copy is not None:
            copy.fields["last_updated"] = _iso(moment + timedelta(minutes=20))
        return copy is not None

    def _late_birth_dose(self, batch: Batch, r: Rec) -> bool:
        if not self._child(r, "hepb"):
            return False
        born = _from_iso(r.fields["occurrence"]).date() - timedelta(days=3)
        return self._set(r, "late_birth_dose", birth_date=born.isoformat())

    def _not_done_no_reason(self, batch: Batch, r: Rec) -> bool:
        return self._child(r, "dtp", "polio", "measles") and self._set(r, "not_done_no_reason", status="not-done")

    def _not_done(self, batch: Batch, r: Rec) -> bool:
        return self._child(r, "dtp", "polio", "measles", "je") and self._set(r, "not_done", status="not-done",
                                                                            status_reason="OSTOCK")

    def _entered_in_error(self, batch: Batch, r: Rec) -> bool:
        return self._later_copy(batch, r, "entered_in_error", status="entered-in-error") is not None

    def _corrected_dose(self, batch: Batch, r: Rec) -> bool:
        fixed = f"{r.fields['lot_number']}-R"
        if batch.format != "csv":
            return self._later_copy(batch, r, "corrected_dose", lot_number=fixed) is not None
        copy = r.copy()
        copy.fields.update(lot_number=fixed, last_updated=_iso(_from_iso(r.fields["last_updated"]) + timedelta(hours=2)))
        mark(copy, SPECS["corrected_dose"])
        r.locked = True
        r.expected_action = SUPERSEDE
        self.insert_after(batch, r, copy)
        return True

    def _exact_duplicate(self, batch: Batch, r: Rec) -> bool:
        copy = r.copy()
        mark(copy, SPECS["exact_duplicate"])
        r.locked = True
        self.insert_after(batch, r, copy)
        return True

    def _unresolved_patient(self, batch: Batch, r: Rec) -> bool:
        missing = f"pat-missing-{self.variant('unresolved_patient'):04d}"
        return self._set(r, "unresolved_patient", patient_id=missing, patient_in_export="0")

    def _bad_status(self, batch: Batch, r: Rec) -> bool:
        return self._set(r, "bad_status", status="done")

    def _bad_programme(self, batch: Batch, r: Rec) -> bool:
        return self._set(r, "bad_programme", programme_type="tiem-le")

    def _dose_after_death(self, batch: Batch, r: Rec) -> bool:
        try:
            person = self.registry_dead.take(lambda c: c.death_date is not None and c.death_date < batch.night)
        except RuntimeError:
            return False  # the shared pool is used up (tiny runs)
        fields = _dose_fields(batch.facility, batch.format, 0, batch.night, self.rng, person, "tt", 1, "tt", "35", 5,
                              "dich-vu")
        fields.update(id=r.fields["id"], occurrence=r.fields["occurrence"], last_updated=r.fields["last_updated"],
                      patient_id=patient_id(self.seed, batch.facility.code, person.personal_id))
        r.fields = fields
        r.person = person
        mark(r, SPECS["dose_after_death"])
        return True

    def _broken_line(self, batch: Batch, r: Rec) -> bool:
        text = _line(immunization(values(r)))
        r.raw_text = text[: len(text) // 2]
        mark(r, SPECS["broken_line"])
        return True


def inject(batches: list[Batch], ctx: VaxContext, registry_dead: PersonPool) -> None:
    """Inject :data:`SPECS` into the batches (in place)."""
    VaxInjector(batches, ctx, registry_dead).run()


# ---------------------------------------------------------------------------- benchmark writer


def write_vaccination_csv(path: Path, n_rows: int, seed: int = 6, *, facility_code: str = "NIPVN",
                          end: date = DEFAULT_END) -> int:
    """Write ``n_rows`` clean doses in the national platform's ``csv`` layout (UTF-8).

    Every row is a different child (personal IDs derived from the row number), so the V5 self-join
    finds no pairs: the benchmark measures the pipeline, not a pathological person.
    """
    rng = derive_rng(seed, "bench", DATASET, facility_code)
    prefixes = sorted(ref.ID_PROVINCE_PREFIXES)
    provinces = ["01", "79", "31", "48", "92", "38"]

    def row(i: int) -> str:
        antigen, dose, lo, hi, _vn, cvx, length = SCHEDULE[i % len(SCHEDULE)]
        day = end - timedelta(days=i % 365)
        born = day - timedelta(days=lo + rng.randrange(hi - lo + 1))
        sex = 1 + (i & 1)
        pid = make_personal_id(rng, prefixes[i % len(prefixes)], born, sex)
        moment = f"{day:%d/%m/%Y} {7 + i % 10:02d}:{i % 60:02d}:00"
        return ",".join((
            f"TC{i:010d}", moment, "completed", "", cvx, CVX, "tcmr", moment, f"L{i % 997:03d}",
            f"{day + timedelta(days=200):%d/%m/%Y}", PLATFORM_PERFORMERS[i % len(PLATFORM_PERFORMERS)], "public",
            str(dose), str(length), SERIES.get(antigen, antigen), f"pat-{i:010d}", pid, f"{born:%d/%m/%Y}", str(sex),
            provinces[i % len(provinces)],
        ))

    return _write(path, CSV_HEADER, n_rows, row)


# ---------------------------------------------------------------------------- the generator protocol

CATALOGUE = SPECS
BENCH_FACILITY = "NIPVN"
BENCH_FILE = "tiem_chung_bench.csv"
BENCH_SEED = 6
write_bench_csv = write_vaccination_csv


def generate(run: RunInputs) -> Generated:
    """Every night's doses of every source that sends the dataset, with the catalogue's defects."""
    ctx = VaxContext(
        seed=run.seed,
        children=PersonPool(run.extra.children, derive_rng(run.seed, "pool", "children")),
        newborns=sorted(run.extra.newborns, key=lambda c: (c.birth_date, c.personal_id)),
        adults=derive_rng(run.seed, "pool", "vaccinated-adults").sample(run.extra.drivers,
                                                                         min(40, len(run.extra.drivers))),
        used=set(),
    )
    batches = [plan_night(ctx, f, night, run.per_night) for night in run.nights for f in run.facilities
               if f.sends(DATASET)]
    inject(batches, ctx, run.registry_dead)
    outputs = [o for b in batches for o in render_batch(b)] + server_patients(batches)
    truth: list[TruthRow] = []
    files = write_outputs(run.out_dir, outputs, record_key, truth)
    return Generated(files, truth)
