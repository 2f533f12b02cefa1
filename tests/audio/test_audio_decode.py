"""Note decoding from probability rolls: poly and mono, streamed or whole."""

from __future__ import annotations

import numpy as np
import pytest

from composer.audio.decode import DecodeConfig, MonoDecoder, PolyDecoder, line_onsets, segment_line
from composer.audio.features import FRAMES_PER_SECOND, LOWEST_MIDI, N_KEYS

FPS = FRAMES_PER_SECOND


def _rolls(notes: list[tuple[int, float, float]], seconds: float):
    """Clean onset/frame/velocity rolls for (pitch, onset_s, offset_s) notes."""
    frames = int(seconds * FPS)
    onset = np.zeros((frames, N_KEYS), np.float32)
    frame = np.zeros((frames, N_KEYS), np.float32)
    velocity = np.zeros((frames, N_KEYS), np.float32)
    for pitch, on, off in notes:
        key = pitch - LOWEST_MIDI
        a, b = round(on * FPS), round(off * FPS)
        onset[a, key] = 0.9
        onset[a + 1, key] = 0.4
        frame[a:b, key] = 0.95
        velocity[a:a + 2, key] = 0.6
    return onset, frame, velocity


def _frame(seconds: float) -> int:
    return round(seconds * FPS)


CHORD_NOTES = [(60, 0.5, 1.5), (64, 0.5, 1.5), (67, 0.5, 2.0), (60, 1.5, 2.5), (72, 2.0, 2.3)]


def test_poly_decoder_recovers_notes():
    decoder = PolyDecoder()
    decoder.feed(*_rolls(CHORD_NOTES, 3.0))
    notes = decoder.finish()
    got = sorted((n.pitch, _frame(n.onset_s), _frame(n.offset_s)) for n in notes)
    assert got == sorted((p, _frame(a), _frame(b)) for p, a, b in CHORD_NOTES)
    assert all(n.velocity == round(0.6 * 127) for n in notes)


def test_repeated_note_is_struck_twice():
    # Frame stays on across the second onset: a re-strike, as in legato repeated notes.
    onset, frame, velocity = _rolls([(62, 0.2, 0.8), (62, 0.8, 1.4)], 2.0)
    decoder = PolyDecoder()
    decoder.feed(onset, frame, velocity)
    notes = decoder.finish()
    assert [(n.pitch, _frame(n.onset_s)) for n in notes] == [(62, _frame(0.2)), (62, _frame(0.8))]


@pytest.mark.parametrize("chunk", [1, 7, 50, 1000])
def test_streaming_in_chunks_gives_the_same_notes(chunk):
    onset, frame, velocity = _rolls(CHORD_NOTES, 3.0)
    whole = PolyDecoder()
    whole.feed(onset, frame, velocity)
    expected = whole.finish()
    streamed = PolyDecoder()
    for start in range(0, onset.shape[0], chunk):
        streamed.feed(onset[start:start + chunk], frame[start:start + chunk],
                      velocity[start:start + chunk])
    assert streamed.finish() == expected


def test_confident_frames_without_an_onset_still_make_a_note():
    onset, frame, velocity = _rolls([], 2.0)
    frame[30:90, 50] = 0.95  # a soft attack the onset head missed
    decoder = PolyDecoder()
    decoder.feed(onset, frame, velocity)
    notes = decoder.finish()
    assert [(n.pitch, round(n.onset_s, 2)) for n in notes] == [(LOWEST_MIDI + 50, 30 / FPS)]


def test_blips_shorter_than_the_minimum_are_dropped():
    onset, frame, velocity = _rolls([(70, 0.5, 0.52)], 1.0)
    decoder = PolyDecoder(DecodeConfig(min_note_s=0.05))
    decoder.feed(onset, frame, velocity)
    assert decoder.finish() == []


def test_polyphony_share():
    decoder = PolyDecoder()
    decoder.feed(*_rolls(CHORD_NOTES, 3.0))
    decoder.finish()
    assert 0.5 < decoder.polyphony <= 1.0
    mono = PolyDecoder()
    mono.feed(*_rolls([(60, 0.2, 0.6), (62, 0.6, 1.0)], 1.5))
    mono.finish()
    assert mono.polyphony == 0.0


# ------------------------------------------------------------------ mono


def _sung_line(segments: list[tuple[float, float, float]], seconds: float, vibrato_cents=0.0,
               rate=5.5, onsets=True):
    """Per-frame (voicing, fine pitch, onset, velocity) for (midi_float, on, off) notes."""
    frames = int(seconds * FPS)
    voicing = np.zeros(frames)
    pitch = np.full(frames, 60.0)
    onset = np.zeros(frames)
    velocity = np.full(frames, 0.5)
    for centre, on, off in segments:
        a, b = round(on * FPS), round(off * FPS)
        t = np.arange(b - a) / FPS
        voicing[a:b] = 0.9
        pitch[a:b] = centre + vibrato_cents / 100 * np.sin(2 * np.pi * rate * t)
        if onsets:
            onset[a] = 0.9
    return voicing, pitch, onset, velocity


def test_vibrato_on_a_held_note_stays_one_note():
    line = _sung_line([(64.0, 0.3, 3.3)], 4.0, vibrato_cents=60)
    notes = segment_line(*line, DecodeConfig())
    assert [(n.pitch, round(n.onset_s, 2)) for n in notes] == [(64, 0.3)]
    assert abs(notes[0].offset_s - 3.3) < 0.05


@pytest.mark.parametrize("cents", [-45, -40, -30, 30, 40, 45])
def test_off_grid_singing_lands_on_the_nearest_note(cents):
    line = _sung_line([(60 + cents / 100, 0.2, 0.9), (62 + cents / 100, 1.0, 1.7),
                       (64 + cents / 100, 1.8, 2.6)], 3.0, vibrato_cents=30)
    notes = segment_line(*line, DecodeConfig())
    assert [n.pitch for n in notes] == [60, 62, 64]


def test_a_wide_vibrato_that_dwells_on_its_low_side_still_gives_the_nearest_note():
    # 40 cents flat of 72 with a +-50-cent vibrato whose pitch lingers at its
    # extremes, a little longer at the low one (as a network's fine pitch can):
    # the median lands below 71.5, the vibrato's centre does not.
    line = _sung_line([(71.6, 0.3, 3.3)], 4.0)
    start, end = round(0.3 * FPS), round(3.3 * FPS)
    t = np.arange(end - start) / FPS
    shape = np.tanh(2.0 * (np.sin(2 * np.pi * 5.5 * t) - 0.15))
    line[1][start:end] = 71.6 + 0.5 * shape / np.abs(shape).max()
    assert np.median(line[1][start + (end - start) // 5:end]) < 71.5
    notes = segment_line(*line, DecodeConfig())
    assert [n.pitch for n in notes] == [72]


def test_legato_change_without_onset_splits_the_note():
    line = _sung_line([(60.0, 0.2, 1.0), (62.0, 1.0, 1.8)], 2.5, onsets=False)
    notes = segment_line(*line, DecodeConfig())
    assert [n.pitch for n in notes] == [60, 62]
    assert abs(notes[1].onset_s - 1.0) < 0.1


def test_pitch_moving_just_before_an_onset_gives_no_fragment():
    # Legato: the line reaches the next pitch a few frames before its onset fires
    # (the loudest key changes while the onset head is still building up).
    line = _sung_line([(60.0, 0.2, 1.0), (64.0, 1.0, 1.8)], 2.5, onsets=False)
    voicing, pitch, onset, velocity = line
    onset[_frame(0.2)] = 0.9
    onset[_frame(1.0) + 4] = 0.9  # 64 ms after the pitch moved
    notes = segment_line(voicing, pitch, onset, velocity, DecodeConfig())
    assert [n.pitch for n in notes] == [60, 64]
    assert notes[1].onset_s == pytest.approx((_frame(1.0) + 4) / FPS)
    assert notes[0].offset_s == notes[1].onset_s


def test_a_frame_of_a_wrong_octave_does_not_split_a_note():
    voicing, pitch, onset, velocity = _sung_line([(62.0, 0.2, 1.2)], 1.5)
    pitch[_frame(0.4)] = 74.0  # one frame on the octave above (a harmonic)
    notes = segment_line(voicing, pitch, onset, velocity, DecodeConfig())
    assert [(n.pitch, n.onset_s) for n in notes] == [(62, _frame(0.2) / FPS)]


def test_a_note_starts_at_its_onset_when_the_tone_builds_up_later():
    voicing, pitch, onset, velocity = _sung_line([(67.0, 0.5, 1.5)], 2.0, onsets=False)
    onset[_frame(0.5)] = 0.9
    voicing[_frame(0.5):_frame(0.5) + 3] = 0.1  # a bowed attack: quiet for 48 ms
    notes = segment_line(voicing, pitch, onset, velocity, DecodeConfig())
    assert [(n.pitch, n.onset_s) for n in notes] == [(67, _frame(0.5) / FPS)]


def test_slide_into_a_note_keeps_its_target_pitch():
    voicing, pitch, onset, velocity = _sung_line([(67.0, 0.5, 1.5)], 2.0)
    a = round(0.5 * FPS)
    pitch[a:a + 5] = np.linspace(65.8, 67.0, 5)  # an 80 ms scoop from below
    notes = segment_line(voicing, pitch, onset, velocity, DecodeConfig())
    assert [n.pitch for n in notes] == [67]


def test_bends_follow_the_sung_pitch():
    line = _sung_line([(60.3, 0.2, 1.2)], 1.5, vibrato_cents=40)
    notes = segment_line(*line, DecodeConfig(), keep_bends=True)
    assert len(notes) == 1 and notes[0].pitch == 60
    values = np.array([b[1] for b in notes[0].bends])
    assert 0.5 < values.max() < 0.8 and -0.2 < values.min() < 0.0
    assert all(a[0] < b[0] for a, b in zip(notes[0].bends, notes[0].bends[1:], strict=False))
    assert segment_line(*line, DecodeConfig())[0].bends == ()


def test_mono_decoder_reads_fine_pitch_from_the_contour():
    frames = 100
    onset = np.zeros((frames, N_KEYS), np.float32)
    frame = np.zeros((frames, N_KEYS), np.float32)
    velocity = np.full((frames, N_KEYS), 0.5, np.float32)
    contour = np.zeros((frames, N_KEYS * 3), np.float32)
    key = 69 - LOWEST_MIDI
    frame[10:90, key] = 0.9
    onset[10, key] = 0.9
    centre = key * 3 + 1 + 1.2  # 40 cents sharp
    bins = np.arange(N_KEYS * 3)
    contour[10:90] = np.exp(-0.5 * (bins - centre) ** 2)
    decoder = MonoDecoder()
    decoder.feed(onset[:40], frame[:40], velocity[:40], contour[:40])
    decoder.feed(onset[40:], frame[40:], velocity[40:], contour[40:])
    notes = decoder.finish(keep_bends=True)
    assert [n.pitch for n in notes] == [69]
    assert abs(np.median([b[1] for b in notes[0].bends]) - 0.4) < 0.08


def test_empty_input_gives_no_notes():
    assert MonoDecoder().finish() == []
    assert PolyDecoder().finish() == []


def test_a_faint_onset_counts_unless_the_onset_floor_around_it_is_as_high():
    # A tongued repeat of a held note shows only a faint onset at its key; inside a
    # reverberant held note the onset head's floor rises to that level everywhere.
    config = DecodeConfig(mono_onset_threshold=0.06, mono_background_ratio=2.0)
    no_change = np.zeros(200)
    quiet = np.zeros(200)
    quiet[100] = 0.1
    assert line_onsets(quiet, no_change, config)[100] >= config.mono_onset_threshold
    rng = np.random.default_rng(0)
    reverberant = rng.uniform(0.04, 0.08, 200)
    reverberant[100] = 0.1
    assert line_onsets(reverberant, no_change, config)[100] < config.mono_onset_threshold
    without_floor = DecodeConfig(mono_onset_threshold=0.06, mono_background_ratio=0.0)
    assert line_onsets(reverberant, no_change, without_floor)[100] >= 0.06


def _contour_of(frame: np.ndarray) -> np.ndarray:
    """A contour peaked on each frame's loudest key, in tune."""
    bins = np.arange(N_KEYS * 3)
    centre = frame.argmax(axis=1) * 3 + 1
    return np.exp(-0.5 * (bins[None, :] - centre[:, None]) ** 2).astype(np.float32)


def test_a_new_note_starts_at_its_onset_while_the_old_one_still_rings_louder():
    # Reverb: E4's attack at 1.0 s, but C4 stays the loudest key until 1.25 s.
    frames = _frame(2.5)
    onset = np.zeros((frames, N_KEYS), np.float32)
    frame = np.zeros((frames, N_KEYS), np.float32)
    velocity = np.full((frames, N_KEYS), 0.5, np.float32)
    c4, e4 = 60 - LOWEST_MIDI, 64 - LOWEST_MIDI
    onset[_frame(0.2), c4] = 0.9
    frame[_frame(0.2):_frame(1.25), c4] = 0.95
    frame[_frame(1.25):_frame(1.6), c4] = 0.4  # the tail
    onset[_frame(1.0), e4] = 0.5
    frame[_frame(1.0):_frame(2.2), e4] = 0.7
    config = DecodeConfig(mono_onset_threshold=0.3, mono_change_onset_threshold=0.2)
    decoder = MonoDecoder(config)
    decoder.feed(onset, frame, velocity, _contour_of(frame))
    notes = decoder.finish()
    assert [n.pitch for n in notes] == [60, 64]
    assert notes[1].onset_s == pytest.approx(_frame(1.0) / FPS)
    # Without looking at other keys the change is found late, where E4 takes over.
    blind = MonoDecoder(DecodeConfig(mono_onset_threshold=0.3,
                                     mono_change_onset_threshold=0.99))
    blind.feed(onset, frame, velocity, _contour_of(frame))
    late = blind.finish()
    assert [n.pitch for n in late] == [60, 64] and late[1].onset_s > 1.15


def test_a_faint_onset_inside_a_sung_vibrato_does_not_count():
    # A singer's vibrato makes the onset head flicker at the note's own key; a
    # steady instrument's faint onset there is a re-struck note.
    config = DecodeConfig(mono_onset_threshold=0.06, mono_wobble_semitones=0.12,
                          mono_wobble_onset_threshold=0.3)
    own = np.zeros(200)
    own[100] = 0.1
    no_change = np.zeros(200)
    t = np.arange(200) / FPS
    steady = np.full(200, 64.0)
    vibrato = 64.0 + 0.5 * np.sin(2 * np.pi * 5.5 * t)
    assert line_onsets(own, no_change, config, steady)[100] >= config.mono_onset_threshold
    assert line_onsets(own, no_change, config, vibrato)[100] < config.mono_onset_threshold
    own[100] = 0.5  # a real attack still counts
    assert line_onsets(own, no_change, config, vibrato)[100] >= config.mono_onset_threshold
