"""The POP909 loader, on a tiny dataset in POP909's own layout written here."""

from pathlib import Path

import pytest

from composer.core.song import Note, Song, TempoChange, TimeSignature, Track
from composer.errors import InputFileError
from composer.io.midi_file import write_midi
from corpora import pop909
from corpora.heldout import load_heldout

BEATS = 24
DOWNBEATS = (2, 6, 10, 12, 16, 20)  # a two-beat pickup, then 4/4 with one 2/4 bar
# (beat position, pitch, length in beats): quantised these land on exact ticks
MELODY = ((2.0, 60, 1.0), (3.5, 62, 0.5), (10.0, 64, 2.0), (12.25, 65, 0.25))
CHORDS = ((0, 2, "N"), (2, 6, "C:maj"), (6, 10, "A:min/b3"), (10, 24, "G:7"))


def beat_seconds(i: float) -> float:
    """A performance that slows down a little: each beat 0.51 s, plus a swing of timing."""
    return 0.3 + 0.51 * i * (1 + 0.004 * i)


def write_song(folder: Path, song_id: str, jitter: float = 0.012) -> None:
    folder.mkdir(parents=True)
    notes = []
    for k, (beat, pitch, length) in enumerate(MELODY):
        wobble = jitter if k % 2 else -jitter
        on, off = beat_seconds(beat) + wobble, beat_seconds(beat + length) - 0.03
        # The MIDI file itself runs at a steady 120 BPM: 0.5 s a quarter, 960 ticks a second.
        notes.append(Note(pitch=pitch, start_tick=round(on * 960),
                          duration_ticks=round((off - on) * 960), velocity=90))
    write_midi(Song(tracks=(Track("MELODY", tuple(notes)), Track("PIANO", notes[:1], channel=2)),
                    tempos=(TempoChange(0, 500_000),)), folder / f"{song_id}.mid")
    rows = []
    for i in range(BEATS):
        bar = 1.0 if i in DOWNBEATS else 0.0
        rows.append(f"{beat_seconds(i)} {1.0 if (i - 2) % 2 == 0 else 0.0} {bar}")
    (folder / "beat_midi.txt").write_text("\n".join(rows) + "\n")
    (folder / "chord_midi.txt").write_text("".join(
        f"{beat_seconds(a):.6f}\t{beat_seconds(b):.6f}\t{label}\n" for a, b, label in CHORDS))
    (folder / "key_audio.txt").write_text("0.1\t2.0\tA:min\n2.0\t30.0\tC:maj\n")


def make_dataset(root: Path, ids: tuple[str, ...]) -> None:
    lines = ["song_id,name,artist,modify_times,num_beats_per_measure,num_quavers_per_beat"]
    for song_id in ids:
        write_song(root / song_id, song_id)
        lines.append(f"{song_id},Song {song_id},Someone,1,2,2")
    (root / "index.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_song_is_quantised_onto_the_annotated_beats(tmp_path):
    make_dataset(tmp_path, ("001",))
    song = pop909.load_song_folder(tmp_path / "001", pop909.read_index(tmp_path)["001"])
    melody, chords = song.tracks
    assert melody.name == "Melody" and chords.name == "Chords"
    pad = 2  # the two-beat pickup becomes the end of a whole first bar
    expected = [((beat + pad) * 480, pitch, round(length * 480)) for beat, pitch, length in MELODY]
    assert [(n.start_tick, n.pitch, n.duration_ticks) for n in melody.notes] == expected
    assert song.time_signatures == (TimeSignature(0, 4, 4), TimeSignature(5760, 2, 4),
                                    TimeSignature(6720, 4, 4))
    assert [(t.tick, t.text) for t in chords.texts] == [(960, "N"), (1920, "C"), (3840, "Am/C"),
                                                        (5760, "G7")]
    assert song.keys[0].name == "C major"  # the longest key segment
    gaps = sorted(beat_seconds(i + 1) - beat_seconds(i) for i in range(BEATS - 1))
    assert song.tempos[0].tempo_bpm == pytest.approx(60 / gaps[len(gaps) // 2], rel=1e-4)


def test_compound_time_uses_dotted_quarter_beats(tmp_path):
    make_dataset(tmp_path, ("001",))
    meta = pop909.read_index(tmp_path)["001"]
    song = pop909.load_song_folder(tmp_path / "001", pop909.SongMeta(
        meta.song_id, meta.name, meta.artist, meta.beats_per_measure, 3))
    assert song.time_signatures[0] == TimeSignature(0, 12, 8)
    assert song.tracks[0].notes[0].start_tick == (2 + 2) * 720  # beat 2, after the padded pickup


def test_the_cache_is_split_by_heldout_json(tmp_path, monkeypatch):
    heldout = load_heldout()
    test_id = sorted(heldout.test_pop909)[0]
    train_id = next(song for song in (f"{i:03d}" for i in range(1, 910))
                    if heldout.pop909_split(song) == "train")
    make_dataset(tmp_path / "data", (test_id, train_id))
    monkeypatch.setenv("COMPOSER_POP909_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COMPOSER_CACHE_DIR", str(tmp_path / "cache"))
    manifest = pop909.build()
    assert manifest["counts"]["songs"] == {"train": 1, "valid": 0, "test": 1}
    assert "MIT" in manifest["credit"]
    assert [p.id for p in pop909.load_split("test")] == [test_id]
    assert [p.id for p in pop909.load_split("train")] == [train_id]


def test_a_missing_dataset_says_where_to_point(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPOSER_POP909_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(InputFileError, match="POP909 is not there") as caught:
        pop909.build()
    assert "COMPOSER_POP909_DIR" in caught.value.one_line()
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match="index.csv"):
        pop909.build(tmp_path / "empty")
