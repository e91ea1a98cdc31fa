"""``cadenza render`` (MIDI to WAV) and ``cadenza plot`` (MIDI to a piano-roll PNG)."""

from __future__ import annotations

from pathlib import Path

import typer

from cadenza.audio import DEFAULT_MAX_MINUTES
from cadenza.cli.app import app, console, friendly_errors
from cadenza.cli.options import output_path
from cadenza.score import Score

GENERATED_PREFIX = "cadenza: generated"  # start of compose.GENERATED_MARKER's text


def generated_start(score: Score) -> int | None:
    """Tick of the first marker saying where generated music begins, if the file has one."""
    ticks = [m.tick for m in score.markers if m.text.strip().startswith(GENERATED_PREFIX)]
    return min(ticks) if ticks else None


@app.command("render")
@friendly_errors
def render_command(
    midi_file: Path = typer.Argument(..., help="MIDI file to render."),
    out: Path = typer.Option(
        None, "--out", "-o", help="Folder for FILE.wav (default: beside FILE)."),
    soundfont: Path = typer.Option(
        None, "--soundfont", help="General MIDI .sf2 (default: $CADENZA_SOUNDFONT or Debian's)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing WAV."),
    max_minutes: float = typer.Option(
        DEFAULT_MAX_MINUTES, "--max-minutes",
        help="Refuse a file that would play longer (to its last event) than this."),
) -> None:
    """Render a MIDI file to a normalised 16-bit WAV through FluidSynth and a SoundFont."""
    from cadenza.audio import render_wav

    target = output_path(out, midi_file, f"{midi_file.stem}.wav")
    written = render_wav(midi_file, target, soundfont=soundfont, overwrite=overwrite,
                         max_minutes=max_minutes)
    console.print(f"wrote {written}", highlight=False, soft_wrap=True)


@app.command("plot")
@friendly_errors
def plot_command(
    midi_file: Path = typer.Argument(..., help="MIDI file to draw."),
    out: Path = typer.Option(
        None, "--out", "-o", help="Folder for FILE.png (default: beside FILE)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing PNG."),
) -> None:
    """Draw a MIDI file as a piano roll; cadenza's generated part is shown apart from its primer."""
    from cadenza.midi import read_midi
    from cadenza.plots import plot_piano_roll

    target = output_path(out, midi_file, f"{midi_file.stem}.png")
    score = read_midi(midi_file)
    written = plot_piano_roll(
        score, target, primer_end_tick=generated_start(score), title=midi_file.name,
        overwrite=overwrite,
    )
    console.print(f"wrote {written}", highlight=False, soft_wrap=True)
