"""The memory a model needs to train or to load, checked before anything is allocated.

A setting such as ``--set hidden_sizes=[1000000000]``, ``--batch-size 1000000000`` or a
checkpoint whose ``config.json`` was edited can ask for terabytes; allocating it would fail
after minutes of swapping, or not at all. Here the need is worked out first:

* parameters are counted exactly by building the model on PyTorch's ``meta`` device (shapes
  only, no memory); a deep stack of identical layers (``num_layers``) is counted from one and
  two layers, so a million layers cost no more than two;
* training keeps four copies of them (weights, gradients, the two moments of Adam), plus the
  activations of one batch, which the family estimates from batch, window and widths
  (:mod:`cadenza.activations`);
* the total is compared with a share of the memory available now (``/proc/meminfo``), and a
  config that does not fit is refused in one line naming the settings that made it grow.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch

from cadenza.errors import ConfigError
from cadenza.families import get_family
from cadenza.machine import memory_bytes
from cadenza.models.base import ModelConfig
from cadenza.overrides import setting_label

log = logging.getLogger(__name__)

BYTES_PER_VALUE = 4  # float32 weights and activations
TRAINING_COPIES = 4  # weights, gradients and Adam's two moments
MEMORY_SHARE = 0.9  # of the memory available when the check runs
BUILT_LAYERS = 8  # a deeper stack of identical layers is counted from one and two layers
MAX_LISTED_LAYERS = 256  # sizes tuples (one entry per layer) longer than this are refused
_OVERFLOW = re.compile(r"sizes=\[([\d,\s]+)\]")


@dataclass(frozen=True)
class MemoryNeed:
    """What a model config needs: ``parameters`` (a lower bound unless ``exact``) and the
    bytes of activations one training step keeps."""

    parameters: int
    activation_bytes: float
    exact: bool = True

    @property
    def weight_bytes(self) -> float:
        return float(self.parameters) * BYTES_PER_VALUE

    @property
    def training_bytes(self) -> float:
        """Weights, gradients, optimiser state and one batch's activations."""
        return self.weight_bytes * TRAINING_COPIES + self.activation_bytes


def _built_parameters(config: ModelConfig) -> tuple[int, bool]:
    """Parameters of ``config``'s model built on the meta device; ``(lower bound, False)``
    when one of its tensors is too large for PyTorch to describe."""
    from cadenza.models.registry import build_model

    try:
        with torch.device("meta"):
            model = build_model(config)
    except RuntimeError as exc:
        match = _OVERFLOW.search(str(exc))
        if "overflow" not in str(exc) or match is None:
            raise ConfigError(f"the {config.family} model cannot be built: "
                              f"{str(exc).splitlines()[0]}") from None
        elements = 1
        for size in match.group(1).split(","):
            elements *= int(size)
        return elements, False
    return sum(p.numel() for p in model.parameters()), True


def count_parameters(config: ModelConfig) -> tuple[int, bool]:
    """Parameters of the model ``config`` describes, and whether the count is exact.

    Nothing is allocated. A stack of more than ``BUILT_LAYERS`` identical layers is counted
    as one layer plus the difference between two and one, times the layers after the first.

    Raises:
        ConfigError: a sizes tuple lists more than ``MAX_LISTED_LAYERS`` layers.
    """
    for name in get_family(config.family).stacked_layers:
        value = getattr(config, name)
        if isinstance(value, tuple) and len(value) > MAX_LISTED_LAYERS:
            raise ConfigError(f"{name} lists {len(value):,} layers; a model has at most "
                              f"{MAX_LISTED_LAYERS}")
        if isinstance(value, int) and value > BUILT_LAYERS:
            shallow: list[dict[str, Any]] = [{name: 1}, {name: 2}]
            (one, exact_one), (two, exact_two) = (
                count_parameters(replace(config, **layers)) for layers in shallow)
            return one + (value - 1) * (two - one), exact_one and exact_two
    return _built_parameters(config)


def activation_bytes(config: ModelConfig) -> float:
    """Bytes of activations one training step on a full batch keeps (an estimate)."""
    return get_family(config.family).activation_values(config) * BYTES_PER_VALUE


def training_need(config: ModelConfig) -> MemoryNeed:
    """Parameters and activations of training ``config``, counted without allocating."""
    parameters, exact = count_parameters(config)
    return MemoryNeed(parameters, activation_bytes(config), exact)


def _size(size: float) -> str:
    """Bytes as GB (MB under 1 GB)."""
    gb = size / 1e9
    if gb < 1:
        return f"{size / 1e6:,.1f} MB"
    return f"{gb:.1f} GB" if gb < 10 else f"{gb:,.0f} GB"


def _machine(available: int, total: int) -> str:
    return f"this machine has {_size(available)} available ({_size(total)} in all)"


def _culprits(preset_config: ModelConfig, overrides: Mapping[str, Any], limit: float,
              labels: Mapping[str, str] | None) -> list[str]:
    """Labels of the overrides that make the need grow: those that alone exceed ``limit``,
    else those that alone raise the preset's need, else all of them."""
    base = training_need(preset_config).training_bytes
    alone: dict[str, float] = {}
    for key, value in overrides.items():
        try:
            alone[key] = training_need(replace(preset_config, **{key: value})).training_bytes
        except (ConfigError, TypeError, ValueError):  # valid only beside another override
            continue
    over = [key for key, need in alone.items() if need > limit]
    grown = [key for key, need in alone.items() if need > base]
    keys = over or grown or list(overrides)
    return [setting_label(key, overrides[key], labels) for key in keys]


def check_training_memory(
    config: ModelConfig,
    *,
    preset: str,
    preset_config: ModelConfig | None = None,
    overrides: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
    memory: tuple[int, int] | None = None,
) -> MemoryNeed:
    """Refuse to train ``config`` (preset ``preset`` with ``overrides``) when its weights,
    optimiser state and one batch's activations exceed ``MEMORY_SHARE`` of the available
    memory (``memory``: ``(available, total)`` bytes, default this machine's).

    Raises:
        ConfigError: one line naming the settings that ask for too much and the sizes.
    """
    need = training_need(config)
    memory = memory or memory_bytes()
    if memory is None:
        log.debug("memory size unknown; %s's need is not checked", preset)
        return need
    limit = MEMORY_SHARE * memory[0]
    if need.training_bytes <= limit:
        return need
    if overrides and preset_config is not None:
        who = " with ".join(_culprits(preset_config, overrides, limit, labels))
    else:
        who = f"model {preset}"
    at_least = "" if need.exact else "at least "
    raise ConfigError(
        f"{who} needs {at_least}{_size(need.training_bytes)} to train ({at_least}"
        f"{need.parameters:,} parameters: {_size(need.weight_bytes * TRAINING_COPIES)} of "
        f"weights, gradients and optimiser state; {_size(need.activation_bytes)} of "
        f"activations per batch); {_machine(*memory)}")


def check_loading_memory(config: ModelConfig, where: str,
                         memory: tuple[int, int] | None = None) -> int:
    """Refuse to build ``config`` (read from ``where``) when its weights alone exceed
    ``MEMORY_SHARE`` of the available memory. Returns the parameter count.

    Raises:
        ConfigError: one line naming ``where`` and the size.
    """
    try:
        parameters, exact = count_parameters(config)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    need = MemoryNeed(parameters, 0.0, exact)
    memory = memory or memory_bytes()
    if memory is not None and need.weight_bytes > MEMORY_SHARE * memory[0]:
        at_least = "" if exact else "at least "
        raise ConfigError(f"{where}: its model needs {at_least}{_size(need.weight_bytes)} of "
                          f"weights ({at_least}{parameters:,} parameters); {_machine(*memory)}")
    return parameters
