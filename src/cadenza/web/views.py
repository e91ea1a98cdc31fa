"""What the API tells of a composition: its JSON view and the names of its downloads."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cadenza.web.store import DONE, Job, JobStore

# The files a composition can have, by the kind in its URL, with their media types.
MEDIA_TYPES = {"midi": "audio/midi", "wav": "audio/wav", "notes": "application/json",
               "musicxml": "application/vnd.recordare.musicxml+xml",
               "score": "image/svg+xml", "input": "audio/midi"}
# Kinds that download as an attachment, with the file name's ending.
SUFFIXES = {"midi": ".mid", "wav": ".wav", "musicxml": ".musicxml", "input": ".mid"}


def iso_time(seconds: float | None) -> str | None:
    """Unix seconds as an ISO 8601 UTC time (``None`` stays ``None``)."""
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


def exchange_download_name(model: str, created: float, kind: str) -> str:
    """The file name of a played exchange's download (``cadenza-play-along-MODEL-TIME.mid``)."""
    stamp = datetime.fromtimestamp(created, tz=timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"cadenza-play-along-{_slug(model, 'model')}-{stamp}{SUFFIXES[kind]}"


def job_view(job: Job, store: JobStore) -> dict[str, Any]:
    """The JSON of ``GET /api/compositions/{id}`` (docs/web.md lists the keys)."""
    base = f"/api/compositions/{job.id}"
    kinds = MEDIA_TYPES if job.status == DONE else ("input",)
    urls = {kind: f"{base}/{kind}" for kind in kinds if store.file(job, kind)}
    total = job.progress_total
    return {
        "id": job.id, "status": job.status, "stage": job.stage,
        "model": job.model, "family": job.family, "preset": job.preset,
        "composer": job.composer, "bars": job.bars, "temperature": job.temperature,
        "seed": job.seed, "seed_given": job.seed_given,
        "created": iso_time(job.created), "started": iso_time(job.started),
        "finished": iso_time(job.finished),
        "progress": {"done": job.progress_done, "total": total,
                     "fraction": round(job.progress_done / total, 4) if total else 0.0},
        "error": job.error, "wav_error": job.wav_error, "score_error": job.score_error,
        "primer": job.primer, "form": job.form, "mode": job.mode, "upload": job.upload,
        "warnings": job.warnings,
        "options": job.options, "urls": urls,
        "downloads": {k: download_name(job, k) for k in SUFFIXES if k in urls},
    }
