"""MIDI clock: composer as master (sending) and as follower (locking to a DAW).

MIDI clock is 24 ``clock`` messages per quarter note; ``start`` plays from the
top, ``stop`` halts, ``continue`` resumes at the last ``songpos`` (counted in
sixteenths, 6 clocks each). The first clock after start or continue marks the
position; each later one moves it on by 1/24 of a quarter (20 of our ticks).

The follower estimates tempo by a least-squares line through the arrival
times of the last two beats of clock, which averages out the jitter of the
transport (JACK delivers MIDI once per cycle: 5.3 ms at -p 256), and starts a
new estimate when the clock stops or jumps.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable

from composer.live.midi import TICKS_PER_CLOCK, TICKS_PER_SPP, TimedMessage, message
from composer.live.ports import OutputPort

log = logging.getLogger(__name__)

CLOCKS_PER_QUARTER = 24
MIN_BPM = 1.0
MAX_BPM = 1000.0
PLAUSIBLE_BPM = (20.0, 400.0)
TEMPO_CHANGE = 0.25
"""A half beat of clock this much off the estimate means the tempo changed."""
GAP_S = 2.0
"""Clock silent this long (and 8 clocks' worth) has stopped: the estimate starts over."""
BURST_S = 0.001
"""Clocks closer than this came in one burst (at 1000 BPM they are 2.5 ms apart)."""
OUTLIER_S = 0.008
"""Clocks further than this off the fitted line (and 4 typical deviations) were delivered
late by a stalled cycle; the jitter of a JACK period (5.3 ms at 256 frames) stays within."""


def _line(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares slope and intercept of time against clock number."""
    n = len(points)
    mean_k = sum(k for k, _ in points) / n
    mean_t = sum(t for _, t in points) / n
    den = sum((k - mean_k) ** 2 for k, _ in points)
    if den == 0:
        return 0.0, mean_t
    slope = sum((k - mean_k) * (t - mean_t) for k, t in points) / den
    return slope, mean_t - slope * mean_k


def clock_interval_s(tempo_bpm: float) -> float:
    return 60.0 / (tempo_bpm * CLOCKS_PER_QUARTER)


class ClockFollower:
    """Locks tempo and position to incoming MIDI clock. Feed it every message.

    ``tempo_bpm`` is None until three clocks of one steady run arrived;
    ``position_tick`` is the song position (in our ticks, 480 per quarter) of
    the last clock while running. Clock without start still gives a tempo;
    ``clocks_without_start`` counts it so the UI can say so.
    """

    def __init__(self, window_clocks: int = 2 * CLOCKS_PER_QUARTER) -> None:
        self.window_clocks = window_clocks
        self._times: deque[float] = deque(maxlen=window_clocks + 1)
        self.tempo_bpm: float | None = None
        self.running = False
        self.position_tick = 0
        self.last_clock_time: float | None = None
        self._spp_tick = 0
        self._awaiting_first = False
        self.clocks_without_start = 0

    def feed(self, timed: TimedMessage) -> str | None:
        """Take one message; returns its transport kind ('clock', 'start', ...) or None."""
        msg, when = timed.message, timed.time
        kind = msg.type
        if kind == "clock":
            self._clock(when)
        elif kind == "start":
            self.running = True
            self._spp_tick = 0
            self._awaiting_first = True
        elif kind == "continue":
            self.running = True
            self._awaiting_first = True
        elif kind == "stop":
            self.running = False
        elif kind == "songpos":
            self._spp_tick = msg.pos * TICKS_PER_SPP
            if not self.running:
                self.position_tick = self._spp_tick
        else:
            return None
        return kind

    def _clock(self, when: float) -> None:
        burst = False
        if self._times:
            interval = when - self._times[-1]
            expected = 60.0 / (self.tempo_bpm * CLOCKS_PER_QUARTER) if self.tempo_bpm else 0.0
            if interval < 0 or interval > max(GAP_S, 8 * expected):
                self._times.clear()  # the clock stopped or jumped: start a new estimate
            # Clocks that arrive together were held up by a stalled cycle: their
            # times say when the cycle ran, not when they were sent.
            burst = 0 <= interval < BURST_S
        if not burst:
            self._times.append(when)
            self._follow_tempo_change()
            self._estimate()
        self.last_clock_time = when
        if not self.running:
            self.clocks_without_start += 1
            return
        if self._awaiting_first:
            self.position_tick = self._spp_tick
            self._awaiting_first = False
        else:
            self.position_tick += TICKS_PER_CLOCK

    def _follow_tempo_change(self) -> None:
        """Restart the estimate at a tempo change: the last two half beats of clock
        both run long (or both short) against the current tempo. One half beat
        alone is not enough: a burst of clocks that a late cycle delivered at once
        lengthens one and shortens the next."""
        half = CLOCKS_PER_QUARTER // 2
        if self.tempo_bpm is None or len(self._times) <= 2 * half:
            return
        expected = half * 60.0 / (self.tempo_bpm * CLOCKS_PER_QUARTER)
        times = self._times
        late = (times[-1] - times[-1 - half]) / expected - 1.0
        early = (times[-1 - half] - times[-1 - 2 * half]) / expected - 1.0
        if abs(late) > TEMPO_CHANGE and abs(early) > TEMPO_CHANGE and late * early > 0:
            for _ in range(len(self._times) - half - 1):
                self._times.popleft()

    def _estimate(self) -> None:
        n = len(self._times)
        if n < 3:
            return
        points = list(enumerate(self._times))
        seconds_per_clock, offset = _line(points)
        if n >= 8:
            # Clocks a late cycle delivered late lie off the line: fit again without them.
            residuals = [t - (offset + k * seconds_per_clock) for k, t in points]
            limit = max(4 * statistics.median(abs(r) for r in residuals), OUTLIER_S)
            kept = [p for p, r in zip(points, residuals, strict=True) if abs(r) <= limit]
            if len(kept) >= n // 2:
                seconds_per_clock, _ = _line(kept)
        if seconds_per_clock <= 0:
            return
        self.tempo_bpm = min(MAX_BPM, max(MIN_BPM, 60.0 / (seconds_per_clock * CLOCKS_PER_QUARTER)))

    @property
    def steady_clocks(self) -> int:
        """Clocks in the current steady run (the estimate's support)."""
        return len(self._times)

    @property
    def plausible(self) -> bool:
        """Whether the tempo is one music is played at (absurd clocks are shown, not used)."""
        return self.tempo_bpm is not None and PLAUSIBLE_BPM[0] <= self.tempo_bpm <= PLAUSIBLE_BPM[1]

    def tick_at(self, when: float) -> float | None:
        """Song position at clock time ``when``, extrapolated from the last clock."""
        if self.tempo_bpm is None or self.last_clock_time is None or not self.running:
            return None
        seconds_per_tick = 60.0 / (self.tempo_bpm * 480)
        return self.position_tick + (when - self.last_clock_time) / seconds_per_tick

    def time_of_tick(self, tick: float) -> float | None:
        """Clock time at which song position ``tick`` falls (extrapolated)."""
        if self.tempo_bpm is None or self.last_clock_time is None or not self.running:
            return None
        seconds_per_tick = 60.0 / (self.tempo_bpm * 480)
        return self.last_clock_time + (tick - self.position_tick) * seconds_per_tick


class ClockMaster:
    """Sends MIDI clock at a tempo from a background thread (or ``run_until`` in tests).

    Clock ``k`` after start is due at ``started_at + k * interval``; a tempo
    change re-anchors at the next clock, so no error accumulates.
    """

    def __init__(
        self,
        output: OutputPort,
        tempo_bpm: float,
        *,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if not MIN_BPM <= tempo_bpm <= MAX_BPM:
            raise ValueError(f"tempo {tempo_bpm:g} BPM is outside {MIN_BPM:g}..{MAX_BPM:g}")
        self.output = output
        self.tempo_bpm = tempo_bpm
        self._now = now
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait
        self._thread: threading.Thread | None = None
        self.started_at: float | None = None
        self._anchor_time = 0.0
        self._anchor_tick = 0
        self._next_clock_tick = 0
        self.error: BaseException | None = None

    def start(self, position_tick: int = 0, at: float | None = None, thread: bool = True) -> float:
        """Send start (or song position + continue) and run the clock; returns when tick
        ``position_tick`` (rounded up to a sixteenth) falls on the clock."""
        spp = -(-position_tick // TICKS_PER_SPP)
        tick = spp * TICKS_PER_SPP
        if spp == 0:
            self.output.send(message("start"))
        else:
            self.output.send(message("songpos", pos=min(spp, 16383)))
            self.output.send(message("continue"))
        self.started_at = self._now() if at is None else at
        self._anchor_time, self._anchor_tick, self._next_clock_tick = self.started_at, tick, tick
        self._stop.clear()
        if thread:
            self._thread = threading.Thread(target=self._run, name="midi-clock", daemon=True)
            self._thread.start()
        return self.started_at

    def time_of_tick(self, tick: float) -> float:
        return self._anchor_time + (tick - self._anchor_tick) * 60.0 / (self.tempo_bpm * 480)

    def tick_at(self, when: float) -> float:
        return self._anchor_tick + (when - self._anchor_time) * self.tempo_bpm * 480 / 60.0

    def set_tempo(self, tempo_bpm: float) -> None:
        if not MIN_BPM <= tempo_bpm <= MAX_BPM:
            raise ValueError(f"tempo {tempo_bpm:g} BPM is outside {MIN_BPM:g}..{MAX_BPM:g}")
        tick = self._next_clock_tick
        self._anchor_time, self._anchor_tick = self.time_of_tick(tick), tick
        self.tempo_bpm = tempo_bpm

    def run_until(self, until: float) -> None:
        """Send every clock due before ``until`` (the thread's body; tests call it directly)."""
        while not self._stop.is_set():
            due = self.time_of_tick(self._next_clock_tick)
            if due >= until:
                return
            now = self._now()
            if due > now:
                self._sleep(due - now)
                continue
            self.output.send(message("clock"))
            self._next_clock_tick += TICKS_PER_CLOCK

    def _run(self) -> None:
        try:
            self.run_until(float("inf"))
        except Exception as err:  # the port failed: the owner reads .error
            self.error = err
            log.warning("MIDI clock stopped: %s", err)

    def stop(self) -> None:
        """Stop the clock thread and send stop; idempotent."""
        was_running = self.started_at is not None
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(2.0)
        if was_running:
            self.started_at = None
            try:
                self.output.send(message("stop"))
            except Exception as err:
                log.debug("sending clock stop: %s", err)
