"""MIDI messages as the live code uses them: mido messages with arrival times.

mido is imported inside the functions that build messages (it takes ~70 ms to
import), so ``composer --help`` and the editor's first frame stay fast.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import mido

Now = Callable[[], float]
"""A clock: seconds as a float, monotonic (``time.monotonic`` unless injected)."""

SUSTAIN = 64
RESET_ALL_CONTROLLERS = 121
ALL_NOTES_OFF = 123
ALL_SOUND_OFF = 120

TICKS_PER_CLOCK = 20
"""Song ticks (480 per quarter) per MIDI clock (24 per quarter)."""

TICKS_PER_SPP = 120
"""Song ticks per Song Position Pointer unit (a sixteenth note: 6 MIDI clocks)."""


@dataclass(frozen=True, slots=True)
class TimedMessage:
    """A message and when it arrived (or is due), in seconds on the port's clock."""

    time: float
    message: Any  # mido.Message; Any so this module imports without mido


def message(kind: str, **fields: Any) -> mido.Message:
    """``mido.Message(kind, **fields)`` without importing mido at module load."""
    import mido

    return mido.Message(kind, **fields)


def note_on(channel: int, pitch: int, velocity: int) -> mido.Message:
    return message("note_on", channel=channel, note=pitch, velocity=velocity)


def note_off(channel: int, pitch: int, velocity: int = 0) -> mido.Message:
    return message("note_off", channel=channel, note=pitch, velocity=velocity)


def is_note_on(msg: Any) -> bool:
    """True for a note-on with a velocity (a note-on with velocity 0 is a note-off)."""
    return msg.type == "note_on" and msg.velocity > 0


def is_note_off(msg: Any) -> bool:
    return msg.type == "note_off" or (msg.type == "note_on" and msg.velocity == 0)


def panic_messages(channels: range | list[int] | set[int] = range(16)) -> list[mido.Message]:
    """Sustain up, all notes off, all sound off and controllers reset on ``channels``.

    Some synths ignore controller 123, which is why ports also send explicit
    note-offs for the notes they know are sounding before these.
    """
    out = []
    for ch in sorted(channels):
        out.append(message("control_change", channel=ch, control=SUSTAIN, value=0))
        out.append(message("control_change", channel=ch, control=ALL_NOTES_OFF, value=0))
        out.append(message("control_change", channel=ch, control=ALL_SOUND_OFF, value=0))
        out.append(message("control_change", channel=ch, control=RESET_ALL_CONTROLLERS, value=0))
    return out


class SoundingNotes:
    """Which (channel, pitch) pairs a stream of messages has left sounding.

    Counts note-ons per key, so a key struck twice by two voices stays sounding
    until both are released; a note-off for a key that is not sounding is
    ignored (a controller may send one after composer started listening).
    """

    def __init__(self) -> None:
        self._count: dict[tuple[int, int], int] = {}

    def update(self, msg: Any) -> None:
        if msg.type not in ("note_on", "note_off"):
            return
        key = (msg.channel, msg.note)
        if is_note_on(msg):
            self._count[key] = self._count.get(key, 0) + 1
        elif key in self._count:
            self._count[key] -= 1
            if self._count[key] <= 0:
                del self._count[key]

    def held(self) -> list[tuple[int, int]]:
        """The sounding (channel, pitch) pairs, sorted."""
        return sorted(self._count)

    def clear(self) -> None:
        self._count.clear()

    def __len__(self) -> int:
        return len(self._count)

    def __contains__(self, key: object) -> bool:
        return key in self._count


class ManualClock:
    """A clock that moves only when told: for tests of timing arithmetic.

    ``sleep(seconds)`` advances the time at once; ``at(t, action)`` runs
    ``action`` when the time first reaches ``t`` (so a test can pause a player
    at second 1.5 of its song without any thread or real waiting).
    """

    def __init__(self, start: float = 100.0) -> None:
        self.time = start
        self._alarms: list[tuple[float, int, Callable[[], None]]] = []
        self._serial = 0

    def __call__(self) -> float:
        return self.time

    def now(self) -> float:
        return self.time

    def at(self, when: float, action: Callable[[], None]) -> None:
        self._serial += 1
        self._alarms.append((when, self._serial, action))
        self._alarms.sort(key=lambda a: (a[0], a[1]))

    def sleep(self, seconds: float) -> None:
        """Advance by ``seconds``, or only to the first alarm due on the way.

        Stopping at an alarm is what an interrupted wait does for real: the
        sleeper wakes, sees the command the alarm gave, and acts on it then.
        """
        target = self.time + max(0.0, seconds)
        if self._alarms and self._alarms[0][0] <= target:
            when, _, action = self._alarms.pop(0)
            self.time = max(self.time, when)
            action()
            return
        self.time = target

    def advance(self, seconds: float) -> None:
        """Advance by exactly ``seconds``, running every alarm due on the way."""
        target = self.time + max(0.0, seconds)
        while self._alarms and self._alarms[0][0] <= target:
            self.sleep(target - self.time)
        self.time = target


def system_now() -> float:
    return time.monotonic()
