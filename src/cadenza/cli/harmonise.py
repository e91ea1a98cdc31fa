"""``cadenza harmonise``: keep a melody note for note and compose everything around it."""

from __future__ import annotations

from pathlib import Path

import typer

from cadenza.api import compose_files
from cadenza.cli.app import app, console, friendly_errors
from cadenza.cli.options import set_threads
from cadenza.composing import arranged_line


@app.command("harmonise")
@friendly_errors
def harmonise_command(
    melody: Path = typer.Argument(..., help="MIDI file holding the melody."),
    model: str = typer.Option(
        None, "--model", "-m", help="Run, checkpoint or shipped model (default: the default)."),
    out: Path = typer.Option(Path("out"), "--out", "-o", help="Output folder."),
    below_only: bool = typer.Option(False, "--below-only", help="No note above the melody."),
    voice: str = typer.Option(
        "all", "--voice", help="'all': the file is the melody; 'top': its highest voice."),
    key: str = typer.Option(None, "--key", help='Keep the accompaniment to a key, "D minor".'),
    ending: str = typer.Option(
        "auto", "--ending",
        help="'cadence', 'none' or 'auto' (default: a cadence in the melody's key)."),
    temperature: float = typer.Option(
        None, "--temperature", "-t",
        help="Sampling temperature (default: the model's calibrated one, else 1)."),
    seed: int = typer.Option(None, "--seed", help="Seed: the same seed gives the same piece."),
    ensemble: str = typer.Option(
        None, "--ensemble", help="'satb': the melody is the soprano and alto, tenor and bass "
        "are composed below it (default model: the shipped chorale-satb); 'quartet': the "
        "first violin; a MIDI track and a MusicXML part per instrument."),
    wav: bool = typer.Option(False, "--wav", help="Also render WAV through FluidSynth."),
    plot: bool = typer.Option(False, "--plot", help="Also draw a PNG piano roll."),
    threads: int = typer.Option(None, "--threads", help="CPU threads for torch."),
) -> None:
    """Harmonise a melody with a grid model (biaxial or piano roll): the melody's notes are
    clamped while the model samples every other note, conditioned on them."""
    set_threads(threads)
    result = compose_files(
        model, out_dir=out, melody=melody, below_only=below_only, voice=voice, key=key,
        ending=ending, temperature=temperature, seed=seed, wav=wav, plot=plot, threads=threads,
        ensemble=ensemble,
    )
    console.print(f"model: {result.checkpoint}", highlight=False)
    console.print(f"melody: {melody} ({voice}); seed {result.seed}", highlight=False)
    if result.arranged is not None:
        console.print(f"ensemble {ensemble}: {arranged_line(result.arranged)}", highlight=False)
    for piece in result.pieces:
        for path in piece.files:
            console.print(f"wrote {path}", highlight=False)
