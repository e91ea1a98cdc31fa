"""Choosing and reading what a piece starts from: a held-out piece of the model's bank (by
composer, or any), a MIDI file of the user's, notes played on the page, or silence; a
harmonisation's melody; and the tempo the piece takes from them."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from cadenza.checkpoint import LoadedCheckpoint
from cadenza.composing.loading import primer_bank
from cadenza.composing.request import ComposeRequest
from cadenza.controls import detect_key
from cadenza.errors import ConfigError, DataError
from cadenza.families import get_family
from cadenza.generation.decoding import score_qpm
from cadenza.generation.primerbank import Primer, encode_primer, primer_from_file
from cadenza.generation.primers import default_primer_length
from cadenza.representations.base import Representation
from cadenza.score import ORIGINAL_METERS, Score, Tempo, TimeSignature

log = logging.getLogger(__name__)

SILENCE = "none (silence)"
# The tempo range a piece takes from a primer the bank chose (some sources are marked 40 or
# 200 quarter notes a minute); a primer file of the user's keeps its own, --bpm sets any.
BANK_BPM = (60.0, 160.0)
# A run whose corpus held out no generation piece primes from its training pieces; one that
# keeps no piece at all composes from silence (unless a composer was asked for).
NO_PIECE_SILENCE = "none (silence: the run keeps no held-out or training piece to prime with)"
TRAINING_PRIMER = "a training piece: the run holds out no generation piece"


@dataclass(frozen=True)
class Opening:
    """What a piece starts from, read and encoded on the model's grid."""

    primer: Primer | None  # None: the piece starts from silence
    silence: str  # what the piece starts from when there is no primer
    melody: Primer | None  # a harmonisation's melody file, read
    array: np.ndarray | None  # the primer in the model's representation
    first_step: int  # the grid step the primer's first element falls on
    ticks: int  # the primer's last onset tick (0 without a primer)

    @property
    def source(self) -> str:
        """Where the primer comes from (or what the piece starts from without one)."""
        return self.primer.source if self.primer is not None else self.silence

    @property
    def key_source(self) -> Primer | None:
        """What ``--key auto`` and a cadence's key are detected from."""
        return self.primer if self.primer is not None else self.melody


def read_opening(request: ComposeRequest, loaded: LoadedCheckpoint) -> Opening:
    """The request's primer chosen, read, checked against the model's metres and encoded; its
    melody file read. Without a primer the walk of a grid model starts from one silent step:
    the last of a bar, so that the first generated step is a downbeat for the model's beat
    inputs and for the plans alike."""
    model, rep = loaded.model, loaded.representation
    primer, silence = choose_primer(request, loaded)
    melody = (primer_from_file(request.melody_file, rep)
              if request.melody_file is not None else None)
    array = None
    first_step = 4 * rep.config.steps_per_quarter - 1 if get_family(model.family).grid else 0
    if primer is not None:
        check_meter(primer, loaded)
        length = request.primer_length
        if length is None and request.primer_file is None and request.primer_given is None:
            length = default_primer_length(model, rep)  # a held-out piece: its opening
        array, first_step = encode_primer(primer, rep, length, request.primer_bars)
        if primer.end_tick is not None and get_family(model.family).grid:
            array = with_rests(array, primer.end_tick - first_step)
    ticks = rep.onset_tick(array, len(array) - 1) if array is not None else 0
    return Opening(primer, silence, melody, array, first_step, ticks)


def with_rests(array: np.ndarray, length: int) -> np.ndarray:
    """A grid primer ``array`` followed by silent steps up to ``length`` steps (a played
    phrase whose last notes end before its bar line keeps its rests)."""
    if length <= len(array):
        return array
    rests = np.zeros((length - len(array), *array.shape[1:]), dtype=array.dtype)
    return np.concatenate([array, rests])


def played_primer(notes: np.ndarray, end_tick: int, steps_per_quarter: int, qpm: float,
                  source: str = "the played phrase") -> Primer:
    """A primer of ``notes`` (``NOTE_DTYPE``, times in grid steps of ``steps_per_quarter``)
    in 4/4 at ``qpm``, lasting until ``end_tick`` (its rests included)."""
    score = Score(notes, steps_per_quarter, tempos=(Tempo(0, qpm),),
                  time_signatures=(TimeSignature(0, 4, 4),), name="played")
    return Primer("played", None, score, source, end_tick=max(end_tick, score.end_tick))


def choose_primer(request: ComposeRequest, loaded: LoadedCheckpoint
                  ) -> tuple[Primer | None, str]:
    """The primer, and what the piece starts from when there is none."""
    if request.primer_given is not None:
        return request.primer_given, SILENCE
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


def piece_tempo(request: ComposeRequest, loaded: LoadedCheckpoint, opening: Opening
                ) -> tuple[float, str]:
    """The piece's tempo (quarter notes a minute) and what was used of its primer: ``--bpm``,
    else the primer's (a primer the bank chose sets the pace only within ``BANK_BPM``), else
    the melody's, else 120."""
    primer = opening.primer
    timed = primer if primer is not None else opening.melody  # a melody keeps its tempo
    qpm = request.bpm or (score_qpm(timed.score) if timed is not None else 120.0)
    used = (describe_primer(primer, loaded.representation, opening.array, opening.first_step)
            if primer is not None and opening.array is not None else opening.source)
    if (request.bpm is None and request.primer_file is None and request.primer_given is None
            and primer is not None):
        bank_qpm = qpm
        qpm = min(max(qpm, BANK_BPM[0]), BANK_BPM[1])
        if qpm != bank_qpm:
            used += f"; the piece at {qpm:.0f} bpm (--bpm sets another)"
    return qpm, used


def check_meter(primer: Primer, loaded: LoadedCheckpoint) -> None:
    """Refuse a primer in a metre the model was not trained on (one line naming it)."""
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
