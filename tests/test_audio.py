"""Audio: normalisation, SoundFont / FluidSynth lookup and WAV rendering through FluidSynth."""

from __future__ import annotations

import shutil
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cadenza import audio
from cadenza.audio import find_soundfont, normalise, render_wav, wav_bytes
from cadenza.errors import AudioError, ConfigError, MidiError
from cadenza.midi import write_midi
from cadenza.score import Score

PEAK_TARGET = round(32767 * 10 ** (-1.0 / 20))  # -1 dBFS in 16-bit


def _soundfont_or_skip() -> Path:
    if shutil.which("fluidsynth") is None:
        pytest.skip("fluidsynth is not installed (Debian package: fluidsynth)")
    try:
        return find_soundfont()
    except AudioError as exc:
        pytest.skip(f"no General MIDI SoundFont (Debian package: fluid-soundfont-gm): {exc}")


def _read_wav(path: Path) -> tuple[Any, np.ndarray]:
    with wave.open(str(path), "rb") as reader:
        params = reader.getparams()
        frames = reader.readframes(params.nframes)
    samples = np.frombuffer(frames, dtype="<i2").reshape(-1, params.nchannels)
    return params, samples


# -- normalise -------------------------------------------------------------------------------
def test_normalise_silence_stays_silent() -> None:
    assert not normalise(np.zeros((1000, 2), dtype=np.float32)).any()
    tiny = np.full((100, 2), 1e-9, dtype=np.float32)  # numerical dust, not music
    assert not normalise(tiny).any()
    assert normalise(np.zeros((0, 2))).shape == (0, 2)


@pytest.mark.parametrize("peak_in", [1e-3, 0.3, 1.0, 4.7])
def test_normalise_puts_the_peak_at_the_target(peak_in: float) -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(-1.0, 1.0, size=(5000, 2))
    x = x / np.abs(x).max() * peak_in
    y = normalise(x, peak_dbfs=-1.0)
    assert y.dtype == np.int16 and y.shape == x.shape
    assert abs(int(np.abs(y.astype(np.int32)).max()) - PEAK_TARGET) <= 1
    # The shape of the wave is kept: a linear scaling, up to rounding.
    scale = PEAK_TARGET / peak_in
    assert np.abs(y - x * scale).max() <= 1.0


def test_normalise_never_clips_at_full_scale() -> None:
    x = np.array([[-3.0, 3.0], [0.5, -0.25]])
    y = normalise(x, peak_dbfs=0.0)
    assert y.max() == 32767 and y.min() == -32767
    assert y[1, 0] == round(32767 / 6) and y[1, 1] == round(-32767 / 12)


def test_normalise_integer_input_uses_its_full_scale() -> None:
    x = np.array([[16384, -8192]], dtype=np.int16)
    y = normalise(x, peak_dbfs=-6.0)
    assert y[0, 0] == round(32767 * 10 ** (-6 / 20))
    assert y[0, 1] == round(-32767 * 10 ** (-6 / 20) / 2)


def test_normalise_rejects_bad_levels_and_values() -> None:
    with pytest.raises(ConfigError, match="peak_dbfs"):
        normalise(np.ones(4), peak_dbfs=1.0)
    with pytest.raises(AudioError, match="NaN"):
        normalise(np.array([0.1, np.nan]))


# -- lookup errors ---------------------------------------------------------------------------
def test_missing_explicit_soundfont_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.sf2"
    with pytest.raises(AudioError, match=r"nothing\.sf2.*fluid-soundfont-gm"):
        find_soundfont(missing)


def test_missing_env_soundfont_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CADENZA_SOUNDFONT", str(tmp_path / "env.sf2"))
    with pytest.raises(AudioError, match=r"CADENZA_SOUNDFONT.*env\.sf2"):
        find_soundfont()


def test_no_soundfont_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CADENZA_SOUNDFONT", raising=False)
    monkeypatch.setattr(audio, "SOUNDFONT_PATHS", (str(tmp_path / "a.sf2"),))
    monkeypatch.setattr(audio, "SOUNDFONT_GLOBS", ((str(tmp_path), "*.sf2"),))
    with pytest.raises(AudioError, match="fluid-soundfont-gm") as info:
        find_soundfont()
    assert "\n" not in str(info.value)


def test_file_that_is_not_a_soundfont(tmp_path: Path) -> None:
    fake = tmp_path / "fake.sf2"
    fake.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt ")
    with pytest.raises(AudioError, match="not a SoundFont"):
        find_soundfont(fake)


def test_soundfont_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    header = b"RIFF\x00\x00\x00\x00sfbkLIST"
    first, globbed, env = tmp_path / "first.sf2", tmp_path / "g" / "b.sf2", tmp_path / "e.sf2"
    globbed.parent.mkdir()
    for path in (first, globbed, env):
        path.write_bytes(header)
    monkeypatch.delenv("CADENZA_SOUNDFONT", raising=False)
    monkeypatch.setattr(audio, "SOUNDFONT_PATHS", (str(tmp_path / "absent.sf2"), str(first)))
    monkeypatch.setattr(audio, "SOUNDFONT_GLOBS", ((str(globbed.parent), "*.sf2"),))
    assert find_soundfont() == first
    monkeypatch.setattr(audio, "SOUNDFONT_PATHS", (str(tmp_path / "absent.sf2"),))
    assert find_soundfont() == globbed
    monkeypatch.setenv("CADENZA_SOUNDFONT", str(env))
    assert find_soundfont() == env
    assert find_soundfont(first) == first


def test_missing_fluidsynth(tiny_score: Score, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a folder without fluidsynth
    with pytest.raises(AudioError, match=r"fluidsynth.*PATH.*Debian package fluidsynth"):
        wav_bytes(tiny_score)
    assert not (tmp_path / "out.wav").exists()


def test_refuses_to_overwrite(tiny_score: Score, tmp_path: Path) -> None:
    out = tmp_path / "piece.wav"
    out.write_bytes(b"keep me")
    with pytest.raises(ConfigError, match="already exists"):
        render_wav(tiny_score, out)
    assert out.read_bytes() == b"keep me"


def test_bad_midi_file_is_a_midi_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mid"
    bad.write_text("not midi")
    with pytest.raises(MidiError, match="not-midi"):
        wav_bytes(bad)


# -- rendering -------------------------------------------------------------------------------
def test_render_tiny_score(tiny_score: Score, tmp_path: Path) -> None:
    _soundfont_or_skip()
    out = render_wav(tiny_score, tmp_path / "tiny.wav", sample_rate=22050)
    params, samples = _read_wav(out)
    assert (params.nchannels, params.sampwidth, params.framerate) == (2, 2, 22050)
    seconds = params.nframes / params.framerate
    # The music plus FluidSynth's release and reverb tail, a few seconds at most.
    assert tiny_score.seconds() < seconds < tiny_score.seconds() + 4.0
    peak = int(np.abs(samples.astype(np.int32)).max())
    assert abs(peak - PEAK_TARGET) <= 1  # normalised to -1 dBFS, so never clipped
    # Sound where the notes are: the first half second is far from silent.
    head = samples[: params.framerate // 2].astype(np.float64)
    assert np.sqrt((head**2).mean()) > 300
    # Overwriting is allowed when asked, and a MIDI file renders like its score.
    midi = write_midi(tiny_score, tmp_path / "tiny.mid")
    again = render_wav(midi, out, sample_rate=22050, overwrite=True)
    assert _read_wav(again)[0].nframes == params.nframes


def test_empty_score_renders_silence(tiny_score: Score) -> None:
    _soundfont_or_skip()
    empty = tiny_score.copy_with(notes=tiny_score.notes[:0])
    data = wav_bytes(empty, sample_rate=8000)
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    samples = np.frombuffer(data[44:], dtype="<i2")
    assert samples.size > 0 and not samples.any()
