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
