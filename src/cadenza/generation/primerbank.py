"""Where primers come from: pieces a model never trained on, chosen by composer.

A checkpoint folder carries its own primers (``primers/index.json`` plus MIDI files): the
trainer writes the generation split of its corpus there (:func:`write_primer_bank`, at most
:data:`MAX_SAVED_PRIMERS` pieces), and the shipped models use the package's primers. So
composing needs only the checkpoint. For a checkpoint without primers (made before they were
saved), the generation split is rebuilt from the data source recorded in it.

A corpus too small to hold out a generation piece primes from its training pieces instead
(``Primer.held_out`` is then false, and the index says so), so such a run still composes.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cadenza.checkpoint import LoadedCheckpoint
from cadenza.data.corpus import Corpus, CorpusConfig
from cadenza.data.pipeline import build_corpus
from cadenza.data.split import TRAIN
from cadenza.errors import DataError, MidiError, printable_path
from cadenza.fileio import write_json_atomic
from cadenza.midi import ReadOptions, load_piece, write_midi
from cadenza.representations.base import Representation
from cadenza.score import Score

log = logging.getLogger(__name__)

PRIMER_FOLDER = "primers"
PRIMER_INDEX = "index.json"
MAX_SAVED_PRIMERS = 64  # pieces a run saves with its checkpoints


@dataclass(frozen=True)
class Primer:
    """One candidate primer: a quantised score and where it came from (``held_out``: false
    for a training piece, used when the corpus held out none)."""

    name: str
    composer: str | None
    score: Score
    source: str
    held_out: bool = True
    source_meter: str | None = None  # the source's own metre, where the file was rewritten
    # where the primer ends, rests after its last note included (a played phrase ends at its
    # bar line); None: at its last note's end
    end_tick: int | None = None


# Metres whose bars a 16th grid in 4/4 holds whole: a primer from another metre (a 3/4
# mazurka rewritten in 4/4) is offered only when asked for by its composer.
GRID_METERS = ("4/4", "2/4", "2/2")


class PrimerBank:
    """The primers available to one checkpoint."""

    def __init__(self, primers: list[Primer], origin: str) -> None:
        self.primers = primers
        self.origin = origin

    def composers(self) -> list[str]:
        return sorted({p.composer for p in self.primers if p.composer})

    def choose(self, composer: str | None = None, seed: int | None = None) -> Primer:
        """A primer (by ``composer`` if given), picked at random with ``seed``."""
        pool = self.primers
        if composer is not None:
            wanted = composer.casefold()
            pool = [p for p in pool if p.composer and p.composer.casefold() == wanted]
            if not pool:
                known = ", ".join(self.composers()) or "none"
                raise DataError(f"unknown composer {composer!r}; known: {known}")
        else:  # any composer: the primers written in the model's own metres
            pool = [p for p in pool if p.source_meter in (None, *GRID_METERS)] or pool
        if not pool:
            raise DataError(f"no primers available from {self.origin}")
        return random.Random(seed).choice(pool)

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def for_checkpoint(cls, checkpoint: LoadedCheckpoint) -> PrimerBank:
        """The checkpoint's own primers, the package's (shipped models), else its corpus's
        generation split."""
        from cadenza.shipped import is_shipped, primers_dir

        own = checkpoint.path / PRIMER_FOLDER / PRIMER_INDEX
        if own.is_file():
            return cls.from_index(own, checkpoint.representation)
        if is_shipped(checkpoint.path):
            return cls.from_index(primers_dir() / PRIMER_INDEX, checkpoint.representation)
        return cls.from_training_data(checkpoint)

    @classmethod
    def from_index(cls, index_path: Path, representation: Representation) -> PrimerBank:
        """Read ``primers/index.json``: ``[{"file", "composer", "source"}, ...]``."""
        try:
            entries = json.loads(index_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"{index_path}: cannot read primer index ({exc})") from None
        options = ReadOptions(steps_per_quarter=representation.config.steps_per_quarter,
                              time_signatures=None)
        primers = []
        for entry in entries:
            path = index_path.parent / str(entry["file"])
            try:
                score, _ = load_piece(path, options)
            except MidiError as exc:
                log.warning("skipping shipped primer: %s", exc)
                continue
            meter = entry.get("original_time_signature")
            primers.append(Primer(path.stem, entry.get("composer"), score,
                                  str(entry.get("source", path.name)),
                                  bool(entry.get("held_out", True)),
                                  str(meter) if meter else None))
        return cls(primers, str(index_path))

    @classmethod
    def from_training_data(cls, checkpoint: LoadedCheckpoint) -> PrimerBank:
        """The generation split of the corpus named in the checkpoint's config (its training
        split when that is empty)."""
        data = checkpoint.info.get("data", {})
        source = data.get("source")
        if not source or not Path(source).exists():
            raise DataError(
                f"{checkpoint.path}: its training data {source!r} is not here and it ships no "
                "primers; pass --primer FILE"
            )
        config = CorpusConfig.from_dict(data.get("corpus", {}))
        representation = checkpoint.representation
        corpus = build_corpus(source, representation, config, fit=False, progress=False)
        return cls(corpus_primers(corpus), str(source))


def corpus_primers(corpus: Corpus) -> list[Primer]:
    """The pieces of ``corpus``'s primer split as primers; when that split is empty (a small
    folder), its training pieces, marked ``held_out=False`` (none when it has neither)."""
    try:
        pieces, held_out = corpus.primers(), True
    except DataError:
        pieces, held_out = corpus.split(TRAIN), False
        if pieces:
            log.info("%s: no %s piece held out; training pieces will prime generation",
                     corpus.root, corpus.primer_split)
    return [Primer(p.path, p.composer, p.score, f"{corpus.root}/{p.path}", held_out)
            for p in pieces]


def write_primer_bank(
    folder: Path, primers: Sequence[Primer], limit: int = MAX_SAVED_PRIMERS
) -> int:
    """Write ``primers`` (at most ``limit``, evenly spread) as MIDI files and an index into
    ``folder``, all or nothing (a temporary folder renamed into place). Returns the count."""
    if len(primers) > limit:
        chosen = [primers[i] for i in np.linspace(0, len(primers) - 1, limit).round().astype(int)]
    else:
        chosen = list(primers)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.tmp-"))
    try:
        entries: list[dict[str, object]] = []
        for number, primer in enumerate(chosen):
            stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(primer.name).stem)[:60] or "piece"
            name = f"{number:03d}-{stem}.mid"
            write_midi(primer.score, tmp / name)
            entry: dict[str, object] = {"file": name, "composer": primer.composer,
                                        "source": primer.source}
            if not primer.held_out:
                entry["held_out"] = False
            entries.append(entry)
        write_json_atomic(tmp / PRIMER_INDEX, entries)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return len(chosen)


def primer_from_file(path: str | Path, representation: Representation) -> Primer:
    """A primer read from any MIDI file (all metres kept, quantised to the model's grid)."""
    options = ReadOptions(steps_per_quarter=representation.config.steps_per_quarter,
                          time_signatures=None)
    score, _ = load_piece(path, options)
    return Primer(printable_path(Path(path).stem), None, score, printable_path(path))


def encode_primer(
    primer: Primer, representation: Representation, length: int | None,
    last_bars: int | None = None,
) -> tuple[np.ndarray, int]:
    """The primer's encoding from its first sound, and the tick (grid step) in the piece at
    which its first element lies (for the grid families pass it as
    ``GenerationConfig.first_step``: the beat counts from it).

    ``length``: at most this many elements (``None``: all of them). ``last_bars``: instead,
    the piece's last N 4/4 bars (from a bar line, or from the first sound if later).
    """
    from cadenza.generation.primers import first_sounding_index, primer_from_array

    array = representation.encode(primer.score)
    if len(array) == 0:
        raise DataError(f"primer {primer.source} encodes to nothing in {representation.name}")
    start = first_sounding_index(array)
    if last_bars is not None:
        bar = 4 * primer.score.ticks_per_quarter
        end_tick = representation.onset_tick(array, len(array))
        from_tick = max(0, ((end_tick - 1) // bar - (last_bars - 1)) * bar)
        start = max(start, min(representation.index_at_tick(array, from_tick), len(array) - 1))
        length = None
    return primer_from_array(array, length or len(array), start), representation.onset_tick(
        array, start)
