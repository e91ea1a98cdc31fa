"""cadenza: learn from MIDI files and compose polyphonic music with recurrent networks."""

from cadenza.errors import CadenzaError, CheckpointError, ConfigError, DataError, MidiError
from cadenza.score import Score

__version__ = "0.1.0"

__all__ = [
    "CadenzaError",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "MidiError",
    "Score",
    "__version__",
]
