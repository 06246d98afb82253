"""Run the pipeline as a real Airflow 3.3 service on this machine, on loopback only.

``make up`` = :func:`up`: generates the sample data when the drop zone is empty, then starts, each as
its own process group with a pid file under ``.work/service/pids/``:

* the sample facility systems (REST API server) for the demo's REST connections;
* a local alert sink (JSON webhook -> ``.work/service/alerts.jsonl``), the ``s06_alerts`` channel;
* Airflow's log server on 127.0.0.1 (the others run with ``--skip-serve-logs``);
* the api-server (UI + REST API) on 127.0.0.1, simple auth manager, password file under ``.work/``;
* the scheduler (LocalExecutor, through :mod:`ops.preload`), the dag-processor and the triggerer
  (it runs the deadline alerts' async callbacks);
* for ``executor="CeleryExecutor"``: N Celery workers on loopback (broker and metadata DB given).

Before the scheduler starts, the metadata DB is migrated and, idempotently, the pool
``s06_facility_sources`` (``S06_POOL_SLOTS`` slots) and the connections (sample facility systems,
``s06_airflow_api`` for the pre-flight, ``s06_alerts``) are created or updated. The DAGs are then
unpaused. ``make down`` = :func:`down`: stops exactly the processes recorded in the pid files (and
their descendants), nothing else.

    python -m ops.service up | down | status
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.contracts import available_datasets

REPO = Path(__file__).resolve().parent.parent
#: The nightly dataset DAGs (one per contract in config/datasets/).
DATASETS = tuple(available_datasets())
ADMIN_USER = "admin"
PREFLIGHT_USER = "s06_preflight"


def loopback_hostname() -> str:
    """``[core] hostname_callable`` of the service: task logs are fetched from 127.0.0.1."""
    return "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


@dataclass
class ServiceConfig:
    """Where and how the service runs. Defaults: ``make up`` (ports overridable by ``S06_*_PORT``)."""

    work: Path = field(default_factory=lambda: REPO / ".work" / "service")
    airflow_home: Path = field(default_factory=lambda: Path(os.environ.get("AIRFLOW_HOME", REPO / ".work" / "airflow")))
    data_root: Path = field(default_factory=lambda: Path(os.environ.get("S06_DATA_ROOT", REPO / ".work" / "data")))
    api_port: int = field(default_factory=lambda: _env_int("S06_API_PORT", 28080))
    log_port: int = field(default_factory=lambda: _env_int("S06_LOG_PORT", 28793))
    trigger_log_port: int = field(default_factory=lambda: _env_int("S06_TRIGGER_LOG_PORT", 28794))
    sample_api_port: int = field(default_factory=lambda: _env_int("S06_SAMPLE_API_PORT", 28086))
    sink_port: int = field(default_factory=lambda: _env_int("S06_ALERT_SINK_PORT", 28099))
    executor: str = "LocalExecutor"
    sql_alchemy_conn: str | None = None
    broker_url: str | None = None
    celery_workers: int = 2
    celery_concurrency: int = 2
    parallelism: int = field(default_factory=lambda: _env_int("S06_PARALLELISM", 4))
    preload: bool = field(default_factory=lambda: os.environ.get("S06_PRELOAD", "1") not in ("0", "false", "no"))
    unpause: bool = True
    schedule: str | None = None  # S06_NIGHTLY_SCHEDULE for the DAGs (None: the DAGs' default)
    generate_sample: bool = True
    sample_start: str = field(default_factory=lambda: os.environ.get("START", "2026-11-21"))
    sample_nights: int = field(default_factory=lambda: _env_int("NIGHTS", 3))
    skip_connections: tuple[str, ...] = ()
    create_pool: bool = True
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def pid_dir(self) -> Path:
        return self.work / "pids"

    @property
    def log_dir(self) -> Path:
        return self.work / "logs"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def passwords_file(self) -> Path:
        return self.work / "passwords.json"

    @property
    def alerts_file(self) -> Path:
        return self.work / "alerts.jsonl"

    @property
    def db_url(self) -> str:
        return self.sql_alchemy_conn or f"sqlite:///{self.airflow_home / 'airflow.db'}"


# ----------------------------------------------------------------------------- secrets and env


def _secrets(cfg: ServiceConfig) -> dict[str, str]:
    """Per-installation secrets, generated once into ``<work>/secrets.json`` (mode 0600)."""
    path = cfg.work / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    from cryptography.fernet import Fernet

    values = {"jwt_secret": secrets.token_urlsafe(32), "secret_key": secrets.token_urlsafe(32),
              "fernet_key": Fernet.generate_key().decode()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values))
    path.chmod(0o600)
    return values


def _passwords(cfg: ServiceConfig) -> dict[str, str]:
    """The simple auth manager's password file: generated passwords for the admin and the
    read-only pre-flight user (kept across restarts)."""
    path = cfg.passwords_file
    current = json.loads(path.read_text()) if path.exists() and path.read_text().strip() else {}
    changed = False
    for user in (ADMIN_USER, PREFLIGHT_USER):
        if user not in current:
            current[user] = secrets.token_urlsafe(12)
            changed = True
    if changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(current))
        path.chmod(0o600)
    return current


def service_env(cfg: ServiceConfig) -> dict[str, str]:
    """The environment every service process gets (the project's environment + Airflow settings)."""
    sec = _secrets(cfg)
    env = dict(os.environ)
    key_file = REPO / "config" / "dev_connections" / "s06_pseudonym_key.json"
    env.setdefault("AIRFLOW_CONN_S06_PSEUDONYM_KEY", key_file.read_text().strip())
    env.update({
        "PYTHONPATH": str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""),
        "AIRFLOW_HOME": str(cfg.airflow_home),
        "AIRFLOW_CONFIG": str(REPO / "airflow.cfg"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": cfg.executor,
        "AIRFLOW__CORE__PARALLELISM": str(cfg.parallelism),
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "ops.service.loopback_hostname",
        "AIRFLOW__CORE__FERNET_KEY": sec["fernet_key"],
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin,{PREFLIGHT_USER}:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(cfg.passwords_file),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{cfg.api_url}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": cfg.db_url,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(cfg.api_port),
        "AIRFLOW__API__BASE_URL": cfg.api_url,
        "AIRFLOW__API__SECRET_KEY": sec["secret_key"],
        "AIRFLOW__API_AUTH__JWT_SECRET": sec["jwt_secret"],
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(cfg.log_port),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(cfg.trigger_log_port),
        "S06_DATA_ROOT": str(cfg.data_root),
        "S06_ALERT_CONN_IDS": env.get("S06_ALERT_CONN_IDS", "s06_alerts"),
    })
    env.pop("AIRFLOW__CORE__SQL_ALCHEMY_CONN", None)
    if cfg.schedule is not None:
        env["S06_NIGHTLY_SCHEDULE"] = cfg.schedule
    if cfg.executor == "CeleryExecutor":
        if not (cfg.broker_url and cfg.sql_alchemy_conn):
            raise ValueError("the CeleryExecutor needs a broker URL and a PostgreSQL metadata DB")
        env["AIRFLOW__CELERY__BROKER_URL"] = cfg.broker_url
        backend = cfg.sql_alchemy_conn
        if "+psycopg2" not in backend:
            backend = backend.replace("+psycopg", "+psycopg2")
        env["AIRFLOW__CELERY__RESULT_BACKEND"] = "db+" + backend
        env["AIRFLOW__CELERY__WORKER_CONCURRENCY"] = str(cfg.celery_concurrency)
    env.update(cfg.extra_env)
    return env


# ----------------------------------------------------------------------------- processes


def _start(cfg: ServiceConfig, name: str, argv: list[str], env: dict[str, str]) -> int:
    import psutil

    cfg.log_dir.mkdir(parents=True, exist_ok=True)
    cfg.pid_dir.mkdir(parents=True, exist_ok=True)
    pid_file = cfg.pid_dir / f"{name}.pid"
    if pid_file.exists() and _alive(pid_file):
        raise RuntimeError(f"{name} is already running (pid file {pid_file}); run 'make down' first")
    with (cfg.log_dir / f"{name}.log").open("ab") as log:
        proc = subprocess.Popen(argv, env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    pid_file.write_text(json.dumps({"pid": proc.pid, "create_time": psutil.Process(proc.pid).create_time(),
                                    "argv": argv}))
    return proc.pid


def _record(pid_file: Path) -> dict[str, Any] | None:
    try:
        return json.loads(pid_file.read_text())
    except (OSError, ValueError):
        return None


def _alive(pid_file: Path) -> bool:
    import psutil

    rec = _record(pid_file)
    if not rec:
        return False
    try:
        return abs(psutil.Process(rec["pid"]).create_time() - rec["create_time"]) < 0.01
    except psutil.Error:
        return False


def _stop_one(pid_file: Path, timeout: float = 30.0) -> str:
    """SIGTERM the recorded process group (and descendants that left it), SIGKILL after ``timeout``."""
    import psutil

    rec = _record(pid_file)
    name = pid_file.stem
    if not rec or not _alive(pid_file):
        pid_file.unlink(missing_ok=True)
        return f"{name}: not running"
    leader = psutil.Process(rec["pid"])
    family = [leader, *leader.children(recursive=True)]
    with contextlib.suppress(ProcessLookupError):
        os.killpg(rec["pid"], signal.SIGTERM)
    for p in family[1:]:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _gone, alive = psutil.wait_procs(family, timeout=timeout)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(alive, timeout=10)
    pid_file.unlink(missing_ok=True)
    return f"{name}: stopped (pid {rec['pid']}{', killed' if alive else ''})"


def down(cfg: ServiceConfig | None = None) -> list[str]:
    """Stop what :func:`up` started (pid files under ``<work>/pids``), workers first."""
    cfg = cfg or ServiceConfig()
    if not cfg.pid_dir.exists():
        return []
    order = ["scheduler", "celery-worker", "triggerer", "dag-processor", "api-server", "log-server", "alert-sink",
             "sample-api"]
    files = sorted(cfg.pid_dir.glob("*.pid"),
                   key=lambda p: next((i for i, o in enumerate(order) if p.stem.startswith(o)), len(order)))
    return [_stop_one(f) for f in files]


def status(cfg: ServiceConfig | None = None) -> dict[str, bool]:
    cfg = cfg or ServiceConfig()
    return {f.stem: _alive(f) for f in sorted(cfg.pid_dir.glob("*.pid"))} if cfg.pid_dir.exists() else {}


# ----------------------------------------------------------------------------- REST API


class Api:
    """A small client of Airflow's REST API v2 (token from the simple auth manager)."""

    def __init__(self, base: str, user: str, password: str, timeout: float = 30.0, get_attempts: int = 3) -> None:
        self.base, self.user, self.password, self.timeout = base.rstrip("/"), user, password, timeout
        self.get_attempts = get_attempts
        self._token: str | None = None

    def token(self) -> str:
        import requests

        if self._token is None:
            resp = requests.post(f"{self.base}/auth/token", json={"username": self.user, "password": self.password},
                                 timeout=self.timeout)
            resp.raise_for_status()
            self._token = resp.json()["access_token"]
        return self._token

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        import requests

        headers = {"Authorization": f"Bearer {self.token()}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.base}{path}", headers=headers, timeout=self.timeout, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        """GET ``path`` as JSON. A GET changes nothing, so one that failed transiently
        (:func:`transient`) is asked again, ``get_attempts`` times in all, one second apart, before
        its error is raised: a busy API server on a loaded machine misses an answer now and then."""
        for attempt in range(1, self.get_attempts + 1):
            try:
                resp = self.request("GET", path, **kwargs)
                resp.raise_for_status()
                return resp.json()
            except Exception as exc:
                if attempt == self.get_attempts or not transient(exc):
                    raise
                time.sleep(1.0)
        raise AssertionError("get_attempts must be at least 1")


def transient(exc: BaseException) -> bool:
    """True for an API call's error that a later call may not meet: no connection, no answer in
    time, or a 5xx answer. A 4xx answer (unknown run, expired login, bad request) is not."""
    import requests

    if isinstance(exc, requests.HTTPError):
        return exc.response is not None and exc.response.status_code >= 500
    return isinstance(exc, (requests.ConnectionError, requests.Timeout))


def api_for(cfg: ServiceConfig) -> Api:
    return Api(cfg.api_url, ADMIN_USER, _passwords(cfg)[ADMIN_USER])


def _wait(what: str, check: Any, timeout: float, interval: float = 1.0, log: Path | None = None) -> Any:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:
            last = exc
        time.sleep(interval)
    tail = ""
    if log and log.exists():
        tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:])
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s ({type(last).__name__ if last else 'no answer'}){tail}")


# ----------------------------------------------------------------------------- set-up and start


def _run_checked(argv: list[str], env: dict[str, str], log: Path, timeout: float = 600) -> None:
    with log.open("ab") as fh:
        res = subprocess.run(argv, env=env, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout)
    if res.returncode:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"{' '.join(argv[:4])} failed ({res.returncode}):\n{tail}")


def setup_metadata(pool_slots: int, connections: dict[str, dict[str, Any]], create_pool: bool = True) -> list[str]:
    """Create or update the pool and connections in Airflow's metadata DB (idempotent).

    Runs inside the service environment (``python -m ops.service setup``)."""
    from airflow.models.connection import Connection
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    from pipeline.dag_factory import SOURCE_POOL

    done = []
    if create_pool:
        Pool.create_or_update_pool(SOURCE_POOL, slots=pool_slots, description="Scheme 06 calls into facility systems",
                                   include_deferred=False)
        done.append(f"pool {SOURCE_POOL} = {pool_slots} slots")
    with create_session() as session:
        for conn_id, spec in sorted(connections.items()):
            new = Connection.from_json(json.dumps(spec), conn_id=conn_id)
            old = session.query(Connection).filter(Connection.conn_id == conn_id).one_or_none()
            if old is None:
                session.add(new)
            else:
                for attr in ("conn_type", "host", "port", "schema", "login"):
                    setattr(old, attr, getattr(new, attr))
                old.set_password(new.password)
                old.set_extra(new.extra)
            done.append(f"connection {conn_id}")
    return done


def _connections(cfg: ServiceConfig, sink_url: str | None) -> dict[str, dict[str, Any]]:
    from config.registry import load_registry
    from config.settings import load_settings
    from sample_data.sources import connection_env

    registry = load_registry(load_settings().facilities_file)
    env = connection_env(registry, f"http://127.0.0.1:{cfg.sample_api_port}", cfg.data_root)
    conns = {name.removeprefix("AIRFLOW_CONN_").lower(): json.loads(value) for name, value in env.items()}
    conns["s06_airflow_api"] = {"conn_type": "http", "host": cfg.api_url, "login": PREFLIGHT_USER,
                                "password": _passwords(cfg)[PREFLIGHT_USER]}
    if sink_url:
        conns["s06_alerts"] = {"conn_type": "http", "host": sink_url}
    for skip in cfg.skip_connections:
        conns.pop(skip, None)
    return conns


def _sample_data(cfg: ServiceConfig, env: dict[str, str]) -> None:
    if (cfg.data_root / "drop").exists() or not cfg.generate_sample:
        return
    _run_checked([sys.executable, "-m", "sample_data.generator", "--out", str(cfg.data_root), "--start",
                  cfg.sample_start, "--nights", str(cfg.sample_nights)], env, cfg.log_dir / "setup.log")


@dataclass
class Service:
    cfg: ServiceConfig
    env: dict[str, str]
    api: Api
    password: str
    sink_url: str | None


def up(cfg: ServiceConfig | None = None, pool_slots: int | None = None, timeout: float = 240.0) -> Service:
    """Start everything (see the module doc); returns when the API answers and the DAGs are parsed."""
    from pipeline.dag_factory import pool_slots as configured_slots

    cfg = cfg or ServiceConfig()
    slots = pool_slots or configured_slots()
    for d in (cfg.work, cfg.log_dir, cfg.pid_dir, cfg.airflow_home, cfg.data_root):
        d.mkdir(parents=True, exist_ok=True)
    running = [n for n, alive in status(cfg).items() if alive]
    if running:
        raise RuntimeError(f"already running: {', '.join(running)} (make down first)")
    env = service_env(cfg)
    passwords = _passwords(cfg)
    py = sys.executable
    airflow = str(Path(py).with_name("airflow"))
    setup_log = cfg.log_dir / "setup.log"
    try:
        _sample_data(cfg, env)
        _start(cfg, "sample-api", [py, "-m", "sample_data.api_server", "--data", str(cfg.data_root), "--port",
                                   str(cfg.sample_api_port)], env)
        sink_url = f"http://127.0.0.1:{cfg.sink_port}/alerts"
        _start(cfg, "alert-sink", [py, "-m", "ops.sinks", "--port", str(cfg.sink_port), "--out",
                                   str(cfg.alerts_file)], env)
        _run_checked([airflow, "db", "migrate"], env, setup_log)
        conns = _connections(cfg, sink_url)
        # The service's own connections live in the metadata DB; an AIRFLOW_CONN_* of the same id
        # inherited from the caller's environment would shadow them (Airflow looks at the
        # environment first), so it is not passed on.
        for conn_id in conns:
            env.pop(f"AIRFLOW_CONN_{conn_id.upper()}", None)
        conn_file = cfg.work / "connections.json"
        conn_file.write_text(json.dumps(conns))
        conn_file.chmod(0o600)
        try:
            _run_checked([py, "-m", "ops.service", "setup", "--slots", str(slots), "--connections", str(conn_file)]
                         + ([] if cfg.create_pool else ["--no-pool"]), env, setup_log)
        finally:
            conn_file.unlink(missing_ok=True)
        _start(cfg, "log-server", [py, "-m", "ops.serve_logs", "--port", str(cfg.log_port)], env)
        _start(cfg, "api-server", [airflow, "api-server", "--host", "127.0.0.1", "--port", str(cfg.api_port),
                                   "--workers", "1"], env)
        _start(cfg, "dag-processor", [airflow, "dag-processor"], env)
        _start(cfg, "triggerer", [airflow, "triggerer", "--skip-serve-logs"], env)
        sched_env = dict(env, S06_PRELOAD="1" if (cfg.preload and cfg.executor == "LocalExecutor") else "0")
        _start(cfg, "scheduler", [py, "-m", "ops.preload", "scheduler", "--skip-serve-logs"], sched_env)
        if cfg.executor == "CeleryExecutor":
            worker_env = dict(env, S06_PRELOAD="1" if cfg.preload else "0")
            for i in range(1, cfg.celery_workers + 1):
                _start(cfg, f"celery-worker-{i}", [py, "-m", "ops.preload", "celery", "worker", "--skip-serve-logs",
                                                    "--concurrency", str(cfg.celery_concurrency), "--celery-hostname",
                                                    f"s06worker{i}@127.0.0.1"], worker_env)
        api = Api(cfg.api_url, ADMIN_USER, passwords[ADMIN_USER])
        _wait("the api-server", lambda: api.token(), timeout, log=cfg.log_dir / "api-server.log")

        def parsed() -> bool:
            dags = api.get("/api/v2/dags", params={"limit": 100})["dags"]
            return set(DATASETS) <= {d["dag_id"] for d in dags}

        _wait("the DAGs (dag-processor)", parsed, timeout, interval=2.0, log=cfg.log_dir / "dag-processor.log")
        if cfg.unpause:
            for ds in DATASETS:
                api.request("PATCH", f"/api/v2/dags/{ds}", json={"is_paused": False}).raise_for_status()
    except BaseException:
        down(cfg)
        raise
    return Service(cfg, env, api, passwords[ADMIN_USER], sink_url)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up", help="start the service")
    sub.add_parser("down", help="stop what 'up' started")
    sub.add_parser("status", help="which recorded processes are alive")
    s = sub.add_parser("setup", help="(internal) create the pool and connections in the metadata DB")
    s.add_argument("--slots", type=int, required=True)
    s.add_argument("--connections", type=Path, required=True)
    s.add_argument("--no-pool", action="store_true")
    args = p.parse_args(argv)
    if args.cmd == "setup":
        for line in setup_metadata(args.slots, json.loads(args.connections.read_text()), not args.no_pool):
            print(line)
        return 0
    cfg = ServiceConfig()
    if args.cmd == "down":
        for line in down(cfg) or ["nothing recorded as running"]:
            print(line)
        return 0
    if args.cmd == "status":
        for name, alive in status(cfg).items():
            print(f"{name:<16} {'running' if alive else 'not running'}")
        return 0
    service = up(cfg)
    print(f"""
Scheme 06 pipeline running on this machine (loopback only):
  Airflow UI / REST API  {cfg.api_url}     login: {ADMIN_USER} / {service.password}
                         (password file: {cfg.passwords_file})
  scheduler (LocalExecutor), dag-processor, triggerer, log server 127.0.0.1:{cfg.log_port}
  sample facility API    http://127.0.0.1:{cfg.sample_api_port}
  alerts (webhook sink)  {cfg.alerts_file}
  pool s06_facility_sources: {os.environ.get('S06_POOL_SLOTS', '8')} slots (S06_POOL_SLOTS)
  logs                   {cfg.log_dir}
Process a sample night:  .venv/bin/python -m ops.trigger --night 2026-11-21      (all four datasets)
Stop everything:         make down
""")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
