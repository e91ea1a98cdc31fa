"""The five ways cadenza writes music as arrays, and a registry of them by name.

==============  ===========================  =============================================
name            array                        model family
==============  ===========================  =============================================
``pianoroll``   (T, 88) uint8                piano-roll LSTM (RNN4Music)
``notestate``   (T, 78, 2) uint8             biaxial LSTM
``events``      (L, 3) int32 messages        attention LSTM over MIDI messages
``notetokens``  (L, 3) int32 token ids       note/chord token LSTM (music21 style)
``remi``        (L,) int32 token ids         transformer (bar, position and note tokens)
==============  ===========================  =============================================
"""

from __future__ import annotations

from cadenza.representations.base import (
    PIANO_HIGH,
    PIANO_KEYS,
    PIANO_LOW,
    Representation,
    RepresentationConfig,
    load_representation,
)
from cadenza.representations.events import Events, EventsConfig
from cadenza.representations.notestate import (
    NUM_FEATURES,
    NoteState,
    NoteStateConfig,
    input_features,
)
from cadenza.representations.notetokens import NoteTokens, NoteTokensConfig
from cadenza.representations.pianoroll import (
    PianoRoll,
    PianoRollConfig,
    pitch_lists_from_roll,
    roll_from_pitch_lists,
    score_from_pitch_lists,
)
from cadenza.representations.remi import Remi, RemiConfig

REGISTRY: dict[str, type[Representation]] = {
    cls.name: cls for cls in (PianoRoll, NoteState, Events, NoteTokens, Remi)
}

__all__ = [
    "NUM_FEATURES",
    "PIANO_HIGH",
    "PIANO_KEYS",
    "PIANO_LOW",
    "REGISTRY",
    "Events",
    "EventsConfig",
    "NoteState",
    "NoteStateConfig",
    "NoteTokens",
    "NoteTokensConfig",
    "PianoRoll",
    "PianoRollConfig",
    "Remi",
    "RemiConfig",
    "Representation",
    "RepresentationConfig",
    "input_features",
    "load_representation",
    "pitch_lists_from_roll",
    "roll_from_pitch_lists",
    "score_from_pitch_lists",
]
