"""Defect catalogue of the health workforce and its injection (shared spec, §health_workforce).

Rule ids: REQ, W1, W2, W3, W4, W5, DATE, CODE, DUP, X5. Formats: ``csv``, ``json`` (NFD at
its facility) and ``json_api``. For the two cross-facility cases (``overlapping_practice``,
``second_facility``) the format is that of the first registration; the marked copy is sent by
another workforce facility on the same (``second_facility`` only) or a later night.
"""

from __future__ import annotations

from datetime import timedelta

from sample_data.generator import code_lists as cl
from sample_data.generator import reference as ref
from sample_data.generator.records import (
    FLAG,
    LOAD,
    QUARANTINE,
    SUPERSEDE,
    BaseInjector,
    Batch,
    Rec,
    Spec,
    catalogue,
    mark,
)
from sample_data.generator.registry import make_personal_id
from sample_data.generator.rng import digits
from sample_data.generator.workforce import WorkforceContext, parse_ymd, ymd

C, J, A = "csv", "json", "json_api"
SPECS = catalogue(
    (
        Spec("missing_required", "REQ", QUARANTINE, (C, J), "`ho_ten`, `so_giay_phep` or `ngay_cap_nhat` empty", 2),
        Spec("unknown_title", "W1", QUARANTINE, (C, J, A), "`chuc_danh` = `Phù thủy` or `Bac si` (no diacritics)"),
        Spec("title_variant", "", LOAD, (C, J), "title in upper/lower case (`BÁC SĨ`): accepted"),
        Spec("bad_licence_format", "W2", FLAG, (C, J, A), "`so_giay_phep` = `GP-NNNNN` or `NNNNN-BYT`"),
        Spec("bad_personal_id", "W3", QUARANTINE, (C, J), "`so_dinh_danh` with a bad prefix or 11 digits"),
        Spec("bad_facility_code", "W4", FLAG, (C, J), "`ma_cskcb` = sender's code with a letter (`4600A`)"),
        Spec(
            "overlapping_practice",
            "W5",
            FLAG,
            (C, J),
            "same person registered later at another facility while still active here",
        ),
        Spec("bad_date", "DATE", QUARANTINE, (C, J), "`ngay_cap_gp` on 31 February, or `den_ngay` before `tu_ngay`", 2),
        Spec("bad_sex_code", "CODE", QUARANTINE, (C, J), "`gioi_tinh` = `3` or `0`"),
        Spec("exact_duplicate", "DUP", SUPERSEDE, (C, J, A), "the registration again, identical"),
        Spec("not_in_registry", "X5", FLAG, (C, J, A), "well-formed personal ID absent from the citizen registry"),
        Spec(
            "new_version",
            "",
            LOAD,
            (C, J, A),
            "new version (scope or end date) with a later `ngay_cap_nhat`: same night (old superseded) or later night",
            2,
        ),
        Spec(
            "second_facility",
            "",
            LOAD,
            (C, J, A),
            "practitioner who moved: ended here, registered at another facility afterwards",
        ),
        Spec("no_personal_id", "", LOAD, (C, J), "`so_dinh_danh` empty (optional)"),
    )
)


class WorkforceInjector(BaseInjector):
    """Places :data:`SPECS` into the workforce batches."""

    def __init__(self, batches: list[Batch], ctx: WorkforceContext, registry_ids: set[str]) -> None:
        """Set up.

        Args:
            batches: every workforce batch.
            ctx: run state.
            registry_ids: personal IDs of the citizen registry (X5 draws outside them).
        """
        super().__init__(batches, ctx.seed, SPECS, "health_workforce")
        self.ctx = ctx
        self.registry_ids = registry_ids

    def _set(self, r: Rec, kind: str, **changes: str) -> bool:
        r.fields.update(changes)
        mark(r, SPECS[kind])
        return True

    def _other_batches(self, batch: Batch, same_night: bool) -> list[Batch]:
        return [
            b
            for b in self.batches
            if b.facility.code != batch.facility.code
            and not b.locked
            and (b.night > batch.night or (same_night and b.night == batch.night))
        ]

    # ------------------------------------------------------------------ handlers

    def _missing_required(self, batch: Batch, r: Rec) -> bool:
        tag = ("ho_ten", "so_giay_phep", "ngay_cap_nhat")[self.variant("missing_required") % 3]
        return self._set(r, "missing_required", **{tag: ""})

    def _unknown_title(self, batch: Batch, r: Rec) -> bool:
        title = cl.INVALID_TITLES[self.variant("unknown_title") % len(cl.INVALID_TITLES)]
        return self._set(r, "unknown_title", chuc_danh=title)

    def _title_variant(self, batch: Batch, r: Rec) -> bool:
        title = r.fields["chuc_danh"]
        variant = title.upper() if self.variant("title_variant") % 2 == 0 else title.lower()
        return self._set(r, "title_variant", chuc_danh=variant)

    def _bad_licence_format(self, batch: Batch, r: Rec) -> bool:
        n = digits(self.rng, 5)
        number = (f"GP-{n}", f"{n}-BYT")[self.variant("bad_licence_format") % 2]
        return self._set(r, "bad_licence_format", so_giay_phep=number)

    def _bad_personal_id(self, batch: Batch, r: Rec) -> bool:
        pid = r.fields["so_dinh_danh"]
        if self.variant("bad_personal_id") % 2 == 0:
            pid = ref.BAD_ID_PREFIXES[self.rng.randrange(len(ref.BAD_ID_PREFIXES))] + pid[3:]
        else:
            pid = pid[:-1]
        return self._set(r, "bad_personal_id", so_dinh_danh=pid)

    def _bad_facility_code(self, batch: Batch, r: Rec) -> bool:
        return self._set(r, "bad_facility_code", ma_cskcb=r.facility_code[:4] + "A")

    def _overlapping_practice(self, batch: Batch, r: Rec) -> bool:
        targets = self._other_batches(batch, same_night=False)
        if not targets:
            return False
        target = self.rng.choice(targets)
        copy = self._moved(r, target)
        started = parse_ymd(r.fields["tu_ngay"]) + timedelta(days=30 + self.rng.randrange(200))
        copy.fields["tu_ngay"] = ymd(min(started, target.night - timedelta(days=1)))
        mark(copy, SPECS["overlapping_practice"])
        r.locked = True
        self.insert_anywhere(target, copy)
        return True

    def _moved(self, r: Rec, target: Batch) -> Rec:
        copy = r.copy()
        copy.facility_code = target.facility.code
        copy.night = target.night
        copy.fields["ma_cskcb"] = target.facility.code
        copy.fields["ngay_cap_nhat"] = ymd(target.night)
        copy.fields["den_ngay"] = ""
        return copy

    def _bad_date(self, batch: Batch, r: Rec) -> bool:
        if self.variant("bad_date") % 2 == 0:
            year = parse_ymd(r.fields["ngay_cap_gp"]).year
            return self._set(r, "bad_date", ngay_cap_gp=f"{year}0231")
        ended = parse_ymd(r.fields["tu_ngay"]) - timedelta(days=10 + self.rng.randrange(100))
        return self._set(r, "bad_date", den_ngay=ymd(ended))

    def _bad_sex_code(self, batch: Batch, r: Rec) -> bool:
        return self._set(r, "bad_sex_code", gioi_tinh=("3", "0")[self.variant("bad_sex_code") % 2])

    def _exact_duplicate(self, batch: Batch, r: Rec) -> bool:
        copy = r.copy()
        mark(copy, SPECS["exact_duplicate"])
        r.locked = True
        self.insert_after(batch, r, copy)
        return True

    def _not_in_registry(self, batch: Batch, r: Rec) -> bool:
        person = r.person
        assert person is not None
        prefix = person.personal_id[:3]
        pid = make_personal_id(self.rng, prefix, person.birth_date, person.sex)
        while pid in self.registry_ids:
            pid = make_personal_id(self.rng, prefix, person.birth_date, person.sex)
        r.person = None
        return self._set(r, "not_in_registry", so_dinh_danh=pid)

    def _new_version(self, batch: Batch, r: Rec) -> bool:
        same_night = self._variants.get("new_version", 0) % 2 == 0
        updated = parse_ymd(r.fields["ngay_cap_nhat"])
        if same_night:
            if updated >= batch.night:
                return False
            target = batch
        else:
            later = self.later_batch(batch)
            if later is None:
                return False
            target = later
        n = self.variant("new_version")
        copy = r.copy()
        copy.night = target.night
        copy.fields["ngay_cap_nhat"] = ymd(target.night)
        scopes = [s for s in cl.TITLES[r.fields["chuc_danh"]][1] if s != r.fields["pham_vi"]]
        if n % 2 == 0 and scopes:
            copy.fields["pham_vi"] = self.rng.choice(scopes)
        else:
            copy.fields["den_ngay"] = ymd(target.night.replace(month=12, day=31))
        mark(copy, SPECS["new_version"])
        r.locked = True
        if same_night:
            r.expected_action = SUPERSEDE
            self.insert_after(batch, r, copy)
        else:
            self.insert_anywhere(target, copy)
        return True

    def _second_facility(self, batch: Batch, r: Rec) -> bool:
        targets = self._other_batches(batch, same_night=True)
        started = parse_ymd(r.fields["tu_ngay"])
        updated = parse_ymd(r.fields["ngay_cap_nhat"])
        ended = updated - timedelta(days=20 + self.rng.randrange(180))
        if not targets or ended <= started + timedelta(days=30):
            return False
        target = self.rng.choice(targets)
        r.fields["den_ngay"] = ymd(ended)
        copy = self._moved(r, target)
        copy.fields["tu_ngay"] = ymd(min(ended + timedelta(days=1 + self.rng.randrange(15)), updated))
        mark(copy, SPECS["second_facility"])
        r.locked = True
        self.insert_anywhere(target, copy)
        return True

    def _no_personal_id(self, batch: Batch, r: Rec) -> bool:
        return self._set(r, "no_personal_id", so_dinh_danh="")


def inject(batches: list[Batch], ctx: WorkforceContext, registry_ids: set[str]) -> None:
    """Inject :data:`SPECS` into the workforce batches (in place)."""
    WorkforceInjector(batches, ctx, registry_ids).run()
