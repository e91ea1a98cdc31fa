"""Compositions: ask for one, follow it, list them, cancel and delete."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Query, Response

from cadenza.fileio import write_error_message
from cadenza.web.admission import admit
from cadenza.web.jobs import NotCancellable, QueueFull
from cadenza.web.problems import Problem
from cadenza.web.requests import CompositionIn
from cadenza.web.services import Services
from cadenza.web.store import FINISHED, Job
from cadenza.web.views import job_view

log = logging.getLogger("cadenza.web.app")

RETRY_AFTER_SECONDS = 5


def compositions_router(services: Services) -> APIRouter:
    router = APIRouter()
    store, runner, settings = services.store, services.runner, services.settings

    def known(job_id: str) -> Job:
        job = store.get(job_id)
        if job is None:
            raise Problem(404, "no such composition")
        return job

    @router.post("/api/compositions", status_code=202, response_model=None)
    def create_composition(body: CompositionIn) -> dict[str, Any]:
        job, files = admit(body, services)
        try:
            runner.submit(job, files)
        except QueueFull as exc:
            raise Problem(429, str(exc),
                          headers={"Retry-After": str(RETRY_AFTER_SECONDS)}) from None
        except OSError as exc:  # the data folder cannot take the job's folder or record
            log.warning("cannot record a composition: %s", exc)
            raise Problem(507, "the server cannot store compositions now: "
                          + write_error_message(exc, store.root)) from None
        return {"id": job.id, "status": job.status, "url": f"/api/compositions/{job.id}"}

    @router.get("/api/compositions")
    def history(limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
        return {
            "compositions": [job_view(job, store) for job in store.history(limit)],
            "counts": store.counts(),
            "unreadable": [folder.view() for folder in store.unreadable()],
            "queue": {"waiting": runner.waiting, "running": runner.running,
                      "workers": settings.workers, "capacity": settings.queue_size},
        }

    @router.get("/api/compositions/{job_id}", response_model=None)
    def composition(job_id: str) -> dict[str, Any]:
        return job_view(known(job_id), store)

    @router.post("/api/compositions/{job_id}/cancel", status_code=202, response_model=None)
    def cancel(job_id: str) -> dict[str, Any]:
        job = known(job_id)
        try:
            status = runner.cancel(job)
        except NotCancellable as exc:
            raise Problem(409, f"the composition has finished already (status {exc})") from None
        return {"id": job.id, "status": status}

    @router.delete("/api/compositions/{job_id}", status_code=204, response_model=None)
    def delete(job_id: str) -> Response:
        unreadable = any(folder.id == job_id for folder in store.unreadable())
        job = None if unreadable else known(job_id)  # an unreadable folder may go too
        if job is not None and job.status not in FINISHED:
            raise Problem(409, f"the composition is {job.status}; cancel it first")
        store.remove(job_id)
        return Response(status_code=204)

    return router
