"""The defect catalogue of birth certificates and its deterministic injection.

Each defect has a fixed expected outcome (rule id and action) that the validation code must
reproduce; the ground truth is built from these. Rule ids are those of DOMAIN §3.4 plus:
``REQ`` (a required field is empty), ``DUP`` (an exact duplicate, superseded), ``A3`` (commune
not in the province, DOMAIN §8.3) and ``FILE`` (the whole file is unreadable).

Injection order: file-level defects first (a truncated XML9 night file, a truncated PL02 file,
one "mostly bad" CSV batch); those batches take no other defect. Then record-level defects at
``defect_rate`` of the records, cycling over the facilities so every format gets its share.
Only singleton, non-surrogacy records take a record-level defect, and every record involved
(target and its original) takes at most one, so expectations never interact.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sample_data.generator import reference as ref
from sample_data.generator.datasets.birth_certificates_records import (
    BirthRecord,
    NightBatch,
    book_number,
    certificate_code,
    is_clean_weight,
)
from sample_data.generator.places import communes_of, province_codes
from sample_data.generator.registry import random_name
from sample_data.generator.rng import derive_rng, derive_uuid, digits
from sample_data.generator.writers import LooseStamp, render_date

LOAD, QUARANTINE, FLAG, SUPERSEDE, REJECT_FILE = "load", "quarantine", "flag", "supersede", "reject_file"
ACTIONS = (LOAD, FLAG, QUARANTINE, SUPERSEDE, REJECT_FILE)
ALL_FORMATS = ("xml9", "pl02", "csv")
FORMAT_DRIFT_SHARE = 0.8


@dataclass(frozen=True)
class DefectSpec:
    """One kind of defect and what the pipeline must do with it.

    Attributes:
        name: defect id (ground-truth ``defect`` column).
        rule: expected rule id (empty when none fires).
        action: expected action of the defective record.
        formats: source formats it is injected into.
        level: ``record`` or ``file``.
        how: one-line description for the README.
    """

    name: str
    rule: str
    action: str
    formats: tuple[str, ...]
    level: str
    how: str


_SPECS: tuple[DefectSpec, ...] = (
    DefectSpec(
        "bad_code_pattern", "B1", QUARANTINE, ALL_FORMATS, "record", "code `1234.GCS.01929.26` or `00012-GCS-01929-26`"
    ),
    DefectSpec(
        "code_facility_mismatch",
        "B1",
        QUARANTINE,
        ALL_FORMATS,
        "record",
        "middle part of the code is another facility's code",
    ),
    DefectSpec("impossible_birth_date", "B2", QUARANTINE, ALL_FORMATS, "record", "birth date 31 Feb / 31 Apr / day 32"),
    DefectSpec(
        "future_birth",
        "B2",
        QUARANTINE,
        ALL_FORMATS,
        "record",
        "birth 2-3 days after the delivery night (issue date = birth date)",
    ),
    DefectSpec(
        "issued_before_birth", "B2", QUARANTINE, ALL_FORMATS, "record", "issue date 2-4 days before the birth date"
    ),
    DefectSpec("unknown_sex_code", "B3", QUARANTINE, ALL_FORMATS, "record", "sex `9` (XML) or `X` (CSV)"),
    DefectSpec("unknown_ethnicity", "B3", QUARANTINE, ALL_FORMATS, "record", "ethnicity `77`"),
    DefectSpec("weight_out_of_range", "B4", QUARANTINE, ALL_FORMATS, "record", "weight 35000 or 120 g"),
    DefectSpec("weight_borderline", "B4", FLAG, ALL_FORMATS, "record", "weight 420 or 6300 g"),
    DefectSpec(
        "weight_not_weighed", "", LOAD, ALL_FORMATS, "record", "weight `Không cân` (loads as NULL + not-weighed flag)"
    ),
    DefectSpec("id_wrong_length", "B7", QUARANTINE, ALL_FORMATS, "record", "mother ID of 11 or 13 digits"),
    DefectSpec(
        "id_bad_prefix",
        "B7",
        QUARANTINE,
        ALL_FORMATS,
        "record",
        "12-digit mother ID whose prefix is not in the 63-province list",
    ),
    DefectSpec(
        "id_sex_digit_contradiction",
        "B7",
        FLAG,
        ALL_FORMATS,
        "record",
        "mother ID 4th digit even (male), year digits still right",
    ),
    DefectSpec(
        "missing_required", "REQ", QUARANTINE, ALL_FORMATS, "record", "mother name or birth date-time empty/absent"
    ),
    DefectSpec(
        "bad_insurance_number",
        "B8",
        QUARANTINE,
        ALL_FORMATS,
        "record",
        "health card `ABC123` or 9-digit social-insurance code",
    ),
    DefectSpec(
        "bad_commune", "A3", QUARANTINE, ALL_FORMATS, "record", "commune code of a real ward of another province"
    ),
    DefectSpec("multiples_mismatch", "B5", FLAG, ALL_FORMATS, "record", "SO_CON=2 on a singleton birth"),
    DefectSpec(
        "exact_duplicate",
        "DUP",
        SUPERSEDE,
        ALL_FORMATS,
        "record",
        "the same record again, same night, identical values (first: load)",
    ),
    DefectSpec(
        "conflicting_duplicate",
        "B9",
        QUARANTINE,
        ALL_FORMATS,
        "record",
        "same code again, same night, first issue both, other weight (first: load)",
    ),
    DefectSpec(
        "reissue",
        "",
        LOAD,
        ("pl02", "csv"),
        "record",
        "CAP_LAN_DAU=0, later issue date, one corrected field; same night (original: supersede) or later night (original: load)",
    ),
    DefectSpec(
        "nfd_name",
        "",
        LOAD,
        ("xml9", "pl02", "csv"),
        "record",
        "mother name in NFD (not in the cp1258 file, whose code page decomposes anyway)",
    ),
    DefectSpec(
        "truncated_xml",
        "FILE",
        REJECT_FILE,
        ("xml9", "pl02"),
        "file",
        "one XML9 night file and one PL02 file cut off mid-element",
    ),
    DefectSpec(
        "format_drift",
        "B2",
        QUARANTINE,
        ("csv",),
        "file",
        "last night, one CSV batch: ~80 % of birth date-times as `yyyy-MM-dd HH:mm`",
    ),
)
CATALOGUE: dict[str, DefectSpec] = {spec.name: spec for spec in _SPECS}
RECORD_DEFECTS: tuple[str, ...] = tuple(s.name for s in _SPECS if s.level == "record")


def mark(record: BirthRecord, defect: str) -> None:
    """Label a record with a defect and its expected outcome, and lock it.

    Args:
        record: the record.
        defect: a key of :data:`CATALOGUE`.
    """
    spec = CATALOGUE[defect]
    record.defect = defect
    record.expected_rule = spec.rule
    record.expected_action = spec.action
    record.locked = True


def _sync_code_year(record: BirthRecord) -> None:
    """Keep the code's YY (and the book) on the issue year after moving the issue date."""
    if record.certificate_code[-2:] != f"{record.issue_date.year % 100:02d}":
        record.certificate_code = certificate_code(record.sequence, record.facility_code, record.issue_date.year)
        record.book_number = book_number(record.sequence, record.issue_date.year)


def _copy(record: BirthRecord) -> BirthRecord:
    return dataclasses.replace(record, overrides=dict(record.overrides))


class Injector:
    """Applies the catalogue to the batches of one run.

    Args:
        batches: every facility-night batch, in (night, facility) order.
        seed: run seed.
    """

    def __init__(self, batches: list[NightBatch], seed: int) -> None:
        """Index the batches."""
        self.batches = batches
        self.seed = seed
        self.rng = derive_rng(seed, "defects")
        self.nights = sorted({b.night for b in batches})
        self.facility_codes = sorted({b.facility.code for b in batches})
        self._variant: dict[str, int] = {}
        self._handlers: dict[str, Callable[[NightBatch, BirthRecord], bool]] = {
            "bad_code_pattern": self._bad_code_pattern,
            "code_facility_mismatch": self._code_facility_mismatch,
            "impossible_birth_date": self._impossible_birth_date,
            "future_birth": self._future_birth,
            "issued_before_birth": self._issued_before_birth,
            "unknown_sex_code": self._unknown_sex_code,
            "unknown_ethnicity": self._unknown_ethnicity,
            "weight_out_of_range": self._weight_out_of_range,
            "weight_borderline": self._weight_borderline,
            "weight_not_weighed": self._weight_not_weighed,
            "id_wrong_length": self._id_wrong_length,
            "id_bad_prefix": self._id_bad_prefix,
            "id_sex_digit_contradiction": self._id_sex_digit_contradiction,
            "missing_required": self._missing_required,
            "bad_insurance_number": self._bad_insurance_number,
            "bad_commune": self._bad_commune,
            "multiples_mismatch": self._multiples_mismatch,
            "exact_duplicate": self._exact_duplicate,
            "conflicting_duplicate": self._conflicting_duplicate,
            "reissue": self._reissue,
            "nfd_name": self._nfd_name,
        }

    # ------------------------------------------------------------------ driver

    def run(self, defect_rate: float) -> None:
        """Inject file-level defects, then record-level defects at ``defect_rate``.

        Args:
            defect_rate: share of the generated records that get a record-level defect.
        """
        base_records = sum(len(b.records()) for b in self.batches)
        self._file_level()
        budget = round(defect_rate * base_records)
        for i, (kind, fmt) in enumerate(self._kind_sequence(budget)):
            self._inject_one(i, kind, fmt)

    def _kind_sequence(self, budget: int) -> list[tuple[str, str | None]]:
        """What to inject, in order: ``(kind, format)`` pairs.

        First every record-level kind once in every format it applies to (a re-issue twice per
        format: same night and later night), so that each reader and rule meets each defect;
        then kinds drawn at random, in any format, until the budget is spent.
        """
        coverage: list[tuple[str, str | None]] = []
        for kind in RECORD_DEFECTS:
            for fmt in CATALOGUE[kind].formats:
                coverage += [(kind, fmt)] * (2 if kind == "reissue" else 1)
        if budget <= len(coverage):
            return coverage[:budget]
        extra: list[tuple[str, str | None]] = [
            (self.rng.choice(RECORD_DEFECTS), None) for _ in range(budget - len(coverage))
        ]
        return coverage + extra

    def _variant_of(self, kind: str) -> int:
        """0, 1, 2 ... per kind: alternates the forms a defect takes."""
        n = self._variant.get(kind, 0)
        self._variant[kind] = n + 1
        return n

    def _inject_one(self, i: int, kind: str, fmt: str | None) -> None:
        """Place one defect of ``kind`` (in format ``fmt`` if given), rotating facilities from ``i``."""
        spec = CATALOGUE[kind]
        formats = (fmt,) if fmt else spec.formats
        n = len(self.facility_codes)
        for k in range(n):
            code = self.facility_codes[(i + k) % n]
            candidates = [
                (batch, record)
                for batch in self.batches
                if batch.facility.code == code and not batch.locked and batch.format in formats
                for record in batch.records()
                if self._eligible(kind, batch, record)
            ]
            while candidates:
                batch, record = candidates.pop(self.rng.randrange(len(candidates)))
                if self._handlers[kind](batch, record):
                    return
        # No facility had room (tiny runs): the defect is skipped.

    def _eligible(self, kind: str, batch: NightBatch, record: BirthRecord) -> bool:
        if record.locked or record.episode_size != 1 or record.surrogate is not None:
            return False
        if kind == "nfd_name":
            return batch.encoding != "cp1258"
        return True

    # ------------------------------------------------------------------ file level

    def _file_level(self) -> None:
        """Truncate one XML9 night file and one PL02 file; drift one CSV batch on the last night."""
        rng = derive_rng(self.seed, "file-defects")
        mid_night = self.nights[min(1, len(self.nights) - 1)]
        xml9 = [b for b in self.batches if b.format == "xml9" and b.night == mid_night]
        if xml9:
            batch = rng.choice(xml9)
            batch.locked = True
            for record in batch.records():
                mark(record, "truncated_xml")
                record.file_truncated = True
        last = self.nights[-1]
        pl02 = [b for b in self.batches if b.format == "pl02" and b.night == last]
        if pl02:
            batch = rng.choice(pl02)
            singles = [r for r in batch.records() if r.episode_size == 1 and r.surrogate is None]
            if singles:
                record = rng.choice(singles)
                mark(record, "truncated_xml")
                record.file_truncated = True
        drift = [b for b in self.batches if b.format == "csv" and b.encoding != "cp1258" and b.night == last]
        if drift:
            batch = drift[0]
            batch.locked = True
            n_units = len(batch.units)
            chosen = sorted(rng.sample(range(n_units), round(FORMAT_DRIFT_SHARE * n_units)))
            for index in chosen:
                for record in batch.units[index]:
                    mark(record, "format_drift")
                    record.overrides["birth_datetime"] = render_date(record.birth_datetime, "yyyy-mm-dd HH:MM")
            for record in batch.records():
                record.locked = True

    # ------------------------------------------------------------------ helpers

    def _insert_after(self, batch: NightBatch, anchor: BirthRecord, unit: list[BirthRecord]) -> None:
        """Insert ``unit`` at a random position after the unit that holds ``anchor``."""
        index = next(i for i, u in enumerate(batch.units) if any(r is anchor for r in u))
        position = self.rng.randrange(index + 1, len(batch.units) + 1)
        batch.units.insert(position, unit)

    def _other_facility(self, code: str) -> str:
        others = [c for c in sorted(f["code"] for f in ref.FACILITIES) if c != code]
        return self.rng.choice(others)

    def _later_batch(self, batch: NightBatch) -> NightBatch | None:
        later = [
            b for b in self.batches if b.facility.code == batch.facility.code and b.night > batch.night and not b.locked
        ]
        return min(later, key=lambda b: b.night) if later else None

    # ------------------------------------------------------------------ record-level handlers
    # Each returns True when the defect was placed on ``record`` (False: try another record).

    def _bad_code_pattern(self, batch: NightBatch, r: BirthRecord) -> bool:
        yy = r.certificate_code[-2:]
        if self._variant_of("bad_code_pattern") % 2 == 0:
            r.certificate_code = f"{r.sequence % 10000:04d}.GCS.{r.facility_code}.{yy}"
        else:
            r.certificate_code = f"{r.sequence:05d}-GCS-{r.facility_code}-{yy}"
        mark(r, "bad_code_pattern")
        return True

    def _code_facility_mismatch(self, batch: NightBatch, r: BirthRecord) -> bool:
        r.certificate_code = certificate_code(r.sequence, self._other_facility(r.facility_code), r.issue_date.year)
        mark(r, "code_facility_mismatch")
        return True

    def _impossible_birth_date(self, batch: NightBatch, r: BirthRecord) -> bool:
        born = r.birth_datetime
        assert isinstance(born, datetime)
        month, day = [(2, 31), (4, 31), (born.month, 32)][self._variant_of("impossible_birth_date") % 3]
        r.birth_datetime = LooseStamp(born.year, month, day, born.hour, born.minute)
        mark(r, "impossible_birth_date")
        return True

    def _future_birth(self, batch: NightBatch, r: BirthRecord) -> bool:
        assert isinstance(r.birth_datetime, datetime)
        day = batch.night + timedelta(days=2 + self.rng.randrange(2))
        r.birth_datetime = datetime(day.year, day.month, day.day, r.birth_datetime.hour, r.birth_datetime.minute)
        r.issue_date = day
        _sync_code_year(r)
        mark(r, "future_birth")
        return True

    def _issued_before_birth(self, batch: NightBatch, r: BirthRecord) -> bool:
        r.issue_date = r.birth_day() - timedelta(days=2 + self.rng.randrange(3))
        _sync_code_year(r)
        mark(r, "issued_before_birth")
        return True

    def _unknown_sex_code(self, batch: NightBatch, r: BirthRecord) -> bool:
        r.overrides["child_sex"] = "X" if batch.format == "csv" else "9"
        mark(r, "unknown_sex_code")
        return True

    def _unknown_ethnicity(self, batch: NightBatch, r: BirthRecord) -> bool:
        r.mother_ethnicity_code = ref.ETHNICITY_UNKNOWN_CODE
        mark(r, "unknown_ethnicity")
        return True

    def _weight_out_of_range(self, batch: NightBatch, r: BirthRecord) -> bool:
        r.birth_weight_g = (35000, 120)[self._variant_of("weight_out_of_range") % 2]
        mark(r, "weight_out_of_range")
        return True

    def _weight_borderline(self, batch: NightBatch, r: BirthRecord) -> bool:
        r.birth_weight_g = (420, 6300)[self._variant_of("weight_borderline") % 2]
        mark(r, "weight_borderline")
        return True

    def _weight_not_weighed(self, batch: NightBatch, r: BirthRecord) -> bool:
        r.overrides["birth_weight_g"] = ref.NOT_WEIGHED
        mark(r, "weight_not_weighed")
        return True

    def _id_wrong_length(self, batch: NightBatch, r: BirthRecord) -> bool:
        if self._variant_of("id_wrong_length") % 2 == 0:
            r.mother_id_number = r.mother_id_number[:-1]
        else:
            r.mother_id_number = r.mother_id_number + digits(self.rng, 1)
        mark(r, "id_wrong_length")
        return True

    def _id_bad_prefix(self, batch: NightBatch, r: BirthRecord) -> bool:
        prefix = ref.BAD_ID_PREFIXES[self._variant_of("id_bad_prefix") % len(ref.BAD_ID_PREFIXES)]
        r.mother_id_number = prefix + r.mother_id_number[3:]
        mark(r, "id_bad_prefix")
        return True

    def _id_sex_digit_contradiction(self, batch: NightBatch, r: BirthRecord) -> bool:
        digit = int(r.mother_id_number[3])
        r.mother_id_number = r.mother_id_number[:3] + str(digit - 1) + r.mother_id_number[4:]
        mark(r, "id_sex_digit_contradiction")
        return True

    def _missing_required(self, batch: NightBatch, r: BirthRecord) -> bool:
        column = ("mother_full_name", "birth_datetime")[self._variant_of("missing_required") % 2]
        # XML9 leaves the element out; PL02 sends it empty; CSV has an empty cell.
        r.overrides[column] = None if batch.format == "xml9" else ""
        mark(r, "missing_required")
        return True

    def _bad_insurance_number(self, batch: NightBatch, r: BirthRecord) -> bool:
        if self._variant_of("bad_insurance_number") % 2 == 0:
            r.mother_health_card_no = "ABC123"
        elif r.mother_social_insurance_no == "0000000000":
            r.mother_social_insurance_no = digits(self.rng, 9)
        else:
            r.mother_social_insurance_no = r.mother_social_insurance_no[1:]
        mark(r, "bad_insurance_number")
        return True

    def _bad_commune(self, batch: NightBatch, r: BirthRecord) -> bool:
        others = [p for p in province_codes() if p != r.residence_province_code]
        r.residence_commune_code = self.rng.choice(communes_of(self.rng.choice(others))).code
        mark(r, "bad_commune")
        return True

    def _multiples_mismatch(self, batch: NightBatch, r: BirthRecord) -> bool:
        r.children_in_delivery = 2
        mark(r, "multiples_mismatch")
        return True

    def _exact_duplicate(self, batch: NightBatch, r: BirthRecord) -> bool:
        copy = _copy(r)
        mark(copy, "exact_duplicate")
        r.locked = True
        self._insert_after(batch, r, [copy])
        return True

    def _conflicting_duplicate(self, batch: NightBatch, r: BirthRecord) -> bool:
        copy = _copy(r)
        delta = (60 + self.rng.randrange(190)) * (1 if self.rng.random() < 0.5 else -1)
        copy.birth_weight_g = (
            r.birth_weight_g + delta if is_clean_weight(r.birth_weight_g + delta) else r.birth_weight_g - delta
        )
        copy.element_id = f"Id-{derive_uuid(self.rng)}"
        mark(copy, "conflicting_duplicate")
        r.locked = True
        self._insert_after(batch, r, [copy])
        return True

    def _reissue(self, batch: NightBatch, r: BirthRecord) -> bool:
        same_night = self._variant.get("reissue", 0) % 2 == 0
        if same_night:
            if r.issue_date >= batch.night:
                return False
            target = batch
            issue = r.issue_date + timedelta(days=1 + self.rng.randrange((batch.night - r.issue_date).days))
        else:
            later = self._later_batch(batch)
            if later is None:
                return False
            target, issue = later, later.night
        if issue.year != r.issue_date.year:
            # A re-issue keeps the original code, whose YY would then differ from the year of
            # NGAY_CT (B1). Real, but B1 as specified cannot tell it apart: not generated.
            return False
        self._variant_of("reissue")
        copy = _copy(r)
        copy.night = target.night
        copy.first_issue = False
        copy.issue_date = issue
        copy.element_id = f"Id-{derive_uuid(self.rng)}"
        self._correct_one_field(copy)
        mark(copy, "reissue")
        r.locked = True
        if same_night:
            r.expected_action = SUPERSEDE
            self._insert_after(batch, r, [copy])
        else:
            target.units.insert(self.rng.randrange(len(target.units) + 1), [copy])
        return True

    def _correct_one_field(self, copy: BirthRecord) -> None:
        """The correction a re-issue carries (DOMAIN §3.1: error, missing info ...)."""
        which = self._variant_of("reissue-correction") % 3
        if which == 0:
            family = (copy.father.full_name if copy.father else copy.mother_full_name.title()).split(" ")[0]
            copy.child_name = random_name(self.rng, copy.child_sex, family)
            if copy.source_format == "pl02":
                copy.child_name = copy.child_name.upper()
        elif which == 1:
            delta = 10 * (1 + self.rng.randrange(10))
            copy.birth_weight_g += delta if is_clean_weight(copy.birth_weight_g + delta) else -delta
        else:
            copy.residence_address = f"Số {1 + self.rng.randrange(199)}, " + copy.residence_address.split(", ", 1)[-1]

    def _nfd_name(self, batch: NightBatch, r: BirthRecord) -> bool:
        nfd = unicodedata.normalize("NFD", r.mother_full_name)
        if nfd == r.mother_full_name:
            return False
        r.mother_full_name = nfd
        mark(r, "nfd_name")
        return True


def inject(batches: list[NightBatch], seed: int, defect_rate: float) -> None:
    """Inject the catalogue into the batches (in place).

    Args:
        batches: every facility-night batch of the run, in (night, facility) order.
        seed: run seed.
        defect_rate: share of generated records that get a record-level defect.
    """
    Injector(batches, seed).run(defect_rate)
