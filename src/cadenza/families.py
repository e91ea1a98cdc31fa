"""The one table of model families: what each family is made of and what it can do.

A family is one :class:`Family` record: its model module (presets, ``build``), its
representation, batch maker and generator, the length of the samples written during training,
whether it works on a time grid, its default primer length and the composing controls it
honours. Nothing else in cadenza switches on a family's name; adding a family is one models
module, one entry in :data:`FAMILIES` and its tests.

Classes and functions are named by import path and loaded on first use, so this module imports
nothing heavy and every layer (data, models, generation) may read it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from cadenza.errors import ConfigError

if TYPE_CHECKING:
    from cadenza.data.batching.base import BatchMaker
    from cadenza.generation.base import GenerationConfig, GenerationResult
    from cadenza.models.base import ModelConfig, SequenceModel
    from cadenza.representations.base import Representation

__all__ = ["FAMILIES", "Family", "get_family"]


def _load(target: str) -> Any:
    """The object at ``"package.module:name"`` (or the module for ``"package.module"``)."""
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute) if attribute else module


@dataclass(frozen=True)
class Family:
    """Everything cadenza needs to know about one model family.

    Attributes:
        name: the family's name, also the prefix of its presets (``biaxial-small``).
        model_module: import path of the module defining ``PRESETS``, ``build(config)`` and,
            for vocabulary-sized families, ``config_for(config, representation)``
            (default ``cadenza.models.NAME``).
        representation: registry name of its representation (``cadenza.representations``).
        batch_maker: ``"module:Class"`` of its :class:`~cadenza.data.batching.base.BatchMaker`.
        generator: ``"module:function"`` continuing a primer (see :mod:`cadenza.generation`).
        sample_length: elements generated for the sample written beside a training checkpoint.
        grid: one element per time step (bars convert to lengths exactly; the beat of the
            primer's first step matters).
        primer_bars: default primer length in 4/4 bars (grid families), else ``None``.
        primer_config_field, primer_default: otherwise, the model config field holding the
            primer length and the fallback.
        full_keyboard_benchmark: on the polyphonic benchmarks, widen the representation to
            all 88 keys so the likelihood protocol scores every key.
        segment_step: training windows start on multiples of this many steps (``None``: any).
        shared_fields: model config fields that also set the representation (e.g. the
            biaxial ``velocity_bins``).
        stops_at_bars: the generator ends a piece after ``GenerationConfig.bars`` bars (its
            tokens count bars), so the generation length is only an upper bound.
        controls: composing controls the family honours (refused otherwise); ``style``: its
            models can be trained on style labels (``--style-from``); the biaxial
            family's ``onset_guides`` (:mod:`cadenza.generation.guides`) also make a run
            record its corpus' onset profile.
        activations: ``"module:function"`` estimating the values one training step keeps for
            the backward pass from a model config (default ``cadenza.activations:NAME``).
        fitted_fields: model config fields filled in from the fitted representation (its
            vocabulary or note range); a ``--set`` of one would be ignored, so it is refused.
        stacked_layers: model config fields that count stacked layers: an int (that many
            identical layers) or a tuple of sizes (one per layer). :mod:`cadenza.budget`
            counts the parameters of deep stacks without building every layer.
    """

    name: str
    representation: str
    batch_maker: str
    generator: str
    sample_length: int
    grid: bool
    model_module: str = ""
    primer_bars: int | None = None
    primer_config_field: str = ""
    primer_default: int = 0
    full_keyboard_benchmark: bool = False
    segment_step: bool = False
    shared_fields: tuple[str, ...] = ()
    stops_at_bars: bool = False
    controls: frozenset[str] = field(default_factory=frozenset)
    activations: str = ""
    fitted_fields: tuple[str, ...] = ()
    stacked_layers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.model_module:  # the convention: cadenza.models.NAME
            object.__setattr__(self, "model_module", f"cadenza.models.{self.name}")
        if not self.activations:  # and cadenza.activations:NAME
            object.__setattr__(self, "activations", f"cadenza.activations:{self.name}")

    def module(self) -> ModuleType:
        """The model module (presets, ``build``)."""
        module: ModuleType = _load(self.model_module)
        return module

    def batch_maker_class(self) -> type[BatchMaker]:
        cls: type[BatchMaker] = _load(self.batch_maker)
        return cls

    def generate(self, model: SequenceModel, representation: Representation,
                 primer: Any, config: GenerationConfig) -> GenerationResult:
        """Continue ``primer`` with the family's generator."""
        result: GenerationResult = _load(self.generator)(model, representation, primer, config)
        return result

    def activation_values(self, config: ModelConfig) -> float:
        """Values one training step on a full batch of ``config`` keeps for backward."""
        values: float = _load(self.activations)(config)
        return values

    def batch_maker_options(self, config: ModelConfig) -> dict[str, Any]:
        """Keyword arguments of the batch maker that come from the model config."""
        options: dict[str, Any] = {}
        if self.segment_step:
            options["segment_step"] = int(getattr(config, "segment_step", 16))
        if hasattr(config, "input_noise"):
            options["input_noise"] = float(config.input_noise)
        return options

    def default_primer_length(self, model: SequenceModel, representation: Representation) -> int:
        """Primer length in the representation's unit when the user gives none."""
        if self.primer_bars is not None:
            return self.primer_bars * 4 * representation.config.steps_per_quarter
        return int(getattr(model.config, self.primer_config_field, self.primer_default))


GRID_CONTROLS = frozenset({"temperature", "threshold", "adaptive", "max_hold_steps", "key",
                           "range", "max_polyphony", "form", "ending", "ending_hold",
                           "melody", "infill", "density"})
TOKEN_CONTROLS = frozenset({"temperature", "top_k", "top_p", "max_repeats", "key", "range",
                            "ending"})

FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family(
            name="biaxial",
            representation="notestate",
            batch_maker="cadenza.data.batching.notestate:NoteStateBatchMaker",
            generator="cadenza.generation.notes:generate_biaxial",
            sample_length=128, grid=True,
            primer_bars=1,
            full_keyboard_benchmark=True,
            segment_step=True,
            shared_fields=("velocity_bins",),
            controls=(GRID_CONTROLS - {"threshold"}) | {"onset_guides", "style"},
            fitted_fields=("num_notes",),
            stacked_layers=("time_sizes", "note_sizes"),
        ),
        Family(
            name="pianoroll",
            representation="pianoroll",
            batch_maker="cadenza.data.batching.pianoroll:PianoRollBatchMaker",
            generator="cadenza.generation.notes:generate_pianoroll",
            sample_length=128, grid=True,
            primer_bars=1,
            controls=GRID_CONTROLS,
            fitted_fields=("num_keys",),
            stacked_layers=("hidden_sizes",),
        ),
        Family(
            name="events",
            representation="events",
            batch_maker="cadenza.data.batching.events:EventsBatchMaker",
            generator="cadenza.generation.sequences:generate_events",
            sample_length=300, grid=False,
            primer_config_field="seq_len", primer_default=150,
            controls=TOKEN_CONTROLS | {"density"},
            fitted_fields=("num_pitches", "max_delta"),
            stacked_layers=("lstm_layers",),
        ),
        Family(
            name="notetokens",
            representation="notetokens",
            batch_maker="cadenza.data.batching.notetokens:NoteTokensBatchMaker",
            generator="cadenza.generation.sequences:generate_notetokens",
            sample_length=200, grid=False,
            primer_config_field="primer_tokens", primer_default=50,
            controls=TOKEN_CONTROLS | {"density"},
            fitted_fields=("num_elements", "num_durations", "num_shifts"),
            stacked_layers=("num_layers",),
        ),
        Family(
            name="transformer",
            representation="remi",
            batch_maker="cadenza.data.batching.remi:RemiBatchMaker",
            generator="cadenza.generation.remi:generate_transformer",
            sample_length=512, grid=False,
            primer_config_field="primer_tokens", primer_default=64,
            stops_at_bars=True,
            controls=TOKEN_CONTROLS,
            fitted_fields=("vocab_size",),
            stacked_layers=("num_layers",),
        ),
    )
}


def get_family(name: str) -> Family:
    """The record of family ``name``."""
    if name not in FAMILIES:
        raise ConfigError(f"unknown model family {name!r}; known: {', '.join(sorted(FAMILIES))}")
    return FAMILIES[name]
