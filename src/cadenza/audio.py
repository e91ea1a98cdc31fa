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
16-bit PCM stereo WAV. A silent render stays silent: nothing below :data:`SILENCE_FLOOR` is
ever amplified.

FluidSynth exits with status 0 even when it cannot load a SoundFont or a MIDI file, so both
are checked here first, and every problem becomes an :class:`~cadenza.errors.AudioError`
(or :class:`~cadenza.errors.MidiError` for a bad MIDI file) with a one-line message.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

from cadenza.errors import AudioError, ConfigError
from cadenza.fileio import remove_stale, write_bytes_atomic
from cadenza.midi import midi_bytes, read_midi
from cadenza.score import Score

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
DEFAULT_PEAK_DBFS = -1.0
SILENCE_FLOOR = 1e-6  # peaks below this (-120 dBFS of full scale) count as silence
SYNTH_GAIN = 0.5  # FluidSynth master gain; the float output is rescaled anyway
CHANNELS = 2  # FluidSynth renders stereo
RENDER_TIMEOUT_SECONDS = 900.0
INT16_FULL_SCALE = 32767


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


# -- levels ----------------------------------------------------------------------------------
def normalise(samples: np.ndarray, peak_dbfs: float = DEFAULT_PEAK_DBFS) -> np.ndarray:
    """Scale ``samples`` so the loudest one is at ``peak_dbfs`` and return 16-bit integers.

    Args:
        samples: audio of any shape, e.g. ``(frames, channels)``; floats with full scale 1.0,
            or integers with their type's full scale (int16: 32768).
        peak_dbfs: level of the loudest sample in dB relative to full scale, at most 0.

    Returns:
        An ``int16`` array of the same shape, never clipped. Silence (a peak below
        :data:`SILENCE_FLOOR` of full scale) comes back as zeros rather than amplified noise.

    Raises:
        ConfigError: ``peak_dbfs`` is above 0 dBFS or not finite.
        AudioError: the samples hold NaN or infinite values.
    """
    if not np.isfinite(peak_dbfs) or peak_dbfs > 0.0:
        raise ConfigError(f"peak_dbfs must be a finite level of at most 0 dBFS, got {peak_dbfs}")
    array = np.asarray(samples)
    if array.size == 0:
        return np.zeros(array.shape, dtype=np.int16)
    if np.issubdtype(array.dtype, np.integer):
        full_scale = float(np.iinfo(array.dtype).max) + 1.0
        values = array.astype(np.float64) / full_scale
    else:
        values = array.astype(np.float64, copy=False)
    if not np.isfinite(values).all():
        raise AudioError("rendered audio holds NaN or infinite samples")
    peak = float(np.abs(values).max())
    if peak < SILENCE_FLOOR:
        return np.zeros(array.shape, dtype=np.int16)
    target = INT16_FULL_SCALE * 10.0 ** (peak_dbfs / 20.0)
    scaled = np.rint(values * (target / peak))
    return np.clip(scaled, -INT16_FULL_SCALE, INT16_FULL_SCALE).astype(np.int16)


def encode_wav(samples: np.ndarray, sample_rate: int) -> bytes:
    """The bytes of a 16-bit PCM WAV file holding ``samples`` (int16, ``(frames, channels)``)."""
    if samples.dtype != np.int16 or samples.ndim != 2:
        raise ConfigError(
            f"WAV samples must be int16 of shape (frames, channels), got {samples.dtype} "
            f"{samples.shape}"
        )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(samples.shape[1])
        writer.setsampwidth(2)
        writer.setframerate(sample_rate)
        writer.writeframes(np.ascontiguousarray(samples, dtype="<i2").tobytes())
    return buffer.getvalue()


# -- temporary folders -----------------------------------------------------------------------
TEMP_PREFIX = "cadenza-audio-"
_cleaned = False


def remove_stale_renders(min_age: float | None = None, folder: str | Path | None = None) -> int:
    """Delete the temporary ``cadenza-audio-*`` folders that killed renders left behind.

    Only this user's folders older than ``min_age`` seconds (default: twice the longest a
    render may take) are removed, so a render running now is never disturbed. Returns how
    many were removed.
    """
    age = 2 * RENDER_TIMEOUT_SECONDS if min_age is None else min_age
    root = Path(folder or tempfile.gettempdir())
    try:
        candidates = list(root.glob(f"{TEMP_PREFIX}*"))
    except OSError:
        return 0
    removed = remove_stale(candidates, age, own_folders_only=True)
    if removed:
        log.info("removed %d leftover render folder(s) in %s", removed, root)
    return removed


def _clean_once() -> None:
    global _cleaned
    if not _cleaned:
        _cleaned = True
        remove_stale_renders()


# -- rendering -------------------------------------------------------------------------------
def render_samples(
    score_or_midi_path: Score | str | Path,
    *,
    soundfont: str | Path | None = None,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
) -> np.ndarray:
    """Synthesise a score or a MIDI file; returns float32 samples ``(frames, 2)``, unscaled.

    A MIDI file is checked with :func:`cadenza.midi.read_midi` and then rendered as it is
    (every track, programme and drum part); a score is played on an acoustic piano.
    The audio lasts as long as the music plus FluidSynth's release and reverb tail.

    Raises:
        AudioError: fluidsynth or the SoundFont is missing, or the synthesiser failed.
        MidiError: the MIDI file is missing, not MIDI, corrupt or has no notes.
        ConfigError: ``sample_rate`` is outside 8000..96000 Hz.
    """
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise ConfigError(
            f"sample_rate must be within {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz, got {sample_rate}"
        )
    if not isinstance(score_or_midi_path, Score):
        read_midi(score_or_midi_path)  # FluidSynth would render silence from a bad file
    program = find_fluidsynth()
    font = find_soundfont(soundfont).resolve()
    _clean_once()
    with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX) as tmp:
        if isinstance(score_or_midi_path, Score):
            midi_path = Path(tmp) / "score.mid"
            midi_path.write_bytes(midi_bytes(score_or_midi_path))
        else:
            midi_path = Path(score_or_midi_path).resolve()  # absolute: never read as an option
        raw_path = Path(tmp) / "render.raw"
        command = [
            str(program), "-n", "-i",
            "-F", str(raw_path), "-T", "raw", "-O", "float", "-E", "little",
            "-r", str(int(sample_rate)), "-g", str(SYNTH_GAIN),
            str(font), str(midi_path),
        ]
        log.info("rendering %s with %s", midi_path.name, font)
        _run(command)
        if not raw_path.is_file():
            raise AudioError(f"{FLUIDSYNTH_PROGRAM} wrote no audio for {midi_path}")
        data = np.fromfile(raw_path, dtype="<f4")
    frames = data.size // CHANNELS
    return data[: frames * CHANNELS].reshape(frames, CHANNELS)  # (frames, 2)


def _run(command: list[str]) -> None:
    """Run FluidSynth, turning a failure or a timeout into a one-line :class:`AudioError`."""
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=RENDER_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        raise AudioError(
            f"{FLUIDSYNTH_PROGRAM} did not finish within {RENDER_TIMEOUT_SECONDS:.0f} s"
        ) from None
    except OSError as exc:
        raise AudioError(f"could not run {command[0]}: {exc.strerror or exc}") from None
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        detail = lines[-1].strip() if lines else "no message"
        raise AudioError(f"{FLUIDSYNTH_PROGRAM} failed with status {done.returncode}: {detail}")
    if done.stderr.strip():
        log.debug("fluidsynth: %s", done.stderr.strip())


def wav_bytes(
    score_or_midi_path: Score | str | Path,
    *,
    soundfont: str | Path | None = None,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    peak_dbfs: float = DEFAULT_PEAK_DBFS,
) -> bytes:
    """The bytes of a normalised 16-bit stereo WAV of a score or a MIDI file.

    See :func:`render_samples` for what is rendered and what is raised.
    """
    samples = normalise(
        render_samples(score_or_midi_path, soundfont=soundfont, sample_rate=sample_rate),
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
) -> Path:
    """Render a score or a MIDI file to a normalised 16-bit WAV at ``out_path``, atomically.

    Returns:
        ``out_path``.

    Raises:
        ConfigError: ``out_path`` exists and ``overwrite`` is false, or is a folder.
        AudioError, MidiError: see :func:`render_samples`.
    """
    out = Path(out_path)
    check_output_path(out, overwrite)
    data = wav_bytes(
        score_or_midi_path, soundfont=soundfont, sample_rate=sample_rate, peak_dbfs=peak_dbfs
    )
    write_bytes_atomic(out, data)
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
