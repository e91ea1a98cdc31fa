"""Command-line interface: ``cadenza <command>``. Each command lives in its own module."""

from cadenza.cli.app import app

# Importing a command module registers its command(s) on ``app``.
from cadenza.cli import preprocess  # noqa: F401  isort: skip
from cadenza.cli import corpus  # noqa: F401  isort: skip
from cadenza.cli import models  # noqa: F401  isort: skip
from cadenza.cli import train  # noqa: F401  isort: skip
from cadenza.cli import generate  # noqa: F401  isort: skip
from cadenza.cli import harmonise  # noqa: F401  isort: skip
from cadenza.cli import evaluate  # noqa: F401  isort: skip
from cadenza.cli import render  # noqa: F401  isort: skip
from cadenza.cli import serve  # noqa: F401  isort: skip
from cadenza.cli import benchmark  # noqa: F401  isort: skip
from cadenza.cli import inspect_cmd  # noqa: F401  isort: skip
from cadenza.cli import cache  # noqa: F401  isort: skip
from cadenza.cli import export  # noqa: F401  isort: skip

__all__ = ["app"]
