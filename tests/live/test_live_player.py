"""Schedule and player timing arithmetic with a manual clock and a loop-back port."""

from __future__ import annotations

import pytest
from live_helpers import song_of

from composer.core.song import ControlChange, Note, Song, TempoChange, Track
from composer.errors import PortError
from composer.live.midi import ManualClock, note_on
from composer.live.player import Player
from composer.live.ports import LoopbackOutput
from composer.live.schedule import build_schedule


def _player(clock: ManualClock, **kw) -> tuple[Player, LoopbackOutput]:
    out = LoopbackOutput("test", now=clock)
    return Player(out, now=clock, sleep=clock.sleep, **kw), out


def _notes(out: LoopbackOutput, start: float, kind: str = "note_on") -> list[tuple[float, int]]:
    return [
        (round(m.time - start, 6), m.message.note)
        for m in out.sent
        if m.message.type == kind and (kind != "note_on" or m.message.velocity > 0)
    ]


def test_schedule_follows_the_tempo_map_and_orders_offs_before_ons():
    song = Song(
        tracks=(
            Track("A").with_notes(
                [
                    Note(pitch=60, start_tick=0, duration_ticks=480),
                    Note(pitch=60, start_tick=480, duration_ticks=480),
                    Note(pitch=62, start_tick=1440, duration_ticks=480),
                ]
            ),
        ),
        tempos=(TempoChange.from_bpm(0, 120), TempoChange.from_bpm(960, 60)),
    )
    events = build_schedule(song).events
    ons = [(e.seconds, e.message.note) for e in events if e.message.type == "note_on"]
    assert ons == [(0.0, 60), (0.5, 60), (2.0, 62)]  # the beat after tick 960 lasts 1 s
    at_480 = [e.message.type for e in events if e.tick == 480]
    assert at_480 == ["note_off", "note_on"]
    assert events[0].message.type == "program_change"


def test_selection_cuts_notes_at_its_end_and_chases_controllers():
    track = Track("A", controls=(ControlChange(0, 7, 90), ControlChange(100, 64, 127))).with_notes(
        [
            Note(pitch=60, start_tick=0, duration_ticks=960),
            Note(pitch=64, start_tick=960, duration_ticks=960),
        ]
    )
    schedule = build_schedule(Song(tracks=(track,)), start_tick=480, end_tick=1440)
    msgs = [(e.tick, e.message) for e in schedule.events]
    assert (1440, "note_off", 64) in [(t, m.type, getattr(m, "note", None)) for t, m in msgs]
    # the note that began before the selection is not replayed
    assert 60 not in [m.note for _, m in msgs if m.type == "note_on"]
    chased = {m.control: m.value for t, m in msgs if m.type == "control_change" and t == 480}
    assert chased == {7: 90, 64: 127}


def test_clock_is_24_per_quarter_with_start_and_stop():
    schedule = build_schedule(song_of((60, 0, 960)), clock=True)
    types = [e.message.type for e in schedule.events]
    clocks = [e.seconds for e in schedule.events if e.message.type == "clock"]
    assert types.index("start") < types.index("clock")
    assert len(clocks) == 48 and clocks[1] - clocks[0] == pytest.approx(0.5 / 24)
    assert types[-1] == "stop"
    mid = build_schedule(song_of((60, 0, 1920)), start_tick=250, clock=True)
    pos = [e.message.pos for e in mid.events if e.message.type == "songpos"]
    first_clock = next(e.tick for e in mid.events if e.message.type == "clock")
    assert pos == [3] and first_clock == 360  # the next sixteenth after tick 250


def test_player_sends_every_message_exactly_when_due():
    clock = ManualClock()
    player, out = _player(clock)
    song = song_of((60, 0, 240), (62, 240, 240), (64, 720, 480), tempo_bpm=90)
    result = player.run(song)
    assert result.reason == "end"
    beat = 60 / 90
    assert _notes(out, player.started_at) == [
        (0.0, 60),
        (pytest.approx(beat / 2), 62),
        (pytest.approx(1.5 * beat), 64),
    ]
    assert _notes(out, player.started_at, "note_off")[-1] == (pytest.approx(2.5 * beat), 64)
    assert out.sounding() == []


def test_pause_silences_and_resume_continues_where_it_stopped():
    clock = ManualClock()
    player, out = _player(clock)
    song = song_of((60, 0, 960), (62, 960, 480))
    start = clock.time
    clock.at(start + 0.25, player.pause)
    clock.at(start + 3.0, player.resume)
    player.run(song)
    offs = _notes(out, start, "note_off")
    assert offs[0] == (pytest.approx(0.25), 60)  # the held note stops with the pause
    ons = _notes(out, start)
    assert ons[1] == (pytest.approx(3.0 + 0.75), 62)  # 0.75 s of song was left before it


def test_seek_jumps_and_loop_repeats_without_drift():
    clock = ManualClock()
    player, out = _player(clock)
    song = song_of((60, 0, 480), (62, 480, 480), (64, 960, 480))
    start = clock.time
    clock.at(start + 2.6, player.stop)
    player.run(song, loop=True)
    ons = _notes(out, start)
    assert [p for _, p in ons] == [60, 62, 64, 60, 62, 64]
    assert ons[3][0] == pytest.approx(1.5) and ons[5][0] == pytest.approx(2.5)

    clock2 = ManualClock()
    player2, out2 = _player(clock2)
    start2 = clock2.time
    clock2.at(start2 + 0.1, lambda: player2.seek(960))
    player2.run(song)
    assert [p for _, p in _notes(out2, start2)] == [60, 64]
    assert _notes(out2, start2)[1][0] == pytest.approx(0.1)


def test_stop_sends_note_offs_then_all_notes_off_and_controller_reset():
    clock = ManualClock()
    player, out = _player(clock)
    song = Song(
        tracks=(
            Track("A").with_notes([Note(pitch=60, start_tick=0, duration_ticks=1920)]),
            Track("B", channel=3).with_notes([Note(pitch=48, start_tick=0, duration_ticks=1920)]),
        )
    )
    clock.at(clock.time + 0.5, player.stop)
    assert player.run(song).reason == "stopped"
    after = [m.message for m in out.sent if m.time >= clock.time - 1e-9]
    offs = {(m.channel, m.note) for m in after if m.type == "note_off"}
    assert offs == {(0, 60), (3, 48)}
    resets = {(m.channel, m.control) for m in after if m.type == "control_change"}
    assert {(0, 123), (3, 123), (0, 121), (3, 121), (0, 64)} <= resets
    assert out.sounding() == []


class _FailingOutput(LoopbackOutput):
    def __init__(self, clock, fail_after: int) -> None:
        super().__init__("failing", clock)
        self.fail_after = fail_after

    def _write(self, msg) -> None:
        if (
            msg.type == "note_on"
            and len([m for m in self.sent if m.message.type == "note_on"]) >= self.fail_after
        ):
            raise PortError("the synth went away")
        super()._write(msg)


def test_a_port_error_ends_playback_with_every_note_off():
    clock = ManualClock()
    out = _FailingOutput(clock, fail_after=2)
    player = Player(out, now=clock, sleep=clock.sleep)
    with pytest.raises(PortError):
        player.run(song_of((60, 0, 960), (64, 0, 960), (67, 480, 480)))
    assert player.finished is not None and player.finished.reason == "error"
    sent_offs = {m.message.note for m in out.sent if m.message.type == "note_off"}
    assert {60, 64} <= sent_offs and out.sounding() == []


def test_position_callback_reports_the_playhead_in_ticks():
    clock = ManualClock()
    ticks: list[int] = []
    player, _ = _player(clock, on_position=ticks.append, position_interval_s=0.1)
    player.run(song_of((60, 0, 960)))
    assert ticks == sorted(ticks) and ticks[-1] == 960
    assert ticks[1] - ticks[0] == pytest.approx(96, abs=1)  # 0.1 s at 120 BPM


def test_closing_a_port_twice_is_harmless_and_sending_after_close_is_an_error():
    out = LoopbackOutput("x")
    out.close()
    out.close()
    with pytest.raises(PortError):
        out.send(note_on(0, 60, 90))
