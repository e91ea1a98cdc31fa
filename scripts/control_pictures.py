"""Draw the README's pictures of the composing controls: one command, one piano roll each.

Every picture is the shipped biaxial-piano model continuing the same held-out Mozart opening
(seed 7, 8 bars), changed by one control; the melody for ``harmonise`` is written here.
Usage: ``python scripts/control_pictures.py [--out docs/images/controls]`` (existing
pictures are replaced: they are the script's own output).
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

import cadenza
from cadenza.midi import write_midi
from cadenza.plots import plot_piano_roll
from cadenza.score import Score, Tempo, TimeSignature, make_notes

MODEL = "biaxial-piano"
BASE: dict[str, Any] = {"bars": 8, "composer": "Mozart", "seed": 7, "ending": "none"}
# name -> (the options that differ from BASE, the command line shown in the README)
CONTROLS: dict[str, tuple[dict[str, Any], str]] = {
    "default": ({}, "--ending none"),
    "key": ({"key": "D minor"}, '--key "D minor" --ending none'),
    "range": ({"pitch_range": "C3-C5"}, "--range C3-C5 --ending none"),
    "polyphony": ({"max_polyphony": 2}, "--max-polyphony 2 --ending none"),
    "density": ({"density": "0.5..1"}, "--density 0.5..1 --ending none"),
    "form": ({"form": "AABA", "phrase_bars": 2}, "--form AABA --phrase-bars 2 --ending none"),
    "ending": ({"ending": "cadence"}, "--ending cadence"),
}


def melody(folder: Path) -> Path:
    """A plain 8-bar tune in C major, quarter and half notes."""
    tune = [(60, 1), (64, 1), (67, 1), (72, 1), (71, 2), (67, 2), (65, 1), (64, 1), (62, 1),
            (65, 1), (64, 4)] * 2
    starts, durations, pitches, tick = [], [], [], 0
    for pitch, quarters in tune:
        starts.append(tick)
        durations.append(quarters * 480)
        pitches.append(pitch)
        tick += quarters * 480
    score = Score(make_notes(starts, durations, pitches, 80), 480, (Tempo(0, 96.0),),
                  (TimeSignature(0, 4, 4),), name="tune")
    path = folder / "tune.mid"
    if not path.exists():
        write_midi(score, path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images/controls"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    model = cadenza.load(MODEL)
    for name, (options, shown) in CONTROLS.items():
        piece = cadenza.compose(model, **{**BASE, **options})
        path = plot_piano_roll(piece.score, args.out / f"{name}.png", overwrite=True,
                               primer_end_tick=piece.generated_start_tick,
                               title=f"cadenza generate {MODEL} --composer Mozart --seed 7 "
                                     f"--bars 8 {shown}")
        print(f"{path}: {len(piece.notes)} notes")
    first = cadenza.compose(model, **BASE)
    whole = args.out / "piece.mid"
    first.save(whole, overwrite=True)
    piece = cadenza.compose(model, primer=whole, infill="5-6", seed=7)
    path = plot_piano_roll(piece.score, args.out / "infill.png", overwrite=True,
                           primer_end_tick=piece.generated_start_tick,
                           title=f"cadenza generate {MODEL} --primer piece.mid --infill 5-6 "
                                 "--seed 7")
    print(f"{path}: {len(piece.notes)} notes")
    whole.unlink()
    whole.with_suffix(".json").unlink()
    tune = melody(args.out)
    piece = cadenza.harmonise(tune, model, key="C major", seed=7)
    path = plot_piano_roll(piece.score, args.out / "harmonise.png", overwrite=True,
                           title=f"cadenza harmonise {shlex.quote(tune.name)} --model {MODEL} "
                                 "--key 'C major' --seed 7")
    print(f"{path}: {len(piece.notes)} notes")
    tune.unlink()


if __name__ == "__main__":
    main()
