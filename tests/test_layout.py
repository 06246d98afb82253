"""Project shape (STYLE P3/P19): every package folder is importable, and the dependency graph
between top-level packages is the one ARCHITECTURE.md draws (listed edge by edge below)."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ["cli", "config", "extractors", "transforms", "expectations", "loaders", "pipeline", "sample_data", "bench",
            "tests"]

#: package -> the top-level packages it may import (any import: module level, in a function, or
#: under TYPE_CHECKING). Layers, bottom up: config (settings, contracts, registry, errors);
#: transforms (pure functions) and extractors; expectations and loaders; pipeline; dags and the
#: command-line entry points (cli). Nothing imports dags or cli; only the entry points, the
#: benchmarks and the tests import sample_data.
ALLOWED: dict[str, set[str]] = {
    "config": set(),
    "transforms": {"config"},
    "extractors": {"config"},
    "expectations": {"config", "transforms"},
    "loaders": {"config", "transforms"},
    "pipeline": {"config", "extractors", "transforms", "expectations", "loaders"},
    "dags": {"config", "pipeline"},
    "cli": {"config", "loaders", "pipeline", "sample_data"},
    "sample_data": {"config"},
    "bench": {"config", "expectations", "extractors", "loaders", "pipeline", "sample_data", "tests", "transforms"},
}
PRODUCT = ("config", "transforms", "extractors", "expectations", "loaders", "pipeline", "dags")
TOP = set(ALLOWED) | {"tests"}


def _py_dirs():
    for top in PACKAGES:
        for folder in [REPO / top, *sorted(p for p in (REPO / top).rglob("*") if p.is_dir())]:
            if "__pycache__" not in folder.parts and any(folder.glob("*.py")):
                yield folder


@pytest.mark.parametrize("folder", list(_py_dirs()), ids=lambda p: str(p.relative_to(REPO)))
def test_every_python_folder_is_a_package(folder):
    assert (folder / "__init__.py").exists()


def _modules(path: Path) -> set[str]:
    """Every absolute module name ``path`` imports (anywhere in the file)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def _files():
    for path in sorted(REPO.rglob("*.py")):
        if {".venv", ".work", "build"} & set(path.parts):
            continue
        yield path


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _top(path: Path) -> str:
    rel = path.relative_to(REPO)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def test_dependencies_follow_the_allowed_edges():
    wrong = []
    for path in _files():
        src = _top(path)
        if src not in ALLOWED:
            continue
        for name in _modules(path):
            dst = name.split(".")[0]
            if dst in TOP and dst != src and dst not in ALLOWED[src]:
                wrong.append(f"{path.relative_to(REPO)} imports {name} ({src} -> {dst} is not an allowed edge)")
    assert wrong == []


def test_transforms_stay_free_of_io_layers():
    for path in (REPO / "transforms").rglob("*.py"):
        tops = {n.split(".")[0] for n in _modules(path)}
        assert not tops & {"airflow", "sqlalchemy", "great_expectations"}, path


def test_no_two_modules_import_each_other():
    """A module pair importing each other (e.g. loaders.migrate <-> loaders.staging) is a cycle."""
    known = {_module_name(p): p for p in _files() if _top(p) in PRODUCT or _top(p) in ("cli", "sample_data")}
    edges = {name: {m for m in _modules(path) if m in known and m != name} for name, path in known.items()}
    pairs = sorted({tuple(sorted((a, b))) for a, out in edges.items() for b in out if a in edges.get(b, set())})
    # a package's __init__ re-exporting its own submodules is not a cycle
    pairs = [(a, b) for a, b in pairs if not (b.startswith(a + ".") or a.startswith(b + "."))]
    assert pairs == []


def test_the_graph_check_sees_a_forbidden_edge(tmp_path):
    # The checker itself must fail on a violation (an extractor importing the pipeline).
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from pipeline.errors import TransportError\n", encoding="utf-8")
    assert "pipeline.errors" in _modules(bad) and "pipeline" not in ALLOWED["extractors"]
