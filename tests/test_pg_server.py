"""The suite's own PostgreSQL launcher: a port taken between its pick and the server's listen (by
another test worker starting its server at the same moment) costs a retry, not the session."""

from __future__ import annotations

import socket

import psycopg
import pytest

from tests import pg_server


def test_a_port_taken_before_the_server_listens_is_tried_again_on_a_new_one(monkeypatch: pytest.MonkeyPatch):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    busy = taken.getsockname()[1]
    picks = iter([busy])
    real = pg_server._free_port
    monkeypatch.setattr(pg_server, "_free_port", lambda: next(picks, None) or real())
    try:
        server = pg_server.start_server()
        try:
            assert server.port != busy
            with psycopg.connect(f"host=127.0.0.1 port={server.port} user=postgres dbname=postgres") as conn:
                assert conn.execute("select 1").fetchone() == (1,)
        finally:
            server.stop()
    finally:
        taken.close()


def test_a_port_still_taken_after_the_last_attempt_is_an_error_naming_the_bind(monkeypatch: pytest.MonkeyPatch):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    monkeypatch.setattr(pg_server, "_free_port", lambda: taken.getsockname()[1])
    try:
        with pytest.raises(RuntimeError, match=r"(?i)could not bind"):
            pg_server.start_server(attempts=2)
    finally:
        taken.close()
