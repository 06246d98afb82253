"""Discovery, landing (copy + checksum + manifest) and format sniffing for file drops.

The drop folder is written by facilities and is **not trusted**:

* nothing is ever read through a symbolic link: every path component under the drop root is
  opened with ``O_NOFOLLOW`` relative to its parent's descriptor (``openat``), so a link - or a
  folder swapped for a link between discovery and copy - is refused, and nothing outside the drop
  root is reached (``..`` and ``/`` are refused as components, a file with other hard links is
  refused: it may be a second name of a file elsewhere);
* a file is opened with ``O_NOFOLLOW | O_NONBLOCK`` and checked on the open descriptor (``fstat``:
  a regular file, one link) before a byte is read, so a FIFO never blocks and a file swapped
  after discovery is judged by what is actually opened (no check-then-use race);
* entries that are not delivered files - dot-files, sub-directories, symbolic links, FIFOs,
  sockets, devices, names with control characters or bytes that are not UTF-8, files over
  ``S06_MAX_FILE_BYTES`` - are **refused with a reason**, never silently skipped: they come back
  from :func:`discover` and :func:`land_files` as :class:`LandedFile` entries whose ``refused``
  says why, the manifest lists them, and the batch runner records them in ``ingested_files`` with
  status ``rejected``. Their content is never read and they are not copied to the raw zone.

Names are recorded with :func:`safe_name` (control characters and undecodable bytes escaped as
``\\xNN``), so a newline in a file name cannot forge a line in a manifest, log or report.

A drop on **object storage** (:func:`fetch_remote_drop`) has no links, FIFOs or hard links, but
the same rules hold for what it can have: the night folder is listed once, objects whose names
have control characters or start with a dot, "sub-directories" (common prefixes) and objects
over the size limit (by the listing, and again while downloading) are refused with a reason,
and the rest is downloaded to local scratch, where the local landing above runs on it unchanged.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from extractors.formats import current_limits, detect_encoding, xml_root_tag

if TYPE_CHECKING:  # pragma: no cover
    from config.contracts import DatasetContract
    from config.storage import Zone

COPY_BLOCK = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class LandedFile:
    """A received file, as kept in the raw zone (no content, only facts about it).

    ``refused`` is set (and ``raw_path``/``sha256`` empty) for a drop entry that was not read: a
    symbolic link, a directory, a FIFO, a dot-file, ... (see the module docstring).
    """

    name: str  # path relative to the drop root, forward slashes, control characters escaped
    raw_path: str
    sha256: str
    size: int
    format: str | None
    encoding: str
    received_at: str  # file modification time in the drop, ISO 8601 UTC
    refused: str | None = None


@dataclass
class Discovery:
    """What one drop folder holds: files to land, and entries refused (with reasons)."""

    files: list[Path] = field(default_factory=list)
    refused: list[LandedFile] = field(default_factory=list)


class Refused(Exception):
    """A drop entry that is not read. ``reason`` names no content."""

    def __init__(self, reason: str, size: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.size = size


def safe_name(name: str) -> str:
    """``name`` with control characters, undecodable bytes and backslashes escaped (``\\x0a``)."""
    out = []
    for ch in name:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif code < 32 or code == 127 or 0x80 <= code <= 0x9F:
            out.append(f"\\x{code:02x}")
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        else:
            out.append(ch)
    return "".join(out)


def _name_problem(name: str) -> str | None:
    if any(ord(c) < 32 or ord(c) == 127 or 0x80 <= ord(c) <= 0x9F for c in name):
        return "file name contains control characters (not landed; name stored escaped)"
    if any(0xDC80 <= ord(c) <= 0xDCFF for c in name):
        return "file name is not valid UTF-8 (not landed; name stored escaped)"
    if name.startswith("."):
        return "hidden file (name starts with a dot)"
    return None


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "symbolic link (not followed)"
    if stat.S_ISDIR(mode):
        return "sub-directory (not descended into)"
    if stat.S_ISFIFO(mode):
        return "FIFO / named pipe (not opened)"
    if stat.S_ISSOCK(mode):
        return "socket (not opened)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device file (not opened)"
    return "not a regular file (not opened)"


def _check_component(part: str) -> None:
    if not part or part in (".", "..") or "/" in part or "\x00" in part:
        raise Refused("drop path component is not a plain name")


@contextmanager
def _open_dir(drop_root: Path, parts: tuple[str, ...]) -> Iterator[int]:
    """A descriptor of ``drop_root/<parts...>``, every component opened without following links.

    Raises:
        FileNotFoundError: a component does not exist.
        Refused: a component is a symbolic link, not a directory, or not a plain name.
    """
    fd = os.open(str(drop_root), os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    try:
        for part in parts:
            _check_component(part)
            try:
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise Refused("drop folder is a symbolic link or not a directory (not followed)") from None
                raise
            os.close(fd)
            fd = nxt
        yield fd
    finally:
        os.close(fd)


def open_drop_file(drop_root: Path, rel: Path, max_bytes: int | None = None) -> tuple[int, os.stat_result]:
    """Open a delivered file for reading, safely: no link followed anywhere on the way, a regular
    file with a single link, within the size limit; checked on the open descriptor.

    Returns:
        The open descriptor (the caller closes it) and its ``fstat``.

    Raises:
        Refused: with the reason.
        FileNotFoundError: it disappeared.
    """
    *dirs, name = rel.parts
    _check_component(name)
    with _open_dir(drop_root, tuple(dirs)) as dfd:
        try:
            fd = os.open(name, _FILE_FLAGS, dir_fd=dfd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise Refused("symbolic link (not followed)") from None
            if exc.errno in (errno.ENXIO, errno.EOPNOTSUPP, errno.EISDIR):
                mode = os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mode
                raise Refused(_kind(mode)) from None
            raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Refused(_kind(st.st_mode))
        if st.st_nlink > 1:
            raise Refused("file has other hard links (it may be a second name of a file outside the drop)",
                          st.st_size)
        if max_bytes is not None and st.st_size > max_bytes:
            raise Refused(f"file is {st.st_size} bytes, over the limit of {max_bytes} (S06_MAX_FILE_BYTES)",
                          st.st_size)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def _refused(rel: str, reason: str, size: int = 0) -> LandedFile:
    return LandedFile(name=safe_name(rel), raw_path="", sha256="", size=size, format=None, encoding="",
                      received_at="", refused=reason)


def discover(drop_root: Path, facility: str, dataset: str, night: dt.date) -> Discovery:
    """What was delivered for one facility, dataset and night: the files (in name order) and the
    refused entries (in name order), without reading any content or following any link."""
    parts = (facility, dataset, night.isoformat())
    found = Discovery()
    rel_dir = "/".join(parts)
    try:
        with _open_dir(drop_root, parts) as dfd, os.scandir(dfd) as it:
            entries = sorted(it, key=lambda e: e.name)
            for entry in entries:
                rel = f"{rel_dir}/{entry.name}"
                problem = _name_problem(entry.name)
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue  # vanished meanwhile
                if not stat.S_ISREG(st.st_mode):
                    found.refused.append(_refused(rel, _kind(st.st_mode)))
                elif problem:
                    found.refused.append(_refused(rel, problem, st.st_size))
                else:
                    found.files.append(drop_root.joinpath(*parts, entry.name))
    except FileNotFoundError:
        return found
    except NotADirectoryError:
        found.refused.append(_refused(rel_dir, "drop folder is not a directory"))
    except Refused as exc:
        found.refused.append(_refused(rel_dir, exc.reason))
    return found


class DropUnreachable(OSError):
    """The object store holding the drop did not answer usably (network, credentials, throttling)."""


#: Longest file name most local file systems store (bytes).
MAX_NAME_BYTES = 255


def fetch_remote_drop(drop: Zone, facility: str, dataset: str, night: dt.date, local_root: Path) -> list[LandedFile]:
    """Copy one facility's night folder from object storage to ``local_root`` (same layout).

    The folder is listed once (a missing folder is a silent facility: nothing is copied, nothing
    refused). Entries that are not delivered files are refused with a reason and not downloaded:
    sub-folders (common prefixes), names with control characters or starting with a dot, names
    too long for a local file system, objects over ``S06_MAX_FILE_BYTES`` (by the listing, and
    again while downloading, should the object have been replaced). Each downloaded file keeps the
    object's last-modified time, so ``received_at`` means what it means for a local drop.

    Returns:
        The refused entries (as :class:`LandedFile` with ``refused`` set); the files are under
        ``local_root/<facility>/<dataset>/<night>/``, for :func:`discover` and :func:`land_files`.

    Raises:
        DropUnreachable: listing or downloading failed for another reason than a missing object.
    """
    parts = (facility, dataset, night.isoformat())
    rel_dir = "/".join(parts)
    try:
        for part in parts:
            _check_component(part)
    except Refused as exc:
        return [_refused(rel_dir, exc.reason)]
    max_bytes = current_limits().max_file_bytes
    refused: list[LandedFile] = []
    try:
        entries = drop.list(rel_dir)
    except Exception as exc:  # a library error may quote the endpoint or a key: type only
        raise DropUnreachable(errno.EIO, f"listing the drop failed: {type(exc).__name__}") from None
    target = local_root.joinpath(*parts)
    for entry in entries:
        rel = f"{rel_dir}/{entry.name}"
        if entry.is_dir:
            refused.append(_refused(rel, "sub-directory (not descended into)"))
            continue
        problem = _name_problem(entry.name)
        if problem is None and (len(entry.name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES
                                or entry.name in (".", "..")):
            problem = "file name is too long or not a plain name (not landed; name stored escaped)"
        if problem:
            refused.append(_refused(rel, problem, entry.size))
            continue
        if entry.size > max_bytes:
            refused.append(_refused(rel, f"file is {entry.size} bytes, over the limit of {max_bytes} "
                                         "(S06_MAX_FILE_BYTES)", entry.size))
            continue
        dest = target / entry.name
        try:
            drop.download(rel, dest, max_bytes)
        except FileNotFoundError:
            continue  # withdrawn between listing and download: never received
        except OverflowError:
            refused.append(_refused(rel, f"file is over the limit of {max_bytes} bytes (S06_MAX_FILE_BYTES)",
                                    max_bytes + 1))
            continue
        except Exception as exc:
            raise DropUnreachable(errno.EIO, f"downloading from the drop failed: {type(exc).__name__}") from None
        if entry.modified is not None:
            stamp = entry.modified.timestamp()
            os.utime(dest, (stamp, stamp))
    return refused


def discover_files(drop_root: Path, facility: str, dataset: str, night: dt.date) -> list[Path]:
    """Files delivered for one facility, dataset and night, in name order (see :func:`discover`
    for the refused entries)."""
    return discover(drop_root, facility, dataset, night).files


def sniff_format(path: Path, contract: DatasetContract) -> str | None:
    """Which of the dataset's source formats a file is (by suffix, then XML root tag).

    When the suffix fits several XML formats and the root cannot be determined (an empty file, a
    binary or truncated one, a prolog over 1 MiB), the first candidate is returned so that its
    reader rejects the file with the real reason; a file whose root is known but fits no format
    is not one of the dataset's formats (None).
    """
    candidates = [f for f in contract.source_formats.values() if path.suffix.lower() in f.suffixes]
    if len(candidates) <= 1 or not any(f.root_tag for f in candidates):
        return candidates[0].name if candidates else None
    root = xml_root_tag(path)
    if root is None:
        return candidates[0].name
    for fmt in candidates:
        if fmt.root_tag == root:
            return fmt.name
    return None


def _copy_fd_with_checksum(fd: int, dest: Path) -> tuple[str, int]:
    """Copy the open file ``fd`` to ``dest`` atomically, returning (sha256, size)."""
    digest = hashlib.sha256()
    size = 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp_fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    try:
        with os.fdopen(fd, "rb", closefd=False) as fin, os.fdopen(tmp_fd, "wb") as fout:
            while block := fin.read(COPY_BLOCK):
                digest.update(block)
                size += len(block)
                fout.write(block)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return digest.hexdigest(), size


def land_files(
    files: list[Path], drop_root: Path, raw_dir: Path, contract: DatasetContract, encoding: str = "auto",
    refused: list[LandedFile] | None = None,
    manifest: bool = True,
) -> list[LandedFile]:
    """Copy received files unchanged into ``raw_dir`` and write ``manifest.json`` beside them.

    Args:
        files: files found by :func:`discover`.
        drop_root: the drop root (for relative names).
        raw_dir: this batch's raw-zone folder (replaced content on a re-run).
        contract: dataset contract (for format sniffing).
        encoding: the registry's declared encoding for this facility and dataset.
        refused: entries :func:`discover` refused (recorded in the manifest and returned).
        manifest: write ``manifest.json`` now (the batch runner writes one manifest at the end,
            with the landing facts and each file's outcome).

    Returns:
        One :class:`LandedFile` per file, in input order (a file refused when opened - it became a
        link, a FIFO, ... after discovery, or it is over the size limit - has ``refused`` set),
        then the refused entries.
    """
    max_bytes = current_limits().max_file_bytes
    landed: list[LandedFile] = []
    for src in files:
        rel = src.relative_to(drop_root)
        try:
            fd, st = open_drop_file(drop_root, rel, max_bytes)
        except Refused as exc:
            landed.append(_refused(rel.as_posix(), exc.reason, exc.size))
            continue
        except FileNotFoundError:
            continue  # withdrawn between discovery and landing: never received
        dest = raw_dir / src.name
        try:
            sha, size = _copy_fd_with_checksum(fd, dest)
        finally:
            os.close(fd)
        os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns))
        mtime = dt.datetime.fromtimestamp(st.st_mtime, tz=dt.UTC)
        landed.append(
            LandedFile(
                name=rel.as_posix(),
                raw_path=str(dest),
                sha256=sha,
                size=size,
                format=sniff_format(dest, contract),
                encoding=detect_encoding(dest, encoding),
                received_at=mtime.isoformat(timespec="seconds"),
            )
        )
    landed += refused or []
    if manifest:
        write_manifest(raw_dir, landed)
    return landed


def write_manifest(raw_dir: Path, landed: list[LandedFile], extra: dict[str, object] | None = None) -> Path:
    """Write ``manifest.json`` atomically (file facts only, never content; refused entries under
    ``refused`` with their reasons)."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    payload: dict[str, object] = {
        "files": [{k: v for k, v in asdict(f).items() if k != "refused"} for f in landed if not f.refused],
        **(extra or {}),
    }
    refused = [{"name": f.name, "reason": f.refused} for f in landed if f.refused]
    if refused:
        payload["refused"] = refused
    path = raw_dir / "manifest.json"
    fd, tmp = tempfile.mkstemp(prefix=".manifest.", dir=raw_dir)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=2, sort_keys=True)
    os.replace(tmp, path)
    return path
