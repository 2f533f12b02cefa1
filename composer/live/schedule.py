"""A song as a list of MIDI messages with their times, ready to be played.

The schedule covers ``start_tick``..``end_tick`` (a selection or the whole
song): notes that start inside it, cut at its end so a loop never leaves one
hanging; the program, controller and pitch-bend state at ``start_tick``
(chased, as sequencers do, so a part starting mid-song sounds right); and,
when asked, MIDI clock at 24 per quarter with start or song position and
continue at the beginning and stop at the end. Seconds follow the tempo map.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

from composer.core.song import Song, Track
from composer.core.timing import TempoMap
from composer.live.midi import TICKS_PER_CLOCK, TICKS_PER_SPP, message

# Order of messages that fall on the same tick: a note ends before the next
# starts (so a repeated pitch sounds twice), set-up comes before notes, and
# clock transport before the clock tick it refers to.
_ORDER_NOTE_OFF = 0
_ORDER_STOP = 1
_ORDER_SETUP = 2
_ORDER_TRANSPORT = 3
_ORDER_CLOCK = 4
_ORDER_NOTE_ON = 5


@dataclass(frozen=True, slots=True)
class Scheduled:
    """One message and when it is due: ``seconds`` from the song's tick 0."""

    seconds: float
    tick: int
    order: int
    message: Any


@dataclass(frozen=True)
class Schedule:
    """What a player plays: sorted messages over ``start_tick``..``end_tick``."""

    events: tuple[Scheduled, ...]
    start_tick: int
    end_tick: int
    tempo_map: TempoMap

    @property
    def start_seconds(self) -> float:
        return self.tempo_map.seconds_at(self.start_tick)

    @property
    def end_seconds(self) -> float:
        return self.tempo_map.seconds_at(self.end_tick)

    def index_at(self, tick: int) -> int:
        """Index of the first event at or after ``tick`` (note-offs at ``tick`` excluded)."""
        keys = [(e.tick, e.order) for e in self.events]
        return bisect.bisect_left(keys, (tick, _ORDER_STOP))


def build_schedule(
    song: Song,
    start_tick: int = 0,
    end_tick: int | None = None,
    tracks: list[int] | tuple[int, ...] | None = None,
    clock: bool = False,
) -> Schedule:
    """Messages of ``song`` (or of the ``tracks`` indices) between the two ticks."""
    end = song.end_tick if end_tick is None else end_tick
    if start_tick < 0 or end < start_tick:
        raise ValueError(f"cannot play ticks {start_tick}..{end}")
    chosen = [song.tracks[i] for i in tracks] if tracks is not None else list(song.tracks)
    tempo_map = TempoMap.of(song)
    raw: list[tuple[int, int, Any]] = []
    for track in chosen:
        raw += _track_events(track, start_tick, end)
    if clock:
        raw += _clock_events(start_tick, end)
    raw.sort(key=lambda e: (e[0], e[1]))
    events = tuple(
        Scheduled(tempo_map.seconds_at(tick), tick, order, msg) for tick, order, msg in raw
    )
    return Schedule(events, start_tick, end, tempo_map)


def _track_events(track: Track, start: int, end: int) -> list[tuple[int, int, Any]]:
    ch = track.channel
    out: list[tuple[int, int, Any]] = [
        (start, _ORDER_SETUP, message("program_change", channel=ch, program=track.program))
    ]
    chased: dict[int, int] = {}
    for cc in sorted(track.controls):
        if cc.tick < start:
            chased[cc.control] = cc.value
        elif cc.tick < end:
            out.append(
                (
                    cc.tick,
                    _ORDER_SETUP,
                    message("control_change", channel=ch, control=cc.control, value=cc.value),
                )
            )
    for control, value in sorted(chased.items()):
        out.append(
            (
                start,
                _ORDER_SETUP,
                message("control_change", channel=ch, control=control, value=value),
            )
        )
    bend_at_start = None
    for bend in sorted(track.pitch_bends):
        if bend.tick < start:
            bend_at_start = bend.value
        elif bend.tick < end:
            out.append(
                (bend.tick, _ORDER_SETUP, message("pitchwheel", channel=ch, pitch=bend.value))
            )
    if bend_at_start:
        out.append((start, _ORDER_SETUP, message("pitchwheel", channel=ch, pitch=bend_at_start)))
    for note in track.notes:
        if not start <= note.start_tick < end:
            continue
        out.append(
            (
                note.start_tick,
                _ORDER_NOTE_ON,
                message("note_on", channel=ch, note=note.pitch, velocity=note.velocity),
            )
        )
        out.append(
            (
                min(note.end_tick, end),
                _ORDER_NOTE_OFF,
                message("note_off", channel=ch, note=note.pitch, velocity=0),
            )
        )
    return out


def _clock_events(start: int, end: int) -> list[tuple[int, int, Any]]:
    """Clock at 24 per quarter; the first clock after start/continue is the position.

    Song position counts sixteenths, so playing from mid-sixteenth the clock
    (and the follower's position) begins at the next sixteenth.
    """
    spp = -(-start // TICKS_PER_SPP)
    first = spp * TICKS_PER_SPP
    if first >= end:
        return []
    out: list[tuple[int, int, Any]] = []
    if spp == 0:
        out.append((first, _ORDER_TRANSPORT, message("start")))
    else:
        out.append((first, _ORDER_TRANSPORT, message("songpos", pos=min(spp, 16383))))
        out.append((first, _ORDER_TRANSPORT, message("continue")))
    out += [(t, _ORDER_CLOCK, message("clock")) for t in range(first, end, TICKS_PER_CLOCK)]
    out.append((end, _ORDER_STOP, message("stop")))
    return out
