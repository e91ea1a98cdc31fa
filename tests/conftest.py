"""Shared fixtures: the optional data folder beside the project and small built-in pieces."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cadenza.score import Score, Tempo, TimeSignature, make_notes

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CADENZA_SHARED_DATA", ROOT.parent / "shared" / "data"))
PIANO_MIDI = SHARED_DATA / "piano-midi.de" / "midis"
JSB = SHARED_DATA / "boulanger2012" / "jsb_chorales.json"
NOTTINGHAM = SHARED_DATA / "boulanger2012" / "nottingham.json"

# A handful of real 4/4 pieces of different styles used by round-trip tests.
REAL_PIECES = [
    "Bach/bach_846.mid",
    "Chopin/chpn_op10_e01.mid",
    "Mozart/mz_545_1.mid",
    "Debussy/deb_prel.mid",
    "Schumann/scn15_7.mid",
]


@pytest.fixture(scope="session")
def piano_midi_dir() -> Path:
    if not PIANO_MIDI.is_dir():
        pytest.skip(f"piano-midi.de corpus not found at {PIANO_MIDI}")
    return PIANO_MIDI


@pytest.fixture(scope="session")
def jsb_path() -> Path:
    if not JSB.is_file():
        pytest.skip(f"JSB chorales benchmark file not found at {JSB}")
    return JSB


def real_piece_paths() -> list[Path]:
    """Paths of REAL_PIECES that exist (empty when the corpus is absent)."""
    return [PIANO_MIDI / p for p in REAL_PIECES if (PIANO_MIDI / p).is_file()]


def real_piece_params(limit: int | None = None) -> list[Any]:
    """``real_piece_paths()`` as parameters named by file, or one skipped parameter that
    says why when the corpus is absent (an empty list would read "got empty parameter set")."""
    paths = real_piece_paths()[:limit]
    if not paths:
        reason = f"the piano-midi.de corpus is not at {PIANO_MIDI}"
        return [pytest.param(None, id="no-corpus", marks=pytest.mark.skip(reason=reason))]
    return [pytest.param(path, id=path.name) for path in paths]


@pytest.fixture
def tiny_score() -> Score:
    """Two bars of 4/4 at 4 steps per quarter: a C major arpeggio over a held bass, a chord."""
    starts = [0, 0, 4, 8, 12, 16, 16, 16, 24, 28]
    durs = [16, 4, 4, 4, 4, 8, 8, 8, 2, 4]
    pitches = [48, 60, 64, 67, 72, 60, 64, 67, 71, 72]
    return Score(
        notes=make_notes(starts, durs, pitches, np.arange(60, 70)),
        ticks_per_quarter=4,
        tempos=(Tempo(0, 100.0),),
        time_signatures=(TimeSignature(0, 4, 4),),
        name="tiny",
    )


@pytest.fixture(scope="session")
def web_runs(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A folder holding one trained debug run for the web server (``pianoroll-debug``)."""
    from debug_run import make_debug_run

    root = tmp_path_factory.mktemp("web-model")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CADENZA_CACHE_DIR", str(root / "cache"))
        make_debug_run(root, cache_dir=root / "cache")
        yield root / "runs"
