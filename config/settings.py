"""Runtime settings, resolved from environment variables.

One place decides where the data zones live and which staging store to use, so local runs,
tests and production differ only by environment (STYLE P20). Every variable is documented in
``docs/configuration.md``.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from config.storage import Zone, is_remote, local_path, zone

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Default for ``S06_DATA_ROOT``: a working folder inside the repository, never the user's home.
DEFAULT_DATA_ROOT = REPO_ROOT / ".work" / "data"

#: Reader limits (docs/readers.md): 4 GiB per file, 32,768 characters per value, 1,000 fields per
#: record. A record of the largest contract has about 90 fields of at most a few hundred characters.
DEFAULT_MAX_FILE_BYTES = 4 << 30
DEFAULT_MAX_VALUE_CHARS = 32_768
DEFAULT_MAX_COLUMNS = 1_000


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number") from None
    if value < 1:
        raise ValueError(f"{name} must be positive")
    return value


#: Files from this size are copied ahead (see ``Settings.copy_ahead_bytes``): about 170,000 births.
DEFAULT_COPY_AHEAD_BYTES = 64 << 20


def _copy_ahead_bytes() -> int | None:
    raw = os.environ.get("S06_COPY_AHEAD_BYTES", "").strip()
    if raw.lower() in ("off", "0", "no", "false"):
        return None
    return _positive_int("S06_COPY_AHEAD_BYTES", DEFAULT_COPY_AHEAD_BYTES)


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one process.

    Attributes:
        data_root: root of every data zone (drop, raw, curated, quarantine, staging DB).
        staging_url: SQLAlchemy URL of the staging store.
        facilities_file: the facility/source registry (YAML).
        quarantine_threshold: a batch whose quarantined share exceeds this is held back.
        chunk_rows: rows per processing chunk (memory bound).
        small_file_bytes: files up to this size are read whole and grouped into shared chunks.
        timezone: the timezone nights are counted in.
        max_file_bytes: a received file larger than this is rejected whole (``S06_MAX_FILE_BYTES``).
        max_value_chars: a value longer than this gives its record a reader error (quarantined
            under ENVELOPE, the column named, the value never) (``S06_MAX_VALUE_CHARS``).
        max_columns: a record with more fields than this gives a reader error; a CSV header or a
            file whose records use more distinct fields than this is rejected (``S06_MAX_COLUMNS``).
        copy_ahead_bytes: on PostgreSQL, a file at least this large, alone in its shard, going
            into an empty current table, is copied into staging while it is judged
            (:mod:`loaders.copy_ahead`; ``S06_COPY_AHEAD_BYTES``, ``off`` to never do it).
    """

    data_root: Path
    staging_url: str
    facilities_file: Path
    quarantine_threshold: float
    chunk_rows: int
    small_file_bytes: int = 8 << 20
    timezone: str = "Asia/Ho_Chi_Minh"
    #: process every batch even when its inputs are unchanged since its completed run
    #: (``S06_FORCE_RERUN=1``: refreshes cross-dataset warnings after other data arrived)
    force_rerun: bool = False
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_value_chars: int = DEFAULT_MAX_VALUE_CHARS
    max_columns: int = DEFAULT_MAX_COLUMNS
    #: ``S06_DATA_ROOT`` when it is object storage (``s3://bucket/prefix``), else None. With a
    #: remote root, ``data_root`` is the local folder for what stays local (``S06_WORK_DIR``).
    data_url: str | None = None
    copy_ahead_bytes: int | None = DEFAULT_COPY_AHEAD_BYTES

    @property
    def remote(self) -> bool:
        """Whether the data zones live on object storage (docs/deployment.md)."""
        return self.data_url is not None

    @property
    def work_dir(self) -> Path:
        """Local scratch (spill files, readers' inputs, uploads in preparation): ``S06_WORK_DIR``,
        default ``<data root>/work`` for a local root, the local root itself for a remote one."""
        explicit = os.environ.get("S06_WORK_DIR")
        if explicit:
            return Path(explicit)
        return self.data_root if self.remote else self.data_root / "work"

    def zone(self, name: str) -> Zone:
        """The data zone ``name`` (drop, raw, quarantine, curated, reference), local or remote.

        ``S06_DROP_ROOT`` and ``S06_REFERENCE_ROOT`` may each name a folder or a URL of their own.
        """
        explicit = {"drop": "S06_DROP_ROOT", "reference": "S06_REFERENCE_ROOT"}.get(name)
        if name not in ("drop", "raw", "quarantine", "curated", "reference"):
            raise ValueError(f"unknown data zone {name!r}")
        location = os.environ.get(explicit, "") if explicit else ""
        if not location:
            location = f"{self.data_url}/{name}" if self.data_url else str(self.data_root / name)
        return zone(location, self.work_dir)

    def _local_zone(self, name: str) -> Path:
        z = self.zone(name)
        if z.remote:
            raise ValueError(f"the {name} zone is on object storage ({z}): use Settings.zone({name!r})")
        return Path(z.location())

    @property
    def drop_root(self) -> Path:
        """Where facilities deliver files: ``<drop>/<facility>/<dataset>/<YYYY-MM-DD>/`` (local)."""
        return self._local_zone("drop")

    @property
    def raw_root(self) -> Path:
        """Bytes exactly as received, per batch, with a manifest (local)."""
        return self._local_zone("raw")

    @property
    def curated_root(self) -> Path:
        """Analyst-safe, pseudonymized, hive-partitioned Parquet (local)."""
        return self._local_zone("curated")

    @property
    def quarantine_root(self) -> Path:
        """Restricted zone: the held-back rows themselves (full identity), per batch (local)."""
        return self._local_zone("quarantine")

    @property
    def reference_root(self) -> Path:
        """Reference data (citizen-registry snapshot, facilities) (local)."""
        return self._local_zone("reference")


def load_settings() -> Settings:
    """Read settings from the environment (cheap; safe at DAG parse time).

    Returns:
        The resolved settings.

    Raises:
        ValueError: if a numeric variable does not parse or is out of range.
    """
    location = os.environ.get("S06_DATA_ROOT", "").strip() or str(DEFAULT_DATA_ROOT)
    data_url: str | None = None
    if is_remote(location):
        # The zones live on object storage; what stays local (scratch, the outputs not uploaded)
        # goes to S06_WORK_DIR. The staging database cannot live in a bucket.
        data_url = location.rstrip("/")
        data_root = Path(os.environ.get("S06_WORK_DIR") or Path(tempfile.gettempdir()) / "s06-work").resolve()
        if not os.environ.get("S06_STAGING_URL"):
            raise ValueError("S06_DATA_ROOT is object storage: set S06_STAGING_URL (the staging database, "
                             "which also holds the locks, cannot live in a bucket)")
    else:
        data_root = local_path(location).resolve()
    staging_url = os.environ.get("S06_STAGING_URL") or f"sqlite:///{data_root / 'staging.db'}"
    facilities = Path(
        os.environ.get("S06_FACILITIES_FILE", str(REPO_ROOT / "config" / "facilities.yaml"))
    )
    try:
        threshold = float(os.environ.get("S06_QUARANTINE_THRESHOLD", "0.5"))
        chunk_rows = int(os.environ.get("S06_CHUNK_ROWS", "200000"))
    except ValueError as exc:
        raise ValueError(f"S06_QUARANTINE_THRESHOLD / S06_CHUNK_ROWS must be numbers: {exc}") from None
    if not 0.0 <= threshold <= 1.0:
        raise ValueError("S06_QUARANTINE_THRESHOLD must be between 0 and 1")
    if chunk_rows < 1:
        raise ValueError("S06_CHUNK_ROWS must be positive")
    return Settings(
        data_root=data_root,
        staging_url=staging_url,
        facilities_file=facilities,
        quarantine_threshold=threshold,
        chunk_rows=chunk_rows,
        small_file_bytes=int(os.environ.get("S06_SMALL_FILE_BYTES", str(8 << 20))),
        timezone=os.environ.get("S06_TIMEZONE", "Asia/Ho_Chi_Minh"),
        force_rerun=os.environ.get("S06_FORCE_RERUN", "").strip().lower() in ("1", "true", "yes"),
        max_file_bytes=_positive_int("S06_MAX_FILE_BYTES", DEFAULT_MAX_FILE_BYTES),
        max_value_chars=_positive_int("S06_MAX_VALUE_CHARS", DEFAULT_MAX_VALUE_CHARS),
        max_columns=_positive_int("S06_MAX_COLUMNS", DEFAULT_MAX_COLUMNS),
        data_url=data_url,
        copy_ahead_bytes=_copy_ahead_bytes(),
    )
