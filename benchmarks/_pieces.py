"""Shared by the benchmark scripts that judge composed music: the held-out real pieces they
judge against, composing pieces one at a time with the Python API, and scoring a folder of
them with ``cadenza evaluate``."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# The folder the judging scripts read by default (beside the project), and the metres of
# it they keep: those whose bars the grid families read whole in 4/4.
PIANO_MIDI = Path(__file__).resolve().parents[2] / "shared" / "data" / "piano-midi.de" / "midis"
JUDGED_METERS = ("4/4", "2/4", "2/2", "4/8", "8/8")
WINDOW_MARK = ".window-"  # a window of a piece is written as PIECE.mid.window-START.mid


def held_out_corpus(data: Path) -> Any:
    """The corpus of ``data`` in the judged metres (its ``split("test")`` holds the pieces no
    checkpoint, temperature or setting was chosen on)."""
    from cadenza.data import CorpusConfig, build_corpus
    from cadenza.representations.pianoroll import PianoRoll

    return build_corpus(data, PianoRoll(), CorpusConfig(meters=JUDGED_METERS), workers=1,
                        progress=False)


def piece_windows(pieces: list[Any], bars: int, min_sounding: float = 0.5
                  ) -> Iterator[tuple[Any, int, Any]]:
    """The windows ``benchmarks/realism.py`` judges, in order: for each of ``pieces``, every
    non-overlapping ``bars``-bar 4/4 window on a bar line sounding at least ``min_sounding``
    of its steps, as ``(piece, start tick, its notes moved to start from 0)``."""
    from cadenza.metrics import realism

    steps = bars * realism.STEPS_PER_BAR
    for piece in pieces:
        for start in realism.window_starts(piece.score, bars, min_sounding):
            yield piece, start, realism.excerpt_notes(piece.score, start, steps)


def write_windows(pieces: list[Any], bars: int, folder: Path, min_sounding: float = 0.5
                  ) -> int:
    """Write each of :func:`piece_windows` as a MIDI file of ``folder``, with the tempo in
    force where it starts; how many."""
    from cadenza.midi import write_midi
    from cadenza.score import Score, TimeSignature
    from cadenza.tempomap import Tempo

    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    for piece, start, notes in piece_windows(pieces, bars, min_sounding):
        score = piece.score
        qpm = score.tempos.qpm_at(start)
        window = Score(notes, score.ticks_per_quarter,
                       tempos=() if qpm is None else (Tempo(0, qpm),),
                       time_signatures=(TimeSignature(0, 4, 4),), name=score.name)
        write_midi(window, folder / f"{piece.path.replace('/', '-')}{WINDOW_MARK}{start}.mid")
        written += 1
    return written


def compose_pieces(model: str, folder: Path, pieces: int, bars: int, seed: int,
                   options: dict[str, Any]) -> tuple[list[float], list[int]]:
    """Compose one piece at a time; the seconds of each call and its generated note count."""
    import cadenza

    loaded = cadenza.load(model)
    cadenza.compose(loaded, bars=1, seed=seed + pieces, **options)  # warm-up: primer bank, caches
    folder.mkdir(parents=True, exist_ok=True)
    seconds, notes = [], []
    for index in range(pieces):
        start = time.perf_counter()
        piece = cadenza.compose(loaded, bars=bars, seed=seed + index, **options)
        seconds.append(time.perf_counter() - start)
        notes.append(int((piece.notes["start"] >= piece.generated_start_tick).sum()))
        piece.save(folder / f"piece-{index:03d}.mid", overwrite=True)
    return seconds, notes


def evaluate(folder: Path, reference: Path) -> dict[str, Any]:
    """``cadenza evaluate`` on the generated parts of ``folder``; its metrics.json."""
    out = folder / "evaluation"
    subprocess.run([sys.executable, "-m", "cadenza", "evaluate", str(folder), "--reference",
                    str(reference), "--out", str(out), "--overwrite", "--no-progress"],
                   check=True, stdout=subprocess.DEVNULL)
    return dict(json.loads((out / "metrics.json").read_text()))


def primers_in_reference(model: str, reference: Path) -> list[str]:
    """The model's primers that are files of the reference folder (by file name): a run's
    checkpoint primes from its corpus' generation split, which a held-out reference may hold,
    and a continuation is then scored against the piece it was primed from (or its windows)."""
    from cadenza.composing import primer_bank

    names = {path.name.split(WINDOW_MARK)[0] for path in reference.iterdir() if path.is_file()}
    return sorted({Path(p.name).name for p in primer_bank(model).primers} & names)
