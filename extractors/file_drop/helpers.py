"""Discovery, landing (copy + checksum + manifest) and format sniffing for file drops."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from extractors.formats import detect_encoding, xml_root_tag

if TYPE_CHECKING:  # pragma: no cover
    from config.contracts import DatasetContract

COPY_BLOCK = 1 << 20


@dataclass(frozen=True)
class LandedFile:
    """A received file, as kept in the raw zone (no content, only facts about it)."""

    name: str  # path relative to the drop root, forward slashes
    raw_path: str
    sha256: str
    size: int
    format: str | None
    encoding: str
    received_at: str  # file modification time in the drop, ISO 8601 UTC


def discover_files(drop_root: Path, facility: str, dataset: str, night: dt.date) -> list[Path]:
    """Files delivered for one facility, dataset and night, in name order (hidden files skipped)."""
    folder = drop_root / facility / dataset / night.isoformat()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def sniff_format(path: Path, contract: DatasetContract) -> str | None:
    """Which of the dataset's source formats a file is (by suffix, then XML root tag)."""
    candidates = [f for f in contract.source_formats.values() if path.suffix.lower() in f.suffixes]
    if len(candidates) <= 1 or not any(f.root_tag for f in candidates):
        return candidates[0].name if candidates else None
    root = xml_root_tag(path)
    for fmt in candidates:
        if fmt.root_tag == root:
            return fmt.name
    return None


def _copy_with_checksum(src: Path, dest: Path) -> tuple[str, int]:
    """Copy ``src`` to ``dest`` atomically, returning (sha256, size)."""
    digest = hashlib.sha256()
    size = 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    try:
        with src.open("rb") as fin, os.fdopen(fd, "wb") as fout:
            while block := fin.read(COPY_BLOCK):
                digest.update(block)
                size += len(block)
                fout.write(block)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    shutil.copystat(src, dest)
    return digest.hexdigest(), size


def land_files(
    files: list[Path], drop_root: Path, raw_dir: Path, contract: DatasetContract, encoding: str = "auto",
    manifest: bool = True,
) -> list[LandedFile]:
    """Copy received files unchanged into ``raw_dir`` and write ``manifest.json`` beside them.

    Args:
        files: files found by :func:`discover_files`.
        drop_root: the drop root (for relative names).
        raw_dir: this batch's raw-zone folder (replaced content on a re-run).
        contract: dataset contract (for format sniffing).
        encoding: the registry's declared encoding for this facility and dataset.
        manifest: write ``manifest.json`` now (the batch runner writes one manifest at the end,
            with the landing facts and each file's outcome).

    Returns:
        One :class:`LandedFile` per file, in input order.
    """
    landed: list[LandedFile] = []
    for src in files:
        dest = raw_dir / src.name
        sha, size = _copy_with_checksum(src, dest)
        mtime = dt.datetime.fromtimestamp(src.stat().st_mtime, tz=dt.UTC)
        landed.append(
            LandedFile(
                name=src.relative_to(drop_root).as_posix(),
                raw_path=str(dest),
                sha256=sha,
                size=size,
                format=sniff_format(dest, contract),
                encoding=detect_encoding(dest, encoding),
                received_at=mtime.isoformat(timespec="seconds"),
            )
        )
    if manifest:
        write_manifest(raw_dir, landed)
    return landed


def write_manifest(raw_dir: Path, landed: list[LandedFile], extra: dict[str, object] | None = None) -> Path:
    """Write ``manifest.json`` atomically (file facts only, never content)."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    payload = {"files": [asdict(f) for f in landed], **(extra or {})}
    path = raw_dir / "manifest.json"
    fd, tmp = tempfile.mkstemp(prefix=".manifest.", dir=raw_dir)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=2, sort_keys=True)
    os.replace(tmp, path)
    return path
