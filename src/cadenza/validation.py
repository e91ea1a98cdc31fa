"""Validation during training: the mean loss and metrics of a model over the validation
batches, scored with the running weight average when one is kept."""

from __future__ import annotations

import torch

from cadenza.averaging import WeightAverage, averaged
from cadenza.data.batching.base import BatchMaker
from cadenza.devices import to_device
from cadenza.models.base import SequenceModel


@torch.no_grad()
def evaluate(
    model: SequenceModel,
    batches: BatchMaker,
    device: torch.device,
    average: WeightAverage | None = None,
) -> dict[str, float] | None:
    """Mean loss (``"loss"``) and metrics over ``batches.eval_batches()``, in eval mode; the
    model is left in training mode. ``None`` when there is no batch."""
    model.eval()
    totals: dict[str, float] = {}
    count = 0
    with averaged(average):
        for batch in batches.eval_batches():
            loss, metrics = model.loss(to_device(batch, device))
            totals["loss"] = totals.get("loss", 0.0) + float(loss.item())
            for key, value in metrics.items():
                totals[key] = totals.get(key, 0.0) + float(value)
            count += 1
    model.train()
    if count == 0:
        return None
    return {key: value / count for key, value in totals.items()}
