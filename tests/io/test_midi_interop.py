"""Every file we export is read back to the same notes by mido, symusic,
pretty_midi, music21 and MuseScore 3 (headless)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from composer.core.song import Song
from composer.core.timing import TempoMap
from composer.io.midi_file import write_midi
from composer.io.song_files import load_song

from .interop import (
    SONGS,
    band,
    chorale,
    jig,
    mscore,
    musicxml_drum_hits,
    musicxml_with_music21,
    ours,
    with_mido,
    with_music21,
    with_pretty_midi,
    with_symusic,
)
from .song_strategies import ascii_names, songs


@pytest.fixture(scope="module", params=sorted(SONGS))
def exported(request, tmp_path_factory) -> tuple[Song, Path]:
    song = SONGS[request.param]()
    path = tmp_path_factory.mktemp(request.param) / f"{request.param}.mid"
    write_midi(song, path)
    return song, path


def test_the_songs_cover_what_they_claim():
    song = band()
    assert any(t.is_drum for t in song.tracks) and len(song.tracks) == 4
    assert len(song.tempos) > 1 and len(song.time_signatures) > 2 and len(song.keys) > 1
    tune, bach = jig(), chorale()
    assert tune.time_signatures[0].numerator == 1 and tune.keys[0].fifths == -2
    assert [t.name for t in bach.tracks] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert bach.time_signatures[0].numerator == 1  # the pickup bar


def _assert_same(read, song: Song, reader: str, channels: bool = False) -> None:
    expected = [t for t in ours(song) if t.notes]
    read = [t for t in read if t.notes]
    assert [t.name for t in read] == [t.name for t in expected], reader
    for got, want in zip(read, expected, strict=True):
        assert got.notes == want.notes, f"{reader}: track {want.name}"
        assert got.is_drum == want.is_drum, f"{reader}: track {want.name}"
        if not want.is_drum:
            assert got.program == want.program, f"{reader}: track {want.name}"
        if channels:
            assert got.channel == want.channel, f"{reader}: track {want.name}"


def test_mido_reads_the_same_notes(exported):
    song, path = exported
    _assert_same(with_mido(path), song, "mido", channels=True)


def test_symusic_reads_the_same_notes_and_conductor(exported):
    import symusic

    song, path = exported
    _assert_same(with_symusic(path), song, "symusic")
    score = symusic.Score(str(path))
    assert [(t.time, t.mspq) for t in score.tempos] == [(t.tick, t.us_per_quarter)
                                                        for t in song.tempos]
    assert [(t.time, t.numerator, t.denominator) for t in score.time_signatures] == [
        (t.tick, t.numerator, t.denominator) for t in song.time_signatures]
    assert [(k.time, k.key, k.tonality) for k in score.key_signatures] == [
        (k.tick, k.fifths, int(k.mode == "minor")) for k in song.keys]


def test_pretty_midi_reads_the_same_notes_and_times(exported):
    import pretty_midi

    song, path = exported
    _assert_same(with_pretty_midi(path), song, "pretty_midi")
    midi = pretty_midi.PrettyMIDI(str(path))
    tempo_map = TempoMap.of(song)
    for instrument, track in zip(midi.instruments, [t for t in song.tracks if t.notes],
                                 strict=True):
        for read, note in zip(sorted(instrument.notes, key=lambda x: (x.start, x.pitch)),
                              sorted(track.notes, key=lambda x: (x.start_tick, x.pitch)),
                              strict=True):
            assert read.start == pytest.approx(tempo_map.seconds_at(note.start_tick), abs=1e-6)
            assert read.end == pytest.approx(tempo_map.seconds_at(note.end_tick), abs=1e-6)
    assert [(t.numerator, t.denominator) for t in midi.time_signature_changes] == [
        (t.numerator, t.denominator) for t in song.time_signatures]


def test_music21_reads_the_same_notes(exported):
    song, path = exported
    _assert_same(with_music21(path), song, "music21")


def test_musescore_reads_the_same_pitches_and_onsets(exported, tmp_path):
    song, path = exported
    xml = tmp_path / "from-musescore.musicxml"
    mscore(path, xml, tmp_path)
    parts = musicxml_with_music21(xml)
    drums = musicxml_drum_hits(xml)
    for track in song.tracks:
        # MuseScore names a part "<instrument>, <track name>" (or just the name).
        matching = [p for p in parts if p.name == track.name or p.name.endswith(f", {track.name}")]
        expected = {(note.start_tick, note.pitch) for note in track.notes}
        if track.is_drum:
            hits = [h for name, h in drums.items() if name.endswith(track.name)]
            assert hits == [expected], track.name
        else:
            assert len(matching) == 1, f"{track.name}: parts {[p.name for p in parts]}"
            assert matching[0].onsets == expected, track.name


# Free timing, any channel, any program: the readers that keep exact ticks.
INTEROP = settings(max_examples=40, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                          HealthCheck.function_scoped_fixture])


@INTEROP
@given(songs(name_text=ascii_names, events=False))
def test_generated_songs_read_alike_everywhere(tmp_path, song):
    path = tmp_path / "generated.mid"
    write_midi(song, path)
    _assert_same(with_mido(path), song, "mido", channels=True)
    _assert_same(with_symusic(path), song, "symusic")
    _assert_same(with_pretty_midi(path), song, "pretty_midi")
    assert load_song(path) == song
