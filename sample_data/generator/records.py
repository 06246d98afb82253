"""Shared machinery of the string-field datasets (death notices, driver checks, workforce).

Every value of these sources is a string (spec: "All values in files are strings"), so a record
is an ordered mapping of the dataset's own field names to text, plus the bookkeeping that feeds
the ground truth. Formats then only rename/convert fields and serialise them.

The defect injection follows the births catalogue (``defects.py``): file-level defects first,
then every record-level kind placed ``per_format`` times in each format it applies to, rotating
over the facilities; a record (and the original a copy refers to) takes at most one defect, so
each record's expected rule and action never depend on another defect.
"""

from __future__ import annotations

import json
import random
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta

from sample_data.generator.registry import Citizen, Facility
from sample_data.generator.rng import derive_rng

LOAD, FLAG, QUARANTINE, SUPERSEDE, REJECT_FILE = "load", "flag", "quarantine", "supersede", "reject_file"
ACTIONS = (LOAD, FLAG, QUARANTINE, SUPERSEDE, REJECT_FILE)
#: Births per facility-night = per_night * U(1 - spread, 1 + spread) (also sizes the population).
PER_NIGHT_SPREAD = 0.30
VOLUME_SHARE = 0.5  # records per facility-night of a new dataset = per_night * share, ±30 %
VOLUME_SPREAD = 0.30


@dataclass
class Rec:
    """One record of a string-field dataset.

    Attributes:
        facility_code: sending facility.
        night: delivery night.
        fields: field name -> text, in the dataset's base convention and field order.
        overrides: field name -> final text *after* format conversion (a defect's raw value).
        person: the citizen the record is about (None for an unknown or unregistered person).
        defect: defect id, empty when clean.
        expected_rule: rule id that must fire, empty if none.
        expected_action: one of :data:`ACTIONS`.
        locked: takes no (further) defect.
        element_id: ``Id`` attribute of a PL02 element.
        raw_text: a line written verbatim instead of the fields (a truncated JSON line).
        file_truncated: the record's file is cut off (PL02).
        numbers: JSON keys written as JSON numbers instead of strings.
        updated_at: local time the record changed in the source (REST/SQL sources).
    """

    facility_code: str
    night: date
    fields: dict[str, str]
    overrides: dict[str, str] = field(default_factory=dict)
    person: Citizen | None = None
    defect: str = ""
    expected_rule: str = ""
    expected_action: str = LOAD
    locked: bool = False
    element_id: str = ""
    raw_text: str | None = None
    file_truncated: bool = False
    numbers: frozenset[str] = frozenset()
    updated_at: datetime | None = None

    def copy(self) -> Rec:
        """A deep-enough copy (fields and overrides are new dicts)."""
        return replace(self, fields=dict(self.fields), overrides=dict(self.overrides))


@dataclass
class Batch:
    """What one facility delivers for one dataset on one night, in document order.

    Attributes:
        facility: the facility.
        dataset: dataset id.
        night: delivery night (local date).
        records: records in document order.
        locked: no record-level defect may be injected.
    """

    facility: Facility
    dataset: str
    night: date
    records: list[Rec]
    locked: bool = False

    @property
    def format(self) -> str:
        """Source format of the batch."""
        return self.facility.feed(self.dataset).format

    @property
    def encoding(self) -> str:
        """File encoding."""
        return self.facility.feed(self.dataset).encoding

    @property
    def normalization(self) -> str:
        """Unicode normal form of the text as written."""
        return self.facility.feed(self.dataset).normalization


@dataclass(frozen=True)
class Spec:
    """One kind of defect (or special clean case) and its expected outcome.

    Attributes:
        name: defect id (ground-truth ``defect`` column).
        rule: rule id that must fire (empty when none).
        action: expected action of the marked record.
        formats: source formats it is placed in.
        how: one-line description for the README.
        per_format: placements per format.
    """

    name: str
    rule: str
    action: str
    formats: tuple[str, ...]
    how: str
    per_format: int = 1


def catalogue(specs: tuple[Spec, ...]) -> dict[str, Spec]:
    """Index specs by name."""
    return {s.name: s for s in specs}


def mark(record: Rec, spec: Spec) -> None:
    """Label a record with a defect and its expected outcome, and lock it."""
    record.defect = spec.name
    record.expected_rule = spec.rule
    record.expected_action = spec.action
    record.locked = True


def night_volume(seed: int, dataset: str, facility_code: str, night: date, per_night: int) -> int:
    """Records a facility sends for a dataset on a night (deterministic, at least 4).

    Args:
        seed: run seed.
        dataset: dataset id.
        facility_code: facility.
        night: delivery night.
        per_night: the births average (the new datasets send about half of it).

    Returns:
        The number of base records before defects add copies.
    """
    rng = derive_rng(seed, "volume", dataset, facility_code, night.isoformat())
    mean = per_night * VOLUME_SHARE
    return max(4, round(mean * (1 - VOLUME_SPREAD + 2 * VOLUME_SPREAD * rng.random())))


class PersonPool:
    """Hands out each citizen of a list at most once (nobody dies twice).

    Args:
        citizens: the candidates.
        rng: shuffles them once.
    """

    def __init__(self, citizens: list[Citizen], rng: random.Random) -> None:
        """Build the pool."""
        self._left = list(citizens)
        rng.shuffle(self._left)

    def take(self, ok: Callable[[Citizen], bool] = lambda c: True) -> Citizen:
        """Take the next unused citizen satisfying ``ok``.

        Raises:
            RuntimeError: nobody left (raise the extra population size).
        """
        for i in range(len(self._left) - 1, -1, -1):
            if ok(self._left[i]):
                return self._left.pop(i)
        raise RuntimeError("person pool exhausted: generate more citizens")


class Counters:
    """Running numbers per (facility, year), starting near where a real year would be."""

    def __init__(self, seed: int, start: date, label: str, per_day: int) -> None:
        """Set up.

        Args:
            seed: run seed.
            start: first night (numbers of its year start at elapsed days * ``per_day``).
            label: dataset label for the random start offset.
            per_day: rough daily volume.
        """
        self._seed, self._start, self._label, self._per_day = seed, start, label, per_day
        self._values: dict[tuple[str, int], int] = {}

    def next(self, facility_code: str, year: int) -> int:
        """Next number of a facility in a year."""
        key = (facility_code, year)
        if key not in self._values:
            if year == self._start.year:
                elapsed = (self._start - date(year, 1, 1)).days
                rng = derive_rng(self._seed, "sequence-start", self._label, facility_code)
                self._values[key] = min(elapsed * self._per_day, 60000) + rng.randrange(50)
            else:
                self._values[key] = 100 + 37 * (year % 7)
        self._values[key] += 1
        return self._values[key]


def normalize(text: str, form: str) -> str:
    """Text in the facility's Unicode form (NFC text stays as generated)."""
    return unicodedata.normalize("NFD", text) if form == "NFD" else text


def json_line(obj: dict[str, str], numbers: frozenset[str] = frozenset(), extra: dict[str, str] | None = None) -> str:
    """One compact JSON object, keys in order; keys in ``numbers`` with digit values become numbers."""
    out: dict[str, object] = {}
    for key, value in obj.items():
        out[key] = int(value) if key in numbers and value.isdigit() else value
    if extra:
        out.update(extra)
    return json.dumps(out, ensure_ascii=False, separators=(", ", ": "))


def stamp_updates(records: list[Rec], night: date, rng: random.Random) -> None:
    """Give the records strictly increasing ``updated_at`` times during day ``night``.

    The data interval of night N is N 00:00 to N+1 00:00 (Asia/Ho_Chi_Minh); the times fall
    between 06:00 and 23:00 so that they stay well inside it.

    Args:
        records: records in document order.
        night: the night.
        rng: the stream.
    """
    if not records:
        return
    span = 17 * 3600
    step = span // (len(records) + 1)
    moment = datetime.combine(night, time(6, 0))
    for record in records:
        moment += timedelta(seconds=max(1, step // 2 + rng.randrange(max(step, 1))))
        record.updated_at = min(moment, datetime.combine(night, time(23, 59, 59)))
        moment = record.updated_at


def iso_local(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS+07:00``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + "+07:00"


class BaseInjector:
    """Places a dataset's catalogue into its batches; subclasses provide the handlers.

    A handler ``_<kind>(batch, record) -> bool`` changes ``record`` (or inserts a copy next to
    it) and returns True when the defect was placed, False to try another record.

    Args:
        batches: every batch of the dataset, in (night, facility) order.
        seed: run seed.
        specs: the catalogue.
        label: dataset label of the random stream.
    """

    def __init__(self, batches: list[Batch], seed: int, specs: dict[str, Spec], label: str) -> None:
        """Set up."""
        self.batches = batches
        self.seed = seed
        self.specs = specs
        self.rng = derive_rng(seed, "defects", label)
        self.facility_codes = sorted({b.facility.code for b in batches})
        self.nights = sorted({b.night for b in batches})
        self._variants: dict[str, int] = {}

    def run(self) -> None:
        """File-level defects, then every record-level kind in each of its formats."""
        self.file_level()
        i = 0
        for spec in self.specs.values():
            if not hasattr(self, f"_{spec.name}"):
                continue  # file-level kinds
            for fmt in spec.formats:
                for _ in range(spec.per_format):
                    self._place(i, spec, fmt)
                    i += 1

    def file_level(self) -> None:
        """File-level defects (none by default)."""

    def variant(self, kind: str) -> int:
        """0, 1, 2 ... per kind: alternates the forms a defect takes."""
        n = self._variants.get(kind, 0)
        self._variants[kind] = n + 1
        return n

    def eligible(self, batch: Batch, record: Rec) -> bool:
        """Whether a record may take a record-level defect."""
        return not record.locked and record.raw_text is None

    def _place(self, i: int, spec: Spec, fmt: str) -> None:
        handler: Callable[[Batch, Rec], bool] = getattr(self, f"_{spec.name}")
        n = len(self.facility_codes)
        for k in range(n):
            code = self.facility_codes[(i + k) % n]
            candidates = [
                (batch, record)
                for batch in self.batches
                if batch.facility.code == code and not batch.locked and batch.format == fmt
                for record in batch.records
                if self.eligible(batch, record)
            ]
            while candidates:
                batch, record = candidates.pop(self.rng.randrange(len(candidates)))
                if handler(batch, record):
                    return
        # No room (tiny runs): the defect is skipped.

    def insert_after(self, batch: Batch, anchor: Rec, copy: Rec) -> None:
        """Insert ``copy`` at a random position after ``anchor``."""
        index = next(i for i, r in enumerate(batch.records) if r is anchor)
        batch.records.insert(self.rng.randrange(index + 1, len(batch.records) + 1), copy)

    def insert_anywhere(self, batch: Batch, copy: Rec) -> None:
        """Insert ``copy`` at a random position of ``batch``."""
        batch.records.insert(self.rng.randrange(len(batch.records) + 1), copy)

    def later_batch(self, batch: Batch) -> Batch | None:
        """The next unlocked batch of the same facility, if any."""
        later = [
            b for b in self.batches if b.facility.code == batch.facility.code and b.night > batch.night and not b.locked
        ]
        return min(later, key=lambda b: b.night) if later else None


@dataclass
class Output:
    """One written file and the records it holds.

    Attributes:
        path: path relative to the output folder (``drop/...``, ``api/...``).
        data: the bytes.
        source_file: the ground truth's ``source_file`` (relative to ``drop/`` for file drops,
            ``api/<facility>/<dataset>`` for REST sources).
        placements: ``(record, source_ref, order)`` per record, in document order.
    """

    path: str
    data: bytes
    source_file: str
    placements: list[tuple[Rec, str, int]]
