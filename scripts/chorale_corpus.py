"""Build the four-part chorale training folder of the ``chorale-satb`` model.

Usage::

    python scripts/chorale_corpus.py OUT_DIR [--jsb PATH/jsb_chorales.json]

Two sources, both Bach's four-part chorales:

- the JSB Chorales (Boulanger-Lewandowski et al. 2012), **train split only**: each piece is a
  list of quarter-note frames of sounding pitches (transposed to C major / C minor by the
  original authors); a pitch held over consecutive frames becomes one held note;
- the chorales music21 bundles (the same repertoire at full rhythmic detail, in the original
  keys), parsed from their MusicXML.

Kept are only pieces with four parts throughout: a JSB piece whose every frame sounds three or
four pitches (JSB frames are sets of pitches, so two parts in unison sound three; a frame of
fewer is a rest in two parts or more), a music21 chorale of exactly four parts in which every
part sounds at every quarter-note beat (rests nowhere). A music21 chorale that is one of the
JSB valid or test pieces (matched by their transposition-free three-frame shapes,
:func:`cadenza.data.chorales.same_piece`) is left out, so those splits stay unseen; a JSB
train piece that matches a music21 chorale kept is left out too, so no chorale is trained on
twice. Every count is printed. The folder written is training input, not part of the package.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from cadenza.data.bach import chorale_names
from cadenza.data.boulanger import read_benchmark_data, steps_to_score
from cadenza.data.chorales import (
    beat_frames,
    chorale_parts,
    four_parts_throughout,
    frame_shapes,
    same_piece,
)
from cadenza.midi import write_midi
from cadenza.score import Score, TimeSignature, sort_notes

TICKS_PER_QUARTER = 4


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--jsb", type=Path,
                        default=Path("../shared/data/boulanger2012/jsb_chorales.json"))
    args = parser.parse_args(argv)
    jsb = read_benchmark_data(args.jsb)
    held = [frame_shapes(piece) for split in ("valid", "test") for piece in jsb[split]]
    train = {f"train{i}": piece for i, piece in enumerate(jsb["train"])
             if four_parts_throughout(piece)}
    train_shapes = {key: frame_shapes(piece) for key, piece in train.items()}
    print(f"JSB train: {len(jsb['train'])} pieces, {len(train)} with four parts throughout")
    folder = args.out_dir / "Bach"
    folder.mkdir(parents=True, exist_ok=True)
    counts = {"not four parts": 0, "a part rests": 0, "JSB valid/test": 0, "kept": 0}
    matched: set[str] = set()
    for name in chorale_names():
        parts = chorale_parts(name, TICKS_PER_QUARTER)
        frames = beat_frames(parts, TICKS_PER_QUARTER) if parts else None
        if parts is None or frames is None:
            counts["not four parts" if parts is None else "a part rests"] += 1
            continue
        shapes = frame_shapes(frames)
        if any(same_piece(shapes, other) for other in held):
            counts["JSB valid/test"] += 1
            continue
        matched |= {key for key, other in train_shapes.items() if same_piece(shapes, other)}
        stem = name.split("/")[-1].replace(".", "_")
        score = Score(notes=sort_notes(np.concatenate(parts)),
                      ticks_per_quarter=TICKS_PER_QUARTER,
                      time_signatures=(TimeSignature(0, 4, 4),), name=stem, composer="Bach")
        write_midi(score, folder / f"m21_{stem}.mid", overwrite=True)
        counts["kept"] += 1
    print(f"music21 chorales: {counts}")
    kept = [key for key in train if key not in matched]
    for key in kept:
        write_midi(steps_to_score(train[key], 1, name=key), folder / f"jsb_{key}.mid",
                   overwrite=True)
    print(f"JSB train pieces also in music21 (left out): {len(matched)}; written: {len(kept)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
