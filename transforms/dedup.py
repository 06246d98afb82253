"""Within-batch duplicate detection in compact, Arrow-backed memory.

A batch can repeat a natural key: an exact re-send (same content: superseded), a re-issue (new
content flagged as a re-issue: a new version), or two different first issues (a conflict, rule
B9). Keys seen so far are kept as Arrow arrays (about 40 bytes per record, not a Python dict
entry of several hundred), and the per-row Python loop only runs over rows whose key was seen
before or repeats inside the chunk.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass
class SeenKeys:
    """Natural keys and content hashes a batch has accepted so far."""

    keys: list[pa.Array] = field(default_factory=list)
    hashes: list[pa.Array] = field(default_factory=list)
    #: keys holding more than one distinct version in this batch (re-issues): key -> hashes
    multi: dict[str, set[str]] = field(default_factory=dict)

    @property
    def unique(self) -> bool:
        """True when no key carries two versions (the load can skip a window sort)."""
        return not self.multi

    def checkpoint(self) -> tuple[int, dict[str, set[str]]]:
        """A restore point (used when a file turns out unreadable half-way)."""
        return len(self.keys), {k: set(v) for k, v in self.multi.items()}

    def rollback(self, point: tuple[int, dict[str, set[str]]]) -> None:
        """Forget everything marked since ``point``."""
        n, multi = point
        del self.keys[n:]
        del self.hashes[n:]
        self.multi = multi

    def mark(self, keys: pa.Array, hashes: pa.Array, reissue: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Classify a chunk's rows in order against everything seen before.

        Args:
            keys: natural keys (NULL keys are ignored).
            hashes: content hashes.
            reissue: True where the row declares itself a re-issue/edit.

        Returns:
            ``(exact, conflict)`` masks: exact re-sends, and different first issues of a key
            already seen (B9).
        """
        n = len(keys)
        exact = np.zeros(n, bool)
        conflict = np.zeros(n, bool)
        valid = pc.is_valid(keys)
        prev_keys = pa.concat_arrays(self.keys) if self.keys else pa.array([], pa.string())
        in_prev = pc.fill_null(pc.is_in(keys, value_set=prev_keys), False).to_numpy(zero_copy_only=False)
        counts = pa.table({"k": keys}).group_by("k").aggregate([("k", "count")])
        repeated = counts.filter(pc.greater(counts.column("k_count"), 1)).column("k")
        dup = pc.fill_null(pc.is_in(keys, value_set=repeated), False).to_numpy(zero_copy_only=False)
        candidates = np.flatnonzero((in_prev | dup) & valid.to_numpy(zero_copy_only=False))
        if candidates.size:
            cand_keys = keys.take(pa.array(candidates)).to_pylist()
            prev_hashes = pc.take(
                pa.concat_arrays(self.hashes) if self.hashes else pa.array([], pa.string()),
                pc.index_in(keys.take(pa.array(candidates)), value_set=prev_keys),
            ).to_pylist()
            row_hashes = hashes.take(pa.array(candidates)).to_pylist()
            local: dict[str, set[str]] = {}
            for j, i in enumerate(candidates):
                k, h = cand_keys[j], row_hashes[j]
                known = local.get(k)
                if known is None:
                    known = set(self.multi.get(k, ()))
                    if prev_hashes[j] is not None:
                        known.add(prev_hashes[j])
                if not known:
                    local[k] = {h}
                elif h in known:
                    exact[i] = True
                    local[k] = known
                elif not reissue[i]:
                    conflict[i] = True
                    local[k] = known
                else:
                    local[k] = known | {h}
            self.multi.update({k: v for k, v in local.items() if len(v) > 1})
        keep = pa.array(valid.to_numpy(zero_copy_only=False) & ~exact & ~conflict)
        self.keys.append(keys.filter(keep))
        self.hashes.append(hashes.filter(keep))
        return exact, conflict
