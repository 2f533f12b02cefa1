"""The player: a song (or a looped selection) to an output port, on time.

Time is injected: ``now`` reads the clock and ``sleep`` waits on it
(``time.monotonic`` and an interruptible wait unless given), so tests drive a
whole song through a manual clock in microseconds and real playback is timed
against the monotonic clock. Each message is due at
``anchor_time + (seconds - anchor_seconds)``; re-anchoring on seek, resume and
loop keeps every later message exact (no drift accumulates).

On stop, at the end, on pause and on any error the player turns off what it
left sounding and the port resets controllers; the port itself is panicked at
interpreter exit, so no note is left stuck.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from composer.core.song import Song
from composer.live.midi import TICKS_PER_SPP, SoundingNotes, message, note_off
from composer.live.ports import OutputPort
from composer.live.schedule import Schedule, build_schedule

log = logging.getLogger(__name__)

State = Literal["stopped", "playing", "paused"]
FinishReason = Literal["end", "stopped", "error"]
PositionCallback = Callable[[int], None]
SPIN_S = 0.0008  # more than a timed wait oversleeps (0.13 ms median, 0.25 ms p99 at load 1)


@dataclass(frozen=True)
class Finished:
    """How a run of the player ended."""

    reason: FinishReason
    error: BaseException | None = None


class Player:
    """Plays songs to one output. ``play`` starts a thread; ``run`` plays in the caller's.

    ``on_position(tick)`` is called from the playing thread about
    ``position_interval_s`` apart (for a playhead); ``on_finish(Finished)``
    once at the end. Both must be quick.
    """

    def __init__(
        self,
        output: OutputPort,
        *,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        on_position: PositionCallback | None = None,
        on_finish: Callable[[Finished], None] | None = None,
        position_interval_s: float = 1 / 30,
    ) -> None:
        self.output = output
        self._now = now
        self._wake = threading.Event()
        self._sleep = sleep or self._interruptible_sleep
        # The last fraction of a millisecond before a message is spun, not slept: a
        # timed wait oversleeps by about that much. Only on the real clock (an
        # injected one only moves when the test moves it).
        self._spin_s = SPIN_S if sleep is None and now is time.monotonic else 0.0
        self.on_position = on_position
        self.on_finish = on_finish
        self.position_interval_s = position_interval_s
        self._lock = threading.Lock()
        self._state: State = "stopped"
        self._command: str | None = None
        self._seek_tick: int | None = None
        self._thread: threading.Thread | None = None
        self._position_tick = 0
        self.started_at: float | None = None
        """Clock time at which the first played tick was (or would have been) due."""
        self.finished: Finished | None = None

    # ----------------------------------------------------------- control

    @property
    def state(self) -> State:
        return self._state

    @property
    def position_tick(self) -> int:
        return self._position_tick

    def play(
        self,
        song: Song,
        start_tick: int = 0,
        end_tick: int | None = None,
        loop: bool = False,
        tracks: list[int] | tuple[int, ...] | None = None,
        clock: bool = False,
    ) -> None:
        """Start playing in a background thread (stopping whatever played before)."""
        self.stop()
        schedule = build_schedule(song, start_tick, end_tick, tracks, clock)
        with self._lock:
            self._command = None
            self._seek_tick = None
            self._state = "playing"
            self.finished = None
        self._thread = threading.Thread(
            target=self._run_quietly, args=(schedule, loop, clock), name="player", daemon=True
        )
        self._thread.start()

    def run(
        self,
        song: Song,
        start_tick: int = 0,
        end_tick: int | None = None,
        loop: bool = False,
        tracks: list[int] | tuple[int, ...] | None = None,
        clock: bool = False,
    ) -> Finished:
        """Play in this thread until the end (never, if looping) or ``stop()``."""
        schedule = build_schedule(song, start_tick, end_tick, tracks, clock)
        with self._lock:
            self._command = None
            self._seek_tick = None
            self._state = "playing"
        return self._run(schedule, loop, clock)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop and silence; returns once the playing thread has finished."""
        self._send_command("stop")
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None

    def pause(self) -> None:
        self._send_command("pause")

    def resume(self) -> None:
        self._send_command("resume")

    def seek(self, tick: int) -> None:
        with self._lock:
            self._seek_tick = max(0, tick)
        self._wake.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a background run to end; True if it did."""
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def _send_command(self, command: str) -> None:
        with self._lock:
            if self._state != "stopped":
                self._command = command
        self._wake.set()

    def _interruptible_sleep(self, seconds: float) -> None:
        if self._wake.wait(seconds):
            self._wake.clear()

    # ----------------------------------------------------------- the loop

    def _run_quietly(self, schedule: Schedule, loop: bool, clock: bool) -> None:
        try:
            self._run(schedule, loop, clock)
        except Exception:  # already reported through on_finish and self.finished
            log.debug("player thread ended with an error", exc_info=True)

    def _run(self, schedule: Schedule, loop: bool, clock: bool) -> Finished:
        events = schedule.events
        sounding = SoundingNotes()
        anchor_time = self._now()
        anchor_seconds = schedule.start_seconds
        self.started_at = anchor_time
        index = 0
        next_report = anchor_time
        clock_hold_tick = -1  # after a seek or resume, clocks wait for the next sixteenth
        result = Finished("end")
        try:
            while True:
                command, seek_tick = self._take_command()
                if command == "stop":
                    result = Finished("stopped")
                    break
                if command == "pause":
                    paused_seconds = anchor_seconds + (self._now() - anchor_time)
                    self._silence(sounding, clock)
                    if not self._wait_while_paused():
                        result = Finished("stopped")
                        break
                    anchor_time, anchor_seconds = self._now(), paused_seconds
                    if clock:
                        clock_hold_tick = self._continue_clock(schedule, paused_seconds)
                    continue
                if seek_tick is not None:
                    self._silence(sounding, clock)
                    tick = min(max(seek_tick, schedule.start_tick), schedule.end_tick)
                    index = schedule.index_at(tick)
                    anchor_time, anchor_seconds = self._now(), schedule.tempo_map.seconds_at(tick)
                    if clock:
                        clock_hold_tick = self._continue_clock(schedule, anchor_seconds)
                    continue

                now = self._now()
                position = anchor_seconds + (now - anchor_time)
                if now >= next_report:
                    self._report_position(schedule, position)
                    next_report = now + self.position_interval_s
                if index >= len(events):
                    if position < schedule.end_seconds:
                        self._sleep(min(schedule.end_seconds - position, self.position_interval_s))
                        continue
                    if not loop or schedule.end_tick <= schedule.start_tick:
                        self._report_position(schedule, schedule.end_seconds)
                        break
                    anchor_time += schedule.end_seconds - anchor_seconds
                    anchor_seconds = schedule.start_seconds
                    index = 0
                    clock_hold_tick = -1
                    continue
                event = events[index]
                due = anchor_time + (event.seconds - anchor_seconds)
                if due > now:
                    if due - now > self._spin_s:
                        wait = min(due - now - self._spin_s, max(next_report - now, 0.0005))
                        self._sleep(wait)
                        continue
                    while self._now() < due:
                        pass
                index += 1
                if event.tick < clock_hold_tick and event.message.type == "clock":
                    continue
                sounding.update(event.message)
                self.output.send(event.message)
        except BaseException as err:
            result = Finished("error", err)
            raise
        finally:
            self._silence(sounding, clock, final=True)
            with self._lock:
                self._state = "stopped"
                self._command = None
            self.finished = result
            if self.on_finish is not None:
                try:
                    self.on_finish(result)
                except Exception:
                    log.exception("player on_finish callback failed")
        return result

    def _take_command(self) -> tuple[str | None, int | None]:
        with self._lock:
            command, self._command = self._command, None
            seek, self._seek_tick = self._seek_tick, None
            if command == "pause":
                self._state = "paused"
            return command, seek

    def _wait_while_paused(self) -> bool:
        """Block until resume (True) or stop (False); a seek while paused moves on resume."""
        while True:
            with self._lock:
                command = self._command
                if command in ("resume", "stop"):
                    self._command = None
                    self._state = "playing" if command == "resume" else "stopped"
                    return command == "resume"
            self._sleep(self.position_interval_s)

    def _silence(self, sounding: SoundingNotes, clock: bool, final: bool = False) -> None:
        """Turn off this player's notes; at the very end, panic the port as well."""
        try:
            for channel, pitch in sounding.held():
                self.output.send(note_off(channel, pitch))
            if clock:
                self.output.send(message("stop"))
        except Exception as err:  # the port failed: the panic below is all that is left to try
            log.debug("silencing: %s", err)
        sounding.clear()
        if final:
            self.output.panic()

    def _continue_clock(self, schedule: Schedule, seconds: float) -> int:
        """Song position and continue for playing on from ``seconds``; returns the tick
        of the next sixteenth, where the follower's position resumes with the clock."""
        tick = round(schedule.tempo_map.tick_at(seconds))
        spp = -(-tick // TICKS_PER_SPP)
        self.output.send(message("songpos", pos=min(spp, 16383)))
        self.output.send(message("continue"))
        return spp * TICKS_PER_SPP

    def _report_position(self, schedule: Schedule, seconds: float) -> None:
        tick = int(schedule.tempo_map.tick_at(seconds))
        self._position_tick = tick
        if self.on_position is not None:
            try:
                self.on_position(tick)
            except Exception:
                log.exception("player position callback failed")
