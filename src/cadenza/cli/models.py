"""``cadenza models``: the shipped models, the runs found in a runs folder, and every preset."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from cadenza.cli.app import app, console, friendly_errors, print_table
from cadenza.models.registry import describe_presets


def _ready_models(runs: Path) -> Table:
    """Shipped models and the runs under ``runs``: name, family, preset, steps trained in all
    (a shipped model's may span several runs), where."""
    from cadenza.checkpoint import discover_checkpoints, read_info
    from cadenza.errors import CadenzaError
    from cadenza.shipped import model_card, shipped_models, training_steps

    table = Table(title="models ready to compose with (cadenza generate NAME_OR_PATH)")
    for column in ("name or path", "family", "preset", "steps trained", "kind"):
        table.add_column(column)
    found = [(name, path, "shipped") for name, path in shipped_models().items()]
    if runs.is_dir():
        found += [(str(runs / key), path, "run") for key, path in
                  sorted(discover_checkpoints(runs).items())]
    for name, path, kind in found:
        try:
            info = read_info(path)
        except CadenzaError as exc:
            table.add_row(name, "-", "-", "-", f"unreadable: {exc}")
            continue
        family = info["model"].get("family", "?") if isinstance(info["model"], dict) else "?"
        card = model_card(name) if kind == "shipped" else {}
        table.add_row(name, str(family), str(info.get("preset", "")),
                      f"{training_steps(info, card):,}", kind)
    return table


@app.command("models")
@friendly_errors
def models_command(
    runs: Path = typer.Option(Path("runs"), "--runs", help="Folder searched for trained runs."),
) -> None:
    """List the shipped models and trained runs, then the presets to train."""
    print_table(_ready_models(runs))
    table = Table(title="cadenza model presets (cadenza train --model PRESET)")
    table.add_column("preset")
    table.add_column("family")
    table.add_column("representation")
    table.add_column("parameters", justify="right")
    for row in describe_presets():
        params = f"{row.parameters:,}" if row.parameters is not None else "-"
        table.add_row(row.name, row.family, row.representation, params)
    print_table(table)
    console.print("Vocabulary-sized presets (events, notetokens) are counted at default sizes.")
