"""Frozen revisions of the staging store: ``0001`` shared tables and roles, then one per dataset.

A revision never changes meaning after it is committed: it holds explicit table definitions, not a
call into the contracts. Contract changes get a new revision (``python -m loaders.migrate autogenerate``).
"""
