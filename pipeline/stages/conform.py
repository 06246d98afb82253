"""Stage *conform*: raw string chunks into the canonical typed model with lineage and versions.

For one chunk of one source format (rows of any number of the shard's facilities): normalize
every contract column (a value that does not parse becomes NULL plus a row-level failure), derive
the dataset's validation columns (its hook, with the per-row sending facility), add lineage
(format, file, reference, batch, content hash, record status), the version key, and mark
within-batch duplicates. Duplicates are judged per batch: two facilities sending the same key in
one shard are two batches, exactly as if they had run one after the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.dedup import SeenKeys
from transforms.normalize import ParseFailure, normalize
from transforms.records import constant, natural_key_array, record_hash, version_key

if TYPE_CHECKING:  # pragma: no cover
    from config.contracts import DatasetContract
    from pipeline.datasets import DatasetHooks
    from pipeline.stages.state import Batch

#: Separates the facility from the natural key in the dedup keys (keys of different batches
#: never meet). Facility codes are five characters, so the prefix is always six.
KEY_SEPARATOR = "\x1f"
PREFIX_LEN = 6


@dataclass
class Conformed:
    """A conformed chunk: the raw rows (as received), the canonical table and what was found."""

    raw: pa.Table
    table: pa.Table
    failures: list[ParseFailure]
    #: exact re-sends within their batch (superseded, not judged)
    exact: np.ndarray
    #: position of each row's batch in the shard
    batch_index: np.ndarray

    @property
    def num_rows(self) -> int:
        """Rows in the chunk."""
        return self.table.num_rows


class ShardLookups:
    """The lookup context of a shard: staging + registry, plus the shard's own accepted keys.

    ``existing_keys`` also answers True for a key accepted earlier in this shard (an EDIT whose
    ADD came in an earlier chunk, or from another facility processed before it: the same answer
    as if that batch had loaded first).
    """

    def __init__(self, inner: Any, seen: SeenKeys) -> None:
        self._inner = inner
        self._seen = seen

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def existing_keys(self, dataset: str, keys: pa.Array) -> pa.Array:
        """Known in staging, or accepted earlier in this shard."""
        staged = self._inner.existing_keys(dataset, keys)
        if not self._seen.keys:
            return staged
        accepted = pc.utf8_slice_codeunits(pa.concat_arrays(self._seen.keys), PREFIX_LEN)
        earlier = pc.is_in(keys, value_set=accepted)
        return pc.or_kleene(staged, pc.if_else(pc.is_valid(keys), earlier, pa.scalar(None, pa.bool_())))


def record_status(table: pa.Table, contract: DatasetContract) -> pa.Array:
    """'cancelled' where the source withdraws the record (contract ``cancellation``), else 'active'."""
    n = table.num_rows
    cancel = contract.cancellation
    if cancel is None:
        return constant("active", pa.string(), n)
    hit = pc.fill_null(pc.is_in(pc.utf8_upper(table.column(cancel.column).cast(pa.string())),
                                value_set=pa.array([v.upper() for v in cancel.values])), False)
    return pc.if_else(hit, "cancelled", "active")


def positions(batch_index: np.ndarray, batches: list[Batch]) -> np.ndarray:
    """Each row's position within its batch (continuing from the rows its batch already saw).

    Updates ``rows_seen`` of every batch in the chunk.
    """
    n = len(batch_index)
    out = np.empty(n, dtype=np.int64)
    if n == 0:
        return out
    order = np.argsort(batch_index, kind="stable")
    sorted_idx = batch_index[order]
    starts = np.flatnonzero(np.r_[True, sorted_idx[1:] != sorted_idx[:-1]])
    counts = np.diff(np.r_[starts, n])
    run_start = np.repeat(starts, counts)
    within = np.arange(n) - run_start
    base = np.array([batches[i].rows_seen for i in sorted_idx[starts]], dtype=np.int64)
    out[order] = np.repeat(base, counts) + within
    for i, c in zip(sorted_idx[starts], counts, strict=True):
        batches[i].rows_seen += int(c)
    return out


def conform(raw: pa.Table, fmt: str, contract: DatasetContract, hooks: DatasetHooks, batches: list[Batch],
            seen: SeenKeys, lookups: Any) -> Conformed:
    """Normalize, derive, add lineage and versions, and mark duplicates, for one raw chunk.

    Args:
        raw: string columns of one source format with ``_source_file`` and ``_batch``.
        fmt: the format key.
        contract: the dataset contract.
        hooks: the dataset's derivations.
        batches: the shard's batches (indexed by ``_batch``).
        seen: the shard's dedup state (keys prefixed by facility).
        lookups: the lookup context (staging, registry, shard keys) or None.
    """
    n = raw.num_rows
    batch_index = raw.column("_batch").to_numpy().astype(np.int64) if n else np.zeros(0, np.int64)
    codes = pa.array([b.spec.facility for b in batches], pa.string())
    facility = pc.take(codes, pa.array(batch_index)) if n else pa.array([], pa.string())
    batch_ids = pc.take(pa.array([b.batch_id for b in batches], pa.string()), pa.array(batch_index)) \
        if n else pa.array([], pa.string())
    spec0 = batches[int(batch_index[0])].spec if n else batches[0].spec
    norm = normalize(raw, contract, fmt)
    table = hooks.derive(norm.table, facility, spec0.cutoff, lookups)
    fmt_spec = contract.source_formats[fmt]
    lineage = {
        "source_format": constant(fmt, pa.string(), n),
        "spec_version": constant(fmt_spec.spec_version, pa.string(), n),
        "source_file": raw.column("_source_file").combine_chunks(),
        "source_ref": table.column("_source_ref") if "_source_ref" in table.column_names else pa.nulls(n, pa.string()),
        "batch_id": batch_ids,
        "record_hash": record_hash(table, list(contract.columns)),
        "record_status": record_status(table, contract),
    }
    for name, arr in lineage.items():
        table = table.append_column(name, arr)
    order = [c for c in contract.version_order if c in table.column_names]
    table = table.append_column(
        "version_key", version_key(table, order, spec0.interval_start.strftime("%Y%m%dT%H%M"), 0,
                                   positions=positions(batch_index, batches)),
    )
    exact, conflict = _dedup(table, contract, hooks, facility, seen)
    table = table.append_column("duplicate_first_issue", pa.array(conflict))
    return Conformed(raw=raw, table=table, failures=norm.failures, exact=exact, batch_index=batch_index)


def _dedup(table: pa.Table, contract: DatasetContract, hooks: DatasetHooks, facility: pa.Array,
           seen: SeenKeys) -> tuple[np.ndarray, np.ndarray]:
    """Mark exact duplicates (superseded) and conflicting first issues (B9), in order, per batch."""
    first_col = hooks.first_issue_column
    reissue = (
        pc.fill_null(pc.equal(table.column(first_col), False), False).to_numpy(zero_copy_only=False)
        if first_col else np.zeros(table.num_rows, bool)
    )
    key = natural_key_array(table, contract.natural_key)
    prefixed = pc.binary_join_element_wise(facility, key, KEY_SEPARATOR)
    return seen.mark(prefixed, table.column("record_hash").combine_chunks(), reissue)
