import numpy as np
import pyarrow as pa

from transforms.dedup import SeenKeys


def _mark(seen, keys, hashes, reissue=None):
    re = np.array(reissue if reissue is not None else [False] * len(keys))
    exact, conflict = seen.mark(pa.array(keys, pa.string()), pa.array(hashes, pa.string()), re)
    return exact.tolist(), conflict.tolist()


def test_exact_conflict_and_reissue_across_chunks():
    seen = SeenKeys()
    assert _mark(seen, ["A", "B", "A"], ["1", "2", "1"]) == ([False, False, True], [False, False, False])
    assert seen.unique
    # next chunk: B conflicting first issue, A re-issued, C new, A re-sent again
    exact, conflict = _mark(seen, ["B", "A", "C", "A"], ["9", "3", "4", "3"], [False, True, False, False])
    assert (exact, conflict) == ([False, False, False, True], [True, False, False, False])
    assert not seen.unique and seen.multi["A"] == {"1", "3"}


def test_null_keys_ignored_and_rollback():
    seen = SeenKeys()
    _mark(seen, ["A", None], ["1", "x"])
    point = seen.checkpoint()
    _mark(seen, ["B"], ["2"], [False])
    seen.rollback(point)
    assert _mark(seen, ["B", None], ["2", "x"]) == ([False, False], [False, False])
