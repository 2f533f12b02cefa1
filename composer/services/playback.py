"""Playback for the CLI and the editor: a song (or a bar range, looped) to a port.

``play_song`` blocks until the song ends or ``cancel`` is set (the CLI);
:class:`PlaybackSession` keeps a port open and plays in the background with
start, pause, resume, seek and stop, reporting the playhead (the editor).
Either way, stopping silences every note and resets controllers.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from composer.core.song import Song
from composer.core.timing import BarGrid, TempoMap
from composer.errors import InvalidArgumentError
from composer.services.jobs import Progress, no_progress


@dataclass(frozen=True)
class PlayRange:
    """What to play: ticks ``start_tick``..``end_tick`` (None: to the end), which tracks."""

    start_tick: int = 0
    end_tick: int | None = None
    tracks: tuple[int, ...] | None = None

    @staticmethod
    def bars(song: Song, first_bar: int | None, last_bar: int | None) -> PlayRange:
        """One-based, inclusive bar numbers as the user gives them."""
        grid = BarGrid.of(song)
        total = max(1, grid.bars_to_cover(song.end_tick))
        first = 1 if first_bar is None else first_bar
        last = total if last_bar is None else last_bar
        if not 1 <= first <= last:
            raise InvalidArgumentError(f"bars {first}..{last} are not a range", "bars count from 1")
        if first > total:
            raise InvalidArgumentError(f"bar {first} is past the end of the song ({total} bars)")
        return PlayRange(grid.bar_start_tick(first - 1), grid.bar_start_tick(last))


@dataclass(frozen=True)
class PlayResult:
    reason: str
    seconds: float
    port: str


def play_song(
    song: Song,
    out: str | None = None,
    *,
    backend: str | None = None,
    virtual: bool = False,
    play_range: PlayRange | None = None,
    loop: bool = False,
    clock: bool = False,
    progress: Progress = no_progress,
    cancel: threading.Event | None = None,
) -> PlayResult:
    """Play ``song`` to port ``out`` (or the virtual port, or a FluidSynth) until it ends,
    or ``cancel`` is set. Progress reports the position as a fraction of the range."""
    from composer.live.player import Player
    from composer.services.ports import OutputChoice

    if not song.note_count:
        raise InvalidArgumentError("the song has no notes to play")
    selection = play_range or PlayRange()
    end = song.end_tick if selection.end_tick is None else selection.end_tick
    tempo_map = TempoMap.of(song)
    span = max(1e-9, tempo_map.seconds_at(end) - tempo_map.seconds_at(selection.start_tick))
    cancel = cancel or threading.Event()
    with OutputChoice(out, backend, virtual) as output:

        def report(tick: int) -> None:
            done = tempo_map.seconds_at(tick) - tempo_map.seconds_at(selection.start_tick)
            bar, beat = BarGrid.of(song).bar_and_beat(tick)
            progress(min(1.0, done / span) if not loop else -1, f"bar {bar} beat {beat:.0f}")

        player = Player(output.port, on_position=report, position_interval_s=0.1)
        player.play(song, selection.start_tick, end, loop, selection.tracks, clock)
        try:
            while not player.wait(0.1):
                if cancel.is_set():
                    player.stop()
        finally:
            player.stop()
        finished = player.finished
        if finished is not None and finished.error is not None:
            raise finished.error
        seconds = tempo_map.seconds_at(player.position_tick) - tempo_map.seconds_at(
            selection.start_tick
        )
        return PlayResult(
            finished.reason if finished else "stopped", max(0.0, seconds), output.description
        )


def play_file(path: str | Path, out: str | None = None, **options) -> PlayResult:
    """``play_song`` for a song file; ``first_bar``/``last_bar`` choose a range."""
    from composer.io.song_files import load_song

    song = load_song(path)
    first, last = options.pop("first_bar", None), options.pop("last_bar", None)
    if first is not None or last is not None:
        options["play_range"] = PlayRange.bars(song, first, last)
    return play_song(song, out, **options)


class PlaybackSession:
    """An open output and a background player, for the editor's transport.

    ``on_position(tick)`` and ``on_finish(reason)`` are called from the player
    thread: the editor must hand them to its own thread.
    """

    def __init__(
        self,
        out: str | None = None,
        backend: str | None = None,
        virtual: bool = False,
        on_position=None,
        on_finish=None,
    ) -> None:
        from composer.live.player import Player
        from composer.services.ports import OutputChoice

        self.output = OutputChoice(out, backend, virtual)
        self._on_finish = on_finish
        self.player = Player(self.output.port, on_position=on_position, on_finish=self._finished)

    def _finished(self, finished) -> None:
        if self._on_finish is not None:
            self._on_finish(
                finished.reason if finished.error is None else f"error: {finished.error}"
            )

    @property
    def port_name(self) -> str:
        return self.output.description

    @property
    def state(self) -> str:
        return self.player.state

    @property
    def position_tick(self) -> int:
        return self.player.position_tick

    def play(
        self,
        song: Song,
        play_range: PlayRange | None = None,
        loop: bool = False,
        clock: bool = False,
    ) -> None:
        selection = play_range or PlayRange()
        self.player.play(
            song, selection.start_tick, selection.end_tick, loop, selection.tracks, clock
        )

    def pause(self) -> None:
        self.player.pause()

    def resume(self) -> None:
        self.player.resume()

    def seek(self, tick: int) -> None:
        self.player.seek(tick)

    def stop(self) -> None:
        self.player.stop()

    def close(self) -> None:
        """Stop, silence, and release the port (and the synth, if one was started)."""
        try:
            self.player.stop()
        finally:
            self.output.close()
