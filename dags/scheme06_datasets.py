"""Scheme 06 nightly airflow DAGs, one per dataset contract in ``config/datasets/``.

This file only wires: :func:`pipeline.dag_factory.build_dag` builds each DAG from its contract.
Adding a dataset = a contract YAML (its rules compile into the GX suite) + at most a derivation
hook, no new DAG file (see docs/adding_a_dataset.md). Parse-time cost: reading
small YAML files; no database, network or connection look-ups.
"""

from __future__ import annotations

from config.contracts import available_datasets
from pipeline.dag_factory import build_dag

for _dataset in available_datasets():
    globals()[_dataset] = build_dag(_dataset)
