"""The facility/source registry (``config/facilities.yaml``) as typed, validated objects.

The registry holds no secrets: a facility that needs credentials names an Airflow connection
id; the credentials live in the connection (``AIRFLOW_CONN_*`` or a secrets backend).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

FACILITY_CODE = re.compile(r"^[0-9A-Z]{5}$")
SOURCE_KINDS = frozenset({"file_drop", "rest_api", "sql"})
ENCODINGS = frozenset({"auto", "utf-8", "utf-8-sig", "cp1258"})


class RegistryError(ValueError):
    """The registry is malformed; the message names the entry and the field."""


@dataclass(frozen=True)
class FacilityDataset:
    """What one facility sends for one dataset."""

    format: str
    encoding: str = "auto"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Facility:
    """One facility (or source system) in the registry."""

    code: str
    name: str
    province_code: str
    source_kind: str
    datasets: dict[str, FacilityDataset]
    conn_id: str | None = None
    active: bool = True


def parse_registry(raw: Any, where: str = "facilities.yaml") -> list[Facility]:
    """Validate the registry mapping.

    Args:
        raw: the parsed YAML.
        where: file name for messages.

    Returns:
        Facilities in file order.

    Raises:
        RegistryError: naming the entry (index and code) and field at fault.
    """
    if not isinstance(raw, dict) or not isinstance(raw.get("facilities"), list):
        raise RegistryError(f"{where}: expected a top-level 'facilities:' list")
    seen: set[str] = set()
    out: list[Facility] = []
    for i, entry in enumerate(raw["facilities"]):
        label = f"{where}: facilities[{i}]"
        if not isinstance(entry, dict):
            raise RegistryError(f"{label}: must be a mapping")
        code = str(entry.get("code", ""))
        label = f"{label} (code {code or '?'})"
        if not FACILITY_CODE.match(code):
            raise RegistryError(f"{label}: field 'code' must be 5 characters [0-9A-Z] (quote it in YAML to keep leading zeros)")
        if code in seen:
            raise RegistryError(f"{label}: duplicate facility code")
        seen.add(code)
        kind = entry.get("source_kind")
        if kind not in SOURCE_KINDS:
            raise RegistryError(f"{label}: field 'source_kind' must be one of {sorted(SOURCE_KINDS)}")
        datasets_raw = entry.get("datasets")
        if not isinstance(datasets_raw, dict) or not datasets_raw:
            raise RegistryError(f"{label}: field 'datasets' must map dataset -> {{format: ...}}")
        datasets: dict[str, FacilityDataset] = {}
        for ds, spec in datasets_raw.items():
            if not isinstance(spec, dict) or "format" not in spec:
                raise RegistryError(f"{label}: field 'datasets.{ds}.format' is required")
            encoding = str(spec.get("encoding", "auto"))
            if encoding not in ENCODINGS:
                raise RegistryError(f"{label}: field 'datasets.{ds}.encoding' must be one of {sorted(ENCODINGS)}")
            options = {k: v for k, v in spec.items() if k not in ("format", "encoding")}
            datasets[str(ds)] = FacilityDataset(format=str(spec["format"]), encoding=encoding, options=options)
        province = str(entry.get("province_code", ""))
        if not re.match(r"^\d{2}$", province):
            raise RegistryError(f"{label}: field 'province_code' must be 2 digits (quoted)")
        out.append(
            Facility(
                code=code,
                name=str(entry.get("name", "")),
                province_code=province,
                source_kind=str(kind),
                datasets=datasets,
                conn_id=entry.get("conn_id"),
                active=bool(entry.get("active", True)),
            )
        )
    return out


def load_registry(path: Path) -> list[Facility]:
    """Load and validate the registry file (a local file read; fine at parse time)."""
    if not path.is_file():
        raise RegistryError(f"facility registry not found: {path}")
    with path.open(encoding="utf-8") as fh:
        return parse_registry(yaml.safe_load(fh), where=path.name)


def facilities_for(dataset: str, facilities: list[Facility]) -> list[Facility]:
    """Active facilities that send ``dataset``, sorted by code."""
    return sorted((f for f in facilities if f.active and dataset in f.datasets), key=lambda f: f.code)
