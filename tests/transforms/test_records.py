"""Record content hashes are stored in staging: they must not change between releases."""

import datetime as dt

import pyarrow as pa

from transforms.records import record_hash


def test_record_hash_values_are_stable_across_releases():
    """Staging keeps each current row's hash and compares the next delivery's with it: a hash
    computed differently after an upgrade would turn every identical re-send into an update.
    These values come from the implementation every stored hash so far was made with (each NULL as NUL,
    join with U+001F, pandas' SipHash, as decimal strings)."""
    table = pa.table({
        "a": pa.array(["Nguyễn Văn An", None, ""]),
        "b": pa.array([dt.date(2026, 11, 21), None, dt.date(1999, 1, 1)], pa.date32()),
        "c": pa.array([3250, None, 0], pa.int32()),
        "d": pa.array([True, None, False]),
    })
    assert record_hash(table, ["a", "b", "c", "d"]).to_pylist() == [
        "17220026688671741157", "333998906455282186", "2775266151031852541"]


def test_record_hash_equals_hashing_the_joined_text():
    """The hash is pandas' SipHash of the row's text (each value as text, NULL as NUL, joined with
    U+001F), however it is computed: checked against that definition on random Unicode rows."""
    import random

    import numpy as np
    import pandas as pd

    rng = random.Random(8)
    alphabet = "aĐđưễ 0123\x1f\u3000😀"
    values = [None if rng.random() < 0.2 else "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
              for _ in range(600)]
    table = pa.table({"a": values[:300], "b": values[300:]})
    joined = ["\x1f".join("\x00" if v is None else v for v in row) for row in zip(values[:300], values[300:], strict=True)]
    expected = pd.util.hash_array(np.array(joined, dtype=object), categorize=False)
    assert record_hash(table, ["a", "b"]).to_pylist() == [str(int(h)) for h in expected]


def test_code_parts_by_layout_equal_the_pattern():
    """Sliced by the fixed layout or matched by the pattern, the code parts are the same, on
    columns that all fit the layout and on columns where some value does not."""
    import random

    import pyarrow.compute as pc

    from transforms.births import CODE_GROUPS, CODE_LAYOUT, CODE_PATTERN
    from transforms.records import code_parts

    def by_pattern(arr: pa.Array) -> list:
        parts = pc.extract_regex(pc.fill_null(arr, ""), CODE_PATTERN)
        return [None if p is None else (p["facility"], p["yy"]) for p in parts.to_pylist()]

    rng = random.Random(2)
    good = lambda: f"{rng.randint(0, 99999):05d}.GCS.{rng.choice(['31011', '01929', 'AB12Z'])}.{rng.randint(0, 99):02d}"  # noqa: E731
    bad = ["00001.GCS.3101.21", "00001.GBT.31011.21", "0000a.GCS.31011.21", "00001.GCS.3101a.21", "", "00001.GCS.31011.2x",
           "00001.GCS.31011.210", "0001.GCS.31011.21", "00001.GCS.3101ễ.2"]
    for fits in (True, False):
        for _ in range(30):
            values = [None if rng.random() < 0.1 else good() for _ in range(rng.randint(1, 20))]
            if not fits:
                values[rng.randrange(len(values))] = rng.choice(bad)
            arr = pa.array(values, pa.string())
            parts = code_parts(arr, CODE_PATTERN, CODE_LAYOUT, CODE_GROUPS)
            got = [None if f is None and y is None else (f, y)
                   for f, y in zip(parts["facility"].to_pylist(), parts["yy"].to_pylist(), strict=True)]
            assert got == by_pattern(arr)
