"""The song model: notes, tracks, tempo, meter and key, all in ticks.

Values are frozen dataclasses holding tuples, so every edit makes a new value
(cheap to keep for undo, safe to share with worker threads). Times are in
ticks at ``PPQ`` ticks per quarter note; helpers in ``timing`` convert to beats,
bars and seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

PPQ = 480
"""Ticks per quarter note for every Song; readers rescale other resolutions."""

DRUM_CHANNEL = 9
"""Zero-based MIDI channel 10, reserved for drums in General MIDI."""

Mode = Literal["major", "minor"]

TextKind = Literal["text", "lyrics", "marker", "cue_marker"]
TEXT_KINDS: tuple[TextKind, ...] = ("text", "lyrics", "marker", "cue_marker")
"""The MIDI meta-event texts a song keeps (meta types 1, 5, 6 and 7)."""

_PC_NAMES_SHARP = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_PC_NAMES_FLAT = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
# Tonic names of the key signatures from 7 flats to 7 sharps (Cb major, Ab minor .. C#, A#m).
MAJOR_KEY_TONICS = ("Cb", "Gb", "Db", "Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B",
                    "F#", "C#")
MINOR_KEY_TONICS = ("Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "F#", "C#", "G#",
                    "D#", "A#")


def _check_tick(tick: int) -> None:
    if tick < 0:
        raise ValueError(f"tick {tick} is negative")


@dataclass(frozen=True, slots=True, order=True, kw_only=True)
class Note:
    """One note: MIDI pitch, where it starts and how long it lasts, in ticks.

    Fields are keyword-only so ``Note(pitch=60, start_tick=0, duration_ticks=480)``
    cannot be misread; the field order makes notes sort by time, then pitch.
    """

    start_tick: int
    pitch: int
    duration_ticks: int
    velocity: int = 80

    def __post_init__(self) -> None:
        if not 0 <= self.pitch <= 127:
            raise ValueError(f"pitch {self.pitch} is outside MIDI's 0..127")
        if self.start_tick < 0:
            raise ValueError(f"start_tick {self.start_tick} is negative")
        if self.duration_ticks < 1:
            raise ValueError(f"duration_ticks {self.duration_ticks} must be at least 1")
        if not 1 <= self.velocity <= 127:
            raise ValueError(f"velocity {self.velocity} is outside 1..127")

    @property
    def end_tick(self) -> int:
        return self.start_tick + self.duration_ticks


@dataclass(frozen=True, slots=True, order=True)
class ControlChange:
    """A controller value (sustain pedal is controller 64)."""

    tick: int
    control: int
    value: int

    def __post_init__(self) -> None:
        _check_tick(self.tick)
        if not 0 <= self.control <= 127:
            raise ValueError(f"controller number {self.control} is outside 0..127")
        if not 0 <= self.value <= 127:
            raise ValueError(f"controller value {self.value} is outside 0..127")


@dataclass(frozen=True, slots=True, order=True)
class PitchBend:
    """A pitch-bend value, -8192..8191 (0 is no bend)."""

    tick: int
    value: int

    def __post_init__(self) -> None:
        _check_tick(self.tick)
        if not -8192 <= self.value <= 8191:
            raise ValueError(f"pitch bend {self.value} is outside -8192..8191")


@dataclass(frozen=True, slots=True, order=True)
class TextEvent:
    """A text attached to a track: chord symbols, lyrics, markers."""

    tick: int
    text: str
    kind: TextKind = "text"

    def __post_init__(self) -> None:
        _check_tick(self.tick)
        if self.kind not in TEXT_KINDS:
            raise ValueError(f"text kind {self.kind!r} is not one of {', '.join(TEXT_KINDS)}")


@dataclass(frozen=True, slots=True, order=True)
class TempoChange:
    """Tempo from ``tick`` on, stored as MIDI does (microseconds per quarter)."""

    tick: int
    us_per_quarter: int

    def __post_init__(self) -> None:
        _check_tick(self.tick)
        if not 1 <= self.us_per_quarter <= 0xFFFFFF:
            raise ValueError(f"tempo {self.us_per_quarter} us/quarter is outside MIDI's range")

    @property
    def tempo_bpm(self) -> float:
        return 60_000_000 / self.us_per_quarter

    @staticmethod
    def from_bpm(tick: int, tempo_bpm: float) -> TempoChange:
        if not 1.0 <= tempo_bpm <= 1000.0:
            raise ValueError(f"tempo {tempo_bpm:g} BPM is outside 1..1000")
        return TempoChange(tick, round(60_000_000 / tempo_bpm))


@dataclass(frozen=True, slots=True, order=True)
class TimeSignature:
    """Meter from ``tick`` on, e.g. 6/8."""

    tick: int
    numerator: int
    denominator: int

    def __post_init__(self) -> None:
        _check_tick(self.tick)
        if not 1 <= self.numerator <= 255:
            raise ValueError(f"time signature numerator {self.numerator} is outside 1..255")
        if self.denominator not in (1, 2, 4, 8, 16, 32, 64):
            raise ValueError(f"time signature denominator {self.denominator} is not a power of 2")

    @property
    def bar_ticks(self) -> int:
        return self.numerator * PPQ * 4 // self.denominator

    @property
    def beat_ticks(self) -> int:
        """Ticks per counted beat: a dotted beat in compound meters (6/8, 9/8, 12/8)."""
        if self.denominator >= 8 and self.numerator % 3 == 0 and self.numerator > 3:
            return 3 * PPQ * 4 // self.denominator
        return PPQ * 4 // self.denominator

    def __str__(self) -> str:
        return f"{self.numerator}/{self.denominator}"


@dataclass(frozen=True, slots=True, order=True)
class KeySignature:
    """Key from ``tick`` on, as MIDI stores it: sharps (+) or flats (-) and mode."""

    tick: int
    fifths: int
    mode: Mode = "major"

    def __post_init__(self) -> None:
        _check_tick(self.tick)
        if not -7 <= self.fifths <= 7:
            raise ValueError(f"key signature with {self.fifths} fifths is outside -7..7")
        if self.mode not in ("major", "minor"):
            raise ValueError(f"key mode {self.mode!r} is neither 'major' nor 'minor'")

    @property
    def tonic_pc(self) -> int:
        major_tonic = (self.fifths * 7) % 12
        return major_tonic if self.mode == "major" else (major_tonic + 9) % 12

    @property
    def name(self) -> str:
        tonics = MAJOR_KEY_TONICS if self.mode == "major" else MINOR_KEY_TONICS
        return f"{tonics[self.fifths + 7]} {self.mode}"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Track:
    """One part: a named instrument on a MIDI channel with its notes."""

    name: str
    notes: tuple[Note, ...] = ()
    program: int = 0
    channel: int = 0
    controls: tuple[ControlChange, ...] = ()
    pitch_bends: tuple[PitchBend, ...] = ()
    texts: tuple[TextEvent, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.program <= 127:
            raise ValueError(f"program {self.program} is outside 0..127")
        if not 0 <= self.channel <= 15:
            raise ValueError(f"channel {self.channel} is outside 0..15")

    @property
    def is_drum(self) -> bool:
        return self.channel == DRUM_CHANNEL

    @property
    def end_tick(self) -> int:
        ends = [n.end_tick for n in self.notes]
        ends += [c.tick for c in self.controls] + [b.tick for b in self.pitch_bends]
        ends += [t.tick for t in self.texts]
        return max(ends, default=0)

    def with_notes(self, notes: tuple[Note, ...] | list[Note]) -> Track:
        return replace(self, notes=tuple(sorted(notes)))


@dataclass(frozen=True, slots=True)
class Song:
    """A piece: tracks plus the conductor data (tempo map, meters, keys)."""

    tracks: tuple[Track, ...] = ()
    tempos: tuple[TempoChange, ...] = (TempoChange(0, 500_000),)
    time_signatures: tuple[TimeSignature, ...] = (TimeSignature(0, 4, 4),)
    keys: tuple[KeySignature, ...] = ()
    title: str = ""
    markers: tuple[TextEvent, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.tempos or self.tempos[0].tick != 0:
            raise ValueError("a song's tempo map must start at tick 0")
        if not self.time_signatures or self.time_signatures[0].tick != 0:
            raise ValueError("a song's time signatures must start at tick 0")
        # One value in force at a time: bar and tempo lookups depend on it.
        for what, ticks in (("tempo changes", [e.tick for e in self.tempos]),
                            ("time signatures", [e.tick for e in self.time_signatures]),
                            ("key signatures", [e.tick for e in self.keys])):
            for before, after in zip(ticks, ticks[1:], strict=False):
                if after <= before:
                    raise ValueError(f"a song's {what} must be in time order, one per tick "
                                     f"(tick {after} follows tick {before})")

    @property
    def end_tick(self) -> int:
        return max((t.end_tick for t in self.tracks), default=0)

    @property
    def note_count(self) -> int:
        return sum(len(t.notes) for t in self.tracks)

    def key_at(self, tick: int) -> KeySignature | None:
        current = None
        for key in self.keys:
            if key.tick <= tick:
                current = key
        return current

    def time_signature_at(self, tick: int) -> TimeSignature:
        current = self.time_signatures[0]
        for ts in self.time_signatures:
            if ts.tick <= tick:
                current = ts
        return current

    def tempo_at(self, tick: int) -> TempoChange:
        current = self.tempos[0]
        for tempo in self.tempos:
            if tempo.tick <= tick:
                current = tempo
        return current

    def with_tracks(self, tracks: tuple[Track, ...] | list[Track]) -> Song:
        return replace(self, tracks=tuple(tracks))

    def replace_track(self, index: int, track: Track) -> Song:
        tracks = list(self.tracks)
        tracks[index] = track
        return replace(self, tracks=tuple(tracks))


def pitch_class_name(pc: int, prefer_flats: bool = False) -> str:
    return (_PC_NAMES_FLAT if prefer_flats else _PC_NAMES_SHARP)[pc % 12]
