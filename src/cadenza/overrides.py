"""A preset's fields the user changes (``--set KEY=VALUE``), checked before they are used.

Only the fields of the preset's config class may be set, and of those not the ones filled in
from the data (a vocabulary size, the keyboard's width): those would be silently replaced
once the representation is fitted. A refused key is named with the keys that may be set.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any

from cadenza.errors import ConfigError
from cadenza.families import get_family
from cadenza.models.base import ModelConfig


def setting_label(key: str, value: Any, labels: Mapping[str, str] | None = None) -> str:
    """How the user gave setting ``key``: ``labels[key]`` (e.g. ``--batch-size 64``), else
    ``--set key=value`` with the value in JSON."""
    if labels and key in labels:
        return labels[key]
    text = json.dumps(list(value) if isinstance(value, tuple) else value, separators=(",", ":"))
    return f"--set {key}={text}"


def settable_fields(config: ModelConfig) -> list[str]:
    """The fields of ``config``'s class a ``--set`` may change, sorted."""
    fitted = set(get_family(config.family).fitted_fields)
    return sorted(f.name for f in fields(config) if f.name not in fitted)


def apply_overrides(preset: str, config: ModelConfig, overrides: Mapping[str, Any],
                    labels: Mapping[str, str] | None = None) -> ModelConfig:
    """``config`` (preset ``preset``) with ``overrides`` in place of its fields.

    Raises:
        ConfigError: a key is no field of the preset, is filled in from the data, or a value
            is refused by the config's own checks; the message names the setting.
    """
    family = get_family(config.family)
    settable = settable_fields(config)
    for key, value in overrides.items():
        label = setting_label(key, value, labels)
        if key in family.fitted_fields:
            raise ConfigError(
                f"{label}: a {family.name} model's {key} comes from the data (the fitted "
                f"{family.representation} representation), so the setting would be ignored; "
                f"settable: {', '.join(settable)}")
        if key not in settable:
            raise ConfigError(f"{label}: {preset} has no setting {key!r}; settable: "
                              f"{', '.join(settable)}")
    try:
        return replace(config, **overrides)
    except (ConfigError, TypeError, ValueError) as exc:
        raise ConfigError(f"bad override for {preset}: {exc}") from None
