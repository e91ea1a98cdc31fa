"""Command-line interface: ``cadenza <command>``. Each command lives in its own module,
imported when the command runs (see ``COMMANDS`` in :mod:`cadenza.cli.app`)."""

from cadenza.cli.app import app

__all__ = ["app"]
