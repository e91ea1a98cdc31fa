"""Named presets of every model family, and building a model from a config.

A preset name is ``<family>-<size>`` (``biaxial-paper``, ``pianoroll-small``, ...). Presets are
data: each family module defines ``PRESETS: dict[str, Config]``, ``build(config)`` and, for
families whose sizes depend on a fitted vocabulary, ``config_for(config, representation)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from cadenza.errors import ConfigError
from cadenza.families import FAMILIES, get_family
from cadenza.models.base import ModelConfig, SequenceModel
from cadenza.representations.base import Representation


def family_module(family: str) -> ModuleType:
    """The module implementing ``family`` (see :mod:`cadenza.families`)."""
    return get_family(family).module()


def all_presets() -> dict[str, ModelConfig]:
    """Every preset of every family, by name."""
    presets: dict[str, ModelConfig] = {}
    for family in FAMILIES:
        presets.update(family_module(family).PRESETS)
    return presets


def get_preset(name: str) -> ModelConfig:
    """The config of the preset called ``name``."""
    presets = all_presets()
    if name not in presets:
        raise ConfigError(f"unknown model preset {name!r}; known: {', '.join(sorted(presets))}")
    return presets[name]


def preset_family(name: str) -> str:
    return get_preset(name).family


def config_from_dict(data: dict[str, Any]) -> ModelConfig:
    """Rebuild a config saved by ``ModelConfig.to_dict`` (the family is read from the data)."""
    family = data.get("family")
    if not isinstance(family, str):
        raise ConfigError("model config has no 'family'")
    module = family_module(family)
    config_class: type[ModelConfig] = type(next(iter(module.PRESETS.values())))
    return config_class.from_dict(data)


def fit_config(config: ModelConfig, representation: Representation) -> ModelConfig:
    """Fill in sizes that depend on the representation's vocabulary (no-op for others)."""
    module = family_module(config.family)
    if hasattr(module, "config_for"):
        fitted: ModelConfig = module.config_for(config, representation)
        return fitted
    return config


def build_model(config: ModelConfig) -> SequenceModel:
    """Instantiate the model described by ``config``."""
    model = family_module(config.family).build(config)
    assert isinstance(model, SequenceModel)
    return model


@dataclass(frozen=True)
class PresetInfo:
    """One row of ``cadenza models``."""

    name: str
    family: str
    representation: str
    parameters: int | None


def describe_presets() -> list[PresetInfo]:
    """Name, family, representation and parameter count of every preset.

    Presets whose size depends on a vocabulary report the count with the preset's default
    vocabulary sizes.
    """
    rows = []
    for name, config in sorted(all_presets().items()):
        module = family_module(config.family)
        model = module.build(config)
        rows.append(PresetInfo(name, config.family, model.representation, model.num_parameters()))
    return rows
