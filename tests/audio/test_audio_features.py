"""The constant-Q front end and the harmonic stack."""

from __future__ import annotations

import numpy as np
import torch

from composer.audio import features
from composer.audio.model import HarmonicStack, TranscriberConfig


def _tone(midi: float, seconds: float = 2.0, harmonics: int = 5) -> np.ndarray:
    t = np.arange(int(seconds * features.SAMPLE_RATE)) / features.SAMPLE_RATE
    f0 = 440.0 * 2 ** ((midi - 69) / 12)
    return sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, harmonics + 1)
               if f0 * h < 7900).astype(np.float32) * 0.2


def test_constant_q_matches_librosa_cqt():
    import librosa

    rng = np.random.default_rng(0)
    audio = (rng.standard_normal(features.SAMPLE_RATE * 3) * 0.05).astype(np.float32)
    audio += _tone(57.3, 3.0)
    ours = features.ConstantQ()(audio)
    reference = librosa.cqt(audio, sr=features.SAMPLE_RATE, hop_length=features.HOP,
                            fmin=float(librosa.midi_to_hz(features.LOWEST_MIDI - 1 / 3)),
                            n_bins=features.N_CQT_BINS, bins_per_octave=36)
    assert ours.shape == reference.shape
    np.testing.assert_allclose(np.abs(ours), np.abs(reference), rtol=1e-3, atol=1e-5)


def test_in_tune_note_peaks_on_its_centre_bin():
    for midi in (45, 60, 81):
        spec = features.cqt_db(_tone(midi))
        middle = spec[:, spec.shape[1] // 2]
        fundamental = (midi - features.LOWEST_MIDI) * 3 + 1
        window = middle[fundamental - 4:fundamental + 5]
        assert int(np.argmax(window)) == 4, midi


def test_frames_are_16_ms_and_cover_the_audio():
    spec = features.cqt_db(np.zeros(features.SAMPLE_RATE, np.float32))
    assert spec.shape == (features.N_CQT_BINS, 1 + features.SAMPLE_RATE // features.HOP)
    assert features.FRAMES_PER_SECOND == 62.5
    assert float(spec.max()) == features.FLOOR_DB  # silence sits on the floor


def test_normalise_maps_reference_to_one_and_80_db_below_to_zero():
    spec = np.array([[features.FLOOR_DB, -50.0, -10.0, 10.0]], np.float32)
    out = features.normalise(spec, -10.0)
    np.testing.assert_allclose(out[0], [0.125, 0.5, 1.0, 1.25])
    # Silence never gets amplified past the -50 dB reference floor.
    assert features.level_reference_db(np.full((3, 4), features.FLOOR_DB)) == -50.0


def test_harmonic_stack_lines_up_each_harmonic_with_its_fundamental():
    config = TranscriberConfig()
    stack = HarmonicStack(config)
    spec = torch.arange(features.N_CQT_BINS, dtype=torch.float32)[None, :, None].repeat(1, 1, 2)
    out = stack(spec)  # (1, H, T, n_bins), each value is the source bin index
    shifts = features.harmonic_shifts(config.harmonics)
    assert shifts == [-36, 0, 36, 57, 72, 84]
    for h, shift in enumerate(shifts):
        for pitch_bin in (0, 50, 150, 263):
            source = pitch_bin + shift
            expected = source if 0 <= source < features.N_CQT_BINS else 0
            assert out[0, h, 0, pitch_bin].item() == expected


def test_feature_config_round_trips_and_refuses_other_layouts():
    config = features.FeatureConfig()
    assert features.FeatureConfig.from_dict(config.to_dict()) == config
    bad = config.to_dict() | {"hop": 512}
    try:
        features.FeatureConfig.from_dict(bad)
    except ValueError as err:
        assert "hop" in str(err) or "layout" in str(err)
    else:
        raise AssertionError("a hop of 512 was accepted")
