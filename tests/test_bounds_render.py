"""Rendering is bounded: a duration cap checked before FluidSynth starts and enforced while it
runs, audio streamed to the WAV in chunks, and temporary files that go on Ctrl-C, SIGTERM or
at the next start after a crash. A fake ``fluidsynth`` that writes for ever stands in for the
real one where a test needs a render that does not end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hostile_midi import invoke_timed, one_note_file, silence_after_a_note
from typer.testing import CliRunner

from cadenza import synthrun, wavfile
from cadenza.audio import render_wav
from cadenza.cli import app
from cadenza.errors import AudioError, ConfigError, MidiError
from cadenza.score import Score, Tempo
from cadenza.wavfile import encode_wav, normalise, write_normalised_wav

ROOT = Path(__file__).resolve().parents[1]
FAKE_SYNTH = """#!{python}
import os, sys, time
out = sys.argv[sys.argv.index("-F") + 1]
with open(os.environ["FAKE_SYNTH_PID"], "w") as note:
    note.write(str(os.getpid()))
with open(out, "wb") as raw:
    while True:
        raw.write(bytes(8192))
        raw.flush()
        time.sleep({pause})
"""


def _fake_synth(folder: Path, pause: float = 0.01) -> dict[str, str]:
    """A ``fluidsynth`` that writes silence until it is killed, a SoundFont for it, and the
    environment to find them with (it notes its process id in ``folder/pid``)."""
    folder.mkdir(parents=True, exist_ok=True)
    program = folder / "fluidsynth"
    program.write_text(FAKE_SYNTH.format(python=sys.executable, pause=pause))
    program.chmod(0o755)
    font = folder / "fake.sf2"
    font.write_bytes(b"RIFF\0\0\0\0sfbk")
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}",
            "CADENZA_SOUNDFONT": str(font), "FAKE_SYNTH_PID": str(folder / "pid")}


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie waiting for its reaper counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return True
    return state in ("Z", "X")


# -- the duration cap ------------------------------------------------------------------------
def test_render_refuses_a_file_that_plays_for_hours_before_it_starts(tmp_path: Path) -> None:
    """Its one note is short, so the reader's limit passes it, but FluidSynth would play it
    to its last event: 2**27 ticks, 39 hours of raw audio written at 100 MB/s."""
    path = tmp_path / "silent.mid"
    path.write_bytes(silence_after_a_note(2**27))
    result, seconds = invoke_timed(["render", str(path)])
    assert seconds < 5.0  # generous: the refusal is immediate
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "silent.mid: too-long" in result.output and "minutes of audio" in result.output
    assert "more than the 30 allowed" in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["silent.mid"]


def test_the_cap_is_a_keyword_and_an_option(tmp_path: Path, tiny_score: Score) -> None:
    slow = tiny_score.copy_with(tempos=(Tempo(0, 2.0),))  # 2 quarters a minute
    minutes = slow.seconds() / 60
    assert 1 < minutes < 30
    with pytest.raises(AudioError, match=f"{minutes:,.1f} minutes of audio, more than the 1 "):
        render_wav(slow, tmp_path / "slow.wav", max_minutes=1)
    with pytest.raises(ConfigError, match="max_minutes"):
        render_wav(slow, tmp_path / "slow.wav", max_minutes=0)
    path = tmp_path / "long.mid"
    path.write_bytes(one_note_file(480 * 240))  # a note after 2 minutes at 120 qpm
    result = CliRunner().invoke(app, ["render", str(path), "--max-minutes", "1.5"])
    assert result.exit_code == 2 and "more than the 1.5 allowed" in result.output
    assert not (tmp_path / "slow.wav").exists() and not (tmp_path / "long.wav").exists()


def test_a_synthesiser_that_writes_too_much_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in _fake_synth(tmp_path / "bin", pause=0).items():
        monkeypatch.setenv(name, value)
    raw = tmp_path / "render.raw"
    began = time.monotonic()
    with pytest.raises(AudioError, match=r"piece\.mid: fluidsynth wrote more than 1 MB"):
        synthrun.run_synth([str(tmp_path / "bin" / "fluidsynth"), "-F", str(raw)], raw,
                           1_000_000, "piece.mid")
    assert time.monotonic() - began < 10.0
    assert raw.stat().st_size < 50_000_000  # stopped within a few polls
    assert _gone(int((tmp_path / "bin" / "pid").read_text()))


# -- streaming -------------------------------------------------------------------------------
def test_the_streamed_wav_is_the_one_made_in_memory(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wavfile, "CHUNK_FRAMES", 1000)  # many chunks, one of them short
    rng = np.random.default_rng(3)
    samples = (rng.standard_normal((10_500, 2)) * 0.3).astype("<f4")
    raw = tmp_path / "render.raw"
    raw.write_bytes(samples.tobytes() + b"\x01\x02")  # and a cut-off frame, left out
    write_normalised_wav(raw, tmp_path / "out.wav", 22050, -3.0)
    assert (tmp_path / "out.wav").read_bytes() == encode_wav(normalise(samples, -3.0), 22050)
    raw.write_bytes(np.zeros((5000, 2), "<f4").tobytes())  # silence stays silence
    write_normalised_wav(raw, tmp_path / "quiet.wav", 8000)
    assert (tmp_path / "quiet.wav").read_bytes() == encode_wav(np.zeros((5000, 2), np.int16),
                                                               8000)
    raw.write_bytes(np.array([[0.1, np.nan]], "<f4").tobytes())
    with pytest.raises(AudioError, match="NaN"):
        write_normalised_wav(raw, tmp_path / "bad.wav", 8000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav", "quiet.wav",
                                                          "render.raw"]  # no temporary left


def test_streaming_holds_a_few_chunks_not_the_audio(tmp_path: Path) -> None:
    frames = 6_000_000  # 48 MB of raw float audio, 2 min 16 s at 44.1 kHz
    raw = tmp_path / "render.raw"
    with open(raw, "wb") as handle:
        for _ in range(frames // 1_000_000):
            handle.write(np.full((1_000_000, 2), 0.25, "<f4").tobytes())
    tracemalloc.start()
    try:
        write_normalised_wav(raw, tmp_path / "out.wav", 44100)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 40_000_000  # the whole audio as float64 alone would be 96 MB
    assert (tmp_path / "out.wav").stat().st_size == 44 + frames * 4


# -- temporary files -------------------------------------------------------------------------
def _interruptible() -> None:
    """Ctrl-C as in a terminal, even when the tests run as a background job (which starts
    its children with SIGINT ignored, so Python would never raise KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_render_leaves_no_temporary_files(tmp_path: Path, signum: int) -> None:
    env = _fake_synth(tmp_path / "bin")
    temp = tmp_path / "tmp"
    temp.mkdir()
    piece = tmp_path / "piece.mid"
    piece.write_bytes(one_note_file(480))
    env.update(TMPDIR=str(temp), PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1")
    render = subprocess.Popen([sys.executable, "-m", "cadenza", "render", str(piece)],
                              env={**os.environ, **env}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, preexec_fn=_interruptible)
    deadline = time.monotonic() + 60
    while not list(temp.glob("cadenza-audio-*/render.raw")):
        assert render.poll() is None and time.monotonic() < deadline, render.stdout
        time.sleep(0.05)
    render.send_signal(signum)
    output = render.communicate(timeout=30)[0].decode()
    assert render.returncode == (130 if signum == signal.SIGINT else 128 + signum), output
    assert list(temp.iterdir()) == [] and not (tmp_path / "piece.wav").exists()
    assert _gone(int((tmp_path / "bin" / "pid").read_text()))


def test_leftovers_of_a_dead_process_are_swept_at_once(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    tag = synthrun._host_tag()
    names = {
        "dead": f"{synthrun.TEMP_PREFIX}{dead}-{tag}-abc",
        "mine": f"{synthrun.TEMP_PREFIX}{os.getpid()}-{tag}-abc",
        "parent": f"{synthrun.TEMP_PREFIX}{os.getppid()}-{tag}-abc",
        "elsewhere": f"{synthrun.TEMP_PREFIX}{dead}-00000000-abc",  # another machine's
    }
    for name in names.values():
        (tmp_path / name).mkdir()
        (tmp_path / name / "render.raw").write_bytes(bytes(64))
    assert synthrun.remove_stale_renders(folder=tmp_path) == 1  # fresh, but its process ended
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        names[k] for k in ("mine", "parent", "elsewhere"))


def test_sigterm_is_caught_only_where_nobody_else_handles_it() -> None:
    """In the main thread with the default action, SIGTERM becomes an exit that cleans up;
    a handler that a server set is left as it is."""
    previous = signal.getsignal(signal.SIGTERM)
    with synthrun.render_folder() as folder:
        assert folder.is_dir() and folder.name.startswith(synthrun.TEMP_PREFIX)
        assert signal.getsignal(signal.SIGTERM) is not previous
    assert signal.getsignal(signal.SIGTERM) is previous and not folder.exists()

    def handler(signum: int, frame: object) -> None:
        """A server's own."""

    signal.signal(signal.SIGTERM, handler)
    try:
        with synthrun.render_folder():
            assert signal.getsignal(signal.SIGTERM) is handler
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_bad_file_is_named_before_the_synthesiser_is_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no fluidsynth at all
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"RIFF, not MIDI")
    with pytest.raises(MidiError, match=r"bad\.mid: not-midi"):
        render_wav(bad, tmp_path / "bad.wav")
