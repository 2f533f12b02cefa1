"""The beat grid harmony is written on, and what a melody does within each beat.

A beat is the meter's counted beat (a dotted quarter in 6/8, 9/8, 12/8; a half
note in 2/2 and 3/2), except that beats shorter than a quarter (5/8, 7/8, x/16)
are grouped into quarters, so 7/8 gets beats of 2+2+2+1 eighths; harmonising
every eighth note would be too busy. Bars follow the song's time signatures,
so meter changes and odd bars keep their beats on the bar lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from composer.core.song import PPQ, Note, TimeSignature
from composer.core.timing import BarGrid

STRONG, MEDIUM, WEAK = 0, 1, 2
"""Metrical position classes: the downbeat, the middle of an even bar, any other beat."""


@dataclass(frozen=True, slots=True)
class Beat:
    """One beat: where it starts and ends (ticks), its bar and place in the bar."""

    start_tick: int
    end_tick: int
    bar: int
    index_in_bar: int
    beats_in_bar: int

    @property
    def duration_ticks(self) -> int:
        return self.end_tick - self.start_tick

    @property
    def position(self) -> int:
        """STRONG on the downbeat, MEDIUM half-way through a bar of 4 or 6 beats, else WEAK."""
        if self.index_in_bar == 0:
            return STRONG
        if self.beats_in_bar % 2 == 0 and self.beats_in_bar >= 4 and \
                self.index_in_bar == self.beats_in_bar // 2:
            return MEDIUM
        return WEAK


def beat_unit_ticks(meter: TimeSignature) -> int:
    """The harmonic beat of a meter, at least a quarter note long."""
    return max(meter.beat_ticks, PPQ)


def beat_grid(time_signatures: Sequence[TimeSignature], start_tick: int, end_tick: int
              ) -> list[Beat]:
    """Every beat that overlaps ``start_tick``..``end_tick``, whole bars' beats included."""
    if end_tick <= start_tick:
        return []
    grid = BarGrid(tuple(time_signatures))
    beats: list[Beat] = []
    bar = grid.bar_at_tick(max(start_tick, 0))
    while True:
        bar_start = grid.bar_start_tick(bar)
        if bar_start >= end_tick:
            break
        bar_end = grid.bar_start_tick(bar + 1)
        unit = beat_unit_ticks(grid.meter_at_tick(bar_start))
        starts = list(range(bar_start, bar_end, unit))
        for i, tick in enumerate(starts):
            end = min(tick + unit, bar_end)
            if end > start_tick and tick < end_tick:
                beats.append(Beat(tick, end, bar, i, len(starts)))
        bar += 1
    return beats


def sounding_note(notes: Sequence[Note], tick: int) -> Note | None:
    """The note of a monophonic line sounding at ``tick`` (the later one if two overlap)."""
    found = None
    for n in notes:
        if n.start_tick > tick:
            break
        if n.end_tick > tick:
            found = n
    return found


def notes_in(notes: Sequence[Note], start_tick: int, end_tick: int) -> list[Note]:
    """Notes of a time-sorted line that sound somewhere in ``start_tick``..``end_tick``."""
    return [n for n in notes if n.start_tick < end_tick and n.end_tick > start_tick]


def melody_weights(notes: Sequence[Note], beat: Beat, onset_bonus: float = 0.5) -> dict[int, float]:
    """How much each pitch class of a melody sounds in a beat.

    Each note weighs the fraction of the beat it covers; the note sounding on
    the beat itself weighs ``onset_bonus`` more, since a note on the beat is
    more often a chord tone than a passing note between beats.
    """
    weights: dict[int, float] = {}
    length = beat.duration_ticks
    for n in notes_in(notes, beat.start_tick, beat.end_tick):
        overlap = min(n.end_tick, beat.end_tick) - max(n.start_tick, beat.start_tick)
        weight = overlap / length
        if n.start_tick <= beat.start_tick < n.end_tick:
            weight += onset_bonus
        weights[n.pitch % 12] = weights.get(n.pitch % 12, 0.0) + weight
    return weights


def beat_pitch(notes: Sequence[Note], beat: Beat) -> int | None:
    """The melody pitch a beat is harmonised against: the one sounding on the beat,
    else the first that starts within it; None if the beat is silent."""
    on_beat = sounding_note(notes, beat.start_tick)
    if on_beat is not None:
        return on_beat.pitch
    inside = notes_in(notes, beat.start_tick, beat.end_tick)
    return inside[0].pitch if inside else None
