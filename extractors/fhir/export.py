"""References resolved within one export: an index of the resources ``resolve()`` may reach.

FHIR resources reference each other (``Immunization.patient`` -> ``Patient/123``). A Bulk Data
export puts each resource type in its own NDJSON file (``Immunization.ndjson`` beside
``Patient.ndjson``); a search with ``_include`` puts the referenced resources on the same pages
(``search.mode = include``), and a second query may land the rest. Either way the batch's raw
folder holds the whole export, so a reference is resolved against the other files of that folder
and nothing else - never against another facility, another night or a live server.

Only what the view needs is kept: for every resource of a referenced type, the values of the
paths the view evaluates after ``resolve()`` (a few short strings per patient), keyed by
``Type/id`` (and by ``fullUrl`` for bundle entries). The index of a folder is built once per
process and reused while its files are unchanged (a REST batch of many pages reads it once).
"""

from __future__ import annotations

import fnmatch
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from extractors.fhir.fhirpath import evaluate, reference_key
from extractors.fhir.views import View, load_view
from extractors.formats import json_value_text, parse_json, parse_json_noting_repeats, repeat_within

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportIndex:
    """The referenced resources of one export, projected on the view's resolved paths."""

    #: ``Type/id`` or full URL -> one value per :attr:`View.resolved_paths` entry
    entries: dict[str, tuple[str | None, ...]]
    #: the files it was built from (names only)
    files: tuple[str, ...]

    def lookup(self, reference: Any) -> tuple[str | None, ...] | None:
        """The projected values of the resource ``reference`` (a Reference object or string)."""
        ref = reference.get("reference") if isinstance(reference, dict) else reference
        key = reference_key(ref)
        return self.entries.get(key) if key is not None else None


def first_text(values: list[Any]) -> str | None:
    """The first value of a collection as the readers' text (numbers as written, booleans 1/0)."""
    for value in values:
        text = json_value_text(value)
        if text is not None:
            return text
    return None


def _project(view: View, resource: dict[str, Any]) -> tuple[str | None, ...]:
    return tuple(first_text(evaluate(p, resource)) for p in view.resolved_paths)


def _ndjson_resources(path: Path) -> Iterator[tuple[dict[str, Any], str | None]]:
    try:
        with path.open("r", encoding="utf-8-sig", errors="strict", newline="\n") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    obj = parse_json(line)
                except (ValueError, RecursionError):
                    continue  # reported when the file itself is read
                if isinstance(obj, dict):
                    yield obj, None
    except (UnicodeDecodeError, OSError):
        log.warning("export index: %s could not be read to the end; its later resources do not resolve", path.name)


def page_repeats(doc: Any, repeats: dict[int, str]) -> tuple[str | None, list[str | None]]:
    """Where a search page's repeated keys are (``repeats`` from ``parse_json_noting_repeats``).

    Returns the label of a repeated key outside the page's entries (the Bundle itself, its type,
    links, or an ``entry`` that is not a list: the whole page is ambiguous), or None; and per
    entry, the label of one repeated inside it, or None (``[]`` when there is nothing to say).
    """
    if not repeats:
        return None, []
    entries = doc.get("entry") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        return next(iter(repeats.values())), []
    outside = repeats.get(id(doc)) or repeat_within({k: v for k, v in doc.items() if k != "entry"}, repeats)
    return outside, [repeat_within(entry, repeats) for entry in entries]


def _bundle_resources(path: Path) -> Iterator[tuple[dict[str, Any], str | None]]:
    try:
        doc, repeats = parse_json_noting_repeats(path.read_text(encoding="utf-8-sig", errors="strict"))
    except (UnicodeDecodeError, ValueError, RecursionError, OSError):
        return
    if not isinstance(doc, dict) or doc.get("resourceType") != "Bundle" or not isinstance(doc.get("entry"), list):
        return
    outside, spoiled = page_repeats(doc, repeats)
    if outside:
        return  # the page's envelope is ambiguous: none of it resolves (the page itself is rejected)
    for i, entry in enumerate(doc["entry"]):
        if spoiled and spoiled[i]:
            continue  # an entry that repeats a key resolves nothing (its own row, if any, is an error)
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
            full = entry.get("fullUrl")
            yield entry["resource"], full if isinstance(full, str) else None


def build_index(files: list[Path], view: View, kind: str) -> ExportIndex:
    """Index the resources of ``view.references`` types found in ``files``.

    Args:
        files: the export's other files (NDJSON or bundle pages).
        view: the view (which types, which paths).
        kind: ``ndjson`` or ``bundle``.
    """
    entries: dict[str, tuple[str | None, ...]] = {}
    types = set(view.references)
    read = _ndjson_resources if kind == "ndjson" else _bundle_resources
    for path in files:
        for resource, full_url in read(path):
            rtype, rid = resource.get("resourceType"), resource.get("id")
            if rtype not in types:
                continue
            values = _project(view, resource)
            if isinstance(rid, str) and rid:
                entries[f"{rtype}/{rid}"] = values
            if full_url:
                entries[reference_key(full_url) or full_url] = values
    return ExportIndex(entries, tuple(p.name for p in files))


def _matching(folder: Path, patterns: tuple[str, ...]) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and any(fnmatch.fnmatchcase(p.name, pat) for pat in patterns))


@lru_cache(maxsize=8)
def _cached(folder: str, view_name: str, kind: str, stamp: tuple[tuple[str, int, int], ...]) -> ExportIndex:
    files = [Path(folder) / name for name, _size, _mtime in stamp]
    return build_index(files, load_view(view_name), kind)


def export_index(folder: Path, view_name: str, patterns: tuple[str, ...], kind: str) -> ExportIndex:
    """The index of one export folder (cached while its matching files are unchanged).

    Args:
        folder: the batch's raw folder.
        view_name: the view whose references and resolved paths to index.
        patterns: file-name patterns of the files holding referenced resources
            (``Patient*.ndjson``; ``*.json`` for bundle pages).
        kind: ``ndjson`` or ``bundle``.
    """
    files = _matching(folder, patterns)
    stamp = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    return _cached(str(folder), view_name, kind, stamp)


def describe_files(index: ExportIndex) -> str:
    """A short, content-free description for logs."""
    return json.dumps({"files": len(index.files), "resources": len(index.entries)})
