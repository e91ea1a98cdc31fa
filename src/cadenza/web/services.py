"""What every route works with: the settings, the stores, the model table and the pool."""

from __future__ import annotations

from dataclasses import dataclass

from cadenza.web.catalog import ModelCatalog
from cadenza.web.jobs import JobRunner
from cadenza.web.settings import ServerSettings
from cadenza.web.store import JobStore
from cadenza.web.uploads import UploadStore


@dataclass
class Services:
    """The server's parts, made once by :func:`cadenza.web.app.create_app`."""

    settings: ServerSettings
    store: JobStore
    uploads: UploadStore
    catalog: ModelCatalog
    runner: JobRunner
