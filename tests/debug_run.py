"""A tiny trained model for tests of the web server and its load benchmark (a test fixture).

:func:`make_debug_run` writes a small corpus of built-in pieces (arpeggios over a held bass,
two composer folders) and trains the ``pianoroll-debug`` preset on it for a few steps. The
music is meaningless; what matters is that the run folder is a real checkpoint with held-out
primers by composer, so every path of the server can be exercised in seconds on a CPU.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from cadenza.data.split import GENERATION, TRAIN, assign_split
from cadenza.generation.primerbank import corpus_primers
from cadenza.midi import write_midi
from cadenza.score import Score, Tempo, TimeSignature, make_notes

log = logging.getLogger(__name__)

SMOKE_PRESET = "pianoroll-debug"
SMOKE_COMPOSERS = ("Bach", "Mozart")
STEPS_PER_QUARTER = 4
PIECE_BARS = 8
TRAIN_PIECES = 3  # per composer
GENERATION_PIECES = 1  # per composer, held out as primers


def arpeggio_piece(base: int, qpm: float, name: str) -> Score:
    """``PIECE_BARS`` bars of 4/4 at 4 steps per quarter: a broken chord over a held bass.

    Args:
        base: MIDI pitch of the chord's root (the bass sounds an octave below).
        qpm: tempo in quarter notes per minute.
        name: the score's name.
    """
    steps = PIECE_BARS * 4 * STEPS_PER_QUARTER
    starts, durations, pitches = [], [], []
    for step in range(0, steps, 2):  # eighth notes
        starts.append(step)
        durations.append(2)
        pitches.append(base + (0, 4, 7, 12)[(step // 2) % 4])
    for bar_start in range(0, steps, 16):  # a whole-note bass per bar
        starts.append(bar_start)
        durations.append(16)
        pitches.append(base - 12)
    return Score(
        notes=make_notes(starts, durations, pitches, 80),
        ticks_per_quarter=STEPS_PER_QUARTER,
        tempos=(Tempo(0, qpm),),
        time_signatures=(TimeSignature(0, 4, 4),),
        name=name,
    )


def _names_in_split(composer: str, split: str, count: int) -> list[str]:
    """The first ``count`` file names ``piece-NNN.mid`` the corpus split puts in ``split``."""
    names: list[str] = []
    index = 0
    while len(names) < count:
        name = f"piece-{index:03d}.mid"
        if assign_split(f"{composer}/{name}") == split:
            names.append(name)
        index += 1
    return names


def write_smoke_corpus(folder: Path, seed: int = 0,
                       generation_pieces: int = GENERATION_PIECES) -> Path:
    """Write the smoke corpus (``folder/<composer>/piece-NNN.mid``) and return ``folder``.

    Each composer gets ``TRAIN_PIECES`` training pieces and ``generation_pieces`` pieces in
    the held-out generation split, so primers by composer exist (0: a corpus too small to
    hold any out).
    """
    rng = np.random.default_rng(seed)
    for composer in SMOKE_COMPOSERS:
        target = folder / composer
        target.mkdir(parents=True, exist_ok=True)
        names = _names_in_split(composer, TRAIN, TRAIN_PIECES)
        names += _names_in_split(composer, GENERATION, generation_pieces)
        for name in names:
            base = int(rng.integers(52, 66))
            qpm = float(rng.choice([90.0, 100.0, 120.0]))
            write_midi(arpeggio_piece(base, qpm, name), target / name, overwrite=True)
    return folder


def make_debug_run(
    folder: Path, *, steps: int = 5, cache_dir: Path | None = None, seed: int = 0,
    generation_pieces: int = GENERATION_PIECES,
) -> Path:
    """Write the smoke corpus under ``folder/corpus`` and train a debug model on it.

    Args:
        folder: where ``corpus/`` and ``runs/<preset>/`` are written.
        steps: training steps (a checkpoint is saved at the last one).
        cache_dir: preprocessing cache (default: cadenza's usual cache folder).
        seed: seed of the corpus and of the training run.
        generation_pieces: held-out pieces per composer (0: none, primed from training).

    Returns:
        The run folder, which :func:`cadenza.checkpoint.resolve_checkpoint` accepts.
    """
    import torch

    from cadenza.experiment import prepare_experiment
    from cadenza.training import TrainConfig, Trainer

    corpus = write_smoke_corpus(folder / "corpus", seed, generation_pieces)
    torch.manual_seed(seed)
    experiment = prepare_experiment(
        SMOKE_PRESET, corpus, workers=1, cache_dir=cache_dir, progress=False
    )
    config = TrainConfig(
        steps=steps, log_every=steps, eval_every=0, sample_every=0, checkpoint_every=steps,
        device="cpu", lr=3e-3, seed=seed,
    )
    run_dir = folder / "runs" / SMOKE_PRESET
    trainer = Trainer(
        experiment.model, experiment.representation, experiment.train_batches,
        experiment.valid_batches, config, run_dir, experiment.run_info(config.to_dict()),
        primers=corpus_primers(experiment.corpus),
    )
    trainer.fit()
    log.info("trained %s for %d steps in %s", SMOKE_PRESET, steps, run_dir)
    return run_dir
