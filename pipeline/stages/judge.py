"""Stage *judge*: every row's findings, from the reader, the normalizer and Great Expectations.

One Great Expectations call validates a whole chunk (rows of many facilities and formats), so its
fixed cost is paid per chunk, not per facility. Findings go back to the batch of their row: an
``error`` quarantines the row (rule, reason, reference — never the value), a ``warning`` flags it
and it still loads. An exact re-send is superseded and not judged twice; a record whose envelope
could not be decoded is not judged on its content; a required field that is present but does not
parse is reported once, under its own rule.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.normalize import year_column
from transforms.records import natural_key_array

if TYPE_CHECKING:  # pragma: no cover
    from config.contracts import DatasetContract
    from pipeline.datasets import DatasetHooks
    from pipeline.stages.conform import Conformed
    from pipeline.stages.state import Batch


@dataclass
class Judged:
    """What one judged chunk contributes, kept apart until its unit is known to be complete."""

    #: per batch index: received, superseded, quarantined, flagged
    counts: dict[int, Counter[str]] = field(default_factory=dict)
    quarantine: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    warnings: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    #: the held-back rows as received (all source fields as strings) + ``_rule_ids``, per batch
    rejected: dict[int, list[pa.Table]] = field(default_factory=dict)
    #: valid rows with every stored column (``batch_id`` among them)
    valid: pa.Table | None = None
    partitions: dict[int, set[tuple[int, int]]] = field(default_factory=dict)

    def commit(self, batches: list[Batch]) -> None:
        """Add this chunk's results to its batches."""
        for i, c in self.counts.items():
            b = batches[i]
            b.received += c["received"]
            b.superseded += c["superseded"]
            b.quarantined += c["quarantined"]
            b.flagged += c["flagged"]
        for i, rows in self.quarantine.items():
            batches[i].quarantine += rows
        for i, rows in self.warnings.items():
            batches[i].warnings += rows
        for i, parts in self.partitions.items():
            batches[i].partitions |= parts


def validation_frame(table: pa.Table, columns: tuple[str, ...], flag_columns: set[str]) -> Any:
    """The narrow pandas frame GX validates (nullable dtypes, RangeIndex).

    Contract flags (``bool`` columns such as ``caesarean``) are handed over as 0/1 integers, the
    code system the rules are written in; derived booleans stay booleans.
    """
    import pandas as pd

    mapping = {
        pa.int8(): pd.Int64Dtype(), pa.int16(): pd.Int64Dtype(), pa.int32(): pd.Int64Dtype(),
        pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype(), pa.string(): pd.StringDtype(),
        pa.float64(): pd.Float64Dtype(),
    }
    narrow = table.select(list(columns))
    casts = []
    for f in narrow.schema:
        if f.name in flag_columns and pa.types.is_boolean(f.type):
            casts.append(pa.field(f.name, pa.int64()))
        elif pa.types.is_date(f.type) or pa.types.is_timestamp(f.type):
            casts.append(pa.field(f.name, pa.timestamp("ns")))
        else:
            casts.append(f)
    narrow = narrow.cast(pa.schema(casts))
    return narrow.to_pandas(types_mapper=mapping.get)


def batch_options(batch: Batch, dataset: str, base: dict[str, Any] | None) -> dict[str, Any] | None:
    """The rule options a batch is judged with: the run's ``base`` overridden by the facility's
    ``rule_options`` in the registry (the contract's defaults fill the rest)."""
    facility = batch.facility
    feed = facility.datasets.get(dataset) if facility is not None else None
    if feed is None or not feed.rule_options:
        return base
    return {**(base or {}), **feed.rule_options}


def validate_by_options(frame: Any, dataset: str, batch_index: np.ndarray, batches: list[Batch],
                        base: dict[str, Any] | None) -> list[Any]:
    """GX findings for a chunk whose rows may come from facilities with different rule options:
    one validation call per distinct option set (one call when they all agree), rows reported by
    their position in ``frame``."""
    import dataclasses
    import json

    from expectations import validate_frame

    present = [int(bi) for bi in np.unique(batch_index)] if len(batch_index) else []
    groups: dict[str, tuple[dict[str, Any] | None, list[int]]] = {}
    for bi in present:
        opts = batch_options(batches[bi], dataset, base)
        key = json.dumps(opts, sort_keys=True, default=str)
        groups.setdefault(key, (opts, []))[1].append(bi)
    if len(groups) <= 1:
        opts = next(iter(groups.values()))[0] if groups else base
        return validate_frame(frame, dataset, opts)[0]
    found: list[Any] = []
    for opts, members in groups.values():
        rows = np.flatnonzero(np.isin(batch_index, members))
        sub = frame.iloc[rows].reset_index(drop=True)
        for f in validate_frame(sub, dataset, opts)[0]:
            found.append(dataclasses.replace(f, row=int(rows[f.row])))
    found.sort(key=lambda f: f.row)  # stable: a row's findings keep their suite order
    return found


#: The column the XML9 reader fills with its envelope's facility code (``MACSKCB``).
ENVELOPE_FACILITY = "_envelope_facility"
#: ``envelope_check`` of a facility's dataset entry -> the finding's severity (``off``: none).
SENDER_SEVERITY = {"warn": "warning", "error": "error", "off": None}
_SHOWABLE_CODE = re.compile(r"^[0-9A-Z]{5}$")


def sender_findings(raw: pa.Table, batch_index: np.ndarray, batches: list[Batch]) -> list[tuple[int, str, str]]:
    """``(row, severity, reason)`` for rows whose envelope names another facility than the sender.

    The XML9 envelope's ``MACSKCB`` names the facility whose system produced the file; it should
    be the facility whose folder the file came from, or one of the codes its registry entry accepts
    (``envelope_codes``: a system sending for another facility). Whether every facility's files
    obey this is not known (DOMAIN [C-impl]), so the registry decides per facility and dataset
    how much it matters (``envelope_check``: ``warn``, the default, flags the row (rule
    ``SENDER``); ``error`` quarantines it; ``off``). An empty or absent ``MACSKCB`` is not judged.
    The reason names both codes (facility codes are public), or ``(not a facility code)``.
    """
    if ENVELOPE_FACILITY not in raw.column_names or raw.num_rows == 0:
        return []
    # Codes are [0-9A-Z]: a lower-case spelling names the same facility.
    named = pc.utf8_upper(pc.utf8_trim_whitespace(raw.column(ENVELOPE_FACILITY).combine_chunks().cast(pa.string())))
    sender = pc.take(pa.array([b.spec.facility for b in batches], pa.string()), pa.array(batch_index))
    other = pc.and_(pc.fill_null(pc.not_equal(named, ""), False), pc.fill_null(pc.not_equal(named, sender), False))
    rows = np.flatnonzero(other.to_numpy(zero_copy_only=False))
    out = []
    for i in rows:
        batch = batches[int(batch_index[i])]
        spec = batch.facility.datasets.get(batch.spec.dataset) if batch.facility else None
        options = spec.options if spec else {}
        code = str(named[int(i)].as_py())
        severity = SENDER_SEVERITY[options.get("envelope_check", "warn")]
        if severity is None or code in options.get("envelope_codes", []):
            continue
        shown = code if _SHOWABLE_CODE.match(code) else "(not a facility code)"
        out.append((int(i), severity, f"the envelope (MACSKCB) names facility {shown}, not {batch.spec.facility}, "
                                      "which sent the file"))
    return out


def judge(chunks: list[Conformed], contract: DatasetContract, hooks: DatasetHooks, batches: list[Batch],
          stored: list[str], options: dict[str, Any] | None) -> Judged:
    """Judge conformed chunks together (one GX call per distinct rule-option set, usually one)
    and split the results per batch. ``options`` are the run's; a facility's ``rule_options``
    in the registry override them for its rows."""

    table = pa.concat_tables([c.table for c in chunks], promote_options="default") if len(chunks) > 1 else chunks[0].table
    n = table.num_rows
    batch_index = np.concatenate([c.batch_index for c in chunks]) if chunks else np.zeros(0, np.int64)
    exact = np.concatenate([c.exact for c in chunks])
    offsets = np.cumsum([0] + [c.num_rows for c in chunks])
    # ---- findings: (row, rule, severity, category, column, reason)
    findings: list[tuple[int, str, str, str, str | None, str]] = []
    failed_cols: dict[int, set[str]] = {}
    envelope_rows: set[int] = set()
    for c, start in zip(chunks, offsets[:-1], strict=True):
        if "_reader_error" in c.raw.column_names:
            errs = c.raw.column("_reader_error")
            for i in np.flatnonzero(pc.is_valid(errs).to_numpy(zero_copy_only=False)):
                reason = errs[int(i)].as_py()
                if reason:
                    findings.append((int(start + i), "ENVELOPE", "error", "conformance", None, reason))
                    envelope_rows.add(int(start + i))
        for pos, severity, reason in sender_findings(c.raw, c.batch_index, batches):
            if int(start + pos) not in envelope_rows:
                findings.append((int(start + pos), "SENDER", severity, "conformance", None, reason))
        for failure in c.failures:
            for i in np.flatnonzero(failure.rows):
                row = int(start + i)
                findings.append((row, failure.rule_id, "error", "conformance", failure.column, failure.reason))
                failed_cols.setdefault(row, set()).update({failure.column, year_column(failure.column)})
    flags = {name for name, col in contract.columns.items() if col.type == "bool" and col.sources}
    frame = validation_frame(table, hooks.validation_columns, flags)
    gx_findings = validate_by_options(frame, contract.dataset, batch_index, batches, options)
    for f in gx_findings:
        if f.rule_id == "REQ" and f.column in failed_cols.get(f.row, set()):
            continue  # present but unparseable: already reported with its own rule
        if f.row in envelope_rows:
            continue  # the record could not be decoded: its content is not judged
        findings.append((f.row, f.rule_id, f.severity, f.category, f.column, f.reason))

    # ---- errors quarantine, warnings flag; exact re-sends are superseded, not judged
    errors = np.zeros(n, bool)
    warned = np.zeros(n, bool)
    for row, _rule, severity, *_ in findings:
        if severity == "error" and not exact[row]:
            errors[row] = True
    out = Judged()
    reported = sorted({row for row, *_ in findings})
    refs: dict[int, Any] = {}
    keys: dict[int, Any] = {}
    files: dict[int, Any] = {}
    if reported:
        take = pa.array(reported, pa.int64())
        sub = table.take(take)
        for row, ref, key, src in zip(reported, sub.column("source_ref").to_pylist(),
                                      natural_key_array(sub, contract.natural_key).to_pylist(),
                                      sub.column("source_file").to_pylist(), strict=True):
            refs[row], keys[row], files[row] = ref, key, src
    rules_of: dict[int, set[str]] = {}
    for row, rule, severity, category, column, reason in findings:
        if exact[row] or (severity != "error" and errors[row]):
            # An exact re-send is superseded, not judged twice; warnings on a row that is
            # quarantined anyway stay with its quarantine story.
            continue
        bi = int(batch_index[row])
        rec = batches[bi].finding(files[row], refs[row], keys[row], rule, severity, category, column, reason)
        if severity == "error":
            out.quarantine.setdefault(bi, []).append(rec)
            rules_of.setdefault(row, set()).add(rule)
        else:
            warned[row] = True
            out.warnings.setdefault(bi, []).append(rec)
    valid = ~errors & ~exact
    nb = len(batches)
    for name, mask in (("received", np.ones(n, bool)), ("superseded", exact), ("quarantined", errors),
                       ("flagged", warned & valid)):
        counts = np.bincount(batch_index[mask], minlength=nb)
        for at in np.flatnonzero(counts):
            out.counts.setdefault(int(at), Counter())[name] += int(counts[at])

    # ---- the held-back rows, as received, per batch
    if errors.any():
        for c, start in zip(chunks, offsets[:-1], strict=True):
            local = errors[start: start + c.num_rows]
            if not local.any():
                continue
            rows = np.flatnonzero(local)
            bad = c.raw.take(pa.array(rows, pa.int64()))
            ids = pa.array([",".join(sorted(rules_of.get(int(start + r), ()))) for r in rows], pa.string())
            bad = bad.append_column("_rule_ids", ids)
            bidx = c.batch_index[rows]
            for bi in np.unique(bidx):
                part = bad.filter(pa.array(bidx == bi))
                out.rejected.setdefault(int(bi), []).append(part.drop_columns(["_batch"]))

    # ---- the valid rows and the months they touch
    # Most chunks are all valid: then the columns are taken as they are, not copied by a filter
    # (0.8 s of a million rows' 50 columns).
    good = table.select(stored)
    if not valid.all():
        good = good.filter(pa.array(valid))
    if good.num_rows:
        ev = good.column(contract.event_date)
        month = pc.fill_null(pc.add(pc.multiply(pc.year(ev), 100), pc.month(ev)), -1)
        month = month.to_numpy(zero_copy_only=False).astype(np.int64)
        combo = batch_index[valid].astype(np.int64) * 1_000_000 + month
        for value in np.unique(combo[month >= 0]):
            bi, ym = divmod(int(value), 1_000_000)
            out.partitions.setdefault(bi, set()).add((ym // 100, ym % 100))
        out.valid = good
    return out
