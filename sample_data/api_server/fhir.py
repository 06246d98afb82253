"""The sample API server's FHIR search endpoint (``/<facility>/fhir/<Type>``).

Data: ``<data_dir>/api/<facility>/<dataset>/*.ndjson`` - one FHIR resource per line; the
Immunizations carry ``meta.lastUpdated``, ``Patient.ndjson`` holds the Patients they reference.
Searches (FHIR R4 ``searchset`` Bundles):

* ``GET /<facility>/fhir/Immunization?_lastUpdated=ge<instant>&_lastUpdated=lt<instant>&_count=N
  [&_include=Immunization:patient]`` - the Immunizations last updated in the window, in
  ``(lastUpdated, file, line)`` order; with ``_include`` each page also carries the Patients its
  Immunizations reference (``search.mode = include``); a ``next`` link (absolute, opaque offset)
  while more remain;
* ``GET /<facility>/fhir/Patient?_id=a,b,c`` - those Patients (also paged).

Errors are ``OperationOutcome`` resources. Besides the server's general faults (slow, 500, 429,
truncated body, 400, expired or rejected token), FHIR-only fault modes: ``include_not_supported``
(400 ``not-supported`` when ``_include`` is asked), ``no_include`` (``_include`` silently ignored),
``foreign_next`` (the ``next`` link points to another host), ``outcome_200`` (an OperationOutcome
answered with HTTP 200 instead of a Bundle), ``repeat_page`` (page k+1 repeats page k).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

log = logging.getLogger(__name__)

#: Facility API folders whose records are FHIR resources (served under /<facility>/fhir/).
FHIR_DATASETS = ("vaccination_records",)
FHIR_FAULT_MODES = frozenset({"include_not_supported", "no_include", "foreign_next", "outcome_200"})
DEFAULT_COUNT = 50
MAX_COUNT = 500
OFFSET_PARAM = "_getpagesoffset"


class FhirBadRequest(Exception):
    """A search the server refuses (400 with an OperationOutcome ``code``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class _Line:
    updated: dt.datetime
    file: str
    line: int
    resource: dict[str, Any]
    text: str


def outcome(code: str, diagnostics: str, severity: str = "error") -> dict[str, Any]:
    """An OperationOutcome with one issue."""
    return {"resourceType": "OperationOutcome", "issue": [{"severity": severity, "code": code,
                                                          "diagnostics": diagnostics}]}


def _folders(data_dir: Path, facility: str) -> list[Path]:
    return [data_dir / "api" / facility / ds for ds in FHIR_DATASETS if (data_dir / "api" / facility / ds).is_dir()]


def _resources(data_dir: Path, facility: str, kind: str) -> list[_Line]:
    """Immunizations (``kind='Immunization'``, every file but Patient*) or the Patients."""
    out: list[_Line] = []
    for folder in _folders(data_dir, facility):
        for path in sorted(folder.glob("*.ndjson")):
            if (kind == "Patient") != path.name.startswith("Patient"):
                continue
            with path.open(encoding="utf-8") as fh:
                for number, text in enumerate(fh, start=1):
                    text = text.strip()
                    if not text:
                        continue
                    try:
                        res = json.loads(text)
                    except ValueError:
                        log.warning("%s line %d: not JSON; not served", path.name, number)
                        continue
                    if not isinstance(res, dict) or res.get("resourceType") != kind:
                        continue
                    updated = dt.datetime.min.replace(tzinfo=dt.UTC)
                    stamp = (res.get("meta") or {}).get("lastUpdated")
                    if isinstance(stamp, str):
                        with contextlib.suppress(ValueError):
                            updated = dt.datetime.fromisoformat(stamp)
                    out.append(_Line(updated, path.name, number, res, text))
    out.sort(key=lambda r: (r.updated, r.file, r.line))
    return out


def _window(query: Mapping[str, list[str]]) -> tuple[dt.datetime | None, dt.datetime | None]:
    start = end = None
    for value in query.get("_lastUpdated", []):
        prefix, text = value[:2], value[2:]
        try:
            when = dt.datetime.fromisoformat(text)
        except ValueError:
            raise FhirBadRequest("invalid", "_lastUpdated is not an instant") from None
        if when.tzinfo is None:
            raise FhirBadRequest("invalid", "_lastUpdated needs a time-zone offset")
        if prefix == "ge":
            start = when
        elif prefix == "lt":
            end = when
        else:
            raise FhirBadRequest("not-supported", "only the ge and lt prefixes are supported on _lastUpdated")
    return start, end


def _count(query: Mapping[str, list[str]]) -> tuple[int, int]:
    try:
        count = int(query.get("_count", [str(DEFAULT_COUNT)])[-1])
        offset = int(query.get(OFFSET_PARAM, ["0"])[-1])
    except ValueError:
        raise FhirBadRequest("invalid", "_count and the page offset must be integers") from None
    if not 1 <= count <= MAX_COUNT or offset < 0:
        raise FhirBadRequest("invalid", f"_count must be 1..{MAX_COUNT}")
    return count, offset


def search(data_dir: Path, facility: str, kind: str, query: Mapping[str, list[str]], base: str,
           faults: Any) -> dict[str, Any]:
    """One page of a search (a Bundle), or raises :class:`FhirBadRequest`.

    Args:
        data_dir: the data root.
        facility: the facility code.
        kind: ``Immunization`` or ``Patient``.
        query: the parsed query (all values of every parameter).
        base: ``http://host:port/<facility>/fhir`` as the client addressed it (for links).
        faults: ``take(modes, page)`` of the server state (FHIR fault modes).
    """
    count, offset = _count(query)
    page = offset // count + 1
    include = query.get("_include", [])
    if kind == "Immunization":
        start, end = _window(query)
        if include and include != ["Immunization:patient"]:
            raise FhirBadRequest("not-supported", "only _include=Immunization:patient is supported")
        if include and faults({"include_not_supported"}, page):
            raise FhirBadRequest("not-supported", "_include is not supported by this server")
        rows = [r for r in _resources(data_dir, facility, "Immunization")
                if (start is None or r.updated >= start) and (end is None or r.updated < end)]
    elif kind == "Patient":
        wanted = {i for v in query.get("_id", []) for i in v.split(",") if i}
        if not wanted:
            raise FhirBadRequest("invalid", "a Patient search needs _id")
        rows = [r for r in _resources(data_dir, facility, "Patient") if r.resource.get("id") in wanted]
    else:
        raise FhirBadRequest("not-supported", "resource type not supported")
    served_offset = offset
    if page > 1 and faults({"repeat_page"}, page):
        served_offset = offset - count
    chunk = rows[served_offset: served_offset + count]
    entries: list[dict[str, Any]] = [{"fullUrl": f"{base}/{kind}/{r.resource.get('id')}", "resource": r.resource,
                                      "search": {"mode": "match"}} for r in chunk]
    if kind == "Immunization" and include and not faults({"no_include"}, page):
        patients = {r.resource.get("id"): r.resource for r in _resources(data_dir, facility, "Patient")}
        added: set[str] = set()
        for r in chunk:
            ref = ((r.resource.get("patient") or {}).get("reference") or "").split("/")[-1]
            if ref in patients and ref not in added:
                added.add(ref)
                entries.append({"fullUrl": f"{base}/Patient/{ref}", "resource": patients[ref],
                                "search": {"mode": "include"}})
    params = [(k, v) for k, values in query.items() if k != OFFSET_PARAM for v in values]
    links = [{"relation": "self", "url": f"{base}/{kind}?{urlencode([*params, (OFFSET_PARAM, offset)])}"}]
    if offset + count < len(rows):
        nxt = f"{base}/{kind}?{urlencode([*params, (OFFSET_PARAM, offset + count)])}"
        if faults({"foreign_next"}, page):
            nxt = nxt.replace("://127.0.0.1", "://elsewhere.invalid", 1)
        links.append({"relation": "next", "url": nxt})
    return {"resourceType": "Bundle", "type": "searchset", "total": len(rows), "link": links, "entry": entries}


def parse_query(raw: str) -> dict[str, list[str]]:
    """All values of every parameter (``_lastUpdated`` appears twice)."""
    return parse_qs(raw, keep_blank_values=True)
