"""Shaping a composed piece's tempo: a humanised tempo and a closing ritardando.

The models compose on a grid at one tempo. A pianist does not play that way: tempo rises a
little into the middle of a phrase and broadens at its end (the "phrase arch" of
performance research: Todd 1985, "A model of expressive timing in tonal music"; Friberg,
Bresin & Sundberg 2006, the KTH performance rules), and wanders slightly beat to beat. Both
are written here as one tempo change per beat in the tempo map; the notes never move in
ticks, so the MIDI file still lines up with the grid (bars, sheet music) while it sounds
played.

:func:`beat_factors` gives each beat's tempo as a share of the piece's tempo;
:func:`shaped_tempo` turns the shares into the score's tempo changes.
"""

from __future__ import annotations

import numpy as np

from cadenza.errors import ConfigError
from cadenza.score import Score, Tempo

__all__ = ["HUMANISE_ARCH", "HUMANISE_BROADEN", "HUMANISE_WANDER", "RITARDANDO_BARS",
           "RITARDANDO_TO", "beat_factors", "shaped_tempo"]

RITARDANDO_BARS = 2
RITARDANDO_TO = 0.7  # the last beat's tempo, as a share of the piece's

# At humanise = 1: the middle of a phrase is HUMANISE_ARCH faster, its last beat
# HUMANISE_BROADEN slower, and a smooth random wander adds about HUMANISE_WANDER (std).
HUMANISE_ARCH = 0.05
HUMANISE_BROADEN = 0.12
HUMANISE_WANDER = 0.02
BEATS_PER_BAR = 4


def _phrase_arch(beats: int, phrase_beats: int) -> np.ndarray:
    """Per beat: faster towards the middle of each phrase, broadening into its last beat."""
    position = (np.arange(beats) % phrase_beats) / phrase_beats  # 0 at a phrase's first beat
    arch = HUMANISE_ARCH * np.sin(np.pi * position)
    last = (np.arange(beats) % phrase_beats) == phrase_beats - 1
    before_last = (np.arange(beats) % phrase_beats) == phrase_beats - 2
    return 1.0 + arch - HUMANISE_BROADEN * last - HUMANISE_BROADEN / 3 * before_last


def _wander(beats: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth random walk around 1 (a moving average of white noise over 4 beats)."""
    noise = rng.standard_normal(beats + 3)
    smooth = np.convolve(noise, np.full(4, 0.5), mode="valid")  # std 1 again
    return 1.0 + HUMANISE_WANDER * smooth[:beats]


def beat_factors(
    beats: int,
    *,
    humanise: float = 0.0,
    phrase_bars: int = 4,
    ritardando: bool = False,
    seed: int = 0,
) -> np.ndarray:
    """Each beat's tempo as a share of the piece's tempo (``beats`` values, all > 0).

    Args:
        beats: beats in the piece (quarter notes).
        humanise: 0 (the grid's steady tempo) .. 1 (the full phrase arch and wander).
        phrase_bars: bars per phrase for the arch (the form's phrases when there is one).
        ritardando: slow down beat by beat over the last two bars, to 70% at the last beat.
        seed: the wander's random seed (the piece's seed: the same piece, the same tempo).

    Raises:
        ConfigError: ``humanise`` outside 0..1 or ``phrase_bars`` below 1.
    """
    if not 0.0 <= humanise <= 1.0:
        raise ConfigError(f"humanise must be in 0..1, got {humanise}")
    if phrase_bars < 1:
        raise ConfigError(f"phrase bars must be at least 1, got {phrase_bars}")
    factors = np.ones(max(beats, 0))
    if humanise > 0 and beats > 0:
        rng = np.random.default_rng(seed)
        shaped = _phrase_arch(beats, phrase_bars * BEATS_PER_BAR) * _wander(beats, rng)
        factors = 1.0 + humanise * (shaped - 1.0)
    if ritardando and beats > 0:
        slowing = RITARDANDO_BARS * BEATS_PER_BAR
        shares = 1.0 - (1.0 - RITARDANDO_TO) * np.arange(1, slowing + 1) / slowing
        count = min(slowing, beats)
        factors[-count:] *= shares[-count:]
    return np.clip(factors, 0.25, 4.0)


def shaped_tempo(
    score: Score,
    qpm: float,
    *,
    humanise: float = 0.0,
    phrase_bars: int = 4,
    ritardando: bool = False,
    seed: int = 0,
) -> Score:
    """``score`` with its tempo map replaced by ``qpm`` shaped beat by beat (see
    :func:`beat_factors`); unchanged when there is nothing to shape. The ritardando covers
    the last two whole bars: it starts on the first beat of the bar before the last."""
    if humanise == 0 and not ritardando:
        return score
    spq = score.ticks_per_quarter
    end = score.end_tick
    bar = BEATS_PER_BAR * spq
    last_bar = max(0, (end - 1) // bar * bar)
    beats = (last_bar + bar) // spq  # every beat up to the end of the last bar
    factors = beat_factors(beats, humanise=humanise, phrase_bars=phrase_bars,
                           ritardando=ritardando, seed=seed)
    tempos = [Tempo(0, float(qpm * factors[0]))]
    previous = tempos[0].qpm
    for beat in range(1, beats):
        tick = beat * spq
        value = float(qpm * factors[beat])
        if tick < end and value != previous:
            tempos.append(Tempo(tick, value))
            previous = value
    return score.copy_with(tempos=tuple(tempos))
