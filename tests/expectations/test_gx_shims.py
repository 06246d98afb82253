"""The per-call GX memos (``expectations/gx_shims.py``) change no result, only the time."""

from __future__ import annotations

from typing import Any

import pytest

from config.contracts import available_datasets
from expectations import gx_shims, runner
from expectations.compile import compiled
from tests.expectations.parity_frames import frames


def _gx_results(frame: Any, suite: Any, dataset: str, memos: bool) -> list[Any]:
    """GX's own per-expectation results (not our stripped form), minus run-specific ids."""
    with runner._LOCK, gx_shims.graph_memos(enabled=memos):
        batch = runner._batch_definition(dataset).get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(suite, result_format=runner.RESULT_FORMAT)
    out = []
    for r in result.results:
        config = r.expectation_config.to_json_dict()
        config.get("kwargs", {}).pop("batch_id", None)
        out.append((r.success, r.result, config, (r.exception_info or {}).get("raised_exception")))
    return out


@pytest.mark.parametrize("dataset", available_datasets())
def test_results_are_identical_with_and_without_the_memos(dataset: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = compiled(dataset)
    suite = ds.build_suite()
    for name, frame in frames(dataset, ds.COLUMN_KINDS).items():
        with_memos = _gx_results(frame, suite, f"shim_{dataset}", memos=True)
        assert with_memos == _gx_results(frame, suite, f"shim_{dataset}", memos=False), name
        assert any(not ok for ok, *_ in with_memos), name  # the frame exercises failures, not only passes
        monkeypatch.setattr(runner, "GRAPH_MEMOS", False)
        plain = runner.validate_with_suite(frame, suite, dataset=f"shim_{dataset}")
        monkeypatch.setattr(runner, "GRAPH_MEMOS", True)
        assert runner.validate_with_suite(frame, suite, dataset=f"shim_{dataset}") == plain, name


def test_the_memos_live_only_inside_one_validation() -> None:
    suite = compiled("birth_certificates").build_suite()
    expectation = suite.expectations[0]
    with gx_shims.graph_memos():
        assert expectation.configuration is expectation.configuration
    assert gx_shims._config_memo is None and gx_shims._id_memo is None
    # Outside a validation GX's property builds a new configuration on every access, as shipped,
    # so a change to the expectation is seen at once.
    assert expectation.configuration is not expectation.configuration
    before = expectation.configuration.meta
    with gx_shims.graph_memos():
        expectation.configuration  # noqa: B018 - memoised inside
    expectation.meta = {**(before or {}), "extra": "x"}
    try:
        assert expectation.configuration.meta["extra"] == "x"
    finally:
        expectation.meta = before


def test_metric_ids_are_memoised_only_for_plain_content() -> None:
    from great_expectations.core.id_dict import IDDict

    plain = IDDict({"column": "mother_name", "batch_id": "b", "regex": "^[0-9]+$", "nested": {"a": [1, None, True]}})
    odd = IDDict({"column": "x", "when": object()})
    want = plain.to_id()
    with gx_shims.graph_memos():
        assert plain.to_id() == want == plain.to_id()
        assert len(gx_shims._id_memo or {}) == 1
        with pytest.raises(TypeError):  # not JSON-serialisable: GX's own error, not a cache entry
            odd.to_id()
        assert len(gx_shims._id_memo or {}) == 1
        # Content that compares equal (1 == True == 1.0) but serialises differently keeps its own id.
        ids = {IDDict({"a": v, "b": 2}).to_id() for v in (1, True, 1.0, "1")}
        assert len(ids) == 4


def test_another_thread_is_not_memoised_while_one_validates() -> None:
    import threading

    expectation = compiled("birth_certificates").build_suite().expectations[0]
    seen: list[bool] = []
    with gx_shims.graph_memos():
        assert expectation.configuration is expectation.configuration
        worker = threading.Thread(target=lambda: seen.append(expectation.configuration is expectation.configuration))
        worker.start()
        worker.join()
    assert seen == [False]


def test_the_expectation_object_is_reused_only_inside_get_metric_kwargs() -> None:
    from great_expectations.expectations import expectation as gx_expectation

    suite = compiled("birth_certificates").build_suite()
    config = next(e for e in suite.expectations if "column" in e.configuration.kwargs).configuration
    metric = "column_values.nonnull.unexpected_count"
    want = gx_expectation.get_metric_kwargs(metric, configuration=config)
    with gx_shims.graph_memos():
        # every other caller (GX validating the metrics) gets a new object, as shipped
        assert config.to_domain_obj() is not config.to_domain_obj()
        assert gx_shims._domain_memo == {}
        assert gx_expectation.get_metric_kwargs(metric, configuration=config) == want
        assert gx_expectation.get_metric_kwargs(metric, configuration=config) == want
        assert len(gx_shims._domain_memo or {}) == 1
        # a configuration changed in between is a new key, so its new column is seen
        changed = config.kwargs["column"] + "_x"
        config.kwargs["column"] = changed
        assert gx_expectation.get_metric_kwargs(metric, configuration=config)["metric_domain_kwargs"]["column"] == changed
        assert len(gx_shims._domain_memo or {}) == 2
    assert gx_shims._domain_memo is None and not any(gx_shims._running.values())


@pytest.mark.parametrize("dataset", available_datasets())
def test_a_cached_metric_graph_gives_each_frame_its_own_results(dataset: str) -> None:
    """The graph built for one batch is reused for the next batches of the same layout; every
    batch still gets exactly the results GX gives it without any memo."""
    ds = compiled(dataset)
    suite = ds.build_suite()
    fuzz = frames(dataset, ds.COLUMN_KINDS)["fuzz"]
    slices = [fuzz.iloc[a:b].reset_index(drop=True) for a, b in ((0, 20), (20, 300), (1000, 1007), (2000, 3000))]
    gx_shims._graph_cache.clear()
    before = dict(gx_shims.graph_cache_stats)
    cached = [_gx_results(frame, suite, f"cache_{dataset}", memos=True) for frame in slices]
    assert gx_shims.graph_cache_stats["builds"] - before["builds"] == 1
    assert gx_shims.graph_cache_stats["hits"] - before["hits"] == len(slices) - 1
    plain = [_gx_results(frame, suite, f"cache_{dataset}", memos=False) for frame in slices]
    assert cached == plain
    assert len({repr(r) for r in plain}) == len(slices)  # the slices' results differ: nothing carried over


def test_a_changed_suite_or_frame_layout_builds_its_own_graph() -> None:
    ds = compiled("birth_certificates")
    suite = ds.build_suite()
    fuzz = frames("birth_certificates", ds.COLUMN_KINDS)["fuzz"].iloc[:50].reset_index(drop=True)
    gx_shims._graph_cache.clear()
    _gx_results(fuzz, suite, "layout", memos=True)
    _gx_results(fuzz.drop(columns=[fuzz.columns[-1]]), suite, "layout", memos=True)  # a column fewer
    column_rule = next(e for e in suite.expectations if "column" in e.configuration.kwargs)
    other = ds.build_suite()
    other_rule = next(e for e in other.expectations if e.configuration.to_json_dict() == column_rule.configuration.to_json_dict())
    other_rule.meta = {**(other_rule.meta or {}), "rule_id": "CHANGED"}
    changed = _gx_results(fuzz, other, "layout", memos=True)
    assert len(gx_shims._graph_cache) == 3
    assert changed == _gx_results(fuzz, other, "layout", memos=False)
    assert any((config.get("meta") or {}).get("rule_id") == "CHANGED" for _ok, _r, config, _e in changed)


@pytest.mark.parametrize(("value", "on"), [(None, True), ("on", True), ("off", False), ("0", False), (" No ", False)])
def test_s06_gx_shims_switches_every_shim(value: str | None, on: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if value is None:
        monkeypatch.delenv("S06_GX_SHIMS", raising=False)
    else:
        monkeypatch.setenv("S06_GX_SHIMS", value)
    assert runner._switched_on("S06_GX_SHIMS") is on


def test_switched_off_the_runner_uses_no_cached_graph(monkeypatch: pytest.MonkeyPatch) -> None:
    ds = compiled("death_notices")
    suite = ds.build_suite()
    frame = frames("death_notices", ds.COLUMN_KINDS)["fuzz"].iloc[:30].reset_index(drop=True)
    monkeypatch.setattr(runner, "GRAPH_MEMOS", False)
    before = dict(gx_shims.graph_cache_stats)
    off = [runner.validate_with_suite(frame, suite, dataset="switch") for _ in range(2)]
    assert gx_shims.graph_cache_stats == before
    monkeypatch.setattr(runner, "GRAPH_MEMOS", True)
    on = [runner.validate_with_suite(frame, suite, dataset="switch") for _ in range(2)]
    assert gx_shims.graph_cache_stats["hits"] > before["hits"]
    assert off == on


def test_the_runner_reads_s06_gx_shims_when_imported() -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for value, want in (("off", "False"), ("on", "True")):
        out = subprocess.run([sys.executable, "-c", "import expectations.runner as r; print(r.GRAPH_MEMOS)"],
                             cwd=root, env={**os.environ, "PYTHONPATH": str(root), "S06_GX_SHIMS": value},
                             check=True, capture_output=True, text=True, timeout=120).stdout.strip()
        assert out == want, value


@pytest.mark.parametrize("dataset", available_datasets())
def test_passing_expectations_skip_their_row_level_metrics(dataset: str) -> None:
    """An expectation no row failed gets its (empty) failing rows without GX reading the records
    again; one that failed still goes to GX; the results are GX's own either way."""
    ds = compiled(dataset)
    suite = ds.build_suite()
    frame = frames(dataset, ds.COLUMN_KINDS)["fuzz"].iloc[:5].reset_index(drop=True)  # the fuzz fails every rule by 40 rows
    before = dict(gx_shims.row_level_stats)
    shimmed = _gx_results(frame, suite, f"rows_{dataset}", memos=True)
    assert gx_shims.row_level_stats["skipped"] > before["skipped"]
    assert gx_shims.row_level_stats["computed"] > before["computed"]
    assert shimmed == _gx_results(frame, suite, f"rows_{dataset}", memos=False)


def _row_level_call(mask: Any, result_format: dict[str, Any] | None = None, index_name: str | None = None) -> list[str]:
    """Call the short circuit around a recording stand-in for GX's function; what reached GX."""
    import types

    import pandas as pd

    reached: list[str] = []
    frame = pd.DataFrame({"a": range(len(mask))})
    frame.index.name = index_name
    engine = types.SimpleNamespace(batch_manager=types.SimpleNamespace(
        active_batch_data=types.SimpleNamespace(dataframe=frame)))
    fn = gx_shims._nothing_unexpected(lambda **kwargs: reached.append("gx") or ["from gx"])
    fmt = {"result_format": "COMPLETE", **(result_format or {})}
    out = fn(metrics={"unexpected_condition": (mask, {}, {})}, metric_value_kwargs={"result_format": fmt},
             execution_engine=engine)
    assert out == ([] if not reached else ["from gx"])
    return reached


def test_the_short_circuit_trusts_only_a_mask_without_failures_or_na() -> None:
    import pandas as pd

    with gx_shims.graph_memos():
        assert _row_level_call(pd.Series([False, False])) == []
        assert _row_level_call(pd.Series([False, False], dtype="boolean")) == []
        assert _row_level_call(pd.Series([], dtype=bool)) == []
        assert _row_level_call(pd.Series([False, True])) == ["gx"]  # a failing row
        assert _row_level_call(pd.Series([False, None], dtype="boolean")) == ["gx"]  # NA: GX's own error
        assert _row_level_call(pd.Series([0, 0])) == ["gx"]  # not a boolean mask
        assert _row_level_call(pd.Series([False]), {"unexpected_index_column_names": ["a"]}) == ["gx"]
        assert _row_level_call(pd.Series([False]), index_name="id") == ["gx"]  # GX lists named indices
    assert _row_level_call(pd.Series([False, False])) == ["gx"]  # outside a validation: as shipped


def test_validation_dependencies_are_reused_between_calls_per_expectation_content() -> None:
    ds = compiled("birth_certificates")
    suite = ds.build_suite()
    fuzz = frames("birth_certificates", ds.COLUMN_KINDS)["fuzz"]
    slices = [fuzz.iloc[a:a + 30].reset_index(drop=True) for a in (0, 30, 60)]
    gx_shims._deps_cache.clear()
    gx_shims._graph_cache.clear()
    # The first call builds the graph, which fills GX's defaults into the runtime configuration;
    # the next ones reuse the graph, so their runtime configuration is another key: two builds.
    results = [_gx_results(frame, suite, "deps", memos=True) for frame in slices[:2]]
    before = dict(gx_shims.deps_cache_stats)
    results.append(_gx_results(slices[2], suite, "deps", memos=True))
    assert gx_shims.deps_cache_stats["builds"] == before["builds"]
    assert gx_shims.deps_cache_stats["hits"] - before["hits"] == len(gx_shims._deps_cache) // 2 > 0
    assert results == [_gx_results(frame, suite, "deps", memos=False) for frame in slices]
    other = ds.build_suite()
    rule = next(e for e in other.expectations if "column" in e.configuration.kwargs)
    rule.meta = {**(rule.meta or {}), "rule_id": "CHANGED"}
    size = len(gx_shims._deps_cache)
    changed = [_gx_results(frame, other, "deps", memos=True) for frame in slices]
    assert len(gx_shims._deps_cache) == size + 2  # the changed rule, under both keys; the rest reused
    assert changed == [_gx_results(frame, other, "deps", memos=False) for frame in slices]
    assert any((config.get("meta") or {}).get("rule_id") == "CHANGED" for _ok, _r, config, _e in changed[2])
