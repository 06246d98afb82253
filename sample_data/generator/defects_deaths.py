"""Defect catalogue of death notices and its injection (rules of the shared spec, §death_notices).

Rule ids: REQ, D1, D2, D3, D5, D7, D8, CODE, P1, A3, DUP, FILE, X1. Every record-level kind is
placed in both formats (``pl02``, ``csv``); the truncated file is a ``pl02`` file on the last
night. A marked record (and the original a copy refers to) takes no other defect.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sample_data.generator import code_lists as cl
from sample_data.generator import reference as ref
from sample_data.generator.deaths import (
    DeathContext,
    book,
    notice_code,
    parse8,
    parse12,
    person_fields,
    stamp8,
    stamp12,
)
from sample_data.generator.places import communes_of, province_codes
from sample_data.generator.records import (
    FLAG,
    LOAD,
    QUARANTINE,
    REJECT_FILE,
    SUPERSEDE,
    BaseInjector,
    Batch,
    PersonPool,
    Rec,
    Spec,
    catalogue,
    mark,
)
from sample_data.generator.registry import random_name
from sample_data.generator.rng import derive_rng, derive_uuid

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
