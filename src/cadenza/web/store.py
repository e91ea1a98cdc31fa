"""Compositions on disk: one folder per job, named by a server-made id, with a ``job.json``.

Layout under the data folder::

    compositions/
      3f2a...e9/            # uuid4 hex: the only name a request can refer to
        job.json            # parameters, status, progress, error, file names (atomic writes)
        composition.mid
        composition.wav     # when FluidSynth and a SoundFont are installed
        notes.json          # what the page's piano roll is drawn from
        composition.musicxml  # the score, two staves (when music21 is installed)
        score.svg           # the score engraved by Verovio, shown on the page
        input.mid           # the uploaded file it continued, harmonised or filled in

Ids are checked against :data:`ID_PATTERN` before any path is made from them, and file
names inside a folder are the server's own constants, so nothing a client sends reaches the
file system. On start, :meth:`JobStore.load` reads every folder back; jobs that were queued
or running when the server stopped are marked failed (see :data:`RESTART_ERROR`); a folder
whose record cannot be read is listed (:meth:`JobStore.unreadable`), never deleted with
files in it.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from cadenza.errors import ConfigError
from cadenza.fileio import write_json_atomic
from cadenza.web.writes import guarded_write

log = logging.getLogger(__name__)

JOB_FILE = "job.json"
JOBS_FOLDER = "compositions"
ID_PATTERN = re.compile(r"[0-9a-f]{32}")
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
CANCELLED = "cancelled"
STATUSES = (QUEUED, RUNNING, DONE, FAILED, CANCELLED)
FINISHED = (DONE, FAILED, CANCELLED)
CANCEL_ERROR = "cancelled"
RESTART_ERROR = "the server stopped before this composition finished; compose it again"

# Kinds of file a finished job can have, with the server's name for each.
FILE_NAMES = {"midi": "composition.mid", "wav": "composition.wav", "notes": "notes.json",
              "musicxml": "composition.musicxml", "score": "score.svg", "input": "input.mid"}


def new_id() -> str:
    """A fresh job id (uuid4, 32 lowercase hex digits)."""
    return uuid.uuid4().hex


def is_job_id(text: str) -> bool:
    """Whether ``text`` has the form of a job id (nothing else ever becomes a folder name)."""
    return ID_PATTERN.fullmatch(text) is not None


@dataclass
class Job:
    """One composition request and what became of it.

    Times are Unix seconds. ``progress_done`` / ``progress_total`` count generation steps
    (the model's own unit); ``stage`` is ``queued``, ``loading``, ``generating``,
    ``rendering`` or ``finished``. ``files`` maps a kind (``midi``, ``wav``, ``notes``)
    to a file name inside the job's folder.
    """

    id: str
    model: str
    composer: str | None
    bars: int
    temperature: float
    seed: int
    seed_given: bool
    created: float
    status: str = QUEUED
    stage: str = "queued"
    progress_done: int = 0
    progress_total: int = 0
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    wav_error: str | None = None
    score_error: str | None = None  # why there is no sheet music (music21/verovio missing)
    primer: str | None = None
    form: str | None = None  # the form composed to (drawn from the seed unless asked)
    family: str | None = None
    preset: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)  # composing controls asked for
    mode: str = "compose"  # compose, continue, harmonise or infill
    upload: str | None = None  # the uploaded file's display name (its bytes are input.mid)
    warnings: list[str] = field(default_factory=list)  # the piece degenerated (one line each)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        """Rebuild a job from ``job.json`` (unknown keys are ignored).

        Raises:
            ConfigError: a required key is missing or the status or id is invalid.
        """
        if not isinstance(data, dict):
            raise ConfigError(f"job record must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        try:
            job = cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as exc:
            raise ConfigError(f"job record is incomplete ({exc})") from None
        if job.status not in STATUSES or not is_job_id(str(job.id)):
            raise ConfigError(f"job record has status {job.status!r} and id {job.id!r}")
        for name in ("created", "started", "finished"):
            value = getattr(job, name, None)
            if value is None and name != "created":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"job record has {name} {value!r}, not a time in seconds")
        if not isinstance(job.files, dict):
            raise ConfigError(f"job record has files {job.files!r}, not a mapping")
        if not isinstance(job.options, dict):
            raise ConfigError(f"job record has options {job.options!r}, not a mapping")
        if not isinstance(job.warnings, list):
            job.warnings = []
        job.files = {k: v for k, v in dict(job.files).items() if FILE_NAMES.get(k) == v}
        return job


@dataclass
class Unreadable:
    """A composition folder whose ``job.json`` cannot be read, kept with the files it holds
    (a person may want them) until someone deletes it."""

    id: str
    reason: str
    files: list[str]

    def view(self) -> dict[str, Any]:
        return asdict(self)


class JobStore:
    """Every job, in memory and on disk under ``data_dir/compositions``; thread safe."""

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir) / JOBS_FOLDER
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        self._unreadable: dict[str, Unreadable] = {}

    def folder(self, job_id: str) -> Path:
        """The folder of job ``job_id``.

        Raises:
            ConfigError: ``job_id`` is not of the form of an id.
        """
        if not is_job_id(job_id):
            raise ConfigError(f"not a composition id: {job_id!r}")
        return self.root / job_id

    def file(self, job: Job, kind: str) -> Path | None:
        """The path of ``job``'s file of ``kind`` when it exists."""
        name = job.files.get(kind)
        if name is None or FILE_NAMES.get(kind) != name:
            return None
        folder = self.folder(job.id)
        path = folder / name
        if folder.is_symlink() or path.is_symlink():  # never serve what a link points to
            log.warning("refusing to serve %s: a symbolic link", path)
            return None
        return path if path.is_file() else None

    def add(self, job: Job) -> None:
        """Create the job's folder and record it."""
        with self._lock:
            folder = self.folder(job.id)
            folder.mkdir(parents=True, exist_ok=False)
            try:
                self.save(job)
            except BaseException:  # e.g. a full disk: no half-made job is left behind
                shutil.rmtree(folder, ignore_errors=True)
                raise
            self._jobs[job.id] = job

    def save(self, job: Job) -> None:
        """Write ``job.json`` atomically.

        Raises:
            WriteFailed: naming the file and the reason (a full disk, a read-only folder).
        """
        path = self.folder(job.id) / JOB_FILE
        with self._lock:
            guarded_write(path, lambda: write_json_atomic(path, job.to_dict()))

    def discard_outputs(self, job: Job) -> None:
        """Delete what a job that did not finish made: every file of its folder but its
        record and its input (an unfinished job keeps no half-made output)."""
        keep = {JOB_FILE, FILE_NAMES["input"]}
        try:
            leftovers = [p for p in self.folder(job.id).iterdir() if p.name not in keep]
        except OSError:
            leftovers = []
        for path in leftovers:
            try:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
            except OSError as exc:
                log.warning("could not remove %s: %s", path, exc)
        job.files = {k: v for k, v in job.files.items() if k == "input"}

    def get(self, job_id: str) -> Job | None:
        """The job called ``job_id``, or ``None`` (also for text that is not an id)."""
        if not is_job_id(job_id):
            return None
        with self._lock:
            return self._jobs.get(job_id)

    def history(self, limit: int | None = None) -> list[Job]:
        """Jobs, newest first."""
        with self._lock:
            jobs = sorted(self._jobs.values(), key=lambda j: (j.created, j.id), reverse=True)
        return jobs if limit is None else jobs[:limit]

    def counts(self) -> dict[str, int]:
        with self._lock:
            counts = dict.fromkeys(STATUSES, 0)
            for job in self._jobs.values():
                counts[job.status] += 1
            return counts

    def unreadable(self) -> list[Unreadable]:
        """The folders whose record could not be read at start, by id."""
        with self._lock:
            return [self._unreadable[k] for k in sorted(self._unreadable)]

    def remove(self, job_id: str) -> bool:
        """Forget a job (or an unreadable folder) and delete its folder; false when there is
        no such job."""
        with self._lock:
            known = is_job_id(job_id) and (self._jobs.pop(job_id, None) is not None
                                           or self._unreadable.pop(job_id, None) is not None)
        if not known:
            return False
        folder = self.folder(job_id)
        if folder.is_symlink():
            folder.unlink()
        else:
            shutil.rmtree(folder, ignore_errors=True)
        return True

    def load(self) -> int:
        """Read every job folder back; unfinished jobs become failed. Returns the count.

        A folder whose name is not an id is not the server's and is left alone. One whose
        ``job.json`` is missing, damaged or records another id is logged: without any other
        file it is removed (a job that died as it was recorded), else it is kept and listed
        by :meth:`unreadable`, so that a person can take its files or delete it.
        """
        loaded = 0
        for folder in sorted(self.root.iterdir()):
            if not folder.is_dir() or not is_job_id(folder.name):
                continue
            try:
                job = Job.from_dict(json.loads((folder / JOB_FILE).read_text()))
                if job.id != folder.name:
                    raise ConfigError(f"it records id {job.id}")
            except (OSError, ValueError, ConfigError) as exc:
                self._set_aside(folder, f"{JOB_FILE}: {exc}")
                continue
            if job.status in (QUEUED, RUNNING):
                job.status, job.stage, job.error = FAILED, "finished", RESTART_ERROR
                job.finished = job.finished or time.time()
                self.save(job)
            with self._lock:
                self._jobs[job.id] = job
            loaded += 1
        return loaded

    def _set_aside(self, folder: Path, reason: str) -> None:
        """An unreadable folder: removed when it holds nothing else, else listed."""
        try:
            files = sorted(p.name for p in folder.iterdir()
                           if p.name != JOB_FILE and not _is_partial(p.name))
        except OSError:
            files = ["?"]  # cannot be listed: keep it
        if not files:
            shutil.rmtree(folder, ignore_errors=True)
            log.warning("removed composition folder %s: no file but its record (%s)",
                        folder, reason)
            return
        log.warning("composition folder %s has an unreadable record (%s); it is kept, with "
                    "%s", folder, reason, ", ".join(files))
        with self._lock:
            self._unreadable[folder.name] = Unreadable(folder.name, reason, files)


def _is_partial(name: str) -> bool:
    """Whether ``name`` is an atomic write's temporary file (``.NAME.<hex>.tmp``)."""
    return name.startswith(".") and name.endswith(".tmp")
