"""Song -> MIDI -> Song is exact; the writer lays files out as DAWs expect."""

from __future__ import annotations

import io

import mido
from hypothesis import HealthCheck, given, settings

from composer.core.song import (
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
from composer.io.midi_file import (
    _mido_key,
    parse_midi_bytes,
    read_midi,
    song_to_midi_bytes,
    write_midi,
)
from composer.io.song_files import load_song, save_song

from .song_strategies import songs

ROUND_TRIP = settings(max_examples=150, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@ROUND_TRIP
@given(songs())
def test_song_to_midi_to_song_is_exact(song):
    data = song_to_midi_bytes(song)
    back, report = parse_midi_bytes(data, "round-trip.mid")
    assert back == song
    assert report.warnings == []
    # Writing is deterministic: the same song gives the same bytes.
    assert song_to_midi_bytes(back) == data


def test_round_trip_through_a_file(tmp_path):
    song = Song(
        title="Étude № 3 — 練習曲",
        tracks=(
            Track("Violin I", (Note(pitch=76, start_tick=0, duration_ticks=480, velocity=90),
                               Note(pitch=76, start_tick=480, duration_ticks=240)),
                  program=40, channel=0, texts=(TextEvent(0, "dolce"),)),
            Track("Drum Kit", (Note(pitch=36, start_tick=0, duration_ticks=60),
                               Note(pitch=42, start_tick=0, duration_ticks=60)), channel=9),
            Track("Cello", (Note(pitch=36, start_tick=240, duration_ticks=1200, velocity=50),),
                  program=42, channel=2,
                  controls=(ControlChange(0, 64, 127), ControlChange(960, 64, 0)),
                  pitch_bends=(PitchBend(300, 4096), PitchBend(600, 0))),
            Track("Empty part", program=19, channel=3),
        ),
        tempos=(TempoChange(0, 461_538), TempoChange(960, 500_000)),
        time_signatures=(TimeSignature(0, 3, 4), TimeSignature(1440, 6, 8)),
        keys=(KeySignature(0, -4, "minor"), KeySignature(1440, 3, "major")),
        markers=(TextEvent(0, "A", "marker"), TextEvent(1440, "B", "cue_marker")),
    )
    path = tmp_path / "étude.mid"
    write_midi(song, path)
    assert read_midi(path) == song
    assert load_song(path) == song
    saved = save_song(song, tmp_path / "again.MIDI")
    assert read_midi(saved) == song


def test_file_layout_conductor_then_one_named_track_per_part():
    song = Song(
        title="Layout",
        tracks=(Track("Flute", (Note(pitch=72, start_tick=0, duration_ticks=480),), program=73,
                      channel=0),
                Track("Kit", (Note(pitch=38, start_tick=480, duration_ticks=120),), channel=9)),
        tempos=(TempoChange(0, 500_000), TempoChange(480, 600_000)),
        time_signatures=(TimeSignature(0, 2, 4),),
        keys=(KeySignature(0, 2, "major"),),
    )
    midi = mido.MidiFile(file=io.BytesIO(song_to_midi_bytes(song)))
    assert midi.type == 1
    assert midi.ticks_per_beat == 480
    conductor, flute, kit = midi.tracks
    assert not any(isinstance(m, mido.Message) for m in conductor)
    assert [m.type for m in conductor if m.type != "end_of_track"] == [
        "track_name", "time_signature", "key_signature", "set_tempo", "set_tempo"]
    assert flute.name == "Flute" and kit.name == "Kit"
    assert [(m.type, m.channel, m.program) for m in flute if m.type == "program_change"] == [
        ("program_change", 0, 73)]
    assert {m.channel for m in kit if isinstance(m, mido.Message)} == {9}
    assert [m for m in conductor if m.type == "key_signature"][0].key == "D"


def test_repeated_pitch_writes_note_off_before_note_on():
    song = Song(tracks=(Track("A", (Note(pitch=60, start_tick=0, duration_ticks=480),
                                    Note(pitch=60, start_tick=480, duration_ticks=480))),))
    midi = mido.MidiFile(file=io.BytesIO(song_to_midi_bytes(song)))
    notes = [(m.type, m.time) for m in midi.tracks[1] if m.type in ("note_on", "note_off")]
    assert notes == [("note_on", 0), ("note_off", 480), ("note_on", 0), ("note_off", 480)]


def test_key_names_agree_with_mido():
    # mido reads key signatures back by these names; both directions must agree.
    for fifths in range(-7, 8):
        for minor, mode in ((0, "major"), (1, "minor")):
            key = KeySignature(0, fifths, mode)  # type: ignore[arg-type]
            message = mido.MetaMessage("key_signature", key=_mido_key(key))
            raw = message.bytes()[-2:]
            assert (int.from_bytes(raw[:1], "big", signed=True), raw[1]) == (fifths, minor)
