"""Parsing helpers for command-line values, and the options several commands share."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import typer

from cadenza.cli.app import err_console
from cadenza.errors import ConfigError
from cadenza.machine import capped_threads


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


def model_overrides(sets: list[str], **options: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The preset fields a command changes: its ``--set`` items and the options given among
    ``options`` (``batch_size=64`` from ``--batch-size``; ``None``: not given), with how each
    option was spelled for messages (``{"batch_size": "--batch-size 64"}``)."""
    overrides = parse_overrides(sets)
    labels: dict[str, str] = {}
    for key, value in options.items():
        if value is not None:
            overrides[key] = value
            labels[key] = f"--{key.replace('_', '-')} {value}"
    return overrides, labels


def set_threads(threads: int | None) -> None:
    """Apply a ``--threads`` option (``None``: torch's default), at most the machine's cores
    (a one-line note says so when it lowers the number)."""
    if threads is None:
        return
    threads, note = capped_threads(threads)
    if note:
        err_console.print(f"note: {note}", highlight=False)
    torch.set_num_threads(threads)


def sets_option() -> Any:
    """``--set KEY=VALUE`` (repeatable): a field of the model preset."""
    return typer.Option([], "--set", help="Override a preset field, e.g. --set dropout=0.2 "
                        "(repeat; `cadenza models` lists the presets).")


def precision_option() -> Any:
    """``--precision auto|bf16|fp32`` of the training commands."""
    return typer.Option("auto", "--precision", help="auto|bf16|fp32: bfloat16 autocast for "
                        "the forward pass (auto: where native).")


def ema_option() -> Any:
    """``--ema DECAY`` of the training commands."""
    return typer.Option(0.0, "--ema", help="Keep a running average of the weights with this "
                        "decay (e.g. 0.999) and validate and save it; 0: off.")


def threads_option(default_help: str = "all") -> Any:
    """``--threads N``: torch's CPU threads, at most the machine's cores."""
    return typer.Option(None, "--threads", help=f"CPU threads for torch, at most the cores "
                        f"(default: {default_help}).")


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
