"""Copy a trained checkpoint into the package as a shipped model, with its model card.

Usage::

    python scripts/ship_model.py RUN_OR_CHECKPOINT NAME --card card.json

Only the weights (``model.safetensors``) and the configuration (``config.json``) are copied,
never the optimizer state. Machine-specific paths in the configuration are replaced by the
corpus name given in the card (``data.corpus``), and the model card (``card.json`` plus a
readable ``CARD.md``) is written beside them. The run's best-so-far keys (``best_step``,
``best_valid_loss``), which describe another checkpoint when the one shipped is not the run's
best, become ``shipped_step`` and ``valid_loss_at_shipped_step``. The checkpoint is reloaded
from its new place to prove that it loads.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from cadenza.checkpoint import CONFIG_FILE, MODEL_FILE, load_checkpoint, resolve_checkpoint
from cadenza.fileio import write_bytes_atomic, write_json_atomic
from cadenza.shipped import models_dir, shipped_config


def card_markdown(name: str, card: dict[str, object]) -> str:
    """A readable rendering of the JSON model card (metric mappings become tables)."""
    lines = [f"# Model card: {name}", ""]
    for key, value in card.items():
        lines.append(f"## {key.replace('_', ' ').capitalize()}")
        if isinstance(value, dict):
            for k, v in value.items():
                if _is_table(v):
                    lines.extend(["", f"**{k}**:", "", *_table(v), ""])
                else:
                    lines.append(f"- **{k}**: {v}")
        elif isinstance(value, list):
            lines.extend(f"- {v}" for v in value)
        else:
            lines.append(str(value))
        lines.append("")
    return "\n".join(lines)


def _is_table(value: object) -> bool:
    """A mapping of rows to mappings of columns (e.g. metric -> {generated, reference})."""
    return (isinstance(value, dict) and bool(value)
            and all(isinstance(row, dict) for row in value.values()))


def _table(rows: dict[str, dict[str, object]]) -> list[str]:
    columns = list(dict.fromkeys(c for row in rows.values() for c in row))
    head = ["", *columns]
    out = ["| " + " | ".join(c.replace("_", " ") for c in head) + " |",
           "|" + "---|" * len(head)]
    out += ["| " + " | ".join([name, *(str(row.get(c, "")) for c in columns)]) + " |"
            for name, row in rows.items()]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("name")
    parser.add_argument("--card", type=Path, required=True, help="JSON model card")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--threshold", type=float, default=None,
                        help="the model's calibrated piano-roll threshold (its default)")
    parser.add_argument("--velocity-temperature", type=float, default=None,
                        help="the model's calibrated temperature of its dynamics output")
    parser.add_argument("--velocity-memory", type=float, default=None,
                        help="the model's default loudness memory width in velocity bins")
    parser.add_argument("--rhythm-returns", type=float, default=None,
                        help="the model's default share of rhythm-only returning phrases")
    parser.add_argument("--velocity-drift", type=float, default=None,
                        help="the model's default bar-to-bar loudness drift (a tilt's sd)")
    parser.add_argument("--temperature", type=float, default=None,
                        help="the model's calibrated sampling temperature (its default)")
    parser.add_argument("--rhythm-copy", type=float, default=None,
                        help="biaxial: the model's default rhythm copy (a chance 0..1)")
    parser.add_argument("--avoid-parallels", type=float, default=None,
                        help="biaxial: the model's default avoiding of parallels (a chance "
                        "0..1)")
    parser.add_argument("--metre-guide", type=float, default=None,
                        help="biaxial: the model's default metre guide strength (0..4)")
    parser.add_argument("--max-polyphony", type=int, default=None,
                        help="grid models: the model's default cap on notes at once (0: none)")
    parser.add_argument("--style-strength", type=float, default=None,
                        help="styled models: the model's default style strength (0..8)")
    parser.add_argument("--ending-hold", type=float, default=None,
                        help="grid models: the model's default beats a cadence's final chord "
                        "sounds above its bass (0..4]")
    parser.add_argument("--card-only", action="store_true",
                        help="only replace the shipped model's card.json and CARD.md "
                        "(and its calibrated --threshold / --temperature / "
                        "--velocity-temperature / --velocity-memory / --velocity-drift / "
                        "--rhythm-copy / --rhythm-returns / --avoid-parallels / --metre-guide / "
                        "--max-polyphony / --style-strength / --ending-hold)")
    args = parser.parse_args(argv)
    calibrated = {name: value for name, value in (
        ("threshold", args.threshold), ("temperature", args.temperature),
        ("velocity_temperature", args.velocity_temperature),
        ("velocity_memory", args.velocity_memory), ("velocity_drift", args.velocity_drift),
        ("rhythm_copy", args.rhythm_copy), ("rhythm_returns", args.rhythm_returns),
        ("avoid_parallels", args.avoid_parallels),
        ("metre_guide", args.metre_guide), ("max_polyphony", args.max_polyphony),
        ("style_strength", args.style_strength), ("ending_hold", args.ending_hold))
        if value is not None}
    if args.card_only:
        target = models_dir() / args.name
        card = json.loads(args.card.read_text())
        write_json_atomic(target / "card.json", card)
        write_bytes_atomic(target / "CARD.md", card_markdown(args.name, card).encode())
        info = json.loads((target / CONFIG_FILE).read_text())
        if calibrated:
            info["generation"] = {**info.get("generation", {}), **calibrated}
        write_json_atomic(target / CONFIG_FILE, shipped_config(info))  # and the step's keys
        print(f"card of {target} rewritten")
        return 0
    source = resolve_checkpoint(args.checkpoint)
    card = json.loads(args.card.read_text())
    target = models_dir() / args.name
    if target.exists():
        if not args.overwrite:
            print(f"{target} exists; pass --overwrite", file=sys.stderr)
            return 2
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copyfile(source / MODEL_FILE, target / MODEL_FILE)
    info = shipped_config(json.loads((source / CONFIG_FILE).read_text()))
    corpus = str(card.get("data", {}).get("corpus", "unknown corpus"))  # type: ignore[union-attr]
    info["data"]["source"] = corpus
    info["shipped_name"] = args.name
    if calibrated:  # beside what the run recorded (e.g. its corpus' onset profile)
        info["generation"] = {**info.get("generation", {}), **calibrated}
    write_json_atomic(target / CONFIG_FILE, info)
    write_json_atomic(target / "card.json", card)
    write_bytes_atomic(target / "CARD.md", card_markdown(args.name, card).encode())
    loaded = load_checkpoint(target)
    size = sum(p.stat().st_size for p in target.iterdir())
    print(f"shipped {loaded.preset} (step {loaded.step}) as {target} ({size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
