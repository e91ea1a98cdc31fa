"""``GET /api/models``: the models the page can choose, with their controls and modes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from cadenza.errors import ConfigError
from cadenza.web.requests import modes_of
from cadenza.web.services import Services


def models_router(services: Services) -> APIRouter:
    router = APIRouter()

    @router.get("/api/models")
    def models() -> dict[str, Any]:
        described = []
        catalog = services.catalog
        for entry in catalog.entries():
            about = catalog.describe(entry)
            try:
                about["modes"] = modes_of(entry.family)
            except ConfigError:  # a family this version does not know
                about["modes"] = []
            described.append(about)
        return {"models": described}

    return router
