"""``ops.trigger.wait`` and ``ops.service.Api.get`` against a real HTTP server on loopback that
answers like Airflow's API, except when it is too busy: a poll that times out or gets a 5xx is
asked again, a 4xx is raised."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from ops.service import Api
from ops.trigger import wait

RUN = ("birth_certificates", "night_2026-11-21__manual__x")


def _one_try(base: str) -> Api:
    """A client whose ``get`` asks once, so that ``wait``'s own asking again is what is tested."""
    return Api(base, "u", "p", timeout=0.3, get_attempts=1)


class _Script:
    """What the server answers to the n-th poll of the run: ("slow" | "500" | "404" | state)."""

    def __init__(self, answers: list[str]) -> None:
        self.answers, self.polls = answers, 0


@pytest.fixture
def api_server() -> Iterator[tuple[str, _Script]]:
    script = _Script([])

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args) -> None:
            pass

        def _send(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # /auth/token
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self._send(201, {"access_token": "t"})

        def do_GET(self) -> None:
            answer = script.answers[min(script.polls, len(script.answers) - 1)]
            script.polls += 1
            if answer == "slow":
                time.sleep(1.0)  # longer than the client's timeout
                answer = "running"
            if answer.isdigit():
                self._send(int(answer), {"detail": "x"})
            else:
                self._send(200, {"state": answer})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", script
    finally:
        server.shutdown()
        server.server_close()


def test_a_poll_that_times_out_or_gets_a_5xx_is_asked_again(api_server):
    base, script = api_server
    script.answers = ["queued", "slow", "503", "running", "success"]
    states = wait(_one_try(base), [RUN], timeout=30, interval=0.05)
    assert states == {RUN: "success"}
    assert script.polls == 5


def test_a_run_never_seen_by_the_deadline_raises_the_last_error(api_server):
    base, script = api_server
    script.answers = ["500"]
    with pytest.raises(requests.HTTPError):
        wait(_one_try(base), [RUN], timeout=0.3, interval=0.05)
    assert script.polls >= 2  # it did ask again before giving up


def test_the_deadline_returns_the_last_state_seen_when_later_polls_failed(api_server):
    base, script = api_server
    script.answers = ["running", "500"]
    assert wait(_one_try(base), [RUN], timeout=0.3, interval=0.05) == {RUN: "running"}


def test_an_unknown_run_is_raised_at_once(api_server):
    base, script = api_server
    script.answers = ["404"]
    with pytest.raises(requests.HTTPError):
        wait(_one_try(base), [RUN], timeout=30, interval=0.05)
    assert script.polls == 1


def test_api_get_asks_again_after_a_timeout_or_a_5xx_and_raises_after_its_attempts(api_server):
    base, script = api_server
    api = Api(base, "u", "p", timeout=0.3)
    script.answers = ["slow", "502", "running"]
    assert api.get("/api/v2/dags/x/dagRuns/y") == {"state": "running"}
    assert script.polls == 3
    script.answers, script.polls = ["500"], 0
    with pytest.raises(requests.HTTPError):
        Api(base, "u", "p", timeout=0.3, get_attempts=2).get("/api/v2/dags/x/dagRuns/y")
    assert script.polls == 2


def test_api_get_raises_a_4xx_at_once(api_server):
    base, script = api_server
    script.answers = ["404", "running"]
    with pytest.raises(requests.HTTPError):
        Api(base, "u", "p", timeout=0.3).get("/api/v2/dags/x/dagRuns/y")
    assert script.polls == 1
