"""Checking a compose request: its fields (each bad value names its field), the controls its
model's family can honour, and the seed and torch threads it runs with."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from cadenza.checkpoint import LoadedCheckpoint
from cadenza.controls import PitchWeights, pitch_weights
from cadenza.ensembles import get_ensemble
from cadenza.errors import ConfigError
from cadenza.families import get_family
from cadenza.generation.base import (
    DEFAULT_THRESHOLD,
    check_sampling,
    check_velocity_temperature,
)
from cadenza.generation.guides import GUIDES, check_guide
from cadenza.generation.infill import parse_bars
from cadenza.generation.loudness import check_velocity_drift, check_velocity_memory
from cadenza.generation.plan import (
    AUTO_FORM,
    NO_FORM,
    FormPlan,
    check_ending_hold,
    check_rhythm_returns,
)
from cadenza.generation.primerbank import Primer
from cadenza.models.styleinput import check_style_strength
from cadenza.sampling import parse_density

MAX_BARS = 256
ENDINGS = ("auto", "cadence", "none")


@dataclass
class ComposeRequest:
    """What to compose; validated in ``__post_init__`` (bad values name their field)."""

    checkpoint: str | Path | None = None
    out_dir: Path = Path("out")
    bars: int = 16
    length: int | None = None
    primer_file: Path | None = None
    # a primer made in memory (a phrase played on the page; see composing.primer.played_primer)
    primer_given: Primer | None = field(default=None, repr=False, compare=False)
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
    # dynamics: keep each new note within about this many velocity bins of the recent level
    velocity_memory: float | None = None
    # dynamics: the spread of each piece's loudness level, drawn afresh at every bar line
    velocity_drift: float | None = None
    # biaxial onset guides (cadenza.generation.guides); None: the model's calibrated strength
    metre_guide: float | None = None
    rhythm_guide: float | None = None
    rhythm_copy: float | None = None
    harmony_guide: float | None = None
    # biaxial: the chance a step moves in no parallel fifth or octave, chosen among draws
    # (cadenza.generation.parallels); None: the model's own, on for --ensemble satb
    avoid_parallels: float | None = None
    program: int = 0  # the General MIDI instrument the piece is written for (0: piano)
    # "satb", "quartet", "piano": a track and a score part per instrument (cadenza.ensembles)
    ensemble: str | None = None
    # e.g. "D minor": out-of-key notes weighted by 1 - key_strength; "auto": the primer's key
    key: str | None = None
    key_strength: float = 1.0
    pitch_range: str | None = None  # e.g. "C2-C6": no note outside it
    # grid families: at most this many notes at once (0: no limit; None: the model's own)
    max_polyphony: int | None = None
    density: str | None = None  # "2..4": note onsets per beat kept in that band
    # e.g. "AABA": a repeated letter returns to its first phrase; "auto": a grid model
    # composing a number of bars draws a form from the seed (AUTO_FORMS); "none" or None: none
    form: str | None = AUTO_FORM
    phrase_bars: int = 4
    variation: float = 0.0  # the model's share in a repeat (0: an exact repeat)
    # the share of returning phrases that keep only their rhythm (None: the model's default)
    rhythm_returns: float | None = None
    # "cadence": dominant seventh, then the held tonic chord; "auto": a cadence for a grid
    # model composing a number of bars (not --length) when its keys hold the final chord
    ending: str = "auto"
    # beats the notes of a cadence's final chord above its bass sound; the bass holds to the
    # bar's end (None: the model's own, else the whole bar)
    ending_hold: float | None = None
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
    # a styled model's style (composer or period, see cadenza.data.styles); without a primer
    # source of its own the piece then starts from silence (no_primer)
    style: str | None = None
    # how far the style is pushed from the centre of the model's styles (None: the model's
    # calibrated default, else 1; see cadenza.models.styleinput); only with a style
    style_strength: float | None = None
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
        self._check_opening()
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
        if self.melody_file is not None and (self.primer_file is not None
                                             or self.composer is not None
                                             or self.primer_given is not None):
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
        if self.ending_hold is not None:
            check_ending_hold(self.ending_hold)
            if self.ending == "none":
                raise ConfigError("ending_hold is the final chord's length: it needs an ending "
                                  "('cadence' or 'auto'), not 'none'")
        if self.form == NO_FORM:
            self.form = None
        if self.form is not None and self.form != AUTO_FORM:
            FormPlan(self.form, max(self.phrase_bars, 1), self.variation)  # checks them
        if self.rhythm_returns is not None:
            check_rhythm_returns(self.rhythm_returns)
        if not 1 <= self.phrase_bars <= MAX_BARS:
            raise ConfigError(f"phrase bars must be in 1..{MAX_BARS}, got {self.phrase_bars}")
        if not 0 <= self.program <= 127:
            raise ConfigError(f"program must be a General MIDI program in 0..127, got "
                              f"{self.program}")
        if self.ensemble is not None:
            self.ensemble = get_ensemble(self.ensemble).name
            if self.program:
                raise ConfigError("an ensemble sets each part's own General MIDI program: "
                                  "give ensemble or program, not both")
        self._check_dynamics()
        for name in GUIDES:
            if getattr(self, name) is not None:
                check_guide(name, getattr(self, name))
        if self.threads is not None and not 1 <= self.threads <= 256:
            raise ConfigError(f"threads must be in 1..256, got {self.threads}")
        if self.seed is not None and not 0 <= self.seed < 2**63:
            raise ConfigError(f"seed must be in 0..2**63-1, got {self.seed}")


    def _check_opening(self) -> None:
        """At most one way to open the piece; a style without one starts from silence."""
        if sum([self.primer_file is not None, self.composer is not None, self.no_primer,
                self.primer_given is not None]) > 1:
            raise ConfigError("choose at most one of primer file, played primer, composer and "
                              "no primer")
        if self.style is not None:
            if not isinstance(self.style, str) or not self.style.strip():
                raise ConfigError(f"style must be a style's name, got {self.style!r}")
            if not (self.primer_file or self.composer or self.random_primer
                    or self.melody_file or self.primer_given is not None):
                self.no_primer = True  # a style is chosen without a primer
        if self.style_strength is not None:
            check_style_strength(self.style_strength)
            if self.style is None:
                raise ConfigError(f"style strength {self.style_strength} needs a style to "
                                  "strengthen (give style as well)")

    def _check_dynamics(self) -> None:
        """A fixed velocity, the dynamics' temperature and the loudness memory in range."""
        if self.velocity is not None and not 1 <= self.velocity <= 127:
            raise ConfigError(f"velocity must be in 1..127, got {self.velocity}")
        if self.velocity_temperature is not None:
            check_velocity_temperature(self.velocity_temperature)
        if self.velocity_memory is not None:
            check_velocity_memory(self.velocity_memory)
        if self.velocity_drift is not None:
            check_velocity_drift(self.velocity_drift)

def check_controls(request: ComposeRequest, family: str) -> None:
    """Refuse a composing control the model's family cannot honour (never ignore it)."""
    asked = {"key": request.key is not None, "range": request.pitch_range is not None,
             "max_polyphony": bool(request.max_polyphony),
             "form": request.form not in (None, AUTO_FORM),
             "ending": request.ending == "cadence",
             "ending_hold": request.ending_hold is not None,
             "melody": request.melody_file is not None,
             "infill": request.infill is not None, "density": request.density is not None,
             # sampling settings: the piano-roll floor, the token families' truncation
             # (None / 0 / 1: not asked for; a model's calibrated default is not a request)
             "threshold": request.threshold is not None, "top_k": request.top_k > 0,
             "top_p": request.top_p < 1.0, "style": request.style is not None}
    record = get_family(family)
    refused = [name for name, on in asked.items() if on and name not in record.controls]
    if refused:
        raise ConfigError(
            f"the {family} family cannot honour --{refused[0].replace('_', '-')}; it honours "
            f"{', '.join(sorted(record.controls))}"
        )


def with_seed(request: ComposeRequest) -> ComposeRequest:
    """The request with a seed: its own, else one drawn, so that the piece can be made again
    (the sidecar records it)."""
    if request.seed is not None:
        return request
    return replace(request, seed=secrets.randbelow(2**31))


def compose_threads(request: ComposeRequest, loaded: LoadedCheckpoint) -> int | None:
    """Torch threads for a request: its own setting, else 1 for a single grid piece (its walk
    is thousands of tiny operations per step, which more threads only slow down: 4-5x on a
    busy 2-core machine), else torch's default (``None``)."""
    if request.threads is None and request.count == 1 and get_family(loaded.model.family).grid:
        return 1
    return request.threads
