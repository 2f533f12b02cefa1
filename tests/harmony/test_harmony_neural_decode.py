"""Constrained decoding: random-weight models must still write clean, well-formed harmony."""

import numpy as np
import pytest

from composer.analysis.beats import beat_grid
from composer.analysis.voice_leading import SATB_RANGES, VOICES, analyse_voices
from composer.core.ops import is_monophonic, slice_bars
from composer.core.song import KeySignature, Track
from composer.ml.harmony_decode import (
    ChoraleLiveSession,
    ChordLiveSession,
    HarmonyVocab,
    candidate_faults,
    harmonize_chorale,
    harmonize_chords,
    plan_chunks,
    score_chorale,
    voice_mask,
)

from .neural_builders import (
    demo_chorale,
    lead_sheet,
    random_model,
    tokenizer_and_vocab,
)

C_MAJOR = KeySignature(0, 0, "major")


def test_each_voice_leading_rule_is_named():
    # S and A a fifth apart, both moving up a step: parallel fifths
    assert "parallels" in candidate_faults(1, 67, True, [74, None, None, None], [72, 65, 60, 48])
    # octave to octave by contrary motion counts too
    assert "parallels" in candidate_faults(3, 41, True, [77, 65, 60, None], [72, 65, 60, 48])
    assert "crossing" in candidate_faults(2, 66, True, [72, 65, None, None], [72, 65, 60, 48])
    assert "spacing" in candidate_faults(1, 59, True, [72, None, None, None], [72, 65, 60, 48])
    assert "overlap" in candidate_faults(2, 66, True, [72, 67, None, None], [72, 65, 60, 48])
    assert "range" in candidate_faults(3, 30, True, [72, 65, 60, None], [None] * 4)
    assert not candidate_faults(1, 67, True, [72, None, None, None], [72, 65, 60, 48])
    # G7 -> C with the leading tone (B in the soprano) falling to G: unresolved; the
    # bass can still make it no resolution (A: the chord becomes Am7)
    assert "leading_tone" in candidate_faults(3, 48, True, [67, 64, 60, None], [71, 65, 62, 55])
    assert "leading_tone" not in candidate_faults(3, 45, True, [67, 64, 60, None],
                                                  [71, 65, 62, 55])


def test_an_alto_leaves_room_for_where_the_given_soprano_goes_next():
    # alto on the soprano's B while the soprano steps down to A next: the soprano
    # would pass below where the alto was (an overlap only the alto can avoid, now)
    assert "overlap" in candidate_faults(1, 71, True, [71, None, None, None],
                                         [72, 67, 60, 48], soprano_next=69)
    assert "overlap" not in candidate_faults(1, 67, True, [71, None, None, None],
                                             [72, 67, 60, 48], soprano_next=69)
    # holding the B is the same fault; the tenor is not the soprano's neighbour
    assert "overlap" in candidate_faults(1, 71, False, [71, None, None, None],
                                         [72, 71, 60, 48], soprano_next=69)
    assert not candidate_faults(2, 64, True, [71, 67, None, None], [72, 67, 60, 48],
                                soprano_next=62)


def test_a_voice_always_has_a_legal_pitch_and_never_one_out_of_range():
    _, vocab = tokenizer_and_vocab("chorale")
    hv = HarmonyVocab(vocab)
    rng = np.random.default_rng(0)
    for _ in range(120):
        voice = int(rng.integers(1, 4))
        prev = [int(rng.integers(40, 80)) if rng.random() < 0.9 else None for _ in range(4)]
        now = [int(rng.integers(55, 85))] + [int(rng.integers(35, 80)) for _ in range(voice - 1)]
        now += [None] * (4 - len(now))
        mask = voice_mask(hv, voice, now, prev, prev[voice], False)
        assert mask.any()
        low, high = SATB_RANGES[VOICES[voice]]
        for token in np.flatnonzero(mask):
            if token in (hv.hold, hv.rest):
                continue
            assert low <= vocab.values[token] <= high


@pytest.mark.parametrize("arch", ["transformer", "lstm"])
def test_random_models_write_clean_voices_in_range(arch):
    tokenizer, vocab = tokenizer_and_vocab("chorale")
    hv = HarmonyVocab(vocab)
    song = slice_bars(demo_chorale(), 0, 7)
    soprano = sorted(song.tracks[0].notes)
    model = random_model("chorale", arch, block_size=128)  # small: several chunks
    for temperature, seed in ((0.0, 0), (1.5, 1)):
        setting = harmonize_chorale(model, hv, tokenizer, soprano, song.time_signatures, C_MAJOR,
                                    temperature, np.random.default_rng(seed))
        voices = [setting.alto, setting.tenor, setting.bass]
        for name, notes in zip(VOICES[1:], voices, strict=True):
            assert notes and is_monophonic(Track(name, tuple(notes)))
            low, high = SATB_RANGES[name]
            assert all(low <= n.pitch <= high for n in notes)
            assert all(n.end_tick <= soprano[-1].end_tick for n in notes)
        report = analyse_voices([soprano, *voices])
        assert report.out_of_range == 0
        assert report.counts["crossing"] == 0 and report.counts["spacing"] == 0
        assert report.parallels_per_100 == 0


def test_bach_scored_in_chunks_costs_bits_for_every_voice():
    tokenizer, vocab = tokenizer_and_vocab("chorale")
    song = slice_bars(demo_chorale(), 0, 7)
    voices = [sorted(t.notes) for t in song.tracks]
    short = score_chorale(random_model("chorale", "transformer", block_size=128),
                          HarmonyVocab(vocab), tokenizer, voices, song.time_signatures, C_MAJOR)
    whole = score_chorale(random_model("chorale", "transformer", block_size=512),
                          HarmonyVocab(vocab), tokenizer, voices, song.time_signatures, C_MAJOR)
    assert short[1] == whole[1] >= sum(len(v) for v in voices[1:]) * 0.9
    # an untrained model knows nothing: about log2(vocabulary) bits a token
    assert short[0] / short[1] > 4 and whole[0] / whole[1] > 4


def test_chunks_cover_every_bar_once_and_fit():
    prefix_starts = list(range(0, 400, 20))  # 20 bars of 20 melody tokens
    frame_starts = list(range(0, 800, 40))  # and 40 frame items
    chunks = plan_chunks(prefix_starts, 400, frame_starts, [1] * 800, 4, 256)
    assert chunks[0].context == chunks[0].start == 0 and chunks[-1].end == 20
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert a.end == b.start and b.context < b.start
    for c in chunks:
        assert 4 + 20 * (c.end - c.context) + 1 + 40 * (c.end - c.context) <= 256


@pytest.mark.parametrize("arch", ["transformer", "lstm"])
def test_random_models_name_one_well_formed_chord_per_beat(arch):
    tokenizer, vocab = tokenizer_and_vocab("chords")
    song = lead_sheet(repeats=1)
    melody = sorted(song.tracks[0].notes)
    beats = beat_grid(song.time_signatures, melody[0].start_tick, melody[-1].end_tick)
    model = random_model("chords", arch, block_size=64)
    chords = harmonize_chords(model, HarmonyVocab(vocab), tokenizer, melody,
                              song.time_signatures, beats, C_MAJOR, 1.5,
                              np.random.default_rng(2))
    assert len(chords) == len(beats)
    for chord in chords:
        assert chord is not None  # the melody sounds on every beat
        assert chord.bass_pc in chord.pitch_classes


def test_live_sessions_answer_each_note_and_survive_a_full_context():
    _, vocab = tokenizer_and_vocab("chorale")
    session = ChoraleLiveSession(random_model("chorale", "transformer", block_size=48),
                                 HarmonyVocab(vocab), None)
    rng = np.random.default_rng(5)
    for pitch in rng.integers(50, 90, size=30):  # far more notes than the context holds
        answer = session.note_on(int(pitch))
        assert answer and len(answer) <= 3 and int(pitch) not in answer
        assert all(0 <= p <= 127 for p in answer)
    session.reset()
    assert session.note_on(67)
    _, chord_vocab = tokenizer_and_vocab("chords")
    chords = ChordLiveSession(random_model("chords", "lstm", block_size=48),
                              HarmonyVocab(chord_vocab), C_MAJOR)
    for pitch in rng.integers(55, 85, size=20):
        answer = chords.note_on(int(pitch))
        assert 1 <= len(answer) <= 4 and int(pitch) not in answer


@pytest.mark.parametrize("arch, key", [("transformer", C_MAJOR), ("lstm", C_MAJOR),
                                      ("transformer", None)])  # None: the key is followed
def test_answers_decoded_ahead_are_the_answers_note_on_gives(arch, key):
    # The fast path decodes every soprano pitch as one batch while a note is held; the
    # next note, whatever its octave, must get exactly what the plain path would give.
    _, vocab = tokenizer_and_vocab("chorale")
    model = random_model("chorale", arch, block_size=96)
    ahead = ChoraleLiveSession(model, HarmonyVocab(vocab), key)
    plain = ChoraleLiveSession(model, HarmonyVocab(vocab), key)
    adopted = []
    adopt = ahead.decoder.adopt
    ahead.decoder.adopt = lambda *args: (adopted.append(args), adopt(*args))
    rng = np.random.default_rng(9)
    for pitch in (int(p) for p in rng.integers(30, 100, size=40)):  # overflows the context
        plan = ahead.look_ahead_plan()
        if plan is not None:
            assert ahead.offer(plan, ahead.decode_ahead(plan, lambda: False))
        assert ahead.note_on(pitch) == plain.note_on(pitch)
        assert ahead.previous == plain.previous
    assert len(adopted) == 40  # every note, the first too, was answered from it...
    assert any(args[3] is not None for args in adopted)  # ...a rebuilt cache's rows too


def test_a_note_that_comes_first_makes_answers_decoded_ahead_stale():
    _, vocab = tokenizer_and_vocab("chorale")
    session = ChoraleLiveSession(random_model("chorale", "transformer", block_size=96),
                                 HarmonyVocab(vocab), C_MAJOR)
    session.note_on(67)
    plan = session.look_ahead_plan()
    assert plan is not None
    assert session.decode_ahead(plan, lambda: True) == {}  # cancelled at the first step
    answers = session.decode_ahead(plan, lambda: False)
    session.note_on(72)  # before the answers were offered
    assert not session.offer(plan, answers)


def test_the_search_fits_every_chunk_that_fits_the_context():
    # the search feeds six candidates on trial at a frame where the setting itself
    # needs three tokens: a chunk that fills the context to the last token must
    # still leave the search its room (block sizes swept so some chunk ends there)
    tokenizer, vocab = tokenizer_and_vocab("chorale")
    hv = HarmonyVocab(vocab)
    song = slice_bars(demo_chorale(), 0, 5)
    soprano = sorted(song.tracks[0].notes)
    for block_size in range(100, 131):
        model = random_model("chorale", "transformer", block_size=block_size)
        setting = harmonize_chorale(model, hv, tokenizer, soprano, song.time_signatures,
                                    C_MAJOR)
        assert setting.alto and setting.tenor and setting.bass
