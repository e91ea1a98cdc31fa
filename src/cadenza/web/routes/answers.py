"""Playing along: ``POST /api/answer`` answers a played phrase at once; the exchange it
continues is kept for ``GET /api/exchanges/{id}/midi`` and ``.../musicxml``.

An answer is short (at most 8 bars: about a second of composing for 2 bars on two cores),
so it is composed on the request's own thread (FastAPI's pool), not queued behind the
compositions: at most ``--workers`` answers are composed at once, more are refused with 429
and ``Retry-After``, and one that runs past :data:`ANSWER_TIMEOUT_SECONDS` stops with 503.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from fastapi import APIRouter, Response

from cadenza.composing import compose, load
from cadenza.errors import CadenzaError
from cadenza.web.catalog import ModelEntry, family_grid
from cadenza.web.exchange import (
    ExchangeIn,
    ExchangeProblem,
    ExchangeStore,
    check_exchange,
    compose_answer,
    exchange_score,
    notes_view,
)
from cadenza.web.problems import Problem
from cadenza.web.services import Services
from cadenza.web.views import MEDIA_TYPES, exchange_download_name

ANSWER_TIMEOUT_SECONDS = 30.0
RETRY_AFTER_SECONDS = 1
DOWNLOADS = ("midi", "musicxml")


class AnswerTimedOut(CadenzaError):
    """An answer ran past its deadline."""


def _grid_model(body: ExchangeIn, services: Services) -> ModelEntry:
    entry = services.catalog.get(body.model)
    if entry is None:
        known = ", ".join(e.id for e in services.catalog.entries()) or "none"
        raise Problem(422, f"model: unknown model {body.model!r}; available: {known}", "model")
    if not family_grid(entry.family):
        raise Problem(422, f"model: {body.model} is of the {entry.family} family; playing "
                           "along needs a grid model (biaxial or piano-roll)", "model")
    return entry


def _deadline(seconds: float) -> Any:
    end = time.monotonic() + seconds

    def progress(done: int, total: int) -> None:
        if time.monotonic() > end:
            raise AnswerTimedOut(f"the answer took longer than {seconds:g} s")

    return progress


def answers_router(services: Services) -> APIRouter:
    router = APIRouter()
    kept = ExchangeStore()
    slots = threading.BoundedSemaphore(services.settings.workers)

    @router.post("/api/answer", response_model=None)
    def answer(body: ExchangeIn) -> dict[str, Any]:
        entry = _grid_model(body, services)
        try:
            exchange = check_exchange(body, services.settings.max_minutes)
        except ExchangeProblem as exc:
            raise Problem(422, str(exc), exc.field) from None
        if not slots.acquire(blocking=False):
            raise Problem(429, "the server is answering as many phrases as it can; try "
                               "again in a moment",
                          headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        began, cpu = time.perf_counter(), time.thread_time()  # torch runs on this thread
        try:
            spq = load(entry.checkpoint).representation.config.steps_per_quarter
            notes = compose_answer(body, exchange, entry.checkpoint, spq, compose,
                                   _deadline(ANSWER_TIMEOUT_SECONDS))
        except AnswerTimedOut as exc:
            raise Problem(503, str(exc)) from None
        except CadenzaError as exc:
            raise Problem(422, f"notes: {exc}", "notes") from None
        finally:
            slots.release()
        seconds, cpu = time.perf_counter() - began, time.thread_time() - cpu
        record = kept.add(exchange_score(exchange, notes), entry.id)
        return {
            "id": record.id, "model": entry.id, "bpm": exchange.bpm,
            "answer": {"start": exchange.end, "bars": body.bars, "notes": notes_view(notes)},
            "compose_seconds": round(seconds, 4), "compose_cpu_seconds": round(cpu, 4),
            "urls": {kind: f"/api/exchanges/{record.id}/{kind}" for kind in DOWNLOADS},
        }

    @router.get("/api/exchanges/{exchange_id}/{kind}", response_model=None)
    def download(exchange_id: str, kind: str) -> Response:
        record = kept.get(exchange_id)
        if kind not in DOWNLOADS:
            raise Problem(404, f"an exchange has no {kind!r} download; it has midi, musicxml")
        if record is None:
            raise Problem(404, "no such exchange (the server keeps the newest 100 until it "
                               "restarts)")
        try:
            data = _file_bytes(record.score, kind)
        except CadenzaError as exc:
            raise Problem(404, f"this exchange has no {kind.upper()} file: {exc}") from None
        name = exchange_download_name(record.model, record.created, kind)
        return Response(data, media_type=MEDIA_TYPES[kind],
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    return router


def _file_bytes(score: Any, kind: str) -> bytes:
    if kind == "midi":
        from cadenza.midi import midi_bytes

        return midi_bytes(score)
    from cadenza.notation import musicxml_bytes

    return musicxml_bytes(score)
