"""The body of ``POST /api/compositions`` and the checks that need the chosen model.

Every composing control of :class:`cadenza.composing.ComposeRequest` a person can set on the
page has a field here; an absent field means "not asked for". The *mode* says what an
uploaded file is for: ``continue`` (the model carries it on), ``harmonise`` (it is the
melody; the model writes the rest) or ``infill`` (bars ``infill`` of it are composed again).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cadenza.composing import MAX_BARS
from cadenza.families import get_family
from cadenza.generation.base import MAX_TEMPERATURE, MIN_TEMPERATURE
from cadenza.models.styleinput import MAX_STYLE_STRENGTH

MAX_SEED = 2**31 - 1
MODES = ("compose", "continue", "harmonise", "infill")
# The family control each mode needs ("continue" works with every family).
MODE_CONTROLS = {"harmonise": "melody", "infill": "infill"}
# Request fields that are sampling settings, by the family control that honours them.
SAMPLING_CONTROLS = {"threshold": "threshold", "top_k": "top_k", "top_p": "top_p"}
# Fields that belong to one mode only.
MODE_FIELDS = {"primer_bars": "continue", "voice": "harmonise", "below_only": "harmonise",
               "infill": "infill"}


class CompositionIn(BaseModel):
    """The body of ``POST /api/compositions``; strict types (``"16"`` is not a number)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    model: str = Field(min_length=1, max_length=300)
    mode: Literal["compose", "continue", "harmonise", "infill"] = "compose"
    upload: str | None = Field(default=None, max_length=64)
    composer: str | None = Field(default=None, max_length=300)
    bars: int = Field(default=16, ge=1, le=MAX_BARS)
    # None: the model's calibrated temperature (config.json "generation"), else 1
    temperature: float | None = Field(default=None, ge=MIN_TEMPERATURE, le=MAX_TEMPERATURE,
                                      allow_inf_nan=False)
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    # Composing controls (cadenza.composing.ComposeRequest); absent = not asked for.
    bpm: float | None = Field(default=None, ge=10, le=400, allow_inf_nan=False)
    program: int | None = Field(default=None, ge=0, le=127)
    # a MIDI track and a MusicXML part per instrument (cadenza.ensembles)
    ensemble: Literal["satb", "quartet", "piano"] | None = None
    key: str | None = Field(default=None, max_length=20)
    key_strength: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    pitch_range: str | None = Field(default=None, max_length=20)
    max_polyphony: int | None = Field(default=None, ge=0, le=128)
    density: str | None = Field(default=None, max_length=20)
    form: str | None = Field(default=None, max_length=16)
    phrase_bars: int | None = Field(default=None, ge=1, le=MAX_BARS)
    variation: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    rhythm_returns: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    # biaxial: the chance a step moves in no parallel fifth or octave (None: the model's own)
    avoid_parallels: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    ending: str | None = Field(default=None, max_length=20)
    # beats a cadence's final chord sounds above its held bass (None: the model's own)
    ending_hold: float | None = Field(default=None, gt=0, le=4, allow_inf_nan=False)
    ritardando: bool | None = None
    humanise: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    velocity: int | None = Field(default=None, ge=1, le=127)
    threshold: float | None = Field(default=None, ge=0, lt=1, allow_inf_nan=False)
    top_k: int | None = Field(default=None, ge=0, le=10_000)
    top_p: float | None = Field(default=None, gt=0, le=1, allow_inf_nan=False)
    primer_bars: int | None = Field(default=None, ge=1, le=MAX_BARS)
    voice: Literal["all", "top"] | None = None
    below_only: bool | None = None
    infill: str | None = Field(default=None, max_length=20)
    # a styled model's style (GET /api/models lists each model's "styles")
    style: str | None = Field(default=None, min_length=1, max_length=100)
    # with a style: how far it is pushed from the centre of the model's styles (None: the
    # model's calibrated strength, see cadenza.models.styleinput)
    style_strength: float | None = Field(default=None, ge=0, le=MAX_STYLE_STRENGTH,
                                         allow_inf_nan=False)

    def options(self) -> dict[str, Any]:
        """The composing controls that were given, by ComposeRequest field name."""
        return {name: getattr(self, name) for name in CONTROL_FIELDS
                if getattr(self, name) is not None}


CONTROL_FIELDS = ("bpm", "program", "ensemble", "key", "key_strength", "pitch_range",
                  "max_polyphony", "density", "form", "phrase_bars", "variation",
                  "rhythm_returns", "avoid_parallels", "ending", "ending_hold", "ritardando",
                  "humanise",
                  "velocity", "threshold", "top_k", "top_p", "primer_bars", "voice",
                  "below_only", "infill", "style", "style_strength")


def modes_of(family: str) -> list[str]:
    """The modes a family can compose in."""
    controls = get_family(family).controls
    return [m for m in MODES if MODE_CONTROLS.get(m) in (None, *controls)]


def check_mode(body: CompositionIn, family: str) -> tuple[str, str] | None:
    """What is wrong with the mode, the upload and the mode's own fields, as
    ``(field, message)``; ``None`` when nothing is."""
    if body.mode == "compose":
        if body.upload is not None:
            return "upload", ("upload: an uploaded file needs a mode: continue, harmonise or "
                              "infill")
    else:
        if body.upload is None:
            return "upload", f"upload: mode {body.mode} needs an uploaded MIDI file"
        if body.composer:
            return "composer", (f"composer: mode {body.mode} works on the uploaded file; "
                                "leave the composer empty")
        if body.mode not in modes_of(family):
            need = MODE_CONTROLS[body.mode]
            return "mode", (f"mode: the {family} family cannot {body.mode} (it has no "
                            f"{need} control); choose a biaxial or piano-roll model")
    for name, mode in MODE_FIELDS.items():
        if getattr(body, name) is not None and body.mode != mode:
            return name, f"{name}: only for mode {mode}"
    if body.mode == "infill" and body.infill is None:
        return "infill", "infill: mode infill needs the bars to compose again, e.g. 5-8"
    controls = get_family(family).controls
    for name, control in SAMPLING_CONTROLS.items():
        if getattr(body, name) is not None and control not in controls:
            return name, (f"{name}: the {family} family does not use it; it honours "
                          f"{', '.join(sorted(controls))}")
    return None
