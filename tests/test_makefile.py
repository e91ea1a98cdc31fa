"""The Makefile's knobs (issue 28): ``make serve PORT=N`` and ``CADENZA_SKIP_BROWSER=1``."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _make(*args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(["make", "--no-print-directory", *args], cwd=ROOT, check=True,
                            capture_output=True, text=True, env={**os.environ, **(env or {})},
                            timeout=60)
    return result.stdout


def test_serve_takes_a_port() -> None:
    """``make -n`` only prints the recipes: nothing is installed or served."""
    assert "cadenza serve --checkpoints out --port 8000" in _make("-n", "serve")
    assert "--port 8123" in _make("-n", "serve", "PORT=8123")


@pytest.mark.parametrize("how", ["variable", "environment"])
def test_the_browser_step_can_be_skipped(how: str) -> None:
    """Run for real: with the switch it says so and never reaches apt-get."""
    if how == "variable":
        said = _make("-s", "browser-deps", "CADENZA_SKIP_BROWSER=1")
    else:
        said = _make("-s", "browser-deps", env={"CADENZA_SKIP_BROWSER": "1"})
    assert said.strip() == "CADENZA_SKIP_BROWSER=1: not installing Chromium for the browser test"
