"""Defect catalogue of driver health checks and its injection (shared spec, §driver_health_checks).

Rule ids: REQ, K1, K2, K3, K4, K6, K7, CODE, P1, DUP, ENVELOPE, X2. Formats: ``gksk_jsonl``,
``csv`` (Windows-1258 at one facility) and ``gksk_api`` (the REST facility gets a subset).
``EDIT`` corrections and certificates concluded in 2024 are clean records (``load``).
"""

from __future__ import annotations

from datetime import date, timedelta

from sample_data.generator import code_lists as cl
from sample_data.generator import reference as ref
from sample_data.generator.drivers import DriverContext, certificate_no, dmy, doctor, parse_dmy, person_fields
from sample_data.generator.records import (
    FLAG,
    LOAD,
    QUARANTINE,
    SUPERSEDE,
    BaseInjector,
    Batch,
    PersonPool,
    Rec,
    Spec,
    catalogue,
    mark,
)
from sample_data.generator.rng import derive_rng

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
