"""cadenza: learn from MIDI files and compose polyphonic music with recurrent networks."""

from cadenza.errors import CadenzaError, CheckpointError, ConfigError, DataError, MidiError
from cadenza.score import Score

__version__ = "0.1.0"



def __getattr__(name: str) -> object:
    """``cadenza.load``, ``cadenza.compose``, ``cadenza.compose_files``, ``cadenza.harmonise``,
    ``cadenza.styles`` and ``cadenza.Piece`` (imported on first use, so that ``import cadenza``
    stays light)."""
    if name in ("load", "compose", "compose_files", "compose_request", "harmonise", "Piece",
                "styles"):
        from cadenza import api

        return getattr(api, name)
    raise AttributeError(f"module 'cadenza' has no attribute {name!r}")


__all__ = [
    "CadenzaError",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "MidiError",
    "Piece",
    "Score",
    "__version__",
    "compose",
    "compose_files",
    "compose_request",
    "harmonise",
    "load",
    "styles",
]
