"""The sampling settings of a request: the request's own, else the ones calibrated for the
model (``config.json`` ``"generation"``), gathered with the plan into one generation
configuration."""

from __future__ import annotations

from typing import Any

from cadenza.checkpoint import LoadedCheckpoint
from cadenza.composing.names import model_name
from cadenza.composing.planning import PiecePlan
from cadenza.composing.polyphony import polyphony_limit
from cadenza.composing.primer import Opening
from cadenza.composing.request import ComposeRequest
from cadenza.errors import ConfigError
from cadenza.families import get_family
from cadenza.generation import GenerationConfig
from cadenza.generation.base import DEFAULT_THRESHOLD
from cadenza.generation.guides import GUIDES
from cadenza.models.styleinput import style_index
from cadenza.sampling import parse_density


def generation_config(request: ComposeRequest, loaded: LoadedCheckpoint, opening: Opening,
                      piece: PiecePlan) -> GenerationConfig:
    """Everything the generator is asked: the sampling settings, the length and the plan."""
    family = get_family(loaded.model.family)
    return GenerationConfig(
        **sampling_settings(request, loaded), length=piece.length, count=request.count,
        top_k=request.top_k, top_p=request.top_p, max_repeats=request.max_repeats,
        density=parse_density(request.density) if request.density else None,
        plan=piece.plan, first_step=opening.first_step if family.grid else 0,
        bars=request.bars if family.stops_at_bars
        and request.length is None and piece.melody is None else None,
        ending=piece.ending,
    )


def sampling_settings(request: ComposeRequest, loaded: LoadedCheckpoint) -> dict[str, Any]:
    """The generation settings every kind of request shares (checked once, by the request).

    The temperature, the piano-roll floor and the dynamics' temperature are the request's,
    else the ones calibrated for the model (``config.json`` ``"generation"``)."""
    for name, asked in (("temperature", request.velocity_temperature),
                        ("memory", request.velocity_memory), ("drift", request.velocity_drift)):
        if asked is not None and not has_dynamics(loaded):
            raise ConfigError(f"{model_name(loaded)} has no dynamics output for a velocity "
                              f"{name} to act on (a biaxial model trained with velocity_bins)")
    return {"temperature": loaded.setting("temperature", request.temperature, 1.0),
            "threshold": loaded.setting("threshold", request.threshold, DEFAULT_THRESHOLD),
            "velocity_temperature": loaded.setting("velocity_temperature",
                                                   request.velocity_temperature, 1.0),
            "velocity_memory": loaded.setting("velocity_memory", request.velocity_memory, 0.0),
            "velocity_drift": loaded.setting("velocity_drift", request.velocity_drift, 0.0),
            **_guide_settings(request, loaded),
            "adaptive": request.adaptive, "seed": request.seed,
            "max_hold_steps": request.max_hold_steps, "pitch_weights": request.pitch_weights,
            "max_polyphony": polyphony_limit(request, loaded), "progress": request.progress,
            "style": style_of(request, loaded), "style_strength": style_strength(request, loaded)}


def style_of(request: ComposeRequest, loaded: LoadedCheckpoint) -> int | None:
    """The index of the request's style among the model's (``None`` without one).

    Raises:
        ConfigError: the model has no styles, or none of that name (naming those it has).
    """
    if request.style is None:
        return None
    try:
        return style_index(tuple(getattr(loaded.model.config, "styles", ())), request.style)
    except ConfigError as exc:
        raise ConfigError(f"{model_name(loaded)}: {exc}") from None


def style_strength(request: ComposeRequest, loaded: LoadedCheckpoint) -> float:
    """The style strength: the request's, else the model's calibrated one (``config.json``
    ``"generation"``), else 1 (the style's own embedding); 1 without a style."""
    if request.style is None:
        return 1.0
    return loaded.setting("style_strength", request.style_strength, 1.0)


def _guide_settings(request: ComposeRequest, loaded: LoadedCheckpoint) -> dict[str, Any]:
    """The biaxial onset guides: the request's strengths, else the model's calibrated ones
    (``config.json`` ``"generation"``), with the corpus' onset profile the metre guide
    steers toward. A ``--density`` band turns the model's own rhythm copy off: holding a
    bar's onsets would work against a band asking for fewer."""
    asked = {name: getattr(request, name) for name in GUIDES}
    if "onset_guides" not in get_family(loaded.model.family).controls:
        used = sorted(name for name, value in asked.items() if value)
        if used:
            raise ConfigError(f"{used[0].replace('_', '-')}: the {loaded.model.family} family "
                              "cannot honour it (biaxial models only)")
        return {}
    settings: dict[str, Any] = {name: loaded.setting(name, value, 0.0)
                                for name, value in asked.items()}
    if request.density is not None and asked["rhythm_copy"] is None:
        settings["rhythm_copy"] = 0.0  # an asked density band decides the onsets alone
    defaults = loaded.info.get("generation")
    profile = defaults.get("onset_profile") if isinstance(defaults, dict) else None
    if settings["metre_guide"] and not (isinstance(profile, list) and len(profile) == 16):
        if asked["metre_guide"]:
            raise ConfigError(f"metre-guide: {model_name(loaded)} carries no onset profile of "
                              "its corpus (config.json generation.onset_profile)")
        settings["metre_guide"] = 0.0
    if settings["metre_guide"]:
        settings["onset_profile"] = tuple(float(x) for x in profile)  # type: ignore[union-attr]
    return settings


def has_dynamics(loaded: LoadedCheckpoint) -> bool:
    """Whether the model predicts a velocity for the notes it starts."""
    return int(getattr(loaded.model.config, "velocity_bins", 0) or 0) > 0
