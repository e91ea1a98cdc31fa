"""Compose pieces with a checkpoint: the one function the CLI and the web server call.

``compose(request)`` loads the checkpoint (cached), picks a primer (held-out piece by
composer, a MIDI file, or silence), generates ``count`` pieces as one batch, and writes
``.mid`` (always), ``.wav`` and ``.png`` files (on request) without overwriting anything.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from cadenza.checkpoint import LoadedCheckpoint, load_checkpoint, resolve_checkpoint
from cadenza.controls import (
    AUTO_KEY,
    Key,
    PitchWeights,
    detect_key,
    parse_key,
    pitch_weights,
)
from cadenza.degeneration import degeneration_warnings
from cadenza.errors import ConfigError, DataError
from cadenza.families import get_family
from cadenza.generation import GenerationConfig, GenerationResult, generate
from cadenza.generation.base import (
    DEFAULT_THRESHOLD,
    check_sampling,
    check_velocity_temperature,
)
from cadenza.generation.decoding import generated_start_tick, result_to_score, score_qpm
from cadenza.generation.guides import GUIDES, check_guide
from cadenza.generation.infill import infill, parse_bars
from cadenza.generation.melody import MelodyPlan, melody_of
from cadenza.generation.plan import (
    AUTO_FORM,
    NO_FORM,
    EndingPlan,
    FormPlan,
    Plan,
    auto_form,
    combine,
)
from cadenza.generation.primerbank import (
    Primer,
    PrimerBank,
    encode_primer,
    primer_from_file,
)
from cadenza.generation.primers import default_primer_length
from cadenza.generation.token_ending import TokenEnding
from cadenza.machine import torch_threads
from cadenza.midi import write_midi
from cadenza.representations.base import Representation
from cadenza.sampling import parse_density
from cadenza.score import GENERATED_MARKER, Marker, Score
from cadenza.sidecar import write_sidecar
from cadenza.tempo_shape import shaped_tempo

log = logging.getLogger(__name__)

MAX_BARS = 256
ENDINGS = ("auto", "cadence", "none")
SEED_MARKER = "cadenza seed "  # a MIDI marker in every composed piece: "cadenza seed 1234"


@dataclass
class ComposeRequest:
    """What to compose; validated in ``__post_init__`` (bad values name their field)."""

    checkpoint: str | Path | None = None
    out_dir: Path = Path("out")
    bars: int = 16
    length: int | None = None
    primer_file: Path | None = None
    composer: str | None = None
    random_primer: bool = False
    no_primer: bool = False
    primer_length: int | None = None  # elements (default: a primer file whole, else 1 bar)
    primer_bars: int | None = None  # instead: the primer's last N bars
    temperature: float | None = None  # None: the model's calibrated temperature, else 1
    threshold: float | None = None  # None: the model's calibrated floor, else 0.1
    top_k: int = 0
    top_p: float = 1.0
    adaptive: bool = True
    max_hold_steps: int = 64
    max_repeats: int = 8
    seed: int | None = None
    count: int = 1
    threads: int | None = None  # torch threads; None: 1 for a single grid piece, else as set
    velocity: int | None = None  # every note at this MIDI velocity; None: as the model says
    # models with a dynamics output: < 1 steadier dynamics; None: the model's calibrated one
    velocity_temperature: float | None = None
    # biaxial onset guides (cadenza.generation.guides); None: the model's calibrated strength
    metre_guide: float | None = None
    rhythm_guide: float | None = None
    harmony_guide: float | None = None
    program: int = 0  # the General MIDI instrument the piece is written for (0: piano)
    # e.g. "D minor": out-of-key notes weighted by 1 - key_strength; "auto": the primer's key
    key: str | None = None
    key_strength: float = 1.0
    pitch_range: str | None = None  # e.g. "C2-C6": no note outside it
    max_polyphony: int = 0  # grid families: at most this many notes at once (0: no limit)
    density: str | None = None  # "2..4": note onsets per beat kept in that band
    # e.g. "AABA": a repeated letter returns to its first phrase; "auto": a grid model
    # composing a number of bars draws a form from the seed (AUTO_FORMS); "none" or None: none
    form: str | None = AUTO_FORM
    phrase_bars: int = 4
    variation: float = 0.0  # the model's share in a repeat (0: an exact repeat)
    # "cadence": dominant seventh, then the held tonic chord; "auto": a cadence for a grid
    # model composing a number of bars (not --length) when its keys hold the final chord
    ending: str = "auto"
    melody_file: Path | None = None  # harmonise: its notes are clamped, the rest generated
    below_only: bool = False  # harmonise: no note above the melody
    voice: str = "all"  # harmonise: "all" (the file is the melody) or "top" (its top voice)
    ritardando: bool = False  # slow down over the last two bars (the tempo map, to 70%)
    humanise: float = 0.0  # 0..1: a played tempo, phrase arch and wander (see tempo_shape)
    infill: str | None = None  # "A-B": compose bars A..B of primer_file again, keep the rest
    infill_candidates: int = 4  # gaps sampled; the one that best leads into the rest is kept
    write_files: bool = True  # False: compose in memory only (the Python API saves later)
    bpm: float | None = None
    wav: bool = False
    plot: bool = False
    marker_note: bool = False
    name: str | None = None
    pitch_weights: PitchWeights | None = field(default=None, init=False, repr=False,
                                               compare=False)  # from key and range
    # Called as progress(done, total) during generation; may raise to abort (see GenerationConfig).
    progress: Callable[[int, int], None] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The public API takes ``str | Path`` for every path; the request holds Paths.
        self.out_dir = Path(self.out_dir)
        for name in ("primer_file", "melody_file"):
            if getattr(self, name) is not None:
                setattr(self, name, Path(getattr(self, name)))
        if not 1 <= self.bars <= MAX_BARS:
            raise ConfigError(f"bars must be in 1..{MAX_BARS}, got {self.bars}")
        if self.length is not None and not 1 <= self.length <= 100_000:
            raise ConfigError(f"length must be in 1..100000, got {self.length}")
        if sum([self.primer_file is not None, self.composer is not None, self.no_primer]) > 1:
            raise ConfigError("choose at most one of primer file, composer and no primer")
        if self.bpm is not None and not 10 <= self.bpm <= 400:
            raise ConfigError(f"bpm must be in 10..400, got {self.bpm}")
        if not 1 <= self.count <= 64:
            raise ConfigError(f"count must be in 1..64, got {self.count}")
        if self.primer_length is not None and self.primer_length < 1:
            raise ConfigError(f"primer length must be positive, got {self.primer_length}")
        if self.primer_bars is not None and not 1 <= self.primer_bars <= MAX_BARS:
            raise ConfigError(f"primer bars must be in 1..{MAX_BARS}, got {self.primer_bars}")
        check_sampling(1.0 if self.temperature is None else self.temperature,
                       DEFAULT_THRESHOLD if self.threshold is None else self.threshold,
                       self.top_k, self.top_p)
        if not 0 <= self.max_hold_steps <= 100_000 or not 0 <= self.max_repeats <= 100_000:
            raise ConfigError(
                f"max hold steps and max repeats must be in 0..100000, got "
                f"{self.max_hold_steps}, {self.max_repeats}"
            )
        self.pitch_weights = pitch_weights(self.key, self.key_strength, self.pitch_range)
        if self.melody_file is not None and (
                self.primer_file is not None or self.composer is not None):
            raise ConfigError("a melody to harmonise is the whole piece: give no primer")
        if self.density is not None:
            parse_density(self.density)
        if not 0.0 <= self.humanise <= 1.0:
            raise ConfigError(f"humanise must be in 0..1, got {self.humanise}")
        if self.infill is not None:
            parse_bars(self.infill)
            if self.primer_file is None:
                raise ConfigError("infill needs the piece to fill in: give it as the primer file")
            if not 1 <= self.infill_candidates <= 64:
                raise ConfigError(f"infill candidates must be in 1..64, got "
                                  f"{self.infill_candidates}")
        if self.voice not in ("all", "top"):
            raise ConfigError(f"voice must be 'all' or 'top', got {self.voice!r}")
        if self.ending not in ENDINGS:
            raise ConfigError(f"ending must be one of {', '.join(ENDINGS)}, got {self.ending!r}")
        if self.form == NO_FORM:
            self.form = None
        if self.form is not None and self.form != AUTO_FORM:
            FormPlan(self.form, max(self.phrase_bars, 1), self.variation)  # checks them
        if not 1 <= self.phrase_bars <= MAX_BARS:
            raise ConfigError(f"phrase bars must be in 1..{MAX_BARS}, got {self.phrase_bars}")
        if not 0 <= self.program <= 127:
            raise ConfigError(f"program must be a General MIDI program in 0..127, got "
                              f"{self.program}")
        if self.velocity is not None and not 1 <= self.velocity <= 127:
            raise ConfigError(f"velocity must be in 1..127, got {self.velocity}")
        if self.velocity_temperature is not None:
            check_velocity_temperature(self.velocity_temperature)
        for name in GUIDES:
            if getattr(self, name) is not None:
                check_guide(name, getattr(self, name))
        if self.threads is not None and not 1 <= self.threads <= 256:
            raise ConfigError(f"threads must be in 1..256, got {self.threads}")
        if self.seed is not None and not 0 <= self.seed < 2**63:
            raise ConfigError(f"seed must be in 0..2**63-1, got {self.seed}")


@dataclass
class ComposedPiece:
    """One generated piece and the files written for it."""

    score: Score
    generated_start_tick: int
    files: list[Path] = field(default_factory=list)
    probabilities: np.ndarray | None = None
    stem: str = "cadenza"  # the file name the piece is (or would be) saved under
    index: int = 0  # its place in the request's batch
    warnings: list[str] = field(default_factory=list)  # degeneration, in one line each
    # harmonise: which notes of ``score`` are the user's melody (input, not composed)
    input_notes: np.ndarray | None = None  # (num_notes,) bool


@dataclass
class ComposeResult:
    pieces: list[ComposedPiece]
    primer_source: str
    stats: dict[str, float]
    checkpoint: Path
    seed: int | None = None
    primer_used: str = ""  # what of the primer was used: bars, metre, key, tempo
    form: str | None = None  # the form composed to (drawn when the request said "auto")
    form_drawn: bool = False  # "auto" drew the form from the seed (form None: it drew none)


def default_checkpoint() -> Path:
    """The default shipped model (raises when the package ships none)."""
    from cadenza.shipped import default_model_path

    return default_model_path()


@lru_cache(maxsize=8)
def _load(path: str) -> LoadedCheckpoint:
    return load_checkpoint(path)


def load(checkpoint: str | Path | None) -> LoadedCheckpoint:
    """Load (and cache) a checkpoint; ``None`` means the default shipped model."""
    path = resolve_checkpoint(checkpoint) if checkpoint is not None else default_checkpoint()
    return _load(str(path.resolve()))


@lru_cache(maxsize=8)
def _bank(path: str) -> PrimerBank:
    return PrimerBank.for_checkpoint(_load(path))


def primer_bank(checkpoint: str | Path | None) -> PrimerBank:
    loaded = load(checkpoint)
    return _bank(str(loaded.path.resolve()))


def list_composers(checkpoint: str | Path | None) -> list[str]:
    """Composers whose held-out pieces can prime ``checkpoint``."""
    return primer_bank(checkpoint).composers()


SILENCE = "none (silence)"
# The tempo range a piece takes from a primer the bank chose (some sources are marked 40 or
# 200 quarter notes a minute); a primer file of the user's keeps its own, --bpm sets any.
BANK_BPM = (60.0, 160.0)
# A run whose corpus held out no generation piece primes from its training pieces; one that
# keeps no piece at all composes from silence (unless a composer was asked for).
NO_PIECE_SILENCE = "none (silence: the run keeps no held-out or training piece to prime with)"
TRAINING_PRIMER = "a training piece: the run holds out no generation piece"


def _choose_primer(request: ComposeRequest) -> tuple[Primer | None, str]:
    """The primer, and what the piece starts from when there is none."""
    loaded = load(request.checkpoint)
    if request.no_primer or request.melody_file is not None:
        return None, SILENCE
    if request.primer_file is not None:
        return primer_from_file(request.primer_file, loaded.representation), SILENCE
    try:
        return primer_bank(request.checkpoint).choose(request.composer, request.seed), SILENCE
    except DataError as exc:
        if request.composer is not None:
            raise
        log.info("composing from silence: %s", exc)
        return None, NO_PIECE_SILENCE


TOKENS_PER_STEP_BOUND = 12  # far above the densest piano music's tokens per 16th


def _length(request: ComposeRequest, loaded: LoadedCheckpoint, primer_array: np.ndarray | None,
            primer_ticks: int) -> int:
    """Generation length in the model's unit (bars become steps, or an estimate)."""
    if request.length is not None:
        return request.length
    spq = loaded.representation.config.steps_per_quarter
    steps = request.bars * 4 * spq
    family = get_family(loaded.model.family)
    if family.grid:
        return steps
    if family.stops_at_bars:  # the generator stops at the bar line: a generous upper bound
        return int(min(100_000, steps * TOKENS_PER_STEP_BOUND))
    # Messages/tokens per step measured on the primer; generate enough, cut to the bars later.
    per_step = len(primer_array) / max(primer_ticks, 1) if primer_array is not None else 1.0
    return int(min(100_000, max(16, np.ceil(steps * per_step * 1.5))))


def compose(request: ComposeRequest) -> ComposeResult:
    """Generate ``request.count`` pieces and write their files into ``request.out_dir``.

    A single piece of a grid family is generated on one torch thread unless
    ``request.threads`` says otherwise: its walk is thousands of tiny operations per step,
    which more threads only slow down (4-5x on a busy 2-core machine).
    """
    loaded = load(request.checkpoint)
    check_controls(request, loaded.model.family)
    if request.seed is None:  # draw one, so that the piece can be made again (sidecar)
        request = replace(request, seed=secrets.randbelow(2**31))
    threads = request.threads
    if threads is None and request.count == 1 and get_family(loaded.model.family).grid:
        threads = 1
    with torch_threads(threads):
        return _compose(request, loaded)


def _compose(request: ComposeRequest, loaded: LoadedCheckpoint) -> ComposeResult:
    if request.infill is not None:
        return _infill(request, loaded)
    model, rep = loaded.model, loaded.representation
    primer, silence = _choose_primer(request)
    melody_piece = (primer_from_file(request.melody_file, rep)
                    if request.melody_file is not None else None)
    # What --key auto and a cadence's key are detected from.
    key_source = primer if primer is not None else melody_piece
    if request.key == AUTO_KEY:
        request = replace(request, key=_auto_key(key_source))
    primer_array = None
    # Without a primer the walk starts from one silent step: the last of a bar, so that the
    # first generated step is a downbeat for the model's beat inputs and for the plans alike.
    first_step = 4 * rep.config.steps_per_quarter - 1 if get_family(model.family).grid else 0
    if primer is not None:
        check_meter(primer, loaded)
        length = request.primer_length
        if length is None and request.primer_file is None:
            length = default_primer_length(model, rep)  # a held-out piece: its opening
        primer_array, first_step = encode_primer(primer, rep, length, request.primer_bars)
    primer_ticks = 0
    if primer_array is not None:
        primer_ticks = rep.onset_tick(primer_array, len(primer_array) - 1)
    length = _length(request, loaded, primer_array, primer_ticks)
    melody = _melody_plan(request, loaded, melody_piece)
    if melody is not None:
        length = melody.length
        bar_steps = 4 * rep.config.steps_per_quarter
        request = replace(request, bars=max(1, -(-length // bar_steps)))  # the melody's bars
    drawn = _draws_form(request, loaded, melody is not None)
    request = replace(request, form=_form(request, drawn))
    config = GenerationConfig(
        **_sampling(request, loaded), length=length, count=request.count,
        top_k=request.top_k, top_p=request.top_p, max_repeats=request.max_repeats,
        density=parse_density(request.density) if request.density else None,
        plan=combine(_plan(request, loaded, key_source, length), melody),  # the melody wins
        first_step=first_step if get_family(model.family).grid else 0,
        bars=request.bars if get_family(model.family).stops_at_bars
        and request.length is None and melody is None else None,
        ending=_token_ending(request, loaded, key_source),
    )
    result = generate(model, rep, primer_array, config)
    timed = primer if primer is not None else melody_piece  # a harmonised melody keeps its tempo
    qpm = request.bpm or (score_qpm(timed.score) if timed is not None else 120.0)
    base = request.name or _base_name(loaded, primer, melody_piece)
    source = primer.source if primer is not None else silence
    used = (describe_primer(primer, rep, primer_array, first_step)
            if primer is not None and primer_array is not None else source)
    if request.bpm is None and request.primer_file is None and primer is not None:
        # a primer the bank chose sets the pace only within a playable range
        bank_qpm = qpm
        qpm = min(max(qpm, BANK_BPM[0]), BANK_BPM[1])
        if qpm != bank_qpm:
            used += f"; the piece at {qpm:.0f} bpm (--bpm sets another)"
    pieces = []
    for index in range(request.count):
        piece = _finish_piece(result, index, loaded, request, qpm, silent_lead=primer is None)
        piece.score = piece.score.copy_with(
            markers=(*piece.score.markers, Marker(0, f"{SEED_MARKER}{request.seed}")))
        piece.stem = base if request.count == 1 else f"{base}-{index + 1}"
        piece.index = index
        piece.warnings = _warnings(piece, request, loaded, melody is not None)
        if melody is not None:
            piece.input_notes = _melody_notes(piece.score, melody)
        if request.write_files:
            piece.files = _write_outputs(piece, request, piece.stem, loaded)
            piece.files.append(write_sidecar(
                piece.files[0].with_suffix(".json"), request=request,
                checkpoint=_replay_name(loaded),
                weights_sha256=loaded.info.get("weights_sha256"), primer=source, piece=index))
        pieces.append(piece)
    return ComposeResult(pieces, source, result.stats, loaded.path, request.seed, used,
                         request.form, drawn)


def _draws_form(request: ComposeRequest, loaded: LoadedCheckpoint, harmonising: bool) -> bool:
    """Whether the form is drawn from the seed: asked ``"auto"`` while a grid model composes a
    number of bars of its own (not a --length, not a harmonisation) long enough for a second
    phrase. The draw may give none (through-composed)."""
    return (request.form == AUTO_FORM and not harmonising and request.length is None
            and request.seed is not None and request.bars > request.phrase_bars
            and "form" in get_family(loaded.model.family).controls)


def _form(request: ComposeRequest, drawn: bool) -> str | None:
    """The form to compose to: the asked one, or for ``"auto"`` the one drawn from the seed
    when ``drawn`` (:func:`_draws_form`), else none."""
    if request.form != AUTO_FORM:
        return request.form
    if not drawn or request.seed is None:
        return None
    return auto_form(request.seed)


def _sampling(request: ComposeRequest, loaded: LoadedCheckpoint) -> dict[str, Any]:
    """The generation settings every kind of request shares (checked once, by the request).

    The temperature, the piano-roll floor and the dynamics' temperature are the request's,
    else the ones calibrated for the model (``config.json`` ``"generation"``)."""
    threshold = request.threshold
    if threshold is None:
        threshold = loaded.generation_default("threshold", DEFAULT_THRESHOLD)
    velocity_temperature = request.velocity_temperature
    if velocity_temperature is not None and not has_dynamics(loaded):
        raise ConfigError(f"{model_name(loaded)} has no dynamics output for a velocity "
                          "temperature to act on (a biaxial model trained with velocity_bins)")
    if velocity_temperature is None:
        velocity_temperature = loaded.generation_default("velocity_temperature", 1.0)
    temperature = request.temperature
    if temperature is None:
        temperature = loaded.generation_default("temperature", 1.0)
    return {"temperature": temperature, "threshold": threshold,
            "velocity_temperature": velocity_temperature, **_guide_settings(request, loaded),
            "adaptive": request.adaptive, "seed": request.seed,
            "max_hold_steps": request.max_hold_steps, "pitch_weights": request.pitch_weights,
            "max_polyphony": request.max_polyphony, "progress": request.progress}


def _guide_settings(request: ComposeRequest, loaded: LoadedCheckpoint) -> dict[str, Any]:
    """The biaxial onset guides: the request's strengths, else the model's calibrated ones
    (``config.json`` ``"generation"``), with the corpus' onset profile the metre guide
    steers toward."""
    asked = {name: getattr(request, name) for name in GUIDES}
    if "onset_guides" not in get_family(loaded.model.family).controls:
        used = sorted(name for name, value in asked.items() if value)
        if used:
            raise ConfigError(f"{used[0].replace('_', '-')}: the {loaded.model.family} family "
                              "cannot honour it (biaxial models only)")
        return {}
    settings = {name: loaded.generation_default(name, 0.0) if value is None else value
                for name, value in asked.items()}
    defaults = loaded.info.get("generation")
    profile = defaults.get("onset_profile") if isinstance(defaults, dict) else None
    if settings["metre_guide"] and not (isinstance(profile, list) and len(profile) == 16):
        if asked["metre_guide"]:
            raise ConfigError(f"metre-guide: {model_name(loaded)} carries no onset profile of "
                              "its corpus (config.json generation.onset_profile)")
        settings["metre_guide"] = 0.0
    if settings["metre_guide"]:
        settings["onset_profile"] = tuple(float(x) for x in profile)  # type: ignore[union-attr]
    return settings


def has_dynamics(loaded: LoadedCheckpoint) -> bool:
    """Whether the model predicts a velocity for the notes it starts."""
    return int(getattr(loaded.model.config, "velocity_bins", 0) or 0) > 0


def _infill(request: ComposeRequest, loaded: LoadedCheckpoint) -> ComposeResult:
    """Bars A..B of the primer file composed again, everything else kept (see infill)."""
    assert request.infill is not None and request.primer_file is not None
    rep = loaded.representation
    piece = primer_from_file(request.primer_file, rep)
    check_meter(piece, loaded)
    bars = parse_bars(request.infill)
    if request.key == AUTO_KEY:
        request = replace(request, key=_auto_key(piece))
    config = GenerationConfig(**_sampling(request, loaded))
    score, stats = infill(loaded.model, rep, piece.score, bars, config,
                          request.infill_candidates)
    start = (bars[0] - 1) * 4 * rep.config.steps_per_quarter
    # A piece cadenza composed carries its own seed and start markers: this one gets new ones.
    kept = tuple(m for m in score.markers
                 if m.text != GENERATED_MARKER and not m.text.startswith(SEED_MARKER))
    score = score.copy_with(markers=(*kept, Marker(start, GENERATED_MARKER),
                                     Marker(0, f"{SEED_MARKER}{request.seed}")),
                            program=request.program or score.program)
    composed = ComposedPiece(score, start,
                             stem=request.name or f"{piece.name}-bars-{bars[0]}-{bars[1]}")
    if request.write_files:
        composed.files = _write_outputs(composed, request, composed.stem, loaded)
        composed.files.append(write_sidecar(
            composed.files[0].with_suffix(".json"), request=request, checkpoint=loaded.path,
            weights_sha256=loaded.info.get("weights_sha256"), primer=piece.source, piece=0))
    return ComposeResult([composed], piece.source, stats, loaded.path, request.seed,
                         f"{piece.source} (bars {bars[0]}-{bars[1]} composed again)")


def _finish_piece(result: GenerationResult, index: int, loaded: LoadedCheckpoint,
                  request: ComposeRequest, qpm: float, silent_lead: bool = False
                  ) -> ComposedPiece:
    rep = loaded.representation
    score = result_to_score(result, index, rep, qpm=qpm, marker_note=request.marker_note,
                            name="cadenza")
    start = generated_start_tick(result, index, rep)
    if silent_lead and start:  # drop the silent bar in front: the music starts at tick 0
        notes = score.notes.copy()
        notes["start"] -= start
        markers = tuple(replace(m, tick=max(m.tick - start, 0)) for m in score.markers)
        score, start = score.copy_with(notes=notes[notes["start"] >= 0], markers=markers), 0
    if not get_family(loaded.model.family).grid and request.length is None:
        end = start + request.bars * 4 * rep.config.steps_per_quarter
        score = _cut(score, end)
    score = shaped_tempo(score, qpm, humanise=request.humanise, phrase_bars=request.phrase_bars,
                         ritardando=request.ritardando, seed=(request.seed or 0) + index)
    if request.velocity is not None:
        notes = score.notes.copy()
        notes["velocity"] = request.velocity
        score = score.copy_with(notes=notes)
    if request.program:
        score = score.copy_with(program=request.program)
    probs = result.probabilities[index] if result.probabilities is not None else None
    return ComposedPiece(score, start, probabilities=probs)


def _melody_notes(score: Score, melody: MelodyPlan) -> np.ndarray:
    """(num_notes,) bool: the notes of a harmonised ``score`` that are the clamped melody's
    (same start step and pitch; the score's ticks are the model's grid steps)."""
    wanted = {(int(n["start"]), int(n["pitch"])) for n in melody.melody}
    return np.array([(int(s), int(p)) in wanted
                     for s, p in zip(score.notes["start"], score.notes["pitch"], strict=True)],
                    dtype=bool)


def _warnings(piece: ComposedPiece, request: ComposeRequest, loaded: LoadedCheckpoint,
              harmonised: bool) -> list[str]:
    """Degeneration warnings for a piece's generated part (see cadenza.degeneration)."""
    bar = 4 * piece.score.ticks_per_quarter
    if request.length is None and not harmonised:
        bars = float(request.bars)
    else:
        bars = max(1.0, (piece.score.end_tick - piece.generated_start_tick) / bar)
    found = degeneration_warnings(piece.score, piece.generated_start_tick, bars, loaded.info)
    for line in found:
        log.warning("%s: %s", piece.stem, line)
    return found


def _cut(score: Score, end_tick: int) -> Score:
    """Drop notes starting at or after ``end_tick`` and shorten those that cross it."""
    notes = score.notes[score.notes["start"] < end_tick].copy()
    notes["duration"] = np.minimum(notes["start"] + notes["duration"], end_tick) - notes["start"]
    return score.copy_with(notes=notes)


def _token_ending(request: ComposeRequest, loaded: LoadedCheckpoint,
                  key_source: Primer | None) -> TokenEnding | None:
    """``--ending cadence`` for a token family: its last elements (or bars) steered to the
    dominant, then the tonic triad, in the cadence's key (see token_ending)."""
    if request.ending != "cadence" or get_family(loaded.model.family).grid:
        return None
    return TokenEnding(_cadence_key(request, key_source))


def _source_key(source: Primer | None) -> Key | None:
    """The key a primer's (or a melody's) pitch classes suggest; ``None`` without notes."""
    if source is None or source.score.num_notes == 0:
        return None
    notes = source.score.notes
    return detect_key(notes["pitch"], notes["duration"])


def _auto_key(source: Primer | None) -> str | None:
    """``--key auto``: the key of the primer, or of the melody to harmonise."""
    key = _source_key(source)
    if key is not None and source is not None:
        log.info("key: %s (detected from %s)", key, source.source)
    return None if key is None else str(key)


def _cadence_key(request: ComposeRequest, source: Primer | None) -> Key:
    """A cadence's key: ``--key``, else the primer's (or melody's), else C major."""
    if request.key is not None:
        return parse_key(request.key)
    return _source_key(source) or parse_key("C major")


def _melody_plan(request: ComposeRequest, loaded: LoadedCheckpoint,
                 source: Primer | None) -> MelodyPlan | None:
    """The clamped melody of a harmonise request (``source``: its file, read), on the
    model's grid."""
    if source is None:
        return None
    notes = melody_of(source.score, request.voice)
    if len(notes) == 0:
        raise ConfigError(f"{request.melody_file}: no melody notes to harmonise")
    low = int(getattr(loaded.representation.config, "low", 21))
    return MelodyPlan(notes, low, loaded.representation.feature_shape[0], request.below_only)


def _plan(request: ComposeRequest, loaded: LoadedCheckpoint, key_source: Primer | None,
          length: int) -> Plan | None:
    """The form and ending of a grid piece as one plan (``None`` when neither is asked)."""
    spq = loaded.representation.config.steps_per_quarter
    bar = 4 * spq
    form = (FormPlan(request.form, request.phrase_bars * bar, request.variation)
            if request.form else None)
    ending = None
    grid = get_family(loaded.model.family).grid  # token families: see _token_ending
    automatic = (request.ending == "auto" and request.length is None
                 and "ending" in get_family(loaded.model.family).controls)
    if grid and (request.ending == "cadence" or automatic):
        key = _cadence_key(request, key_source)
        low = int(getattr(loaded.representation.config, "low", 21))
        try:
            allowed = (request.pitch_weights.weights > 0
                       if request.pitch_range is not None and request.pitch_weights else None)
            ending = EndingPlan(key, length, bar, low, loaded.representation.feature_shape[0],
                                allowed=allowed, max_notes=request.max_polyphony)
        except ConfigError:
            if not automatic:
                raise
            log.info("no automatic cadence: the piece is too short or the final chord of %s "
                     "lies outside the model's keys", key)
    if form is not None and ending is not None:  # the cadence's two bars are not copied
        form.free_from = length - 2 * bar
    return combine(form, ending)


def check_meter(primer: Primer, loaded: LoadedCheckpoint) -> None:
    """Refuse a primer in a metre the model was not trained on (one line naming it)."""
    from cadenza.score import ORIGINAL_METERS

    meters = loaded.info.get("data", {}).get("corpus", {}).get("meters")
    if not isinstance(meters, list) or not meters or not get_family(loaded.model.family).grid:
        return  # trained on every metre, or a family that reads any
    allowed = tuple(str(m) for m in meters)
    original = allowed == (ORIGINAL_METERS,)
    learned = "metres of 2 or 4 beats" if original else ", ".join(allowed)
    for sig in primer.score.time_signatures:
        kept = sig.numerator in (2, 4) if original else sig.label in allowed
        if not kept:
            raise ConfigError(
                f"{primer.source}: the primer is in {sig.label}; this model learned "
                f"{learned} only (choose another primer or a model trained with "
                f"--meters all)")


def describe_primer(primer: Primer, rep: Representation, array: np.ndarray,
                    first_tick: int) -> str:
    """What was used of a primer: its bars, metre, key and tempo (and that it is a training
    piece, when the run held out none)."""
    bar = 4 * rep.config.steps_per_quarter
    end_tick = first_tick + max(rep.onset_tick(array, len(array)), 1)
    first_bar, last_bar = first_tick // bar + 1, (end_tick - 1) // bar + 1
    total = max(1, -(-int(primer.score.end_tick) // bar))
    used = (f"its bar {first_bar}" if first_bar == last_bar
            else f"its bars {first_bar}-{last_bar}")
    meter = ", ".join(sorted({s.label for s in primer.score.time_signatures})) or "4/4"
    if primer.source_meter and primer.source_meter != meter:
        meter = f"{meter}, rewritten from the source's {primer.source_meter}"
    notes = primer.score.notes
    key = detect_key(notes["pitch"], notes["duration"])
    training = "" if primer.held_out else f"; {TRAINING_PRIMER}"
    return (f"{primer.source}; used {used} of {total} as the opening ({meter}, {key}, "
            f"{score_qpm(primer.score):.0f} bpm{training})")


def check_controls(request: ComposeRequest, family: str) -> None:
    """Refuse a composing control the model's family cannot honour (never ignore it)."""
    asked = {"key": request.key is not None, "range": request.pitch_range is not None,
             "max_polyphony": request.max_polyphony > 0,
             "form": request.form not in (None, AUTO_FORM),
             "ending": request.ending == "cadence", "melody": request.melody_file is not None,
             "infill": request.infill is not None, "density": request.density is not None,
             # sampling settings: the piano-roll floor, the token families' truncation
             # (None / 0 / 1: not asked for; a model's calibrated default is not a request)
             "threshold": request.threshold is not None, "top_k": request.top_k > 0,
             "top_p": request.top_p < 1.0}
    record = get_family(family)
    refused = [name for name, on in asked.items() if on and name not in record.controls]
    if refused:
        raise ConfigError(
            f"the {family} family cannot honour --{refused[0].replace('_', '-')}; it honours "
            f"{', '.join(sorted(record.controls))}"
        )


def _shipped_name(loaded: LoadedCheckpoint) -> str | None:
    """A shipped model's name (``None`` for any other checkpoint)."""
    shipped = loaded.info.get("shipped_name")
    return shipped if isinstance(shipped, str) and shipped else None


def _replay_name(loaded: LoadedCheckpoint) -> str:
    """What a sidecar records to load the model again: a shipped model's name (the same on
    every machine), else the checkpoint's path."""
    return _shipped_name(loaded) or str(loaded.path)


def model_name(loaded: LoadedCheckpoint) -> str:
    """What to call a model in file names: a shipped model's name, else its run folder's."""
    shipped = _shipped_name(loaded)
    if shipped:
        return shipped
    folder = loaded.path.parent.parent if loaded.path.parent.name == "checkpoints" else loaded.path
    return folder.name or loaded.preset or loaded.model.family


def _base_name(loaded: LoadedCheckpoint, primer: Primer | None,
               melody: Primer | None = None) -> str:
    """``MODEL-COMPOSER-PRIMER`` (``MODEL-silence`` without a primer, ``MELODY-harmonised-MODEL``
    for a harmonised melody), safe as a file name."""
    parts = [model_name(loaded)]
    if melody is not None:
        parts = [PurePath(melody.name).stem, "harmonised", *parts]
    elif primer is None:
        parts.append("silence")
    else:
        if primer.composer:
            parts.append(primer.composer)
        parts.append(PurePath(primer.name).stem)  # a corpus piece's name is its path
    name = "-".join(parts)
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:120]


# Every file a piece may get: the stem is chosen so that none of them exists yet.
PIECE_FILES = (".mid", ".json", ".wav", ".png", "-probabilities.png")


def unique_stem(folder: Path, stem: str, endings: tuple[str, ...] = PIECE_FILES) -> str:
    """``stem``, or ``stem-2``, ``stem-3`` ..., the first with no ``folder/STEM+ending``."""
    candidate, n = stem, 2
    while any((folder / f"{candidate}{ending}").exists() for ending in endings):
        candidate = f"{stem}-{n}"
        n += 1
    return candidate


def _write_outputs(piece: ComposedPiece, request: ComposeRequest, stem: str,
                   loaded: LoadedCheckpoint) -> list[Path]:
    out = request.out_dir
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder; choose another output folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{out}: cannot create the output folder ({exc.strerror})") from None
    stem = unique_stem(out, stem)  # every file of a piece under one name, none replaced
    files = [write_midi(piece.score, out / f"{stem}.mid")]
    if request.wav:
        from cadenza.audio import render_wav

        files.append(render_wav(piece.score, out / f"{stem}.wav"))
    if request.plot:
        from cadenza import plots

        files.append(plots.plot_piano_roll(
            piece.score, out / f"{stem}.png",
            primer_end_tick=piece.generated_start_tick, title=stem,
        ))
        if piece.probabilities is not None:
            rep_cfg = loaded.representation.config
            files.append(plots.plot_probabilities(
                piece.probabilities, out / f"{stem}-probabilities.png",
                low_pitch=int(getattr(rep_cfg, "low", 21)),
                steps_per_quarter=rep_cfg.steps_per_quarter, title=f"{stem}: note probabilities",
                first_step=piece.generated_start_tick,  # the same time axis as the piano roll
            ))
    return files
