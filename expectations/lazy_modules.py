"""Defer the heavy libraries Great Expectations imports but the pipeline's suites never call.

``import great_expectations`` imports every core expectation module. One of them
(``expect_column_kl_divergence_to_be_less_than``) imports ``scipy.stats`` and ``altair`` at module
level: together about 0.8 of the 2.5 s GX takes to import here, paid by every cold task process
(a KubernetesExecutor pod, an ``airflow tasks test``, a CLI backfill). The pipeline's suites use no
distributional expectation, so neither library is ever called.

:func:`defer` installs a meta-path finder that gives those modules a
:class:`importlib.util.LazyLoader`: ``import scipy.stats`` returns a module object at once and
runs the module's code on the first attribute access. Nothing changes for code that does use them
(a suite with a KL-divergence expectation, a chart in Data Docs): it pays the import on first use,
where it would have paid it at start. ``S06_LAZY_IMPORTS=0`` turns it off.

Installed by importing the :mod:`expectations` package, so every path into GX through the
pipeline's code has it; a module already imported is left as it is.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import threading
from collections.abc import Sequence
from types import ModuleType

#: Modules loaded on first use instead of at import.
DEFERRED = frozenset({"scipy.stats", "altair"})

_LOCK = threading.Lock()


class _DeferredFinder(importlib.abc.MetaPathFinder):
    """Finds :data:`DEFERRED` modules through the other finders and wraps their loader."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in DEFERRED:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                # LazyLoader needs a loader that executes an existing module (source, extension
                # packages); anything else is loaded as usual.
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = importlib.util.LazyLoader(spec.loader)
                return spec
        return None


def defer() -> bool:
    """Install the finder once per process; returns whether it is installed."""
    if os.environ.get("S06_LAZY_IMPORTS", "1").lower() in ("0", "off", "false", "no"):
        return False
    with _LOCK:
        if not any(isinstance(f, _DeferredFinder) for f in sys.meta_path):
            sys.meta_path.insert(0, _DeferredFinder())
    return True
