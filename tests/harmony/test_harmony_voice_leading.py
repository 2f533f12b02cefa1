from dataclasses import replace

import pytest

from composer.analysis.voice_leading import (
    FAULT_KINDS,
    SATB_RANGES,
    analyse_song,
    analyse_voices,
    satb_tracks,
)
from composer.core.song import Note, Song, Track
from composer.errors import InputFileError
from tests.harmony.builders import satb, satb_song

CADENCE = [(72, 67, 64, 48), (72, 69, 65, 53), (71, 67, 62, 55), (72, 67, 64, 48)]  # I IV V I


def counts(rows):
    return analyse_voices(satb(rows)).counts


def test_a_clean_cadence_has_no_faults():
    report = analyse_voices(satb(CADENCE))
    assert report.chord_changes == 3
    assert report.faults == []
    assert report.faults_per_100 == 0.0


def test_parallel_fifths_and_octaves_in_similar_motion():
    found = counts([(67, 64, 60, 48), (69, 65, 62, 50)])
    assert found["parallel_fifths"] == 2  # soprano/tenor and soprano/bass
    assert found["parallel_octaves"] == 1  # tenor/bass


def test_parallel_octaves_by_contrary_motion_count():
    found = counts([(72, 64, 55, 48), (67, 64, 59, 55)])
    assert found["parallel_octaves"] == 1
    assert found["parallel_fifths"] == 0


def test_a_held_voice_makes_no_parallel():
    # C-G fifth, then the upper voice stays while the lower moves: not parallel.
    assert counts([(67, 64, 60, 48), (67, 64, 62, 50)])["parallel_fifths"] == 0


def test_crossing_overlap_spacing_and_range():
    assert counts([(72, 60, 64, 48)])["crossing"] == 1
    assert counts([(72, 64, 60, 48), (74, 71, 65, 48)])["overlap"] == 1
    assert counts([(76, 62, 55, 48)])["spacing"] == 1
    assert counts([(72, 67, 64, 30)])["out_of_range"] == 1


def test_leading_tone_rules():
    g7_to_c_soprano_falls = [(71, 65, 62, 55), (67, 64, 60, 48)]
    assert counts(g7_to_c_soprano_falls)["unresolved_leading_tone"] == 1
    inner_voice_falls_to_fifth = [(74, 71, 67, 55), (72, 67, 64, 48)]
    assert counts(inner_voice_falls_to_fifth)["unresolved_leading_tone"] == 0
    resolves = [(74, 71, 67, 55), (72, 72, 64, 48)]
    assert counts(resolves)["unresolved_leading_tone"] == 0


def test_a_rest_breaks_the_connection():
    report = analyse_voices(satb([(67, 64, 60, 48), (None, None, None, None), (69, 65, 62, 50)]))
    assert report.chord_changes == 0
    assert report.counts["parallel_fifths"] == 0


def test_rates_are_per_100_chord_changes_and_merge():
    report = analyse_voices(satb([(67, 64, 60, 48), (69, 65, 62, 50), (67, 64, 60, 48)]))
    assert report.chord_changes == 2
    assert report.parallels_per_100 == pytest.approx(100.0 * 6 / 2)
    both = report.merge(analyse_voices(satb(CADENCE)))
    assert both.chord_changes == 5
    assert both.parallels_per_100 == pytest.approx(100.0 * 6 / 5)
    assert set(both.summary()["per_100"]) == set(FAULT_KINDS)


def test_ranges_are_the_documented_ones():
    assert SATB_RANGES == {"Soprano": (60, 81), "Alto": (53, 74), "Tenor": (48, 69),
                           "Bass": (38, 62)}


def test_voices_found_by_name_by_pitch_or_by_splitting():
    song = satb_song(CADENCE)
    tracks, notes = satb_tracks(song)
    assert [t.name for t in tracks] == ["Soprano", "Alto", "Tenor", "Bass"] and notes == []

    shuffled = song.with_tracks([replace(t, name=f"Part {i}") for i, t in
                                 zip((3, 1, 4, 2), reversed(song.tracks), strict=True)])
    tracks, notes = satb_tracks(shuffled)
    assert [t.notes[0].pitch for t in tracks] == [72, 67, 64, 48]
    assert "highest first" in notes[0]

    piano = Track("Piano", tuple(sorted(n for t in song.tracks for n in t.notes)))
    tracks, notes = satb_tracks(Song(tracks=(piano,)))
    assert [t.notes[0].pitch for t in tracks] == [72, 67, 64, 48]
    assert "split" in notes[0]


def test_a_voice_with_chords_is_reduced_to_its_top_line():
    song = satb_song(CADENCE)
    alto = song.tracks[1]
    extra = Note(pitch=60, start_tick=0, duration_ticks=480)
    song = song.replace_track(1, alto.with_notes([*alto.notes, extra]))
    report, notes = analyse_song(song)
    assert any("alto" in n for n in notes)
    assert report.chord_changes == 3


def test_two_parts_are_refused_with_a_clear_message():
    song = satb_song(CADENCE)
    with pytest.raises(InputFileError, match="2 pitched tracks"):
        satb_tracks(song.with_tracks(song.tracks[:2]))
    with pytest.raises(InputFileError, match="not four"):
        satb_tracks(song.with_tracks(song.tracks[:1]))
