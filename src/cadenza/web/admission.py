"""From a ``POST /api/compositions`` body to a job ready to queue, checked once, here.

Each check that fails raises a 422 :class:`~cadenza.web.problems.Problem` naming the field
at fault; the composing controls are checked as composing will read them.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cadenza.api import compose_request
from cadenza.composing import check_controls
from cadenza.errors import ConfigError
from cadenza.web.catalog import ModelEntry
from cadenza.web.duration import check_duration
from cadenza.web.pipeline import mode_inputs
from cadenza.web.problems import Problem
from cadenza.web.requests import MAX_SEED, CompositionIn, check_mode
from cadenza.web.services import Services
from cadenza.web.store import Job, new_id
from cadenza.web.uploads import Upload


def _model(body: CompositionIn, services: Services) -> ModelEntry:
    entry = services.catalog.get(body.model)
    if entry is None:
        known = ", ".join(e.id for e in services.catalog.entries()) or "none"
        raise Problem(422, f"model: unknown model {body.model!r}; available: {known}", "model")
    return entry


def _composer(body: CompositionIn, entry: ModelEntry, services: Services) -> str | None:
    """The composer as the model's primers spell it (``None``: any)."""
    composer = body.composer or None
    if composer is None:
        return None
    primers = services.catalog.primers(entry)
    match = {c.casefold(): c for c in primers.composers}.get(composer.casefold())
    if match is None:
        known = ", ".join(primers.composers) or "none"
        raise Problem(422, f"composer: {body.model} has no primer by {composer!r}; "
                           f"known: {known}", "composer")
    return match


def _style(body: CompositionIn, entry: ModelEntry) -> None:
    """A 422 naming ``style`` unless the model knows the style asked for."""
    if body.style is None:
        return
    styles = entry.styles()
    if not styles:
        raise Problem(422, f"style: {body.model} was trained without styles; choose a model "
                           "trained on them (biaxial-styles)", "style")
    if body.style.casefold() not in {s.casefold() for s in styles}:
        raise Problem(422, f"style: {body.model} has no style {body.style!r}; known: "
                           f"{', '.join(styles)}", "style")


def _upload(body: CompositionIn, services: Services) -> tuple[Path, Upload] | None:
    if body.upload is None:
        return None
    upload_file, about = services.uploads.file(body.upload), services.uploads.get(body.upload)
    if upload_file is None or about is None:
        raise Problem(422, "upload: no such upload; upload the file again", "upload")
    return upload_file, about


def _check_controls(body: CompositionIn, entry: ModelEntry, upload_file: Path | None,
                    temperature: float, seed: int) -> None:
    """Check the controls as composing will read them; a 422 names the field at fault."""
    inputs = mode_inputs(body.mode, upload_file) if upload_file is not None else {}

    def check(options: dict[str, Any]) -> None:
        request = compose_request(entry.checkpoint, bars=body.bars, temperature=temperature,
                                  seed=seed, **inputs, **options)
        check_controls(request, entry.family)

    options = body.options()
    try:
        check(options)
    except ConfigError as exc:
        field = _culprit(options, check) or ("upload" if upload_file is not None else "bars")
        raise Problem(422, f"{field}: {exc}", field) from None


def _culprit(options: dict[str, Any], check: Callable[[dict[str, Any]], None]) -> str | None:
    """The control whose addition, in order, first makes ``check`` fail: the one at fault
    alone (``pitch_range: "C9-C2"``) or in its combination with those before it."""
    given: dict[str, Any] = {}
    for name, value in options.items():
        given[name] = value
        try:
            check(given)
        except ConfigError:
            return name
    return None


def admit(body: CompositionIn, services: Services) -> tuple[Job, dict[str, bytes] | None]:
    """The job ``body`` asks for and its input files (by kind), or a 422 ``Problem``."""
    entry = _model(body, services)
    composer = _composer(body, entry, services)
    _style(body, entry)
    problem = check_mode(body, entry.family)
    if problem is not None:
        raise Problem(422, problem[1], problem[0])
    upload = _upload(body, services)
    check_duration(body, upload[1] if upload else None, services.settings.max_minutes)
    seed = body.seed if body.seed is not None else secrets.randbelow(MAX_SEED + 1)
    temperature = (float(body.temperature) if body.temperature is not None
                   else entry.temperature())  # absent: the model's calibrated one
    _check_controls(body, entry, upload[0] if upload else None, temperature, seed)
    job = Job(
        id=new_id(), model=entry.id, composer=composer, bars=body.bars,
        temperature=temperature, seed=seed, seed_given=body.seed is not None,
        created=time.time(), family=entry.family, preset=entry.preset, options=body.options(),
        mode=body.mode, upload=upload[1].name if upload else None,
    )
    files = {"input": upload[0].read_bytes()} if upload is not None else None
    return job, files
