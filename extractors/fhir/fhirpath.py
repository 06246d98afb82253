"""A small, safe subset of FHIRPath for flattening FHIR resources into columns.

A view column (``config/fhir/<view>.yaml``) names the value it takes with a path such as
``vaccineCode.coding.where(system='http://hl7.org/fhir/sid/cvx').code`` or
``patient.resolve().identifier.where(system='...').value``. Supported, with FHIRPath's collection
semantics (every step maps over a list and flattens; a missing element is an empty collection):

* member navigation ``a.b.c`` (a leading resource type, ``Immunization.status``, is allowed);
* ``where(<path> = '<text>' [or|and <path> = '<text>' ...])`` - keep the items whose sub-path has
  a value equal to the literal (``or``/``and`` evaluated left to right);
* ``extension('<url>')`` - the item's extensions with that url;
* ``first()`` - the first item;
* ``resolve()`` - the resource a ``Reference`` points to, *within the same export* (the readers
  answer it from an index of the export's other files; see :mod:`extractors.fhir.export`).

Nothing else is accepted (no arithmetic, no function calls outside the list above), so a view is
data, not code: :func:`compile_path` raises :class:`PathError` naming the position of anything it
does not know.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<string>'(?:[^'\\]|\\.)*')|(?P<op>[().=,]))")
FUNCTIONS = frozenset({"where", "extension", "first", "resolve"})


class PathError(ValueError):
    """A view path that is not in the supported subset (the message names the position)."""


@dataclass(frozen=True)
class Step:
    """One step of a path: a member name, or a function with its argument."""

    name: str
    function: bool = False
    #: ``extension``: the url; ``where``: the condition
    arg: Any = None


@dataclass(frozen=True)
class Condition:
    """``where`` argument: comparisons joined left to right by ``or`` / ``and``."""

    comparisons: tuple[tuple[tuple[Step, ...], str], ...]
    joins: tuple[str, ...]


@dataclass(frozen=True)
class Path:
    """A compiled path (its text kept for messages and as an index key)."""

    text: str
    steps: tuple[Step, ...]

    def split_resolve(self) -> tuple[Path, Path] | None:
        """``(before, after)`` around the first ``resolve()``, or None when there is none."""
        for i, step in enumerate(self.steps):
            if step.function and step.name == "resolve":
                after = self.steps[i + 1:]
                return Path(self.text, self.steps[:i]), Path(_text(after), after)
        return None


def _text(steps: Iterable[Step]) -> str:
    parts = []
    for s in steps:
        if not s.function:
            parts.append(s.name)
        elif s.name == "extension":
            parts.append(f"extension('{s.arg}')")
        elif s.name == "where":
            cond = s.arg
            terms = [f"{_text(left)} = '{lit}'" for left, lit in cond.comparisons]
            text = terms[0] + "".join(f" {j} {t}" for j, t in zip(cond.joins, terms[1:], strict=True))
            parts.append(f"where({text})")
        else:
            parts.append(f"{s.name}()")
    return ".".join(parts)


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise PathError(f"unexpected character at position {pos + 1} of the path")
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "string":
            value = value[1:-1].replace("\\'", "'").replace("\\\\", "\\")
        out.append((kind, value, m.start(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, kind: str, value: str | None = None) -> str:
        tok = self.peek()
        if tok is None or tok[0] != kind or (value is not None and tok[1] != value):
            where = f"position {tok[2] + 1}" if tok else "the end"
            raise PathError(f"expected {value or kind} at {where} of the path")
        self.i += 1
        return tok[1]

    def path(self) -> tuple[Step, ...]:
        steps = [self.step()]
        while (tok := self.peek()) is not None and tok[:2] == ("op", "."):
            self.i += 1
            steps.append(self.step())
        return tuple(steps)

    def step(self) -> Step:
        name = self.take("name")
        tok = self.peek()
        if tok is None or tok[:2] != ("op", "("):
            return Step(name)
        if name not in FUNCTIONS:
            raise PathError(f"function {name}() is not supported (only {', '.join(sorted(FUNCTIONS))})")
        self.i += 1
        arg: Any = None
        if name == "extension":
            arg = self.take("string")
        elif name == "where":
            arg = self.condition()
        self.take("op", ")")
        return Step(name, True, arg)

    def condition(self) -> Condition:
        comparisons = [self.comparison()]
        joins: list[str] = []
        while (tok := self.peek()) is not None and tok[0] == "name" and tok[1] in ("or", "and"):
            self.i += 1
            joins.append(tok[1])
            comparisons.append(self.comparison())
        return Condition(tuple(comparisons), tuple(joins))

    def comparison(self) -> tuple[tuple[Step, ...], str]:
        left = self.path()
        self.take("op", "=")
        return left, self.take("string")


def compile_path(text: str) -> Path:
    """Compile a path of the supported subset.

    Raises:
        PathError: naming what is not supported and where.
    """
    parser = _Parser(text)
    if not parser.toks:
        raise PathError("empty path")
    steps = parser.path()
    if parser.peek() is not None:
        raise PathError(f"unexpected text at position {parser.peek()[2] + 1} of the path")  # type: ignore[index]
    return Path(text, steps)


Resolver = Callable[[Any], Any]


def _members(items: list[Any], name: str) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if isinstance(item, dict):
            value = item.get(name)
            if isinstance(value, list):
                out.extend(v for v in value if v is not None)
            elif value is not None:
                out.append(value)
    return out


def _holds(item: Any, cond: Condition, resolver: Resolver | None) -> bool:
    result = False
    for k, (left, literal) in enumerate(cond.comparisons):
        values = _run(left, [item], resolver)
        this = any(isinstance(v, str) and v == literal for v in values)
        if k == 0:
            result = this
        elif cond.joins[k - 1] == "or":
            result = result or this
        else:
            result = result and this
    return result


def _run(steps: tuple[Step, ...], items: list[Any], resolver: Resolver | None) -> list[Any]:
    for step in steps:
        if not step.function:
            items = _members(items, step.name)
        elif step.name == "where":
            items = [i for i in items if _holds(i, step.arg, resolver)]
        elif step.name == "extension":
            items = [e for e in _members(items, "extension") if isinstance(e, dict) and e.get("url") == step.arg]
        elif step.name == "first":
            items = items[:1]
        elif step.name == "resolve":
            if resolver is None:
                return []
            items = [r for r in (resolver(i) for i in items) if r is not None]
        if not items:
            return []
    return items


def evaluate(path: Path, resource: dict[str, Any], resolver: Resolver | None = None) -> list[Any]:
    """The collection ``path`` selects in ``resource`` (``resolver`` answers ``resolve()``)."""
    steps = path.steps
    if steps and not steps[0].function and steps[0].name[:1].isupper() and steps[0].name == resource.get("resourceType"):
        steps = steps[1:]
    return _run(steps, [resource], resolver)


def reference_key(reference: Any) -> str | None:
    """``Type/id`` of a reference string (relative, absolute URL, with ``/_history/n``), or a
    ``urn:uuid:``/``urn:oid:`` full URL as is; None when it is not a resolvable reference."""
    if not isinstance(reference, str) or not reference:
        return None
    if reference.startswith(("urn:uuid:", "urn:oid:")):
        return reference
    if reference.startswith("#"):
        return None  # a contained resource: not part of the export
    parts = [p for p in reference.split("?", 1)[0].split("/") if p]
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    if len(parts) < 2 or not parts[-2][:1].isupper():
        return None
    return f"{parts[-2]}/{parts[-1]}"
