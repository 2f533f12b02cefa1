"""The transcription model's input: a harmonic constant-Q spectrogram.

One constant-Q transform at 3 bins per semitone is computed per chunk of audio
(``cqt_db``); the harmonic stack (``harmonic_stack``) then lines up, for every
candidate pitch, the bins where its sub-harmonic and harmonics 1..5 fall, by
shifting that one spectrogram, as Basic Pitch does. Each frame is 16 ms.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

SAMPLE_RATE = 16_000
HOP = 256  # 16 ms frames
BINS_PER_SEMITONE = 3
LOWEST_MIDI = 21  # A0, the lowest key of a piano
N_KEYS = 88  # A0..C8
HARMONICS = (0.5, 1.0, 2.0, 3.0, 4.0, 5.0)
# The CQT reaches 6 semitones above C8 (about 5.9 kHz, under 8 kHz Nyquist);
# harmonics of high notes that fall above it read as silence.
N_CQT_BINS = (N_KEYS + 6) * BINS_PER_SEMITONE
FLOOR_DB = -80.0
FRAMES_PER_SECOND = SAMPLE_RATE / HOP


@dataclass(frozen=True)
class FeatureConfig:
    """The spectrogram a checkpoint was trained on; stored in its card."""

    sample_rate: int = SAMPLE_RATE
    hop: int = HOP
    bins_per_semitone: int = BINS_PER_SEMITONE
    lowest_midi: int = LOWEST_MIDI
    n_keys: int = N_KEYS
    n_cqt_bins: int = N_CQT_BINS
    harmonics: tuple[float, ...] = HARMONICS

    def __post_init__(self) -> None:
        if (self.sample_rate, self.hop, self.bins_per_semitone, self.lowest_midi, self.n_keys,
                self.n_cqt_bins) != (SAMPLE_RATE, HOP, BINS_PER_SEMITONE, LOWEST_MIDI, N_KEYS,
                                     N_CQT_BINS):
            raise ValueError("this version of composer computes one spectrogram layout "
                             f"({SAMPLE_RATE} Hz, hop {HOP}, {BINS_PER_SEMITONE} bins/semitone, "
                             f"MIDI {LOWEST_MIDI}..{LOWEST_MIDI + N_KEYS - 1}); the checkpoint "
                             "asks for another")
        if not self.harmonics or any(h <= 0 for h in self.harmonics):
            raise ValueError(f"harmonics {self.harmonics} must be positive numbers")

    @property
    def n_bins(self) -> int:
        """Bins per harmonic channel: one per third of a semitone over the keys."""
        return self.n_keys * self.bins_per_semitone

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["harmonics"] = list(self.harmonics)
        return data

    @staticmethod
    def from_dict(data: dict[str, Any]) -> FeatureConfig:
        data = dict(data)
        data["harmonics"] = tuple(data.get("harmonics", HARMONICS))
        return FeatureConfig(**data)


def cqt_db(audio: np.ndarray) -> np.ndarray:
    """Constant-Q magnitude in dB (clipped at FLOOR_DB), shape (N_CQT_BINS, frames).

    ``audio`` is mono float at SAMPLE_RATE. Bin ``3k+1`` is centred on MIDI
    ``LOWEST_MIDI + k``, so each semitone has one bin a third of a semitone flat,
    one in tune and one a third sharp. The harmonic stack is built from this
    inside the model (``model.HarmonicStack``), so training data stores it once.
    """
    if audio.size < HOP:
        audio = np.pad(audio, (0, HOP - audio.size))
    magnitude = np.abs(_constant_q()(audio.astype(np.float32)))
    return np.maximum(20.0 * np.log10(magnitude + 1e-9), FLOOR_DB).astype(np.float32)


class ConstantQ:
    """librosa's constant-Q transform (recursive down-sampling, sparse Hann
    wavelets, length-scaled) with the filter bank built once per process.

    ``librosa.cqt`` rebuilds its filters on every call, which costs more than
    the transform itself for 30-second windows; a test checks this class
    gives the same numbers as ``librosa.cqt`` with our settings.
    """

    def __init__(self) -> None:
        import librosa

        bins_per_octave = 12 * BINS_PER_SEMITONE
        fmin = float(librosa.midi_to_hz(LOWEST_MIDI - 1.0 / BINS_PER_SEMITONE))
        self.freqs = fmin * 2.0 ** (np.arange(N_CQT_BINS) / bins_per_octave)
        ratio = 2.0 ** (1.0 / bins_per_octave)
        alpha = np.full(N_CQT_BINS, (ratio ** 2 - 1) / (ratio ** 2 + 1))
        self.lengths, cutoff = librosa.filters.wavelet_lengths(
            freqs=self.freqs, sr=SAMPLE_RATE, window="hann", filter_scale=1, gamma=0,
            alpha=alpha)
        if cutoff > SAMPLE_RATE / 2 or np.ceil(np.log2(SAMPLE_RATE / 2 / cutoff)) > 2:
            # librosa would down-sample first, or refuse; our layout never needs to.
            raise ValueError("the constant-Q layout does not fit the sample rate")
        self.n_octaves = int(np.ceil(N_CQT_BINS / bins_per_octave))
        self.bases = []
        sr = float(SAMPLE_RATE)
        for i in range(self.n_octaves):
            top = N_CQT_BINS - bins_per_octave * i
            bins = slice(max(top - bins_per_octave, 0), top)
            basis, lengths = librosa.filters.wavelet(
                freqs=self.freqs[bins], sr=sr, filter_scale=1, norm=1, pad_fft=True,
                window="hann", gamma=0, alpha=alpha[bins])  # type: ignore[arg-type]
            n_fft = basis.shape[1]
            basis *= lengths[:, np.newaxis] / float(n_fft)
            fft_basis = np.fft.fft(basis, n=n_fft, axis=1)[:, : n_fft // 2 + 1]
            fft_basis = librosa.util.sparsify_rows(fft_basis, quantile=0.01,
                                                   dtype=np.complex64)
            fft_basis = fft_basis * np.sqrt(SAMPLE_RATE / sr)
            self.bases.append((fft_basis, n_fft))
            sr /= 2.0

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        import librosa

        responses = []
        signal, hop = audio, HOP
        for fft_basis, n_fft in self.bases:
            stft = librosa.stft(signal, n_fft=n_fft, hop_length=hop, window="ones",
                                pad_mode="constant", dtype=np.complex64)
            responses.append(fft_basis.dot(stft))
            if hop % 2 == 0:
                hop //= 2
                signal = librosa.resample(signal, orig_sr=2, target_sr=1, res_type="soxr_hq",
                                          scale=True)
        columns = min(r.shape[1] for r in responses)
        out = np.empty((N_CQT_BINS, columns), np.complex64)
        end = N_CQT_BINS
        for response in responses:
            rows = min(response.shape[0], end)
            out[end - rows:end] = response[-rows:, :columns]
            end -= rows
        return out / np.sqrt(self.lengths)[:, np.newaxis]


_CQT: ConstantQ | None = None


def _constant_q() -> ConstantQ:
    global _CQT
    if _CQT is None:
        _CQT = ConstantQ()
    return _CQT


def level_reference_db(spec_db: np.ndarray) -> float:
    """The level a window is normalised to: its loud partials, never below -50 dB.

    The floor keeps silence and faint noise from being amplified into notes.
    """
    if spec_db.size == 0:
        return -50.0
    return max(float(np.percentile(spec_db.max(axis=0), 95)), -50.0)


def normalise(spec_db: np.ndarray, reference_db: float) -> np.ndarray:
    """dB relative to ``reference_db``: the reference maps to 1, 80 dB below it to 0."""
    return np.clip((spec_db - reference_db) / -FLOOR_DB + 1.0, 0.0, 1.5).astype(np.float32)


def harmonic_shifts(harmonics: tuple[float, ...] = HARMONICS) -> list[int]:
    """Bin offset of each harmonic relative to the fundamental's bin."""
    return [int(round(12 * BINS_PER_SEMITONE * np.log2(h))) for h in harmonics]
