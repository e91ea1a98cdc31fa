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


# Every command: its module (imported only when the command runs, so that ``cadenza --help``
# does not load torch) and the one line the command list shows (the first line of its help,
# which tests/test_generate.py holds equal).
COMMANDS: dict[str, tuple[str, str]] = {
    "preprocess": ("preprocess", "Read, check, split and encode every MIDI file of FOLDER, "
                   "caching the arrays."),
    "models": ("models", "List the shipped models and trained runs, then the presets to "
               "train."),
    "train": ("train", "Train a model; every --checkpoint-every steps save a checkpoint and a "
              "sample."),
    "generate": ("generate", "Generate music: primer from a held-out piece (or a file), then "
                 "the model continues."),
    "harmonise": ("harmonise", "Harmonise a melody with a grid model (biaxial or piano roll): "
                  "the melody's notes are clamped while the model samples every other note, "
                  "conditioned on them."),
    "evaluate": ("evaluate", "Measure GENERATED and a reference set; compare them as Yang & "
                 "Lerch (2018) do."),
    "render": ("render", "Render a MIDI file to a normalised 16-bit WAV through FluidSynth "
               "and a SoundFont."),
    "plot": ("render", "Draw a MIDI file as a piano roll; cadenza's generated part is shown "
             "apart from its primer."),
    "serve": ("serve", "Serve the page to compose in the browser, listen and download MIDI "
              "and WAV."),
    "benchmark": ("benchmark", "Negative log-likelihood per time step on the test split (the "
                  "literature's protocol)."),
    "inspect": ("inspect_cmd", "Hidden activations and memory cells of each LSTM layer while "
                "reading a primer."),
    "export": ("export", "Write a MIDI file as a piano score: MusicXML and/or engraved SVG "
               "pages."),
    "corpus": ("corpus", "Make ready-to-use MIDI corpora."),
    "cache": ("cache", "The preprocessing cache (~/.cache/cadenza or $CADENZA_CACHE_DIR)."),
}


class CadenzaGroup(TyperGroup):
    """The ``cadenza`` command group: typer's, with boolean flags shown as plain flags, and
    each command's module imported only when that command is asked for."""

    listing = False  # while the help lists the commands: a stub per command not yet loaded

    def list_commands(self, ctx: Any) -> list[str]:
        return [*COMMANDS, *(name for name in self.commands if name not in COMMANDS)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in COMMANDS:
            command = self._stub(cmd_name) if self.listing else self._load(cmd_name)
        if command is not None:
            plain_flags(command, ctx)
        return command

    def _stub(self, name: str) -> Any:
        import click

        return click.Command(name, help=COMMANDS[name][1])

    def _load(self, name: str) -> Any:
        """Import the command's module (it registers on :data:`app`) and build it."""
        import importlib

        import typer.main

        importlib.import_module(f"cadenza.cli.{COMMANDS[name][0]}")
        short, markup = app.pretty_exceptions_short, app.rich_markup_mode
        for info in app.registered_commands:
            if info.name == name:
                command = typer.main.get_command_from_info(
                    info, pretty_exceptions_short=short, rich_markup_mode=markup)
                break
        else:
            group = next((g for g in app.registered_groups if g.name == name), None)
            if group is None:
                return None
            command = typer.main.get_group_from_info(
                group, pretty_exceptions_short=short, suggest_commands=app.suggest_commands,
                rich_markup_mode=markup)
        self.add_command(command, name)
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self.listing = True
        try:
            plain_flags(self, ctx)
            super().format_help(ctx, formatter)
        finally:
            self.listing = False


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
