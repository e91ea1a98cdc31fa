"""``GET /api/compositions/{id}/{kind}``: a composition's MIDI, WAV, notes, score and input."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import FileResponse

from cadenza.errors import ConfigError
from cadenza.web.problems import Problem
from cadenza.web.services import Services
from cadenza.web.store import DONE
from cadenza.web.views import MEDIA_TYPES, download_name

# An SVG opened on its own must not run anything; Verovio's own style element may apply.
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'"


def files_router(services: Services) -> APIRouter:
    router = APIRouter()
    store = services.store

    def serve_file(job_id: str, kind: str) -> Response:
        job = store.get(job_id)
        if job is None:
            raise Problem(404, "no such composition")
        if job.status != DONE and kind != "input":
            raise Problem(409, f"the composition is not ready (status {job.status})")
        try:
            path = store.file(job, kind)
        except ConfigError:
            path = None
        if path is None:
            reason = f": {job.wav_error}" if kind == "wav" and job.wav_error else ""
            raise Problem(404, f"this composition has no {kind.upper()} file{reason}")
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
        router.add_api_route(f"/api/compositions/{{job_id}}/{kind}", file_route(kind),
                             methods=["GET", "HEAD"])
    return router
