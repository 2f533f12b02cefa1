"""Token formats of the neural harmonisers: tokenizer configs, frames, shard bodies, windows."""

import json

import numpy as np
import pytest
import torch

from composer.core.song import Note, TimeSignature
from composer.io.tokens import PITCH, tokenizer_from_json, tokenizer_to_json
from composer.ml.data import IGNORE
from composer.ml.harmony_format import (
    HOLD,
    REST,
    frame_grid,
    line_states,
    states_to_notes,
)
from composer.ml.harmony_tasks import HarmonyWindows, encode_chorale

from .neural_builders import demo_chorale, lead_sheet, shard_of, tokenizer_and_vocab


@pytest.mark.parametrize("task", ["chorale", "chords"])
def test_tokenizer_config_round_trips_through_json(task):
    tokenizer, vocab = tokenizer_and_vocab(task)
    data = tokenizer_to_json(tokenizer)
    again = tokenizer_from_json(json.loads(json.dumps(data)))
    assert again.vocab == tokenizer.vocab
    assert tokenizer_to_json(again)["config"] == data["config"]
    names = set(tokenizer.vocab)
    assert {"Full_None", "Live_None", "Harm_None"} <= names
    if task == "chorale":
        assert {"Hold_None", "Rest_None"} <= names
    else:
        assert {"ChordRoot_0", "ChordQual_hdim7", "ChordBass_11", "ChordNone_None"} <= names


def test_frames_give_back_voices_written_on_the_eighth_grid():
    meter = (TimeSignature(0, 3, 4),)
    soprano = [Note(pitch=72, start_tick=480, duration_ticks=960),
               Note(pitch=71, start_tick=1440, duration_ticks=240),  # eighths
               Note(pitch=69, start_tick=1680, duration_ticks=240),
               Note(pitch=67, start_tick=1920, duration_ticks=480)]  # then a rest
    alto = [Note(pitch=64, start_tick=480, duration_ticks=480),
            Note(pitch=65, start_tick=960, duration_ticks=720),
            Note(pitch=62, start_tick=1680, duration_ticks=720)]
    grid = frame_grid(meter, soprano)
    assert grid.ticks[0] == 480 and grid.end_tick == 2400
    for line in (soprano, alto):
        states = line_states(line, grid.ticks)
        assert states[0] not in (HOLD, REST)
        assert states_to_notes(grid, states, velocity=80) == [
            Note(pitch=n.pitch, start_tick=n.start_tick, duration_ticks=n.duration_ticks)
            for n in line]


def test_random_states_always_decode_to_one_clean_line():
    whole = Note(pitch=72, start_tick=0, duration_ticks=7680)
    grid = frame_grid((TimeSignature(0, 4, 4),), [whole])
    rng = np.random.default_rng(3)
    for _ in range(50):
        states = [HOLD if r < 0.4 else REST if r < 0.55 else int(rng.integers(40, 80))
                  for r in rng.random(len(grid.ticks))]
        notes = states_to_notes(grid, states)
        assert all(n.duration_ticks > 0 for n in notes)
        assert all(a.end_tick <= b.start_tick for a, b in zip(notes, notes[1:], strict=False))
        assert all(n.start_tick >= 0 and n.end_tick <= grid.end_tick for n in notes)


def test_a_chorale_body_is_melody_then_frames_then_live_format():
    tokenizer, vocab = tokenizer_and_vocab("chorale")
    song = demo_chorale()
    body = encode_chorale(tokenizer, vocab, song)
    harm, live = body.index(vocab.special("Harm")), body.index(vocab.special("Live"))
    assert 0 < harm < live
    names = [k for k, _ in sorted(vocab.ids.items(), key=lambda kv: kv[1])]
    frames = [names[t] for t in body[harm + 1:live]]
    for i, name in enumerate(frames):
        if name.startswith("Position_"):  # Position S A T B
            assert all(n.startswith(("Pitch_", "Hold", "Rest")) for n in frames[i + 1:i + 5])
    soprano_onsets = len(song.tracks[0].notes)
    assert len(body) - live - 1 == 4 * soprano_onsets  # live: S A T B per soprano note


def test_a_lead_sheet_body_has_one_chord_per_beat():
    from composer.ml.harmony_tasks import encode_lead_sheet

    tokenizer, vocab = tokenizer_and_vocab("chords")
    from composer.analysis.chord_labels import label_lead_sheet

    song = lead_sheet()
    labels = label_lead_sheet(song)
    body = encode_lead_sheet(tokenizer, vocab, song.with_tracks([song.tracks[0]]),
                             [lb.beat for lb in labels], [lb.chord for lb in labels], "Pop")
    harm, live = body.index(vocab.special("Harm")), body.index(vocab.special("Live"))
    roots = [t for t in body[harm:live] if t in {vocab.ids[f"ChordRoot_{r}"] for r in range(12)}]
    assert len(roots) == len(labels) == 32
    assert body[0] == vocab.special("StylePop")


@pytest.mark.parametrize("ahead", [0, 1, 2])
def test_a_chord_frame_shows_as_many_beats_ahead_as_its_tokenizer_has_look_ahead_tokens(ahead):
    from composer.analysis.beats import beat_grid
    from composer.io.tokens import Vocabulary, build_tokenizer
    from composer.ml.harmony_format import CHORDS_PARAMS, LOOK_AHEAD, bar_infos, chord_frame_items

    params = dict(CHORDS_PARAMS)  # 0 and 1: tokenizers from before Ahead / Ahead2 (shipped models')
    params["special_tokens"] = [t for t in params["special_tokens"]
                                if t not in LOOK_AHEAD[ahead:]]
    vocab = Vocabulary.of(build_tokenizer(params))
    song = lead_sheet(repeats=1)
    melody = sorted(song.tracks[0].notes)
    beats = beat_grid(song.time_signatures, 0, melody[-1].end_tick)
    items, _ = chord_frame_items(vocab, bar_infos(song.time_signatures, melody[-1].end_tick),
                                 beats, melody)
    names = {index: name for name, index in vocab.ids.items()}
    frames: list[list[str]] = [[]]
    for item in items:
        if isinstance(item, int):
            frames[-1].append(names[item])
        else:
            frames.append([])
    frames = [[n for n in f if not n.startswith(("Bar", "TimeSig"))] for f in frames[:-1]]
    assert len(frames) == len(beats) == 16
    pitches = [f"Pitch_{n.pitch}" for n in melody]  # one note per beat
    for k, frame in enumerate(frames):
        expected = [frame[0], pitches[k]]
        for distance, token in enumerate(LOOK_AHEAD[:ahead], start=1):
            # the last beats have nothing (or less) ahead of them
            expected += [f"{token}_None"] + pitches[k + distance:k + distance + 1]
        assert frame == expected


@pytest.mark.parametrize("task", ["chorale", "chords"])
def test_training_windows_target_only_the_harmony(task):
    shard, vocab = shard_of(task, [demo_chorale() if task == "chorale" else lead_sheet()])
    windows = HarmonyWindows(shard, vocab, 128, task, live_rate=0.5, transpose_range=(-6, 5))
    x, y = windows.sample_batch(6, np.random.default_rng(0))
    assert x.shape == y.shape == (6, 128)
    targets = y[y != IGNORE].numpy()
    assert len(targets)
    kinds = np.asarray(vocab.kinds)[targets]
    names = [k for k, _ in sorted(vocab.ids.items(), key=lambda kv: kv[1])]
    if task == "chorale":
        assert all(k == PITCH or names[t] in ("Hold_None", "Rest_None")
                   for k, t in zip(kinds, targets, strict=True))
    else:
        assert all(names[t].startswith("Chord") for t in targets)
    (vx, vy), = list(windows.validation_batches(4))
    assert vx[0, 0] == vocab.bos and vx[0, 2 if task == "chorale" else 3] == vocab.special("Full")


def test_chord_noise_shows_wrong_chords_but_trains_on_the_true_ones():
    from composer.ml.harmony_tasks import collate_targets

    shard, vocab = shard_of("chords", [lead_sheet()])
    clean = HarmonyWindows(shard, vocab, 128, "chords")
    noisy = HarmonyWindows(shard, vocab, 128, "chords", chord_noise=0.5)
    names = [k for k, _ in sorted(vocab.ids.items(), key=lambda kv: kv[1])]
    replaced = 0
    for seed in range(8):  # the same window, drawn alike until the noise
        tokens, targets, shown = clean._sequence(np.random.default_rng(seed))
        assert shown is tokens
        noisy_tokens, noisy_targets, noisy_shown = noisy._sequence(np.random.default_rng(seed))
        assert np.array_equal(noisy_tokens, tokens)  # what is learnt is the true chords
        for i in np.flatnonzero(noisy_shown != tokens):  # only roots and qualities differ
            assert names[tokens[i]].split("_")[0] in ("ChordRoot", "ChordQual")
            if names[tokens[i]].startswith("ChordRoot"):
                replaced += 1  # its root is still learnt, what follows a wrong root not
                assert noisy_targets[i] and not noisy_targets[i + 1] and not noisy_targets[i + 2]
        x, y = collate_targets([(noisy_tokens, noisy_targets, noisy_shown)], vocab.pad, 128)
        n = min(len(tokens) - 1, 128)
        assert np.array_equal(x[0, :n].numpy(), noisy_shown[:n])
    assert replaced
    (vx, vy), = list(noisy.validation_batches(8))
    (cx, cy), = list(clean.validation_batches(8))
    assert torch.equal(vx, cx) and torch.equal(vy, cy)  # validation stays clean


def test_missed_chord_changes_show_the_chord_before_until_the_next_change():
    shard, vocab = shard_of("chords", [lead_sheet()])
    clean = HarmonyWindows(shard, vocab, 128, "chords")
    roots = [i for name, i in vocab.ids.items() if name.startswith("ChordRoot_")]
    seen_held = 0
    for rate in (1.0, 0.5):
        holding = HarmonyWindows(shard, vocab, 128, "chords", chord_hold=rate)
        for seed in range(8):
            tokens, _, _ = clean._sequence(np.random.default_rng(seed))
            held_tokens, targets, shown = holding._sequence(np.random.default_rng(seed))
            assert np.array_equal(held_tokens, tokens)  # what is learnt is the true chords
            at = np.flatnonzero(np.isin(tokens, roots))
            at = at[at + 2 < len(tokens)]
            true = [tuple(tokens[i:i + 3]) for i in at]
            seen = [tuple(shown[i:i + 3]) for i in at]
            assert seen[0] == true[0]
            if rate == 1.0:  # every change missed: the first chord is shown throughout
                assert all(s == true[0] for s in seen)
            for k in range(1, len(at)):
                # a shown chord is the true one or the one shown before it
                assert seen[k] in (true[k], seen[k - 1])
                if seen[k] != true[k]:
                    seen_held += 1  # its root is still learnt, what follows it not
                    assert targets[at[k]] and not targets[at[k] + 1] and not targets[at[k] + 2]
                if true[k] == true[k - 1] and seen[k - 1] == true[k - 1]:
                    assert seen[k] == true[k]  # a hold starts only at a change
            outside = np.ones(len(tokens), dtype=bool)
            outside[(at[:, None] + np.arange(3)).ravel()] = False
            assert np.array_equal(shown[outside], tokens[outside])  # melody and grid untouched
    assert seen_held
    no_chords = np.array([vocab.bos, vocab.pad, vocab.pad])  # a window of silent beats
    targets, shown = holding._noisy_chords(no_chords, np.zeros(3, dtype=bool),
                                           np.random.default_rng(0))
    assert np.array_equal(shown, no_chords) and not targets.any()
