"""The sample written next to each training checkpoint (a short continuation of a primer)."""

from __future__ import annotations

from pathlib import Path

from cadenza.data.corpus import Corpus
from cadenza.errors import DataError
from cadenza.families import get_family
from cadenza.generation import GenerationConfig, generate
from cadenza.generation.decoding import result_to_score, score_qpm
from cadenza.generation.primers import (
    default_primer_length,
    first_sounding_index,
    primer_from_array,
)
from cadenza.midi import write_midi
from cadenza.models.base import SequenceModel
from cadenza.representations.base import Representation
from cadenza.training import SampleFn


def checkpoint_sampler(corpus: Corpus, seed: int = 0) -> SampleFn:
    """A sample function for :class:`cadenza.training.Trainer` primed from ``corpus``.

    The primer is the opening of the first piece of the primer split (pieces never trained
    on); without one, the first training piece is used.
    """
    try:
        pieces = corpus.primers()
    except DataError:
        pieces = corpus.split("train")

    def sample(model: SequenceModel, rep: Representation, step: int, out: Path) -> None:
        piece = pieces[0]
        start = first_sounding_index(piece.array)
        primer = primer_from_array(piece.array, default_primer_length(model, rep), start)
        family = get_family(model.family)
        config = GenerationConfig(length=family.sample_length, seed=seed + step,
                                  first_step=start if family.grid else 0)
        result = generate(model, rep, primer, config)
        score = result_to_score(result, 0, rep, qpm=score_qpm(piece.score),
                                name=f"{piece.name} step {step}")
        write_midi(score, out, overwrite=True)

    return sample
