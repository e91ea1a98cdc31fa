"""Planning a piece before it is generated: its key (``auto``: the primer's), its length in
the model's unit, a harmonisation's clamped melody, its form (``auto``: drawn from the seed)
and its ending (a cadence in the piece's key)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np

from cadenza.checkpoint import LoadedCheckpoint
from cadenza.composing.polyphony import polyphony_limit
from cadenza.composing.primer import Opening
from cadenza.composing.request import ComposeRequest
from cadenza.controls import AUTO_KEY, Key, detect_key, parse_key
from cadenza.errors import ConfigError
from cadenza.families import get_family
from cadenza.generation.melody import MelodyPlan, melody_of
from cadenza.generation.plan import (
    AUTO_FORM,
    BEATS_PER_BAR,
    EndingPlan,
    FormPlan,
    Plan,
    auto_form,
    check_ending_hold,
    combine,
)
from cadenza.generation.primerbank import Primer
from cadenza.generation.token_ending import TokenEnding

log = logging.getLogger(__name__)

TOKENS_PER_STEP_BOUND = 12  # far above the densest piano music's tokens per 16th


@dataclass(frozen=True)
class PiecePlan:
    """What a piece is composed to, beyond the sampling settings."""

    length: int  # generation length in the model's unit
    melody: MelodyPlan | None  # a harmonisation's clamped melody
    form_drawn: bool  # "auto" drew the form from the seed (it may have drawn none)
    plan: Plan | None  # grid families: the form, the cadence and the melody as one plan
    ending: TokenEnding | None  # token families: the cadence their last elements steer to


def plan_piece(request: ComposeRequest, loaded: LoadedCheckpoint, opening: Opening
               ) -> tuple[ComposeRequest, PiecePlan]:
    """The request with its key (``auto``: the primer's or the melody's), bars (a melody's
    own) and form (``auto``: drawn from the seed) settled, and the plan of the piece."""
    if request.key == AUTO_KEY:
        request = replace(request, key=auto_key(opening.key_source))
    length = _length(request, loaded, opening.array, opening.ticks)
    melody = _melody_plan(request, loaded, opening.melody)
    if melody is not None:
        length = melody.length
        bar_steps = 4 * loaded.representation.config.steps_per_quarter
        request = replace(request, bars=max(1, -(-length // bar_steps)))  # the melody's bars
    drawn = _draws_form(request, loaded, melody is not None)
    request = replace(request, form=_form(request, drawn))
    plan = combine(_plan(request, loaded, opening.key_source, length), melody)  # the melody wins
    ending = _token_ending(request, loaded, opening.key_source)
    return request, PiecePlan(length, melody, drawn, plan, ending)


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


def auto_key(source: Primer | None) -> str | None:
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


def _hold_steps(request: ComposeRequest, loaded: LoadedCheckpoint, steps_per_quarter: int
                ) -> int:
    """Steps a cadence's final chord sounds above its bass: the request's beats, else the
    model's own (``config.json`` ``"generation"`` ``ending_hold``), else the whole bar; at
    least one."""
    beats = loaded.setting("ending_hold", request.ending_hold, BEATS_PER_BAR)
    try:
        check_ending_hold(beats)
    except ConfigError as error:
        raise ConfigError(f"{loaded.path / 'config.json'}: generation.{error}") from None
    return min(max(round(beats * steps_per_quarter), 1), BEATS_PER_BAR * steps_per_quarter)


def _plan(request: ComposeRequest, loaded: LoadedCheckpoint, key_source: Primer | None,
          length: int) -> Plan | None:
    """The form and ending of a grid piece as one plan (``None`` when neither is asked)."""
    spq = loaded.representation.config.steps_per_quarter
    bar = 4 * spq
    returns = loaded.setting("rhythm_returns", request.rhythm_returns, 0.0)
    form = (FormPlan(request.form, request.phrase_bars * bar, request.variation,
                     rhythm_returns=returns, seed=request.seed)
            if request.form else None)
    ending = None
    grid = get_family(loaded.model.family).grid  # token families: see _token_ending
    automatic = (request.ending == "auto" and request.length is None
                 and "ending" in get_family(loaded.model.family).controls)
    if grid and (request.ending == "cadence" or automatic):
        key = _cadence_key(request, key_source)
        low = int(getattr(loaded.representation.config, "low", 21))
        # The model's own settings are read outside the try: a bad one is refused, never
        # taken for a piece the cadence does not fit.
        max_notes, hold_steps = polyphony_limit(request, loaded), _hold_steps(request, loaded, spq)
        try:
            allowed = (request.pitch_weights.weights > 0
                       if request.pitch_range is not None and request.pitch_weights else None)
            ending = EndingPlan(key, length, bar, low, loaded.representation.feature_shape[0],
                                allowed=allowed, max_notes=max_notes, hold_steps=hold_steps)
        except ConfigError:
            if not automatic:
                raise
            log.info("no automatic cadence: the piece is too short or the final chord of %s "
                     "lies outside the model's keys", key)
    if form is not None and ending is not None:  # the cadence's two bars are not copied
        form.free_from = length - 2 * bar
    return combine(form, ending)

