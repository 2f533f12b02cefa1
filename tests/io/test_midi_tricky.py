"""The MIDI reader on files as people have them, each built byte by byte."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from composer.core.song import ControlChange, KeySignature, PitchBend, TempoChange, TextEvent
from composer.core.timing import TempoMap
from composer.errors import InputFileError
from composer.io import midi_file
from composer.io.midi_file import read_midi, read_midi_with_report

from .midi_bytes import (
    bend,
    chunk,
    control,
    event,
    header,
    key_signature,
    meta,
    name,
    off,
    on,
    program,
    rmid,
    running,
    smf,
    smpte_division,
    sysex,
    tempo,
    text,
    time_signature,
    track,
)


def write(tmp_path: Path, data: bytes, filename: str = "song.mid") -> Path:
    path = tmp_path / filename
    path.write_bytes(data)
    return path


def rows(track) -> list[tuple[int, int, int, int]]:
    """(start, pitch, duration, velocity) of every note, in time order."""
    return [(n.start_tick, n.pitch, n.duration_ticks, n.velocity) for n in track.notes]


def conductor(*events: bytes) -> bytes:
    return track(name(0, "Tune"), *events)


# ------------------------------------------------------------------ formats


def test_type_0_splits_channels_into_tracks(tmp_path):
    data = smf(0, [track(
        name(0, "All"),
        tempo(0, 600_000),
        time_signature(0, 3, 2),
        program(0, 0, 40),
        program(0, 9, 0),
        on(0, 0, 67, 90), on(0, 9, 36, 100),
        off(480, 0, 67), off(0, 9, 36),
        on(0, 0, 69, 91),
        off(960, 0, 69),
    )])
    song, report = read_midi_with_report(write(tmp_path, data))
    assert report.midi_format == 0
    assert song.tempos == (TempoChange(0, 600_000),)
    assert [str(ts) for ts in song.time_signatures] == ["3/4"]
    violin, drums = song.tracks
    assert (violin.name, violin.channel, violin.program) == ("All (ch 1)", 0, 40)
    assert rows(violin) == [(0, 67, 480, 90), (480, 69, 960, 91)]
    assert (drums.name, drums.channel, drums.is_drum) == ("All (ch 10)", 9, True)
    assert rows(drums) == [(0, 36, 480, 100)]


def test_type_1_conductor_gives_title_tempo_meter_key_and_markers(tmp_path):
    data = smf(1, [
        conductor(tempo(0, 500_000), time_signature(0, 6, 3), key_signature(0, -3, 1),
                  text(0, "Verse", kind=0x06), tempo(1440, 400_000)),
        track(name(0, "Oboe"), program(0, 2, 68), on(0, 2, 72), off(720, 2, 72)),
        track(name(0, "Bassoon"), program(0, 3, 70), on(720, 3, 48, 60), off(720, 3, 48)),
    ])
    song = read_midi(write(tmp_path, data))
    assert song.title == "Tune"
    assert song.tempos == (TempoChange(0, 500_000), TempoChange(1440, 400_000))
    assert [str(ts) for ts in song.time_signatures] == ["6/8"]
    assert song.keys == (KeySignature(0, -3, "minor"),)
    assert song.keys[0].name == "C minor"
    assert song.markers == (TextEvent(0, "Verse", "marker"),)
    assert [(t.name, t.program, t.channel) for t in song.tracks] == [("Oboe", 68, 2),
                                                                     ("Bassoon", 70, 3)]
    assert rows(song.tracks[0]) == [(0, 72, 720, 80)]
    assert rows(song.tracks[1]) == [(720, 48, 720, 60)]


def test_type_2_patterns_play_one_after_another(tmp_path):
    data = smf(2, [
        track(name(0, "A"), on(0, 0, 60), off(960, 0, 60), event(960, 0xB0, 7, 100)),
        track(name(0, "B"), on(0, 1, 62), off(480, 1, 62)),
    ])
    song, report = read_midi_with_report(write(tmp_path, data))
    assert report.midi_format == 2
    first, second = song.tracks
    assert rows(first) == [(0, 60, 960, 80)]
    # Pattern A lasts 1920 ticks (its end-of-track comes after the controller).
    assert rows(second) == [(1920, 62, 480, 80)]


# ------------------------------------------------------------ event coding


def test_running_status_and_velocity_zero_note_off(tmp_path):
    data = smf(1, [track(
        on(0, 0, 60, 100),
        running(0, 64, 101),        # still note-on, channel 1
        running(0, 67, 102),
        running(480, 60, 0),        # velocity 0 ends a note
        running(0, 64, 0),
        running(0, 67, 0),
        running(0, 72, 90),
        running(240, 72, 0),
    )])
    song = read_midi(write(tmp_path, data))
    assert rows(song.tracks[0]) == [(0, 60, 480, 100), (0, 64, 480, 101), (0, 67, 480, 102),
                                    (480, 72, 240, 90)]


def test_running_status_survives_meta_and_sysex_events(tmp_path):
    # Strictly, meta and SysEx events cancel running status; writers that rely on
    # it anyway are common, and a data byte has only one sensible reading.
    data = smf(1, [track(
        on(0, 0, 60, 100),
        text(0, "lyric", kind=0x05),
        sysex(0, b"\x7e\x7f\x09\x01"),
        running(480, 60, 0),
    )])
    song = read_midi(write(tmp_path, data))
    assert rows(song.tracks[0]) == [(0, 60, 480, 100)]
    assert song.tracks[0].texts == (TextEvent(0, "lyric", "lyrics"),)


def test_overlapping_same_pitch_notes_become_consecutive(tmp_path):
    # on, on, off, off: the second note-on ends the first; the second note keeps
    # its own length up to the last note-off.
    data = smf(1, [track(
        on(0, 0, 60, 90), on(240, 0, 60, 91), off(240, 0, 60), off(240, 0, 60),
    )])
    song = read_midi(write(tmp_path, data))
    assert rows(song.tracks[0]) == [(0, 60, 240, 90), (240, 60, 480, 91)]


def test_retriggered_note_with_one_note_off_ends_at_that_note_off(tmp_path):
    data = smf(1, [track(
        on(0, 0, 60, 90), on(240, 0, 60, 91), off(240, 0, 60), on(960, 0, 62), off(480, 0, 62),
    )])
    song = read_midi(write(tmp_path, data))
    # Not a note held to the end of the track: the lone note-off ends the second note.
    assert rows(song.tracks[0]) == [(0, 60, 240, 90), (240, 60, 240, 91), (1440, 62, 480, 80)]


def test_note_on_before_note_off_at_the_same_tick_repeats_the_note(tmp_path):
    data = smf(1, [track(
        on(0, 0, 60, 90), on(480, 0, 60, 70), off(0, 0, 60), off(480, 0, 60),
    )])
    song = read_midi(write(tmp_path, data))
    assert rows(song.tracks[0]) == [(0, 60, 480, 90), (480, 60, 480, 70)]


def test_note_without_note_off_ends_at_track_end(tmp_path):
    data = smf(1, [track(on(0, 0, 60), on(480, 0, 64), off(480, 0, 64), control(960, 0, 7, 90))])
    song, report = read_midi_with_report(write(tmp_path, data))
    assert rows(song.tracks[0]) == [(0, 60, 1920, 80), (480, 64, 480, 80)]
    assert any("without note-off" in w for w in report.warnings)


def test_stray_note_off_is_ignored(tmp_path):
    data = smf(1, [track(off(0, 0, 61), on(0, 0, 60), off(480, 0, 60), off(0, 0, 60))])
    assert rows(read_midi(write(tmp_path, data)).tracks[0]) == [(0, 60, 480, 80)]


def test_controls_bends_programs_and_texts(tmp_path):
    data = smf(1, [track(
        name(0, "Lead"), program(0, 4, 81), text(0, "C7"),
        control(0, 4, 64, 127), bend(120, 4, -8192), bend(120, 4, 8191), bend(0, 4, 0),
        on(0, 4, 70), control(240, 4, 64, 0), off(0, 4, 70),
    )])
    lead = read_midi(write(tmp_path, data)).tracks[0]
    assert (lead.name, lead.program, lead.channel) == ("Lead", 81, 4)
    assert lead.controls == (ControlChange(0, 64, 127), ControlChange(480, 64, 0))
    assert lead.pitch_bends == (PitchBend(120, -8192), PitchBend(240, 0), PitchBend(240, 8191))
    assert lead.texts == (TextEvent(0, "C7", "text"),)
    assert rows(lead) == [(240, 70, 240, 80)]


def test_several_tempo_changes_drive_the_tempo_map(tmp_path):
    data = smf(1, [
        conductor(tempo(0, 500_000), tempo(960, 1_000_000), tempo(960, 250_000)),
        track(on(0, 0, 60), off(3840, 0, 60)),
    ])
    song = read_midi(write(tmp_path, data))
    assert song.tempos == (TempoChange(0, 500_000), TempoChange(960, 1_000_000),
                           TempoChange(1920, 250_000))
    tempo_map = TempoMap.of(song)
    # 2 beats at 120 BPM, 2 at 60 BPM, then 4 at 240 BPM.
    assert tempo_map.seconds_at(960) == pytest.approx(1.0)
    assert tempo_map.seconds_at(1920) == pytest.approx(3.0)
    assert tempo_map.seconds_at(3840) == pytest.approx(4.0)
    assert tempo_map.tick_at(3.5) == pytest.approx(2880)


def test_other_resolutions_are_rescaled_to_480(tmp_path):
    data = smf(1, [track(on(0, 0, 60), off(96, 0, 60), on(48, 0, 62), off(24, 0, 62))], division=96)
    song, report = read_midi_with_report(write(tmp_path, data))
    assert report.division == "96 ticks per quarter"
    assert rows(song.tracks[0]) == [(0, 60, 480, 80), (720, 62, 120, 80)]


def test_smpte_division_maps_seconds_onto_a_120_bpm_grid(tmp_path):
    # 25 frames a second x 40 ticks a frame = 1000 ticks a second.
    data = smf(1, [track(tempo(0, 300_000), on(500, 0, 60), off(1000, 0, 60))],
               division=smpte_division(25, 40))
    song, report = read_midi_with_report(write(tmp_path, data))
    assert report.division == "SMPTE 25 fps x 40"
    assert song.tempos == (TempoChange(0, 500_000),)  # tempo meta means nothing in SMPTE time
    assert rows(song.tracks[0]) == [(480, 60, 960, 80)]
    assert TempoMap.of(song).seconds_at(480) == pytest.approx(0.5)


def test_drums_on_channel_10(tmp_path):
    data = smf(1, [track(on(0, 9, 36, 110), off(120, 9, 36), on(360, 9, 42, 70), off(120, 9, 42))])
    drums = read_midi(write(tmp_path, data)).tracks[0]
    assert (drums.name, drums.channel, drums.is_drum) == ("Drums", 9, True)
    assert rows(drums) == [(0, 36, 120, 110), (480, 42, 120, 70)]


# ------------------------------------------------------------ damaged files


def test_missing_end_of_track(tmp_path):
    data = smf(1, [
        track(name(0, "One"), on(0, 0, 60), off(480, 0, 60), end=False),
        track(name(0, "Two"), on(0, 1, 64), off(480, 1, 64), end=False),
    ])
    song = read_midi(write(tmp_path, data))
    assert [t.name for t in song.tracks] == ["One", "Two"]
    assert rows(song.tracks[1]) == [(0, 64, 480, 80)]


def test_trailing_garbage_after_the_last_track(tmp_path):
    data = smf(1, [track(on(0, 0, 60), off(480, 0, 60))]) + bytes(range(200, 256)) * 3
    song, report = read_midi_with_report(write(tmp_path, data))
    assert rows(song.tracks[0]) == [(0, 60, 480, 80)]
    assert any("trailing garbage" in w for w in report.warnings)


def test_a_few_trailing_bytes(tmp_path):
    data = smf(1, [track(on(0, 0, 60), off(480, 0, 60))]) + b"\x00\x00\x1a"
    song, report = read_midi_with_report(write(tmp_path, data))
    assert rows(song.tracks[0]) == [(0, 60, 480, 80)]
    assert any("trailing garbage" in w for w in report.warnings)


def test_chunk_length_past_end_of_file(tmp_path):
    body = track(on(0, 0, 60), off(480, 0, 60), on(0, 0, 62), off(480, 0, 62), end=False)
    declared_too_long = chunk(b"MTrk", body[8:], length=10_000)
    song, report = read_midi_with_report(write(tmp_path, header(1, 1) + declared_too_long))
    assert rows(song.tracks[0]) == [(0, 60, 480, 80), (480, 62, 480, 80)]
    assert any("cut short" in w for w in report.warnings)


def test_file_cut_in_the_middle_of_an_event(tmp_path):
    full = smf(1, [track(on(0, 0, 60), off(480, 0, 60), on(0, 0, 62), off(480, 0, 62))])
    cut = full[:-6]  # end-of-track and the last note-off's two data bytes are gone
    song, report = read_midi_with_report(write(tmp_path, cut))
    # The last note-off's delta time was read, so the open note ends there.
    assert rows(song.tracks[0]) == [(0, 60, 480, 80), (480, 62, 480, 80)]
    assert any("cut short" in w for w in report.warnings)
    assert any("corrupt channel message" in w for w in report.warnings)


def test_riff_rmid_wrapper(tmp_path):
    inner = smf(1, [track(name(0, "Wrapped"), on(0, 0, 65), off(480, 0, 65))])
    song = read_midi(write(tmp_path, rmid(inner), "song.rmi"))
    assert song.tracks[0].name == "Wrapped"
    assert rows(song.tracks[0]) == [(0, 65, 480, 80)]


def test_unknown_chunks_are_skipped(tmp_path):
    data = header(1, 2) + chunk(b"XFIH", b"\x01\x02\x03") \
        + track(on(0, 0, 60), off(480, 0, 60)) + chunk(b"MMMD", b"metadata") \
        + track(on(0, 1, 62), off(480, 1, 62))
    song, report = read_midi_with_report(write(tmp_path, data))
    assert [rows(t) for t in song.tracks] == [[(0, 60, 480, 80)], [(0, 62, 480, 80)]]
    assert any("XFIH" in w for w in report.warnings)
    assert any("MMMD" in w for w in report.warnings)


def test_invalid_key_and_time_signatures_are_skipped(tmp_path):
    data = smf(1, [track(
        key_signature(0, 9, 0),          # nine sharps
        key_signature(0, 2, 5),          # mode 5
        meta(0, 0x59, b"\x01"),          # too short
        time_signature(0, 0, 2),         # 0/4
        time_signature(0, 3, 9),         # 3/512
        meta(0, 0x58, b"\x04"),          # too short
        tempo(0, 0),                     # zero tempo
        key_signature(480, -2, 0),       # a good one later
        on(0, 0, 60), off(480, 0, 60),
    )])
    song, report = read_midi_with_report(write(tmp_path, data))
    assert [str(ts) for ts in song.time_signatures] == ["4/4"]
    assert song.keys == (KeySignature(480, -2, "major"),)
    assert song.tempos == (TempoChange(0, 500_000),)
    assert rows(song.tracks[0]) == [(480, 60, 480, 80)]
    assert any("key signature" in w for w in report.warnings)
    assert any("time signature" in w for w in report.warnings)


def test_system_common_messages_in_a_track_are_stepped_over(tmp_path):
    data = smf(1, [track(event(0, 0xF2, 0x10, 0x20), on(0, 0, 60), event(0, 0xF3, 0x05),
                         off(480, 0, 60))])
    assert rows(read_midi(write(tmp_path, data)).tracks[0]) == [(0, 60, 480, 80)]


def test_header_promising_more_tracks_than_the_file_has(tmp_path):
    data = smf(1, [track(on(0, 0, 60), off(480, 0, 60))], declared_tracks=3)
    song, report = read_midi_with_report(write(tmp_path, data))
    assert report.tracks_in_file == 1
    assert any("promises 3 tracks" in w for w in report.warnings)


def test_empty_named_part_is_kept_but_unused_channels_are_not(tmp_path):
    data = smf(1, [
        track(name(0, "Strings"), program(0, 1, 48)),
        track(program(0, 2, 0)),
        track(name(0, "Piano"), on(0, 0, 60), off(480, 0, 60)),
    ])
    song = read_midi(write(tmp_path, data))
    assert [(t.name, len(t.notes)) for t in song.tracks] == [("Strings", 0), ("Piano", 1)]


def test_text_in_latin_1_is_read(tmp_path):
    data = smf(1, [track(meta(0, 0x03, "Träumerei".encode("latin-1")), on(0, 0, 60),
                         off(480, 0, 60))])
    assert read_midi(write(tmp_path, data)).tracks[0].name == "Träumerei"


# ------------------------------------------------------------ not MIDI at all


@pytest.mark.parametrize(("content", "problem"), [
    (b"", "empty"),
    (b"ID3\x03\x00\x00\x00" + bytes(100), "not a MIDI file"),
    (b"<?xml version='1.0'?><score-partwise/>", "not a MIDI file"),
    (b"MThd\x00\x00\x00\x06\x00", "truncated"),
    (b"MThd", "truncated"),
    (header(1, 1), "no tracks"),
    (header(1, 1, division=0) + track(on(0, 0, 60)), "zero ticks per quarter"),
    (header(1, 1, division=smpte_division(23, 4)) + track(on(0, 0, 60)), "SMPTE"),
])
def test_unreadable_files_raise_input_file_error_naming_the_file(tmp_path, content, problem):
    path = write(tmp_path, content, "broken-song.mid")
    with pytest.raises(InputFileError) as info:
        read_midi(path)
    assert "broken-song.mid" in info.value.message
    assert problem in info.value.one_line()


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputFileError, match="no such file"):
        read_midi(tmp_path / "absent.mid")
    with pytest.raises(InputFileError, match="directory"):
        read_midi(tmp_path)


def test_too_many_events_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(midi_file, "MAX_EVENTS", 10)
    notes = [on(0, 0, 60) + off(10, 0, 60) for _ in range(10)]
    with pytest.raises(InputFileError, match="huge.mid: .*more events"):
        read_midi(write(tmp_path, smf(1, [track(*notes)]), "huge.mid"))


_GOOD = smf(1, [
    conductor(tempo(0, 500_000), time_signature(0, 3, 2), key_signature(0, 1, 0)),
    track(name(0, "A"), program(0, 0, 10), on(0, 0, 60), running(240, 64, 90), off(240, 0, 60),
          running(0, 64, 0), control(0, 0, 64, 127), bend(0, 0, 100), on(0, 0, 67),
          off(960, 0, 67)),
    track(on(0, 9, 36), off(120, 9, 36), sysex(0, b"\x01\x02")),
])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_damaged_files_never_raise_anything_but_input_file_error(data):
    damaged = bytearray(_GOOD)
    for _ in range(data.draw(st.integers(0, 6))):
        where = data.draw(st.integers(0, len(damaged) - 1))
        damaged[where] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(damaged)))
    try:
        song, _ = midi_file.parse_midi_bytes(bytes(damaged[:cut]), "fuzz.mid")
    except InputFileError as err:
        assert err.message.startswith("fuzz.mid: ")
    else:
        for t in song.tracks:
            assert all(n.duration_ticks >= 1 for n in t.notes)
