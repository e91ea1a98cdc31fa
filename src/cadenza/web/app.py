"""The FastAPI application: a JSON API for composing plus the static page that uses it.

Endpoints (all JSON unless said otherwise; docs/web.md has the details)::

    GET    /                                  the page (static/index.html)
    GET    /api/models                        models: id, family, corpus, composers, controls
    POST   /api/uploads                       multipart ``file`` (a MIDI file, <= 1 MB) -> 201
    GET    /api/uploads/{id}                  what was uploaded: name, notes, bars, key
    POST   /api/compositions                  {model, mode, upload, bars, ...} -> 202 {id}
    GET    /api/compositions                  history, newest first (?limit=1..500)
    GET    /api/compositions/{id}             status, progress, error, parameters, file URLs
    POST   /api/compositions/{id}/cancel      stop a queued or running composition -> 202
    DELETE /api/compositions/{id}             forget a finished one and delete its files -> 204
    GET    /api/compositions/{id}/midi        audio/midi attachment
    GET    /api/compositions/{id}/wav         audio/wav attachment
    GET    /api/compositions/{id}/musicxml    the score as MusicXML (attachment)
    GET    /api/compositions/{id}/score       the score engraved as SVG
    GET    /api/compositions/{id}/input       the uploaded file it was made from
    GET    /api/compositions/{id}/notes       notes for the piano roll (see cadenza.web.notes)

Errors are ``{"detail": message}``, plus ``"field"`` for a bad request field (422). A full
queue answers 429 with ``Retry-After``; an unknown id (or anything that is not an id) 404.
"""

from __future__ import annotations

import gc
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.middleware.trustedhost import TrustedHostMiddleware

from cadenza.api import compose_request
from cadenza.composing import check_controls
from cadenza.errors import ConfigError
from cadenza.fileio import write_error_message
from cadenza.web.catalog import ModelCatalog
from cadenza.web.jobs import (
    ComposeFn,
    EngraveFn,
    JobRunner,
    NotCancellable,
    QueueFull,
    RenderFn,
    RunnerConfig,
    mode_inputs,
)
from cadenza.web.limits import BodyLimit
from cadenza.web.requests import MAX_SEED, CompositionIn, check_mode, modes_of
from cadenza.web.store import DONE, FINISHED, Job, JobStore, new_id
from cadenza.web.uploads import MAX_UPLOAD_BYTES, UploadError, UploadStore

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
RETRY_AFTER_SECONDS = 5
MEDIA_TYPES = {"midi": "audio/midi", "wav": "audio/wav", "notes": "application/json",
               "musicxml": "application/vnd.recordare.musicxml+xml",
               "score": "image/svg+xml", "input": "audio/midi"}
SUFFIXES = {"midi": ".mid", "wav": ".wav", "musicxml": ".musicxml", "input": ".mid"}
# An SVG opened on its own must not run anything; Verovio's own style element may apply.
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'"
# Only files served by cadenza itself may be loaded by the page.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/cadenza/web`` (``~/.local/share/cadenza/web`` by default)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "cadenza" / "web"


@dataclass
class ServerSettings:
    """What ``cadenza serve`` configures.

    Attributes:
        data_dir: where compositions are kept (one folder per job).
        checkpoints_dir: folder searched for run and checkpoint folders (``None``: none).
        include_shipped: also offer the models shipped with cadenza.
        workers, queue_size, job_timeout_seconds, render_wav, engrave: see
            :class:`RunnerConfig`.
        allowed_hosts: accepted ``Host`` headers (``None`` accepts any); a server bound to
            the loopback interface names its own so other web sites cannot reach it through
            DNS rebinding.
        warm_models: load every model and its primers in the background at start.
    """

    data_dir: Path
    checkpoints_dir: Path | None = None
    include_shipped: bool = True
    workers: int = 2
    queue_size: int = 8
    job_timeout_seconds: float = 600.0
    render_wav: bool = True
    engrave: bool = True
    allowed_hosts: tuple[str, ...] | None = None
    warm_models: bool = True


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat(timespec="seconds")


def _slug(text: str, fallback: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:40] or fallback


def download_name(job: Job, kind: str) -> str:
    """The server-made file name of a download (ASCII letters, digits, ``-`` and ``.``)."""
    stamp = datetime.fromtimestamp(job.created, tz=timezone.utc).strftime("%Y%m%d-%H%M%S")
    source = job.composer or (Path(job.upload).stem if job.upload else None)
    if source is None and job.primer:
        source = Path(job.primer).stem
    who = _slug(source or "free", "free")
    return f"cadenza-{_slug(job.model, 'model')}-{who}-{stamp}-{job.id[:8]}{SUFFIXES[kind]}"


def _error(status: int, message: str, field: str | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"detail": message}
    if field is not None:
        body["field"] = field
    return JSONResponse(body, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> tuple[str, str]:
    """The first validation error as ``(field, "field: message")``."""
    errors = exc.errors()
    if not errors:
        return "body", "body: invalid request"
    first = errors[0]
    if first.get("type") == "json_invalid":  # loc holds the character position, not a field
        where = [part for part in first.get("loc", ()) if isinstance(part, int)]
        at = f" at character {where[0]}" if where else ""
        reason = (first.get("ctx") or {}).get("error", "invalid JSON")
        return "body", f"body: not valid JSON{at} ({reason}); was it cut off?"
    loc = [str(part) for part in first.get("loc", ()) if part != "body"]
    field = ".".join(loc) or "body"
    message = str(first.get("msg", "invalid value"))
    if field == "body":
        message = "the body must be a JSON object such as {\"model\": ..., \"bars\": 16}"
    elif first.get("type") == "extra_forbidden":
        message = "unknown field"
    return field, f"{field}: {message}"


def create_app(
    settings: ServerSettings,
    *,
    compose_fn: ComposeFn | None = None,
    render_fn: RenderFn | None = None,
    engrave_fn: EngraveFn | None = None,
) -> FastAPI:
    """Build the application: load the history from ``settings.data_dir``, set up the pool.

    The worker threads start with the application's lifespan (``uvicorn`` or a
    ``with TestClient(app)`` block) and stop with it. ``compose_fn`` and ``render_fn``
    replace :func:`cadenza.composing.compose` and the WAV renderer (for tests), and
    ``engrave_fn`` the sheet music engraver.
    """
    store = JobStore(settings.data_dir)
    uploads = UploadStore(settings.data_dir)
    restored = store.load()
    catalog = ModelCatalog(settings.checkpoints_dir, settings.include_shipped)
    runner = JobRunner(
        store, catalog,
        RunnerConfig(settings.workers, settings.queue_size, settings.job_timeout_seconds,
                     settings.render_wav, settings.engrave),
        compose_fn=compose_fn, render_fn=render_fn, engrave_fn=engrave_fn,
    )

    def warm() -> None:
        catalog.warm()
        # Torch and the models are loaded for good: keep them out of the garbage collector's
        # full passes, which otherwise pause every thread for a noticeable moment.
        gc.collect()
        gc.freeze()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        log.info("%d compositions in %s", restored, store.root)
        runner.start()
        if settings.warm_models:
            threading.Thread(target=warm, name="cadenza-warm", daemon=True).start()
        yield
        runner.stop()

    app = FastAPI(title="cadenza", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)  # no schema or docs pages unless someone adds them
    app.state.store, app.state.catalog, app.state.runner = store, catalog, runner
    if settings.allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(settings.allowed_hosts))
    # Outermost: no large body is read into memory (an upload may be a MIDI file of 1 MB).
    app.add_middleware(BodyLimit, larger={"/api/uploads": MAX_UPLOAD_BYTES + 64 * 1024})

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Cache-Control", "no-cache")
        return response

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        field, message = _validation_message(exc)
        return _error(422, message, field)

    def view(job: Job) -> dict[str, Any]:
        base = f"/api/compositions/{job.id}"
        kinds = MEDIA_TYPES if job.status == DONE else ("input",)
        urls = {kind: f"{base}/{kind}" for kind in kinds if store.file(job, kind)}
        total = job.progress_total
        return {
            "id": job.id, "status": job.status, "stage": job.stage,
            "model": job.model, "family": job.family, "preset": job.preset,
            "composer": job.composer, "bars": job.bars, "temperature": job.temperature,
            "seed": job.seed, "seed_given": job.seed_given,
            "created": _iso(job.created), "started": _iso(job.started),
            "finished": _iso(job.finished),
            "progress": {"done": job.progress_done, "total": total,
                         "fraction": round(job.progress_done / total, 4) if total else 0.0},
            "error": job.error, "wav_error": job.wav_error, "score_error": job.score_error,
            "primer": job.primer, "form": job.form, "mode": job.mode, "upload": job.upload,
            "warnings": job.warnings,
            "options": job.options, "urls": urls,
            "downloads": {k: download_name(job, k) for k in SUFFIXES if k in urls},
        }

    # -- pages -----------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # -- models ----------------------------------------------------------------------------
    @app.get("/api/models")
    def models() -> dict[str, Any]:
        described = []
        for entry in catalog.entries():
            about = catalog.describe(entry)
            try:
                about["modes"] = modes_of(entry.family)
            except ConfigError:  # a family this version does not know
                about["modes"] = []
            described.append(about)
        return {"models": described}

    # -- uploads ---------------------------------------------------------------------------
    @app.post("/api/uploads", status_code=201, response_model=None)
    async def upload(request: Request) -> JSONResponse | dict[str, Any]:
        kind = request.headers.get("content-type", "")
        if not kind.startswith("multipart/form-data"):
            return _error(415, "upload a MIDI file as multipart/form-data, field 'file'")
        try:
            form = await request.form(max_files=1, max_fields=4)
        except Exception as exc:  # malformed multipart bodies raise several kinds
            return _error(400, f"could not read the upload: {exc}")
        try:
            part = form.get("file")
            if part is None or isinstance(part, str):
                return _error(422, "file: no file in the field 'file'", "file")
            data = await part.read(MAX_UPLOAD_BYTES + 1)
            name = part.filename
        finally:
            await form.close()
        try:
            stored = await run_in_threadpool(uploads.add, data, name)
        except UploadError as exc:
            return _error(exc.status, str(exc), "file")
        except OSError as exc:
            log.warning("cannot store an upload: %s", exc)
            return _error(507, "the server cannot store uploads now: "
                          + write_error_message(exc, uploads.root))
        return stored.view()

    @app.get("/api/uploads/{upload_id}", response_model=None)
    def upload_info(upload_id: str) -> JSONResponse | dict[str, Any]:
        found = uploads.get(upload_id)
        return _error(404, "no such upload") if found is None else found.view()

    # -- compositions ----------------------------------------------------------------------
    @app.post("/api/compositions", status_code=202, response_model=None)
    def create_composition(body: CompositionIn) -> JSONResponse | dict[str, Any]:
        entry = catalog.get(body.model)
        if entry is None:
            known = ", ".join(e.id for e in catalog.entries()) or "none"
            return _error(422, f"model: unknown model {body.model!r}; available: {known}",
                          "model")
        composer = body.composer or None
        if composer is not None:
            primers = catalog.primers(entry)
            match = {c.casefold(): c for c in primers.composers}.get(composer.casefold())
            if match is None:
                known = ", ".join(primers.composers) or "none"
                return _error(
                    422, f"composer: {body.model} has no primer by {composer!r}; known: {known}",
                    "composer",
                )
            composer = match
        problem = check_mode(body, entry.family)
        if problem is not None:
            return _error(422, problem[1], problem[0])
        upload_file = upload_about = None
        if body.upload is not None:
            upload_file, upload_about = uploads.file(body.upload), uploads.get(body.upload)
            if upload_file is None or upload_about is None:
                return _error(422, "upload: no such upload; upload the file again", "upload")
        seed = body.seed if body.seed is not None else secrets.randbelow(MAX_SEED + 1)
        temperature = (float(body.temperature) if body.temperature is not None
                       else entry.temperature())  # absent: the model's calibrated one
        options = body.options()
        try:  # the controls are checked here, once, as composing will read them
            inputs = mode_inputs(body.mode, upload_file) if upload_file is not None else {}
            request = compose_request(entry.checkpoint, bars=body.bars,
                                      temperature=temperature, seed=seed,
                                      **inputs, **options)
            check_controls(request, entry.family)
        except ConfigError as exc:
            field = next((name for name in options if name in str(exc).replace("-", "_")),
                         "body")
            return _error(422, f"{field}: {exc}", field)
        job = Job(
            id=new_id(), model=entry.id, composer=composer, bars=body.bars,
            temperature=temperature, seed=seed, seed_given=body.seed is not None,
            created=time.time(), family=entry.family, preset=entry.preset, options=options,
            mode=body.mode, upload=upload_about.name if upload_about else None,
        )
        files = {"input": upload_file.read_bytes()} if upload_file is not None else None
        try:
            runner.submit(job, files)
        except QueueFull as exc:
            return _error(429, str(exc), headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        except OSError as exc:  # the data folder cannot take the job's folder or record
            log.warning("cannot record a composition: %s", exc)
            return _error(507, "the server cannot store compositions now: "
                          + write_error_message(exc, store.root))
        return {"id": job.id, "status": job.status, "url": f"/api/compositions/{job.id}"}

    @app.get("/api/compositions")
    def history(limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
        return {
            "compositions": [view(job) for job in store.history(limit)],
            "counts": store.counts(),
            "queue": {"waiting": runner.waiting, "running": runner.running,
                      "workers": settings.workers, "capacity": settings.queue_size},
        }

    @app.get("/api/compositions/{job_id}", response_model=None)
    def composition(job_id: str) -> JSONResponse | dict[str, Any]:
        job = store.get(job_id)
        if job is None:
            return _error(404, "no such composition")
        return view(job)

    @app.post("/api/compositions/{job_id}/cancel", status_code=202, response_model=None)
    def cancel(job_id: str) -> JSONResponse | dict[str, Any]:
        job = store.get(job_id)
        if job is None:
            return _error(404, "no such composition")
        try:
            status = runner.cancel(job)
        except NotCancellable as exc:
            return _error(409, f"the composition has finished already (status {exc})")
        return {"id": job.id, "status": status}

    @app.delete("/api/compositions/{job_id}", status_code=204, response_model=None)
    def delete(job_id: str) -> Response:
        job = store.get(job_id)
        if job is None:
            return _error(404, "no such composition")
        if job.status not in FINISHED:
            return _error(409, f"the composition is {job.status}; cancel it first")
        store.remove(job.id)
        return Response(status_code=204)

    def serve_file(job_id: str, kind: str) -> Response:
        job = store.get(job_id)
        if job is None:
            return _error(404, "no such composition")
        if job.status != DONE and kind != "input":
            return _error(409, f"the composition is not ready (status {job.status})")
        try:
            path = store.file(job, kind)
        except ConfigError:
            path = None
        if path is None:
            reason = f": {job.wav_error}" if kind == "wav" and job.wav_error else ""
            return _error(404, f"this composition has no {kind.upper()} file{reason}")
        if kind == "notes":
            return FileResponse(path, media_type=MEDIA_TYPES[kind])
        if kind == "score":
            return FileResponse(path, media_type=MEDIA_TYPES[kind],
                                headers={"Content-Security-Policy": SVG_POLICY})
        return FileResponse(path, media_type=MEDIA_TYPES[kind],
                            filename=download_name(job, kind))

    def file_route(kind: str) -> Any:
        def serve(job_id: str) -> Response:
            return serve_file(job_id, kind)

        serve.__name__ = f"{kind}_file"
        return serve

    for kind in MEDIA_TYPES:  # midi, wav, notes, musicxml, score, input
        app.add_api_route(f"/api/compositions/{{job_id}}/{kind}", file_route(kind),
                          methods=["GET", "HEAD"])

    return app
