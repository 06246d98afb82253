"""Batch orchestration shared by every dataset DAG: one function per DAG task.

``dags/`` only wires these together; everything here is plain Python callable from tests, the
benchmark and the command line without Airflow.
"""
