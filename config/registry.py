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
CONN_ID = re.compile(r"^[A-Za-z0-9_-]{1,250}$")
#: source-level option -> (kinds it applies to, check, what it must be)
SOURCE_OPTIONS: dict[str, tuple[frozenset[str], Any, str]] = {
    "pagination": (frozenset({"rest_api"}), lambda v: v in ("page", "cursor"), "'page' or 'cursor'"),
    "page_size": (frozenset({"rest_api"}), lambda v: isinstance(v, int) and 0 < v <= 10_000, "an integer 1-10000"),
    "timeout_s": (frozenset({"rest_api"}), lambda v: isinstance(v, (int, float)) and 0 < v <= 600, "seconds, 0-600"),
    "max_attempts": (frozenset({"rest_api"}), lambda v: isinstance(v, int) and 1 <= v <= 20, "an integer 1-20"),
    "max_pages": (frozenset({"rest_api"}), lambda v: isinstance(v, int) and 1 <= v <= 100_000, "an integer 1-100000"),
    "chunk_rows": (frozenset({"sql"}), lambda v: isinstance(v, int) and 0 < v <= 1_000_000, "an integer 1-1000000"),
    "schema": (frozenset({"sql"}), lambda v: isinstance(v, str) and v.isidentifier(), "an SQL identifier"),
}
#: per-dataset fields a source kind requires
DATASET_FIELDS = {"rest_api": ("path",), "sql": ("table", "cursor_column")}


class RegistryError(ValueError):
    """The registry is malformed; the message names the entry and the field."""


@dataclass(frozen=True)
class FacilityDataset:
    """What one facility sends for one dataset."""

    format: str
    encoding: str = "auto"
    #: source fields (rest_api ``path``; sql ``table``, ``cursor_column``, ``key_column``)
    options: dict[str, Any] = field(default_factory=dict)
    #: overrides of the dataset contract's rule options for this facility's data (validated
    #: against the contract: an unknown option or a bad value fails the registry)
    rule_options: dict[str, Any] = field(default_factory=dict)


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
    #: source-level options (rest_api: pagination, page_size, timeout_s, max_attempts;
    #: sql: chunk_rows, schema)
    options: dict[str, Any] = field(default_factory=dict)


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
            options = {k: v for k, v in spec.items() if k not in ("format", "encoding", "rule_options")}
            codes = options.get("envelope_codes", [])
            if not isinstance(codes, list) or not all(isinstance(c, str) and FACILITY_CODE.match(c) for c in codes):
                raise RegistryError(f"{label}: field 'datasets.{ds}.envelope_codes' must be a list of facility codes "
                                    "(5 characters [0-9A-Z], quoted)")
            if options.get("envelope_check") is False:  # YAML 1.1 reads an unquoted `off` as false
                options["envelope_check"] = "off"
            if options.get("envelope_check", "warn") not in ("warn", "error", "off"):
                raise RegistryError(f"{label}: field 'datasets.{ds}.envelope_check' must be warn, error or off")
            rule_options = _rule_options(label, str(ds), spec.get("rule_options"))
            datasets[str(ds)] = FacilityDataset(format=str(spec["format"]), encoding=encoding, options=options,
                                                rule_options=rule_options)
        conn_id = entry.get("conn_id")
        options = entry.get("options") or {}
        if not isinstance(options, dict):
            raise RegistryError(f"{label}: field 'options' must be a mapping")
        if kind != "file_drop":
            if not isinstance(conn_id, str) or not CONN_ID.match(conn_id):
                raise RegistryError(f"{label}: field 'conn_id' is required for source_kind {kind} "
                                    "(an Airflow connection id: letters, digits, _ and -)")
            _check_options(label, str(kind), options, datasets)
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
                conn_id=conn_id,
                active=bool(entry.get("active", True)),
                options=dict(options),
            )
        )
    return out


def _rule_options(label: str, dataset: str, raw: Any) -> dict[str, Any]:
    """A facility's overrides of a dataset's rule options, checked against the dataset contract."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise RegistryError(f"{label}: field 'datasets.{dataset}.rule_options' must be a mapping")
    if not raw:
        return {}
    from config.contracts import ContractError, load_contract

    try:
        contract = load_contract(dataset)
        contract.resolve_options(raw)
    except ContractError as exc:
        raise RegistryError(f"{label}: field 'datasets.{dataset}.rule_options': {exc}") from None
    fixed = sorted(k for k in raw if contract.options[k].scope != "rules")
    if fixed:
        raise RegistryError(f"{label}: field 'datasets.{dataset}.rule_options': {fixed} are derivation options of "
                            f"{dataset}, set in its contract for every facility")
    return dict(raw)


def _check_options(label: str, kind: str, options: dict[str, Any], datasets: dict[str, FacilityDataset]) -> None:
    for key, value in options.items():
        if key not in SOURCE_OPTIONS:
            raise RegistryError(f"{label}: field 'options.{key}' is not a known option ({sorted(SOURCE_OPTIONS)})")
        kinds, check, what = SOURCE_OPTIONS[key]
        if kind not in kinds:
            raise RegistryError(f"{label}: field 'options.{key}' does not apply to source_kind {kind}")
        if not check(value):
            raise RegistryError(f"{label}: field 'options.{key}' must be {what}")
    for ds, spec in datasets.items():
        for name in DATASET_FIELDS[kind]:
            if not isinstance(spec.options.get(name), str) or not spec.options[name]:
                raise RegistryError(f"{label}: field 'datasets.{ds}.{name}' is required for source_kind {kind}")


#: Parsed registries of this process, keyed by the file's identity (path, size, mtime): a national
#: registry (13,000 entries) takes seconds to parse, so a process parses it once, and again only
#: when the file changes.
_CACHE: dict[Path, tuple[tuple[int, int], list[Facility], dict[str, Facility]]] = {}
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: several times faster


def _cached(path: Path) -> tuple[list[Facility], dict[str, Facility]]:
    try:
        st = path.stat()
    except OSError:
        raise RegistryError(f"facility registry not found: {path}") from None
    if not path.is_file():
        raise RegistryError(f"facility registry not found: {path}")
    stamp = (st.st_size, st.st_mtime_ns)
    hit = _CACHE.get(path)
    if hit is not None and hit[0] == stamp:
        return hit[1], hit[2]
    with path.open(encoding="utf-8") as fh:
        facilities = parse_registry(yaml.load(fh, Loader=_Loader), where=path.name)
    index = {f.code: f for f in facilities}
    _CACHE[path] = (stamp, facilities, index)
    return facilities, index


def load_registry(path: Path) -> list[Facility]:
    """Load and validate the registry file, once per process while the file is unchanged.

    The returned list is shared: treat it as read-only.
    """
    return list(_cached(Path(path))[0])


def facility_index(path: Path) -> dict[str, Facility]:
    """The registry as ``code -> Facility`` (cached like :func:`load_registry`; read-only)."""
    return _cached(Path(path))[1]


def facilities_for(dataset: str, facilities: list[Facility]) -> list[Facility]:
    """Active facilities that send ``dataset``, sorted by code."""
    return sorted((f for f in facilities if f.active and dataset in f.datasets), key=lambda f: f.code)
