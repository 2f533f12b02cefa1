"""`composer corpus build --source DIR`: token shards from a folder of MIDI files.

Melody picked as the melody task expects, duplicates by notes, skipped files
with reasons, resuming after an interruption, a split that stays put when
files are added, and `composer train --corpus NAME` reading the shards.
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from composer.core.song import KeySignature, Note, Song, TempoChange, TimeSignature, Track
from composer.errors import Cancelled, InvalidArgumentError
from composer.io.midi_file import write_midi
from composer.io.tokens import build_tokenizer, encode_melody
from composer.ml.data import Shard
from corpora import midi_folder


def tune(seed: int, bars: int = 4, beats: int = 4) -> Track:
    """A one-line tune, different for every seed."""
    rng = np.random.default_rng(seed)
    notes, tick = [], 0
    pitch = 60 + int(rng.integers(0, 12))
    while tick < bars * beats * 480:
        length = int(rng.choice([240, 480, 960]))
        pitch = int(np.clip(pitch + rng.integers(-3, 4), 55, 79))
        notes.append(Note(pitch=pitch, start_tick=tick, duration_ticks=length))
        tick += length
    return Track("Tune", tuple(notes))


def chords(bars: int = 4) -> Track:
    return Track("Piano", tuple(Note(pitch=p, start_tick=b * 1920, duration_ticks=1920)
                                for b in range(bars) for p in (48, 52, 55)), channel=1)


def folder_of_tunes(root: Path, count: int, first_seed: int = 0) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for seed in range(first_seed, first_seed + count):
        write_midi(Song(tracks=(tune(seed),), keys=(KeySignature(0, 0),)),
                   root / f"tune-{seed:03d}.mid")
    return root


def build(folder: Path, tmp_path: Path, **kwargs):
    return midi_folder.build(folder, name="mine", workers=2, directory=tmp_path / "corpus",
                             **kwargs)


def shards(directory: Path) -> dict[str, Shard]:
    return {s: Shard.load(directory, s) for s in ("train", "valid", "test")}


def pieces(directory: Path) -> dict[str, list[int]]:
    """Every piece's tokens by file, whatever its split."""
    found = {}
    for shard in shards(directory).values():
        for i, name in enumerate(shard.ids):
            found[name] = shard.piece(i).tolist()
    return found


def test_melody_line_duplicates_and_skipped_files(tmp_path):
    folder = tmp_path / "library"
    (folder / "pop").mkdir(parents=True)
    melody = tune(1)
    song = Song(tracks=(chords(), replace(melody, name="Lead Vocal", channel=2)),
                keys=(KeySignature(0, -1),))
    write_midi(song, folder / "pop" / "named.mid")
    # The same notes in another track order, tempo and velocity: a duplicate.
    louder = melody.with_notes([replace(n, velocity=120) for n in melody.notes])
    write_midi(Song(tracks=(replace(louder, name="Lead Vocal", channel=2), chords()),
                    tempos=(TempoChange.from_bpm(0, 90),), keys=(KeySignature(0, -1),)),
               folder / "pop" / "named again.mid")
    # No names: the highest mostly monophonic line is the melody.
    unnamed = Song(tracks=(replace(chords(), name=""), replace(tune(2), name="", channel=3)))
    write_midi(unnamed, folder / "unnamed.MIDI")
    write_midi(Song(tracks=(Track("Kit", (Note(pitch=36, start_tick=0, duration_ticks=120),),
                                  channel=9),)), folder / "drums.mid")
    write_midi(Song(tracks=(tune(3),), time_signatures=(TimeSignature(0, 17, 16),)),
               folder / "odd meter.mid")
    (folder / "notes.mid").write_text("these are not notes")
    (folder / "empty.mid").write_bytes(b"")
    (folder / "readme.txt").write_text("not looked at")

    manifest = build(folder, tmp_path)
    directory = tmp_path / "corpus"
    assert manifest["files"] == 7
    # The first in path order is kept (" " sorts before ".").
    assert manifest["duplicates"] == [{"file": "pop/named.mid", "same_as": "pop/named again.mid"}]
    reasons = {s["file"]: s["reason"] for s in manifest["skipped"]}
    assert reasons.keys() == {"drums.mid", "odd meter.mid", "notes.mid", "empty.mid"}
    assert reasons["drums.mid"] == "only drums"
    assert "17/16" in reasons["odd meter.mid"] and "not one the melody models know" in \
        reasons["odd meter.mid"]
    assert "not a MIDI file" in reasons["notes.mid"]
    assert reasons["empty.mid"] == "the file is empty"

    tokenizer = build_tokenizer()
    found = pieces(directory)
    assert set(found) == {"pop/named again.mid", "unnamed.MIDI"}
    expected = encode_melody(tokenizer, Song(tracks=(melody,), keys=(KeySignature(0, -1),)))
    assert found["pop/named again.mid"] == expected
    assert found["unnamed.MIDI"] == encode_melody(tokenizer, Song(tracks=(tune(2),)))
    # Per-piece facts: key (from the file, else estimated) and pitch span.
    for shard in shards(directory).values():
        for i, name in enumerate(shard.ids):
            if name == "pop/named again.mid":
                assert shard.key(i) == KeySignature(0, -1)
                pitches = [n.pitch for n in melody.notes]
                assert list(shard.meta[i, 2:]) == [min(pitches), max(pitches)]
    # Memory-mapped: the training loader opens tokens without reading them in.
    assert isinstance(Shard.load(directory, "train").tokens, np.memmap)
    report = json.loads((directory / "report.json").read_text())
    assert sum(report[s]["pieces"] for s in ("train", "valid", "test")) == 2


def test_a_polyphonic_track_gives_its_top_line(tmp_path):
    folder = tmp_path / "library"
    folder.mkdir()
    line = tune(5)
    under = [replace(n, pitch=n.pitch - 7) for n in line.notes]
    write_midi(Song(tracks=(Track("Melody", tuple(sorted(line.notes + tuple(under)))),)),
               folder / "thirds.mid")
    build(folder, tmp_path)
    assert pieces(tmp_path / "corpus")["thirds.mid"] == encode_melody(
        build_tokenizer(), Song(tracks=(line,)))


def test_resumes_after_an_interruption_redoing_only_unfinished_files(tmp_path):
    folder = folder_of_tunes(tmp_path / "library", 40)
    cancel = threading.Event()
    seen = []

    def stop_after_some(done: int, total: int) -> None:
        seen.append(done)
        if done >= 15:
            cancel.set()

    with pytest.raises(Cancelled, match="run it again"):
        build(folder, tmp_path, progress=stop_after_some, cancel=cancel)
    journal = tmp_path / "corpus" / "journal.jsonl"
    finished = len(journal.read_text().splitlines()) - 1
    assert 15 <= finished < 40
    assert not (tmp_path / "corpus" / "report.json").exists()
    # A crash in the middle of a journal line: that line is dropped and redone.
    with journal.open("a") as handle:
        handle.write('{"f":"tune-039.mid","s":1')
    manifest = build(folder, tmp_path)
    assert manifest["resumed"] == finished
    assert manifest["tokenized"] == 40 - finished
    again = pieces(tmp_path / "corpus")

    # The same corpus as one uninterrupted build.
    fresh = midi_folder.build(folder, name="fresh", workers=1, directory=tmp_path / "fresh")
    assert fresh["counts"] == manifest["counts"]
    assert pieces(tmp_path / "fresh") == again
    assert midi_folder.build(folder, name="mine", workers=2,
                             directory=tmp_path / "corpus")["tokenized"] == 0


def test_split_is_stable_when_files_are_added_and_changed_files_are_redone(tmp_path):
    folder = folder_of_tunes(tmp_path / "library", 60)
    first = build(folder, tmp_path)
    assert first["counts"]["midi"]["valid"] > 0 and first["counts"]["midi"]["test"] > 0

    def splits() -> dict[str, str]:
        return {name: split for split, shard in shards(tmp_path / "corpus").items()
                for name in shard.ids}

    before = splits()
    folder_of_tunes(folder / "more", 30, first_seed=100)
    write_midi(Song(tracks=(tune(999),)), folder / "tune-000.mid")  # edited in place
    second = build(folder, tmp_path)
    assert second["tokenized"] == 31 and second["resumed"] == 59
    after = splits()
    assert {k: after[k] for k in before if k != "tune-000.mid"} == \
        {k: v for k, v in before.items() if k != "tune-000.mid"}
    assert len(after) == 90


def test_unknown_or_reserved_names_and_missing_folders(tmp_path):
    with pytest.raises(InvalidArgumentError, match="cannot name a corpus"):
        midi_folder.check_name("music21")
    with pytest.raises(InvalidArgumentError, match="cannot name a corpus"):
        midi_folder.check_name("../up")
    with pytest.raises(Exception, match="not a folder"):
        midi_folder.build(tmp_path / "nowhere")


def test_train_reads_a_user_corpus(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPOSER_CACHE_DIR", str(tmp_path / "cache"))
    folder = folder_of_tunes(tmp_path / "library", 60)
    midi_folder.build(folder, name="mine", workers=2)
    from composer.services.train import ensure_shards, train_task

    assert ensure_shards("melody", "mine") == tmp_path / "cache" / "corpus" / "mine"
    summary = train_task(
        "melody", "lstm", corpus="mine", run_dir=tmp_path / "run", max_steps=2,
        model_overrides={"n_layer": 1, "n_embd": 32, "lstm_hidden": 32, "block_size": 64},
        train_overrides={"batch_size": 4, "eval_interval": 2, "eval_batches": 1})
    assert summary["steps"] == 2
    card = json.loads((tmp_path / "run" / "best" / "card.json").read_text())
    assert card["data"]["corpus"] == "mine"
    assert card["data"]["splits"]["train"]["pieces"] > 40
    with pytest.raises(InvalidArgumentError, match="no corpus named 'other'"):
        ensure_shards("melody", "other")
    with pytest.raises(InvalidArgumentError, match="holds melodies"):
        ensure_shards("chorale", "mine")
