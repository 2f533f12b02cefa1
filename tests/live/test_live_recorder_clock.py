"""Recorder (timestamps to notes, sustain, count-in, quantise) and MIDI clock arithmetic."""

from __future__ import annotations

import random

import pytest

from composer.core.song import TempoChange
from composer.core.timing import TempoMap
from composer.live.clock import ClockFollower, ClockMaster
from composer.live.midi import ManualClock, TimedMessage, message, note_off, note_on
from composer.live.ports import LoopbackOutput
from composer.live.recorder import QuantiseSettings, TakeRecorder, click_song

TEMPO_120 = TempoMap((TempoChange(0, 500_000),))


def _feed(recorder: TakeRecorder, *events: tuple[float, object]) -> None:
    for when, msg in events:
        recorder.feed(TimedMessage(when, msg))


def test_timestamps_become_ticks_with_velocities():
    rec = TakeRecorder(TEMPO_120, origin=10.0)
    _feed(
        rec,
        (10.0, note_on(0, 60, 100)),
        (10.25, note_off(0, 60)),
        (10.5, note_on(0, 64, 70)),
        (11.0, note_on(0, 64, 0)),
    )  # a note-on at velocity 0 ends it
    notes = rec.finish(12.0).track.notes
    assert [(n.pitch, n.start_tick, n.duration_ticks, n.velocity) for n in notes] == [
        (60, 0, 240, 100),
        (64, 480, 480, 70),
    ]


def test_sustain_pedal_is_folded_into_durations():
    rec = TakeRecorder(TEMPO_120, origin=0.0)
    _feed(
        rec,
        (0.0, message("control_change", channel=0, control=64, value=127)),
        (0.0, note_on(0, 60, 90)),
        (0.1, note_off(0, 60)),
        (0.5, note_on(0, 62, 90)),
        (0.6, note_off(0, 62)),
        (0.75, note_on(0, 60, 90)),  # struck again under the pedal: the first ends here
        (1.0, message("control_change", channel=0, control=64, value=0)),
        (1.5, note_off(0, 60)),
    )
    notes = sorted((n.start_tick, n.pitch, n.end_tick) for n in rec.finish(2.0).track.notes)
    assert notes == [(0, 60, 720), (480, 62, 960), (720, 60, 1440)]


def test_note_offs_without_note_ons_and_count_in_notes_are_counted_not_recorded():
    rec = TakeRecorder(TEMPO_120, origin=2.0)
    _feed(
        rec,
        (0.5, note_on(0, 50, 90)),
        (0.9, note_off(0, 50)),  # inside the count-in
        (1.9, note_on(0, 55, 90)),
        (2.2, note_off(0, 55)),  # a hair early: kept at tick 0
        (2.5, note_off(0, 70)),  # held since before recording
        (2.5, message("sysex", data=[1, 2, 3])),
    )
    take = rec.finish(3.0)
    assert [(n.pitch, n.start_tick) for n in take.track.notes] == [(55, 0)]
    assert take.stats.unmatched_note_offs == 1
    assert take.stats.early_notes_dropped == 1
    assert take.stats.ignored_messages == 1


def test_keeping_a_take_quantises_with_strength_and_swing():
    rec = TakeRecorder(TEMPO_120, origin=0.0)
    for i, when in enumerate((0.01, 0.26, 0.49, 0.74)):  # eighths, played a little loose
        _feed(rec, (when, note_on(0, 60 + i, 90)), (when + 0.2, note_off(0, 60 + i)))
    take = rec.finish(1.0)
    straight = take.kept(QuantiseSettings(grid_ticks=240))
    assert [n.start_tick for n in straight.notes] == [0, 240, 480, 720]
    swung = take.kept(QuantiseSettings(grid_ticks=240, swing=0.33))
    assert [n.start_tick for n in swung.notes] == [0, 319, 480, 799]
    half = take.kept(QuantiseSettings(grid_ticks=240, strength=0.5))
    assert half.notes[1].start_tick == round((250 + 240) / 2)
    assert take.kept() is take.track


def test_click_song_accents_each_bar_on_the_drum_channel():
    song = click_song(2, 90.0)
    notes = song.tracks[0].notes
    assert song.tracks[0].channel == 9 and len(notes) == 8
    assert [n.velocity > 100 for n in notes] == [True, False, False, False] * 2


def _clock_times(
    bpm: float, count: int, start: float = 0.0, jitter_period: float = 0.0, seed: int = 0
) -> list[float]:
    """Clock arrival times; with ``jitter_period`` each is delayed to the next JACK cycle."""
    rng = random.Random(seed)
    interval = 60.0 / (bpm * 24)
    phase = rng.random() * jitter_period
    times = []
    for k in range(count):
        t = start + k * interval
        if jitter_period:
            t = phase + jitter_period * -(-(t - phase) // jitter_period)
        times.append(t)
    return times


@pytest.mark.parametrize("bpm", [60.0, 97.0, 120.0, 174.0, 240.0])
def test_follower_tempo_is_within_half_a_bpm_after_two_beats_of_jack_quantised_clock(bpm):
    follower = ClockFollower()
    follower.feed(TimedMessage(0.0, message("start")))
    for seed in range(3):
        follower = ClockFollower()
        for when in _clock_times(bpm, 49, jitter_period=256 / 48000, seed=seed):
            follower.feed(TimedMessage(when, message("clock")))
        assert follower.tempo_bpm == pytest.approx(bpm, abs=0.5)


def test_follower_position_comes_from_start_and_song_position():
    follower = ClockFollower()
    follower.feed(TimedMessage(0.0, message("songpos", pos=8)))  # bar 3 of 4/4 in sixteenths
    follower.feed(TimedMessage(0.0, message("continue")))
    for when in _clock_times(120.0, 25):
        follower.feed(TimedMessage(when, message("clock")))
    assert follower.running and follower.position_tick == 8 * 120 + 24 * 20
    assert follower.tick_at(0.5 + 0.25) == pytest.approx(960 + 480 + 240)
    follower.feed(TimedMessage(1.0, message("stop")))
    follower.feed(TimedMessage(1.1, message("start")))
    follower.feed(TimedMessage(1.2, message("clock")))
    assert follower.position_tick == 0


def test_clock_without_start_gives_tempo_but_no_position_and_absurd_tempos_are_flagged():
    follower = ClockFollower()
    for when in _clock_times(100.0, 30):
        follower.feed(TimedMessage(when, message("clock")))
    assert follower.tempo_bpm == pytest.approx(100.0)
    assert (
        not follower.running
        and follower.clocks_without_start == 30
        and follower.tick_at(1.0) is None
    )
    fast = ClockFollower()
    for when in _clock_times(3000.0, 30):
        fast.feed(TimedMessage(when, message("clock")))
    assert fast.tempo_bpm == 1000.0 and not fast.plausible


def test_follower_starts_a_new_estimate_when_the_clock_stops_and_changes_tempo():
    follower = ClockFollower()
    times = _clock_times(90.0, 48) + _clock_times(150.0, 49, start=5.0)
    for when in times:
        follower.feed(TimedMessage(when, message("clock")))
    assert follower.tempo_bpm == pytest.approx(150.0)


def test_master_sends_clock_on_a_fixed_grid_and_follows_tempo_changes():
    clock = ManualClock(0.0)
    out = LoopbackOutput("clock", now=clock)
    master = ClockMaster(out, 120.0, now=clock, sleep=clock.sleep)
    started = master.start(thread=False)
    master.run_until(started + 1.0)
    clocks = [m.time for m in out.sent if m.message.type == "clock"]
    assert out.sent[0].message.type == "start"
    assert len(clocks) == 48 and clocks[-1] == pytest.approx(47 * 0.5 / 24)
    master.set_tempo(60.0)
    master.run_until(started + 2.0)
    clocks = [m.time for m in out.sent if m.message.type == "clock"]
    assert clocks[49] - clocks[48] == pytest.approx(1.0 / 24)
    master.stop()
    assert out.sent[-1].message.type == "stop"
    follower = ClockFollower()
    for m in out.sent:
        follower.feed(m)
    assert follower.tempo_bpm == pytest.approx(60.0)
