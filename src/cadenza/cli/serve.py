"""``cadenza serve``: the web page to compose, listen and download (FastAPI + uvicorn)."""

from __future__ import annotations

import ipaddress
import logging
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.markup import escape

from cadenza.cli.app import app, console, err_console, fail, friendly_errors

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, port: int, token: str | None) -> str | None:
    """The one-line warning for a server others can reach (``None`` on the loopback)."""
    if is_loopback(host):
        return None
    if token is None:
        return (f"listening on {host}: anyone who can reach port {port} can compose with this "
                "machine, and list, download and delete its compositions; pass --token TOKEN "
                "to require a token")
    return (f"listening on {host}: anyone who can reach port {port} and has the token can "
            "compose with this machine, and list, download and delete its compositions")


def page_url(host: str, port: int, token: str | None) -> str:
    """The page's address, with the token the page then sends with every call."""
    shown = f"[{host}]" if ":" in host else host
    query = f"?token={quote(token, safe='')}" if token is not None else ""
    return f"http://{shown}:{port}/{query}"


def torch_threads_per_worker(workers: int) -> int:
    """CPU cores per composing thread (PyTorch's thread pool is shared by the process)."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


Checkpoints = Annotated[Path | None, typer.Option(
    "--checkpoints", help="Folder searched for run and checkpoint folders.")]
Host = Annotated[str, typer.Option("--host", help="Interface to listen on.")]
Port = Annotated[int, typer.Option("--port", help="TCP port.")]
Workers = Annotated[int, typer.Option("--workers", help="Compositions composed at the same time.")]
Queue = Annotated[int, typer.Option("--queue", help="Compositions that may wait; more get 429.")]
DataDir = Annotated[Path | None, typer.Option(
    "--data-dir", help="Where compositions are kept (default ~/.local/share/cadenza/web).")]
Timeout = Annotated[float, typer.Option(
    "--timeout", help="Longest a composition may take (s).")]
NoWav = Annotated[bool, typer.Option("--no-wav", help="Do not render WAV files.")]
MaxMinutes = Annotated[float, typer.Option(
    "--max-minutes", help="Longest piece the page composes (bars at the tempo).")]
MaxWavMinutes = Annotated[float, typer.Option(
    "--max-wav-minutes", help="Longest piece rendered to WAV; longer ones get MIDI.")]
Token = Annotated[str | None, typer.Option(
    "--token", help="Require this token on every API call (the page passes it on).")]


def server_settings(host: str, token: str | None, **fields: Any) -> Any:
    """The :class:`cadenza.web.app.ServerSettings` of ``cadenza serve``'s options: only this
    machine's names are accepted as hosts unless ``host`` is open to others."""
    from cadenza.web.app import ServerSettings, default_data_dir

    data_dir = fields.pop("data_dir") or default_data_dir()
    return ServerSettings(
        data_dir=data_dir, scratch_root=Path(tempfile.gettempdir()), token=token,
        allowed_hosts=(*LOOPBACK_NAMES, "[::1]", host) if is_loopback(host) else None,
        **fields)


@app.command("serve")
@friendly_errors
def serve_command(
    checkpoints: Checkpoints = None, host: Host = "127.0.0.1", port: Port = 8000,
    workers: Workers = 2, queue: Queue = 8, data_dir: DataDir = None, timeout: Timeout = 600.0,
    no_wav: NoWav = False, max_minutes: MaxMinutes = 20.0, max_wav_minutes: MaxWavMinutes = 4.0,
    token: Token = None,
) -> None:
    """Serve the page to compose in the browser, listen and download MIDI and WAV."""
    try:
        import uvicorn

        from cadenza.web.app import create_app
        from cadenza.web.protocol import uvicorn_options
    except ImportError as exc:
        fail(f"the web server needs FastAPI and uvicorn ({exc.name} is missing); "
             "install them with: pip install 'cadenza[web]'")
        return
    import torch

    if not 1 <= port <= 65535:
        fail(f"--port must be in 1..65535, got {port}")
    if checkpoints is not None and not checkpoints.is_dir():
        fail(f"--checkpoints {checkpoints}: no such folder")
    warning = exposure_warning(host, port, token)
    if warning is not None:
        err_console.print(f"[bold yellow]warning:[/] {escape(warning)}", highlight=False,
                          soft_wrap=True)
    settings = server_settings(
        host, token, data_dir=data_dir, checkpoints_dir=checkpoints, workers=workers,
        queue_size=queue, job_timeout_seconds=timeout, render_wav=not no_wav,
        max_minutes=max_minutes, max_wav_minutes=max_wav_minutes)
    torch.set_num_threads(torch_threads_per_worker(workers))
    web_app = create_app(settings)
    console.print(f"cadenza: {page_url(host, port, token)}  (compositions in "
                  f"{settings.data_dir})", highlight=False, soft_wrap=True, markup=False)
    level = "info" if logging.getLogger().level <= logging.INFO else "warning"
    # Bounds on connections and requests: cadenza.web.protocol and cadenza.web.limits.
    uvicorn.run(web_app, host=host, port=port, log_level=level, **uvicorn_options())
