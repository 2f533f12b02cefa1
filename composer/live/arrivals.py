"""Reading an rtmidi input from its queue, on a thread of composer's own.

Why not rtmidi's callback: a Python callback runs on the backend's thread (for
JACK, the client's process thread) and must take the GIL there. While another
thread of this process holds the GIL inside a call that needs the JACK server
(opening or closing a client or a port), the server waits for the cycle to end,
the cycle waits for the GIL, and libjack, timing the client out, tears it down
under the waiting thread: the process crashes. Polling keeps JACK's threads
free of Python.

Arrival times lose nothing to polling. RtMidi gives each message the time since
the one before by the backend's own clock; a message arrived no later than the
poll that took it, so every poll bounds the stream's start from above, and the
tightest recent bound anchors the backend's clock to ours.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from composer.live.midi import Now

POLL_S = 0.0005  # how often the queue is looked at: well under a JACK period (5.3 ms)
ANCHOR_WINDOW_S = 2.0  # how far back a poll still anchors, in case the two clocks drift

RawMessage = tuple[list[int], float]  # rtmidi's (bytes, seconds since the previous message)


class ArrivalClock:
    """Turns RtMidi's gaps between messages into arrival times on our clock."""

    def __init__(self) -> None:
        self.restart()

    def restart(self) -> None:
        """Forget the stream: the next message starts a new one (after a port reopens)."""
        self._since_first = 0.0
        # (poll time, bound on the first message's time), bounds kept increasing
        self._bounds: deque[tuple[float, float]] = deque()

    def stamp(self, delta: float, polled: float) -> float:
        """The arrival time of a message ``delta`` s after the last, taken at ``polled``."""
        self._since_first += delta
        bound = polled - self._since_first
        while self._bounds and self._bounds[-1][1] >= bound:
            self._bounds.pop()
        self._bounds.append((polled, bound))
        while self._bounds[0][0] < polled - ANCHOR_WINDOW_S:
            self._bounds.popleft()
        return self._bounds[0][1] + self._since_first


class InputReader:
    """A thread that drains ``take()`` (rtmidi's ``get_message``) into ``deliver(when, bytes)``."""

    def __init__(
        self,
        take: Callable[[], RawMessage | None],
        deliver: Callable[[float, list[int]], Any],
        now: Now = time.monotonic,
        name: str = "midi-in",
    ) -> None:
        self._take, self._deliver, self._now = take, deliver, now
        self.clock = ArrivalClock()
        self._clock_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def restart_clock(self) -> None:
        with self._clock_lock:
            self.clock.restart()

    def stop(self) -> None:
        """Stop reading; returns once the thread has taken its last message."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            event = self._take()
            if event is None:
                time.sleep(POLL_S)
                continue
            data, delta = event
            with self._clock_lock:
                when = self.clock.stamp(delta, self._now())
            self._deliver(when, data)
