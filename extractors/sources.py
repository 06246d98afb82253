"""One interface over the three source kinds: land a batch's input in the raw zone.

Every kind ends the same way: files in the batch's raw-zone folder, exactly as received, with a
``manifest.json``, described by :class:`~extractors.file_drop.LandedFile` records. The batch
runner reads those files with the contract's readers and never talks to a facility system
itself, so a facility's kind changes nothing downstream.

* ``file_drop`` - copy ``<drop>/<facility>/<dataset>/<night>/*`` (see ``extractors.file_drop``);
  a drop on object storage is first downloaded to local scratch (same rules, see
  :func:`~extractors.file_drop.fetch_remote_drop`);
* ``rest_api`` - page through the facility API over the data interval (``extractors.rest_api``);
* ``sql`` - read the facility table/view by its cursor column over the interval
  (``extractors.sql``), in chunks.

Credentials come from the Airflow connection the registry names (``conn_id``); nothing here
logs or returns them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from config.storage import LocalZone, Zone
from extractors.file_drop import LandedFile, discover, fetch_remote_drop, land_files

_T = TypeVar("_T")

if TYPE_CHECKING:  # pragma: no cover
    from config.contracts import DatasetContract
    from config.registry import Facility


class SourceError(Exception):
    """The facility's source answered, but not usably (auth rejected, bad request, corrupt payload,
    unknown table): retrying will not help. The message names the facility and what failed,
    never data or credentials."""


@dataclass
class Acquired:
    """What one batch received."""

    #: landed files; file-drop entries that were refused (links, FIFOs, dot-files, ...) are
    #: included with ``refused`` set, for the runner to record as rejected
    files: list[LandedFile]
    #: facts for the ledger (pages, attempts, high-water mark); no content
    facts: dict[str, Any] = field(default_factory=dict)


def get_connection(conn_id: str) -> Any:
    """The Airflow connection ``conn_id`` (task context, secrets backend or ``AIRFLOW_CONN_*``).

    Outside a running task (a command-line backfill, a test) the Task SDK has no supervisor to
    ask, so the environment variable is parsed directly, as Airflow itself would.
    """
    try:
        from airflow.sdk import Connection

        return Connection.get(conn_id)
    except Exception:
        pass
    value = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if not value:
        raise SourceError(f"Airflow connection '{conn_id}' is not configured (set AIRFLOW_CONN_{conn_id.upper()} "
                          "or add it to the secrets backend)")
    from airflow.models.connection import Connection as ModelConnection

    if value.lstrip().startswith("{"):
        return ModelConnection.from_json(value, conn_id=conn_id)
    return ModelConnection(conn_id=conn_id, uri=value)


def acquire(facility: Facility, dataset: str, contract: DatasetContract, interval_start: dt.datetime,
            interval_end: dt.datetime, night: dt.date, drop_root: Path | Zone, raw_dir: Path,
            scratch: Path | None = None) -> Acquired:
    """Land one batch's input in ``raw_dir``.

    ``drop_root`` is a local folder or a zone; a drop on object storage is downloaded under
    ``scratch`` first (required then).

    Raises:
        TransportError: the source could not be reached (after the extractor's own retries).
        SourceError: the source answered but the batch cannot be extracted.
        OSError: the drop folder cannot be read (file drops; the caller maps it to TransportError).
    """
    feed = facility.datasets[dataset]
    if facility.source_kind == "file_drop":
        refused: list[LandedFile] = []
        if isinstance(drop_root, LocalZone):
            drop_root = drop_root.path()
        elif isinstance(drop_root, Zone):
            if scratch is None:
                raise ValueError("a drop on object storage needs a local scratch folder")
            refused = fetch_remote_drop(drop_root, facility.code, dataset, night, scratch)
            drop_root = scratch
        found = discover(drop_root, facility.code, dataset, night)
        if refused:
            found.refused = sorted(found.refused + refused, key=lambda f: f.name)
        if not found.files and not found.refused:  # a silent facility: nothing to land, no raw folder
            return Acquired([], {"source_kind": "file_drop"})
        # The batch runner writes the manifest once, with each file's outcome.
        landed = land_files(found.files, drop_root, raw_dir, contract, feed.encoding, refused=found.refused,
                            manifest=False)
        return Acquired(landed, {"source_kind": "file_drop"})
    if facility.source_kind == "rest_api":
        fmt = contract.source_formats.get(feed.format)
        if fmt is not None and fmt.reader == "fhir_bundle":  # integration(vaccination): FHIR search
            return _acquire_fhir(facility, dataset, feed.format, feed.options, fmt.reader_options, interval_start,
                                 interval_end, raw_dir)
        return _acquire_rest(facility, dataset, feed.format, feed.options, interval_start, interval_end, raw_dir)
    if facility.source_kind == "sql":
        return _acquire_sql(facility, dataset, feed.format, feed.options, interval_start, interval_end, raw_dir)
    raise SourceError(f"facility {facility.code}: unknown source kind {facility.source_kind}")


def _connection(facility: Facility, read: Callable[[Any], _T], conn: Any) -> _T:
    """``read(conn)``: a connection the code cannot use (no host, an unknown auth kind or database
    type, basic auth without a password) is a source error saying which and why. Those messages
    are the pipeline's own and never quote a credential; they used to be withheld as a bare
    ``ValueError``."""
    try:
        return read(conn)
    except ValueError as exc:
        raise SourceError(f"facility {facility.code}: connection {facility.conn_id!r} cannot be used: {exc}") from None


def _acquire_rest(facility: Facility, dataset: str, fmt: str, options: dict[str, Any],
                  start: dt.datetime, end: dt.datetime, raw_dir: Path) -> Acquired:
    from extractors import rest_api
    from extractors.rest_api.client import DEFAULT_MAX_PAGES

    conn = get_connection(facility.conn_id or "")
    base_url, auth = _connection(facility, rest_api.connection_config, conn)
    src = facility.options
    try:
        result = rest_api.fetch_to_raw(
            base_url, str(options["path"]), auth, start, end, raw_dir,
            fmt=fmt, name_prefix=f"api/{facility.code}/{dataset}",
            pagination=src.get("pagination", "page"), page_size=int(src.get("page_size", 100)),
            timeout_s=float(src.get("timeout_s", 30)), max_attempts=int(src.get("max_attempts", 5)),
            max_pages=int(src.get("max_pages", DEFAULT_MAX_PAGES)),
        )
    except rest_api.FetchFailed as exc:
        raise SourceError(f"facility {facility.code}: {exc}") from None
    return Acquired(result.files, {"source_kind": "rest_api", "pages": result.pages, "attempts": result.attempts,
                                   "records": result.records})


def _acquire_fhir(facility: Facility, dataset: str, fmt: str, options: dict[str, Any], reader_options: dict[str, Any],
                  start: dt.datetime, end: dt.datetime, raw_dir: Path) -> Acquired:
    """FHIR search over REST (``extractors.fhir``): the registry's ``path`` is the FHIR base under the
    connection's host; ``include`` (optional) the ``_include`` the server supports."""
    from extractors import fhir, rest_api
    from extractors.fhir.search import DEFAULT_MAX_PAGES

    view = fhir.load_view(str(reader_options.get("view", "")))
    conn = get_connection(facility.conn_id or "")
    base_url, auth = _connection(facility, rest_api.connection_config, conn)
    src = facility.options
    include = options.get("include")
    try:
        result = fhir.fetch_search_to_raw(
            base_url, str(options["path"]), auth, view.resource, start, end, raw_dir,
            include=str(include) if include else None, reference_type=view.references[0] if view.references else "Patient",
            reference_element=str(include).split(":", 1)[1] if include and ":" in str(include) else "patient",
            fmt=fmt, name_prefix=f"api/{facility.code}/{dataset}", page_size=int(src.get("page_size", 50)),
            timeout_s=float(src.get("timeout_s", 30)), max_attempts=int(src.get("max_attempts", 5)),
            max_pages=int(src.get("max_pages", DEFAULT_MAX_PAGES)),
        )
    except rest_api.FetchFailed as exc:
        raise SourceError(f"facility {facility.code}: {exc}") from None
    return Acquired(result.files, {"source_kind": "rest_api", "protocol": "fhir_search", "pages": result.pages,
                                   "attempts": result.attempts, "records": result.records})


def _acquire_sql(facility: Facility, dataset: str, fmt: str, options: dict[str, Any],
                 start: dt.datetime, end: dt.datetime, raw_dir: Path) -> Acquired:
    from extractors import sql

    conn = get_connection(facility.conn_id or "")
    url = _connection(facility, sql.sqlalchemy_url_from_connection, conn)
    try:
        result = sql.extract_window(
            url, str(options["table"]), str(options["cursor_column"]), start, end, raw_dir,
            name_prefix=f"sql/{facility.code}/{options['table']}", fmt=fmt,
            chunk_rows=int(facility.options.get("chunk_rows", 5000)),
            key_column=options.get("key_column"), schema=facility.options.get("schema"),
        )
    except sql.SqlSourceError as exc:
        raise SourceError(f"facility {facility.code}: {exc}") from None
    return Acquired(result.files, {"source_kind": "sql", "rows": result.rows,
                                   "high_water_mark": result.high_water_mark,
                                   "null_cursor_rows": result.null_cursor_rows,
                                   "misshapen_cursor_rows": result.misshapen_cursor_rows})


def describe(acquired: Acquired) -> str:
    """The acquisition facts as compact JSON for the ledger."""
    return json.dumps(acquired.facts, sort_keys=True, default=str)
