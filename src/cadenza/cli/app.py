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
from typer.core import TyperGroup

from cadenza.errors import CadenzaError


def plain_flags(command: Any, ctx: typer.Context) -> None:
    """Show the boolean flags of ``command`` (and of its subcommands) as plain flags.

    A flag takes no value, but typer's help (0.29) shows every ``bool`` option, ``--help``
    included, with a ``<bool>`` type as if it did; an empty metavar shows none.
    """
    params = [*getattr(command, "params", ()), command.get_help_option(ctx)]
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        plain_flags(sub, ctx)


class CadenzaGroup(TyperGroup):
    """The ``cadenza`` command group: typer's, with boolean flags shown as plain flags."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            plain_flags(command, ctx)
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        plain_flags(self, ctx)
        super().format_help(ctx, formatter)


app = typer.Typer(
    cls=CadenzaGroup,
    name="cadenza",
    help="Learn from MIDI files and compose polyphonic music with recurrent networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class CliConsole(Console):
    """A rich console that wraps text only on a terminal: written to a file or a pipe (a log),
    a line of text stays one line however long (rich would cut it at 80 columns)."""

    def print(self, *objects: Any, soft_wrap: bool | None = None, **kwargs: Any) -> None:
        if (soft_wrap is None and not self.is_terminal
                and all(isinstance(item, str) for item in objects)):
            soft_wrap = True
        super().print(*objects, soft_wrap=soft_wrap, **kwargs)


console = CliConsole()
err_console = CliConsole(stderr=True)

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


class PlainLogHandler(logging.Handler):
    """One line per record on stderr (``WARNING  message``), never wrapped: the handler for
    logs that go to a file or a pipe."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            err_console.print(self.format(record), markup=False, highlight=False,
                              emoji=False, soft_wrap=True)
        except Exception:  # logging must never raise; it reports the record instead
            self.handleError(record)


def setup_logging(verbose: bool) -> None:
    """Log warnings (or everything with ``--verbose``) to stderr: through rich on a terminal,
    as plain unwrapped lines into a file or a pipe."""
    from rich.logging import RichHandler

    handler: logging.Handler
    if err_console.is_terminal:
        handler = RichHandler(console=err_console, show_time=False, show_path=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = PlainLogHandler()
        handler.setFormatter(logging.Formatter("%(levelname)-8s %(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        handlers=[handler], force=True)


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
