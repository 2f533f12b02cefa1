"""Small songs, shards and random-weight models for the neural harmoniser tests."""

from __future__ import annotations

from functools import cache

from composer.core.song import Note, Song, TextEvent, TimeSignature, Track
from composer.io.project_file import read_project
from composer.paths import REPO_ROOT

TINY = {
    "transformer": {"n_layer": 2, "n_head": 2, "n_embd": 48, "block_size": 256, "dropout": 0.0},
    "lstm": {"n_layer": 1, "n_embd": 48, "lstm_hidden": 64, "block_size": 256, "dropout": 0.0},
}


@cache
def demo_chorale() -> Song:
    """'Ein feste Burg' (BWV 80.8, a held-out chorale), four voices."""
    song = read_project(REPO_ROOT / "composer" / "data" / "demo.composer").song
    return song.with_tracks(song.tracks[:4])


def lead_sheet(repeats: int = 2) -> Song:
    """Bars of chord tones over C F G C, with the chords as text events (POP909-like)."""
    bars = [(0, (60, 64, 67, 64)), (5, (65, 69, 72, 69)), (7, (67, 71, 74, 71)),
            (0, (72, 67, 64, 60))]
    notes, texts = [], []
    for repeat in range(repeats):
        for b, (root, pitches) in enumerate(bars):
            start = (repeat * 4 + b) * 1920
            texts.append(TextEvent(start, {0: "C", 5: "F", 7: "G"}[root]))
            notes += [Note(pitch=p, start_tick=start + i * 480, duration_ticks=480)
                      for i, p in enumerate(pitches)]
    return Song(tracks=(Track("Melody", tuple(notes)), Track("Chords", texts=tuple(texts))),
                time_signatures=(TimeSignature(0, 4, 4),))


def tokenizer_and_vocab(task: str):
    from composer.io.tokens import Vocabulary, build_tokenizer
    from composer.ml.tasks import get_task

    tokenizer = build_tokenizer(get_task(task).tokenizer_params)
    return tokenizer, Vocabulary.of(tokenizer)


def shard_of(task: str, songs: list[Song]):
    """A token shard of a few songs (chorales, or lead sheets with a Chords track)."""
    from composer.analysis.chord_labels import label_lead_sheet
    from composer.core.pitch import estimate_key
    from composer.ml.data import Shard
    from composer.ml.harmony_tasks import encode_chorale, encode_lead_sheet, song_key

    tokenizer, vocab = tokenizer_and_vocab(task)
    bodies, keys, spans = [], [], []
    for song in songs:
        if task == "chorale":
            bodies.append(encode_chorale(tokenizer, vocab, song))
            keys.append(song_key(song))
            pitches = [n.pitch for t in song.tracks[:4] for n in t.notes]
        else:
            labels = label_lead_sheet(song)
            bodies.append(encode_lead_sheet(tokenizer, vocab, song.with_tracks([song.tracks[0]]),
                                            [lb.beat for lb in labels],
                                            [lb.chord for lb in labels], "Pop"))
            keys.append(estimate_key(list(song.tracks[0].notes)))
            pitches = [n.pitch for n in song.tracks[0].notes]
        spans.append((min(pitches), max(pitches)))
    return Shard.from_sequences(bodies, keys, spans, [f"s{i}" for i in range(len(songs))]), vocab


def random_model(task: str, arch: str, block_size: int | None = None, seed: int = 0):
    """An untrained network of the task's vocabulary (random weights, eval mode)."""
    import torch

    from composer.ml.checkpoint import build_model

    _, vocab = tokenizer_and_vocab(task)
    config = dict(TINY[arch], arch=arch, vocab_size=len(vocab))
    if block_size is not None:
        config["block_size"] = block_size
    torch.manual_seed(seed)
    return build_model(config).eval()
