"""Levels and 16-bit WAV files: from float samples in memory, or streamed from a raw file.

The synthesiser writes raw little-endian 32-bit float samples. :func:`normalise` scales an
array of them so that the loudest sample sits at ``peak_dbfs``; :func:`write_normalised_wav`
does the same to a raw file of any length in two passes of :data:`CHUNK_FRAMES` frames (the
peak, then the scaled samples), so the audio is never held in memory whole, and writes the
WAV atomically. Both give the same samples, bit for bit.
"""

from __future__ import annotations

import io
import os
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from cadenza.errors import AudioError, ConfigError
from cadenza.fileio import open_atomic

DEFAULT_PEAK_DBFS = -1.0
SILENCE_FLOOR = 1e-6  # peaks below this (-120 dBFS of full scale) count as silence
CHANNELS = 2  # FluidSynth renders stereo
INT16_FULL_SCALE = 32767
RAW_FRAME_BYTES = 4 * CHANNELS  # one float32 sample per channel
CHUNK_FRAMES = 1 << 18  # 2 MiB of raw audio at a time (about 6 s at 44.1 kHz)


def check_peak_dbfs(peak_dbfs: float) -> None:
    """Raise :class:`ConfigError` unless ``peak_dbfs`` is a finite level of at most 0 dBFS."""
    if not np.isfinite(peak_dbfs) or peak_dbfs > 0.0:
        raise ConfigError(f"peak_dbfs must be a finite level of at most 0 dBFS, got {peak_dbfs}")


def _gain(peak: float, peak_dbfs: float) -> float | None:
    """What multiplies samples of loudest magnitude ``peak`` to reach ``peak_dbfs`` in
    16-bit; ``None`` for silence."""
    if peak < SILENCE_FLOOR:
        return None
    return INT16_FULL_SCALE * 10.0 ** (peak_dbfs / 20.0) / peak


def _to_int16(values: np.ndarray, gain: float | None) -> np.ndarray:
    """``values`` (float64) times ``gain``, rounded and clipped to 16-bit integers."""
    if gain is None:
        return np.zeros(values.shape, dtype=np.int16)
    scaled = np.rint(values * gain)
    return np.clip(scaled, -INT16_FULL_SCALE, INT16_FULL_SCALE).astype(np.int16)


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
    check_peak_dbfs(peak_dbfs)
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
    return _to_int16(values, _gain(float(np.abs(values).max()), peak_dbfs))


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


# -- streaming from a raw file ---------------------------------------------------------------
def raw_chunks(raw_path: Path) -> Iterator[np.ndarray]:
    """The whole frames of a raw float32 stereo file, ``(frames, 2)`` float64 arrays of at
    most :data:`CHUNK_FRAMES` frames (a trailing partial frame is left out)."""
    left = os.path.getsize(raw_path) // RAW_FRAME_BYTES
    with open(raw_path, "rb") as handle:
        while left > 0:
            count = min(left, CHUNK_FRAMES)
            data = handle.read(count * RAW_FRAME_BYTES)
            count = len(data) // RAW_FRAME_BYTES
            if count == 0:
                return
            left -= count
            chunk = np.frombuffer(data, dtype="<f4", count=count * CHANNELS)
            yield chunk.astype(np.float64).reshape(count, CHANNELS)


def raw_peak(raw_path: Path) -> float:
    """The largest magnitude of the samples of a raw float32 file.

    Raises:
        AudioError: a sample is NaN or infinite.
    """
    peak = 0.0
    for chunk in raw_chunks(raw_path):
        if not np.isfinite(chunk).all():
            raise AudioError("rendered audio holds NaN or infinite samples")
        peak = max(peak, float(np.abs(chunk).max()))
    return peak


def write_normalised_wav(
    raw_path: Path, out: Path, sample_rate: int, peak_dbfs: float = DEFAULT_PEAK_DBFS
) -> None:
    """Write the raw float32 stereo file ``raw_path`` to ``out`` as a 16-bit WAV scaled as
    :func:`normalise` would, chunk by chunk, through a temporary file beside ``out``.

    Raises:
        ConfigError: ``peak_dbfs`` is above 0 dBFS or not finite.
        AudioError: the samples hold NaN or infinite values.
    """
    check_peak_dbfs(peak_dbfs)
    gain = _gain(raw_peak(raw_path), peak_dbfs)
    with open_atomic(out) as handle, wave.open(handle, "wb") as writer:
        writer.setnchannels(CHANNELS)
        writer.setsampwidth(2)
        writer.setframerate(sample_rate)
        for chunk in raw_chunks(raw_path):
            writer.writeframes(_to_int16(chunk, gain).astype("<i2").tobytes())
