"""Copy the MIDI files of chosen splits of a corpus into a folder (e.g. the held-out pieces
that model cards compare generated music with).

Usage::

    python scripts/export_split.py MIDI_DIR OUT_DIR [--splits valid,generation] [--meters 4/4]

The split is cadenza's own (a hash of each file's path under MIDI_DIR, with the metre filter
deciding which files are usable pieces), so the folder holds exactly the pieces a model
trained on MIDI_DIR with those ``--meters`` never saw. Files are copied whole; existing files
in OUT_DIR are never replaced.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from cadenza.data import CorpusConfig, build_corpus
from cadenza.midi import ReadOptions
from cadenza.representations import PianoRoll


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--splits", default="valid,generation")
    parser.add_argument("--meters", default="4/4")
    args = parser.parse_args(argv)
    config = CorpusConfig(meters=ReadOptions.parse_meters(args.meters))
    corpus = build_corpus(args.data, PianoRoll(), config, progress=False)
    wanted = {s.strip() for s in args.splits.split(",")}
    args.out.mkdir(parents=True, exist_ok=True)
    copied = 0
    for piece in corpus.pieces:
        if piece.split not in wanted:
            continue
        target = args.out / piece.path.replace("/", "__")
        if not target.exists():
            shutil.copyfile(corpus.root / piece.path, target)
            copied += 1
    print(f"{copied} files of splits {sorted(wanted)} copied to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
