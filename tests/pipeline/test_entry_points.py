"""Entry points fail clearly: a missing pseudonymization key names its setting, an unreachable
staging store ends the backfill with one line and exit code 2, a data root that does not exist yet
is created, and ``make run-night`` exits as the backfill does for the same outcome. The commands
run as real processes (their exit codes and output are what operators see)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from config.settings import REPO_ROOT

ONE_FACILITY = """facilities:
  - {code: "01929", name: A, province_code: "01", source_kind: file_drop, datasets: {birth_certificates: {format: xml9}}}
"""
START = dt.date(2026, 11, 21)


def _env(tmp_path: Path, **extra: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"PYTHONPATH": str(REPO_ROOT), "S06_DATA_ROOT": str(tmp_path / "data")})
    env.pop("S06_STAGING_URL", None)
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _backfill(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.backfill", *args], env=env, capture_output=True,
                          text=True, timeout=600, cwd=REPO_ROOT)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


# --------------------------------------------------------------------------- pseudonymization key


def test_a_missing_key_names_the_setting_everywhere(tmp_path, monkeypatch):
    from config.settings import load_settings
    from loaders import staging
    from pipeline.errors import BatchFailed
    from pipeline.secrets import MissingKeyError, pseudonym_key
    from pipeline.tasks import publish_curated

    monkeypatch.delenv("S06_PSEUDONYM_KEY", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_S06_PSEUDONYM_KEY", raising=False)
    monkeypatch.setenv("S06_DATA_ROOT", str(tmp_path))
    with pytest.raises(MissingKeyError, match="S06_PSEUDONYM_KEY or the Airflow connection 's06_pseudonym_key'"):
        pseudonym_key()
    # The DAG's publish task: the message reaches the operator (not "StepFailed: MissingKeyError").
    settings = load_settings()
    staging.ensure_schema(staging.make_engine(settings.staging_url), ["birth_certificates"])
    start = dt.datetime(2026, 11, 21, tzinfo=dt.timezone(dt.timedelta(hours=7)))
    with pytest.raises(BatchFailed, match="no pseudonymization key: set S06_PSEUDONYM_KEY"):
        publish_curated("birth_certificates", start, settings)
    # A key too short to be a secret is refused the same way, without quoting it.
    monkeypatch.setenv("S06_PSEUDONYM_KEY", "tiny-secret")
    with pytest.raises(MissingKeyError, match="from S06_PSEUDONYM_KEY is shorter than 16 bytes") as caught:
        pseudonym_key()
    assert "tiny-secret" not in str(caught.value)


def test_backfill_without_a_key_stops_before_any_night_with_one_line(tmp_path):
    env = _env(tmp_path, S06_PSEUDONYM_KEY=None, AIRFLOW_CONN_S06_PSEUDONYM_KEY=None)
    line = _one_line_error(_backfill(env, "--dataset", "birth_certificates", "--from", "2026-11-21", "--to", "2026-11-21"))
    assert "S06_PSEUDONYM_KEY" in line and "s06_pseudonym_key" in line
    assert not (tmp_path / "data" / "staging.db").exists(), "nothing ran"


# --------------------------------------------------------------------------- staging store


@pytest.mark.parametrize("url", [
    pytest.param("postgresql+psycopg://pipeline:s3cret-pw@127.0.0.1:{port}/scheme06", id="postgresql-refused"),
    pytest.param("sqlite:////nonexistent-s06-folder/deeper/staging.db", id="sqlite-unopenable"),
])
def test_an_unreachable_staging_store_ends_the_backfill_with_one_line_and_exit_2(tmp_path, url):
    url = url.format(port=_closed_port())
    proc = _backfill(_env(tmp_path, S06_STAGING_URL=url), "--from", "2026-11-21", "--to", "2026-11-22")
    line = _one_line_error(proc)
    assert "is unreachable" in line and "S06_STAGING_URL" in line
    assert "s3cret-pw" not in proc.stderr + proc.stdout
    assert proc.stdout == ""


def test_the_store_going_away_during_the_run_is_exit_2_not_a_traceback(tmp_path, monkeypatch):
    """Preflight passed, then the store stops answering: the same one line, exit 2."""
    from cli import backfill

    monkeypatch.setenv("S06_DATA_ROOT", str(tmp_path))
    (tmp_path / "facilities.yaml").write_text(ONE_FACILITY, encoding="utf-8")
    monkeypatch.setenv("S06_FACILITIES_FILE", str(tmp_path / "facilities.yaml"))
    monkeypatch.setattr(backfill, "preflight", lambda settings: None)
    monkeypatch.setenv("S06_STAGING_URL", f"postgresql+psycopg://pipeline@127.0.0.1:{_closed_port()}/gone")
    code, lines = backfill.run(["birth_certificates"], START, START)
    assert code == 2 and len(lines) == 1 and "is unreachable (OperationalError)" in lines[0]


# --------------------------------------------------------------------------- data root


def test_a_data_root_that_does_not_exist_yet_is_created(tmp_path):
    root = tmp_path / "not" / "there" / "yet"
    (tmp_path / "facilities.yaml").write_text(ONE_FACILITY, encoding="utf-8")
    env = _env(tmp_path, S06_DATA_ROOT=str(root), S06_FACILITIES_FILE=str(tmp_path / "facilities.yaml"))
    proc = _backfill(env, "--dataset", "birth_certificates", "--from", "2026-11-21", "--to", "2026-11-21")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert (root / "staging.db").is_file()
    assert "birth_certificates 2026-11-21" in proc.stdout


# --------------------------------------------------------------------------- make run-night == backfill


def _start_make_run_night(tmp_path: Path, dataset: str, night: str, root: Path) -> subprocess.Popen[str]:
    """``make run-night`` in the background, its own process group, output to files (read by
    :func:`_finish`): nothing reads it while it runs."""
    with (tmp_path / f"make-{night}.out").open("w") as out, (tmp_path / f"make-{night}.err").open("w") as err:
        return subprocess.Popen(["make", "-s", "run-night", f"DATASET={dataset}", f"DATE={night}"],
                                env=_env(tmp_path, S06_DATA_ROOT=str(root)), stdout=out, stderr=err, text=True,
                                cwd=REPO_ROOT, start_new_session=True)


def _finish(proc: subprocess.Popen[str], tmp_path: Path, night: str) -> subprocess.CompletedProcess[str]:
    try:
        proc.wait(timeout=900)
    finally:
        if proc.poll() is None:  # timed out, or the test failed meanwhile: stop make and its commands
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode,
                                       (tmp_path / f"make-{night}.out").read_text(encoding="utf-8"),
                                       (tmp_path / f"make-{night}.err").read_text(encoding="utf-8"))


@pytest.mark.integration
def test_run_night_exits_as_the_backfill_does_for_the_same_outcome(tmp_path):
    """The same sample night, run by the backfill and by ``make run-night`` (``cli.demo
    --strict``: the DAG with dag.test()), each on its own copy of the data, for a night that needs
    attention (a held batch) and a clean one. The command run by make exits with the backfill's
    code; GNU make turns any failing recipe into its own status 2 and names the command's code
    ("Error 1"), so make is non-zero exactly when the backfill is.

    The two ``make run-night`` run one after the other (both use Airflow's metadata DB); the
    backfills, which share nothing with them (own data root, own sample facility systems), run
    while the first one does."""
    from config.registry import load_registry
    from config.settings import load_settings
    from sample_data.generator import generate
    from sample_data.sources import sample_sources

    source = tmp_path / "generated"
    generate(source, START, 3, per_night=8)
    cases = [("birth_certificates", "2026-11-23", 1),  # a facility's CSV drifted: its batch is held
             ("birth_certificates", "2026-11-21", 0)]  # every facility loaded
    # The registry both commands read (S06_FACILITIES_FILE: the sample one), so that the sample
    # systems serve every REST/SQL facility of it (the SQL facility 22015 sends births).
    registry = load_registry(load_settings().facilities_file)
    roots = {}
    for _dataset, night, _expected in cases:
        for who in ("backfill", "make"):
            roots[(who, night)] = tmp_path / f"{who}-{night}"
            shutil.copytree(source, roots[(who, night)])
    by_backfill, by_make = {}, {}
    first_dataset, first_night, _ = cases[0]
    first = _start_make_run_night(tmp_path, first_dataset, first_night, roots[("make", first_night)])
    try:
        for dataset, night, _expected in cases:
            env = _env(tmp_path, S06_DATA_ROOT=str(roots[("backfill", night)]))
            with sample_sources(roots[("backfill", night)], registry):
                env.update({k: v for k, v in os.environ.items() if k.startswith("AIRFLOW_CONN_")})
                by_backfill[night] = _backfill(env, "--dataset", dataset, "--from", night, "--to", night)
    finally:
        by_make[first_night] = _finish(first, tmp_path, first_night)
    for dataset, night, _expected in cases[1:]:
        by_make[night] = _finish(_start_make_run_night(tmp_path, dataset, night, roots[("make", night)]),
                                 tmp_path, night)
    for dataset, night, expected in cases:
        backfill, make = by_backfill[night], by_make[night]
        assert backfill.returncode == expected, (night, backfill.stdout[-3000:], backfill.stderr[-3000:])
        assert (make.returncode != 0) == (expected != 0), (night, make.stdout[-3000:], make.stderr[-3000:])
        if expected:
            assert f"run-night] Error {expected}" in make.stderr  # the command's own exit code
            for proc in (backfill, make):
                assert f"needs attention: {dataset} {night}: 2 facility batch(es) need attention" in proc.stdout
