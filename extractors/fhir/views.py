"""FHIR views: how a resource type becomes one flat row of named string columns.

A view (``config/fhir/<name>.yaml``, in the spirit of SQL-on-FHIR's ``ViewDefinition``) names the
resource type it flattens, the resource types ``resolve()`` may reach within an export, and one
path (or a list of alternative paths, the first that has a value wins) per column. The contract's
source tags of a FHIR format are these column names, so the mapping from a FHIR profile to the
canonical columns is data, reviewed next to the profile it follows::

    view: vn_core_immunization
    version: "2026-11-30"
    resource: Immunization
    references: [Patient]
    columns:
      - {name: status, path: status}
      - {name: personal_id, path: "patient.resolve().identifier.where(system='...').value"}
      - {name: patient_in_export, path: patient, resolved: true}

A column with ``resolved: true`` says whether the Reference its path selects was found in the
export: ``"1"``, ``"0"`` (the reference names a resource the export does not hold), or NULL (no
literal reference, e.g. only a logical ``identifier``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from extractors.fhir.fhirpath import Path as FhirPath
from extractors.fhir.fhirpath import PathError, compile_path

VIEW_DIR = Path(__file__).resolve().parents[2] / "config" / "fhir"
_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


class ViewError(ValueError):
    """A view file is missing or malformed (the message names the file, column and problem)."""


@dataclass(frozen=True)
class Alternative:
    """One path of a column: direct, or through ``resolve()`` (``after`` runs on the target)."""

    path: FhirPath
    before: FhirPath | None = None
    after: FhirPath | None = None


@dataclass(frozen=True)
class ViewColumn:
    """One output column of a view."""

    name: str
    alternatives: tuple[Alternative, ...]
    #: the value is whether the selected Reference resolves within the export ("1"/"0"/NULL)
    resolved: bool = False


@dataclass(frozen=True)
class View:
    """A parsed view."""

    name: str
    version: str
    resource: str
    references: tuple[str, ...]
    columns: tuple[ViewColumn, ...]

    @property
    def column_names(self) -> list[str]:
        """The output columns, in view order."""
        return [c.name for c in self.columns]

    @property
    def resolved_paths(self) -> list[FhirPath]:
        """Every distinct path evaluated on a resolved resource (the export index projects these)."""
        seen: dict[str, FhirPath] = {}
        for col in self.columns:
            for alt in col.alternatives:
                if alt.after is not None:
                    seen.setdefault(alt.after.text, alt.after)
        return list(seen.values())


def parse_view(raw: Any, where: str) -> View:
    """Validate a view mapping.

    Raises:
        ViewError: naming the file, the column and what is wrong.
    """
    if not isinstance(raw, dict):
        raise ViewError(f"{where}: top level must be a mapping")
    for key in ("view", "version", "resource", "columns"):
        if key not in raw:
            raise ViewError(f"{where}: missing field '{key}'")
    references = tuple(str(r) for r in raw.get("references") or ())
    columns: list[ViewColumn] = []
    names: set[str] = set()
    if not isinstance(raw["columns"], list) or not raw["columns"]:
        raise ViewError(f"{where}: columns must be a non-empty list")
    for i, col in enumerate(raw["columns"]):
        w = f"{where}: columns[{i}]"
        if not isinstance(col, dict) or "name" not in col or "path" not in col:
            raise ViewError(f"{w}: needs 'name' and 'path'")
        name = str(col["name"])
        if not name or set(name) - _NAME_OK or name in names:
            raise ViewError(f"{w}: name must be unique, lower-case letters, digits and _")
        names.add(name)
        texts = col["path"] if isinstance(col["path"], list) else [col["path"]]
        alternatives = []
        for text in texts:
            try:
                path = compile_path(str(text))
            except PathError as exc:
                raise ViewError(f"{w} ({name}): {exc}") from None
            split = path.split_resolve()
            if split is not None and not references:
                raise ViewError(f"{w} ({name}): resolve() needs the view to list its 'references'")
            alternatives.append(Alternative(path, *split) if split else Alternative(path))
        resolved = bool(col.get("resolved", False))
        if resolved and (len(alternatives) != 1 or alternatives[0].after is not None):
            raise ViewError(f"{w} ({name}): a 'resolved' column takes one path to a Reference")
        columns.append(ViewColumn(name, tuple(alternatives), resolved))
    return View(str(raw["view"]), str(raw["version"]), str(raw["resource"]), references, tuple(columns))


@cache
def load_view(name: str) -> View:
    """Load ``config/fhir/<name>.yaml`` (once per process).

    Raises:
        ViewError: the file is missing or malformed.
    """
    if not name or set(name) - _NAME_OK:
        raise ViewError(f"view name {name!r} is not a plain name")
    path = VIEW_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ViewError(f"no FHIR view called '{name}' (expected {path})")
    with path.open(encoding="utf-8") as fh:
        return parse_view(yaml.safe_load(fh), path.name)
