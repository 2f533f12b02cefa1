"""The miditok tokenizer config and the melody token format."""

from __future__ import annotations

import pytest

from composer.core.song import KeySignature, Note, Song, TimeSignature, Track
from composer.errors import InvalidArgumentError
from composer.io.tokens import (
    BAR,
    KEYSIG,
    MELODY_PARAMS,
    PITCH,
    Vocabulary,
    build_tokenizer,
    conditioning_ids,
    decode_notes,
    encode_melody,
    tokenizer_from_json,
    tokenizer_to_json,
)
from composer.ml.data import Shard, Transposer


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer(MELODY_PARAMS)


def melody(meter=(4, 4), notes=None):
    notes = notes or [(60, 0, 480), (62, 480, 160), (64, 640, 160), (65, 800, 160),
                      (67, 960, 1440), (72, 2400, 240), (71, 2640, 80), (69, 2720, 80)]
    return Song(tracks=(Track("m", tuple(Note(pitch=p, start_tick=s, duration_ticks=d)
                                          for p, s, d in notes)),),
                time_signatures=(TimeSignature(0, *meter),))


def test_tokenizer_config_round_trips_through_json(tokenizer):
    rebuilt = tokenizer_from_json(tokenizer_to_json(tokenizer))
    assert rebuilt.vocab == tokenizer.vocab
    assert rebuilt.config.time_signature_range == tokenizer.config.time_signature_range


@pytest.mark.parametrize("meter", [(4, 4), (3, 4), (6, 8), (2, 2), (3, 2), (9, 8), (5, 4)])
def test_melody_survives_encode_and_decode(tokenizer, meter):
    song = melody(meter)
    vocab = Vocabulary.of(tokenizer)
    ids = encode_melody(tokenizer, song)
    assert vocab.kinds[ids[0]] == BAR
    assert all(vocab.kinds[i] != KEYSIG for i in ids), "the key is conditioning, not inline"
    decoded = decode_notes(tokenizer, conditioning_ids(vocab, KeySignature(0, 1)) + ids)
    assert decoded == list(song.tracks[0].notes)


def test_triplets_and_sixteenths_fit_the_grid(tokenizer):
    triplets = [(60 + i, i * 160, 160) for i in range(6)] + [(70 + i, 960 + i * 120, 120)
                                                             for i in range(4)]
    song = melody(notes=triplets)
    assert decode_notes(tokenizer, encode_melody(tokenizer, song)) == list(song.tracks[0].notes)


def test_unknown_meter_is_a_clear_error(tokenizer):
    with pytest.raises(InvalidArgumentError, match="13/8"):
        encode_melody(tokenizer, melody((13, 8)))


def test_transposition_moves_pitch_and_key_tokens_together(tokenizer):
    vocab = Vocabulary.of(tokenizer)
    transposer = Transposer(vocab)
    ids = conditioning_ids(vocab, KeySignature(0, 0, "major")) + encode_melody(tokenizer, melody())
    import numpy as np

    moved = transposer.apply(np.asarray(ids), 2).tolist()
    assert moved[1] == vocab.key_token(KeySignature(0, 2, "major"))  # C -> D major
    pitches = [vocab.values[i] for i in ids if vocab.kinds[i] == PITCH]
    moved_pitches = [vocab.values[i] for i in moved if vocab.kinds[i] == PITCH]
    assert moved_pitches == [p + 2 for p in pitches]


def test_shard_round_trips(tmp_path):
    shard = Shard.from_sequences([[5, 6, 7], [8, 9]], [KeySignature(0, 1), KeySignature(0, -3, "minor")],
                                 [(60, 72), (55, 70)], ["a", "b"])
    shard.save(tmp_path, "train")
    loaded = Shard.load(tmp_path, "train")
    assert loaded.piece(1).tolist() == [8, 9] and loaded.ids == ["a", "b"]
    assert loaded.key(1) == KeySignature(0, -3, "minor")
