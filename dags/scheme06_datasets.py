"""Scheme 06 nightly airflow DAGs, one per dataset contract in ``config/datasets/``.

This file only wires: :func:`pipeline.dag_factory.build_dag` builds each DAG from its contract.
Adding a dataset = a contract YAML + a GX suite + hooks, no new DAG file. Parse-time cost: reading
small YAML files; no database, network or connection look-ups.
"""

from __future__ import annotations

from pipeline.dag_factory import build_dag
from pipeline.datasets import DATASETS

for _dataset in sorted(DATASETS):
    globals()[_dataset] = build_dag(_dataset)
