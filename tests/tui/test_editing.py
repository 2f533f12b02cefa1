"""Editing operations the piano roll uses: each a pure Song -> Song function."""

from __future__ import annotations

import pytest

from composer.core.song import PPQ, KeySignature, Note, Song, TimeSignature, Track
from composer.errors import InvalidArgumentError
from composer.services import editing
from composer.services.editing import Selection


def song_of(*notes: tuple[int, int, int], channel: int = 0) -> Song:
    """notes as (pitch, start_tick, duration_ticks)."""
    return Song(
        tracks=(
            Track(
                name="A",
                channel=channel,
                notes=tuple(Note(pitch=p, start_tick=s, duration_ticks=d) for p, s, d in notes),
            ),
        )
    )


def pitches(song: Song, track: int = 0) -> list[tuple[int, int, int]]:
    return [(n.pitch, n.start_tick, n.duration_ticks) for n in song.tracks[track].notes]


def test_insert_cuts_an_overlapped_note_and_replaces_one_on_the_same_onset():
    song = song_of((60, 0, 960))
    song = editing.insert_note(song, 0, 60, 480, 480)
    assert pitches(song) == [(60, 0, 480), (60, 480, 480)]
    song = editing.insert_note(song, 0, 60, 480, 240)
    assert pitches(song) == [(60, 0, 480), (60, 480, 240)]


def test_selection_contains_notes_starting_inside_its_rectangle():
    selection = Selection(480, 960, 60, 64)
    assert selection.contains(Note(pitch=62, start_tick=480, duration_ticks=10))
    assert not selection.contains(Note(pitch=62, start_tick=960, duration_ticks=10))
    assert not selection.contains(Note(pitch=65, start_tick=500, duration_ticks=10))
    with pytest.raises(ValueError):
        Selection(10, 10)


def test_selection_of_bars_follows_the_meter():
    song = Song(time_signatures=(TimeSignature(0, 3, 4),))
    selection = Selection.of_bars(song, 1, 2)
    assert (selection.start_tick, selection.end_tick) == (3 * PPQ, 9 * PPQ)
    assert selection.bar_range(song) == (1, 2)
    assert selection.describe(song) == "bars 2-3"


def test_transpose_refuses_to_leave_the_midi_range_with_a_reason():
    song = song_of((120, 0, 480), (60, 480, 480))
    notes = list(song.tracks[0].notes)
    with pytest.raises(InvalidArgumentError, match="G9|MIDI range"):
        editing.transpose_notes(song, 0, notes, 12)
    up = editing.transpose_notes(song, 0, [notes[1]], 12)
    assert pitches(up) == [(120, 0, 480), (72, 480, 480)]


def test_move_resize_velocity_and_quantise():
    song = song_of((60, 490, 470))
    notes = list(song.tracks[0].notes)
    assert pitches(editing.move_notes(song, 0, notes, 480)) == [(60, 970, 470)]
    with pytest.raises(InvalidArgumentError):
        editing.move_notes(song, 0, notes, -960)
    assert pitches(editing.resize_notes(song, 0, notes, -960, min_ticks=60)) == [(60, 490, 60)]
    louder = editing.set_velocity(song, 0, notes, 100)
    assert louder.tracks[0].notes[0].velocity == 127
    assert pitches(editing.quantise_notes(song, 0, notes, 240)) == [(60, 480, 480)]


def test_copy_and_paste_keep_relative_timing():
    song = song_of((60, 480, 240), (64, 720, 240), (67, 2000, 240))
    clip = editing.copy_notes(song, 0, Selection(480, 960))
    assert clip.length_ticks == 480 and [n.start_tick for n in clip.notes] == [0, 240]
    pasted = editing.paste_clip(song, 0, clip, 1920)
    assert (60, 1920, 240) in pitches(pasted) and (64, 2160, 240) in pitches(pasted)
    assert len(pasted.tracks[0].notes) == 5


def test_target_notes_are_the_selection_or_the_note_under_the_cursor():
    song = song_of((60, 0, 960), (62, 960, 480))
    assert editing.target_notes(song, 0, None, 500, 60) == [song.tracks[0].notes[0]]
    assert editing.target_notes(song, 0, None, 500, 61) == []
    assert len(editing.target_notes(song, 0, Selection(0, 1920), 0, 0)) == 2


def test_add_tracks_moves_clashing_channels_and_names():
    song = song_of((60, 0, 480))
    added = editing.add_tracks(song, [Track(name="A", channel=0), Track(name="Drums", channel=9)])
    assert [t.name for t in added.tracks] == ["A", "A 2", "Drums"]
    assert [t.channel for t in added.tracks] == [0, 1, 9]
    assert editing.delete_track(added, 1).tracks == (added.tracks[0], added.tracks[2])


def test_track_properties_and_song_settings():
    song = song_of((60, 0, 480))
    changed = editing.set_track_properties(song, 0, name="Flute", program=73, channel=3)
    assert (changed.tracks[0].name, changed.tracks[0].program, changed.tracks[0].channel) == (
        "Flute",
        73,
        3,
    )
    assert editing.instrument_name(changed.tracks[0]) == "Flute"
    with pytest.raises(InvalidArgumentError):
        editing.set_track_properties(song, 0, channel=16)
    settings = editing.set_song_settings(song, " Air ", 90, (3, 4), editing.parse_key("e minor"))
    assert settings.title == "Air" and round(settings.tempos[0].tempo_bpm) == 90
    assert str(settings.time_signatures[0]) == "3/4"
    assert settings.keys == (KeySignature(0, 1, "minor"),)


@pytest.mark.parametrize(
    "text,name",
    [("D major", "D major"), ("Bb", "Bb major"), ("f# minor", "F# minor"), ("em", "E minor")],
)
def test_parse_key(text: str, name: str):
    key = editing.parse_key(text)
    assert key is not None and key.name == name


@pytest.mark.parametrize("bad", ["H major", "7/7", "4/5"])
def test_bad_key_or_meter_is_a_clear_error(bad: str):
    with pytest.raises(InvalidArgumentError):
        if "/" in bad:
            editing.parse_meter(bad)
        else:
            editing.parse_key(bad)
