"""``cadenza models``: list every model preset with its family, size and representation."""

from __future__ import annotations

from rich.table import Table

from cadenza.cli.app import app, console, friendly_errors, print_table
from cadenza.models.registry import describe_presets


@app.command("models")
@friendly_errors
def models_command() -> None:
    """List the model presets: family, parameter count and representation."""
    table = Table(title="cadenza model presets")
    table.add_column("preset")
    table.add_column("family")
    table.add_column("representation")
    table.add_column("parameters", justify="right")
    for row in describe_presets():
        params = f"{row.parameters:,}" if row.parameters is not None else "-"
        table.add_row(row.name, row.family, row.representation, params)
    print_table(table)
    console.print("Vocabulary-sized presets (events, notetokens) are counted at default sizes.")
