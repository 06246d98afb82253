"""Run an Airflow command after importing the pipeline's heavy modules once (``S06_PRELOAD``).

On Linux, Airflow 3 task processes are ``os.fork()``-ed by the worker's supervisor
(``airflow.sdk.execution_time.supervisor.WatchedSubprocess.start``); LocalExecutor workers are
themselves forked by the scheduler when the executor starts, and Celery's prefork pool forks its
children from the worker's main process. Modules imported before those forks are inherited, so each
mapped task no longer pays for importing pyarrow, pandas, Great Expectations and the batch runner.

    python -m ops.preload scheduler --skip-serve-logs
    python -m ops.preload celery worker --concurrency 2

``S06_PRELOAD=0`` turns the imports off (same command line), for measurements.
"""

from __future__ import annotations

import importlib
import os
import sys
import time

#: Imported once in the parent process (order: cheapest dependencies first).
#: ``pipeline.shard`` is what a shard task runs (``pipeline.tasks`` imports it only when called): it
#: brings the readers, the stages, the lookups, and pyarrow's dataset and Acero modules (group-by),
#: about 0.35 s that a forked task otherwise paid inside its own run.
PRELOAD_MODULES = ("pyarrow", "pyarrow.compute", "pyarrow.parquet", "pyarrow.dataset", "pyarrow.acero",
                   "pyarrow.pandas_compat", "pyarrow.ipc", "pgpq", "pandas", "expectations", "great_expectations",
                   "sqlalchemy", "pipeline.batch", "pipeline.tasks", "pipeline.shard", "expectations.runner")


def preload() -> float:
    """Import :data:`PRELOAD_MODULES`; returns the seconds it took (0 when disabled)."""
    if os.environ.get("S06_PRELOAD", "1") in ("0", "false", "no"):
        return 0.0
    from pipeline.logs import quiet_third_party

    start = time.perf_counter()
    quiet_third_party()
    for name in PRELOAD_MODULES:
        try:
            importlib.import_module(name)
        except ImportError as exc:  # a missing optional module must not stop the scheduler
            print(f"preload: {name} not imported ({type(exc).__name__})", file=sys.stderr)
    _dataset_hooks()
    return time.perf_counter() - start


def _dataset_hooks() -> None:
    """Import every dataset's transform hook (and the reference tables it reads at import), build
    every dataset's staging table definitions (about 0.1 s per process otherwise, paid by the first
    load of each forked task) and the post-reform commune table (0.3 s, paid by the first chunk)."""
    try:
        from config.contracts import available_datasets
        from loaders.schema import dataset_tables
        from pipeline.datasets import hooks_for
        from transforms.admin_units import warm_up

        for dataset in available_datasets():
            hooks_for(dataset)
            dataset_tables(dataset)
        warm_up()
    except Exception as exc:  # a broken contract is the task's error to report, not the scheduler's
        print(f"preload: dataset hooks not imported ({type(exc).__name__})", file=sys.stderr)


def main() -> None:
    took = preload()
    if took:
        print(f"preload: pipeline modules imported in {took:.1f} s (inherited by forked task processes)",
              file=sys.stderr, flush=True)
    from airflow.__main__ import main as airflow_main

    sys.argv = ["airflow", *sys.argv[1:]]
    airflow_main()


if __name__ == "__main__":
    main()
