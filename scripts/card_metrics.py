"""Turn a ``cadenza evaluate`` metrics.json into the ``evaluation.metrics`` of a model card.

Usage::

    python scripts/card_metrics.py GENERATED/evaluation/metrics.json [--card card.json]

Prints, for each metric, the generated and held-out reference mean ± standard deviation and
Yang & Lerch's overlap area of the inter-set distances against each set's own distances (both
sides), and the KL divergence on the reference side. With ``--card`` the card's
``evaluation.metrics`` is replaced in place (written atomically).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cadenza.fileio import write_json_atomic


def _mean_std(stats: dict[str, float]) -> str:
    return f"{stats['mean']:.3g} ± {stats['std']:.2g}"


def card_metrics(metrics: dict[str, Any]) -> dict[str, dict[str, object]]:
    """metric -> {generated, held_out_reference, overlap_area_generated_side,
    overlap_area_reference_side, kl_divergence_reference_side}: the generated side scores a
    model (its own distances against the distances between the sets), the reference side the
    real pieces' distances against the same."""
    out: dict[str, dict[str, object]] = {}
    for name, entry in sorted(metrics["comparison"]["metrics"].items()):
        out[name] = {
            "generated": _mean_std(entry["generated"]),
            "held_out_reference": _mean_std(entry["reference"]),
            "overlap_area_generated_side": _rounded(entry["overlap_area"]["generated"]),
            "overlap_area_reference_side": _rounded(entry["overlap_area"]["reference"]),
            "kl_divergence_reference_side": _rounded(entry["kl_divergence"]["reference"]),
        }
    return out


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metrics", type=Path, help="metrics.json written by cadenza evaluate")
    parser.add_argument("--card", type=Path, help="card.json whose metrics to replace")
    args = parser.parse_args(argv)
    table = card_metrics(json.loads(args.metrics.read_text()))
    if args.card is None:
        print(json.dumps(table, indent=2, ensure_ascii=False))
        return 0
    card = json.loads(args.card.read_text())
    card.setdefault("evaluation", {})["metrics"] = table
    write_json_atomic(args.card, card)
    print(f"updated {len(table)} metrics in {args.card}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
