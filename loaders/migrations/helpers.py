"""Small, frozen building blocks the revisions share: database roles and privileges.

Revisions import this module, so its functions must keep their meaning forever: fix a bug by adding
a new function and using it from a new revision, never by changing what an old revision runs.

Roles (PostgreSQL only; everything here is a no-op on SQLite, which has no roles):

* :data:`WRITER_ROLE` ``s06_pipeline_writer`` — the pipeline's loaders: SELECT, INSERT, UPDATE and
  DELETE on every staging table, SELECT on the ``_history`` views, USAGE and SELECT on the
  sequences. No DDL: migrations run as the owner of the schema.
* :data:`READER_ROLE` ``s06_population_reader`` — the national population database: SELECT on each
  dataset's current table and ``_history`` view, on ``change_feed`` and on ``batch_ledger`` (batch
  status and counts, no personal data, so a reader can reconcile); SELECT and INSERT on
  ``acknowledgements``; SELECT, INSERT and UPDATE on ``feed_cursors``. Nothing on ``quarantine``,
  ``dq_warnings``, ``ingested_files`` or the ``_versions`` tables (earlier versions are read through
  the ``_history`` view).

Revision ``0011`` narrows both (see ``docs/staging_contract.md``): the writer loses UPDATE and DELETE
on ``change_feed`` and every write on ``acknowledgements`` and ``feed_cursors``, and gains the
``pipeline_locks`` table; readers write only their own acknowledgements and cursor (row-level
security keyed on ``current_user``: one login per consumer).

Both are ``NOLOGIN`` group roles, created if absent (creating them needs ``CREATEROLE``; a DBA may
create them beforehand instead). Grant them to real login users
(``GRANT s06_population_reader TO population_db_app``). The names are fixed: renaming them takes a
new revision (``ALTER ROLE ... RENAME TO``), not an edit here. Both roles may read
``alembic_version``, so a process running as either role can check that the store is current.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import context, op

#: The pipeline's loaders (group role, NOLOGIN).
WRITER_ROLE = "s06_pipeline_writer"
#: The population database's reader (group role, NOLOGIN).
READER_ROLE = "s06_population_reader"
ROLES = (WRITER_ROLE, READER_ROLE)

#: ``Config.attributes`` key set by :mod:`loaders.migrate` while it adopts a store created before
#: migrations existed: revisions then create nothing (the objects exist) and only grant.
ADOPT_ATTRIBUTE = "s06_adopt_existing"


def adopting() -> bool:
    """True while an existing pre-migration store is adopted (create nothing, grant only)."""
    return bool(context.config.attributes.get(ADOPT_ATTRIBUTE))


def on_postgresql() -> bool:
    """True when migrating a PostgreSQL database (online or ``--sql``)."""
    return bool(op.get_context().dialect.name == "postgresql")


def _quoted(names: Sequence[str]) -> str:
    return ", ".join('"' + n.replace('"', '""') + '"' for n in names)


def create_roles() -> None:
    """Create the NOLOGIN group roles if absent (tolerates a concurrent creator)."""
    if not on_postgresql():
        return
    for role in ROLES:
        op.execute(
            "DO $$ BEGIN\n"
            f"  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{role}') THEN\n"
            f'    CREATE ROLE "{role}" NOLOGIN;\n'
            "  END IF;\n"
            "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;\n"
            "END $$"
        )


def drop_roles() -> None:
    """Drop the group roles unless they still hold privileges elsewhere (other databases).

    Privileges in this database must be gone already (tables dropped, schema and version table
    revoked). A role that is still used elsewhere, or that this user may not drop, is kept.
    """
    if not on_postgresql():
        return
    for role in ROLES:
        op.execute(
            "DO $$ BEGIN\n"
            f'  DROP ROLE IF EXISTS "{role}";\n'
            "EXCEPTION WHEN dependent_objects_still_exist OR insufficient_privilege THEN\n"
            f"  RAISE NOTICE 'role {role} kept: it is still used elsewhere or may not be dropped here';\n"
            "END $$"
        )


def grant(privileges: str, tables: Sequence[str], role: str) -> None:
    """``GRANT <privileges> ON TABLE <tables> TO <role>`` (tables and views)."""
    if on_postgresql():
        op.execute(f'GRANT {privileges} ON TABLE {_quoted(tables)} TO "{role}"')


def grant_sequences(privileges: str, sequences: Sequence[str], role: str) -> None:
    """``GRANT <privileges> ON SEQUENCE <sequences> TO <role>``."""
    if on_postgresql():
        op.execute(f'GRANT {privileges} ON SEQUENCE {_quoted(sequences)} TO "{role}"')


def grant_schema_usage(role: str) -> None:
    """USAGE on the schema the store lives in (``current_schema()``), whatever it is called."""
    if on_postgresql():
        op.execute(
            "DO $$ BEGIN\n"
            f"  EXECUTE 'GRANT USAGE ON SCHEMA ' || quote_ident(current_schema()) || ' TO {role}';\n"
            "END $$"
        )


def revoke_schema_usage(role: str) -> None:
    """Undo :func:`grant_schema_usage` (if the role still exists)."""
    if on_postgresql():
        op.execute(
            "DO $$ BEGIN\n"
            f"  IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{role}') THEN\n"
            f"    EXECUTE 'REVOKE ALL ON SCHEMA ' || quote_ident(current_schema()) || ' FROM {role}';\n"
            "  END IF;\n"
            "END $$"
        )


def grant_version_table(role: str) -> None:
    """SELECT on Alembic's version table, so the role can check the store is at head."""
    if on_postgresql():
        op.execute(f'GRANT SELECT ON TABLE "{op.get_context().version_table}" TO "{role}"')


def revoke_version_table(role: str) -> None:
    """Undo :func:`grant_version_table` (if the role still exists)."""
    if on_postgresql():
        table = op.get_context().version_table
        op.execute(
            "DO $$ BEGIN\n"
            f"  IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{role}') THEN\n"
            f'    REVOKE ALL ON TABLE "{table}" FROM "{role}";\n'
            "  END IF;\n"
            "END $$"
        )
