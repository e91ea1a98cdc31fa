"""Build the primers shipped with cadenza from the corpus bundled with music21.

Each primer is a short fragment (``--bars`` bars of 4/4 by default 2) cut from a public-domain
composition in music21's own corpus (local files inside the installed package; nothing is
downloaded). All parts are merged into one piano part, quantised to sixteenth notes and written
with cadenza's MIDI writer in 4/4, with the piece's tempo where it gives one. The output folder
gets the MIDI files, ``index.json`` (read by ``cadenza.generation.primerbank``) and
``SOURCES.md`` naming the source of every fragment.

Choices are deterministic (sorted corpus paths, fixed rules), so running the script twice gives
byte-identical files. Encodings that carry their own rights statement (a MusicXML ``<rights>``
element or a Humdrum ``!!!YEC``/``!!!YEM`` record) are never used.

Usage::

    .venv/bin/python scripts/build_primers.py [--out src/cadenza/assets/primers]
        [--per-composer 3] [--bars 2] [--composers bach,joplin]
"""

from __future__ import annotations

import argparse
import itertools
import logging
import math
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import music21
import numpy as np
from music21 import chord, common, corpus, harmony, note, stream, tempo

from cadenza.fileio import write_bytes_atomic, write_json_atomic
from cadenza.midi import write_midi
from cadenza.score import Score, Tempo, TimeSignature, make_notes, remove_overlaps

log = logging.getLogger("build_primers")

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "src" / "cadenza" / "assets" / "primers"
STEPS_PER_QUARTER = 4  # the grid: sixteenth notes
TICKS_PER_QUARTER = 96  # resolution of the written files (a multiple of the grid)
DEFAULT_QPM = 100.0
QPM_RANGE = (40.0, 200.0)
PITCH_RANGE = (24, 101)  # notes outside are moved by octaves into this range
MIN_NOTES = 16  # at least 8 notes per 4/4 bar on average, for a primer with substance
VELOCITY = 80
SUFFIX_PREFERENCE = (".mxl", ".musicxml", ".xml", ".krn")  # one encoding per piece, first wins
# Metres whose bars tile a 4/4 grid (bar length 2, 4 or 8 quarters, simple duple/quadruple).
GRID_METERS = frozenset({"4/4", "2/2", "2/4", "4/2", "4/8"})


@dataclass(frozen=True)
class ComposerSpec:
    """A composer as offered to users (``display``) and where the corpus keeps the works."""

    key: str
    display: str
    folder: str


COMPOSERS: tuple[ComposerSpec, ...] = (
    ComposerSpec("bach", "Bach", "bach"),
    ComposerSpec("beethoven", "Beethoven", "beethoven"),
    ComposerSpec("chopin", "Chopin", "chopin"),
    ComposerSpec("handel", "Handel", "handel"),
    ComposerSpec("haydn", "Haydn", "haydn"),
    ComposerSpec("joplin", "Joplin", "joplin"),
    ComposerSpec("monteverdi", "Monteverdi", "monteverdi"),
    ComposerSpec("mozart", "Mozart", "mozart"),
    ComposerSpec("schumann", "Schumann", "schumann_robert"),
)


@dataclass(frozen=True)
class Bar:
    """One bar of the reference part: position and length in quarter notes."""

    index: int
    number: str
    offset: Fraction
    length: Fraction
    full_length: Fraction
    meter: str

    @property
    def is_full(self) -> bool:
        return self.length == self.full_length


@dataclass(frozen=True)
class Fragment:
    """A cut-out fragment, already quantised: notes in steps of the 16th grid."""

    composer: ComposerSpec
    path: str  # relative to the corpus root, POSIX
    title: str
    first_bar: str
    last_bar: str
    meter: str
    bars_4_4: int
    qpm: float
    notes: np.ndarray  # NOTE_DTYPE, ticks = steps


# -- corpus files ------------------------------------------------------------------------------
def corpus_root() -> Path:
    """The folder of music21's bundled corpus."""
    return Path(str(common.getCorpusFilePath()))


def raw_text(path: Path) -> str:
    """The text of an encoding (the XML inside a compressed ``.mxl``)."""
    if path.suffix == ".mxl":
        with zipfile.ZipFile(path) as archive:
            names = sorted(n for n in archive.namelist()
                           if n.endswith(".xml") and not n.startswith("META-INF"))
            return "".join(archive.read(n).decode("utf-8", "replace") for n in names)
    return path.read_text(encoding="utf-8", errors="replace")


def has_rights_statement(path: Path) -> bool:
    """True when the encoding carries its own rights or copyright record."""
    text = raw_text(path)
    if re.search(r"<rights[^>]*>\s*[^<\s]", text):
        return True
    return bool(re.search(r"^!!!(YEC|YEM)", text, flags=re.MULTILINE))


def candidate_files(spec: ComposerSpec) -> list[Path]:
    """The composer's usable encodings, one per piece, sorted by corpus path."""
    root = corpus_root() / spec.folder
    by_piece: dict[str, Path] = {}
    for suffix in SUFFIX_PREFERENCE:
        for path in sorted(root.rglob(f"*{suffix}")):
            by_piece.setdefault(path.with_suffix("").as_posix(), path)
    files = []
    for _, path in sorted(by_piece.items()):
        if has_rights_statement(path):
            log.info("skipping %s: it carries its own rights statement", relative(path))
            continue
        files.append(path)
    return files


def relative(path: Path) -> str:
    return path.relative_to(corpus_root()).as_posix()


def spread_blocks(count: int, wanted: int) -> list[list[int]]:
    """Split indices ``0..count-1`` into ``wanted`` consecutive blocks of near-equal size.

    One piece is taken from each block (the first that yields a fragment), so the choice is
    spread over the sorted corpus and a failing piece is replaced by its next neighbour.
    """
    wanted = max(1, min(wanted, count))
    bounds = [(k * count) // wanted for k in range(wanted)] + [count]
    return [list(range(lo, hi)) for lo, hi in itertools.pairwise(bounds)]


# -- bars and fragments ------------------------------------------------------------------------
def bar_grid(score: stream.Score) -> list[Bar]:
    """The bars of the first part, with the metre in force in each."""
    bars: list[Bar] = []
    meter = "4/4"
    full = Fraction(4)
    for index, measure in enumerate(score.parts[0].getElementsByClass(stream.Measure)):
        if measure.timeSignature is not None:
            meter = measure.timeSignature.ratioString
            full = Fraction(measure.timeSignature.barDuration.quarterLength)
        number = f"{measure.number}{measure.numberSuffix or ''}"
        bars.append(Bar(index, number, Fraction(measure.offset),
                        Fraction(measure.duration.quarterLength), full, meter))
    return bars


def window_bars(bar: Bar, bars_4_4: int) -> int:
    """How many source bars make the shortest span of >= ``bars_4_4`` whole 4/4 bars."""
    need = Fraction(4 * bars_4_4)
    count = max(1, math.ceil(need / bar.full_length))
    while (count * bar.full_length) % 4 != 0:
        count += 1
    return count


def windows(grid: list[Bar], bars_4_4: int, grid_meters_only: bool) -> Iterator[tuple[int, int]]:
    """Spans ``[i, j)`` of full, contiguous bars in one metre that tile whole 4/4 bars."""
    i = 0
    while i < len(grid):
        first = grid[i]
        if grid_meters_only and first.meter not in GRID_METERS:
            i += 1
            continue
        j = i + window_bars(first, bars_4_4)
        span = grid[i:j]
        ok = len(span) == j - i and all(
            b.is_full and b.meter == first.meter
            and b.offset == first.offset + (b.index - first.index) * first.full_length
            for b in span
        )
        if ok:
            yield i, j
        i += 1


def pitches_of(element: Any) -> list[tuple[int, Any]]:
    """``(midi pitch, tie)`` of a pitched note or chord; nothing for anything else."""
    if element.duration.isGrace:
        return []
    if isinstance(element, note.Note):
        return [(int(element.pitch.midi), element.tie)]
    if isinstance(element, chord.Chord) and not isinstance(element, harmony.Harmony):
        return [(int(n.pitch.midi), n.tie or element.tie) for n in element.notes]
    return []  # rests, unpitched percussion, chord symbols


def extract_notes(score: stream.Score, start: Fraction, end: Fraction) -> np.ndarray:
    """Every pitched note of every part sounding from ``start`` to ``end`` (quarter notes),
    tied notes merged, quantised to the 16th grid with times relative to ``start``."""
    starts: list[int] = []
    ends: list[int] = []
    pitches: list[int] = []
    length = _to_step(end - start)
    for part in score.parts:
        open_ties: dict[int, int] = {}  # pitch -> index of the note a tie continues
        for measure in part.getElementsByClass(stream.Measure):
            m_offset = Fraction(measure.offset)
            if m_offset < start or m_offset >= end:
                continue
            for element in measure.flatten().notes:
                onset = m_offset + Fraction(element.offset)
                finish = min(onset + Fraction(element.duration.quarterLength), end)
                for pitch, tie in pitches_of(element):
                    kind = tie.type if tie is not None else None
                    held = open_ties.get(pitch)
                    if kind in ("stop", "continue") and held is not None \
                            and ends[held] == _to_step(onset - start):
                        ends[held] = _to_step(finish - start)
                    else:
                        held = len(starts)
                        starts.append(_to_step(onset - start))
                        ends.append(_to_step(finish - start))
                        pitches.append(pitch)
                    if kind in ("start", "continue"):
                        open_ties[pitch] = held
                    else:
                        open_ties.pop(pitch, None)
    start_arr = np.asarray(starts, dtype=np.int64)
    end_arr = np.minimum(np.asarray(ends, dtype=np.int64), length)
    keep = start_arr < length
    notes = make_notes(start_arr[keep], np.maximum(end_arr[keep] - start_arr[keep], 1),
                       fold_pitches(np.asarray(pitches, dtype=np.int64)[keep]), VELOCITY)
    return remove_overlaps(notes)


def _to_step(quarters: Fraction) -> int:
    """Quarter notes to the nearest 16th step (halves round up)."""
    return math.floor(quarters * STEPS_PER_QUARTER + Fraction(1, 2))


def fold_pitches(pitches: np.ndarray) -> np.ndarray:
    """Move pitches outside ``PITCH_RANGE`` by whole octaves into it."""
    low, high = PITCH_RANGE
    folded = pitches.copy()
    while (folded < low).any():
        folded[folded < low] += 12
    while (folded > high).any():
        folded[folded > high] -= 12
    return folded


def acceptable(notes: np.ndarray, bars_4_4: int) -> bool:
    """Enough notes, sound from the first step, an onset in every 4/4 bar."""
    if len(notes) < MIN_NOTES or int(notes["start"].min()) != 0:
        return False
    bar_steps = 4 * STEPS_PER_QUARTER
    bars_hit = set((notes["start"] // bar_steps).tolist())
    return bars_hit == set(range(bars_4_4))


def tempo_at(score: stream.Score, offset: Fraction) -> float:
    """Quarter notes per minute in force at ``offset`` (clamped; a default when unmarked)."""
    qpm: float | None = None
    for mark in score.parts[0].recurse().getElementsByClass(tempo.MetronomeMark):
        if Fraction(mark.getOffsetInHierarchy(score.parts[0])) <= offset:
            value = mark.getQuarterBPM()
            qpm = float(value) if value else qpm
    if qpm is None:
        return DEFAULT_QPM
    return round(min(max(qpm, QPM_RANGE[0]), QPM_RANGE[1]), 1)


def piece_title(score: stream.Score, rel_path: str) -> str:
    """A readable title: the encoded one when it looks like a title, else from the path."""
    title = (score.metadata.title if score.metadata is not None else None) or ""
    title = title.strip()
    if title and not title.isupper() and not re.search(r"\.(mxl|xml|krn|musicxml)$", title):
        return title
    stem = rel_path.split("/", 1)[1].rsplit(".", 1)[0]
    text = stem.replace("/", ", ").replace("_", " ")
    text = re.sub(r"opus(\d+)no(\d+)", r"Op. \1 No. \2", text)
    text = re.sub(r"opus(\d+)", r"Op. \1", text)
    text = re.sub(r"movement(\d+)", r"mvt. \1", text)
    text = re.sub(r"\bbwv", "BWV ", text)
    text = re.sub(r"\bk(\d+)", r"K. \1", text)
    text = re.sub(r"\bno(\d+)", r"No. \1", text)
    text = re.sub(r"madrigal\.(\d+)\.(\d+)", r"madrigal, book \1 no. \2", text)
    return text[:1].upper() + text[1:]


def fragments_of(spec: ComposerSpec, path: Path, score: stream.Score, bars_4_4: int,
                 grid_meters_only: bool, wanted: int) -> list[Fragment]:
    """Up to ``wanted`` non-overlapping fragments of one piece, spread evenly over it."""
    grid = bar_grid(score)
    found: list[Fragment] = []
    next_free = 0
    for i, j in windows(grid, bars_4_4, grid_meters_only):
        if i < next_free:
            continue
        start = grid[i].offset
        end = grid[j - 1].offset + grid[j - 1].full_length
        span_4_4 = int((end - start) / 4)
        notes = extract_notes(score, start, end)
        if not acceptable(notes, span_4_4):
            continue
        found.append(Fragment(spec, relative(path), piece_title(score, relative(path)),
                              grid[i].number, grid[j - 1].number, grid[i].meter, span_4_4,
                              tempo_at(score, start), notes))
        next_free = j
        if wanted == 1:
            break
    if len(found) <= wanted:
        return found
    return [found[(k * len(found)) // wanted] for k in range(wanted)]


def composer_fragments(spec: ComposerSpec, per_composer: int, bars_4_4: int) -> list[Fragment]:
    """The composer's fragments: 4/4-friendly metres first, other metres only if short."""
    files = candidate_files(spec)
    if not files:
        log.warning("%s: no usable pieces in the music21 corpus", spec.display)
        return []
    per_piece = math.ceil(per_composer / len(files))
    parsed: dict[int, stream.Score] = {}
    chosen: list[Fragment] = []

    def take(index: int, grid_meters_only: bool) -> bool:
        """Add up to one piece's quota of new fragments from ``files[index]``."""
        if index not in parsed:
            log.info("parsing %s", relative(files[index]))
            parsed[index] = corpus.parse(relative(files[index]))
        taken = {(f.path, f.first_bar) for f in chosen}
        wanted = min(per_piece, per_composer - len(chosen))
        new = [f for f in fragments_of(spec, files[index], parsed[index], bars_4_4,
                                       grid_meters_only, wanted)
               if (f.path, f.first_bar) not in taken][:wanted]
        chosen.extend(new)
        return bool(new)

    for grid_meters_only in (True, False):
        # One piece from each block of the sorted list first, then anything left over.
        for block in spread_blocks(len(files), per_composer):
            for index in block:
                if len(chosen) >= per_composer or take(index, grid_meters_only):
                    break
        used = {f.path for f in chosen}
        for index, path in enumerate(files):
            if len(chosen) >= per_composer:
                break
            if relative(path) not in used:
                take(index, grid_meters_only)
        if len(chosen) >= per_composer:
            break
    if len(chosen) < per_composer:
        log.warning("%s: only %d fragments", spec.display, len(chosen))
    return chosen


# -- output ------------------------------------------------------------------------------------
def to_score(fragment: Fragment, name: str) -> Score:
    """The fragment as a cadenza score at ``TICKS_PER_QUARTER`` in 4/4."""
    notes = fragment.notes.copy()
    scale = TICKS_PER_QUARTER // STEPS_PER_QUARTER
    notes["start"] *= scale
    notes["duration"] *= scale
    return Score(notes=notes, ticks_per_quarter=TICKS_PER_QUARTER,
                 tempos=(Tempo(0, fragment.qpm),), time_signatures=(TimeSignature(0, 4, 4),),
                 name=name, composer=fragment.composer.display)


def source_line(fragment: Fragment) -> str:
    return f"music21 corpus: {fragment.path}, bars {fragment.first_bar}-{fragment.last_bar}"


def write_outputs(out: Path, fragments: list[Fragment]) -> list[dict[str, object]]:
    """Write the MIDI files, ``index.json`` and ``SOURCES.md``; remove stale MIDI files."""
    out.mkdir(parents=True, exist_ok=True)
    index: list[dict[str, object]] = []
    counters: dict[str, int] = {}
    for fragment in fragments:
        counters[fragment.composer.key] = counters.get(fragment.composer.key, 0) + 1
        name = f"{fragment.composer.key}_{counters[fragment.composer.key]}"
        write_midi(to_score(fragment, name), out / f"{name}.mid", overwrite=True)
        index.append({
            "file": f"{name}.mid",
            "composer": fragment.composer.display,
            "source": source_line(fragment),
            "title": fragment.title,
            "bars": fragment.bars_4_4,
            "original_time_signature": fragment.meter,
            "qpm": fragment.qpm,
            "notes": len(fragment.notes),
        })
    written = {str(entry["file"]) for entry in index}
    for stale in sorted(out.glob("*.mid")):
        if stale.name not in written:
            stale.unlink()
    write_json_atomic(out / "index.json", index)
    write_bytes_atomic(out / "SOURCES.md", sources_markdown(index).encode())
    return index


def sources_markdown(index: list[dict[str, object]]) -> str:
    lines = [
        "# Sources of the shipped primers",
        "",
        "Every file here is a short fragment of a public-domain composition, cut from the",
        f"corpus bundled with music21 {music21.__version__} by `scripts/build_primers.py`",
        "(deterministic: rerun it to rebuild these files byte for byte). All parts of the",
        "source are merged into one piano part, quantised to sixteenth notes and written in",
        "4/4 at the source's tempo (100 quarter notes per minute where it gives none).",
        "Bar numbers are those of the source encoding.",
        "",
        "| File | Composer | Work | Source (music21 corpus path, bars) | Source metre |",
        "|---|---|---|---|---|",
    ]
    for entry in index:
        lines.append(f"| {entry['file']} | {entry['composer']} | {entry['title']} | "
                     f"{str(entry['source']).removeprefix('music21 corpus: ')} | "
                     f"{entry['original_time_signature']} |")
    lines += [
        "",
        "## Licence",
        "",
        "The compositions are in the public domain. The encodings are distributed with the",
        "music21 toolkit (BSD-3-Clause, copyright Michael Scott Asato Cuthbert); its corpus",
        "licence statement (`music21/corpus/license.txt`) says:",
        "",
        "> The BSD licensed music21 software is distributed with a corpus of encoded",
        "> compositions which are distributed with the permission of the encoders (and, where",
        "> needed, the composers or arrangers) and where permitted under United States",
        "> copyright law. Some encodings included in the corpus may not be used for commercial",
        "> uses or have other restrictions: please see the licenses embedded in individual",
        "> compositions or directories for more details.",
        "",
        "Encodings that embed their own rights statement (a MusicXML `<rights>` element or a",
        "Humdrum `!!!YEC`/`!!!YEM` record) are skipped by the build script, so none of the",
        "fragments above comes from one.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--per-composer", type=int, default=3, help="fragments per composer")
    parser.add_argument("--bars", type=int, default=2, help="length of a fragment in 4/4 bars")
    parser.add_argument("--composers", default="",
                        help="comma-separated keys (default: all of "
                             + ",".join(c.key for c in COMPOSERS) + ")")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.per_composer < 1 or args.bars < 1:
        parser.error("--per-composer and --bars must be at least 1")
    keys = [k.strip() for k in args.composers.split(",") if k.strip()]
    unknown = sorted(set(keys) - {c.key for c in COMPOSERS})
    if unknown:
        parser.error(f"unknown composer keys {unknown}")
    specs = [c for c in COMPOSERS if not keys or c.key in keys]
    fragments: list[Fragment] = []
    for spec in specs:
        fragments.extend(composer_fragments(spec, args.per_composer, args.bars))
    index = write_outputs(args.out, fragments)
    total = sum((args.out / str(e["file"])).stat().st_size for e in index)
    log.info("wrote %d primers from %d composers to %s (%d bytes of MIDI)", len(index),
             len({e["composer"] for e in index}), args.out, total)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
