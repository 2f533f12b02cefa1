"""The recorder: timestamped input becomes a track of notes.

Times become ticks through a tempo map measured from ``origin`` (the clock
time of tick 0: the end of the count-in). Velocities are kept; the sustain
pedal is folded into durations (a note released while the pedal is down lasts
until the pedal comes up, or until the same key is struck again), so the take
plays back the same on a synth without pedal support. Note-offs without
note-ons (keys held before recording began) are counted and ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from composer.core.ops import quantise_track
from composer.core.song import DRUM_CHANNEL, Note, Song, TempoChange, TimeSignature, Track
from composer.core.timing import TempoMap
from composer.live.midi import SUSTAIN, TimedMessage, is_note_off, is_note_on


@dataclass
class RecordStats:
    """What the recorder met besides notes."""

    notes: int = 0
    unmatched_note_offs: int = 0
    early_notes_dropped: int = 0
    ignored_messages: int = 0


@dataclass(frozen=True)
class QuantiseSettings:
    """How a take is pulled to the grid when kept (see ``core.ops.quantise_track``)."""

    grid_ticks: int = 120
    strength: float = 1.0
    swing: float = 0.0

    def __post_init__(self) -> None:
        if self.grid_ticks < 1:
            raise ValueError(f"quantise grid of {self.grid_ticks} ticks is too fine")
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"quantise strength {self.strength} is outside 0..1")
        if not 0.0 <= self.swing < 1.0:
            raise ValueError(f"swing {self.swing} is outside 0..1")


@dataclass(frozen=True)
class Take:
    """One recorded pass: its notes as a track, and what was ignored on the way."""

    number: int
    track: Track
    seconds: float
    stats: RecordStats = field(default_factory=RecordStats)

    def kept(self, quantise: QuantiseSettings | None = None) -> Track:
        """The track to keep: quantised if asked (grid, strength, swing)."""
        if quantise is None:
            return self.track
        return quantise_track(self.track, quantise.grid_ticks, quantise.strength, quantise.swing)


class TakeRecorder:
    """Collects notes from timestamped messages; ``finish`` returns the take's track."""

    def __init__(
        self,
        tempo_map: TempoMap,
        origin: float,
        name: str = "Take",
        channel: int = 0,
        program: int = 0,
    ) -> None:
        self.tempo_map = tempo_map
        self.origin = origin
        self.name = name
        self.channel = channel
        self.program = program
        self.stats = RecordStats()
        self._open: dict[tuple[int, int], tuple[float, int]] = {}
        self._pedal_down: set[int] = set()
        self._pedal_held: dict[tuple[int, int], tuple[float, int]] = {}
        self._done: list[tuple[float, float, int, int]] = []

    @property
    def held(self) -> int:
        """Keys down (or kept sounding by the pedal) right now."""
        return len(self._open) + len(self._pedal_held)

    def feed(self, timed: TimedMessage) -> None:
        msg, when = timed.message, timed.time
        if is_note_on(msg):
            key = (msg.channel, msg.note)
            for pending in (self._open, self._pedal_held):
                if key in pending:  # struck again before released: the old note ends here
                    start, velocity = pending.pop(key)
                    self._close(start, when, msg.note, velocity)
            self._open[key] = (when, msg.velocity)
        elif is_note_off(msg):
            key = (msg.channel, msg.note)
            if key not in self._open:
                self.stats.unmatched_note_offs += 1
                return
            start, velocity = self._open.pop(key)
            if msg.channel in self._pedal_down:
                self._pedal_held[key] = (start, velocity)
            else:
                self._close(start, when, msg.note, velocity)
        elif msg.type == "control_change" and msg.control == SUSTAIN:
            if msg.value >= 64:
                self._pedal_down.add(msg.channel)
            else:
                self._pedal_down.discard(msg.channel)
                for key in [k for k in self._pedal_held if k[0] == msg.channel]:
                    start, velocity = self._pedal_held.pop(key)
                    self._close(start, when, key[1], velocity)
        else:
            self.stats.ignored_messages += 1

    def _close(self, start: float, end: float, pitch: int, velocity: int) -> None:
        self._done.append((start, end, pitch, velocity))

    def release_all(self, when: float) -> None:
        """End every held note at ``when`` (the input vanished, or recording stops)."""
        for pending in (self._open, self._pedal_held):
            for (_, pitch), (start, velocity) in pending.items():
                self._close(start, when, pitch, velocity)
            pending.clear()
        self._pedal_down.clear()

    def track(self, until: float | None = None) -> Track:
        """The notes so far as a track; notes still held end at ``until``."""
        done = list(self._done)
        if until is not None:
            for pending in (self._open, self._pedal_held):
                done += [(start, until, pitch, vel) for (_, pitch), (start, vel) in pending.items()]
        notes = []
        early = 0
        for start, end, pitch, velocity in done:
            if end <= self.origin:
                early += 1  # played during the count-in
                continue
            start_tick = max(0, round(self.tempo_map.tick_at(max(start - self.origin, 0.0))))
            end_tick = round(self.tempo_map.tick_at(end - self.origin))
            notes.append(
                Note(
                    pitch=pitch,
                    start_tick=start_tick,
                    duration_ticks=max(1, end_tick - start_tick),
                    velocity=velocity,
                )
            )
        self.stats.early_notes_dropped = early
        self.stats.notes = len(notes)
        return Track(self.name, program=self.program, channel=self.channel).with_notes(notes)

    def finish(self, when: float, number: int = 1) -> Take:
        self.release_all(when)
        track = self.track()
        return Take(number, track, max(0.0, when - self.origin), self.stats)


METRONOME_ACCENT = 76  # General MIDI Hi Wood Block
METRONOME_BEAT = 77  # Low Wood Block


def click_song(bars: int, tempo_bpm: float = 120.0, meter: TimeSignature | None = None) -> Song:
    """A metronome: one drum-channel click per beat, the first of each bar accented."""
    meter = meter or TimeSignature(0, 4, 4)
    clicks = []
    for bar in range(bars):
        for beat in range(meter.bar_ticks // meter.beat_ticks):
            tick = bar * meter.bar_ticks + beat * meter.beat_ticks
            accent = beat == 0
            clicks.append(
                Note(
                    pitch=METRONOME_ACCENT if accent else METRONOME_BEAT,
                    start_tick=tick,
                    duration_ticks=60,
                    velocity=110 if accent else 75,
                )
            )
    track = Track("Metronome", channel=DRUM_CHANNEL).with_notes(clicks)
    return Song(
        tracks=(track,),
        tempos=(TempoChange.from_bpm(0, tempo_bpm),),
        time_signatures=(TimeSignature(0, meter.numerator, meter.denominator),),
    )
