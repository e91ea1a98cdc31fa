"""``POST /api/uploads`` (a MIDI file, multipart) and ``GET /api/uploads/{id}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from cadenza.fileio import write_error_message
from cadenza.web.problems import Problem
from cadenza.web.services import Services
from cadenza.web.uploads import MAX_UPLOAD_BYTES, UploadError

log = logging.getLogger("cadenza.web.app")


async def _read_file_part(request: Request) -> tuple[bytes, str | None]:
    """The bytes and the client's name of the multipart field ``file``."""
    kind = request.headers.get("content-type", "")
    if not kind.startswith("multipart/form-data"):
        raise Problem(415, "upload a MIDI file as multipart/form-data, field 'file'")
    try:
        form = await request.form(max_files=1, max_fields=4)
    except Exception as exc:  # malformed multipart bodies raise several kinds
        raise Problem(400, f"could not read the upload: {exc}") from None
    try:
        part = form.get("file")
        if part is None or isinstance(part, str):
            raise Problem(422, "file: no file in the field 'file'", "file")
        return await part.read(MAX_UPLOAD_BYTES + 1), part.filename
    finally:
        await form.close()


def uploads_router(services: Services) -> APIRouter:
    router = APIRouter()
    uploads = services.uploads

    @router.post("/api/uploads", status_code=201, response_model=None)
    async def upload(request: Request) -> dict[str, Any]:
        data, name = await _read_file_part(request)
        try:
            stored = await run_in_threadpool(uploads.add, data, name)
        except UploadError as exc:
            raise Problem(exc.status, str(exc), "file") from None
        except OSError as exc:
            log.warning("cannot store an upload: %s", exc)
            raise Problem(507, "the server cannot store uploads now: "
                          + write_error_message(exc, uploads.root)) from None
        return stored.view()

    @router.get("/api/uploads/{upload_id}", response_model=None)
    def upload_info(upload_id: str) -> dict[str, Any]:
        found = uploads.get(upload_id)
        if found is None:
            raise Problem(404, "no such upload")
        return found.view()

    return router
