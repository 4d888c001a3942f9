"""The one-way arrows of docs/design.md#dependencies, read from every module's import statements."""
import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("teamlora", "llava", "eval", "bench")
# package -> the project packages it may import (itself always allowed)
ALLOWED = {
    "teamlora": set(),
    "eval": set(),
    "llava": {"teamlora", "eval"},
    "bench": {"teamlora", "llava", "eval"},
}


def imported_top_levels(path: Path) -> list[tuple[int, str]]:
    """(line, top-level module) for every absolute import in one file, nested imports included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def violations(package: str, forbidden: set[str]) -> list[str]:
    bad = []
    for path in sorted((REPO / package).rglob("*.py")):
        for line, top in imported_top_levels(path):
            if top in forbidden:
                bad.append(f"{path.relative_to(REPO)}:{line} imports {top}")
    return bad


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_one_way(package):
    forbidden = set(PACKAGES) - ALLOWED[package] - {package}
    assert violations(package, forbidden) == []


def test_eval_scorers_run_without_torch():
    assert violations("eval", {"torch", "transformers"}) == []


def test_the_check_sees_a_wrong_arrow(tmp_path, monkeypatch):
    """A module of teamlora that imports llava inside a function is caught, with file and line."""
    (tmp_path / "teamlora").mkdir()
    (tmp_path / "teamlora" / "bad.py").write_text("import os\n\n\ndef f():\n    from llava.data import x\n")
    monkeypatch.setattr(f"{__name__}.REPO", tmp_path)
    assert violations("teamlora", {"llava"}) == ["teamlora/bad.py:5 imports llava"]
