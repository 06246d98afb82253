"""A sample night with the data zones on object storage (``S06_DATA_ROOT=s3://…``, a real
S3-compatible server on loopback, PostgreSQL staging) gives the same ledger, staging rows, quarantine
and curated Parquet as the same night with a local data root; re-running it changes nothing; the
remote drop keeps the drop rules, and a missing drop folder is a silent facility.

The night runs through the DAG's own task functions (``plan_shards`` → ``process_shard`` per
shard → ``publish_curated``), as ``pipeline.backfill`` does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
import yaml

from config.settings import REPO_ROOT, load_settings
from config.storage import filesystem

pytestmark = pytest.mark.integration

DATASETS = ("birth_certificates", "death_notices")
START = dt.date(2026, 11, 21)
NIGHT = dt.date(2026, 11, 23)  # held batch (format drift), truncated XML (partial), quarantined rows
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
#: Ledger columns that legitimately differ between two runs: clocks, and the input fingerprint
#: (it names where the citizen-registry snapshot was read from).
VOLATILE = {"started_at", "finished_at", "timings", "input_fingerprint"}


def _interval(night: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime(night.year, night.month, night.day, tzinfo=TZ)
    return start, start + dt.timedelta(days=1)


def run_night(settings, night: dt.date) -> dict[str, str]:
    """Every shard of each dataset, then the curated publish; returns what the shard tasks raised."""
    from pipeline.tasks import plan_shards, process_shard, publish_curated

    start, end = _interval(night)
    raised = {}
    for dataset in DATASETS:
        for shard in plan_shards(dataset, 0, settings):
            try:
                process_shard(dataset, shard, start, end, settings)
            except Exception as exc:  # held back / partial facilities fail their task, as in the DAG
                raised[f"{dataset}/{','.join(shard)}"] = type(exc).__name__
        publish_curated(dataset, start, settings)
    return raised


def tables(url: str) -> dict[str, list[dict]]:
    """The staging store's comparable content (volatile ledger columns left out), sorted."""
    from loaders import staging
    from loaders.schema import batch_ledger, change_feed, dataset_tables, ingested_files, metadata

    engine = staging.engine_for(url)
    out = {}
    with engine.connect() as conn:
        chosen = [batch_ledger, ingested_files, metadata.tables["quarantine"], metadata.tables["dq_warnings"],
                  change_feed]
        for ds in DATASETS:
            chosen += list(dataset_tables(ds))
        for t in chosen:
            cols = [c for c in t.c if c.name not in VOLATILE | {"id", "seq"}]
            rows = [dict(r._mapping) for r in conn.execute(sa.select(*cols))]
            out[t.name] = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))
    return out


def _env(monkeypatch, **values: str) -> None:
    for k, v in values.items():
        monkeypatch.setenv(k, v)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Three generated sample nights and a registry of the file-drop facilities of the two datasets."""
    from sample_data.generator import generate

    root = tmp_path_factory.mktemp("objstore-sample")
    generate(root / "local", START, 3)
    registry = yaml.safe_load((REPO_ROOT / "sample_data" / "facilities.yaml").read_text(encoding="utf-8"))
    registry["facilities"] = [f for f in registry["facilities"]
                              if f["source_kind"] == "file_drop" and set(f["datasets"]) & set(DATASETS)]
    path = root / "facilities.yaml"
    path.write_text(yaml.safe_dump(registry, allow_unicode=True), encoding="utf-8")
    return root, path


def _upload_tree(local: Path, bucket: str, prefix: str) -> None:
    fs = filesystem("s3")
    for p in sorted(local.rglob("*")):
        if p.is_file():
            fs.put_file(str(p), f"{bucket}/{prefix}/{p.relative_to(local).as_posix()}")


def _objects(bucket: str, prefix: str) -> dict[str, bytes]:
    fs = filesystem("s3")
    return {k[len(f"{bucket}/{prefix}/"):]: fs.cat_file(k) for k in fs.find(f"{bucket}/{prefix}")}


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _manifest_facts(data: bytes) -> dict:
    """A manifest without what depends on where and when the files were kept."""
    m = json.loads(data)
    for f in m.get("files", []):
        f.pop("raw_path"), f.pop("received_at")
    return m


def test_a_night_on_object_storage_equals_the_local_night(generated, s3_env, pg_server, tmp_path, monkeypatch):
    root, registry = generated
    local_root = root / "local"
    bucket = s3_env
    _env(monkeypatch, S06_FACILITIES_FILE=str(registry))
    monkeypatch.delenv("S06_DROP_ROOT", raising=False)
    monkeypatch.delenv("S06_REFERENCE_ROOT", raising=False)
    monkeypatch.delenv("S06_CITIZEN_REGISTRY", raising=False)
    monkeypatch.delenv("S06_LOCK_DIR", raising=False)

    # ---- the night with a local data root
    local_url = pg_server.create_database("t_objstore_local")
    _env(monkeypatch, S06_DATA_ROOT=str(local_root), S06_STAGING_URL=local_url)
    monkeypatch.delenv("S06_WORK_DIR", raising=False)
    local_raised = run_night(load_settings(), NIGHT)

    # ---- the same night with the zones in the bucket (drop and reference uploaded first)
    _upload_tree(local_root / "drop", bucket, "data/drop")
    _upload_tree(local_root / "reference", bucket, "data/reference")
    remote_url = pg_server.create_database("t_objstore_remote")
    work = tmp_path / "work"
    _env(monkeypatch, S06_DATA_ROOT=f"s3://{bucket}/data", S06_STAGING_URL=remote_url, S06_WORK_DIR=str(work))
    settings = load_settings()
    assert settings.remote
    remote_raised = run_night(settings, NIGHT)

    # ---- same outcome: tasks, ledger, files, findings, staging rows, change feed
    assert remote_raised == local_raised and local_raised, "the held and partial facilities fail their tasks"
    local_tables, remote_tables = tables(local_url), tables(remote_url)
    assert {r["status"] for r in local_tables["batch_ledger"]} >= {"loaded", "partial", "held"}
    for name, rows in local_tables.items():
        assert remote_tables[name] == rows, name
    assert local_tables["quarantine"] and local_tables["dq_warnings"]
    # registry-based warnings (X4/X5 family) need the snapshot: it was read from the bucket
    rules = {r["rule_id"] for r in local_tables["dq_warnings"]}
    assert rules == {r["rule_id"] for r in remote_tables["dq_warnings"]}

    # ---- curated: the same part files with the same rows, in the same hive layout
    local_curated = _files(local_root / "curated")
    remote_curated = _objects(bucket, "data/curated")
    assert sorted(remote_curated) == sorted(local_curated) and local_curated
    for rel in local_curated:
        a = pq.read_table(local_root / "curated" / rel, partitioning=None)
        b = pq.read_table(pa.BufferReader(remote_curated[rel]))
        assert a.equals(b), rel

    # ---- raw: every landed file byte for byte, and each final manifest (uploaded last)
    local_raw = _files(local_root / "raw")
    remote_raw = _objects(bucket, "data/raw")
    night_local = {k: v for k, v in local_raw.items() if f"/{NIGHT.isoformat()}/" in k}
    assert sorted(remote_raw) == sorted(night_local) and any(k.endswith("manifest.json") for k in remote_raw)
    for rel, data in night_local.items():
        if rel.endswith("manifest.json"):
            assert _manifest_facts(remote_raw[rel]) == _manifest_facts(data), rel
            for f in json.loads(remote_raw[rel])["files"]:  # the manifest names the objects
                assert f["raw_path"] == f"s3://{bucket}/data/raw/{rel.rsplit('/', 1)[0]}/{Path(f['name']).name}"
                assert hashlib.sha256(remote_raw[f["raw_path"].split("/data/raw/", 1)[1]]).hexdigest() == f["sha256"]
        else:
            assert remote_raw[rel] == data, rel

    # ---- quarantine: the held-back rows as received, same parts
    local_q = {k: v for k, v in _files(local_root / "quarantine").items() if f"/{NIGHT.isoformat()}/" in k}
    remote_q = _objects(bucket, "data/quarantine")
    assert sorted(remote_q) == sorted(local_q) and local_q
    for rel, data in local_q.items():
        assert pq.read_table(pa.BufferReader(remote_q[rel])).equals(pq.read_table(pa.BufferReader(data))), rel

    # ---- nothing left on local disk but the cached registry snapshot and GX's statistics (local, documented)
    left = {p.relative_to(work).parts[0] for p in work.rglob("*") if p.is_file()}
    assert left == {"reference-cache", "gx"}, left

    # ---- re-running the night changes nothing: staging, ledger (but its attempt count), objects
    before_objects = _objects(bucket, "data")
    again = run_night(load_settings(), NIGHT)
    assert again == remote_raised
    after = tables(remote_url)
    for name, rows in remote_tables.items():
        if name == "batch_ledger":
            strip = [{k: v for k, v in r.items() if k != "attempts"} for r in rows]
            assert [{k: v for k, v in r.items() if k != "attempts"} for r in after[name]] == strip
        else:
            assert after[name] == rows, name
    assert _objects(bucket, "data") == before_objects


def test_remote_drop_refuses_odd_objects_and_a_missing_folder_is_a_silent_facility(
        generated, s3_env, s3_server, pg_url, tmp_path, monkeypatch):
    root, registry = generated
    bucket = s3_env
    night = START  # 2026-11-21
    _upload_tree(root / "local" / "drop", bucket, "data/drop")
    _upload_tree(root / "local" / "reference", bucket, "data/reference")
    s3 = s3_server.client()
    folder = f"data/drop/01929/birth_certificates/{night.isoformat()}"
    sizes = {o["Key"]: o["Size"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=folder + "/")["Contents"]}
    limit = max(sizes.values()) + 1000
    for name, body in (("bad\rname.xml", b"<x/>"), (".hidden.xml", b"<x/>"), ("nested/inner.xml", b"<x/>"),
                       ("huge.xml", b"<" + b"x" * (limit + 10) + b"/>")):
        s3.put_object(Bucket=bucket, Key=f"{folder}/{name}", Body=body)
    # facility 92021 delivered nothing that night: no folder at all
    for key in [o["Key"] for o in s3.list_objects_v2(
            Bucket=bucket, Prefix=f"data/drop/92021/birth_certificates/{night.isoformat()}/").get("Contents", [])]:
        s3.delete_object(Bucket=bucket, Key=key)
    _env(monkeypatch, S06_FACILITIES_FILE=str(registry), S06_DATA_ROOT=f"s3://{bucket}/data", S06_STAGING_URL=pg_url,
         S06_WORK_DIR=str(tmp_path / "work"), S06_MAX_FILE_BYTES=str(limit))
    for var in ("S06_DROP_ROOT", "S06_REFERENCE_ROOT", "S06_CITIZEN_REGISTRY"):
        monkeypatch.delenv(var, raising=False)
    from pipeline.shard import run_shard

    start, end = _interval(night)
    batches = {b.spec.facility: b for b in run_shard("birth_certificates", ["01929", "92021"], start, end,
                                                     load_settings())}
    odd = batches["01929"]
    rejected = {f["file_name"].rsplit("/", 1)[-1]: f["reason"] for f in odd.files if f["status"] == "rejected"}
    assert set(rejected) == {"bad\\x0dname.xml", ".hidden.xml", "nested", "huge.xml"}
    assert "control characters" in rejected["bad\\x0dname.xml"] and "hidden" in rejected[".hidden.xml"]
    assert "sub-directory" in rejected["nested"] and "S06_MAX_FILE_BYTES" in rejected["huge.xml"]
    assert odd.ledger["status"] == "partial" and odd.ledger["files_rejected"] == 4
    assert {f["status"] for f in odd.files} == {"processed", "rejected"}
    raw = _objects(bucket, f"data/raw/birth_certificates/01929/{night.isoformat()}")
    assert "manifest.json" in raw and not any(n in raw for n in ("huge.xml", ".hidden.xml", "bad\rname.xml"))
    manifest = json.loads(raw["manifest.json"])
    assert {r["name"].rsplit("/", 1)[-1] for r in manifest["refused"]} == set(rejected)
    silent = batches["92021"]
    assert silent.ledger["status"] == "empty" and silent.ledger["files_received"] == 0 and silent.failure is None
    assert _objects(bucket, "data/raw/birth_certificates/92021") == {}
    assert _objects(bucket, "data/quarantine/birth_certificates/92021") == {}


def test_registry_snapshot_downloaded_once_and_again_when_it_changes(s3_env, tmp_path):
    from config.storage import zone
    from pipeline.lookups import registry_file, registry_stamp

    ref = zone(f"s3://{s3_env}/data/reference", scratch=tmp_path)
    assert registry_file(ref) is None and registry_stamp(ref)[1] is None
    ref.write_bytes("citizen_registry.csv", b"personal_id,sex,death_date\n001,1,\n")
    first = registry_file(ref)
    stamp = first.stat().st_mtime_ns
    assert registry_file(ref) == first and first.stat().st_mtime_ns == stamp  # cached by ETag
    assert oct(first.stat().st_mode & 0o777) == "0o600"
    ref.write_bytes("citizen_registry.csv", b"personal_id,sex,death_date\n001,1,\n002,2,\n")
    second = registry_file(ref)
    assert second != first and not first.exists() and second.read_bytes().count(b"\n") == 3
    assert registry_stamp(ref)[0] == f"s3://{s3_env}/data/reference/citizen_registry.csv"


def test_a_batch_whose_inputs_cannot_be_kept_is_not_loaded(generated, s3_env, pg_url, tmp_path, monkeypatch):
    """The raw zone's bucket refuses the upload: the batch fails (retryable) before the load, so
    staging never holds rows whose received files are not kept."""
    import sqlalchemy as sa

    from loaders import staging
    from pipeline.errors import TransportError
    from pipeline.shard import run_shard

    root, registry = generated
    _upload_tree(root / "local" / "drop", s3_env, "drop")
    _env(monkeypatch, S06_FACILITIES_FILE=str(registry), S06_DATA_ROOT="s3://s06-no-such-bucket/data",
         S06_DROP_ROOT=f"s3://{s3_env}/drop", S06_REFERENCE_ROOT=str(root / "local" / "reference"),
         S06_STAGING_URL=pg_url, S06_WORK_DIR=str(tmp_path / "work"))
    monkeypatch.delenv("S06_CITIZEN_REGISTRY", raising=False)
    start, end = _interval(START)
    (batch,) = run_shard("birth_certificates", ["01929"], start, end, load_settings())
    assert batch.failure is not None and batch.failure.kind is TransportError
    assert "object storage" in batch.failure.reason and "s06-no-such-bucket" not in batch.failure.reason
    assert batch.ledger["status"] == "failed" and batch.ledger["loaded"] == 0
    engine = staging.engine_for(pg_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM birth_certificates")).scalar() == 0
    assert not (tmp_path / "work").exists() or not any(p.is_file() and "zones" in str(p)
                                                       for p in (tmp_path / "work").rglob("*"))
