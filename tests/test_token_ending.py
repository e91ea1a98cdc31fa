"""--ending cadence for the token families: the last elements (the transformer: the last
bar) sound only the tonic triad, and the stretch before favours the dominant seventh."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from test_model_notetokens import fitted_notetokens
from test_model_transformer import _trained_debug, little_piece

from cadenza.controls import parse_key
from cadenza.generation import GenerationConfig, generate
from cadenza.generation.token_ending import TokenEnding
from cadenza.models.events import PRESETS as EVENTS_PRESETS
from cadenza.models.notetokens import PRESETS as TOKEN_PRESETS
from cadenza.models.notetokens import config_for
from cadenza.models.registry import build_model, fit_config
from cadenza.representations.events import Events, EventsConfig
from cadenza.representations.notetokens import REST, element_pitches
from cadenza.representations.remi import Remi
from cadenza.score import Score, make_notes

C_TRIAD = {0, 4, 7}
ENDING = TokenEnding(parse_key("C major"))


def test_the_stretches_and_their_weights() -> None:
    assert ENDING.tail(100) == 15 and ENDING.tail(20) == 8 and ENDING.tail(5) == 5
    assert ENDING.weights_at(84, 100) is None
    dominant, tonic = ENDING.weights_at(85, 100), ENDING.weights_at(99, 100)
    assert dominant is not None and tonic is not None
    assert {p % 12 for p in np.flatnonzero(dominant == 1.0)} == {7, 11, 2, 5}  # G B D F
    assert {p % 12 for p in np.flatnonzero(tonic > 0)} == C_TRIAD
    assert ENDING.weights_in_bar(3, 4) is ENDING.tonic
    assert ENDING.weights_in_bar(2, 4) is ENDING.dominant and ENDING.weights_in_bar(1, 4) is None


def test_events_end_on_the_tonic_triad() -> None:
    rep = Events(EventsConfig(steps_per_quarter=4))
    score = Score(make_notes(list(range(0, 64, 4)), [4] * 16,
                             [60 + (i * 5) % 12 for i in range(16)]), 4)
    rep.fit([score])
    torch.manual_seed(0)
    model = build_model(fit_config(EVENTS_PRESETS["events-debug"], rep)).eval()
    config = GenerationConfig(length=100, count=2, seed=3, ending=ENDING)
    for array in generate(model, rep, None, config).arrays:
        tail = array[-(100 - 95):]  # the tonic part: the last 5 messages
        ons = tail[tail[:, 1] == 1]
        assert {int(p) % 12 for p in ons[:, 0]} <= C_TRIAD


def test_note_tokens_end_on_the_tonic_triad() -> None:
    rep, encoded = fitted_notetokens()
    torch.manual_seed(0)
    model = build_model(config_for(TOKEN_PRESETS["notetokens-debug"], rep)).eval()
    config = GenerationConfig(length=60, count=2, seed=1, ending=ENDING)
    for array in generate(model, rep, encoded[:8], config).arrays:
        for element_id in array[-(60 - 57):, 0]:  # the tonic part: the last 3 tokens
            element = rep.elements[int(element_id)]
            assert element == REST or {p % 12 for p in element_pitches(element)} <= C_TRIAD


def test_the_transformer_ends_its_last_bar_on_the_tonic_triad() -> None:
    """A 4-bar primer and one new bar (the debug model often writes END early, so 16
    pieces): every note of the new bar is in the tonic triad; without the ending, not."""
    rep = Remi()
    model = _trained_debug(rep)
    primer = rep.encode(little_piece(4))[:-1]
    config = GenerationConfig(length=4000, count=16, seed=2, bars=1, ending=ENDING)

    def last_bar_classes(settings: GenerationConfig) -> list[set[int]]:
        found = []
        for array in generate(model, rep, primer, settings).arrays:
            notes = rep.decode(array).notes
            found.append({int(p) % 12 for p in notes["pitch"][notes["start"] >= 4 * 16]})
        return found

    steered = last_bar_classes(config)
    assert sum(bool(c) for c in steered) >= 3 and all(c <= C_TRIAD for c in steered)
    plain = last_bar_classes(replace(config, ending=None))
    assert any(not classes <= C_TRIAD for classes in plain)


# -- --density for the events and note-token families ------------------------------------------
def test_onset_rate_window_and_states() -> None:
    from cadenza.generation.token_density import DENSE, FREE, SPARSE, OnsetRate

    rate = OnsetRate((1.0, 3.0), 3, steps_per_beat=4)
    for _ in range(8):  # row 0: one note a beat; row 1: four a beat; row 2: nothing
        rate.add(0, 1, 4)
        rate.add(1, 4, 4)
        rate.add(2, 0, 4)
    assert [rate.rate(r) for r in range(3)] == [1.0, 4.0, 0.0]
    assert list(rate.states()) == [FREE, DENSE, SPARSE]
    values = np.array([0, 1, 2, 4, 8])
    assert list(rate.allowed_steps(values, SPARSE)) == [True, True, True, False, False]
    assert list(rate.allowed_steps(values, DENSE)) == [False, False, True, True, True]
    assert rate.allowed_steps(np.array([8]), SPARSE).all()  # never leave no choice


def _onsets_per_beat(rep: object, arrays: list[np.ndarray], primer_length: int,
                     steps_per_beat: int) -> float:
    rates = []
    for array in arrays:
        generated = array[primer_length:]
        notes = rep.decode(array).notes  # type: ignore[attr-defined]
        end = int((notes["start"] + notes["duration"]).max())
        start = int(rep.decode(array[:primer_length]).notes["start"].max())  # type: ignore[attr-defined]
        onsets = notes[notes["start"] > start]
        rates.append(len(onsets) / max((end - start) / steps_per_beat, 1e-9))
        assert len(generated)
    return float(np.mean(rates))


def test_note_tokens_keep_their_onsets_in_the_band() -> None:
    rep, encoded = fitted_notetokens()
    torch.manual_seed(0)
    model = build_model(config_for(TOKEN_PRESETS["notetokens-debug"], rep)).eval()
    spb = rep.config.steps_per_quarter
    rates = {}
    for band in (None, (0.2, 0.6), (3.0, 6.0)):
        config = GenerationConfig(length=120, count=4, seed=4, density=band)
        arrays = generate(model, rep, encoded[:8], config).arrays
        rates[band] = _onsets_per_beat(rep, arrays, 8, spb)
    assert rates[(0.2, 0.6)] < rates[None] < rates[(3.0, 6.0)]


def test_events_keep_their_onsets_in_the_band() -> None:
    rep = Events(EventsConfig(steps_per_quarter=4))
    gaps = [1, 2, 4, 8, 16] * 6  # deltas of every size are known
    starts = np.cumsum([0, *gaps[:-1]]).tolist()
    score = Score(make_notes(starts, [1] * len(starts),
                             [60 + (i * 5) % 12 for i in range(len(starts))]), 4)
    rep.fit([score])
    torch.manual_seed(0)
    model = build_model(fit_config(EVENTS_PRESETS["events-debug"], rep)).eval()
    rates = {}
    for band in (None, (0.0, 0.05), (1.0, 3.0)):
        config = GenerationConfig(length=120, count=4, seed=4, density=band)
        arrays = generate(model, rep, None, config).arrays
        rates[band] = _onsets_per_beat(rep, arrays, 1, 4)
    # This model's own deltas are long already (0.15 onsets a beat): the low band cannot
    # thin it further, the high one brings the notes on.
    assert rates[(0.0, 0.05)] <= rates[None] < 0.5 * rates[(1.0, 3.0)]
