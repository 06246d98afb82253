"""The storage layer (config/storage.py) on a local folder and on a real S3-compatible server on
loopback: the same operations, the same answers; settings for a remote data root."""

import dataclasses
import json
import os
from pathlib import Path

import pytest

from config.storage import LocalZone, RemoteZone, is_remote, prepared, redact, storage_options, zone


@pytest.fixture(params=["local", "s3"])
def any_zone(request, tmp_path):
    if request.param == "local":
        return LocalZone(tmp_path / "zone")
    bucket = request.getfixturevalue("s3_env")
    return zone(f"s3://{bucket}/data/zone", scratch=tmp_path / "scratch")


def test_locations_are_told_apart():
    assert is_remote("s3://b/p") and is_remote("gs://b") and is_remote("memory://x")
    assert not is_remote("/data") and not is_remote("file:///data") and not is_remote("relative/dir")
    assert isinstance(zone("file:///tmp/x"), LocalZone) and zone("file:///tmp/x").location() == "/tmp/x"
    assert isinstance(zone("s3://b/p/"), RemoteZone) and zone("s3://b/p/").location("a/b") == "s3://b/p/a/b"


def test_credentials_never_shown():
    z = zone("s3://AKIAEXAMPLE:s3cr3t@bucket/data")
    assert "s3cr3t" not in repr(z) and "s3cr3t" not in str(z) and "AKIA" not in z.location("x")
    assert redact("s3://u:p@b/k") == "s3://b/k"


def test_storage_options_parse_and_errors_do_not_quote(monkeypatch):
    monkeypatch.setenv("S06_STORAGE_OPTIONS", json.dumps({"key": "abc", "client_kwargs": {"region_name": "x"}}))
    assert storage_options()["client_kwargs"] == {"region_name": "x"}
    monkeypatch.setenv("S06_STORAGE_OPTIONS", '{"secret": "hunter2"')
    with pytest.raises(ValueError, match="not valid JSON") as err:
        storage_options()
    assert "hunter2" not in str(err.value)
    monkeypatch.setenv("S06_STORAGE_OPTIONS", '["a"]')
    with pytest.raises(ValueError, match="JSON object"):
        storage_options()


def test_write_list_read_remove(any_zone, tmp_path):
    z = any_zone
    assert z.list("nothing/here") == [] and z.info("nothing") is None and not z.exists("a/b.txt")
    z.write_bytes("a/b.txt", b"hello")
    src = tmp_path / "src.bin"
    src.write_bytes(b"x" * 3000)
    z.put_file(src, "a/c.bin")
    z.write_bytes("a/sub/d.txt", b"d")
    entries = z.list("a")
    assert [(e.name, e.is_dir) for e in entries] == [("b.txt", False), ("c.bin", False), ("sub", True)]
    assert [e.size for e in entries if not e.is_dir] == [5, 3000]
    info = z.info("a/b.txt")
    assert info is not None and info.size == 5 and info.modified is not None and info.version
    assert z.info("a/sub") is None  # a folder is not a file
    with z.open_read("a/c.bin") as fh:
        assert fh.read() == b"x" * 3000
    # overwrite: a new version
    z.write_bytes("a/b.txt", b"hello again")
    assert z.info("a/b.txt").version != info.version
    z.remove("a/b.txt")
    z.remove("a/b.txt")  # twice: nothing there is fine
    assert not z.exists("a/b.txt") and [e.name for e in z.list("a")] == ["c.bin", "sub"]


def test_download_is_atomic_and_bounded(any_zone, tmp_path):
    z = any_zone
    z.write_bytes("f.bin", b"y" * 5000)
    dest = tmp_path / "out" / "f.bin"
    assert z.download("f.bin", dest) == 5000 and dest.read_bytes() == b"y" * 5000
    big = tmp_path / "out" / "big.bin"
    with pytest.raises(OverflowError):
        z.download("f.bin", big, max_bytes=4096)
    assert not big.exists() and sorted(p.name for p in big.parent.iterdir()) == ["f.bin"]  # no temp left
    with pytest.raises(FileNotFoundError):
        z.download("missing.bin", tmp_path / "out" / "m.bin")


def test_prepared_file_appears_whole_or_not_at_all(any_zone):
    z = any_zone
    with prepared(z, "p/part-1.parquet") as tmp:
        tmp.write_bytes(b"first")
        assert not z.exists("p/part-1.parquet")  # nothing visible before the commit
        assert [e.name for e in z.list("p") if not e.name.startswith(".")] == []

    def dies() -> None:
        with prepared(z, "p/part-1.parquet") as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("writer died")

    with pytest.raises(RuntimeError):
        dies()
    with z.open_read("p/part-1.parquet") as fh:
        assert fh.read() == b"first"  # the old object stands
    assert [e.name for e in z.list("p")] == ["part-1.parquet"]  # no temp file or object left
    if z.remote:
        assert not any(Path(z.scratch).glob(".upload-*")), "local preparation files removed"


def test_remote_zone_really_stores_objects(s3_env, s3_server, tmp_path):
    z = zone(f"s3://{s3_env}/root", scratch=tmp_path)
    z.child("x", "y").write_bytes("n.txt", b"1")
    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=s3_env)["Contents"]]
    assert keys == ["root/x/y/n.txt"]


# ---------------------------------------------------------------------------- settings


def test_settings_for_a_remote_root(monkeypatch, tmp_path):
    from config.settings import load_settings

    monkeypatch.setenv("S06_DATA_ROOT", "s3://bucket/prefix/")
    monkeypatch.delenv("S06_STAGING_URL", raising=False)
    with pytest.raises(ValueError, match="set S06_STAGING_URL"):
        load_settings()
    monkeypatch.setenv("S06_STAGING_URL", "postgresql+psycopg://u@127.0.0.1/x")
    monkeypatch.setenv("S06_WORK_DIR", str(tmp_path / "w"))
    s = load_settings()
    assert s.remote and s.data_url == "s3://bucket/prefix" and s.work_dir == tmp_path / "w"
    assert s.zone("curated").location("d/x") == "s3://bucket/prefix/curated/d/x"
    assert s.zone("raw").remote and s.zone("quarantine").scratch == tmp_path / "w"
    with pytest.raises(ValueError, match="object storage"):
        _ = s.curated_root  # no silent local fallback
    monkeypatch.setenv("S06_DROP_ROOT", str(tmp_path / "drop"))  # a drop that stays on local disk
    assert s.drop_root == tmp_path / "drop" and not s.zone("drop").remote
    monkeypatch.delenv("S06_WORK_DIR")
    assert load_settings().work_dir.name == "s06-work"


def test_settings_for_a_local_root_are_unchanged(monkeypatch, tmp_path):
    from config.settings import load_settings

    monkeypatch.setenv("S06_DATA_ROOT", str(tmp_path / "d"))
    monkeypatch.delenv("S06_STAGING_URL", raising=False)
    monkeypatch.delenv("S06_WORK_DIR", raising=False)
    monkeypatch.delenv("S06_DROP_ROOT", raising=False)
    monkeypatch.delenv("S06_REFERENCE_ROOT", raising=False)
    s = load_settings()
    assert not s.remote and s.staging_url == f"sqlite:///{tmp_path / 'd' / 'staging.db'}"
    assert (s.raw_root, s.curated_root, s.quarantine_root) == (tmp_path / "d" / "raw", tmp_path / "d" / "curated",
                                                              tmp_path / "d" / "quarantine")
    assert s.drop_root == tmp_path / "d" / "drop" and s.work_dir == tmp_path / "d" / "work"
    assert s.zone("curated") == LocalZone(tmp_path / "d" / "curated")
    moved = dataclasses.replace(s, data_root=tmp_path / "e")  # zones follow the root (tests rely on it)
    assert moved.raw_root == tmp_path / "e" / "raw"
    assert os.fspath(moved.zone("quarantine").location()) == str(tmp_path / "e" / "quarantine")
