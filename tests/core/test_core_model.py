"""The song model's values, bars and beats, seconds, and pitch helpers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from composer.core.pitch import (
    diatonic_pitch_classes,
    estimate_key,
    key_from_tonic,
    note_name,
    parse_note_name,
    parse_range,
    scale_pitch_classes,
)
from composer.core.song import (
    PPQ,
    ControlChange,
    KeySignature,
    Note,
    PitchBend,
    Song,
    TempoChange,
    TextEvent,
    TimeSignature,
    Track,
)
from composer.core.timing import BarGrid, TempoMap, beats_to_ticks, ticks_to_beats


def note(start: int, pitch: int, length: int = PPQ) -> Note:
    return Note(pitch=pitch, start_tick=start, duration_ticks=length)


# ---------------------------------------------------------------- values


@pytest.mark.parametrize(("make", "problem"), [
    (lambda: Note(pitch=128, start_tick=0, duration_ticks=1), "pitch 128"),
    (lambda: Note(pitch=60, start_tick=-1, duration_ticks=1), "negative"),
    (lambda: Note(pitch=60, start_tick=0, duration_ticks=0), "duration_ticks 0"),
    (lambda: Note(pitch=60, start_tick=0, duration_ticks=1, velocity=0), "velocity 0"),
    (lambda: ControlChange(0, 128, 0), "controller number 128"),
    (lambda: ControlChange(0, 64, 200), "controller value 200"),
    (lambda: ControlChange(-5, 64, 0), "tick -5"),
    (lambda: PitchBend(0, 8192), "pitch bend 8192"),
    (lambda: TextEvent(0, "x", "chord"), "text kind 'chord'"),  # type: ignore[arg-type]
    (lambda: TempoChange(0, 0), "tempo 0"),
    (lambda: TempoChange(-1, 500_000), "tick -1"),
    (lambda: TempoChange.from_bpm(0, 2000), "2000 BPM"),
    (lambda: TimeSignature(0, 0, 4), "numerator 0"),
    (lambda: TimeSignature(0, 3, 6), "not a power of 2"),
    (lambda: KeySignature(0, 8), "8 fifths"),
    (lambda: KeySignature(0, 0, "dorian"), "dorian"),  # type: ignore[arg-type]
    (lambda: Track("A", program=128), "program 128"),
    (lambda: Track("A", channel=16), "channel 16"),
    (lambda: Song(tempos=(TempoChange(480, 500_000),)), "tempo map must start at tick 0"),
    (lambda: Song(tempos=()), "tempo map must start at tick 0"),
    (lambda: Song(time_signatures=(TimeSignature(1, 4, 4),)), "time signatures must start"),
    (lambda: Song(tempos=(TempoChange(0, 500_000), TempoChange(0, 400_000))), "time order"),
    (lambda: Song(keys=(KeySignature(960, 0), KeySignature(480, 1))), "time order"),
    (lambda: Song(time_signatures=(TimeSignature(0, 4, 4), TimeSignature(0, 3, 4))),
     "time order"),
])
def test_invalid_values_are_refused_with_the_value_named(make, problem):
    with pytest.raises(ValueError, match=problem):
        make()


def test_notes_sort_by_time_then_pitch():
    notes = [note(480, 60), note(0, 64), note(0, 60), note(0, 60, 240)]
    assert sorted(notes) == [note(0, 60, 240), note(0, 60), note(0, 64), note(480, 60)]
    assert Track("A").with_notes(notes).notes == tuple(sorted(notes))


def test_song_lookups():
    song = Song(
        tracks=(Track("A", (note(0, 60), note(960, 62, 960))),
                Track("B", (note(0, 48),), texts=(TextEvent(2400, "end"),))),
        tempos=(TempoChange(0, 500_000), TempoChange(960, 400_000)),
        time_signatures=(TimeSignature(0, 4, 4), TimeSignature(1920, 3, 4)),
        keys=(KeySignature(480, 2),),
    )
    assert song.end_tick == 2400
    assert song.note_count == 3
    assert song.key_at(0) is None and song.key_at(480).name == "D major"
    assert song.tempo_at(959).tempo_bpm == 120 and song.tempo_at(960).tempo_bpm == 150
    assert str(song.time_signature_at(1919)) == "4/4" and str(song.time_signature_at(1920)) == "3/4"
    moved = song.replace_track(1, Track("C"))
    assert [t.name for t in moved.tracks] == ["A", "C"] and song.tracks[1].name == "B"


def test_meters_bars_and_beats():
    assert (TimeSignature(0, 4, 4).bar_ticks, TimeSignature(0, 4, 4).beat_ticks) == (1920, 480)
    assert (TimeSignature(0, 6, 8).bar_ticks, TimeSignature(0, 6, 8).beat_ticks) == (1440, 720)
    assert (TimeSignature(0, 3, 8).bar_ticks, TimeSignature(0, 3, 8).beat_ticks) == (720, 240)
    assert (TimeSignature(0, 2, 2).bar_ticks, TimeSignature(0, 2, 2).beat_ticks) == (1920, 960)
    assert TimeSignature(0, 12, 16).beat_ticks == 360
    assert ticks_to_beats(720) == 1.5 and beats_to_ticks(1.5) == 720


@pytest.mark.parametrize(("fifths", "mode", "name", "tonic"), [
    (0, "major", "C major", 0), (0, "minor", "A minor", 9), (-3, "minor", "C minor", 0),
    (6, "major", "F# major", 6), (-6, "major", "Gb major", 6), (7, "minor", "A# minor", 10),
    (-7, "major", "Cb major", 11), (-1, "minor", "D minor", 2),
])
def test_key_names_and_tonics(fifths, mode, name, tonic):
    key = KeySignature(0, fifths, mode)
    assert (key.name, key.tonic_pc, str(key)) == (name, tonic, name)


# ---------------------------------------------------------------- bar grid


def test_bar_grid_across_meter_changes():
    grid = BarGrid((TimeSignature(0, 4, 4), TimeSignature(3840, 3, 4), TimeSignature(5280, 6, 8)))
    starts = [grid.bar_start_tick(b) for b in range(6)]
    assert starts == [0, 1920, 3840, 5280, 6720, 8160]
    assert [grid.bar_at_tick(t) for t in (0, 1919, 1920, 5279, 5280, 9000)] == [0, 0, 1, 2, 3, 5]
    assert grid.bar_and_beat(3840 + 480) == (3, 2.0)
    assert grid.bar_and_beat(5280 + 240) == (4, 2.0)  # eighth-note beats in 6/8
    assert grid.bar_length_ticks(2) == 1440
    assert [grid.bars_to_cover(t) for t in (0, 1, 1920, 1921)] == [0, 1, 1, 2]
    with pytest.raises(ValueError):
        grid.bar_start_tick(-1)


def test_a_meter_change_inside_a_bar_starts_a_new_bar_there():
    grid = BarGrid((TimeSignature(0, 4, 4), TimeSignature(960, 3, 4)))
    assert [grid.bar_start_tick(b) for b in range(3)] == [0, 960, 2400]
    assert grid.bar_length_ticks(0) == 960  # the partial bar


meter_lists = st.lists(st.tuples(st.integers(1, 6), st.integers(1, 12), st.sampled_from([2, 4, 8])),
                       min_size=1, max_size=4)


@settings(max_examples=200, deadline=None)
@given(meter_lists, st.integers(0, 40_000))
def test_every_tick_lies_in_the_bar_the_grid_names(meters, tick):
    changes, at = [], 0
    for bars, numerator, denominator in meters:
        changes.append(TimeSignature(at, numerator, denominator))
        at += bars * changes[-1].bar_ticks
    grid = BarGrid(tuple(changes))
    bar = grid.bar_at_tick(tick)
    assert grid.bar_start_tick(bar) <= tick < grid.bar_start_tick(bar + 1)
    assert grid.bar_length_ticks(bar) == grid.meter_at_tick(tick).bar_ticks
    beat_bar, beat = grid.bar_and_beat(tick)
    assert beat_bar == bar + 1 and 1 <= beat < 1 + grid.meter_at_tick(tick).numerator


# ---------------------------------------------------------------- seconds


def test_tempo_map_seconds_and_back():
    tempo_map = TempoMap([TempoChange(0, 500_000), TempoChange(960, 1_000_000)])
    assert tempo_map.seconds_at(480) == pytest.approx(0.5)
    assert tempo_map.seconds_at(960) == pytest.approx(1.0)
    assert tempo_map.seconds_at(1440) == pytest.approx(2.0)
    assert tempo_map.tick_at(1.5) == pytest.approx(1200)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5000), st.integers(50_000, 3_000_000)), max_size=6),
       st.integers(0, 100_000))
def test_tempo_map_is_monotonic_and_invertible(changes, tick):
    tempos, at = [TempoChange(0, 500_000)], 0
    for gap, us in changes:
        at += gap
        tempos.append(TempoChange(at, us))
    tempo_map = TempoMap(tempos)
    seconds = tempo_map.seconds_at(tick)
    assert tempo_map.tick_at(seconds) == pytest.approx(tick, abs=1e-6)
    assert tempo_map.seconds_at(tick + 1) > seconds


# ---------------------------------------------------------------- pitch


def test_every_pitch_name_round_trips():
    for pitch in range(128):
        assert parse_note_name(note_name(pitch)) == pitch
        assert parse_note_name(note_name(pitch, prefer_flats=True)) == pitch
    assert (note_name(60), note_name(61, prefer_flats=True), note_name(0)) == ("C4", "Db4", "C-1")
    assert [parse_note_name(t) for t in ("bb3", "F♯5", " 64 ", "B#3")] == [58, 78, 64, 60]


@pytest.mark.parametrize("text", ["H4", "C", "C#", "60.5", "G9#", "A9", "-1", "Cb-1"])
def test_bad_pitch_names(text):
    with pytest.raises(ValueError):
        parse_note_name(text)


def test_ranges():
    assert parse_range("C4:C6") == (60, 84)
    for bad in ("C6:C4", "C4", "C4:C5:C6"):
        with pytest.raises(ValueError):
            parse_range(bad)


def test_scales():
    assert diatonic_pitch_classes(KeySignature(0, 1)) == {7, 9, 11, 0, 2, 4, 6}
    assert diatonic_pitch_classes(KeySignature(0, 0, "minor")) == {9, 11, 0, 2, 4, 5, 7}
    # A minor admits F# and G# (melodic and harmonic minor).
    assert scale_pitch_classes(KeySignature(0, 0, "minor")) == {9, 11, 0, 2, 4, 5, 6, 7, 8}


def test_key_from_tonic_prefers_conventional_spellings():
    assert key_from_tonic(6, "major").name == "F# major"
    assert key_from_tonic(1, "major").name == "Db major"
    assert key_from_tonic(8, "minor").name == "G# minor"
    assert key_from_tonic(3, "minor").name == "Eb minor"
    assert key_from_tonic(10, "major").name == "Bb major"


def _scale_tune(tonic: int, steps: tuple[int, ...], weights: dict[int, int]) -> list[Note]:
    notes, tick = [], 0
    for _ in range(4):
        for step in steps:
            length = PPQ * weights.get(step, 1)
            notes.append(note(tick, 60 + (tonic + step) % 12, length))
            tick += length
    return notes


@pytest.mark.parametrize("tonic", range(12))
def test_estimate_key_finds_major_and_minor_tonics(tonic):
    major = _scale_tune(tonic, (0, 2, 4, 5, 7, 9, 11, 7, 4, 0), {0: 3, 7: 2})
    minor = _scale_tune(tonic, (0, 2, 3, 5, 7, 8, 11, 7, 3, 0), {0: 3, 7: 2})
    assert (estimate_key(major).tonic_pc, estimate_key(major).mode) == (tonic, "major")
    assert (estimate_key(minor).tonic_pc, estimate_key(minor).mode) == (tonic, "minor")
    assert estimate_key([]).name == "C major"
