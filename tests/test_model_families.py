"""The checks every LSTM model family passes alike, parametrised over the families.

Each family is one :class:`Case` (a debug-size config, a random batch, its batch maker's
hand-made arrays); what only one family has is tested in its own ``test_model_<family>.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pytest
import test_model_biaxial as biaxial
import test_model_events as events
import test_model_notetokens as notetokens
import test_model_pianoroll as pianoroll
import torch
from conftest import real_piece_paths

from cadenza.errors import ConfigError, DataError
from cadenza.families import get_family
from cadenza.midi import ReadOptions, load_piece
from cadenza.models.base import Batch, ModelConfig
from cadenza.models.biaxial import BiaxialConfig
from cadenza.models.pianoroll import PianoRollLSTMConfig
from cadenza.models.registry import all_presets, build_model, fit_config
from cadenza.representations import REGISTRY
from cadenza.representations.base import Representation
from cadenza.representations.notestate import NUM_FEATURES, NoteState
from cadenza.representations.pianoroll import PianoRoll


@dataclass(frozen=True)
class Case:
    """One model family as the shared checks see it.

    Attributes:
        name: the family.
        debug: a debug-size config (vocabulary sizes filled in where the family has them).
        batch: ``batch(config, size, seed)``, a random training batch of ``size`` sequences.
        flops_sizes: two batch sizes whose FLOP counts must be in their ratio.
        learning: ``(size, seed, learning rate, ratio)``: a fixed batch the model learns,
            its loss falling below ``ratio`` of the first.
        learned: metrics the model must reach on that batch.
        base: the config the bad values of :data:`BAD_VALUES` replace fields of.
        representation: a (fitted) representation for the batch maker.
        short, short_message: a piece too short for ``seq_len = 8`` and the refusal's words.
        misshapen, misshapen_message: an array of the wrong shape and the refusal's words.
        check_real_batch: further checks of a batch cut from real pieces and of the metrics
            of its loss.
    """

    name: str
    debug: ModelConfig
    batch: Callable[[Any, int, int], Batch]
    flops_sizes: tuple[int, int]
    learning: tuple[int, int, float, float]
    base: ModelConfig
    representation: Callable[[], Representation]
    short: np.ndarray
    short_message: str
    misshapen: np.ndarray
    misshapen_message: str
    check_real_batch: Callable[[Batch, Any, dict[str, float]], None]
    learned: dict[str, float] = field(default_factory=dict)


def _events_real_batch(batch: Batch, config: Any, metrics: dict[str, float]) -> None:
    assert batch["window"][..., 0].max() < config.num_pitches
    assert batch["window"][..., 2].max() <= config.max_delta


def _notetokens_real_batch(batch: Batch, config: Any, metrics: dict[str, float]) -> None:
    for column, size in enumerate((config.num_elements, config.num_durations, config.num_shifts)):
        assert batch["inputs"][..., column].min() >= 0 and batch["inputs"][..., column].max() < size


def _biaxial_real_batch(batch: Batch, config: Any, metrics: dict[str, float]) -> None:
    assert float(batch["target"][..., 0].sum()) > 0 and metrics["nll_per_step"] > 0
    assert batch["features"].shape[1:] == (config.seq_len, biaxial.N, NUM_FEATURES)


def _pianoroll_real_batch(batch: Batch, config: Any, metrics: dict[str, float]) -> None:
    assert float(batch["targets"].sum()) > 0 and metrics["nll_per_step"] > 0


def _biaxial_batch(config: Any, size: int, seed: int) -> Batch:
    return biaxial.make_batch(np.random.default_rng(seed), b=size, t=16)


def _pianoroll_batch(config: Any, size: int, seed: int) -> Batch:
    return pianoroll.random_roll_batch(np.random.default_rng(seed), b=size, t=16)


CASES = {
    case.name: case
    for case in (
        Case("biaxial", all_presets()["biaxial-debug"], _biaxial_batch, flops_sizes=(1, 2),
             learning=(4, 2, 1e-2, 0.7), base=BiaxialConfig(), representation=NoteState,
             short=biaxial.counting_piece(1), short_message="long enough",
             misshapen=np.zeros((10, 78)), misshapen_message="(10, 78)",
             check_real_batch=_biaxial_real_batch),
        Case("pianoroll", all_presets()["pianoroll-debug"], _pianoroll_batch, flops_sizes=(2, 4),
             learning=(4, 2, 1e-2, 0.7), base=PianoRollLSTMConfig(), representation=PianoRoll,
             short=pianoroll.counting_roll(5), short_message="long enough",
             misshapen=np.zeros((10, 80)), misshapen_message="(10, 80)",
             check_real_batch=_pianoroll_real_batch),
        Case("events", events.DEBUG, events.random_batch, flops_sizes=(2, 4),
             learning=(4, 0, 1e-2, 0.5), learned={"on_acc": 1.0}, base=events.DEBUG,
             representation=events.fitted_events, short=events.hand_array(5),
             short_message="at least 9", misshapen=np.zeros((10, 2), np.int32),
             misshapen_message="(10, 2)", check_real_batch=_events_real_batch),
        Case("notetokens", notetokens.DEBUG, notetokens.random_batch, flops_sizes=(2, 6),
             learning=(2, 0, 3e-2, 0.7), base=notetokens.DEBUG,
             representation=lambda: notetokens.fitted_notetokens()[0],
             short=notetokens.counting_array(5), short_message="at least 9",
             misshapen=np.zeros(10, np.int32), misshapen_message="(10,)",
             check_real_batch=_notetokens_real_batch),
    )
}
FAMILIES = sorted(CASES)

# (family, changed fields, words the refusal must contain)
BAD_VALUES = [
    ("biaxial", {"time_sizes": ()}, "time_sizes"),
    ("biaxial", {"note_sizes": (8, 0)}, "(8, 0)"),
    ("biaxial", {"dropout": 1.0}, "1.0"),
    ("biaxial", {"dropout": -0.1}, "-0.1"),
    ("biaxial", {"seq_len": 0}, "seq_len"),
    ("biaxial", {"segment_step": -16}, "-16"),
    ("biaxial", {"transpose_range": (3, -3)}, "(3, -3)"),
    ("pianoroll", {"hidden_sizes": ()}, "hidden_sizes"),
    ("pianoroll", {"layer_lrs": (0.1, 0.1)}, "(0.1, 0.1)"),
    ("pianoroll", {"layer_lrs": (0.1, 0.1, 0.1, -1.0)}, "-1.0"),
    ("pianoroll", {"cost": "hinge"}, "'hinge'"),
    ("pianoroll", {"eps": 0.0}, "eps"),
    ("pianoroll", {"grad_clip": -1.0}, "-1.0"),
    ("pianoroll", {"init_std": 0.0}, "init_std"),
    ("pianoroll", {"dropout": 1.5}, "1.5"),
    ("pianoroll", {"transpose_range": (2, 1)}, "(2, 1)"),
    ("events", {"hidden_size": 0}, "hidden_size"),
    ("events", {"seq_len": -3}, "-3"),
    ("events", {"d_model": 30, "num_heads": 4}, "num_heads"),
    ("events", {"dropout": 1.0}, "dropout"),
    ("events", {"head_hidden": -1}, "head_hidden"),
    ("events", {"transpose_range": (3, -3)}, "(3, -3)"),
    ("events", {"loss_weights": (0.0, 0.0, 0.0)}, "loss_weights"),
    ("events", {"loss_weights": (1.0, -1.0, 1.0)}, "-1.0"),
    ("events", {"loss_weights": (1.0, 1.0)}, "loss_weights"),
    ("notetokens", {"hidden_size": 0}, "hidden_size"),
    ("notetokens", {"num_elements": -4}, "-4"),
    ("notetokens", {"num_shifts": 0}, "num_shifts"),
    ("notetokens", {"dropout": 1.5}, "1.5"),
    ("notetokens", {"primer_tokens": 0}, "primer_tokens"),
    ("notetokens", {"transpose_range": (2, 1)}, "(2, 1)"),
]


# -- config ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name", sorted(n for n, p in all_presets().items() if p.family in CASES)
)
def test_presets_build_and_round_trip_json(name: str) -> None:
    config = all_presets()[name]
    family = config.family
    assert name.startswith(f"{family}-")
    model = build_model(config)
    assert model.family == family and model.representation == get_family(family).representation
    assert model.num_parameters() > 0
    data = json.loads(json.dumps(config.to_dict()))  # JSON turns tuples into lists
    assert data["family"] == family
    assert type(config).from_dict(data) == config


@pytest.mark.parametrize(
    ("family", "changes", "needle"),
    [pytest.param(*bad, id=f"{bad[0]}-{','.join(f'{k}={v}' for k, v in bad[1].items())}")
     for bad in BAD_VALUES],
)
def test_config_rejects_bad_values(family: str, changes: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(needle)):
        replace(CASES[family].base, **changes)


@pytest.mark.parametrize("family", FAMILIES)
def test_from_dict_rejects_another_family(family: str) -> None:
    config = CASES[family].debug
    other = next(name for name in FAMILIES if name != family)
    with pytest.raises(ConfigError, match=other):
        type(config).from_dict(config.to_dict() | {"family": other})
    assert isinstance(type(config).from_dict(config.to_dict()), ModelConfig)


# -- model ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("family", "changes"),
    [pytest.param(name, {}, id=name) for name in FAMILIES]
    + [pytest.param("pianoroll", {"cost": "mse"}, id="pianoroll-mse")],
)
def test_loss_goes_down_on_a_fixed_batch(family: str, changes: dict[str, Any]) -> None:
    case = CASES[family]
    size, seed, learning_rate, ratio = case.learning
    config = replace(case.debug, **changes)
    torch.manual_seed(0)
    model = build_model(config)
    batch = case.batch(config, size, seed)
    optimizer = torch.optim.Adam(model.param_groups(learning_rate))
    first, _ = model.loss(batch)
    for _ in range(30):
        optimizer.zero_grad()
        loss, _ = model.loss(batch)
        loss.backward()
        optimizer.step()
    last, metrics = model.loss(batch)
    assert float(last.detach()) < ratio * float(first.detach())
    for name, value in case.learned.items():
        assert metrics[name] == value


@pytest.mark.parametrize("family", FAMILIES)
def test_flops_grow_with_the_batch(family: str) -> None:
    case = CASES[family]
    model = build_model(case.debug)
    small_size, large_size = case.flops_sizes
    batch = case.batch(case.debug, small_size, 7)
    small = model.flops_per_batch(batch)
    assert small > 0
    large = model.flops_per_batch(case.batch(case.debug, large_size, 7))
    assert large == pytest.approx(large_size / small_size * small)
    assert model.flops_per_sample(batch) == small


# -- batches --------------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
def test_batch_maker_rejects_bad_input(family: str) -> None:
    case = CASES[family]
    maker = get_family(family).batch_maker_class()
    representation = case.representation()
    with pytest.raises(DataError, match=re.escape(case.short_message)):
        maker([case.short], representation, batch_size=2, seq_len=8)
    with pytest.raises(DataError, match=re.escape(case.misshapen_message)):
        maker([case.misshapen], representation, batch_size=2, seq_len=4)


# -- real pieces ----------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
def test_real_pieces_train_one_step(family: str) -> None:
    paths = real_piece_paths()[:2]
    if not paths:
        pytest.skip("piano-midi.de corpus not found")
    case, record = CASES[family], get_family(family)
    representation = REGISTRY[record.representation]()
    options = ReadOptions(steps_per_quarter=representation.config.steps_per_quarter)
    scores = [load_piece(path, options)[0] for path in paths]
    representation.fit(scores)
    arrays = [representation.encode(score) for score in scores]
    config = fit_config(replace(case.debug, transpose_range=(-3, 3)), representation)
    maker = record.batch_maker_class()(
        arrays, representation, config.batch_size, config.seq_len,
        transpose_range=config.transpose_range, **record.batch_maker_options(config),
    )
    batch = maker.training_batch(np.random.default_rng(0))
    torch.manual_seed(0)
    model = build_model(config)
    loss, metrics = model.loss(batch)
    loss.backward()
    assert torch.isfinite(loss)
    case.check_real_batch(batch, config, metrics)
    eval_batch = next(iter(maker.eval_batches()))
    eval_loss, eval_metrics = model.loss(eval_batch)
    assert torch.isfinite(eval_loss)
    case.check_real_batch(eval_batch, config, eval_metrics)
