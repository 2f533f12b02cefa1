"""Running the network over long spectrograms, one overlapping window at a time.

Each window is normalised on its own loud level and carries ``CONTEXT_FRAMES``
of extra spectrogram on either side, more than the network's receptive field,
so window edges leave no trace in the output.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from composer.audio.features import level_reference_db, normalise

WINDOW_FRAMES = 1875  # 30 s
CONTEXT_FRAMES = 32


def predict_window(model, spec_db: np.ndarray) -> dict[str, np.ndarray]:
    """Probabilities for one (bins, frames) dB spectrogram, each (frames, keys|bins)."""
    import torch

    spec = normalise(spec_db, level_reference_db(spec_db))
    with torch.inference_mode():
        probs = model.predict(torch.from_numpy(spec))
    return {name: value.numpy() for name, value in probs.items()}


def predict_spectrogram(model, spec_db: np.ndarray, window_frames: int = WINDOW_FRAMES
                        ) -> Iterator[dict[str, np.ndarray]]:
    """Probabilities for consecutive stretches of a whole spectrogram, in order."""
    frames = spec_db.shape[1]
    for start in range(0, frames, window_frames):
        end = min(start + window_frames, frames)
        lo = max(start - CONTEXT_FRAMES, 0)
        hi = min(end + CONTEXT_FRAMES, frames)
        probs = predict_window(model, spec_db[:, lo:hi])
        yield {name: value[start - lo:end - lo] for name, value in probs.items()}
