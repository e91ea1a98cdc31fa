"""Every command is option parsing plus a call into the library: no command function runs
past 60 lines (its options included)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CLI = Path(__file__).resolve().parents[1] / "src" / "cadenza" / "cli"
MAX_COMMAND_LINES = 60


def _commands(path: Path) -> list[tuple[str, int]]:
    """Name and length in lines of each ``@app.command`` function of ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef) and any(
                "command" in ast.unparse(decorator) for decorator in node.decorator_list):
            found.append((node.name, node.end_lineno - node.lineno + 1))  # type: ignore[operator]
    return found


@pytest.mark.parametrize("path", sorted(CLI.glob("*.py")), ids=lambda p: p.name)
def test_command_functions_fit_on_a_screen(path: Path) -> None:
    long = [(name, lines) for name, lines in _commands(path) if lines > MAX_COMMAND_LINES]
    assert not long, f"{path.name}: {long}"


def test_the_training_commands_are_found() -> None:
    names = {name for path in CLI.glob("*.py") for name, _ in _commands(path)}
    assert {"train_command", "benchmark_command", "evaluate_command"} <= names
