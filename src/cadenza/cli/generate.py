"""``cadenza generate``: compose pieces with a trained checkpoint."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import typer

from cadenza.api import compose_request
from cadenza.cli.app import app, console, friendly_errors
from cadenza.composing import MAX_BARS, ComposeRequest, compose, list_composers
from cadenza.errors import ConfigError
from cadenza.generation.plan import AUTO_FORM
from cadenza.sidecar import replay_request


def parse_velocity(text: str) -> int:
    """``--velocity N`` as an int (a one-line error otherwise)."""
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"--velocity must be 'model' or a MIDI velocity 1..127, "
                          f"got {text!r}") from None


def guide_option(flag: str, does: str) -> Any:
    """A biaxial onset guide's option: a strength 0..4, the model's own when not given."""
    return typer.Option(None, flag, help=f"Biaxial: 0..4, {does} (default: the model's own, "
                        "else 0).")


@app.command("generate")
@friendly_errors
def generate_command(
    checkpoint: str = typer.Argument(
        None, help="Run folder, checkpoint folder or model.safetensors (default: shipped model)."
    ),
    out: Path = typer.Option(Path("out"), "--out", "-o", help="Output folder."),
    bars: int = typer.Option(16, "--bars", help=f"Bars after the primer (1..{MAX_BARS})."),
    length: int = typer.Option(None, "--length", help="Length in steps/messages/tokens instead."),
    primer: Path = typer.Option(None, "--primer", help="Prime with this MIDI file."),
    composer: str = typer.Option(None, "--composer", help="Prime with a piece by this composer."),
    random_primer: bool = typer.Option(False, "--random-primer", help="Any held-out piece."),
    no_primer: bool = typer.Option(False, "--no-primer", help="Start from silence."),
    primer_length: int = typer.Option(
        None, "--primer-length",
        help="Primer length in the model's unit (default: a --primer file whole, else a bar)."),
    primer_bars: int = typer.Option(None, "--primer-bars", help="Use the primer's last N bars."),
    temperature: float = typer.Option(
        None, "--temperature", "-t",
        help="Sampling temperature (default: the model's calibrated one, else 1)."),
    threshold: float = typer.Option(
        None, "--threshold",
        help="Piano-roll probability floor (default: the model's calibrated one, else 0.1)."),
    top_k: int = typer.Option(0, "--top-k", help="Events/tokens: keep the k likeliest."),
    top_p: float = typer.Option(1.0, "--top-p", help="Events/tokens: nucleus mass."),
    no_adaptive: bool = typer.Option(False, "--no-adaptive", help="Disable anti-silence."),
    max_hold_steps: int = typer.Option(
        64, "--max-hold-steps",
        help="Grid models: release a note held (piano roll: kept on) this many steps; 0: never, "
             "as the original models."),
    max_repeats: int = typer.Option(
        8, "--max-repeats", help="Events/tokens: longest run of one element; 0: no limit."),
    seed: int = typer.Option(None, "--seed", help="Seed: the same seed gives the same piece."),
    count: int = typer.Option(1, "--count", "-n", help="Pieces to generate as one batch."),
    bpm: float = typer.Option(None, "--bpm", help="Tempo (default: the primer's)."),
    wav: bool = typer.Option(False, "--wav", help="Also render WAV through FluidSynth."),
    plot: bool = typer.Option(False, "--plot", help="Also draw PNG piano roll / probabilities."),
    marker_note: bool = typer.Option(False, "--marker-note", help="Mark the start: high note."),
    list_only: bool = typer.Option(False, "--list-composers", help="List primer composers."),
    threads: int = typer.Option(
        None, "--threads", help="CPU threads for torch (default: 1 for one grid piece)."),
    velocity: str = typer.Option(
        "model", "--velocity",
        help="'model': each note as the model (or its primer) says; N: every note at N."),
    velocity_temperature: float = typer.Option(
        None, "--velocity-temperature",
        help="Models with dynamics: < 1 steadier, > 1 livelier loudness (default: the "
        "model's own, else 1)."),
    metre_guide: float = guide_option(
        "--metre-guide", "steer onsets per bar position toward the corpus' profile"),
    rhythm_guide: float = guide_option(
        "--rhythm-guide", "favour onsets where the bar before had them"),
    harmony_guide: float = guide_option(
        "--harmony-guide", "favour the pitch classes the piece has been sounding"),
    program: int = typer.Option(
        0, "--program", min=0, max=127,
        help="General MIDI instrument of the written track (0: piano, 40: violin, 73: flute)."),
    key: str = typer.Option(None, "--key", help='Grid models: keep to a key, e.g. "D minor".'),
    key_strength: float = typer.Option(
        1.0, "--key-strength", help="0..1: 1 never leaves the key, 0 ignores it."),
    pitch_range: str = typer.Option(
        None, "--range", help="Grid models: only pitches in this range, e.g. C2-C6."),
    max_polyphony: int = typer.Option(
        0, "--max-polyphony", help="Grid models: at most N notes at once (0: no limit)."),
    form: str = typer.Option(
        AUTO_FORM, "--form", help="Grid models: a form such as AABA; a repeated letter returns "
        "to its first phrase. 'auto' (default): drawn from the seed when composing --bars "
        "(through-composed in three pieces of seven); 'none': no form."),
    phrase_bars: int = typer.Option(4, "--phrase-bars", help="Bars per phrase of --form."),
    variation: float = typer.Option(
        0.0, "--variation", help="0..1: the model's share in a repeat (0: exact)."),
    ending: str = typer.Option(
        "auto", "--ending", help="'cadence': V7 then the tonic (key from --key or the "
        "primer; grid models hold the tonic chord exactly, token models steer their last "
        "elements to it); 'none'; 'auto' (default): a cadence when a grid model composes "
        "--bars, none otherwise."),
    density: str = typer.Option(
        None, "--density", help="Grid, events and note-token models: keep note onsets "
        "per beat in LOW..HIGH."),
    ritardando: bool = typer.Option(
        False, "--ritardando", help="Slow down over the last two bars (to 70%)."),
    humanise: float = typer.Option(
        0.0, "--humanise", min=0.0, max=1.0, help="0..1: play the tempo as a pianist might "
        "(faster mid-phrase, broader at phrase ends, a slight wander); 0: the grid's tempo."),
    infill: str = typer.Option(
        None, "--infill", help="Grid models: compose bars A-B of the --primer piece again, "
        "keep the rest."),
    candidates: int = typer.Option(
        4, "--candidates", help="--infill: gaps sampled; the one leading best into the rest "
        "of the piece is kept."),
    replay: Path = typer.Option(
        None, "--replay", help="Make a piece again from the .json saved beside it."),
    verbose_stats: bool = typer.Option(
        False, "--stats", help="Print what the guards did (also with `cadenza -v`)."
    ),
) -> None:
    """Generate music: primer from a held-out piece (or a file), then the model continues."""
    if list_only:
        names = list_composers(checkpoint)
        console.print("\n".join(names) if names else "no composers known")
        return
    fixed = None if velocity == "model" else parse_velocity(velocity)
    if replay is not None:
        request = replay_request(replay, ComposeRequest, out_dir=out, wav=wav, plot=plot,
                                 threads=threads)
    else:
        request = compose_request(
            checkpoint, out_dir=out, bars=bars, length=length, primer=primer,
            composer=composer, random_primer=random_primer, no_primer=no_primer,
            primer_length=primer_length, primer_bars=primer_bars, temperature=temperature,
            threshold=threshold,
            top_k=top_k, top_p=top_p, adaptive=not no_adaptive, max_hold_steps=max_hold_steps,
            max_repeats=max_repeats, seed=seed, count=count, bpm=bpm, wav=wav, threads=threads,
            plot=plot, marker_note=marker_note, velocity=fixed, key=key,
            key_strength=key_strength, pitch_range=pitch_range, max_polyphony=max_polyphony,
            form=form, phrase_bars=phrase_bars, variation=variation, ending=ending,
            infill=infill, infill_candidates=candidates, ritardando=ritardando,
            humanise=humanise, density=density, program=program,
            velocity_temperature=velocity_temperature, metre_guide=metre_guide,
            rhythm_guide=rhythm_guide, harmony_guide=harmony_guide,
        )
    result = compose(request)
    console.print(f"model: {result.checkpoint}", highlight=False)
    console.print(f"primer: {result.primer_used or result.primer_source}", highlight=False)
    console.print(f"seed: {result.seed} (the .json beside each piece replays it: "
                  f"cadenza generate --replay FILE.json)", highlight=False)
    if result.form is not None:
        drawn = " (drawn from the seed; --form none for none)" if request.form == AUTO_FORM else ""
        bars_each = f"{request.phrase_bars} bar{'s' if request.phrase_bars != 1 else ''}"
        console.print(f"form: {result.form} in phrases of {bars_each}{drawn}", highlight=False)
    elif result.form_drawn:
        console.print("form: none (through-composed, drawn from the seed; --form AABA or "
                      "another for one)", highlight=False)
    for piece in result.pieces:
        for path in piece.files:
            console.print(f"wrote {path}")
    verbose = logging.getLogger().isEnabledFor(logging.INFO)  # `cadenza --verbose`
    if verbose_stats or verbose or console.is_terminal:
        stats = ", ".join(f"{k} {v:g}" for k, v in sorted(result.stats.items()))
        console.print(f"guards: {stats}" if stats else "guards: none fired")
