"""The bounded worker pool that composes in the background.

Requests never compose on the thread that serves them: :meth:`JobRunner.submit` records the
job and puts it on a queue that ``workers`` threads take from. Threads rather than processes:
PyTorch releases the GIL inside its operations, a loaded model is shared by every worker
instead of being loaded once per process, and progress is a plain attribute the API reads.
PyTorch's intra-op thread count is process wide; ``cadenza serve`` divides the CPU cores
between the workers (``torch.set_num_threads``).

Bounds:

* at most ``queue_size`` jobs wait (not counting those running); :meth:`submit` raises
  :class:`QueueFull` beyond that, which the API turns into ``429 Too Many Requests``;
* every job has a deadline. The generation loop reports progress after every step and the
  report raises :class:`JobAborted` once the deadline passes, which stops the job; a
  watchdog also marks a job failed at its deadline when it is stuck elsewhere (loading a
  model, rendering audio), so a client never waits forever. Such a job's late result is
  discarded.

A job that fails records its one-line error; a missing synthesiser only costs the WAV (the
MIDI, the notes and ``wav_error`` are kept).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass

from cadenza.errors import CadenzaError, ConfigError
from cadenza.fileio import write_bytes_atomic
from cadenza.web.catalog import ModelCatalog
from cadenza.web.duration import DEFAULT_MAX_WAV_MINUTES
from cadenza.web.pipeline import (
    ComposeFn,
    EngraveFn,
    JobAborted,
    JobControl,
    JobPipeline,
    RenderFn,
    timeout_message,
)
from cadenza.web.store import (
    CANCEL_ERROR,
    CANCELLED,
    DONE,
    FAILED,
    FILE_NAMES,
    QUEUED,
    RESTART_ERROR,
    RUNNING,
    Job,
    JobStore,
)
from cadenza.web.writes import WriteFailed, write_failure

log = logging.getLogger(__name__)

WATCH_INTERVAL_SECONDS = 0.25


class QueueFull(Exception):
    """The queue of waiting compositions is full (or the server is stopping)."""


class NotCancellable(Exception):
    """The job has finished already (its status is the message)."""


@dataclass
class RunnerConfig:
    """Size of the pool and its bounds.

    Attributes:
        workers: threads composing at the same time (1..32).
        queue_size: jobs that may wait for a worker (1..10000).
        timeout_seconds: longest a job may run, from when a worker takes it.
        render_wav: also render a WAV of each composition.
        engrave: also write its MusicXML and SVG score.
        max_wav_minutes: longest piece rendered to WAV (``wav_error`` says so for others).
    """

    workers: int = 2
    queue_size: int = 8
    timeout_seconds: float = 600.0
    render_wav: bool = True
    engrave: bool = True
    max_wav_minutes: float = DEFAULT_MAX_WAV_MINUTES

    def __post_init__(self) -> None:
        if not 1 <= self.workers <= 32:
            raise ConfigError(f"workers must be in 1..32, got {self.workers}")
        if not 1 <= self.queue_size <= 10_000:
            raise ConfigError(f"queue size must be in 1..10000, got {self.queue_size}")
        if not self.timeout_seconds > 0:
            raise ConfigError(f"job timeout must be positive, got {self.timeout_seconds}")
        if not self.max_wav_minutes > 0:
            raise ConfigError(f"--max-wav-minutes must be positive, got {self.max_wav_minutes}")


class JobRunner:
    """Runs jobs from a bounded queue on ``config.workers`` threads."""

    def __init__(
        self,
        store: JobStore,
        catalog: ModelCatalog,
        config: RunnerConfig,
        compose_fn: ComposeFn | None = None,
        render_fn: RenderFn | None = None,
        engrave_fn: EngraveFn | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.pipeline = JobPipeline(store, catalog, render_wav=config.render_wav,
                                    engrave=config.engrave, compose_fn=compose_fn,
                                    render_fn=render_fn, engrave_fn=engrave_fn,
                                    max_wav_minutes=config.max_wav_minutes)
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._waiting = 0
        self._active: dict[str, JobControl] = {}
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    # -- life cycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker threads and the watchdog."""
        if self._threads:
            return
        for index in range(self.config.workers):
            thread = threading.Thread(target=self._work, name=f"cadenza-job-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        watchdog = threading.Thread(target=self._watch, name="cadenza-watchdog", daemon=True)
        watchdog.start()
        self._threads.append(watchdog)

    def stop(self, wait_seconds: float = 5.0) -> None:
        """Refuse new jobs, abort running ones and wait a little for the threads.

        Jobs still waiting stay ``queued`` on disk and are marked failed on the next start.
        """
        self._stopping.set()
        with self._lock:
            for control in self._active.values():
                control.reason = RESTART_ERROR
                control.abort.set()
        for _ in range(self.config.workers):
            self._queue.put(None)
        end = time.monotonic() + wait_seconds
        for thread in self._threads:
            thread.join(max(0.0, end - time.monotonic()))
        self._threads = []

    # -- submitting --------------------------------------------------------------------------
    def submit(self, job: Job, files: dict[str, bytes] | None = None) -> None:
        """Record ``job``, write its input ``files`` (by kind, see ``FILE_NAMES``), queue it.

        Raises:
            QueueFull: ``queue_size`` jobs are waiting already, or the server is stopping.
        """
        with self._lock:
            if self._stopping.is_set():
                raise QueueFull("the server is shutting down")
            if self._waiting >= self.config.queue_size:
                raise QueueFull(
                    f"the queue is full ({self._waiting} compositions waiting for "
                    f"{self.config.workers} workers); try again in a moment"
                )
            self._waiting += 1
        try:
            self.store.add(job)
            try:
                for kind, data in (files or {}).items():
                    write_bytes_atomic(self.store.folder(job.id) / FILE_NAMES[kind], data)
                    job.files = {**job.files, kind: FILE_NAMES[kind]}
                if files:
                    self.store.save(job)
            except BaseException:
                self.store.remove(job.id)  # no half-made job stays in the history
                raise
        except BaseException:
            with self._lock:
                self._waiting -= 1
            raise
        self._queue.put(job)

    @property
    def waiting(self) -> int:
        with self._lock:
            return self._waiting

    @property
    def running(self) -> int:
        with self._lock:
            return len(self._active)

    def cancel(self, job: Job) -> str:
        """Cancel a queued job now, or ask a running one to stop at its next progress report.

        Returns the job's status afterwards: ``cancelled``, or ``running`` while a running
        job winds down (it becomes ``cancelled`` then).

        Raises:
            NotCancellable: the job has finished already.
        """
        with self._lock:
            if job.status == QUEUED:  # the worker that takes it will skip it
                job.status, job.stage, job.finished = CANCELLED, "finished", time.time()
                job.error = CANCEL_ERROR
            elif job.status == RUNNING:
                control = self._active.get(job.id)
                if control is not None:
                    control.stop(CANCEL_ERROR)
                return RUNNING
            else:
                raise NotCancellable(job.status)
        self.store.save(job)
        log.info("composition %s cancelled before it started", job.id)
        return CANCELLED

    # -- the workers -------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None or self._stopping.is_set():
                return
            try:
                self._run(job)
            except Exception:  # the pool must outlive anything one job does
                log.exception("composition %s: unexpected failure outside the job", job.id)

    def _run(self, job: Job) -> None:
        timeout = self.config.timeout_seconds
        control = JobControl(time.monotonic() + timeout, timeout)
        with self._lock:
            self._waiting -= 1
            if job.status != QUEUED:  # cancelled while it waited
                return
            self._active[job.id] = control
            job.status, job.stage, job.started = RUNNING, "loading", time.time()
        error: str | None = None
        try:
            self.store.save(job)
            self.pipeline.run(job, control)
        except JobAborted:
            error = control.reason or "aborted"
        except Exception as exc:  # a job's failure must become its error, not a dead worker
            error = self._error_of(job, exc)
        finally:
            with self._lock:
                self._active.pop(job.id, None)
        self._finish(job, error)

    def _error_of(self, job: Job, exc: Exception) -> str:
        """The one-line error of a job that raised ``exc``."""
        if isinstance(exc, CadenzaError):
            return str(exc)
        if isinstance(exc, OSError):  # WriteFailed names its file; composing's own, not
            error = str(exc) if isinstance(exc, WriteFailed) else write_failure(
                self.store.folder(job.id), exc, folder=True)
            log.warning("composition %s: %s", job.id, error)
            return error
        log.exception("composition %s failed", job.id)
        return f"internal error ({type(exc).__name__}: {exc})"

    def _finish(self, job: Job, error: str | None) -> None:
        with self._lock:
            late = job.status != RUNNING  # the watchdog failed it already
            if not late:
                job.status = (CANCELLED if error == CANCEL_ERROR else FAILED) if error else DONE
                job.error, job.stage, job.finished = error, "finished", time.time()
        if job.status != DONE:  # nothing half-made stays, also what a late job wrote
            self.store.discard_outputs(job)
        if late:
            return
        self._record(job)
        if job.status == CANCELLED:  # the user's own choice, not a failure
            log.info("composition %s cancelled", job.id)
        elif job.error:
            log.warning("composition %s failed: %s", job.id, job.error)
        else:
            took = (job.finished or 0.0) - (job.started or 0.0)
            log.info("composition %s done in %.1f s", job.id, took)

    def _record(self, job: Job) -> None:
        """Save a finished job; when its record cannot be written it fails, keeping no
        output (the error, kept in memory, names the file)."""
        try:
            self.store.save(job)
        except OSError as exc:
            job.status, job.error = FAILED, str(exc)
            self.store.discard_outputs(job)

    # -- the watchdog ------------------------------------------------------------------------
    def _watch(self) -> None:
        while not self._stopping.wait(WATCH_INTERVAL_SECONDS):
            now = time.monotonic()
            overdue: list[str] = []
            with self._lock:
                for job_id, control in self._active.items():
                    if control.overdue(now) and not control.abort.is_set():
                        control.stop(timeout_message(control.timeout_seconds))
                        overdue.append(job_id)
            for job_id in overdue:
                self._fail_overdue(job_id)

    def _fail_overdue(self, job_id: str) -> None:
        job = self.store.get(job_id)
        if job is None:
            return
        with self._lock:
            if job.status != RUNNING:
                return
            job.status, job.stage, job.finished = FAILED, "finished", time.time()
            job.error = timeout_message(self.config.timeout_seconds)
        self._record(job)
        log.warning("composition %s: %s", job_id, job.error)


__all__ = ["QUEUED", "JobAborted", "JobRunner", "NotCancellable", "QueueFull", "RunnerConfig"]
