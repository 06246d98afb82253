"""Per-call memos for Great Expectations 1.x's graph building (pure functions it recomputes).

A third shim narrows a column domain's records to that column (see
:func:`_narrow_column_records`): a cost that grows with the rows, not a fixed one. A fourth reuses
the expectation object GX builds only to read its runtime kwargs (see :func:`_memoised_domain_obj`).
A fifth keeps the metric graph of a suite from one call to the next (see :func:`_cached_subgraphs`):
the only memo that outlives a call, because the graph is a function of the suite, not the data.
A sixth answers an expectation that no row failed without reading the domain's records again (see
:func:`_nothing_unexpected`). A seventh keeps what each expectation asks of the metrics between
calls, for the step that reads the results (see :func:`_memoised_dependencies`).

One ``validate()`` of a suite spends most of its fixed cost, for a small frame, building the
metric graph rather than computing metrics (measured on the birth suite, 58 expectations, a 20-row
frame: 0.29 s per call, of which ~45 % is the two functions below). Both are pure functions of
objects that do not change during the call, and GX calls them over and over:

* ``Expectation.configuration`` — a property that rebuilds an ``ExpectationConfiguration`` from
  the pydantic model (``self.dict()``) on *every* access; graph building accesses it ~80 times per
  expectation (``_get_domain_kwargs``, ``_get_success_kwargs``, ``get_metric_kwargs`` …).
  GX creates the expectation objects it validates inside the call (``to_domain_obj()`` on a deep
  copy of each configuration) and only reads the property's result, so while a memo is active the
  first result per *instance* is returned again. The memo holds the instance itself, so an id is
  never reused by another object while the memo lives.
* ``IDDict.to_id`` — the md5 of the JSON of a metric's kwargs, computed for every
  ``MetricConfiguration`` (two per metric, ~3,700 per call). The memo is keyed by the IDDict's
  class and an exact structural key of its content, and only for content made of ``str``, ``int``,
  ``float``, ``bool``, ``None`` and nested ``dict``/``list``/``tuple`` of them (anything else — a
  numpy value, a date — is passed through to GX uncached).

The memos exist only inside :func:`graph_memos` (the runner holds its validation lock around it),
only for the thread that entered it, and are dropped when it exits; outside it, and in any other
thread meanwhile, both functions behave exactly as GX ships them.
``tests/expectations/test_gx_shims.py`` checks that findings and summaries are identical with and
without them on every dataset's fuzz frame. If a GX upgrade renames either function, the shim
does nothing (validation gets slower, not wrong).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

_config_memo: dict[int, tuple[Any, Any]] | None = None
_id_memo: dict[tuple[type, Any], Any] | None = None
_domain_memo: dict[Any, Any] | None = None
#: Configuration objects already keyed in this call: id -> (object, shallow state, expectation).
_domain_seen: dict[int, tuple[Any, Any, Any]] = {}
#: Which GX functions are running in the validating thread (see :func:`_marking`):
#: ``get_metric_kwargs``, the only caller whose expectation object is read and dropped (see
#: :func:`_memoised_domain_obj`), and ``Expectation.metrics_validate``, the result step whose
#: metric lists are kept (see :func:`_memoised_dependencies`).
_running = {"get_metric_kwargs": False, "metrics_validate": False}
#: The thread validating; GX used by another thread meanwhile (Data Docs, a suite build) runs as
#: shipped.
_owner: int | None = None
_installed = False
_PLAIN = (str, int, float, bool, type(None))
#: Expectation-level metric graphs by suite content (see :func:`_cached_subgraphs`), oldest first.
_graph_cache: dict[Any, tuple[Any, list[Any], list[Any]]] = {}
GRAPH_CACHE_SIZE = 32
#: How often a call reused a cached graph and how often it built one (tests, profiling).
graph_cache_stats = {"hits": 0, "builds": 0}
#: Validation dependencies by expectation content (see :func:`_memoised_dependencies`).
_deps_cache: dict[Any, tuple[Any, Any]] = {}
DEPS_CACHE_SIZE = 4096
deps_cache_stats = {"hits": 0, "builds": 0}
#: Row-level map metrics answered at once (nothing failed) and handed to GX (tests, profiling).
row_level_stats = {"skipped": 0, "computed": 0}


def _content_key(value: Any) -> Any:
    """An exact, hashable key of plain JSON-like content; raises TypeError for anything else."""
    kind = type(value)
    if kind in _PLAIN:
        return (kind, value)
    if kind is dict or isinstance(value, dict):
        return (dict, tuple(sorted((str(k), _content_key(v)) for k, v in value.items())))
    if kind is list or kind is tuple:
        return (list, tuple(_content_key(v) for v in value))
    raise TypeError(kind.__name__)


def _install() -> None:
    global _installed
    if _installed:
        return
    import importlib

    from great_expectations.core.id_dict import IDDict
    from great_expectations.execution_engine import execution_engine as engine_module
    from great_expectations.execution_engine.pandas_execution_engine import PandasExecutionEngine
    from great_expectations.expectations import registry
    from great_expectations.expectations.expectation import Expectation
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
    from great_expectations.validator.validator import Validator

    prop = Expectation.__dict__.get("configuration")
    to_id = IDDict.__dict__.get("to_id")
    records = PandasExecutionEngine.__dict__.get("get_domain_records")
    if isinstance(prop, property) and prop.fget is not None:
        Expectation.configuration = property(_memoised_configuration(prop.fget))  # type: ignore[method-assign,assignment]
    if callable(to_id):
        IDDict.to_id = _memoised_to_id(to_id)  # type: ignore[method-assign]
    if callable(records):
        PandasExecutionEngine.get_domain_records = _narrow_column_records(records)  # type: ignore[method-assign]
    to_domain = ExpectationConfiguration.__dict__.get("to_domain_obj")
    metric_kwargs = getattr(registry, "get_metric_kwargs", None)
    if callable(to_domain) and callable(metric_kwargs):
        ExpectationConfiguration.to_domain_obj = _memoised_domain_obj(to_domain)  # type: ignore[method-assign,assignment]
        wrapped = _marking(metric_kwargs, "get_metric_kwargs")
        # the modules that imported the function by name (GX's own expectations)
        for name in _METRIC_KWARGS_USERS:
            try:
                module = importlib.import_module(name)
            except ImportError:
                continue
            if getattr(module, "get_metric_kwargs", None) is metric_kwargs:
                module.get_metric_kwargs = wrapped  # type: ignore[attr-defined]
    validate = Expectation.__dict__.get("metrics_validate")
    if callable(validate):
        Expectation.metrics_validate = _marking(validate, "metrics_validate")  # type: ignore[method-assign]
        for cls in _subclasses(Expectation):
            own = cls.__dict__.get("get_validation_dependencies")
            if callable(own):
                cls.get_validation_dependencies = _memoised_dependencies(own)  # type: ignore[attr-defined]
    provider = getattr(engine_module, "get_metric_provider", None)
    if callable(provider):
        engine_module.get_metric_provider = _short_circuit_provider(provider)  # type: ignore[attr-defined]
    subgraphs = Validator.__dict__.get("_generate_metric_dependency_subgraphs_for_each_expectation_configuration")
    if callable(subgraphs):
        Validator._generate_metric_dependency_subgraphs_for_each_expectation_configuration = (  # type: ignore[method-assign]
            _cached_subgraphs(subgraphs))
    _installed = True


def _suite_key(validator: Any, configurations: list[Any], catch_exceptions: bool,
               runtime_configuration: Any) -> Any:
    """What an expectation-level metric graph depends on, as an exact key (TypeError if any part
    is not plain content): the execution engine, the batch id (in every metric's domain), the
    runtime configuration, the frame's column names and types, and every configuration's content."""
    engine = validator._execution_engine
    frame = engine.batch_manager.active_batch_data.dataframe
    return (id(engine), validator.active_batch_id, catch_exceptions, _content_key(runtime_configuration),
            tuple(map(str, frame.columns)), tuple(map(str, frame.dtypes)),
            tuple(_content_key(_config_fields(c)) for c in configurations))


def _config_fields(config: Any) -> list[Any]:
    """What ``ExpectationConfiguration.to_domain_obj`` reads of a configuration."""
    return [config.type, config.id, config.kwargs, config.meta, config.notes, str(config.severity),
            config.description, config.rendered_content]


def _cached_subgraphs(original: Callable[..., Any]) -> Callable[..., Any]:
    """``Validator._generate_metric_dependency_subgraphs_for_each_expectation_configuration``,
    built once per suite content and reused by the next calls.

    It deep-copies each configuration, builds the expectation and asks it for its metrics, and
    builds each metric's dependency graph: about 30 % of a call on a 20-row birth batch (~60 ms),
    the same work every time, since the runner validates every batch of a dataset under one batch
    id. The graph names metrics by configuration and batch id, never holds data (metric values are
    kept apart, in the dictionary the resolution fills), and GX reads it without changing it; the
    lists the caller changes afterwards (the processed configurations, the results) are new per
    call. A build that reported a failure is not kept. The key is exact (:func:`_suite_key`),
    including the frame's columns and types, so a changed suite or frame layout builds anew; the
    cache holds the last :data:`GRAPH_CACHE_SIZE` suites.
    """
    def generate(self: Any, expectation_configurations: list[Any], processed_configurations: list[Any],
                 catch_exceptions: bool, runtime_configuration: Any = None) -> Any:
        def build() -> Any:
            return original(self, expectation_configurations=expectation_configurations,
                            processed_configurations=processed_configurations, catch_exceptions=catch_exceptions,
                            runtime_configuration=runtime_configuration)

        if _config_memo is None or threading.get_ident() != _owner or processed_configurations:
            return build()
        try:
            key = _suite_key(self, expectation_configurations, catch_exceptions, runtime_configuration)
        except (TypeError, AttributeError):
            return build()
        hit = _graph_cache.get(key)
        if hit is not None and hit[0] is self._execution_engine:
            _engine, graphs, processed = hit
            graph_cache_stats["hits"] += 1
            processed_configurations.extend(processed)
            return list(graphs), [], processed_configurations
        graphs, evrs, processed = build()
        graph_cache_stats["builds"] += 1
        if not evrs:
            _graph_cache.pop(key, None)
            # The graphs reference the engine they were built with anyway: the data source's, which
            # lives as long as the process and is the same object on every call (the runner's data
            # source is made once). Holding it keeps the id in the key from being reused.
            _graph_cache[key] = (self._execution_engine, list(graphs), list(processed))
            while len(_graph_cache) > GRAPH_CACHE_SIZE:
                _graph_cache.pop(next(iter(_graph_cache)))
        return graphs, evrs, processed

    generate.__doc__ = original.__doc__
    return generate


#: GX modules that call ``get_metric_kwargs`` through a name imported from the registry.
_METRIC_KWARGS_USERS = (
    "great_expectations.expectations.expectation",
    "great_expectations.expectations.core.expect_column_values_to_be_in_type_list",
    "great_expectations.expectations.core.expect_column_values_to_be_of_type",
)


def _marking(original: Callable[..., Any], flag: str) -> Callable[..., Any]:
    """``original``, flagging ``_running[flag]`` while it runs (in the validating thread only)."""
    def marked(*args: Any, **kwargs: Any) -> Any:
        if _config_memo is None or threading.get_ident() != _owner:
            return original(*args, **kwargs)
        outer, _running[flag] = _running[flag], True
        try:
            return original(*args, **kwargs)
        finally:
            _running[flag] = outer

    marked.__doc__ = original.__doc__
    return marked


def _shallow_state(config: Any) -> Any:
    """A configuration's top-level fields and kwargs (each value with its type, so 1 and True
    differ), compared with ``==`` to tell that an object seen before still holds what it held:
    the exact content key is computed once per object, not on each of its ~7 lookups."""
    fields = _config_fields(config)
    fields[2] = tuple((k, type(v), v) for k, v in config.kwargs.items())
    return tuple(fields)


def _memoised_domain_obj(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``ExpectationConfiguration.to_domain_obj``, reusing one object per configuration content
    while GX's ``get_metric_kwargs`` asks for it.

    ``get_metric_kwargs`` builds the expectation (a pydantic model, validated field by field) only
    to read its runtime kwargs, and drops it; graph building calls it ~400 times per validation of
    the birth suite, for ~60 distinct configurations. The memo is keyed by an exact structural key
    of everything ``to_domain_obj`` reads (type, id, kwargs, meta, notes, severity, description,
    rendered content), so a configuration changed in between gets a new object; content that is
    not plain JSON-like (see :func:`_content_key`) is passed through to GX uncached. The key is
    computed once per configuration object and reused while the object's fields and kwargs still
    compare equal (:func:`_shallow_state`; a value changed inside a nested list in place would not
    be seen, which GX never does). Every other caller (GX's own validation of the metrics) gets a
    new object, as shipped.
    """
    def to_domain_obj(self: Any) -> Any:
        memo = _domain_memo
        if memo is None or not _running["get_metric_kwargs"] or threading.get_ident() != _owner:
            return original(self)
        shallow = _shallow_state(self)
        seen = _domain_seen.get(id(self))
        if seen is not None and seen[0] is self and seen[1] == shallow:
            return seen[2]
        try:
            key = _content_key(_config_fields(self))
        except TypeError:
            return original(self)
        hit = memo.get(key)
        if hit is None:
            hit = memo[key] = original(self)
        _domain_seen[id(self)] = (self, shallow, hit)
        return hit

    to_domain_obj.__doc__ = original.__doc__
    return to_domain_obj


def _narrow_column_records(original: Callable[..., Any]) -> Callable[..., Any]:
    """A column domain's records as that one column (after any row condition), not the frame.

    GX's column map metrics then drop the column's NULL rows with ``df[df[col].notnull()]``: on
    the whole frame that copies every column of every non-NULL row, once per metric (~100 per
    call: 0.7 s of a 200,000-row birth chunk's 1.1 s). Narrowed, only the column is copied. The
    index is kept, so the unexpected row positions are the same; the metrics of a column domain
    read only that column (the runner asks for row positions, not for other columns' values).
    ``Series.to_frame`` makes the one-column frame several times faster than ``data[[column]]``
    (no index lookup and take: ~50 against ~270 µs on a 20-row frame, ~130 times per call).
    """
    def get_domain_records(self: Any, domain_kwargs: dict[str, Any]) -> Any:
        data = original(self, domain_kwargs)
        if _config_memo is None or threading.get_ident() != _owner:
            return data
        column = domain_kwargs.get("column")
        if column is None or column not in data.columns or not data.columns.is_unique:
            return data
        return data[column].to_frame()

    get_domain_records.__doc__ = original.__doc__
    return get_domain_records


def _subclasses(cls: type) -> list[type]:
    """``cls`` and every subclass loaded so far."""
    found, pending = [], [cls]
    while pending:
        current = pending.pop()
        if current not in found:
            found.append(current)
            pending.extend(current.__subclasses__())
    return found


def _memoised_dependencies(original: Callable[..., Any]) -> Callable[..., Any]:
    """An expectation class's ``get_validation_dependencies``, reused between calls while
    ``metrics_validate`` asks for it.

    After the metrics are resolved, GX builds every expectation anew and asks it again which
    metrics it needs, to pick its values out of the resolved ones: seven ``get_metric_kwargs``
    per expectation, the same answer as when the (cached) graph was built, about a sixth of a
    20-row birth batch's validation. The answer is a function of the expectation's class and
    configuration, the runtime configuration and the engine; it is kept under an exact key of
    those (the engine held, so its id is not reused). What GX does with it afterwards only reads
    it, except ``parse_result_format``, which fills in the same defaults each time. Only the
    outermost call is kept (a ``super()`` call inside a subclass's method runs as shipped), only for
    a class whose method is this wrapper (a subclass with its own unwrapped override runs as
    shipped), and the graph-building caller always runs as shipped.
    """
    def get_validation_dependencies(self: Any, execution_engine: Any = None, runtime_configuration: Any = None,
                                    **kwargs: Any) -> Any:
        def build() -> Any:
            return original(self, execution_engine=execution_engine, runtime_configuration=runtime_configuration,
                            **kwargs)

        if (not _running["metrics_validate"] or _config_memo is None or threading.get_ident() != _owner or kwargs
                or getattr(type(self), "get_validation_dependencies", None) is not get_validation_dependencies):
            return build()
        try:
            key = (type(self), id(execution_engine), _content_key(_config_fields(self.configuration)),
                   _content_key(runtime_configuration))
        except (TypeError, AttributeError):
            return build()
        hit = _deps_cache.get(key)
        if hit is not None and hit[0] is execution_engine:
            deps_cache_stats["hits"] += 1
            return hit[1]
        dependencies = build()
        deps_cache_stats["builds"] += 1
        _deps_cache[key] = (execution_engine, dependencies)
        while len(_deps_cache) > DEPS_CACHE_SIZE:
            _deps_cache.pop(next(iter(_deps_cache)))
        return dependencies

    get_validation_dependencies.__doc__ = original.__doc__
    return get_validation_dependencies


#: GX's pandas functions for the row-level metrics of a map expectation (``.unexpected_values``,
#: ``.unexpected_index_list``), by module: each reads the domain's records again and filters them
#: with the condition mask computed before.
_ROW_LEVEL_FUNCTIONS = {
    "great_expectations.expectations.metrics.map_metric_provider.map_condition_auxilliary_methods":
        ("_pandas_map_condition_index",),
    "great_expectations.expectations.metrics.map_metric_provider.column_map_condition_auxilliary_methods":
        ("_pandas_column_map_condition_values",),
    "great_expectations.expectations.metrics.map_metric_provider.column_pair_map_condition_auxilliary_methods":
        ("_pandas_column_pair_map_condition_values",),
    "great_expectations.expectations.metrics.map_metric_provider.multicolumn_map_condition_auxilliary_methods":
        ("_pandas_multicolumn_map_condition_values",),
}


def _row_level_functions() -> set[Any]:
    """The functions of :data:`_ROW_LEVEL_FUNCTIONS` this GX version has (none: no short circuit)."""
    import importlib

    found: set[Any] = set()
    for module_name, names in _ROW_LEVEL_FUNCTIONS.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        found.update(fn for fn in (getattr(module, name, None) for name in names) if callable(fn))
    return found


def _short_circuit_provider(original: Callable[..., Any]) -> Callable[..., Any]:
    """``get_metric_provider`` as the execution engine calls it, handing out
    :func:`_nothing_unexpected` in place of GX's row-level map metric functions."""
    row_level = _row_level_functions()
    wrapped: dict[Any, Any] = {}

    def get_metric_provider(metric_name: str, execution_engine: Any) -> Any:
        metric_class, metric_fn = original(metric_name, execution_engine)
        if metric_fn in row_level:
            hit = wrapped.get(metric_fn)
            if hit is None:
                hit = wrapped[metric_fn] = _nothing_unexpected(metric_fn)
            return metric_class, hit
        return metric_class, metric_fn

    get_metric_provider.__doc__ = original.__doc__
    return get_metric_provider


def _nothing_unexpected(original: Callable[..., Any]) -> Callable[..., Any]:
    """A row-level map metric (the failing rows' positions or values) that returns ``[]`` at once
    when the condition mask it depends on has no failing row.

    GX computes these metrics for every expectation of a ``COMPLETE`` validation, passing or not:
    each one fetches the domain's records again, drops its NULL rows, filters them with the mask
    and lists what is left, which for a passing expectation is nothing (about a third of a 20-row
    birth batch's validation, where nearly every expectation passes). The answer is the same empty
    list GX would build. Only a boolean mask without NA is trusted (NumPy ``bool``, or pandas'
    nullable ``boolean`` that string comparisons return; NA in a mask makes GX's own filter raise,
    so that case still goes to GX), and only when GX would build a plain list (no
    ``unexpected_index_column_names``, no named index on the frame). Anything else, and any call
    outside the runner's validation, runs GX's function as shipped.
    """
    import functools

    import numpy as np

    @functools.wraps(original)
    def metric_fn(*args: Any, **kwargs: Any) -> Any:
        if _config_memo is not None and threading.get_ident() == _owner:
            try:
                mask = kwargs["metrics"]["unexpected_condition"][0]
                result_format = kwargs["metric_value_kwargs"]["result_format"]
                engine = kwargs["execution_engine"]
                plain = (not result_format.get("unexpected_index_column_names")
                         and all(name is None for name in
                                 engine.batch_manager.active_batch_data.dataframe.index.names))
                bools = ((isinstance(mask.dtype, np.dtype) and mask.dtype == np.bool_)
                         or (str(mask.dtype) == "boolean" and not mask.isna().any()))
            except (KeyError, TypeError, AttributeError, IndexError):
                plain = bools = False
            if plain and bools and not mask.any():
                row_level_stats["skipped"] += 1
                return []
            row_level_stats["computed"] += 1
        return original(*args, **kwargs)

    return metric_fn


def _memoised_configuration(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def configuration(self: Any) -> Any:
        memo = _config_memo
        if memo is None or threading.get_ident() != _owner:
            return original(self)
        hit = memo.get(id(self))
        if hit is None or hit[0] is not self:
            hit = memo[id(self)] = (self, original(self))
        return hit[1]

    configuration.__doc__ = original.__doc__
    return configuration


def _memoised_to_id(original: Callable[..., Any]) -> Callable[..., Any]:
    def to_id(self: Any, id_keys: Any = None, id_ignore_keys: Any = None) -> Any:
        memo = _id_memo
        if memo is None or id_keys is not None or id_ignore_keys is not None or threading.get_ident() != _owner:
            return original(self, id_keys, id_ignore_keys)
        try:
            key = (type(self), _content_key(self))
        except TypeError:
            return original(self)
        hit = memo.get(key)
        if hit is None:
            hit = memo[key] = original(self)
        return hit

    to_id.__doc__ = original.__doc__
    return to_id


@contextlib.contextmanager
def graph_memos(enabled: bool = True) -> Iterator[None]:
    """Memoise GX's configuration and metric-id rebuilding for the duration of one validation.

    Not re-entrant across threads: the caller serialises validations (``runner._LOCK``).
    ``enabled=False`` runs GX's own code paths (used by the parity test).
    """
    global _config_memo, _id_memo, _domain_memo, _owner
    if not enabled:
        yield
        return
    _install()
    _config_memo, _id_memo, _domain_memo, _owner = {}, {}, {}, threading.get_ident()
    try:
        yield
    finally:
        _config_memo = _id_memo = _domain_memo = _owner = None
        _domain_seen.clear()
        _running.update(dict.fromkeys(_running, False))
