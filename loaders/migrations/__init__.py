"""Alembic environment of the staging store (``env.py``, ``script.py.mako``, ``versions/``).

Use it through :mod:`loaders.migrate` (Python API and ``python -m loaders.migrate``), which adds
the migration lock and the adoption of stores created before migrations existed.
"""
