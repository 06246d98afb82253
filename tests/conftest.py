"""Session set-up shared by the whole suite.

* Every test session gets its own data root and Airflow home under a temp folder, so tests never
  touch ``.work/`` of the demo nor the user's home.
* A real PostgreSQL 15 server is started on first use (``pg_server`` fixture) and stopped at the end.
* The dev-only pseudonymization key is loaded the same way local runs load it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.pg_server import PgServer, start_server  # noqa: E402

_SESSION_ROOT = Path(os.environ.get("S06_TEST_ROOT", "")) if os.environ.get("S06_TEST_ROOT") else None


def pytest_configure(config: pytest.Config) -> None:
    import tempfile

    root = _SESSION_ROOT or Path(tempfile.mkdtemp(prefix="s06-tests-"))
    os.environ.setdefault("S06_DATA_ROOT", str(root / "data"))
    os.environ["S06_DATA_ROOT"] = str(root / "data")
    os.environ.pop("S06_STAGING_URL", None)
    # The tests run against the sample facility systems (config/facilities.yaml is production's).
    os.environ.setdefault("S06_FACILITIES_FILE", str(REPO / "sample_data" / "facilities.yaml"))
    os.environ.setdefault("AIRFLOW_HOME", str(root / "airflow"))
    if os.environ.get("PYTEST_XDIST_WORKER"):
        _own_airflow_db(root / "airflow")
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "dags"))
    key = json.loads((REPO / "config" / "dev_connections" / "s06_pseudonym_key.json").read_text())
    os.environ.setdefault("AIRFLOW_CONN_S06_PSEUDONYM_KEY", json.dumps(key))
    config.addinivalue_line("markers", "integration: runs whole DAGs or real servers (slower)")


def _own_airflow_db(home: Path) -> None:
    """Give this xdist worker an Airflow metadata DB of its own.

    ``make test`` migrates one SQLite metadata DB (``.work/airflow``) and exports its URL; two
    workers writing ``dag.test()`` runs into one SQLite file would wait on each other's locks and
    collide on run ids. Each worker gets a copy of the migrated file instead (a copy, because
    migrating takes longer than the copy), or an empty home that the tests migrate on first use,
    as a bare ``pytest`` run does. A metadata DB that is not SQLite (a server) is left alone.
    """
    import shutil

    url = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    if url and not url.startswith("sqlite:"):
        return
    home.mkdir(parents=True, exist_ok=True)
    source = Path(url.removeprefix("sqlite:///")) if url else Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"
    if source.is_file():
        shutil.copyfile(source, home / "airflow.db")
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home / 'airflow.db'}"


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``make test`` runs two workers with ``--dist loadfile``: each test module stays on one worker,
    so its module-scoped fixtures (servers, generated samples) are set up once. This keeps the
    whole end-to-end package on one worker too: its package-scoped fixture runs every DAG over the
    sample nights (about a minute), which a second worker would otherwise run again.

    (xdist's ``loadgroup`` would say this with marks, but it renames node ids through an attribute
    that pytest 9 no longer reads, so its groups are silently ignored.)
    """
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class ByModuleAndE2ePackage(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = super()._split_scope(nodeid)
            return "tests/e2e" if module.startswith("tests/e2e/") else module

    return ByModuleAndE2ePackage(config, log)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A real PostgreSQL 15 server for the session."""
    server = start_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_server():
    """A real S3-compatible server (moto's server mode) on 127.0.0.1 for the session."""
    from tests.s3_server import start_server as start_s3

    server = start_s3()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_server, monkeypatch: pytest.MonkeyPatch):
    """The standard AWS variables pointing at the loopback server, and a fresh bucket per test."""
    import uuid

    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("S06_STORAGE_OPTIONS", raising=False)
    bucket = f"s06-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture
def pg_url(pg_server: PgServer, request: pytest.FixtureRequest) -> str:
    """A fresh, empty database on the session server (one per test)."""
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    return pg_server.create_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def staging_engine(request: pytest.FixtureRequest, tmp_path: Path):
    """An empty staging store with the birth tables, once on SQLite and once on PostgreSQL."""
    from loaders import staging

    url = f"sqlite:///{tmp_path / 'staging.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = staging.make_engine(url)
    staging.ensure_schema(engine, ["birth_certificates"])
    yield engine
    engine.dispose()
