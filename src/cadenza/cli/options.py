"""Parsing helpers for command-line values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from cadenza.errors import ConfigError


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["dropout=0.2", "time_sizes=[128,128]"]`` -> ``{"dropout": 0.2, ...}`` (JSON values;
    a value that is not JSON is taken as text)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set takes KEY=VALUE, got {item!r}")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        out[key.strip()] = tuple(value) if isinstance(value, list) else value
    return out


def set_threads(threads: int | None) -> None:
    """Apply a ``--threads`` option (``None``: torch's default)."""
    if threads is None:
        return
    if threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)


def parse_range(text: str, option: str) -> tuple[int, int]:
    """Parse ``"LOW,HIGH"`` (or a single ``"N"`` meaning ``-N,N``) into an int pair."""
    parts = [p.strip() for p in text.split(",")]
    try:
        if len(parts) == 1:
            n = abs(int(parts[0]))
            return (-n, n)
        if len(parts) == 2:
            low, high = int(parts[0]), int(parts[1])
            if low <= high:
                return (low, high)
    except ValueError:
        pass
    raise ConfigError(f"{option} must look like LOW,HIGH with LOW <= HIGH, got {text!r}")


def output_path(out: Path | None, beside: Path, name: str) -> Path:
    """Where a command writes its file ``name``: inside the folder ``--out`` (as on every
    cadenza command), else beside the input file ``beside``.

    Raises:
        ConfigError: ``--out`` names a file of the kind written (``x.png``) rather than a
            folder.
    """
    if out is None:
        return beside.with_name(name)
    suffix = Path(name).suffix
    if out.suffix.lower() == suffix.lower() and not out.is_dir():
        raise ConfigError(
            f"--out {out}: --out is a folder on every cadenza command; {name} is written "
            "inside it (give the folder, e.g. --out out)")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    return out / name
