"""A throwaway PostgreSQL 15 server for the test suite (real server, no mocks).

Started once per test session on a free loopback port with its data in a temporary folder, and
stopped at the end. PostgreSQL refuses to run as root, so as root the server runs as the
``postgres`` system user (``runuser``); as any other user it runs as that user.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PG_BIN_CANDIDATES = [os.environ.get("S06_PG_BIN", ""), "/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin"]


def pg_bin() -> Path | None:
    """Folder with initdb/pg_ctl, or None when PostgreSQL server binaries are absent."""
    for cand in PG_BIN_CANDIDATES:
        if cand and (Path(cand) / "pg_ctl").exists():
            return Path(cand)
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    """A running server; ``url(db)`` gives a SQLAlchemy URL (psycopg 3 driver)."""

    root: Path
    port: int
    bin: Path
    as_postgres: bool

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        data = self.root / "data"
        self._run(str(self.bin / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync")  # a throwaway data folder: no need to flush it to disk
        opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=50")
        self._run(str(self.bin / "pg_ctl"), "-D", str(data), "-w", "-t", "60", "-l", str(self.root / "server.log"),
                  "-o", opts, "start")

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            c.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def start_server(attempts: int = 3) -> PgServer:
    """Start a server; raises RuntimeError with the server log on failure.

    A free port is picked by binding port 0 and closing it, so another process (a second test
    worker starting its own server) can take it before the server listens; the start is then
    tried again on a new port.
    """
    binary = pg_bin()
    if binary is None:
        raise RuntimeError("PostgreSQL server binaries not found (set S06_PG_BIN)")
    as_postgres = os.geteuid() == 0
    for attempt in range(1, attempts + 1):
        root = Path(tempfile.mkdtemp(prefix="s06-pg-"))
        if as_postgres:
            shutil.chown(root, "postgres", "postgres")
            os.chmod(root, 0o700)
        server = PgServer(root=root, port=_free_port(), bin=binary, as_postgres=as_postgres)
        try:
            server.start()
        except subprocess.CalledProcessError as exc:
            log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
            shutil.rmtree(root, ignore_errors=True)
            if attempt < attempts and "could not bind" in log.lower() + str(exc.stderr).lower():
                continue
            raise RuntimeError(f"PostgreSQL failed to start: {exc.stderr}\n{log}") from None
        break
    for _ in range(50):
        try:
            socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    return server
