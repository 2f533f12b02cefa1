"""Our MusicXML export, read back by music21 (and by our own reader through it)
and by MuseScore 3, which converts it to MIDI."""

from __future__ import annotations

from pathlib import Path

import pytest

from composer.core.song import Note, Song, TimeSignature, Track
from composer.errors import InputFileError, OutputFileError
from composer.io.midi_file import read_midi
from composer.io.music21_convert import write_musicxml
from composer.io.song_files import load_song, save_song

from .interop import SONGS, mscore, musicxml_with_music21


@pytest.fixture(scope="module", params=sorted(SONGS))
def exported(request, tmp_path_factory) -> tuple[Song, Path]:
    song = SONGS[request.param]()
    path = tmp_path_factory.mktemp(request.param) / f"{request.param}.musicxml"
    write_musicxml(song, str(path))
    return song, path


def test_music21_reads_the_same_pitches_and_onsets(exported):
    song, path = exported
    parts = {p.name: p.onsets for p in musicxml_with_music21(path)}
    pitched = [t for t in song.tracks if not t.is_drum]
    for track in pitched:
        assert parts[track.name] == {(n.start_tick, n.pitch) for n in track.notes}, track.name


def test_reading_our_musicxml_gives_back_the_song(exported):
    song, path = exported
    back = load_song(path)
    assert [(t.name, t.program, t.channel) for t in back.tracks] == [
        (t.name, t.program, t.channel) for t in song.tracks]
    for got, want in zip(back.tracks, song.tracks, strict=True):
        assert [(n.start_tick, n.pitch, n.duration_ticks) for n in got.notes] == [
            (n.start_tick, n.pitch, n.duration_ticks) for n in want.notes], want.name
    assert back.time_signatures == song.time_signatures
    assert back.keys == song.keys
    assert [round(t.tempo_bpm, 2) for t in back.tempos] == [round(t.tempo_bpm, 2)
                                                            for t in song.tempos]


def test_musescore_converts_our_musicxml_to_the_same_notes(exported, tmp_path):
    song, path = exported
    midi = tmp_path / "from-musescore.mid"
    mscore(path, midi, tmp_path)
    back = read_midi(midi)
    assert len(back.tracks) == len(song.tracks)
    for got, want in zip(back.tracks, song.tracks, strict=True):
        assert {(n.start_tick, n.pitch) for n in got.notes} == {
            (n.start_tick, n.pitch) for n in want.notes}, want.name
        assert got.is_drum == want.is_drum
        if not want.is_drum:
            assert got.program == want.program
    assert back.time_signatures[:len(song.time_signatures)] == song.time_signatures


def test_off_grid_notes_are_snapped_to_32nds_or_16th_triplets(tmp_path):
    song = Song(tracks=(Track("Played", (
        Note(pitch=60, start_tick=7, duration_ticks=470),     # -> 0, a quarter
        Note(pitch=62, start_tick=484, duration_ticks=150),   # -> 480, a 16th triplet (160)
        Note(pitch=64, start_tick=655, duration_ticks=5),     # -> 660 (32nd grid), shortest 60
    )),), time_signatures=(TimeSignature(0, 4, 4),))
    path = tmp_path / "played.musicxml"
    save_song(song, path)
    back = load_song(path).tracks[0]
    assert [(n.start_tick, n.pitch, n.duration_ticks) for n in back.notes] == [
        (0, 60, 480), (480, 62, 160), (660, 64, 60)]


def test_nothing_to_write_is_an_error(tmp_path):
    with pytest.raises(OutputFileError, match="no notes"):
        write_musicxml(Song(tracks=(Track("Empty"),)), str(tmp_path / "empty.musicxml"))
    with pytest.raises(OutputFileError, match="compressed MusicXML"):
        save_song(SONGS["band"](), tmp_path / "x.mxl")
    assert not list(tmp_path.iterdir())


def test_broken_musicxml_is_an_input_error(tmp_path):
    path = tmp_path / "broken.musicxml"
    path.write_text("<?xml version='1.0'?><score-partwise><part-list>")
    with pytest.raises(InputFileError, match="broken.musicxml: cannot be read as a score"):
        load_song(path)
