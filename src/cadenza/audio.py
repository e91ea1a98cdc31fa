"""Render scores and MIDI files to WAV through a General MIDI SoundFont with FluidSynth.

The synthesiser is the ``fluidsynth`` command-line program (Debian package ``fluidsynth``)
in its fast-render mode rather than the ``pyfluidsynth`` bindings: the program is what the
distribution ships and tests, it needs no compiled Python extension matched to the library
version, and a crash or hang inside the synthesiser stays in a child process (which matters
for a long-running web server) and can be bounded by a timeout.

FluidSynth writes raw little-endian 32-bit float samples, not a 16-bit WAV: its 16-bit
output clips wherever many voices sum above full scale, before anything could rescale them,
and the standard-library ``wave`` module cannot read float WAV files. The float samples are
then scaled so that the loudest one sits at ``peak_dbfs`` (-1 dBFS by default) and written as
16-bit PCM stereo WAV (:mod:`cadenza.wavfile`). A silent render stays silent: nothing below
:data:`SILENCE_FLOOR` is ever amplified.

A render is bounded: a piece that would last longer than ``max_minutes`` (30 by default)
is refused before FluidSynth starts, the MIDI file measured to its last event (which is
where FluidSynth stops), and FluidSynth is stopped should it write more audio than that
anyway. :func:`render_wav` streams the raw audio to the WAV file in chunks, never holding
it in memory whole; its temporary files go when it ends, fails, is interrupted or
terminated, or at the next render after a crash (:mod:`cadenza.synthrun`).

FluidSynth exits with status 0 even when it cannot load a SoundFont or a MIDI file, so both
are checked here first, and every problem becomes an :class:`~cadenza.errors.AudioError`
(or :class:`~cadenza.errors.MidiError` for a bad MIDI file) with a one-line message.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from cadenza.errors import AudioError, ConfigError, MidiError, printable_path
from cadenza.midi import midi_bytes, parse_midi_bytes, read_file_bytes
from cadenza.midiscan import last_tick
from cadenza.score import Score, ticks_to_seconds
from cadenza.synthrun import RENDER_TIMEOUT_SECONDS as RENDER_TIMEOUT_SECONDS
from cadenza.synthrun import TEMP_PREFIX as TEMP_PREFIX
from cadenza.synthrun import remove_stale_renders as remove_stale_renders
from cadenza.synthrun import render_folder, run_synth
from cadenza.wavfile import CHANNELS as CHANNELS
from cadenza.wavfile import DEFAULT_PEAK_DBFS, check_peak_dbfs, write_normalised_wav
from cadenza.wavfile import SILENCE_FLOOR as SILENCE_FLOOR
from cadenza.wavfile import encode_wav as encode_wav
from cadenza.wavfile import normalise as normalise

log = logging.getLogger(__name__)

SOUNDFONT_ENV = "CADENZA_SOUNDFONT"
# Where Debian's General MIDI SoundFonts live, in order of preference.
SOUNDFONT_PATHS: tuple[str, ...] = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
)
SOUNDFONT_GLOBS: tuple[tuple[str, str], ...] = (("/usr/share/soundfonts", "*.sf2"),)
SOUNDFONT_PACKAGE = "fluid-soundfont-gm"
FLUIDSYNTH_PROGRAM = "fluidsynth"
FLUIDSYNTH_PACKAGE = "fluidsynth"

DEFAULT_SAMPLE_RATE = 44100
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8000, 96000  # FluidSynth's accepted synth.sample-rate
SYNTH_GAIN = 0.5  # FluidSynth master gain; the float output is rescaled anyway
DEFAULT_MAX_MINUTES = 30.0  # the longest piano-midi.de piece lasts 22 minutes
TAIL_SECONDS = 30.0  # FluidSynth's release and reverb tail, allowed beyond the music
RAW_SAMPLE_BYTES = 4  # FluidSynth writes float32


# -- finding the tools -----------------------------------------------------------------------
def find_soundfont(explicit: str | Path | None = None) -> Path:
    """The SoundFont to render with: ``explicit``, then ``$CADENZA_SOUNDFONT``, then Debian's.

    Raises:
        AudioError: the explicit or environment SoundFont does not exist or is not a SoundFont,
            or none of the usual paths holds one.
    """
    if explicit is not None and str(explicit) != "":
        return _checked_soundfont(Path(explicit), "SoundFont")
    from_env = os.environ.get(SOUNDFONT_ENV, "")
    if from_env:
        return _checked_soundfont(Path(from_env), f"SoundFont from ${SOUNDFONT_ENV}")
    candidates = [Path(p) for p in SOUNDFONT_PATHS]
    for folder, pattern in SOUNDFONT_GLOBS:
        if Path(folder).is_dir():
            candidates.extend(sorted(Path(folder).glob(pattern)))
    for candidate in candidates:
        if candidate.is_file() and _is_soundfont(candidate):
            return candidate
    searched = ", ".join([*SOUNDFONT_PATHS, *(f"{d}/{g}" for d, g in SOUNDFONT_GLOBS)])
    raise AudioError(
        f"no General MIDI SoundFont found (looked at {searched}); install the Debian package "
        f"{SOUNDFONT_PACKAGE} or set {SOUNDFONT_ENV}"
    )


def _checked_soundfont(path: Path, what: str) -> Path:
    if not path.is_file():
        raise AudioError(
            f"{what} {path} not found; install the Debian package {SOUNDFONT_PACKAGE} "
            "or give an existing .sf2 file"
        )
    if not _is_soundfont(path):
        raise AudioError(f"{what} {path} is not a SoundFont (expected a RIFF sfbk .sf2 file)")
    return path


def _is_soundfont(path: Path) -> bool:
    """Whether ``path`` starts like a SoundFont 2 file (``RIFF`` .... ``sfbk``)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
    except OSError:
        return False
    return len(head) == 12 and head[:4] == b"RIFF" and head[8:12] == b"sfbk"


def find_fluidsynth() -> Path:
    """The ``fluidsynth`` program on ``PATH``.

    Raises:
        AudioError: it is not installed.
    """
    found = shutil.which(FLUIDSYNTH_PROGRAM)
    if found is None:
        raise AudioError(
            f"the {FLUIDSYNTH_PROGRAM} program was not found on PATH; install the Debian "
            f"package {FLUIDSYNTH_PACKAGE}"
        )
    return Path(found)


# -- what is rendered ------------------------------------------------------------------------
def _checked_input(
    score_or_midi_path: Score | str | Path, max_minutes: float
) -> tuple[bytes, str]:
    """The MIDI bytes to render and the name that messages give them, once the piece is
    known to last at most ``max_minutes``. A file is read and checked by cadenza's MIDI
    reader (FluidSynth would render silence from a bad one) and rendered as read, so the
    bytes checked are the bytes played."""
    if not (math.isfinite(max_minutes) and max_minutes > 0):
        raise ConfigError(f"max_minutes must be a positive number of minutes, got {max_minutes}")
    if isinstance(score_or_midi_path, Score):
        score = score_or_midi_path
        name = score.name or "score"
        seconds = score.seconds()
        if seconds > max_minutes * 60:
            raise AudioError(f"{name}: {seconds / 60:,.1f} minutes of audio, more than the "
                             f"{max_minutes:g} allowed")
        return midi_bytes(score), name
    path = Path(score_or_midi_path)
    data = read_file_bytes(path)
    score = parse_midi_bytes(data, path)
    try:  # FluidSynth plays a file up to its last event, whatever that is
        end = max(last_tick(data, path), score.end_tick)
    except MidiError:  # a file too odd to walk: its notes, and the cap on what is written
        end = score.end_tick
    seconds = ticks_to_seconds(end, score.ticks_per_quarter, score.tempos)
    if seconds > max_minutes * 60:
        raise MidiError(path, "too-long", f"{seconds / 60:,.1f} minutes of audio, more than "
                        f"the {max_minutes:g} allowed (--max-minutes)")
    return data, printable_path(path)


def _check_sample_rate(sample_rate: int) -> None:
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise ConfigError(
            f"sample_rate must be within {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz, got {sample_rate}"
        )


@contextlib.contextmanager
def _rendered(
    score_or_midi_path: Score | str | Path,
    soundfont: str | Path | None,
    sample_rate: int,
    max_minutes: float,
) -> Iterator[Path]:
    """Render into a temporary raw float32 stereo file and yield its path; the file and
    its folder are gone once the block ends, however it ends."""
    _check_sample_rate(sample_rate)
    data, name = _checked_input(score_or_midi_path, max_minutes)
    program = find_fluidsynth()
    font = find_soundfont(soundfont).resolve()
    frames = int((max_minutes * 60 + TAIL_SECONDS) * sample_rate)
    with render_folder() as tmp:
        midi_path = tmp / "input.mid"  # absolute: never read as an option
        midi_path.write_bytes(data)
        raw_path = tmp / "render.raw"
        command = [
            str(program), "-n", "-i",
            "-F", str(raw_path), "-T", "raw", "-O", "float", "-E", "little",
            "-r", str(int(sample_rate)), "-g", str(SYNTH_GAIN),
            str(font), str(midi_path),
        ]
        log.info("rendering %s with %s", name, font)
        run_synth(command, raw_path, frames * CHANNELS * RAW_SAMPLE_BYTES, name)
        if not raw_path.is_file():
            raise AudioError(f"{FLUIDSYNTH_PROGRAM} wrote no audio for {name}")
        yield raw_path


# -- rendering -------------------------------------------------------------------------------
def render_samples(
    score_or_midi_path: Score | str | Path,
    *,
    soundfont: str | Path | None = None,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    max_minutes: float = DEFAULT_MAX_MINUTES,
) -> np.ndarray:
    """Synthesise a score or a MIDI file; returns float32 samples ``(frames, 2)``, unscaled.

    A MIDI file is checked with cadenza's MIDI reader and then rendered as it is (every
    track, programme and drum part); a score is played on an acoustic piano. The audio
    lasts as long as the music plus FluidSynth's release and reverb tail, and the music at
    most ``max_minutes``. The samples are held in memory: :func:`render_wav` streams them.

    Raises:
        AudioError: fluidsynth or the SoundFont is missing, the synthesiser failed, or a
            score lasts longer than ``max_minutes``.
        MidiError: the MIDI file is missing, not MIDI, corrupt, has no notes, or is too
            long (past the reader's limit, or lasting longer than ``max_minutes``).
        ConfigError: ``sample_rate`` is outside 8000..96000 Hz, or ``max_minutes`` is not
            a positive number.
    """
    with _rendered(score_or_midi_path, soundfont, sample_rate, max_minutes) as raw_path:
        data = np.fromfile(raw_path, dtype="<f4")
    frames = data.size // CHANNELS
    return data[: frames * CHANNELS].reshape(frames, CHANNELS)  # (frames, 2)


def wav_bytes(
    score_or_midi_path: Score | str | Path,
    *,
    soundfont: str | Path | None = None,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    peak_dbfs: float = DEFAULT_PEAK_DBFS,
    max_minutes: float = DEFAULT_MAX_MINUTES,
) -> bytes:
    """The bytes of a normalised 16-bit stereo WAV of a score or a MIDI file, in memory.

    See :func:`render_samples` for what is rendered and what is raised.
    """
    samples = normalise(
        render_samples(score_or_midi_path, soundfont=soundfont, sample_rate=sample_rate,
                       max_minutes=max_minutes),
        peak_dbfs,
    )
    return encode_wav(samples, sample_rate)


def render_wav(
    score_or_midi_path: Score | str | Path,
    out_path: str | Path,
    *,
    soundfont: str | Path | None = None,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    peak_dbfs: float = DEFAULT_PEAK_DBFS,
    overwrite: bool = False,
    max_minutes: float = DEFAULT_MAX_MINUTES,
) -> Path:
    """Render a score or a MIDI file to a normalised 16-bit WAV at ``out_path``, atomically.

    The raw audio goes from FluidSynth to a temporary file and from there to the WAV in
    chunks, so memory stays small however long the piece; ``max_minutes`` bounds how long
    that may be (the web page passes its own).

    Returns:
        ``out_path``.

    Raises:
        ConfigError: ``out_path`` exists and ``overwrite`` is false, or is a folder;
            ``peak_dbfs`` is above 0 dBFS.
        AudioError, MidiError: see :func:`render_samples`.
    """
    out = Path(out_path)
    check_output_path(out, overwrite)
    check_peak_dbfs(peak_dbfs)
    with _rendered(score_or_midi_path, soundfont, sample_rate, max_minutes) as raw_path:
        write_normalised_wav(raw_path, out, sample_rate, peak_dbfs)
    log.info("wrote %s", out)
    return out


def check_output_path(path: Path, overwrite: bool) -> None:
    """Refuse to replace a folder, or an existing file unless ``overwrite`` is set.

    Raises:
        ConfigError: naming ``path``.
    """
    if path.is_dir():
        raise ConfigError(f"{path} is a folder; give a file name")
    if path.exists() and not overwrite:
        raise ConfigError(f"{path} already exists; pass --overwrite or choose another name")
