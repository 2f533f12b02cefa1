"""Player, recorder, MIDI clock and synth over real JACK ports (period 256 at 48 kHz)."""

from __future__ import annotations

import statistics
import threading
import time

from conftest import PERIOD_S
from live_helpers import in_real_time, real_time, song_of

from composer.core.timing import TempoMap
from composer.live.clock import ClockFollower, ClockMaster
from composer.live.jam import BeatGrid, JamSession, RecordEngine
from composer.live.midi import TimedMessage, message
from composer.live.player import Player
from composer.live.ports import open_input, open_output
from composer.live.probe import note_ons
from composer.live.synth import start_synth


def test_played_timings_match_the_song(probe):
    in_real_time(lambda: _played_timings_match_the_song(probe), probe=probe)


def _played_timings_match_the_song(probe):
    song = song_of(
        *[(40 + i, i * 120 + (40 if i % 3 == 0 else 0), 100) for i in range(40)], tempo_bpm=132
    )
    tempo = TempoMap.of(song)
    due = {n.pitch: tempo.seconds_at(n.start_tick) for n in song.tracks[0].notes}
    with open_output(probe.synth_name, "jack") as out:
        time.sleep(0.1)
        probe.take_arrivals()
        player = Player(out)
        assert player.run(song).reason == "end"
        probe.wait_for(lambda: len(note_ons(probe.arrivals)) >= len(due))
    # Without realtime scheduling, an overloaded machine makes JACK drop or repeat the
    # MIDI of a client that missed its cycle: judge each note by its first arrival.
    first: dict[int, float] = {}
    for t, _, p in note_ons(probe.take_arrivals()):
        first.setdefault(p, t)
    assert set(first) <= set(due) and len(first) >= 0.8 * len(due)
    errors = [t - player.started_at - due[p] for p, t in first.items()]
    # Never early; late by about a JACK cycle (5.3 ms). The bounds leave room for a
    # machine busy with other work, not for a wrong tempo or drift, which grows along
    # the song (1% over these 2.3 s is 23 ms). Exact timing is measured by
    # `composer bench live`; the arithmetic is tested with a manual clock.
    assert all(e >= -0.001 for e in errors)
    assert statistics.median(errors) <= PERIOD_S + 0.01
    order = sorted(first, key=first.get)
    assert order == sorted(order, key=due.get)  # in the song's order


@real_time
def test_stop_mid_song_leaves_no_note_sounding(probe):
    song = song_of((60, 0, 1920), (64, 0, 1920), (67, 480, 1440), (72, 960, 960))
    with open_output(probe.synth_name, "jack") as out:
        player = Player(out)
        player.play(song)
        assert probe.wait_for(lambda: len(probe.sounding_keys()) >= 3)
        player.stop()
        assert probe.wait_for(lambda: probe.sounding_keys() == [])
        controls = {raw[1] for _, raw in probe.take_arrivals() if raw[0] & 0xF0 == 0xB0}
        assert {123, 121, 64} <= controls  # all notes off, reset controllers, sustain up


def test_clock_master_tempo_is_recovered_by_a_follower_within_half_a_bpm(probe):
    in_real_time(
        lambda: _clock_master_tempo_is_recovered_by_a_follower_within_half_a_bpm(probe), probe=probe
    )


def _clock_master_tempo_is_recovered_by_a_follower_within_half_a_bpm(probe):
    with open_output(probe.synth_name, "jack") as out:
        time.sleep(0.1)
        probe.take_arrivals()
        master = ClockMaster(out, 128.0)
        master.start()
        time.sleep(60 / 128 * 2 + 0.15)  # two beats of clock, and a little
        master.stop()
        probe.wait_for(lambda: any(raw[0] == 0xFC for _, raw in probe.arrivals))
    follower = ClockFollower()
    for when, raw in probe.take_arrivals():
        if raw[0] in (0xF8, 0xFA, 0xFC):
            follower.feed(
                TimedMessage(when, message({0xF8: "clock", 0xFA: "start", 0xFC: "stop"}[raw[0]]))
            )
    # 0.5 BPM after two beats is shown for JACK's jitter by the unit test with a
    # quantised clock; over a real server on a machine that may be busy, 1%.
    assert abs(follower.tempo_bpm - 128.0) <= 1.28
    assert not follower.running and follower.position_tick >= 2 * 480


def test_player_clock_gives_the_follower_the_song_position(probe):
    in_real_time(lambda: _player_clock_gives_the_follower_the_song_position(probe), probe=probe)


def _player_clock_gives_the_follower_the_song_position(probe):
    song = song_of((60, 0, 1920), tempo_bpm=150)
    received = []
    with open_output(probe.synth_name, "jack") as out:
        time.sleep(0.1)
        probe.take_arrivals()
        Player(out).run(song, start_tick=960, clock=True)
        probe.wait_for(lambda: sum(raw[0] == 0xFC for _, raw in probe.arrivals) >= 2)
    follower = ClockFollower()
    names = {0xF8: "clock", 0xFB: "continue", 0xFC: "stop"}
    for when, raw in probe.take_arrivals():
        if raw[0] == 0xF2:
            follower.feed(TimedMessage(when, message("songpos", pos=raw[1] | raw[2] << 7)))
        elif raw[0] in names:
            received.append(names[raw[0]])
            follower.feed(TimedMessage(when, message(names[raw[0]])))
    assert received[0] == "continue" and "stop" in received
    assert follower.position_tick >= 1920 - 20  # the last clock before the end (or repeats)
    assert abs(follower.tempo_bpm - 150.0) <= 1.5


def test_recorded_notes_match_what_was_sent(probe):
    in_real_time(lambda: _recorded_notes_match_what_was_sent(probe), probe=probe)


def _recorded_notes_match_what_was_sent(probe):
    grid = BeatGrid(120.0)
    engine = RecordEngine(grid, count_in_bars=0, metronome=False, thru=False)
    sent = [(0.25, 60, 100), (0.5, 62, 90), (1.0, 64, 80), (1.25, 65, 70)]
    sent_at = []
    with open_input(probe.keys_name, "jack") as inp, open_output(probe.synth_name, "jack") as out:
        session = JamSession(inp, out, engine)
        cancel = threading.Event()
        runner = threading.Thread(target=session.run, args=(cancel,))
        runner.start()
        time.sleep(0.2)
        origin = grid.origin
        for offset, pitch, velocity in sent:
            while time.monotonic() < origin + offset:
                time.sleep(0.001)
            sent_at.append(probe.send([0x90, pitch, velocity]))
        probe.send([0xB0, 64, 127])  # the pedal holds the notes on
        time.sleep(0.1)
        for _, pitch, _ in sent:
            probe.send([0x80, pitch, 0])
        probe.send([0x80, 40, 0])  # released but never pressed
        while time.monotonic() < origin + 1.75:
            time.sleep(0.005)
        pedal_up = probe.send([0xB0, 64, 0])
        time.sleep(0.2)
        cancel.set()
        runner.join(5)
    take = engine.take
    notes = sorted(take.track.notes)
    assert [(n.pitch, n.velocity) for n in notes] == [(p, v) for _, p, v in sent]
    ticks_per_s = 960  # at 120 BPM
    lags = [
        n.start_tick / ticks_per_s - (when - origin) for n, when in zip(notes, sent_at, strict=True)
    ]
    lags += [n.end_tick / ticks_per_s - (pedal_up - origin) for n in notes]  # all held by the pedal
    # a message is stamped when it arrives: never before it was sent, about a JACK
    # cycle after (more only when a busy machine stalls a cycle)
    assert all(lag >= -0.002 for lag in lags)
    assert statistics.median(lags) <= PERIOD_S + 0.01
    assert take.stats.unmatched_note_offs == 1


@real_time
def test_fluidsynth_opens_a_port_plays_and_stops(jack_server):
    synth = start_synth("jack")
    try:
        assert synth.running and "composer-synth" in synth.port_name
        with open_output(synth.port_name, "jack") as out:
            Player(out).run(song_of((60, 0, 240), (64, 240, 240)))
    finally:
        synth.stop()
    assert synth.process.returncode == 0
    synth.stop()  # again: nothing happens
