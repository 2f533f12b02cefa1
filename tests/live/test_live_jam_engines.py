"""Jam engines driven by hand: the time arithmetic of call and response, the
harmoniser's voice bookkeeping, the recorder's metronome. A small injected
responder and harmoniser stand in for the models (the JACK tests use the real ones)."""

from __future__ import annotations

import threading
from concurrent.futures import Future

import pytest

from composer.core.song import Note
from composer.live.jam import (
    BeatGrid,
    CallResponseEngine,
    HarmonizerEngine,
    RecordEngine,
    Scheduler,
)
from composer.live.midi import TimedMessage, message, note_off, note_on


def inline(work):
    """Run a responder at once (a worker thread in real use)."""
    future: Future = Future()
    try:
        future.set_result(work())
    except Exception as err:
        future.set_exception(err)
    return future


class EchoResponder:
    """Answers with the phrase's pitches a fifth up, a quarter each, from ``from_tick``."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[int], int]] = []

    def __call__(self, phrase, from_tick, cancel: threading.Event) -> list[Note]:
        pitches = [n.pitch for n in phrase.tracks[0].notes]
        self.calls.append((pitches, from_tick))
        return [
            Note(pitch=p + 7, start_tick=from_tick + 480 * i, duration_ticks=400)
            for i, p in enumerate(pitches)
        ]


class Triads:
    """Harmonises each note with the third and fifth below it."""

    def __init__(self) -> None:
        self.on: list[int] = []
        self.off: list[int] = []
        self.resets = 0

    def note_on(self, pitch: int, velocity: int) -> list[int]:
        self.on.append(pitch)
        return [pitch - 4, pitch - 7]

    def note_off(self, pitch: int) -> None:
        self.off.append(pitch)

    def reset(self) -> None:
        self.resets += 1


def _engine(engine):
    out = Scheduler()
    engine.bind(out)
    return engine, out


def _play(engine, *events):
    for when, msg in events:
        engine.handle(TimedMessage(when, msg))
        engine.tick(when)


def _scheduled(out: Scheduler) -> list:
    """Messages due at a clock time (thru notes go out at once and are left out)."""
    return [(t, m) for t, m in out.pending() if t != float("-inf")]


def _sounding(out: Scheduler, upto: float = float("inf")) -> set[tuple[int, int]]:
    held: set[tuple[int, int]] = set()
    for msg in out.due(upto):
        if msg.type == "note_on" and msg.velocity:
            held.add((msg.channel, msg.note))
        elif msg.type == "note_off":
            held.discard((msg.channel, msg.note))
    return held


def test_harmoniser_sounds_harmony_while_held_and_releases_it_with_the_melody():
    triads = Triads()
    engine, out = _engine(HarmonizerEngine(triads))
    _play(engine, (0.0, note_on(0, 72, 100)))
    sent = out.due(0.0)
    assert [(m.type, m.note) for m in sent] == [("note_on", 72), ("note_on", 68), ("note_on", 65)]
    assert sent[1].velocity == 85  # harmony a little under the melody
    _play(engine, (0.5, note_off(0, 72)))
    assert sorted((m.type, m.note) for m in out.due(0.5)) == [
        ("note_off", 65),
        ("note_off", 68),
        ("note_off", 72),
    ]
    assert triads.off == [72]


def test_shared_harmony_pitches_sound_until_both_melody_notes_are_released():
    engine, out = _engine(HarmonizerEngine(Triads()))
    _play(engine, (0.0, note_on(0, 72, 90)), (0.1, note_on(0, 69, 90)))  # both give pitch 65
    _play(engine, (0.2, note_off(0, 72)))
    assert (0, 65) in _sounding(out)
    _play(engine, (0.3, note_off(0, 69)))
    assert out.due(1.0)[-1].note in (62, 65, 69)
    engine2, out2 = _engine(HarmonizerEngine(Triads()))
    _play(
        engine2,
        (0.0, note_on(0, 72, 90)),
        (0.1, note_on(0, 69, 90)),
        (0.2, note_off(0, 72)),
        (0.3, note_off(0, 69)),
    )
    assert _sounding(out2) == set()


def test_harmoniser_survives_bad_input_and_a_failing_model():
    class Broken(Triads):
        def note_on(self, pitch, velocity):
            raise RuntimeError("model crashed")

    engine, out = _engine(HarmonizerEngine(Broken()))
    _play(
        engine,
        (0.0, note_off(0, 40)),  # never pressed
        (0.0, message("sysex", data=[0x7E, 0x7F, 0x06, 0x01])),
        (0.0, message("control_change", channel=0, control=1, value=64)),
        (0.1, note_on(0, 60, 90)),
    )
    sent = out.due(0.1)
    assert [m.type for m in sent] == ["sysex", "control_change", "note_on"]  # passed through
    assert engine.errors == 1 and engine.events[-1].kind == "error"


def test_input_vanishing_releases_everything_the_harmoniser_holds():
    triads = Triads()
    engine, out = _engine(HarmonizerEngine(triads))
    _play(engine, (0.0, note_on(0, 72, 90)), (0.0, note_on(0, 76, 90)))
    engine.release_all(0.5)
    assert _sounding(out) == set() and triads.resets == 1


def _phrase(engine, start: float, pitches, beat: float = 0.5):
    for i, pitch in enumerate(pitches):
        _play(
            engine,
            (start + i * beat, note_on(0, pitch, 90)),
            (start + i * beat + 0.4 * beat, note_off(0, pitch)),
        )


def test_answer_comes_on_the_first_beat_after_the_pause_in_tempo():
    responder = EchoResponder()
    grid = BeatGrid(120.0)
    engine, out = _engine(CallResponseEngine(responder, grid, pause_beats=2.0, submit=inline))
    _phrase(engine, 10.0, [60, 62, 64, 65])
    last_off = 10.0 + 3 * 0.5 + 0.2
    detect = last_off + 2 * 0.5
    engine.tick(detect - 0.01)
    assert not [e for e in engine.events if e.kind == "pause"]
    engine.tick(detect)
    pause, answer = [e for e in engine.events if e.kind in ("pause", "response")]
    assert pause.time == pytest.approx(detect)
    ons = [(t, m.note) for t, m in _scheduled(out) if m.type == "note_on"]
    first = ons[0][0]
    assert 0 <= first - detect <= 0.5  # within one beat at 120 BPM
    assert (first - grid.origin) / 0.5 == pytest.approx(
        round((first - grid.origin) / 0.5)
    )  # on a beat
    assert [p for _, p in ons] == [67, 69, 71, 72]
    gaps = [b - a for (a, _), (b, _) in zip(ons, ons[1:], strict=False)]
    assert gaps == pytest.approx([0.5] * 3)  # in tempo
    assert responder.calls == [([60, 62, 64, 65], 1920)]
    assert answer.data["detected_at"] == pytest.approx(detect)


def test_playing_on_cancels_the_early_answer_and_the_phrase_grows():
    responder = EchoResponder()
    engine, out = _engine(
        CallResponseEngine(responder, BeatGrid(120.0), pause_beats=2.0, submit=inline)
    )
    _phrase(engine, 0.0, [60, 62])
    engine.tick(0.9)  # a pause has begun, not yet long enough
    _phrase(engine, 1.0, [64, 65])
    engine.tick(5.0)
    assert responder.calls[-1][0] == [60, 62, 64, 65]
    assert len([e for e in engine.events if e.kind == "response"]) == 1


def test_listens_again_after_answering_and_notes_during_the_answer_start_the_next_phrase():
    responder = EchoResponder()
    engine, out = _engine(
        CallResponseEngine(responder, BeatGrid(120.0), pause_beats=1.0, submit=inline)
    )
    _phrase(engine, 0.0, [60, 62])
    engine.tick(2.0)
    answer = next(e for e in engine.events if e.kind == "response")
    _phrase(engine, answer.time + 0.1, [70])  # played over the answer
    end = max(t for t, _ in _scheduled(out))
    engine.tick(end)
    assert engine.events[-1].kind == "listening"
    engine.tick(end + 2.0)
    assert responder.calls[-1][0] == [70]
    assert engine.responses == 2


def test_bar_line_mode_answers_from_the_next_bar():
    responder = EchoResponder()
    grid = BeatGrid(120.0)
    engine, out = _engine(
        CallResponseEngine(responder, grid, pause_beats=0, at_bar_line=True, submit=inline)
    )
    _phrase(engine, 0.0, [60, 62, 64])  # last note ends at 1.2 s; the bar line is at 2.0 s
    engine.tick(1.9)
    assert engine.responses == 0
    engine.tick(2.0)
    first = min(t for t, m in _scheduled(out) if m.type == "note_on")
    assert first == pytest.approx(2.0)


def test_a_failing_model_is_reported_and_the_engine_listens_again():
    def broken(phrase, from_tick, cancel):
        raise RuntimeError("no model")

    engine, out = _engine(
        CallResponseEngine(broken, BeatGrid(120.0), pause_beats=1.0, submit=inline)
    )
    _phrase(engine, 0.0, [60, 62])
    engine.tick(5.0)
    assert [e.kind for e in engine.events][-1] == "error"
    _phrase(engine, 6.0, [64])
    engine.tick(8.0)
    assert engine.errors == 2  # it tried again for the next phrase


def test_stopping_mid_answer_turns_off_the_notes_it_started():
    engine, out = _engine(
        CallResponseEngine(EchoResponder(), BeatGrid(120.0), pause_beats=1.0, submit=inline)
    )
    _phrase(engine, 0.0, [60, 62, 64])
    engine.tick(3.0)
    first = min(t for t, m in _scheduled(out) if m.type == "note_on")
    started = out.due(first)  # the first answer note has gone out
    engine.stop(first + 0.1)
    rest = out.due(float("inf"))
    assert any(m.type == "note_off" and m.note == started[-1].note for m in rest)
    assert not any(m.type == "note_on" for m in rest)


def test_record_engine_counts_in_with_clicks_and_records_from_the_downbeat():
    grid = BeatGrid(120.0)
    engine, out = _engine(RecordEngine(grid, count_in_bars=1, metronome=True, thru=True))
    engine.start(100.0)
    engine.tick(100.0)
    clicks = [(t, m.note) for t, m in _scheduled(out) if m.type == "note_on" and m.channel == 9]
    assert clicks[0] == (pytest.approx(100.0), 76)  # accented downbeat of the count-in
    _play(engine, (102.0, note_on(0, 60, 90)), (102.5, note_off(0, 60)))
    engine.stop(103.0)
    notes = engine.take.track.notes
    assert [(n.pitch, n.start_tick, n.duration_ticks) for n in notes] == [(60, 0, 480)]
