"""A night killed between its staging commit and its curated publish, then re-run: curated ends as
if nothing had happened (found by tools/chaos.py's reasoning about kill points, reproduced here
deterministically)."""

from __future__ import annotations

import datetime as dt

import pyarrow.parquet as pq

from pipeline.tasks import publish_curated
from tests.pipeline.test_batch import NIGHT, TZ, _child, _drop, _run, _xml9, env  # noqa: F401 - fixture


def _rows(folder) -> int:
    """Records in a curated month (all its parts)."""
    return sum(pq.read_table(p).num_rows for p in folder.glob("part-*.parquet"))


def test_a_month_moving_reissue_killed_before_publish_leaves_no_stale_month(env):  # noqa: F811
    start = dt.datetime(NIGHT.year, NIGHT.month, NIGHT.day, tzinfo=TZ)
    october = env / "curated" / "birth_certificates" / "birth_year=2026" / "birth_month=10"
    first = _child(1).replace("202611200830", "202610312350")  # born 31 October, 23:50
    _drop(env, "01929", NIGHT, "a.xml", _xml9([first, _child(2)]))
    assert _run()["partitions"] == ["2026-10", "2026-11"]
    publish_curated("birth_certificates", start)
    assert _rows(october) == 1

    # Next night a re-issue corrects the birth time into November ...
    night = NIGHT + dt.timedelta(days=1)
    fixed = _child(1).replace("202611200830", "202611010010").replace("<NGAY_CT>20261121</NGAY_CT>",
                                                                      "<NGAY_CT>20261122</NGAY_CT>")
    _drop(env, "01929", night, "b.xml", _xml9([fixed]))
    loaded = _run(night=night)
    assert (loaded["updated"], loaded["partitions"]) == (1, ["2026-10", "2026-11"])
    # ... and the run is killed after the commit, before publishing. The re-run is recognised as
    # unchanged (its recorded outcome, months included, stands); the publish finds the version the
    # night replaced from staging itself, so the month the record left is rebuilt all the same.
    rerun = _run(night=night)
    assert rerun["partitions"] == ["2026-10", "2026-11"]
    publish_curated("birth_certificates", start + dt.timedelta(days=1))
    assert _rows(october) == 0, "the record left October: its stale copy must not stay in curated"
    assert _rows(october.parent / "birth_month=11") == 2
