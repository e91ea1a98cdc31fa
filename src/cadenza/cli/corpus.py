"""``cadenza corpus``: make ready-to-use MIDI corpora (``cadenza corpus bach OUT_DIR``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from cadenza.cli.app import app, console, err_console, fail, friendly_errors, is_tty
from cadenza.data.bach import COMPOSER_FOLDER, chorale_names, export_bach_chorales

corpus_app = typer.Typer(help="Make ready-to-use MIDI corpora.", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")


@corpus_app.command("bach")
@friendly_errors
def bach_command(
    out_dir: Annotated[Path, typer.Argument(
        help="Folder to write the chorales to (under Bach/).")],
    limit: Annotated[int | None, typer.Option(
        "--limit", "-n", min=1, help="Export only the first N chorales.")] = None,
    no_hint: Annotated[bool, typer.Option(
        "--no-hint", help="Do not suggest the next command (scripts that go on).")] = False,
) -> None:
    """Export the Bach chorales bundled with music21 as MIDI files (existing files are kept)."""
    names = chorale_names(limit)
    with Progress(TextColumn("exporting chorales"), BarColumn(), MofNCompleteColumn(),
                  console=err_console, transient=True, disable=not is_tty()) as progress:
        task = progress.add_task("export", total=len(names))
        result = export_bach_chorales(
            out_dir, on_file=lambda _: progress.advance(task), names=names
        )
    folder = out_dir / COMPOSER_FOLDER
    console.print(f"wrote {len(result.written)} chorales to {folder}")
    if result.existing:
        console.print(f"kept {len(result.existing)} existing files unchanged")
    if result.failed:
        console.print(f"{len(result.failed)} chorales could not be converted (see warnings)")
    if not result.written and not result.existing:
        fail(f"no chorale could be exported to {folder}")
    if not no_hint:
        console.print(f"next: cadenza preprocess {out_dir}")
