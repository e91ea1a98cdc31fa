"""The exceptions cadenza raises.

Every message names the file or value at fault and what was expected, in one line, so that
the command line can print it as it is.
"""

from __future__ import annotations

from pathlib import Path


class CadenzaError(Exception):
    """Base class of every error cadenza raises on purpose."""


def printable_path(path: str | Path) -> str:
    """``path`` as text that can always be printed: bytes of a file name that are not valid
    UTF-8 (kept by Python as surrogates) are shown as U+FFFD."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


class MidiError(CadenzaError):
    """A MIDI file could not be read, is empty or is not usable.

    ``path`` is the file and ``reason`` a short machine-friendly label (``"corrupt"``,
    ``"empty"``, ``"not-midi"``, ``"unreadable"``, ...) used to count skipped files.
    """

    def __init__(self, path: str | Path, reason: str, detail: str = "") -> None:
        self.path = printable_path(path)
        self.reason = reason
        self.detail = detail
        message = f"{self.path}: {reason}"
        if detail:
            message += f" ({detail})"
        super().__init__(message)


class DataError(CadenzaError):
    """A corpus, data set or array does not have the expected content or shape."""


class ConfigError(CadenzaError):
    """A configuration value is out of range or inconsistent."""


def check_number(name: str, value: object, low: float, high: float, expected: str) -> float:
    """``value`` as a float when it is a number (a bool is not) in ``[low, high]``, else a
    ConfigError: ``"{name} must be {expected}, got {value!r}"``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not low <= float(value) <= high:
        raise ConfigError(f"{name} must be {expected}, got {value!r}")
    return float(value)


class CheckpointError(CadenzaError):
    """A checkpoint is missing, damaged or does not match the model asked for."""


class AudioError(CadenzaError):
    """Audio could not be rendered: the synthesiser or a SoundFont is missing, or it failed."""


class NotationError(CadenzaError):
    """Sheet music could not be made: music21 or Verovio is missing, the score has no notes,
    or the MusicXML could not be engraved."""
