"""Data zones on a local disk or on object storage, with the few operations the pipeline needs.

``S06_DATA_ROOT`` is either a local folder (the default, ``.work/data``) or a URL that fsspec
understands (``s3://bucket/prefix``; Airflow's ``ObjectStoragePath`` and DuckDB/pandas read the
same URLs). Each data zone (drop, raw, quarantine, curated, reference) is a :class:`Zone`:

* :class:`LocalZone` does exactly what the pipeline did before zones existed (pathlib, ``os``):
  a file is written under a hidden temporary name in its own folder and renamed into place;
* :class:`RemoteZone` goes through fsspec: a file is prepared on local disk and sent with one
  upload (one object appears whole or not at all, so readers never see half a file), listings are
  never cached (the drop and the curated parts change under us).

Credentials and the endpoint come from the usual places of the backend (for S3: the AWS
environment variables ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_DEFAULT_REGION``, profiles, instance roles) and/or ``S06_STORAGE_OPTIONS``, a JSON object
passed to ``fsspec.filesystem``. Neither is ever logged or written anywhere: a zone prints as its
URL with any ``user:password@`` part removed.

This module sits at the bottom of the dependency graph (``config``): it imports nothing from the
pipeline, and fsspec only when a zone is remote.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

#: A URL with a scheme (``s3://``, ``gs://``, ``memory://``); ``file://`` counts as local.
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
STORAGE_OPTIONS_ENV = "S06_STORAGE_OPTIONS"
#: Bytes per read when downloading.
BLOCK = 1 << 20


def is_remote(location: str | os.PathLike[str]) -> bool:
    """True for a URL that is not ``file://`` (object storage, or any other fsspec backend)."""
    m = _URL.match(str(location))
    return m is not None and m.group(1).lower() != "file"


def local_path(location: str | os.PathLike[str]) -> Path:
    """A local location as a path (``file://`` stripped)."""
    text = str(location)
    return Path(text[len("file://"):]) if text.lower().startswith("file://") else Path(text)


def redact(url: str) -> str:
    """``url`` without a ``user:password@`` part (safe to log)."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@", r"\1", url)


def storage_options() -> dict[str, Any]:
    """``S06_STORAGE_OPTIONS`` as a dict (empty when unset).

    Raises:
        ValueError: the variable is not a JSON object (its content is not quoted in the message).
    """
    raw = os.environ.get(STORAGE_OPTIONS_ENV, "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise ValueError(f"{STORAGE_OPTIONS_ENV} is not valid JSON") from None
    if not isinstance(value, dict):
        raise ValueError(f"{STORAGE_OPTIONS_ENV} must be a JSON object")
    return value


_FILESYSTEMS: dict[tuple[str, str], Any] = {}
#: Environment variables a client is built from: a change gives a new client (only a digest is kept).
_CLIENT_ENV = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
               "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION")


def filesystem(protocol: str) -> Any:
    """The fsspec filesystem of ``protocol`` (one per process and options; listings not cached)."""
    options = {"use_listings_cache": False, **storage_options()}
    # The environment decides the endpoint and credentials: a changed one gets a new client.
    env = [os.environ.get(k) for k in _CLIENT_ENV]
    # Per process too: a client (and its event-loop thread) does not survive a fork into a task process.
    key = (protocol, hashlib.sha256(json.dumps([options, env, os.getpid()], sort_keys=True,
                                               default=str).encode()).hexdigest())
    fs = _FILESYSTEMS.get(key)
    if fs is None:
        import fsspec

        fs = fsspec.filesystem(protocol, skip_instance_cache=True, **options)
        _FILESYSTEMS[key] = fs
    return fs


@dataclass(frozen=True)
class Entry:
    """One entry of a listing: a file (object) or a folder (common prefix)."""

    name: str
    is_dir: bool
    size: int = 0
    #: modification time (local) or last-modified (object), UTC
    modified: dt.datetime | None = None
    #: object ETag (remote), or ``<size>-<mtime ns>`` (local): changes when the content does
    version: str | None = None


class Zone:
    """A data zone: a root and the operations on files under it (``rel`` is ``a/b/c``)."""

    remote: bool = False

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/") if is_remote(url) else url

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redact(self.url)!r})"

    def __str__(self) -> str:
        return redact(self.url)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Zone) and type(other) is type(self) and other.url == self.url

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.url))

    # -- navigation
    def child(self, *parts: str) -> Zone:
        """The zone rooted at ``rel`` below this one."""
        raise NotImplementedError

    def location(self, rel: str = "") -> str:
        """Where ``rel`` is: a local path or a URL (no credentials)."""
        raise NotImplementedError

    # -- reading
    def list(self, rel: str = "") -> list[Entry]:
        """Entries directly in folder ``rel``, by name; empty when the folder does not exist."""
        raise NotImplementedError

    def info(self, rel: str) -> Entry | None:
        """The file ``rel`` (None when absent or a folder)."""
        raise NotImplementedError

    def exists(self, rel: str) -> bool:
        """Whether the file ``rel`` exists."""
        return self.info(rel) is not None

    def open_read(self, rel: str) -> IO[bytes]:
        """A binary stream of file ``rel`` (the caller closes it)."""
        raise NotImplementedError

    def download(self, rel: str, dest: Path, max_bytes: int | None = None) -> int:
        """Copy file ``rel`` to the local ``dest`` (written atomically); returns its size.

        Raises:
            FileNotFoundError: it is not there.
            OverflowError: it has more than ``max_bytes`` bytes (nothing is left at ``dest``).
        """
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
        size = 0
        try:
            with os.fdopen(fd, "wb") as out, self.open_read(rel) as src:
                while block := src.read(BLOCK):
                    size += len(block)
                    if max_bytes is not None and size > max_bytes:
                        raise OverflowError(f"over {max_bytes} bytes")
                    out.write(block)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return size

    # -- writing (atomic: a reader sees the old or the new file, never half of one)
    def temp_for(self, rel: str) -> Path:
        """A new empty local file to prepare ``rel`` in, then :meth:`commit` (or :meth:`discard`)."""
        raise NotImplementedError

    def commit(self, tmp: Path, rel: str) -> None:
        """Put the prepared ``tmp`` in place as ``rel`` (``tmp`` is consumed)."""
        raise NotImplementedError

    def discard(self, tmp: Path) -> None:
        """Forget a prepared file."""
        tmp.unlink(missing_ok=True)

    def put_file(self, source: Path, rel: str) -> None:
        """Copy the local file ``source`` to ``rel`` atomically (``source`` is kept)."""
        raise NotImplementedError

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write ``data`` to ``rel`` atomically."""
        tmp = self.temp_for(rel)
        try:
            tmp.write_bytes(data)
        except BaseException:
            self.discard(tmp)
            raise
        self.commit(tmp, rel)

    def remove(self, rel: str) -> None:
        """Remove file ``rel`` (nothing when it is not there)."""
        raise NotImplementedError


class LocalZone(Zone):
    """A zone on a local (or mounted) file system: pathlib, hidden temp sibling, rename."""

    remote = False

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = local_path(root)
        super().__init__(str(self.root))

    def path(self, rel: str = "") -> Path:
        """The local path of ``rel``."""
        return self.root / rel if rel else self.root

    def child(self, *parts: str) -> LocalZone:
        return LocalZone(self.root.joinpath(*parts))

    def location(self, rel: str = "") -> str:
        return str(self.path(rel))

    def list(self, rel: str = "") -> list[Entry]:
        folder = self.path(rel)
        out = []
        try:
            with os.scandir(folder) as it:
                for e in it:
                    try:
                        st = e.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    is_dir = e.is_dir(follow_symlinks=False)
                    out.append(Entry(e.name, is_dir, 0 if is_dir else st.st_size,
                                     dt.datetime.fromtimestamp(st.st_mtime, dt.UTC), f"{st.st_size}-{st.st_mtime_ns}"))
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(out, key=lambda e: e.name)

    def info(self, rel: str) -> Entry | None:
        p = self.path(rel)
        try:
            st = p.stat()
        except OSError:
            return None
        if not p.is_file():
            return None
        return Entry(p.name, False, st.st_size, dt.datetime.fromtimestamp(st.st_mtime, dt.UTC),
                     f"{st.st_size}-{st.st_mtime_ns}")

    def open_read(self, rel: str) -> IO[bytes]:
        return open(self.path(rel), "rb")

    def temp_for(self, rel: str) -> Path:
        target = self.path(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        return Path(tmp)

    def commit(self, tmp: Path, rel: str) -> None:
        os.replace(tmp, self.path(rel))

    def put_file(self, source: Path, rel: str) -> None:
        import shutil

        tmp = self.temp_for(rel)
        try:
            shutil.copyfile(source, tmp)
        except BaseException:
            self.discard(tmp)
            raise
        self.commit(tmp, rel)

    def remove(self, rel: str) -> None:
        self.path(rel).unlink(missing_ok=True)


class RemoteZone(Zone):
    """A zone on object storage through fsspec (one upload per file, listings never cached)."""

    remote = True

    def __init__(self, url: str, scratch: Path | None = None) -> None:
        super().__init__(url)
        m = _URL.match(self.url)
        assert m is not None
        self.protocol = m.group(1).lower()
        #: where files are prepared before their upload (``S06_WORK_DIR``)
        self.scratch = scratch

    @property
    def fs(self) -> Any:
        """The fsspec filesystem (created on first use)."""
        return filesystem(self.protocol)

    def _key(self, rel: str = "") -> str:
        return f"{self.url}/{rel}" if rel else self.url

    def child(self, *parts: str) -> RemoteZone:
        return RemoteZone(self._key("/".join(p.strip("/") for p in parts)), self.scratch)

    def location(self, rel: str = "") -> str:
        return redact(self._key(rel))

    def list(self, rel: str = "") -> list[Entry]:
        prefix = self._key(rel).rstrip("/")
        try:
            found = self.fs.ls(prefix, detail=True, refresh=True)
        except (FileNotFoundError, NotADirectoryError):
            return []
        strip = self.fs._strip_protocol(prefix).rstrip("/")
        out = []
        for item in found:
            path = str(item["name"]).rstrip("/")
            if path == strip:
                continue  # the folder's own marker object
            name = path[len(strip) + 1:] if path.startswith(strip + "/") else path.rsplit("/", 1)[-1]
            out.append(_entry(name, item))
        return sorted(out, key=lambda e: e.name)

    def info(self, rel: str) -> Entry | None:
        try:
            item = self.fs.info(self._key(rel), refresh=True)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if item.get("type") == "directory":
            return None
        return _entry(rel.rsplit("/", 1)[-1], item)

    def open_read(self, rel: str) -> IO[bytes]:
        return self.fs.open(self._key(rel), "rb")

    def temp_for(self, rel: str) -> Path:
        folder = self.scratch or Path(tempfile.gettempdir())
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".upload-", suffix="-" + rel.rsplit("/", 1)[-1], dir=folder)
        os.close(fd)
        return Path(tmp)

    def commit(self, tmp: Path, rel: str) -> None:
        try:
            self.put_file(tmp, rel)
        finally:
            tmp.unlink(missing_ok=True)

    def put_file(self, source: Path, rel: str) -> None:
        # One object is created whole (a single PUT, or a multipart upload that appears on
        # completion): readers see the old object or the new one.
        self.fs.put_file(str(source), self._key(rel))

    def write_bytes(self, rel: str, data: bytes) -> None:
        self.fs.pipe_file(self._key(rel), data)

    def remove(self, rel: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._key(rel))


def _entry(name: str, item: dict[str, Any]) -> Entry:
    is_dir = item.get("type") == "directory"
    modified = item.get("LastModified") or item.get("mtime") or item.get("last_modified")
    if isinstance(modified, (int, float)):
        modified = dt.datetime.fromtimestamp(modified, dt.UTC)
    elif isinstance(modified, str):
        try:
            modified = dt.datetime.fromisoformat(modified)
        except ValueError:
            modified = None
    if isinstance(modified, dt.datetime):
        modified = modified.replace(tzinfo=dt.UTC) if modified.tzinfo is None else modified.astimezone(dt.UTC)
    etag = item.get("ETag") or item.get("etag") or item.get("md5") or item.get("generation")
    version = str(etag).strip('"') if etag else (f"{item.get('size')}-{modified.isoformat()}" if modified else None)
    return Entry(name, is_dir, 0 if is_dir else int(item.get("size") or 0), modified, version)


def zone(location: str | os.PathLike[str], scratch: Path | None = None) -> Zone:
    """The zone at ``location``: a :class:`RemoteZone` for a URL, else a :class:`LocalZone`."""
    if is_remote(location):
        return RemoteZone(str(location), scratch)
    return LocalZone(location)


@contextlib.contextmanager
def prepared(target: Zone, rel: str) -> Iterator[Path]:
    """Prepare ``rel`` in a local temp file and put it in place when the block succeeds."""
    tmp = target.temp_for(rel)
    try:
        yield tmp
    except BaseException:
        target.discard(tmp)
        raise
    target.commit(tmp, rel)


__all__ = ["Entry", "LocalZone", "RemoteZone", "Zone", "filesystem", "is_remote", "local_path", "prepared",
           "redact", "storage_options", "zone"]
