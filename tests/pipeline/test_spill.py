"""The shard's work files: what goes in comes back, in bounded pieces, by column and by batch."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from pipeline.stages import spill
from pipeline.stages.spill import SpillWriter, read_spills


def _rows(batch_id: str, n: int, start: int = 0) -> pa.Table:
    return pa.table({
        "certificate_code": pa.array([f"C{batch_id}-{i:06d}" for i in range(start, start + n)], pa.string()),
        "weight_grams": pa.array(range(start, start + n), pa.int32()),
        "birth_datetime": pa.array([None] * n, pa.timestamp("s")),
        "batch_id": pa.array([batch_id] * n, pa.string()),
    })


def _spilled(tmp_path: Path, *tables: pa.Table, name: str = "valid-00001.arrow") -> Path:
    writer = SpillWriter(tmp_path / "work" / name)
    for t in tables:
        writer.write(t)
    writer.write(None)
    writer.write(t.slice(0, 0))
    path = writer.close()
    assert path is not None
    assert writer.rows == sum(t.num_rows for t in tables)
    return path


def test_rows_come_back_whole_and_in_order(tmp_path: Path) -> None:
    a, b = _rows("b1", 5), _rows("b2", 3)
    path = _spilled(tmp_path, a, b)
    back = pa.concat_tables(read_spills([path]))
    assert back.equals(pa.concat_tables([a, b]))


def test_columns_in_the_order_asked_and_batches_filtered(tmp_path: Path) -> None:
    first = _spilled(tmp_path, _rows("b1", 4), _rows("b2", 2), name="valid-00001.arrow")
    second = _spilled(tmp_path, _rows("b3", 3), _rows("b2", 1, start=10), name="valid-00002.arrow")
    back = pa.concat_tables(read_spills([first, second], ["weight_grams", "certificate_code"], {"b2"}))
    assert back.column_names == ["weight_grams", "certificate_code"]  # batch_id read to filter, then dropped
    assert back.column("certificate_code").to_pylist() == ["Cb2-000000", "Cb2-000001", "Cb2-000010"]
    unfiltered = pa.concat_tables(read_spills([first], ["weight_grams", "certificate_code"]))
    assert unfiltered.column_names == ["weight_grams", "certificate_code"]  # not the file's order
    keyed = pa.concat_tables(read_spills([first, second], ["batch_id"], {"b1", "b3"}))
    assert keyed.column("batch_id").to_pylist() == ["b1"] * 4 + ["b3"] * 3


def test_read_back_in_bounded_pieces(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(spill, "SPILL_BATCH_ROWS", 7)  # the file's record batches
    path = _spilled(tmp_path, _rows("b1", 20))
    sizes = [t.num_rows for t in read_spills([path], batch_size=5)]
    assert sizes == [5, 2, 5, 2, 5, 1]  # never more than asked for, nothing lost
    assert sum(sizes) == 20


def test_discard_forgets_the_file(tmp_path: Path) -> None:
    writer = SpillWriter(tmp_path / "work" / "valid-00001.arrow")
    writer.write(_rows("b1", 3))
    writer.discard()
    assert not writer.path.exists() and writer.rows == 0
    assert writer.close() is None
