"""Sampling rules: temperature, threshold, conservativity, anti-silence, top-k / top-p."""

from __future__ import annotations

import pytest
import torch

from cadenza.errors import ConfigError
from cadenza.sampling import (
    AdaptiveSilence,
    AdaptiveSilenceConfig,
    apply_temperature_bits,
    bernoulli,
    categorical,
    snap_to_values,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_temperature_bits() -> None:
    p = torch.tensor([0.1, 0.5, 0.9])
    assert torch.equal(apply_temperature_bits(p, 1.0), p)
    sharp = apply_temperature_bits(p, 0.5)
    assert sharp[0] < 0.1 and sharp[2] > 0.9 and sharp[1] == pytest.approx(0.5)
    flat = apply_temperature_bits(p, 2.0)
    assert 0.1 < flat[0] < 0.5 < flat[2] < 0.9
    with pytest.raises(ConfigError):
        apply_temperature_bits(p, 0.0)


def test_bernoulli_rate_threshold_and_conservativity() -> None:
    p = torch.full((20_000,), 0.3)
    rate = bernoulli(p, generator=_gen()).mean().item()
    assert rate == pytest.approx(0.3, abs=0.02)
    assert bernoulli(p, threshold=0.31, generator=_gen()).sum() == 0
    # conservativity below 1 raises p ** c, above 1 lowers it
    low = bernoulli(p, conservativity=0.5, generator=_gen()).mean().item()
    high = bernoulli(p, conservativity=2.0, generator=_gen()).mean().item()
    assert low == pytest.approx(0.3**0.5, abs=0.02)
    assert high == pytest.approx(0.09, abs=0.01)
    with pytest.raises(ConfigError):
        bernoulli(p, threshold=1.0)


def test_bernoulli_is_reproducible_by_seed() -> None:
    p = torch.rand(500, generator=_gen(3))
    assert torch.equal(bernoulli(p, generator=_gen(7)), bernoulli(p, generator=_gen(7)))
    assert not torch.equal(bernoulli(p, generator=_gen(7)), bernoulli(p, generator=_gen(8)))


def test_adaptive_silence_follows_the_original_rule() -> None:
    rule = AdaptiveSilence(2)
    rule.update(torch.tensor([0, 5]))  # row 0 quiet, row 1 busy
    assert rule.conservativity[0].item() == pytest.approx(0.98)
    assert rule.conservativity[1].item() == pytest.approx(1.0)
    for _ in range(9):
        rule.update(torch.tensor([1, 5]))
    assert rule.conservativity[0].item() == pytest.approx(0.8)
    rule.update(torch.tensor([3, 5]))  # relax 30% of the way back to 1
    assert rule.conservativity[0].item() == pytest.approx(0.8 + 0.2 * 0.3)
    rule.conservativity[0] = 1.5
    rule.update(torch.tensor([0, 5]))  # above 1: reset to 1, then lowered
    assert rule.conservativity[0].item() == pytest.approx(0.98)
    assert rule.boosted_steps == 11
    assert rule.exponent(3).shape == (2, 1, 1)


def test_adaptive_silence_config_checks() -> None:
    with pytest.raises(ConfigError):
        AdaptiveSilenceConfig(step=0.0)
    with pytest.raises(ConfigError):
        AdaptiveSilenceConfig(relax=2.0)
    disabled = AdaptiveSilence(1, enabled=False)
    disabled.update(torch.tensor([0]))
    assert disabled.conservativity.item() == 1.0


def test_categorical_top_k_and_top_p() -> None:
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])).repeat(4000, 1)
    picks = categorical(logits, top_k=2, generator=_gen())
    assert set(picks.tolist()) <= {0, 1}
    picks = categorical(logits, top_p=0.7, generator=_gen())
    assert set(picks.tolist()) == {0, 1}  # 0.5 + 0.3 reaches 0.7
    picks = categorical(logits, top_p=0.5, generator=_gen())
    assert set(picks.tolist()) == {0}
    cold = categorical(logits, temperature=0.05, generator=_gen())
    assert (cold == 0).float().mean() > 0.99
    hot = categorical(logits, temperature=5.0, generator=_gen())
    assert (hot == 3).float().mean() > 0.15
    for bad in ({"temperature": 0.0}, {"top_k": -1}, {"top_p": 0.0}):
        with pytest.raises(ConfigError):
            categorical(logits, **bad)  # type: ignore[arg-type]


def test_snap_to_values() -> None:
    allowed = torch.tensor([0, 3, 6, 12])
    values = torch.tensor([1, 2, 5, 11, 40])
    assert snap_to_values(values, allowed).tolist() == [0, 3, 6, 12, 12]


def test_the_anti_silence_exponent_lifts_probabilities_over_the_threshold() -> None:
    """A key whose probability lies under the piano-roll threshold never fires at the plain
    exponent, but does once the anti-silence rule has lowered it (the threshold is applied
    to the lifted probability)."""
    probs = torch.full((4000,), 0.05)
    gen = torch.Generator().manual_seed(0)
    assert bernoulli(probs, threshold=0.1, generator=gen).sum() == 0
    lifted = bernoulli(probs, threshold=0.1, conservativity=0.5, generator=gen)
    assert abs(float(lifted.mean()) - 0.05**0.5) < 0.03  # 0.224: over the threshold
