"""The package stays in small rooms: no function over 80 lines, no class over 250 and no
module over 500 in ``src/cadenza`` (data tables excepted);
``tests/test_cli_shape.py`` holds the commands to 60 lines.

A room that grows past these sizes is where every new feature piles up; this test names it
so that it is split while the split is still easy.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "cadenza"
MAX_FUNCTION, MAX_CLASS, MAX_MODULE = 80, 250, 500


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _is_data_table(tree: ast.Module) -> bool:
    """A module that only binds constants (a table of facts) may run long."""
    return all(isinstance(node, (ast.Assign, ast.AnnAssign, ast.Expr, ast.ImportFrom,
                                 ast.Import)) for node in tree.body)


def oversized(path: Path, root: Path = SRC.parent) -> list[str]:
    """What in ``path`` exceeds the limits, one line each (named relative to ``root``)."""
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    where = path.relative_to(root)
    found = []
    lines = len(text.splitlines())
    if lines > MAX_MODULE and not _is_data_table(tree):
        found.append(f"{where}: module of {lines} lines (at most {MAX_MODULE})")
    for node in ast.walk(tree):
        size = (node.end_lineno or node.lineno) - node.lineno + 1 if hasattr(node, "lineno") \
            else 0
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and size > MAX_FUNCTION:
            found.append(f"{where}:{node.lineno} function {node.name} of {size} lines "
                         f"(at most {MAX_FUNCTION})")
        if isinstance(node, ast.ClassDef) and size > MAX_CLASS:
            found.append(f"{where}:{node.lineno} class {node.name} of {size} lines "
                         f"(at most {MAX_CLASS})")
    return found


def test_the_package_has_modules() -> None:
    assert len(_modules()) > 50


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_no_room_outgrows_its_limit(path: Path) -> None:
    assert oversized(path) == []


def test_the_check_sees_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION))
    module = tmp_path / "probe.py"
    module.write_text(f"def long():\n{body}\n", encoding="utf-8")
    assert oversized(module, tmp_path) == ["probe.py:1 function long of 81 lines (at most 80)"]

