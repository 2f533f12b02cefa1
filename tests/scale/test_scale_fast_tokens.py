"""The vectorised melody encoder gives miditok's ids, id for id, or hands the melody to miditok.

Songs are generated to hold what trips a REMI encoder: triplets and odd
ticks (rounding onto the 12-per-beat grid), pickups, meter changes on and off
bar lines (and repeated ones), meters over 1, 2, 8 and 16, ties across bars,
overlapping and simultaneous notes, duplicates, notes out of the pitch range,
very long notes, gaps of empty bars, key changes and empty tracks.
"""

from __future__ import annotations

import collections

import numpy as np
import pytest

from composer.core.song import KeySignature, Note, Song, TimeSignature, Track
from composer.errors import InvalidArgumentError
from composer.io.fast_tokens import FastRemiEncoder, Unsupported, encode_melody_fast
from composer.io.tokens import build_tokenizer, encode_melody, melody_to_score

DENOMINATORS = [4, 4, 4, 8, 8, 2, 16, 1]


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


def _meter(rng: np.random.Generator, tick: int, denominators: list[int]) -> TimeSignature:
    denominator = int(rng.choice(denominators))
    most = {1: 4, 2: 8, 4: 16, 8: 12, 16: 16}[denominator]
    return TimeSignature(tick, int(rng.integers(1, most + 1)), denominator)


def varied_song(seed: int) -> Song:
    """A melody with some of the hard features, chosen by the seed."""
    rng = np.random.default_rng(seed)
    one_unit = rng.random() < 0.6  # most files keep one note value under their meters
    denominators = [int(rng.choice(DENOMINATORS))] if one_unit else DENOMINATORS
    if denominators[0] in (1, 2):
        denominators = [1, 2, 4] if denominators[0] == 1 else [2, 4]  # all shown over 4
    meters = [_meter(rng, 0, denominators)]
    grids = [480, 240, 160, 120, 80, 60, 40, 1]  # quarter ... triplet 16ths, odd ticks
    grid = int(rng.choice(grids, p=[.2, .2, .15, .15, .1, .05, .05, .1]))
    notes: list[Note] = []
    tick = int(rng.choice([0, 0, 0, 240, 400, 1000, 7]))  # pickups and late starts
    pitch = int(rng.integers(40, 90))
    for _ in range(int(rng.integers(1, 120))):
        pitch = int(np.clip(pitch + rng.integers(-7, 8), 0, 127))
        if rng.random() < 0.03:
            pitch = int(rng.choice([0, 10, 23, 110, 127]))  # out of the tokenizer's range
        length = int(rng.choice([grid, 2 * grid, 3 * grid, 4 * grid, 1, 7, 1920 * 3]))
        notes.append(Note(pitch=pitch, start_tick=tick, duration_ticks=max(1, length)))
        roll = rng.random()
        if roll < 0.08:  # a chord or a duplicate at the same onset
            notes.append(Note(pitch=int(np.clip(pitch + rng.choice([0, 3, 4, -5]), 0, 127)),
                              start_tick=tick, duration_ticks=max(1, length // 2 or 1)))
        step = length if roll > 0.15 else max(1, length // 3)  # overlaps now and then
        if rng.random() < 0.03:
            step += 1920 * int(rng.integers(1, 6))  # empty bars
        tick += step
        if rng.random() < 0.04:  # a meter change, on a bar line or not
            meters.append(_meter(rng, tick + int(rng.choice([0, 0, 17, 480])), denominators))
    keys = [KeySignature(0, int(rng.integers(-7, 8)), "major")]
    if rng.random() < 0.2:
        keys.append(KeySignature(tick // 2, int(rng.integers(-7, 8)), "minor"))
    by_tick = {m.tick: m for m in meters}  # the last change at a tick wins
    track = Track("melody", tuple(sorted(notes)) if rng.random() < 0.9 else ())
    return Song(tracks=(track,), time_signatures=tuple(by_tick[t] for t in sorted(by_tick)),
                keys=tuple(keys))


def test_fast_encoder_gives_miditoks_ids(tokenizer):
    taken: collections.Counter[str | None] = collections.Counter()
    compared = 0
    for seed in range(400):
        song = varied_song(seed)
        try:
            expected = encode_melody(tokenizer, song)
        except InvalidArgumentError:
            with pytest.raises(InvalidArgumentError):
                encode_melody_fast(tokenizer, song)
            continue
        ids, reason = encode_melody_fast(tokenizer, song)
        assert ids == expected, f"seed {seed}: {reason or 'fast encoder'} differs from miditok"
        if song.tracks[0].notes:
            taken[reason] += 1
            compared += 1
            if reason is None:  # the encoder itself, not only the fallback, is checked
                direct = FastRemiEncoder.of(tokenizer)
                assert direct is not None
                assert direct.encode(melody_to_score(song, song.tracks[0])) == expected
    assert compared >= 300
    # Most generated songs keep one note value; those must take the fast path.
    assert taken[None] >= 0.5 * compared, taken
    assert set(taken) <= {None, "meters over different note values",
                          "no notes in the pitch range"}, taken


def test_fast_encoder_refuses_what_it_does_not_handle(tokenizer):
    encoder = FastRemiEncoder.of(tokenizer)
    assert encoder is not None
    line = (Note(pitch=60, start_tick=0, duration_ticks=480),)
    mixed = Song(tracks=(Track("m", line),),
                 time_signatures=(TimeSignature(0, 4, 4), TimeSignature(1920, 6, 8)))
    with pytest.raises(Unsupported, match="different note values"):
        encoder.encode(melody_to_score(mixed, mixed.tracks[0]))
    ids, reason = encode_melody_fast(tokenizer, mixed)
    assert reason == "meters over different note values"
    assert ids == encode_melody(tokenizer, mixed)
    low = Song(tracks=(Track("m", (Note(pitch=10, start_tick=0, duration_ticks=480),)),))
    with pytest.raises(Unsupported, match="pitch range"):
        encoder.encode(melody_to_score(low, low.tracks[0]))


def test_other_tokenizer_configs_go_to_miditok():
    from composer.io.tokens import MELODY_PARAMS

    with_velocities = build_tokenizer({**MELODY_PARAMS, "use_velocities": True})
    assert FastRemiEncoder.of(with_velocities) is None
    song = varied_song(3)
    ids, reason = encode_melody_fast(with_velocities, song)
    assert reason == "another tokenizer configuration"
    assert ids == encode_melody(with_velocities, song)


def test_corpus_build_reports_which_encoder_made_each_piece(tmp_path):
    from composer.io.midi_file import write_midi
    from composer.ml.data import Shard
    from corpora import midi_folder

    folder = tmp_path / "library"
    folder.mkdir()
    songs = {f"tune-{seed}.mid": varied_song(seed) for seed in range(40)}
    # Meters over quarters then eighths: miditok makes this one.
    line = tuple(Note(pitch=60 + i % 5, start_tick=480 * i, duration_ticks=480)
                 for i in range(16))
    songs["mixed meters.mid"] = Song(tracks=(Track("m", line),), time_signatures=(
        TimeSignature(0, 4, 4), TimeSignature(3840, 6, 8)))
    for name, song in songs.items():
        write_midi(song, folder / name)
    manifest = midi_folder.build(folder, name="enc", workers=2, directory=tmp_path / "corpus")

    encoders = manifest["report"]["encoders"]
    assert encoders["miditok"].get("meters over different note values", 0) >= 1
    tokenized = sum(1 for f in songs if f not in {s["file"] for s in manifest["skipped"]})
    assert encoders["fast"] + sum(encoders["miditok"].values()) == tokenized
    assert encoders["fast"] >= tokenized // 2
    # Whichever encoder made them, the shards hold miditok's ids for the melody a
    # build reads from the file.
    tokenizer = midi_folder.melody_tokenizer()
    for split in ("train", "valid", "test"):
        shard = Shard.load(tmp_path / "corpus", split)
        for i, name in enumerate(shard.ids):
            reading = midi_folder.read_with_symusic(str(folder / name))
            table = midi_folder.pick_melody(reading.tracks)
            song = midi_folder.melody_song(reading, table, tokenizer.config.pitch_range)
            assert shard.piece(i).tolist() == encode_melody(tokenizer, song), name
