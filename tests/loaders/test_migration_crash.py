"""A process killed (SIGKILL) in the middle of migrating the staging store leaves a store the
next run migrates to head, on SQLite and PostgreSQL. Found by tools/chaos.py: on SQLite each
CREATE TABLE used to commit on its own, and a kill inside revision 0001 left a store nothing could
adopt. The kills use the chaos tool's kill points (tools/chaos_child.py) on the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from config.settings import REPO_ROOT
from loaders import migrate, staging
from tests.loaders.test_staging import rec, rows


def _migrate_cli(url: str, **env: str) -> int:
    full = dict(os.environ, PYTHONPATH=str(REPO_ROOT), **env)
    return subprocess.run([sys.executable, "-m", "tools.chaos_child", "loaders.migrate", "upgrade", "--url", url],
                          env=full, capture_output=True, timeout=300, cwd=REPO_ROOT).returncode


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_a_migration_killed_anywhere_is_completed_by_the_next_run(dialect, tmp_path, request):
    def fresh(i: int) -> str:
        if dialect == "sqlite":
            return f"sqlite:///{tmp_path / f'staging-{i}.db'}"
        return request.getfixturevalue("pg_server").create_database(f"t_migration_crash_{i}")

    counts = tmp_path / "points.json"
    assert _migrate_cli(fresh(0), S06_CHAOS_COUNT=str(counts)) == 0
    total = json.loads(counts.read_text())["sql"]
    assert total > 50
    # among revision 0001's CREATE TABLEs (statements ~10-23 on SQLite), inside a dataset
    # revision, inside a batch table rebuild, late, and at the COMMIT
    points = ["sql:12", "sql:20"] + [f"sql:{int(total * f)}" for f in (0.3, 0.6, 0.95)] + ["commit:1"]
    for i, point in enumerate(points, start=1):
        url = fresh(i)
        code = _migrate_cli(url, S06_CHAOS_KILL=point)
        assert code in (-9, 137), f"{point}: not killed (exit {code})"
        engine = staging.make_engine(url)
        try:
            assert migrate.current(engine) in (None, migrate.head()), point  # all or nothing
            staging.ensure_schema(engine, ["birth_certificates"])
            assert migrate.current(engine) == migrate.head(), point
            with engine.connect() as conn:
                assert migrate.drift(conn) == [], point
            with engine.begin() as conn:
                counts_ = staging.load_rows(conn, staging_contract(), [rows(rec("A", "1", 3000))])
            assert counts_.inserted == 1
            with engine.connect() as conn:
                assert conn.execute(sa.text("SELECT count(*) FROM change_feed")).scalar() == 1
        finally:
            engine.dispose()


def staging_contract():
    from config.contracts import load_contract

    return load_contract("birth_certificates")
