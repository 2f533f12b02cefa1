"""The PPM baseline: a proper distribution, learning, and a lossless save."""

from __future__ import annotations

import math

import numpy as np

from composer.ml.markov import PPM, MarkovMelodyModel
from tests.ml.conftest import tune


def test_ppm_distribution_never_exceeds_one_and_learns():
    model = PPM(max_order=3)
    for _ in range(20):
        model.train([1, 2, 3, 1, 2, 3, 1, 2, 4])
    probs = model.distribution([1, 2])
    assert probs.sum() <= 1.0 + 1e-9
    assert model.probability([1, 2], 3) > 0.5
    assert 0 < model.probability([1, 2], 99) < 0.05  # unseen symbols keep a little mass


def test_markov_model_round_trips_and_scores_training_tunes_well(tmp_path):
    songs = [(tune(bars=4), tune().keys[0])] * 5
    model = MarkovMelodyModel.train(songs)
    again = MarkovMelodyModel.load_bytes(model.to_bytes())
    assert again.note_bits(*songs[0]) == model.note_bits(*songs[0])
    pitch_bits, event_bits, notes = model.note_bits(*songs[0])
    assert notes == 16 and 0 < pitch_bits < event_bits
    assert pitch_bits / notes < math.log2(12)


def test_markov_generation_is_monophonic_inside_the_region():
    song = tune(bars=4)
    model = MarkovMelodyModel.train([(song, song.keys[0])] * 3)
    notes = model.generate(song, list(song.tracks[0].notes), song.keys[0], 7680, 7680 + 3840,
                           np.random.default_rng(1), first_onset=7680)
    assert notes and notes[0].start_tick == 7680
    assert all(a.end_tick <= b.start_tick for a, b in zip(notes, notes[1:]))
    assert all(7680 <= n.start_tick and n.end_tick <= 7680 + 3840 for n in notes)
