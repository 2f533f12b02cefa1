"""Running the network over long spectrograms, one overlapping window at a time.

Each window is normalised on its own loud level and carries ``CONTEXT_FRAMES``
of extra spectrogram on either side, more than the network's receptive field,
so window edges leave no trace in the output.

Inside a window the network runs over ``SLICE_FRAMES`` at a time, each slice
with its receptive field of spectrogram on either side: the outputs are the
same as one pass over the whole window, and the convolutions' working memory
(hundreds of megabytes for a 30-second window at full pitch resolution) stays
a fraction of that.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from composer.audio.features import level_reference_db, normalise

WINDOW_FRAMES = 1875  # 30 s
CONTEXT_FRAMES = 32
SLICE_FRAMES = 400  # 6.4 s


def predict_window(model, spec_db: np.ndarray, slice_frames: int = SLICE_FRAMES
                   ) -> dict[str, np.ndarray]:
    """Probabilities for one (bins, frames) dB spectrogram, each (frames, keys|bins)."""
    import torch

    spec = torch.from_numpy(normalise(spec_db, level_reference_db(spec_db)))
    frames = spec.shape[1]
    margin = model.receptive_frames + 1
    parts = []
    with torch.inference_mode():
        for start in range(0, max(frames, 1), slice_frames):
            end = min(start + slice_frames, frames)
            lo, hi = max(start - margin, 0), min(end + margin, frames)
            probs = model.predict(spec[:, lo:hi])
            parts.append({name: value[start - lo:end - lo].numpy()
                          for name, value in probs.items()})
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


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
