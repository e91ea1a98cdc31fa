"""The Typer application every ``cadenza`` subcommand registers on, and its shared helpers."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from cadenza.errors import CadenzaError

app = typer.Typer(
    name="cadenza",
    help="Learn from MIDI files and compose polyphonic music with recurrent networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 2) -> None:
    """Print a one-line error and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def friendly_errors(func: F) -> F:
    """Turn cadenza's own exceptions into one-line messages and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CadenzaError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            err_console.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def setup_logging(verbose: bool) -> None:
    """Log warnings (or everything with ``--verbose``) to stderr through rich."""
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_time=False, show_path=False)],
        force=True,
    )


@app.callback()
def main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details."),
) -> None:
    """cadenza: preprocess, train, generate, evaluate and serve."""
    setup_logging(verbose)


def print_table(table: Any) -> None:
    """Print a rich table at its natural width: a terminal's width when it fits there, but never
    squeezed to 80 columns (names cut to "pianoroll…") when stdout is a file or a pipe."""
    from rich.measure import Measurement

    if console.is_terminal:
        console.print(table)
        return
    saved = console.width
    needed = Measurement.get(console, console.options.update_width(1000), table).maximum
    console.width = max(saved, needed)
    try:
        console.print(table)
    finally:
        console.width = saved


def is_tty() -> bool:
    return sys.stderr.isatty()
