"""What ``cadenza serve`` configures, and where compositions are kept by default."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cadenza.errors import ConfigError
from cadenza.web.access import check_token
from cadenza.web.duration import DEFAULT_MAX_MINUTES, DEFAULT_MAX_WAV_MINUTES
from cadenza.web.limits import MAX_ACTIVE_REQUESTS


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
            :class:`cadenza.web.jobs.RunnerConfig`.
        allowed_hosts: accepted ``Host`` headers (``None`` accepts any); a server bound to
            the loopback interface names its own so other web sites cannot reach it through
            DNS rebinding.
        warm_models: load every model and its primers in the background at start.
        max_active_requests: requests answered at once; more get 503 (connections that
            have not sent a whole request are bounded apart, see cadenza.web.protocol).
        max_minutes: longest piece the page composes (a longer request gets 422).
        max_wav_minutes: longest piece rendered to WAV (a longer one gets none, and says why).
        scratch_root: where the server makes its own temporary folder and sweeps those of
            killed servers (``cadenza serve``: the system's temporary folder); ``None``
            leaves the process's temporary folder as it is.
        token: when set, every API route requires it (see cadenza.web.access).
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
    max_active_requests: int = MAX_ACTIVE_REQUESTS
    max_minutes: float = DEFAULT_MAX_MINUTES
    max_wav_minutes: float = DEFAULT_MAX_WAV_MINUTES
    scratch_root: Path | None = None
    token: str | None = None

    def __post_init__(self) -> None:
        if not self.max_minutes > 0:
            raise ConfigError(f"--max-minutes must be positive, got {self.max_minutes}")
        if self.token is not None:
            check_token(self.token)
