"""``cadenza preprocess``: read, validate, split, encode and cache a folder; print a summary."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cadenza.cli.app import app, friendly_errors, print_table
from cadenza.data.boulanger import default_steps_per_quarter, is_benchmark_file
from cadenza.data.cache import default_cache_dir
from cadenza.data.corpus import Corpus, CorpusConfig
from cadenza.data.pipeline import build_corpus
from cadenza.midi import ReadOptions
from cadenza.representations.base import load_representation

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
TOP = 6  # entries shown for long tallies (metres, composers)


def pitch_label(pitch: int) -> str:
    """``60 -> "C4"`` (MIDI note number to scientific pitch name)."""
    return f"{PITCH_CLASSES[pitch % 12]}{pitch // 12 - 1}"


def _tally(counts: Counter[str], unit: str = "") -> str:
    shown = [f"{label} {n}{unit}" for label, n in counts.most_common(TOP)]
    if len(counts) > TOP:
        shown.append(f"... {len(counts) - TOP} more")
    return ", ".join(shown) or "-"


def summary_table(corpus: Corpus, cache_note: str) -> Table:
    """The preprocessing summary as a two-column table."""
    summary = corpus.summary
    rep = corpus.representation
    table = Table(title=f"cadenza preprocess: {corpus.root}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("representation", f"{rep.name} (fingerprint {rep.fingerprint()[:12]})")
    table.add_row("pieces read", f"{summary.files_read} of {summary.files_found}")
    skipped = sum(summary.skipped.values())
    table.add_row("skipped", f"{skipped} ({_tally(summary.skipped)})" if skipped else "0")
    table.add_row("hours", f"{summary.seconds / 3600:.2f}")
    table.add_row("notes", f"{summary.notes:,}")
    table.add_row("time signatures", _tally(corpus.time_signatures(), " pieces"))
    if summary.dropped_seconds_by_meter:
        table.add_row("sections dropped", _tally(summary.dropped_seconds_by_meter, " pieces"))
    table.add_row(
        "pitch range",
        f"{summary.min_pitch}-{summary.max_pitch} "
        f"({pitch_label(summary.min_pitch)}-{pitch_label(summary.max_pitch)})",
    )
    splits = corpus.split_counts()
    table.add_row("splits", ", ".join(f"{name} {n}" for name, n in sorted(splits.items())))
    composers = corpus.composers()
    table.add_row("composers", f"{len(composers)}: {_tally(composers)}" if composers else "-")
    table.add_row("cache", cache_note)
    return table


def _cache_note(corpus: Corpus, cache_dir: Path | None) -> str:
    if cache_dir is None:
        return "off"
    stats = corpus.cache
    return (
        f"scores {stats.score_hits} hits / {stats.score_misses} misses, arrays "
        f"{stats.array_hits} hits / {stats.array_misses} misses ({cache_dir})"
    )


@app.command("preprocess")
@friendly_errors
def preprocess_command(
    folder: Annotated[Path, typer.Argument(
        help="Folder of MIDI files, a MIDI file, or a benchmark set (.json / .pickle).")],
    representation: Annotated[str, typer.Option(
        "--representation", "-r", help="pianoroll, notestate, events or notetokens.")
    ] = "pianoroll",
    meters: Annotated[str, typer.Option(
        "--meters", help="Time signatures to keep, e.g. '4/4,2/4', 'all', or 'original' "
        "(numerator 2 or 4, up to the first other signature).")] = "4/4",
    workers: Annotated[int | None, typer.Option(
        "--workers", "-j", min=1,
        help="Processes working, this one included (default: CPU count).")] = None,
    cache_dir: Annotated[Path | None, typer.Option(
        "--cache-dir", help="Cache folder (default: $CADENZA_CACHE_DIR or ~/.cache/cadenza).")
    ] = None,
    no_cache: Annotated[bool, typer.Option(
        "--no-cache", help="Neither read nor write the cache.")] = False,
    steps_per_quarter: Annotated[int | None, typer.Option(
        "--steps-per-quarter", min=1,
        help="Grid in steps per quarter note (default: the representation's; for a "
        "benchmark set, 1 for JSB, 2 for Nottingham).")] = None,
    no_progress: Annotated[bool, typer.Option(
        "--no-progress", help="Hide the progress bar.")] = False,
) -> None:
    """Read, check, split and encode every MIDI file of FOLDER, caching the arrays."""
    if is_benchmark_file(folder) and steps_per_quarter is None:
        steps_per_quarter = default_steps_per_quarter(folder)
    grid = {"steps_per_quarter": steps_per_quarter} if steps_per_quarter else {}
    rep = load_representation({"name": representation, "config": grid})
    config = CorpusConfig(meters=ReadOptions.parse_meters(meters))
    corpus = build_corpus(
        folder,
        rep,
        config,
        workers=workers,
        cache_dir=cache_dir,
        use_cache=not no_cache,
        progress=False if no_progress else None,
        steps_per_quarter=steps_per_quarter,
        fit=True,  # as training from scratch does, so its cache entries are the same
    )
    note = _cache_note(corpus, None if no_cache else default_cache_dir(cache_dir))
    print_table(summary_table(corpus, note))
