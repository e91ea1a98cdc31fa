"""The exceptions cadenza raises.

Every message names the file or value at fault and what was expected, in one line, so that
the command line can print it as it is.
"""

from __future__ import annotations

from pathlib import Path


class CadenzaError(Exception):
    """Base class of every error cadenza raises on purpose."""


class MidiError(CadenzaError):
    """A MIDI file could not be read, is empty or is not usable.

    ``path`` is the file and ``reason`` a short machine-friendly label (``"corrupt"``,
    ``"empty"``, ``"not-midi"``, ``"unreadable"``, ...) used to count skipped files.
    """

    def __init__(self, path: str | Path, reason: str, detail: str = "") -> None:
        self.path = str(path)
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


class CheckpointError(CadenzaError):
    """A checkpoint is missing, damaged or does not match the model asked for."""


class AudioError(CadenzaError):
    """Audio could not be rendered: the synthesiser or a SoundFont is missing, or it failed."""
