"""``cadenza cache info|clear``: where the preprocessing cache is, how large, and emptying it."""

from __future__ import annotations

import shutil
from pathlib import Path

import typer

from cadenza.cli.app import app, console, friendly_errors
from cadenza.data.cache import default_cache_dir
from cadenza.errors import ConfigError

cache_app = typer.Typer(help="The preprocessing cache (~/.cache/cadenza or $CADENZA_CACHE_DIR).",
                        no_args_is_help=True)
app.add_typer(cache_app, name="cache")


def _say(text: str) -> None:
    """One line of output, never wrapped (paths are long)."""
    console.print(text, highlight=False, soft_wrap=True)


def _size(folder: Path) -> tuple[int, int]:
    """Files and bytes under ``folder`` (links not followed)."""
    files = total = 0
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            files += 1
            total += path.stat().st_size
    return files, total


@cache_app.command("info")
@friendly_errors
def info_command(
    cache_dir: Path = typer.Option(None, "--cache-dir", help="Another cache folder."),
) -> None:
    """Where the cache is and how much it holds."""
    folder = default_cache_dir(cache_dir)
    if not folder.is_dir():
        _say(f"cache: {folder} (empty: nothing cached yet)")
        return
    files, total = _size(folder)
    _say(f"cache: {folder}: {files} files, {total / 1e6:.1f} MB")


@cache_app.command("clear")
@friendly_errors
def clear_command(
    cache_dir: Path = typer.Option(None, "--cache-dir", help="Another cache folder."),
    yes: bool = typer.Option(False, "--yes", help="Do it (without, only say what would go)."),
) -> None:
    """Delete the cached pieces (they are rebuilt from the MIDI files when next needed)."""
    folder = default_cache_dir(cache_dir)
    packs = folder / "packs"
    if not packs.is_dir():
        _say(f"cache: {folder} holds nothing to clear")
        return
    if packs.is_symlink():
        raise ConfigError(f"{packs}: is a link; remove it by hand")
    files, total = _size(packs)
    if not yes:
        _say(f"would delete {files} files ({total / 1e6:.1f} MB) in {packs}; "
                      "pass --yes to do it")
        return
    shutil.rmtree(packs)
    _say(f"deleted {files} files ({total / 1e6:.1f} MB) in {packs}")
