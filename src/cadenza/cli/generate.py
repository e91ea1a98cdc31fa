"""``cadenza generate``: compose pieces with a trained checkpoint.

The options are declared once, below, as annotated types; the command hands them all to
:func:`cadenza.api.generate_request`, which makes the compose request.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from cadenza.api import generate_request
from cadenza.cli.app import app, console, friendly_errors
from cadenza.composing import (
    MAX_BARS,
    ComposeRequest,
    ComposeResult,
    arranged_line,
    compose,
    list_composers,
    list_styles,
)
from cadenza.generation.plan import AUTO_FORM

# Options that only choose what the command prints (not handed to the library).
PRINT_OPTIONS = ("list_only", "verbose_stats", "list_style_names")


def _guide(flag: str, does: str) -> Any:
    """A biaxial onset guide's option: a strength 0..4, the model's own when not given."""
    return typer.Option(flag, help=f"Biaxial: 0..4, {does} (default: the model's own, else 0).")


Checkpoint = Annotated[str | None, typer.Argument(
    help="Run folder, checkpoint folder or model.safetensors (default: shipped model).")]
Out = Annotated[Path, typer.Option("--out", "-o", help="Output folder.")]
Bars = Annotated[int, typer.Option("--bars", help=f"Bars after the primer (1..{MAX_BARS}).")]
Length = Annotated[int | None, typer.Option(
    "--length", help="Length in steps/messages/tokens instead.")]
PrimerFile = Annotated[Path | None, typer.Option("--primer", help="Prime with this MIDI file.")]
Composer = Annotated[str | None, typer.Option(
    "--composer", help="Prime with a piece by this composer.")]
RandomPrimer = Annotated[bool, typer.Option("--random-primer", help="Any held-out piece.")]
NoPrimer = Annotated[bool, typer.Option("--no-primer", help="Start from silence.")]
PrimerLength = Annotated[int | None, typer.Option(
    "--primer-length",
    help="Primer length in the model's unit (default: a --primer file whole, else a bar).")]
PrimerBars = Annotated[int | None, typer.Option(
    "--primer-bars", help="Use the primer's last N bars.")]
Temperature = Annotated[float | None, typer.Option(
    "--temperature", "-t",
    help="Sampling temperature (default: the model's calibrated one, else 1).")]
Threshold = Annotated[float | None, typer.Option(
    "--threshold",
    help="Piano-roll probability floor (default: the model's calibrated one, else 0.1).")]
TopK = Annotated[int, typer.Option("--top-k", help="Events/tokens: keep the k likeliest.")]
TopP = Annotated[float, typer.Option("--top-p", help="Events/tokens: nucleus mass.")]
NoAdaptive = Annotated[bool, typer.Option("--no-adaptive", help="Disable anti-silence.")]
MaxHoldSteps = Annotated[int, typer.Option(
    "--max-hold-steps",
    help="Grid models: release a note held (piano roll: kept on) this many steps; 0: never, "
         "as the original models.")]
MaxRepeats = Annotated[int, typer.Option(
    "--max-repeats", help="Events/tokens: longest run of one element; 0: no limit.")]
Seed = Annotated[int | None, typer.Option(
    "--seed", help="Seed: the same seed gives the same piece.")]
Count = Annotated[int, typer.Option("--count", "-n", help="Pieces to generate as one batch.")]
Bpm = Annotated[float | None, typer.Option("--bpm", help="Tempo (default: the primer's).")]
Wav = Annotated[bool, typer.Option("--wav", help="Also render WAV through FluidSynth.")]
Plot = Annotated[bool, typer.Option("--plot", help="Also draw PNG piano roll / probabilities.")]
MarkerNote = Annotated[bool, typer.Option("--marker-note", help="Mark the start: high note.")]
ListOnly = Annotated[bool, typer.Option("--list-composers", help="List primer composers.")]
Threads = Annotated[int | None, typer.Option(
    "--threads", help="CPU threads for torch (default: 1 for one grid piece).")]
Velocity = Annotated[str, typer.Option(
    "--velocity",
    help="'model': each note as the model (or its primer) says; N: every note at N.")]
VelocityTemperature = Annotated[float | None, typer.Option(
    "--velocity-temperature",
    help="Models with dynamics: < 1 steadier, > 1 livelier loudness (default: the "
    "model's own, else 1).")]
VelocityMemory = Annotated[float | None, typer.Option(
    "--velocity-memory",
    help="Models with dynamics: keep each new note within about this many velocity bins "
    "of the piece's recent level; 0: off (default: the model's own, else 0).")]
VelocityDrift = Annotated[float | None, typer.Option(
    "--velocity-drift",
    help="Models with dynamics: how far each bar's loudness level strays (0..4), drawn "
    "afresh at every bar line; 0: off (default: the model's own, else 0).")]
MetreGuide = Annotated[float | None, _guide(
    "--metre-guide", "steer onsets per bar position toward the corpus' profile")]
RhythmGuide = Annotated[float | None, _guide(
    "--rhythm-guide", "favour onsets where the bar before had them")]
HarmonyGuide = Annotated[float | None, _guide(
    "--harmony-guide", "favour the pitch classes the piece has been sounding")]
RhythmCopy = Annotated[float | None, typer.Option(
    "--rhythm-copy", help="Biaxial: 0..1, the chance a step starts a note where the step a "
    "bar earlier did, chosen among 4 draws (default: the model's own, else 0).")]
AvoidParallels = Annotated[float | None, typer.Option(
    "--avoid-parallels", help="Biaxial: 0..1, the chance a step moves in no parallel fifth "
    "or octave from the chord before, chosen among 4 draws (default: 1 with --ensemble "
    "satb, else the model's own, else 0).")]
Program = Annotated[int, typer.Option(
    "--program", min=0, max=127,
    help="General MIDI instrument of the written track (0: piano, 40: violin, 73: flute).")]
Ensemble = Annotated[str | None, typer.Option(
    "--ensemble", help="Write for an ensemble, a MIDI track and a MusicXML part per "
    "instrument, the notes shared among them by voice leading, each part inside its "
    "range: 'satb' (choir; its default model is the shipped chorale-satb), 'quartet' "
    "(two violins, viola, cello), 'piano' (two hands). Grid models are steered to the "
    "ensemble's range and number of parts.")]
Key = Annotated[str | None, typer.Option(
    "--key", help='Grid models: keep to a key, e.g. "D minor".')]
KeyStrength = Annotated[float, typer.Option(
    "--key-strength", help="0..1: 1 never leaves the key, 0 ignores it.")]
PitchRange = Annotated[str | None, typer.Option(
    "--range", help="Grid models: only pitches in this range, e.g. C2-C6.")]
MaxPolyphony = Annotated[int | None, typer.Option(
    "--max-polyphony", min=0, max=128,
    help="Grid models: at most N notes at once; 0: no limit (default: the model's own, "
    "else no limit).")]
Form = Annotated[str, typer.Option(
    "--form", help="Grid models: a form such as AABA; a repeated letter returns "
    "to its first phrase. 'auto' (default): drawn from the seed when composing --bars "
    "(through-composed in three pieces of seven); 'none': no form.")]
PhraseBars = Annotated[int, typer.Option("--phrase-bars", help="Bars per phrase of --form.")]
Variation = Annotated[float, typer.Option(
    "--variation", help="0..1: the model's share in a repeat (0: exact).")]
RhythmReturns = Annotated[float | None, typer.Option(
    "--rhythm-returns", help="0..1: the share of --form's returning phrases that keep only "
    "their rhythm, with new notes (default: the model's own, else 0).")]
Ending = Annotated[str, typer.Option(
    "--ending", help="'cadence': V7 then the tonic (key from --key or the "
    "primer; grid models hold the tonic chord exactly, token models steer their last "
    "elements to it); 'none'; 'auto' (default): a cadence when a grid model composes "
    "--bars, none otherwise.")]
EndingHold = Annotated[float | None, typer.Option(
    "--ending-hold", help="Grid models: the notes of a cadence's final chord above its "
    "bass sound this many beats (above 0, at most 4); the bass holds to the bar's end "
    "(default: the model's own, else the whole bar).")]
Density = Annotated[str | None, typer.Option(
    "--density", help="Grid, events and note-token models: keep note onsets "
    "per beat in LOW..HIGH.")]
Ritardando = Annotated[bool, typer.Option(
    "--ritardando", help="Slow down over the last two bars (to 70%).")]
Humanise = Annotated[float, typer.Option(
    "--humanise", min=0.0, max=1.0, help="0..1: play the tempo as a pianist might "
    "(faster mid-phrase, broader at phrase ends, a slight wander); 0: the grid's tempo.")]
Infill = Annotated[str | None, typer.Option(
    "--infill", help="Grid models: compose bars A-B of the --primer piece again, "
    "keep the rest.")]
Candidates = Annotated[int, typer.Option(
    "--candidates", help="--infill: gaps sampled; the one leading best into the rest "
    "of the piece is kept.")]
Replay = Annotated[Path | None, typer.Option(
    "--replay", help="Make a piece again from the .json saved beside it.")]
Style = Annotated[str | None, typer.Option(
    "--style", help="Compose in this style (a model trained with --style-from; without a "
    "checkpoint the shipped biaxial-styles); starts from silence unless a primer is given.")]
StyleStrength = Annotated[float | None, typer.Option(
    "--style-strength", help="With --style, 0..8: how far the style is pushed from the "
    "centre of the model's styles (1: as trained; > 1 exaggerates what sets it apart; "
    "default: the model's own, else 1).")]
ListStyles = Annotated[bool, typer.Option(
    "--list-styles", help="List the model's styles (default: the shipped biaxial-styles).")]
Stats = Annotated[bool, typer.Option(
    "--stats", help="Print what the guards did (also with `cadenza -v`).")]


@app.command("generate")
@friendly_errors
def generate_command(
    ctx: typer.Context, checkpoint: Checkpoint = None, out: Out = Path("out"),
    bars: Bars = 16, length: Length = None, primer: PrimerFile = None,
    composer: Composer = None, random_primer: RandomPrimer = False,
    no_primer: NoPrimer = False, primer_length: PrimerLength = None,
    primer_bars: PrimerBars = None, temperature: Temperature = None,
    threshold: Threshold = None, top_k: TopK = 0, top_p: TopP = 1.0,
    no_adaptive: NoAdaptive = False, max_hold_steps: MaxHoldSteps = 64,
    max_repeats: MaxRepeats = 8, seed: Seed = None, count: Count = 1, bpm: Bpm = None,
    wav: Wav = False, plot: Plot = False, marker_note: MarkerNote = False,
    list_only: ListOnly = False, threads: Threads = None, velocity: Velocity = "model",
    velocity_temperature: VelocityTemperature = None, velocity_memory: VelocityMemory = None,
    velocity_drift: VelocityDrift = None, metre_guide: MetreGuide = None,
    rhythm_guide: RhythmGuide = None, harmony_guide: HarmonyGuide = None,
    rhythm_copy: RhythmCopy = None, avoid_parallels: AvoidParallels = None,
    program: Program = 0, ensemble: Ensemble = None,
    key: Key = None, key_strength: KeyStrength = 1.0,
    pitch_range: PitchRange = None, max_polyphony: MaxPolyphony = None,
    form: Form = AUTO_FORM, phrase_bars: PhraseBars = 4, variation: Variation = 0.0,
    rhythm_returns: RhythmReturns = None,
    ending: Ending = "auto", ending_hold: EndingHold = None, density: Density = None,
    ritardando: Ritardando = False,
    humanise: Humanise = 0.0, infill: Infill = None, candidates: Candidates = 4,
    replay: Replay = None, verbose_stats: Stats = False, style: Style = None,
    style_strength: StyleStrength = None, list_style_names: ListStyles = False,
) -> None:
    """Generate music: primer from a held-out piece (or a file), then the model continues."""
    if list_style_names:
        styles = list_styles(checkpoint)
        console.print("\n".join(styles) if styles else "no styles: this model was trained "
                      "without --style-from")
        return
    if list_only:
        names = list_composers(checkpoint)
        console.print("\n".join(names) if names else "no composers known")
        return
    request = generate_request(
        **{name: value for name, value in ctx.params.items() if name not in PRINT_OPTIONS})
    _print_result(compose(request), request, verbose_stats)


def _print_result(result: ComposeResult, request: ComposeRequest, stats: bool) -> None:
    """What ``cadenza generate`` made: the model, primer, seed, form, files and guards."""
    console.print(f"model: {result.checkpoint}", highlight=False)
    console.print(f"primer: {result.primer_used or result.primer_source}", highlight=False)
    if request.style is not None:
        strength = ("" if request.style_strength is None
                    else f" (strength {request.style_strength:g})")
        console.print(f"style: {request.style}{strength}", highlight=False)
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
    if result.arranged is not None:
        console.print(f"ensemble {request.ensemble}: {arranged_line(result.arranged)}",
                      highlight=False)
    verbose = logging.getLogger().isEnabledFor(logging.INFO)  # `cadenza --verbose`
    if stats or verbose or console.is_terminal:
        guards = ", ".join(f"{k} {v:g}" for k, v in sorted(result.stats.items()))
        console.print(f"guards: {guards}" if guards else "guards: none fired")
