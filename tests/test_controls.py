"""Composing controls on the grid families: a key and a range, applied where the sampler draws."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from cadenza.cli import app
from cadenza.composing import ComposeRequest, compose
from cadenza.controls import (
    Key,
    detect_key,
    parse_key,
    parse_pitch,
    parse_range,
    pitch_weights,
)
from cadenza.errors import ConfigError

runner = CliRunner()
D_MINOR = {2, 4, 5, 7, 9, 10, 0, 1}  # D E F G A Bb C, and C# (the leading tone)


def test_parsing_keys_pitches_and_ranges() -> None:
    assert parse_key("D minor").pitch_classes == frozenset(D_MINOR)
    assert parse_key("Bb major").pitch_classes == frozenset({10, 0, 2, 3, 5, 7, 9})
    assert str(parse_key("F#m")) == "F# minor" and str(parse_key("C")) == "C major"
    assert (parse_pitch("C4"), parse_pitch("A0"), parse_pitch("C8"), parse_pitch("60")) == (
        60, 21, 108, 60)
    assert parse_pitch("B#3") == 60 and parse_pitch("Cb4") == 59
    assert parse_range("C2-C6") == (36, 84)
    for bad in ("H minor", "D dorian", ""):
        with pytest.raises(ConfigError, match="key must look like"):
            parse_key(bad)
    with pytest.raises(ConfigError, match="downwards"):
        parse_range("C6-C2")
    with pytest.raises(ConfigError, match="strength"):
        pitch_weights("C", key_strength=1.5)


def test_detect_key_among_all_keys_or_the_candidates_given() -> None:
    a_minor = np.array([57, 60, 64, 69, 71, 72, 68, 69])  # A C E A B C G# A
    durations = np.array([4, 1, 1, 4, 1, 1, 1, 4])
    assert detect_key(a_minor, durations) == Key(9, "minor")
    assert detect_key(a_minor, durations, candidates=[Key(0, "major"), Key(7, "major")]) == (
        Key(0, "major"))
    assert detect_key(np.array([], dtype=int), candidates=[Key(7, "major")]) == Key(7, "major")
    with pytest.raises(ConfigError, match="candidate"):
        detect_key(a_minor, candidates=[])


def _generated_pitches(tmp_path: Path, model: str, **options: object) -> np.ndarray:
    request = ComposeRequest(checkpoint=model, out_dir=tmp_path, bars=4, seed=5,
                             composer="Bach", **options)  # type: ignore[arg-type]
    piece = compose(request).pieces[0]
    notes = piece.score.notes
    return notes["pitch"][notes["start"] >= piece.generated_start_tick]


@pytest.mark.parametrize("model", ["biaxial-piano", "pianoroll-piano"])
def test_key_at_full_strength_gives_only_notes_in_the_key(tmp_path: Path, model: str) -> None:
    pitches = _generated_pitches(tmp_path / "key", model, key="D minor")
    assert len(pitches) > 0
    assert {int(p) % 12 for p in pitches} <= D_MINOR
    free = _generated_pitches(tmp_path / "free", model)
    assert {int(p) % 12 for p in free} - D_MINOR  # without the key, other notes do come


def test_key_auto_keeps_to_the_primers_key(tmp_path: Path) -> None:
    """--key auto: the key the primer's pitch classes suggest, at the given strength; the
    replay file records the key that was detected."""
    from cadenza.controls import parse_key

    request = ComposeRequest(checkpoint="biaxial-piano", out_dir=tmp_path, bars=4, seed=5,
                             composer="Bach", key="auto")
    result = compose(request)
    piece = result.pieces[0]
    sidecar = json.loads(piece.files[0].with_suffix(".json").read_text())
    assert sidecar["settings"]["key"] != "auto"
    key = parse_key(sidecar["settings"]["key"])
    generated = piece.score.notes[piece.score.notes["start"] >= piece.generated_start_tick]
    assert len(generated) and {int(p) % 12 for p in generated["pitch"]} <= key.pitch_classes


@pytest.mark.parametrize("model", ["biaxial-piano", "pianoroll-piano"])
def test_range_is_respected(tmp_path: Path, model: str) -> None:
    pitches = _generated_pitches(tmp_path, model, pitch_range="C4-C5")
    assert len(pitches) > 0 and pitches.min() >= 60 and pitches.max() <= 72


def test_a_family_that_cannot_honour_a_control_refuses_it(tmp_path: Path) -> None:
    from cadenza.checkpoint import save_checkpoint
    from cadenza.models.registry import build_model, fit_config, get_preset
    from cadenza.representations import Events
    from cadenza.score import Score, TimeSignature, make_notes

    rep = Events(Events.config_class(steps_per_quarter=4))  # type: ignore[call-arg]
    score = Score(make_notes([0, 4], [4, 4], [60, 64]), 4,
                  time_signatures=(TimeSignature(0, 4, 4),))
    rep.fit([score])
    model = build_model(fit_config(get_preset("events-debug"), rep))
    save_checkpoint(tmp_path / "events", model, rep, {"preset": "events-debug"})
    result = runner.invoke(app, ["generate", str(tmp_path / "events"), "--no-primer",
                                 "--form", "AABA", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "the events family cannot honour --form" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("model", "option", "value", "family"), [
    ("biaxial-piano", "--top-k", "5", "biaxial"),
    ("biaxial-piano", "--top-p", "0.9", "biaxial"),
    ("biaxial-piano", "--threshold", "0.2", "biaxial"),
    ("pianoroll-piano", "--top-k", "5", "pianoroll"),
])
def test_sampling_settings_a_family_does_not_use_are_refused(
        tmp_path: Path, model: str, option: str, value: str, family: str) -> None:
    """Issue 28: --top-k gave the biaxial model byte-identical output; now it is refused in
    one line naming the option and the family (CLI, Python API and web share the check)."""
    result = runner.invoke(app, ["generate", model, "--bars", "1", option, value,
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert f"the {family} family cannot honour {option}" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
    with pytest.raises(ConfigError, match=f"cannot honour {option}"):
        compose(ComposeRequest(checkpoint=model, bars=1, write_files=False,
                               **{option[2:].replace("-", "_"): float(value)
                                  if "." in value else int(value)}))  # type: ignore[arg-type]


def test_a_family_that_uses_a_sampling_setting_takes_it(tmp_path: Path) -> None:
    """The piano-roll floor is the piano-roll family's; its calibrated default is no request."""
    request = ComposeRequest(checkpoint="pianoroll-piano", bars=1, seed=1, no_primer=True,
                             write_files=False, threshold=0.05)
    assert len(compose(request).pieces) == 1
    default = ComposeRequest(checkpoint="biaxial-piano", bars=1, seed=1, write_files=False)
    assert len(compose(default).pieces) == 1


def _most_at_once(piece: Any) -> int:
    notes = piece.score.notes
    ends = notes["start"] + notes["duration"]
    start = piece.generated_start_tick + 16  # primer notes may ring into the first bar
    return max(int(((notes["start"] <= t) & (ends > t)).sum())
               for t in range(start, int(ends.max())))


@pytest.mark.parametrize("model", ["biaxial-piano", "pianoroll-piano"])
def test_max_polyphony_caps_the_notes_sounding_at_once(tmp_path: Path, model: str) -> None:
    request = ComposeRequest(checkpoint=model, out_dir=tmp_path, bars=4, seed=5,
                             composer="Bach", max_polyphony=2)
    piece = compose(request).pieces[0]
    notes = piece.score.notes
    start = piece.generated_start_tick
    ends = notes["start"] + notes["duration"]
    for tick in range(start, int(ends.max())):
        sounding = int(((notes["start"] <= tick) & (ends > tick)).sum())
        # notes still ringing from the primer may overlap the first generated steps
        if tick >= start + 16:
            assert sounding <= 2, (tick, sounding)
    if model != "biaxial-piano":  # the piano-roll model is too sparse to need a cap
        return
    free = compose(ComposeRequest(checkpoint=model, out_dir=tmp_path / "f", bars=4, seed=5,
                                  composer="Bach")).pieces[0]
    assert _most_at_once(free) > 2  # without the cap the model does play more at once


def _capped_copy(tmp_path: Path, name: str, cap: float) -> Path:
    """A copy of biaxial-piano under ``tmp_path / name`` whose config carries its own cap."""
    import shutil

    from cadenza.shipped import models_dir

    folder = tmp_path / name
    shutil.copytree(models_dir() / "biaxial-piano", folder)
    info = json.loads((folder / "config.json").read_text())
    info["generation"] = {**info.get("generation", {}), "max_polyphony": cap}
    (folder / "config.json").write_text(json.dumps(info))
    return folder


def test_a_model_carries_its_own_polyphony_cap(tmp_path: Path) -> None:
    """config.json "generation" max_polyphony caps the notes at once unless the request sets
    its own (0: no limit); a cap that is not a whole number in 0..128 is refused by name."""
    base = dict(checkpoint=str(_capped_copy(tmp_path, "capped", 2)), bars=4, seed=5,
                no_primer=True)
    capped = compose(ComposeRequest(out_dir=tmp_path / "a", **base))  # type: ignore[arg-type]
    assert _most_at_once(capped.pieces[0]) <= 2
    free = compose(ComposeRequest(out_dir=tmp_path / "b", max_polyphony=0, **base))  # type: ignore[arg-type]
    assert _most_at_once(free.pieces[0]) > 2
    base["checkpoint"] = str(_capped_copy(tmp_path, "half", 2.5))
    with pytest.raises(ConfigError, match=r"half/config.json: generation.max_polyphony must "):
        compose(ComposeRequest(out_dir=tmp_path / "c", **base))  # type: ignore[arg-type]


def test_cap_polyphony_keeps_the_most_probable() -> None:
    import torch

    from cadenza.generation.notes import cap_polyphony

    play = torch.tensor([[1.0, 1.0, 0.0, 1.0, 1.0]])
    probs = torch.tensor([[0.9, 0.2, 0.99, 0.6, 0.4]])
    assert cap_polyphony(play, probs, 2).tolist() == [[1.0, 0.0, 0.0, 1.0, 0.0]]
    assert cap_polyphony(play, probs, 0).tolist() == play.tolist()


@pytest.mark.parametrize("model", ["biaxial-piano", "pianoroll-piano"])
def test_form_with_no_variation_repeats_phrase_a_exactly(tmp_path: Path, model: str) -> None:
    """AABA over 1-bar phrases: the second and fourth phrases are the first, note for note."""
    request = ComposeRequest(checkpoint=model, out_dir=tmp_path, bars=4, seed=11,
                             composer="Mozart", form="AABA", phrase_bars=1, variation=0.0,
                             max_hold_steps=0, ending="none")  # a cadence takes 2 bars
    piece = compose(request).pieces[0]
    notes = piece.score.notes
    start = piece.generated_start_tick
    bar = 16

    ends = notes["start"] + notes["duration"]

    def phrase(index: int) -> list[list[int]]:
        """The pitches sounding at each step of phrase ``index``."""
        lo = start + index * bar
        return [sorted(int(p) for p in notes["pitch"][(notes["start"] <= t) & (ends > t)])
                for t in range(lo, lo + bar)]

    first = phrase(0)
    assert any(first)  # the model did play in phrase A
    assert phrase(1) == first and phrase(3) == first
    assert phrase(2) != first  # B is free


def test_auto_form_is_drawn_from_the_seed() -> None:
    """The default form: the same seed, the same form; through-composed (None) about three
    times in seven, and each of the listed forms drawn."""
    from cadenza.generation.plan import AUTO_FORMS, auto_form

    drawn = [auto_form(seed) for seed in range(700)]
    assert drawn == [auto_form(seed) for seed in range(700)]
    assert set(drawn) == {form for form, _ in AUTO_FORMS}
    assert 0.33 < drawn.count(None) / len(drawn) < 0.53


def test_the_default_form_repeats_what_it_draws(tmp_path: Path) -> None:
    """``form="auto"`` (the default) composes to the form the seed draws, reports it, and
    repeats a phrase exactly; ``"none"`` composes none; a token model is not refused."""
    from cadenza.generation.plan import auto_form

    seed = next(s for s in range(100) if auto_form(s) == "AABA")
    options = dict(checkpoint="biaxial-piano", out_dir=tmp_path, bars=4, seed=seed,
                   composer="Mozart", phrase_bars=1, max_hold_steps=0, ending="none")
    result = compose(ComposeRequest(**options))  # type: ignore[arg-type]
    assert result.form == "AABA"
    exact = compose(ComposeRequest(**{**options, "form": "AABA"}))  # type: ignore[arg-type]
    assert np.array_equal(result.pieces[0].score.notes, exact.pieces[0].score.notes)
    free = compose(ComposeRequest(**{**options, "form": "none"}))  # type: ignore[arg-type]
    assert free.form is None
    assert not np.array_equal(free.pieces[0].score.notes, exact.pieces[0].score.notes)
    # a --length, not a number of bars: no form is drawn
    assert compose(ComposeRequest(**{**options, "length": 64})).form is None  # type: ignore[arg-type]
    # no second phrase (4 bars of 4-bar phrases): nothing to repeat, no form reported
    assert compose(ComposeRequest(**{**options, "phrase_bars": 4})).form is None  # type: ignore[arg-type]
    said = runner.invoke(app, ["generate", "--bars", "2", "--phrase-bars", "1", "--seed",
                               str(seed), "--composer", "Mozart", "--out", str(tmp_path / "cli")])
    assert said.exit_code == 0, said.output
    assert "form: AABA in phrases of 1 bar (drawn from the seed" in said.output
    replayed = runner.invoke(app, ["generate", "--replay",
                                   str(next((tmp_path / "cli").glob("*.json"))),
                                   "--out", str(tmp_path / "again")])
    assert replayed.exit_code == 0, replayed.output
    assert "form: AABA in phrases of 1 bar" in replayed.output
    assert "drawn from the seed" not in replayed.output  # the replay file names the form


def test_a_through_composed_draw_is_reported(tmp_path: Path) -> None:
    """Issue 28: when ``--form auto`` drew none the command said nothing about the form; it
    says so in the form line's style. No line when no form was drawn at all."""
    from cadenza.generation.plan import auto_form

    seed = next(s for s in range(100) if auto_form(s) is None)
    said = runner.invoke(app, ["generate", "pianoroll-piano", "--bars", "2", "--phrase-bars",
                               "1", "--seed", str(seed), "--no-primer", "--out",
                               str(tmp_path / "a")])
    assert said.exit_code == 0, said.output
    assert ("form: none (through-composed, drawn from the seed; --form AABA or another for "
            "one)") in said.output.splitlines()
    result = compose(ComposeRequest(checkpoint="pianoroll-piano", bars=2, phrase_bars=1,
                                    seed=seed, no_primer=True, write_files=False))
    assert result.form is None and result.form_drawn
    single = runner.invoke(app, ["generate", "pianoroll-piano", "--bars", "1", "--seed",
                                 str(seed), "--no-primer", "--out", str(tmp_path / "b")])
    assert single.exit_code == 0 and "form:" not in single.output  # one phrase: no draw


def test_ending_cadence_ends_on_the_held_tonic_chord(tmp_path: Path) -> None:
    request = ComposeRequest(checkpoint="biaxial-piano", out_dir=tmp_path, bars=4, seed=2,
                             composer="Bach", key="D minor", ending="cadence")
    piece = compose(request).pieces[0]
    notes = piece.score.notes
    end = piece.generated_start_tick + 4 * 16
    last_bar = end - 16
    ends = notes["start"] + notes["duration"]
    sounding_last = notes[ends > last_bar]
    assert (sounding_last["start"] == last_bar).all()  # struck together, nothing else
    assert (ends[ends > last_bar] == end).all() and ends.max() == end  # held to the end
    pitches = sorted(int(p) for p in sounding_last["pitch"])
    assert pitches[0] % 12 == 2  # D in the bass
    assert {p % 12 for p in pitches} == {2, 5, 9}  # the D minor triad
    unknown = ComposeRequest.__dataclass_fields__  # the option exists, and is checked
    assert "ending" in unknown
    with pytest.raises(ConfigError, match="ending must be one of"):
        ComposeRequest(ending="fade")


@pytest.mark.parametrize("model", ["biaxial-piano", "pianoroll-piano"])
def test_a_form_ends_on_the_dominant_seventh_then_the_tonic(tmp_path: Path, model: str) -> None:
    """AABA over 2-bar phrases in 8 bars: the last A would copy bars 1-2, but the cadence
    keeps the bar before the last (V7: G B D F in C major) and the held tonic chord."""
    request = ComposeRequest(checkpoint=model, out_dir=tmp_path, bars=8, seed=1,
                             composer="Mozart", key="C major", form="AABA", phrase_bars=2,
                             variation=0.0, ending="cadence")
    piece = compose(request).pieces[0]
    notes = piece.score.notes
    end = piece.generated_start_tick + 8 * 16
    ends = notes["start"] + notes["duration"]
    dominant_bar = (notes["start"] >= end - 32) & (notes["start"] < end - 16)
    assert dominant_bar.any()
    assert {int(p) % 12 for p in notes["pitch"][dominant_bar]} <= {7, 11, 2, 5}
    last = notes[ends > end - 16]
    assert (last["start"] == end - 16).all()
    assert {int(p) % 12 for p in last["pitch"]} == {0, 4, 7}


def _melody_file(path: Path, chords: bool = False) -> Path:
    """An 8-note D minor melody in quarter notes (with a low chord under each when asked)."""
    from cadenza.midi import write_midi
    from cadenza.score import Score, TimeSignature, make_notes

    pitches = [74, 76, 77, 79, 81, 79, 77, 74]
    starts, durations, notes = [], [], []
    for i, p in enumerate(pitches):
        starts.append(i * 4)
        durations.append(4)
        notes.append(p)
        if chords:
            for low in (50, 57):
                starts.append(i * 4)
                durations.append(4)
                notes.append(low)
    score = Score(make_notes(starts, durations, notes), 4,
                  time_signatures=(TimeSignature(0, 4, 4),))
    return write_midi(score, path)


@pytest.mark.parametrize("model", ["biaxial-piano", "pianoroll-piano"])
def test_a_harmonised_melody_comes_back_note_for_note(tmp_path: Path, model: str) -> None:
    melody = _melody_file(tmp_path / "melody.mid")
    result = runner.invoke(app, ["harmonise", str(melody), "--model", model, "--seed", "4",
                                 "--below-only", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    (piece,) = (tmp_path / "out").glob("*.mid")
    from cadenza.midi import ReadOptions, load_piece

    score, _ = load_piece(piece, ReadOptions(time_signatures=None))
    got = {(int(n["start"]), int(n["duration"]), int(n["pitch"])) for n in score.notes}
    wanted = {(i * 4, 4, p) for i, p in enumerate([74, 76, 77, 79, 81, 79, 77, 74])}
    assert wanted <= got  # every melody note, exactly
    others = [n for n in score.notes
              if (int(n["start"]), int(n["duration"]), int(n["pitch"])) not in wanted]
    melody = [74, 76, 77, 79, 81, 79, 77, 74]
    assert others  # it did harmonise
    for note in others:  # --below-only: nothing above the melody, the final chord included
        tick = int(note["start"])
        assert int(note["pitch"]) <= melody[min(tick // 4, len(melody) - 1)], note


def test_a_polyphony_cap_never_drops_a_clamped_melody_note(tmp_path: Path) -> None:
    """A model's own cap (here 1 note at once) lets the free notes go, never the melody's."""
    import cadenza

    folder = _capped_copy(tmp_path, "one-at-once", 1)
    melody = _melody_file(tmp_path / "melody.mid")
    wanted = {(i * 4, 4, p) for i, p in enumerate([74, 76, 77, 79, 81, 79, 77, 74])}
    for seed in range(3):
        piece = cadenza.harmonise(melody, str(folder), seed=seed, ending="none")
        got = {(int(n["start"]), int(n["duration"]), int(n["pitch"])) for n in piece.notes}
        assert wanted <= got, seed


@pytest.mark.parametrize("model", ["biaxial-piano", "pianoroll-piano"])
def test_below_only_keeps_the_final_chord_under_a_low_melody(tmp_path: Path, model: str) -> None:
    """A melody ending on D4: the automatic D minor cadence voices its chord up to A4, so its
    upper notes must give way to --below-only."""
    import cadenza
    from cadenza.midi import write_midi
    from cadenza.score import Score, TimeSignature, make_notes

    tune = [62, 65, 64, 62, 61, 62, 64, 62] * 2
    path = write_midi(Score(make_notes([i * 4 for i in range(16)], [4] * 16, tune), 4,
                            time_signatures=(TimeSignature(0, 4, 4),)), tmp_path / "low.mid")
    piece = cadenza.harmonise(path, model, below_only=True, seed=2, key="D minor")
    notes = piece.notes
    assert len(notes) > len(tune)  # something was composed under it
    for note in notes:
        tick = int(note["start"])
        assert int(note["pitch"]) <= tune[min(tick // 4, len(tune) - 1)], note


def test_harmonise_keeps_the_melodys_tempo_length_and_name(tmp_path: Path) -> None:
    """A 100 bpm melody of 2 bars comes back at 100 bpm, named after it, its sidecar saying
    2 bars."""
    import json

    from cadenza.midi import write_midi
    from cadenza.score import Score, Tempo, TimeSignature, make_notes

    tune = [67, 69, 71, 72, 74, 72, 71, 67]
    path = write_midi(Score(make_notes([i * 480 for i in range(8)], [480] * 8, tune), 480,
                            tempos=(Tempo(0, 100.0),),
                            time_signatures=(TimeSignature(0, 4, 4),)), tmp_path / "tune.mid")
    result = runner.invoke(app, ["harmonise", str(path), "--model", "biaxial-piano", "--seed",
                                 "3", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    (piece,) = (tmp_path / "out").glob("*.mid")
    assert piece.name.startswith("tune-harmonised")
    from cadenza.midi import read_midi

    assert [round(t.qpm) for t in read_midi(piece).tempos][:1] == [100]
    sidecar = json.loads(piece.with_suffix(".json").read_text())
    assert sidecar["settings"]["bars"] == 2
    assert sidecar["checkpoint"] == "biaxial-piano"  # the shipped name, not a path


def test_harmonise_the_top_voice_of_a_polyphonic_file(tmp_path: Path) -> None:
    import cadenza

    melody = _melody_file(tmp_path / "chords.mid", chords=True)
    piece = cadenza.harmonise(melody, "biaxial-piano", voice="top", seed=1)
    got = {(int(n["start"]), int(n["duration"]), int(n["pitch"])) for n in piece.notes}
    assert {(i * 4, 4, p) for i, p in enumerate([74, 76, 77, 79, 81, 79, 77, 74])} <= got
    with pytest.raises(ConfigError, match="give no primer"):
        cadenza.harmonise(melody, "biaxial-piano", composer="Bach")


def test_tonal_closure_by_hand() -> None:
    from cadenza.metrics.registry import compute_all
    from cadenza.score import Score, TimeSignature, make_notes

    scale = [60, 62, 64, 65, 67, 69, 71, 72]  # C major, then a final chord
    def piece(final: list[int]) -> Score:
        starts = [i * 4 for i in range(len(scale))] + [32] * len(final)
        return Score(make_notes(starts, [4] * (len(scale) + len(final)), scale + final), 4,
                     time_signatures=(TimeSignature(0, 4, 4),))

    assert compute_all(piece([48, 64, 67, 72]), ["tonal_closure"])["tonal_closure"] == 1.0
    assert compute_all(piece([52, 60, 67]), ["tonal_closure"])["tonal_closure"] == 0.0  # E bass
    half = compute_all(piece([48, 62, 65, 67]), ["tonal_closure"])["tonal_closure"]
    assert half == pytest.approx(2 / 4)  # C and G in the triad, D and F not


def test_a_primer_file_is_used_whole_or_its_last_bars(tmp_path: Path) -> None:
    """By default the whole file primes the model (not one bar of it); --primer-bars 2 takes
    the last two bars; the CLI says what it used."""
    from cadenza.midi import write_midi
    from cadenza.score import Score, Tempo, TimeSignature, make_notes

    starts = np.arange(0, 8 * 16, 2)  # 8 bars of eighth notes, a D minor scale up and down
    scale = [62, 64, 65, 67, 69, 70, 72, 74]
    pitches = [scale[i % 8] for i in range(len(starts))]
    score = Score(make_notes(starts, np.full(len(starts), 2), pitches), 4,
                  tempos=(Tempo(0, 90.0),), time_signatures=(TimeSignature(0, 4, 4),))
    primer = write_midi(score, tmp_path / "scale.mid")
    whole = compose(ComposeRequest(checkpoint="biaxial-piano", out_dir=tmp_path / "a",
                                   primer_file=primer, bars=1, seed=1))
    assert whole.pieces[0].generated_start_tick == 8 * 16
    assert "bars 1-8" in whole.primer_used and "90 bpm" in whole.primer_used
    last = compose(ComposeRequest(checkpoint="biaxial-piano", out_dir=tmp_path / "b",
                                  primer_file=primer, bars=1, seed=1, primer_bars=2))
    assert last.pieces[0].generated_start_tick == 2 * 16  # from bar 7: 2 bars, no silence
    assert "bars 7-8" in last.primer_used
    result = runner.invoke(app, ["generate", "--primer", str(primer), "--bars", "1",
                                 "--out", str(tmp_path / "c")])
    assert "primer: " in result.output and "bars 1-8" in result.output


def test_a_primer_in_a_metre_the_model_never_learned_is_refused(tmp_path: Path) -> None:
    from cadenza.midi import write_midi
    from cadenza.score import Score, TimeSignature, make_notes

    waltz = Score(make_notes(np.arange(0, 48, 4), np.full(12, 4), np.full(12, 60)), 4,
                  time_signatures=(TimeSignature(0, 3, 4),))
    path = write_midi(waltz, tmp_path / "waltz.mid")
    result = runner.invoke(app, ["generate", "biaxial-piano", "--primer", str(path),
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "the primer is in 3/4; this model learned metres of 2 or 4 beats only" in result.output


@pytest.mark.parametrize("model", ["biaxial-piano", "pianoroll-piano"])
def test_infill_keeps_every_other_bar_note_for_note(tmp_path: Path, model: str) -> None:
    from cadenza.midi import ReadOptions, load_piece, write_midi
    from cadenza.score import Score, TimeSignature, make_notes

    rng = np.random.default_rng(3)
    starts = np.arange(0, 6 * 16, 2)  # 6 bars of eighth notes with a bass every bar
    pitches = 60 + rng.integers(0, 12, len(starts))
    bass = np.arange(0, 6 * 16, 16)
    score = Score(make_notes(np.r_[starts, bass], np.r_[np.full(len(starts), 2),
                                                        np.full(len(bass), 16)],
                             np.r_[pitches, np.full(len(bass), 43)]), 4,
                  time_signatures=(TimeSignature(0, 4, 4),))
    piece = write_midi(score, tmp_path / "piece.mid")
    result = runner.invoke(app, ["generate", model, "--primer", str(piece), "--infill", "3-4",
                                 "--seed", "5", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    (out,) = (tmp_path / "out").glob("*.mid")
    original, _ = load_piece(piece, ReadOptions(time_signatures=None))
    filled, _ = load_piece(out, ReadOptions(time_signatures=None))

    def outside(notes: np.ndarray) -> list[tuple[int, int, int]]:
        keep = (notes["start"] < 32) | (notes["start"] >= 64)
        return sorted((int(n["start"]), int(n["duration"]), int(n["pitch"]))
                      for n in notes[keep])

    assert outside(filled.notes) == outside(original.notes)
    gap = filled.notes[(filled.notes["start"] >= 32) & (filled.notes["start"] < 64)]
    assert ((gap["start"] + gap["duration"]) <= 64).all()  # cut at the gap's end
    refused = runner.invoke(app, ["generate", model, "--primer", str(piece), "--infill", "1-2",
                                  "--out", str(tmp_path / "x")])
    assert refused.exit_code == 2 and "at least one bar" in refused.output


def test_infilling_a_composed_piece_keeps_one_marker_of_each(tmp_path: Path) -> None:
    """Issue 28: filling in a piece cadenza composed kept its seed and start markers beside the
    new ones (two of each). The new ones replace them; the file's other markers stay."""
    from cadenza.composing import SEED_MARKER
    from cadenza.midi import read_midi, write_midi
    from cadenza.score import GENERATED_MARKER, Marker, Score, TimeSignature, make_notes

    starts = np.arange(0, 6 * 16, 4)
    score = Score(make_notes(starts, np.full(len(starts), 4), 60 + starts % 12), 4,
                  time_signatures=(TimeSignature(0, 4, 4),),
                  markers=(Marker(0, f"{SEED_MARKER}3"), Marker(16, GENERATED_MARKER),
                           Marker(80, "Coda")))
    piece = write_midi(score, tmp_path / "composed.mid")
    result = runner.invoke(app, ["generate", "pianoroll-piano", "--primer", str(piece),
                                 "--infill", "3-4", "--candidates", "1", "--seed", "5",
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    (out,) = (tmp_path / "out").glob("*.mid")
    markers = sorted((m.text, m.tick) for m in read_midi(out).markers)
    assert markers == sorted([(f"{SEED_MARKER}5", 0), (GENERATED_MARKER, 32), ("Coda", 80)])


def test_infill_keeps_the_candidate_that_best_leads_into_the_rest(tmp_path: Path) -> None:
    from cadenza.midi import write_midi
    from cadenza.score import Score, TimeSignature, make_notes

    starts = np.arange(0, 5 * 16, 4)
    score = Score(make_notes(starts, np.full(len(starts), 4), 60 + (starts // 4) % 8), 4,
                  time_signatures=(TimeSignature(0, 4, 4),))
    piece = write_midi(score, tmp_path / "p.mid")
    result = compose(ComposeRequest(checkpoint="biaxial-piano", out_dir=tmp_path / "o",
                                    primer_file=piece, infill="2-3", infill_candidates=3,
                                    seed=1))
    scores = [result.stats[f"candidate_{i}_loglik"] for i in range(3)]
    assert len(set(scores)) > 1  # different gaps lead differently into bars 4-5
    assert result.stats["chosen_candidate"] == float(np.argmax(scores))


def test_ritardando_slows_the_last_two_bars(tmp_path: Path) -> None:
    request = ComposeRequest(checkpoint="biaxial-piano", out_dir=tmp_path, bars=4, seed=2,
                             composer="Bach", bpm=100, ending="cadence", ritardando=True)
    piece = compose(request).pieces[0]
    tempos = piece.score.tempos
    assert tempos[0].qpm == 100
    slowing = [t for t in tempos if t.tick > 0]
    assert len(slowing) == 8 and all(b.qpm < a.qpm for a, b in pairwise(slowing))
    assert slowing[-1].qpm == pytest.approx(70.0)
    last_bar = (piece.score.end_tick - 1) // 16 * 16
    assert slowing[0].tick == last_bar - 16  # from the first beat of the bar before the last


@pytest.mark.parametrize("preset", ["events-debug", "notetokens-debug"])
def test_token_families_keep_a_key_by_masking_their_vocabulary(preset: str) -> None:
    """The events pitch head and the note-token elements: out-of-key choices get weight 0."""
    import torch

    from cadenza.generation import GenerationConfig, generate
    from cadenza.models.registry import build_model, fit_config, get_preset
    from cadenza.representations import Events, NoteTokens
    from cadenza.score import Score, TimeSignature, make_notes

    starts = np.arange(0, 96, 2)
    chromatic = Score(make_notes(starts, np.full(len(starts), 2), 60 + (starts // 2) % 12), 4,
                      time_signatures=(TimeSignature(0, 4, 4),))
    rep = (Events(Events.config_class(steps_per_quarter=4))  # type: ignore[call-arg]
           if preset.startswith("events") else NoteTokens())
    rep.fit([chromatic])
    torch.manual_seed(0)
    model = build_model(fit_config(get_preset(preset), rep)).eval()
    primer = rep.encode(chromatic)[:8]
    weights = pitch_weights("C major")
    result = generate(model, rep, primer, GenerationConfig(length=60, seed=3, count=2,
                                                           pitch_weights=weights))
    free = generate(model, rep, primer, GenerationConfig(length=60, seed=3, count=2))
    in_c = {0, 2, 4, 5, 7, 9, 11}

    def generated_classes(arrays: list[np.ndarray]) -> set[int]:
        classes: set[int] = set()
        for array in arrays:
            notes = rep.decode(array).notes
            start = rep.onset_tick(array, len(primer))
            classes |= {int(p) % 12 for p in notes["pitch"][notes["start"] >= start]}
        return classes

    assert generated_classes(result.arrays) and generated_classes(result.arrays) <= in_c
    assert generated_classes(free.arrays) - in_c  # unmasked, other notes come


def test_density_keeps_onsets_per_beat_in_a_band(tmp_path: Path) -> None:
    """--density LOW..HIGH: the generated part's onsets per beat land in the band (within a
    quarter of an onset a beat: the rule steers, it does not cut), far from where the model
    goes on its own, and each band gives its own density."""
    from cadenza.sampling import parse_density

    def onsets_per_beat(density: str | None) -> float:
        request = ComposeRequest(checkpoint="biaxial-piano", out_dir=tmp_path, bars=8, seed=4,
                                 composer="Mozart", density=density, write_files=False,
                                 ending="none", form="none")  # no repeat copies a phrase
        piece = compose(request).pieces[0]
        assert [(s.numerator, s.denominator) for s in piece.score.time_signatures] == [(4, 4)]
        notes = piece.score.notes
        generated = notes[notes["start"] >= piece.generated_start_tick]
        return len(generated) / (8 * 4)

    free = onsets_per_beat(None)
    assert free > 3.0  # this model on its own, for this seed: about 4.2
    rates = {band: onsets_per_beat(band) for band in ("0.5..1", "1..2", "3..4", "5..8")}
    for band, rate in rates.items():
        low, high = parse_density(band)
        assert low - 0.25 <= rate <= high + 0.25, (band, rate, free)
    # Bands a clear step apart give densities a clear step apart, in the same order.
    assert rates["1..2"] - rates["0.5..1"] > 0.5 and rates["5..8"] - rates["3..4"] > 1.0
    assert rates["3..4"] - rates["1..2"] > 1.0
    with pytest.raises(ConfigError, match="density"):
        ComposeRequest(density="many")


def test_grid_models_end_on_a_cadence_by_default_and_within_the_range(tmp_path: Path) -> None:
    """--ending auto (the default): the held tonic chord with the tonic in the bass closes a
    grid piece; with a --range it is voiced inside the range; --ending none leaves it out."""
    def last_bar(**options: object) -> set[int]:
        piece = compose(ComposeRequest(checkpoint="biaxial-piano", out_dir=tmp_path, bars=4,
                                       seed=5, composer="Mozart", key="G major",
                                       write_files=False, **options)).pieces[0]
        notes = piece.score.notes
        bar = 4 * piece.score.ticks_per_quarter
        end = piece.generated_start_tick + 4 * bar
        return {int(p) for p in notes["pitch"][notes["start"] >= end - bar]}

    assert last_bar() == {55, 67, 71, 74}  # G3 G4 B4 D5: the open tonic chord
    # The nearest close triad inside the range, the tonic in the bass.
    assert last_bar(pitch_range="C4-C6") == {67, 71, 74}
    assert last_bar(ending="none") != {55, 67, 71, 74}


def test_from_silence_the_first_generated_step_is_a_downbeat(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a primer the walk starts from a silent step that closes a bar, so the model's
    beat inputs see the first generated step as a downbeat (they once saw it one sixteenth
    late, out of line with the plans); the piece starts at tick 0 and its cadence chord
    falls on the last bar line."""
    import cadenza
    from cadenza import composing

    seen: list[int] = []

    def spy(model: Any, rep: Any, primer: Any, config: Any) -> Any:
        seen.append(config.first_step + (1 if primer is None else len(primer)))
        return generate(model, rep, primer, config)

    generate = composing.generate
    monkeypatch.setattr(composing, "generate", spy)

    piece = cadenza.compose("biaxial-piano", bars=4, seed=5, no_primer=True, form="none",
                            ending="cadence", key="C major")
    assert piece.generated_start_tick == 0 and int(piece.notes["start"].min()) >= 0
    ends = piece.notes["start"] + piece.notes["duration"]
    last = piece.notes[ends > 48]
    assert (last["start"] == 48).all() and {int(p) % 12 for p in last["pitch"]} == {0, 4, 7}
    assert seen and seen[0] % 16 == 0  # the grid step of the first generated step
