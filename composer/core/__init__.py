"""The song model and pure operations on it. Imports nothing heavy."""

from composer.core.song import (
    DRUM_CHANNEL,
    PPQ,
    ControlChange,
    KeySignature,
    Note,
    PitchBend,
    Song,
    TempoChange,
    TextEvent,
    TimeSignature,
    Track,
)
from composer.core.timing import BarGrid, TempoMap

__all__ = [
    "DRUM_CHANNEL",
    "PPQ",
    "BarGrid",
    "ControlChange",
    "KeySignature",
    "Note",
    "PitchBend",
    "Song",
    "TempoChange",
    "TempoMap",
    "TextEvent",
    "TimeSignature",
    "Track",
]
