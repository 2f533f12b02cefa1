"""Arrival times from RtMidi's gaps and the polls that took the messages (no JACK)."""

from __future__ import annotations

import threading

import pytest

from composer.live.arrivals import ANCHOR_WINDOW_S, ArrivalClock, InputReader


def test_each_message_gets_the_tightest_anchor_seen_so_far():
    clock = ArrivalClock()
    sent = [10.000, 10.010, 10.020, 10.030]
    lags = [0.0004, 0.0001, 0.0003, 0.0002]  # how long each waited for its poll
    stamps, previous = [], sent[0]
    for when, lag in zip(sent, lags, strict=True):
        stamps.append(clock.stamp(when - previous, when + lag))
        previous = when
    # never before the message arrived; late only by the least lag seen so far
    assert stamps == pytest.approx([10.0004, 10.0101, 10.0201, 10.0301], abs=1e-9)


def test_a_burst_taken_by_one_late_poll_keeps_its_spacing():
    clock = ArrivalClock()
    clock.stamp(0.0, 5.0001)  # a first message, taken at once
    burst = [clock.stamp(delta, 5.2) for delta in (0.1, 0.005, 0.005)]
    assert burst == pytest.approx([5.1001, 5.1051, 5.1101], abs=1e-9)


def test_old_anchors_expire_so_drifting_clocks_do_not_stamp_early():
    clock = ArrivalClock()
    clock.stamp(0.0, 100.0)  # a tight anchor...
    # ...then the backend's clock runs 1 ms slow over the window: its gaps read short
    late = clock.stamp(ANCHOR_WINDOW_S + 1.0 - 0.001, 100.0 + ANCHOR_WINDOW_S + 1.0 + 0.0002)
    assert late == pytest.approx(100.0 + ANCHOR_WINDOW_S + 1.0 + 0.0002, abs=1e-9)


def test_restart_begins_a_new_stream():
    clock = ArrivalClock()
    clock.stamp(0.0, 1.0)
    clock.stamp(0.5, 1.5)
    clock.restart()
    assert clock.stamp(0.0, 7.25) == pytest.approx(7.25)


def test_reader_delivers_everything_in_order_and_stops():
    queue = [([0x90, 60 + i, 100], 0.001) for i in range(50)]
    lock = threading.Lock()
    got: list[tuple[float, list[int]]] = []

    def take():
        with lock:
            return queue.pop(0) if queue else None

    ticks = iter(range(10**9))
    reader = InputReader(take, lambda when, data: got.append((when, data)),
                         now=lambda: next(ticks) * 1.0)
    while True:
        with lock:
            if not queue:
                break
    reader.stop()
    assert [data[1] for _, data in got] == [60 + i for i in range(50)]
    assert all(b >= a for (a, _), (b, _) in zip(got, got[1:]))
