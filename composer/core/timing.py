"""Ticks, beats, bars and seconds.

Bars follow the song's time signatures: a meter change takes effect at its
tick (readers place changes on bar lines; a change that falls mid-bar starts a
new bar there, as notation programs do on import).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from composer.core.song import PPQ, Song, TempoChange, TimeSignature


def ticks_to_beats(ticks: int) -> float:
    """Quarter-note beats in ``ticks``."""
    return ticks / PPQ


def beats_to_ticks(beats: float) -> int:
    return round(beats * PPQ)


@dataclass(frozen=True)
class BarGrid:
    """Where bars start, computed from a song's time signatures."""

    time_signatures: tuple[TimeSignature, ...]

    @staticmethod
    def of(song: Song) -> BarGrid:
        return BarGrid(song.time_signatures)

    def _segments(self) -> list[tuple[int, int, TimeSignature]]:
        """(start_tick, first_bar_index, meter) for each meter region."""
        segments = []
        bar = 0
        for i, ts in enumerate(self.time_signatures):
            segments.append((ts.tick, bar, ts))
            if i + 1 < len(self.time_signatures):
                length = self.time_signatures[i + 1].tick - ts.tick
                bar += -(-length // ts.bar_ticks)  # a partial bar still counts as one
        return segments

    def bar_start_tick(self, bar: int) -> int:
        """Tick where zero-based ``bar`` starts (bars go on past the last event)."""
        if bar < 0:
            raise ValueError(f"bar {bar} is negative")
        start, first, ts = 0, 0, self.time_signatures[0]
        for seg_start, seg_first, seg_ts in self._segments():
            if seg_first <= bar:
                start, first, ts = seg_start, seg_first, seg_ts
        return start + (bar - first) * ts.bar_ticks

    def bar_at_tick(self, tick: int) -> int:
        """Zero-based index of the bar that contains ``tick``."""
        segments = self._segments()
        index = bisect.bisect_right([s[0] for s in segments], tick) - 1
        seg_start, seg_first, ts = segments[max(index, 0)]
        return seg_first + (tick - seg_start) // ts.bar_ticks

    def bar_length_ticks(self, bar: int) -> int:
        return self.bar_start_tick(bar + 1) - self.bar_start_tick(bar)

    def bar_and_beat(self, tick: int) -> tuple[int, float]:
        """One-based bar and beat for display, e.g. (3, 2.5)."""
        bar = self.bar_at_tick(tick)
        ts = self.meter_at_tick(tick)
        offset = tick - self.bar_start_tick(bar)
        return bar + 1, 1 + offset / (PPQ * 4 / ts.denominator)

    def meter_at_tick(self, tick: int) -> TimeSignature:
        current = self.time_signatures[0]
        for ts in self.time_signatures:
            if ts.tick <= tick:
                current = ts
        return current

    def bars_to_cover(self, end_tick: int) -> int:
        """How many whole bars it takes to reach ``end_tick``."""
        if end_tick <= 0:
            return 0
        return self.bar_at_tick(end_tick - 1) + 1


class TempoMap:
    """Converts ticks to seconds and back through a song's tempo changes."""

    def __init__(self, tempos: tuple[TempoChange, ...] | list[TempoChange]) -> None:
        self._tempos = sorted(tempos)
        self._ticks = [t.tick for t in self._tempos]
        self._seconds = [0.0]
        for prev, cur in zip(self._tempos, self._tempos[1:], strict=False):
            span = (cur.tick - prev.tick) * prev.us_per_quarter / (PPQ * 1e6)
            self._seconds.append(self._seconds[-1] + span)

    @staticmethod
    def of(song: Song) -> TempoMap:
        return TempoMap(song.tempos)

    def seconds_at(self, tick: float) -> float:
        i = max(bisect.bisect_right(self._ticks, tick) - 1, 0)
        tempo = self._tempos[i]
        return self._seconds[i] + (tick - tempo.tick) * tempo.us_per_quarter / (PPQ * 1e6)

    def tick_at(self, seconds: float) -> float:
        i = max(bisect.bisect_right(self._seconds, seconds) - 1, 0)
        tempo = self._tempos[i]
        return tempo.tick + (seconds - self._seconds[i]) * PPQ * 1e6 / tempo.us_per_quarter
