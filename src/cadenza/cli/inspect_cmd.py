"""``cadenza inspect``: plot LSTM activations and memory cells over a primer."""

from __future__ import annotations

from pathlib import Path

import typer

from cadenza.cli.app import app, console, friendly_errors
from cadenza.cli.options import output_path
from cadenza.composing import load
from cadenza.generation.primerbank import encode_primer, primer_from_file


@app.command("inspect")
@friendly_errors
def inspect_command(
    checkpoint: str = typer.Argument(None, help="Run, checkpoint or shipped model (default)."),
    primer: Path = typer.Option(..., "--primer", help="MIDI file the network reads."),
    length: int = typer.Option(64, "--length", help="Steps/tokens of the primer to read."),
    out: Path = typer.Option(
        None, "--out", "-o",
        help="Folder for PRIMER-activations.png (default: beside the primer)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing PNG."),
) -> None:
    """Hidden activations and memory cells of each LSTM layer while reading a primer."""
    from cadenza.inspection import lstm_activations
    from cadenza.plots import plot_activations

    loaded = load(checkpoint)
    piece = primer_from_file(primer, loaded.representation)
    array, first_step = encode_primer(piece, loaded.representation, length)
    layers = lstm_activations(loaded.model, loaded.representation, array, first_step)
    target = output_path(out, primer, f"{primer.stem}-activations.png")
    written = plot_activations(layers, target, overwrite=overwrite,
                               title=f"{loaded.preset or loaded.model.family}: {primer.name}")
    console.print(f"wrote {written}")
