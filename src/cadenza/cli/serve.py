"""``cadenza serve``: the web page to compose, listen and download (FastAPI + uvicorn)."""

from __future__ import annotations

import ipaddress
import logging
import os
import tempfile
from pathlib import Path
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


@app.command("serve")
@friendly_errors
def serve_command(
    checkpoints: Path = typer.Option(
        None, "--checkpoints", help="Folder searched for run and checkpoint folders."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    workers: int = typer.Option(2, "--workers", help="Compositions composed at the same time."),
    queue: int = typer.Option(8, "--queue", help="Compositions that may wait; more get 429."),
    data_dir: Path = typer.Option(
        None, "--data-dir", help="Where compositions are kept (default ~/.local/share/cadenza/web)."
    ),
    timeout: float = typer.Option(600.0, "--timeout", help="Longest a composition may take (s)."),
    no_wav: bool = typer.Option(False, "--no-wav", help="Do not render WAV files."),
    max_minutes: float = typer.Option(
        20.0, "--max-minutes", help="Longest piece the page composes (bars at the tempo)."
    ),
    max_wav_minutes: float = typer.Option(
        4.0, "--max-wav-minutes", help="Longest piece rendered to WAV; longer ones get MIDI."
    ),
    token: str = typer.Option(
        None, "--token", help="Require this token on every API call (the page passes it on)."
    ),
) -> None:
    """Serve the page to compose in the browser, listen and download MIDI and WAV."""
    try:
        import uvicorn

        from cadenza.web.app import ServerSettings, create_app, default_data_dir
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
    loopback = is_loopback(host)
    warning = exposure_warning(host, port, token)
    if warning is not None:
        err_console.print(f"[bold yellow]warning:[/] {escape(warning)}", highlight=False,
                          soft_wrap=True)
    settings = ServerSettings(
        data_dir=data_dir or default_data_dir(),
        checkpoints_dir=checkpoints,
        workers=workers,
        queue_size=queue,
        job_timeout_seconds=timeout,
        render_wav=not no_wav,
        max_minutes=max_minutes,
        max_wav_minutes=max_wav_minutes,
        scratch_root=Path(tempfile.gettempdir()),
        allowed_hosts=(*LOOPBACK_NAMES, "[::1]", host) if loopback else None,
        token=token,
    )
    torch.set_num_threads(torch_threads_per_worker(workers))
    web_app = create_app(settings)
    console.print(f"cadenza: {page_url(host, port, token)}  (compositions in "
                  f"{settings.data_dir})", highlight=False, soft_wrap=True, markup=False)
    level = "info" if logging.getLogger().level <= logging.INFO else "warning"
    # Bounds on connections and requests: cadenza.web.protocol and cadenza.web.limits.
    uvicorn.run(web_app, host=host, port=port, log_level=level, **uvicorn_options())
