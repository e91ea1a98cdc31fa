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
    POST   /api/answer                        a played exchange -> the model's answer, at once
    GET    /api/exchanges/{id}/midi           an answered exchange as MIDI (or /musicxml)

Errors are ``{"detail": message}``, plus ``"field"`` for a bad request field (422). A full
queue answers 429 with ``Retry-After``; an unknown id (or anything that is not an id) 404.
The routes live in :mod:`cadenza.web.routes`, one router per concern; :func:`create_app`
makes the server's parts and assembles the routers, the middleware and the page.
"""

from __future__ import annotations

import gc
import logging
import mimetypes
import threading
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from cadenza.web.access import TokenGuard
from cadenza.web.catalog import ModelCatalog
from cadenza.web.jobs import JobRunner, RunnerConfig
from cadenza.web.limits import BodyLimit, ConcurrencyLimit
from cadenza.web.pipeline import ComposeFn, EngraveFn, RenderFn
from cadenza.web.problems import Problem, on_problem, on_validation_error
from cadenza.web.routes.answers import answers_router
from cadenza.web.routes.compositions import compositions_router
from cadenza.web.routes.files import files_router
from cadenza.web.routes.models import models_router
from cadenza.web.routes.uploads import uploads_router
from cadenza.web.scratch import server_scratch
from cadenza.web.services import Services
from cadenza.web.settings import ServerSettings, default_data_dir
from cadenza.web.store import JobStore
from cadenza.web.uploads import MAX_UPLOAD_BYTES, UploadStore
from cadenza.web.views import download_name

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
# Only files served by cadenza itself may be loaded by the page.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# A browser runs a module script only when it is served as JavaScript; some systems' MIME
# tables say otherwise for .js (or nothing at all), so the server says it itself.
mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("text/css", ".css")


def _services(settings: ServerSettings, compose_fn: ComposeFn | None,
              render_fn: RenderFn | None, engrave_fn: EngraveFn | None) -> Services:
    store = JobStore(settings.data_dir)
    catalog = ModelCatalog(settings.checkpoints_dir, settings.include_shipped)
    runner = JobRunner(
        store, catalog,
        RunnerConfig(settings.workers, settings.queue_size, settings.job_timeout_seconds,
                     settings.render_wav, settings.engrave, settings.max_wav_minutes),
        compose_fn=compose_fn, render_fn=render_fn, engrave_fn=engrave_fn,
    )
    return Services(settings, store, UploadStore(settings.data_dir), catalog, runner)


def _report(services: Services, restored: int) -> None:
    log.info("%d compositions in %s", restored, services.store.root)
    unreadable = services.store.unreadable()
    if unreadable:
        log.warning("%d composition folder(s) with an unreadable record, kept and listed in "
                    "the page's history: %s", len(unreadable),
                    ", ".join(folder.id for folder in unreadable))


def _lifespan(services: Services, restored: int) -> Any:
    def warm() -> None:
        services.catalog.warm()
        # Torch and the models are loaded for good: keep them out of the garbage collector's
        # full passes, which otherwise pause every thread for a noticeable moment.
        gc.collect()
        gc.freeze()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        with ExitStack() as stack:
            if services.settings.scratch_root is not None:  # renders' temporary files
                stack.enter_context(server_scratch(services.settings.scratch_root))
            _report(services, restored)
            services.runner.start()
            if services.settings.warm_models:
                threading.Thread(target=warm, name="cadenza-warm", daemon=True).start()
            try:
                yield
            finally:
                services.runner.stop()

    return lifespan


async def _security_headers(request: Request, call_next: Any) -> Response:
    response: Response = await call_next(request)
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Cache-Control", "no-cache")
    return response


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
    services = _services(settings, compose_fn, render_fn, engrave_fn)
    restored = services.store.load()
    app = FastAPI(title="cadenza", lifespan=_lifespan(services, restored), docs_url=None,
                  redoc_url=None, openapi_url=None)  # no schema or docs pages
    app.state.store, app.state.catalog = services.store, services.catalog
    app.state.runner = services.runner
    if settings.allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(settings.allowed_hosts))
    # Outermost but one: no large body is read into memory (an upload may be 1 MB of MIDI).
    app.add_middleware(BodyLimit, larger={"/api/uploads": MAX_UPLOAD_BYTES + 64 * 1024})
    if settings.token is not None:  # before anything is read: the API needs the token
        app.add_middleware(TokenGuard, token=settings.token)
    app.middleware("http")(_security_headers)
    # Outermost: a bounded number of requests is served at once (503 beyond it).
    app.add_middleware(ConcurrencyLimit, max_active=settings.max_active_requests)
    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation_error)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in (models_router, uploads_router, compositions_router, files_router,
                   answers_router):
        app.include_router(router(services))
    return app


__all__ = ["ServerSettings", "create_app", "default_data_dir", "download_name"]
