"""Training on several processes (``torchrun``): the process group, the model's
``DistributedDataParallel`` wrapper and the decisions every rank must take together.

With ``WORLD_SIZE`` unset or 1 every method is a no-op and the loop runs in one process.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from cadenza.models.base import SequenceModel

__all__ = ["LossModule", "ProcessGroup"]


class LossModule(nn.Module):
    """Wraps a model so that ``forward(batch)`` is its training loss (what DDP calls)."""

    def __init__(self, model: SequenceModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        return self.model.loss(batch)


class ProcessGroup:
    """This process' place among the ranks ``torchrun`` started (from its environment).

    Attributes:
        world_size: how many processes train together.
        rank: this process' number; rank 0 alone writes the run folder and prints.
    """

    def __init__(self) -> None:
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self._owns_group = False  # this process opened the group (torchrun)
        self._ddp: nn.Module | None = None  # kept alive: see leave

    def device(self, device: torch.device) -> torch.device:
        """``device``, or this rank's own GPU (``LOCAL_RANK``) when several train on CUDA."""
        if self.world_size > 1 and device.type == "cuda":
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return device

    def wrap(self, model: SequenceModel, device: torch.device) -> nn.Module:
        """What the loop calls for a batch's loss: the model's loss, averaged over the ranks'
        gradients when there are several."""
        net: nn.Module = LossModule(model)
        if self.world_size <= 1:
            return net
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel

        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
            self._owns_group = True
        ids = [device.index] if device.type == "cuda" else None
        self._ddp = DistributedDataParallel(net, device_ids=ids)
        return self._ddp

    def leave(self) -> None:
        """Wait for every rank, then close the process group this process opened.

        Without it a rank could exit while another still used the group, and the
        communication library's threads, torn down at interpreter exit, abort the process.
        The group keeps its ``DistributedDataParallel`` wrapper (which holds the group):
        freed as ``fit`` returns, it ran the gloo group's destructor while a gloo thread was
        still releasing the barrier's tensors, which needs the GIL that the destructor holds,
        and the rank hung for good (seen on the 2-core machine). Freed later, with the
        threads idle, it is harmless.
        """
        if not self._owns_group:
            return
        import torch.distributed as dist

        if dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()
        self._owns_group = False

    def agree(self, stop: bool, device: torch.device) -> bool:
        """Rank 0's ``stop``, on every rank (each rank must leave the loop at the same step)."""
        if self.world_size <= 1:
            return stop
        import torch.distributed as dist

        flag = torch.tensor([1.0 if stop else 0.0], device=device)
        dist.broadcast(flag, src=0)
        return bool(flag.item())
