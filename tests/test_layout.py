"""Project shape (STYLE P3/P19): every package folder is importable, nothing imports from dags/,
and transforms/ stays free of I/O-layer imports."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ["config", "extractors", "transforms", "expectations", "loaders", "pipeline", "sample_data", "bench", "tests"]


def _py_dirs():
    for top in PACKAGES:
        for folder in [REPO / top, *sorted(p for p in (REPO / top).rglob("*") if p.is_dir())]:
            if "__pycache__" not in folder.parts and any(folder.glob("*.py")):
                yield folder


@pytest.mark.parametrize("folder", list(_py_dirs()), ids=lambda p: str(p.relative_to(REPO)))
def test_every_python_folder_is_a_package(folder):
    assert (folder / "__init__.py").exists()


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_dependencies_point_one_way():
    for path in REPO.rglob("*.py"):
        if {".venv", ".work"} & set(path.parts):
            continue
        rel = path.relative_to(REPO)
        imported = _imports(path)
        assert "dags" not in imported, f"{rel} imports from dags/"
        if rel.parts[0] == "transforms":
            assert not imported & {"extractors", "loaders", "expectations", "pipeline", "airflow", "sqlalchemy"}, rel
