"""What one composition goes through on a worker: compose, notes, sheet music, audio.

:class:`JobPipeline` runs the steps in order and records each file in the job as it is
written; :class:`JobControl` is how the pool stops a job (cancelled, past its deadline or
the server stopping): every progress report and every step boundary calls
:meth:`JobControl.check`, which raises :class:`JobAborted`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cadenza.api import compose_request
from cadenza.composing import ComposeRequest, ComposeResult, compose
from cadenza.errors import CadenzaError, ConfigError
from cadenza.fileio import write_bytes_atomic
from cadenza.score import Score
from cadenza.web.catalog import ModelCatalog
from cadenza.web.duration import DEFAULT_MAX_WAV_MINUTES, wav_refusal
from cadenza.web.notes import notes_json
from cadenza.web.store import FILE_NAMES, Job, JobStore
from cadenza.web.writes import guarded_write

if TYPE_CHECKING:
    from cadenza.notation import Engraving

log = logging.getLogger(__name__)

ComposeFn = Callable[[ComposeRequest], ComposeResult]
RenderFn = Callable[[Score, Path], Path]
EngraveFn = Callable[[Score], "Engraving"]
PIECE_NAME = Path(FILE_NAMES["midi"]).stem


class JobAborted(Exception):
    """Raised inside a job to stop it (deadline passed, cancelled or server stopping)."""


def timeout_message(seconds: float) -> str:
    """A job's error when it ran past its deadline."""
    return f"timed out after {seconds:g} s"


@dataclass
class JobControl:
    """A running job's deadline (``time.monotonic()`` seconds) and abort flag."""

    deadline: float
    timeout_seconds: float
    abort: threading.Event = field(default_factory=threading.Event)
    reason: str = ""

    def stop(self, reason: str) -> None:
        """Ask the job to stop at its next check (the first reason given is kept)."""
        if not self.abort.is_set():
            self.reason = reason
            self.abort.set()

    def overdue(self, now: float) -> bool:
        return now > self.deadline

    def check(self) -> None:
        """Raise :class:`JobAborted` when the job must stop."""
        if self.abort.is_set():
            raise JobAborted(self.reason)
        if self.overdue(time.monotonic()):
            self.reason = self.reason or timeout_message(self.timeout_seconds)
            raise JobAborted(self.reason)


def _default_render(score: Score, path: Path) -> Path:
    from cadenza.audio import render_wav

    return render_wav(score, path)


def _default_engrave(score: Score) -> Engraving:
    from cadenza.notation import engrave

    return engrave(score)


def _engrave_parts(score: Score, parts: list[Score], ensemble: str) -> Engraving:
    """An ensemble's sheet music: a staff per instrument, not a piano score."""
    from cadenza.ensemblenotation import engrave_ensemble
    from cadenza.ensembles import get_ensemble

    return engrave_ensemble(score, parts, get_ensemble(ensemble))


def _write(path: Path, data: bytes) -> None:
    guarded_write(path, lambda: write_bytes_atomic(path, data))


def mode_inputs(mode: str, upload: Path) -> dict[str, Any]:
    """The composing request's inputs for a mode: the uploaded file as primer or melody."""
    if mode in ("continue", "infill"):
        return {"primer_file": upload}
    if mode == "harmonise":
        return {"melody_file": upload}
    return {}


def short_source(source: str) -> str:
    """The last two parts of a primer's path (``Bach/bwv_01.mid``): no server folders."""
    parts = Path(source).parts
    return "/".join(parts[-2:]) if parts else source


class JobPipeline:
    """The steps of one job, with the functions that compose, engrave and render."""

    def __init__(self, store: JobStore, catalog: ModelCatalog, *, render_wav: bool = True,
                 engrave: bool = True, compose_fn: ComposeFn | None = None,
                 render_fn: RenderFn | None = None, engrave_fn: EngraveFn | None = None,
                 max_wav_minutes: float = DEFAULT_MAX_WAV_MINUTES) -> None:
        self.store, self.catalog = store, catalog
        self.render_wav, self.engrave = render_wav, engrave
        self.max_wav_minutes = max_wav_minutes
        # One WAV at a time: a render holds every sample in memory while it scales them.
        self._render_lock = threading.Lock()
        self.compose_fn = compose_fn or compose
        self.render_fn = render_fn or _default_render
        self.engrave_fn = engrave_fn or _default_engrave

    def run(self, job: Job, control: JobControl) -> None:
        """Compose ``job`` into its folder; raises what a step raises (or JobAborted)."""
        folder = self.store.folder(job.id)
        score, parts = self._compose(job, control, folder)
        if self.engrave:
            self._stage(job, "engraving")
            self._engrave(job, score, folder, parts)
            control.check()
        if self.render_wav:
            self._stage(job, "rendering")
            self._render(job, score, folder)
        control.check()

    def _stage(self, job: Job, stage: str) -> None:
        job.stage = stage
        self.store.save(job)

    def _compose(self, job: Job, control: JobControl, folder: Path
                 ) -> tuple[Score, list[Score] | None]:
        """The MIDI file and the piano roll's notes; returns the score and, for an ensemble,
        its parts."""
        entry = self.catalog.get(job.model)
        if entry is None:
            raise ConfigError(f"model {job.model!r} is no longer available")
        primers = self.catalog.primers(entry)
        control.check()

        def progress(done: int, total: int) -> None:
            control.check()
            job.stage, job.progress_done, job.progress_total = "generating", done, total

        request = compose_request(
            entry.checkpoint, out_dir=folder, bars=job.bars, composer=job.composer,
            no_primer=job.mode == "compose" and job.composer is None and not primers.available,
            temperature=job.temperature, seed=job.seed, name=PIECE_NAME, progress=progress,
            **mode_inputs(job.mode, folder / FILE_NAMES["input"]), **job.options,
        )
        result = self.compose_fn(request)
        control.check()
        piece = result.pieces[0]
        midi_path = folder / FILE_NAMES["midi"]
        if midi_path not in piece.files or not midi_path.is_file():
            raise ConfigError(f"composing wrote {piece.files}, expected {midi_path.name}")
        notes = notes_json(piece.score, piece.generated_start_tick, piece.input_notes)
        _write(folder / FILE_NAMES["notes"], json.dumps(notes, separators=(",", ":")).encode())
        job.primer = short_source(result.primer_source)
        job.form = result.form
        job.warnings = list(piece.warnings)
        job.files = {**job.files, "midi": FILE_NAMES["midi"], "notes": FILE_NAMES["notes"]}
        return piece.score, piece.parts

    def _engrave(self, job: Job, score: Score, folder: Path,
                 parts: list[Score] | None = None) -> None:
        """MusicXML and the SVG score (an ensemble's: a staff per part); without music21 or
        Verovio, ``score_error`` says so."""
        ensemble = job.options.get("ensemble")
        try:
            xml = (_engrave_parts(score, parts, ensemble) if parts and ensemble
                   else self.engrave_fn(score))
        except CadenzaError as exc:
            job.score_error = str(exc)
            log.warning("composition %s: no sheet music: %s", job.id, exc)
            return
        _write(folder / FILE_NAMES["musicxml"], xml.musicxml)
        _write(folder / FILE_NAMES["score"], xml.svg.encode())
        job.files = {**job.files, "musicxml": FILE_NAMES["musicxml"],
                     "score": FILE_NAMES["score"]}

    def _render(self, job: Job, score: Score, folder: Path) -> None:
        """The WAV; a missing synthesiser, a piece too long for the page or too little
        memory only cost the WAV (``wav_error`` says why)."""
        refused = wav_refusal(score.seconds(), self.max_wav_minutes)
        if refused is not None:
            job.wav_error = refused
            log.info("composition %s: no WAV: %s", job.id, refused)
            return
        wav = folder / FILE_NAMES["wav"]
        try:
            with self._render_lock:
                guarded_write(wav, lambda: self.render_fn(score, wav))
        except CadenzaError as exc:
            job.wav_error = str(exc)
            log.warning("composition %s: no WAV: %s", job.id, exc)
        except MemoryError:
            job.wav_error = "the server had too little memory to render the audio"
            log.warning("composition %s: no WAV: out of memory", job.id)
        else:
            job.files = {**job.files, "wav": FILE_NAMES["wav"]}
