"""Audio in, notes out: windows -> spectrogram -> network -> decoders.

Used by the transcription service (files) and by the evaluation (rendered
arrays). Memory is bounded by the window length: each window's spectrogram
and probabilities are dropped once the decoders have taken them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from composer.audio.decode import DecodeConfig, MonoDecoder, NoteEvent, PolyDecoder
from composer.audio.features import HOP, SAMPLE_RATE, cqt_db
from composer.audio.inference import predict_window
from composer.audio.load import Window
from composer.errors import Cancelled

AUTO_POLYPHONY = 0.1
"""In auto mode, a recording with two or more notes at once in under 10% of its
sounding frames is taken as one line and decoded by the monophonic decoder."""


@dataclass(frozen=True)
class Decoded:
    """Both decoders' notes (mono ones only when asked for) and what auto chose."""

    notes: tuple[NoteEvent, ...]
    mode: str  # "mono" or "poly"
    polyphony: float
    duration_s: float


def windows_from_array(audio: np.ndarray, core_s: float = 30.0, context_s: float = 1.5
                       ) -> Iterator[Window]:
    """The same windows ``load.iter_windows`` gives, from 16 kHz audio in memory."""
    core = max(1, round(core_s * SAMPLE_RATE / HOP)) * HOP
    context = round(context_s * SAMPLE_RATE / HOP) * HOP
    padded = np.pad(audio.astype(np.float32), (context, context + core))
    for start in range(0, max(audio.size, 1), core):
        length = min(core, max(audio.size - start, 1))
        chunk = padded[start:start + length + 2 * context]
        yield Window(audio=chunk, context=context, core=length, first_frame=start // HOP)


def window_probabilities(model, window: Window, spec_db: np.ndarray | None = None
                         ) -> dict[str, np.ndarray]:
    """The network's (frames, keys|bins) probabilities over a window's core
    (``spec_db``: the window's spectrogram, when another network had it made)."""
    lead = window.context // HOP
    probs = predict_window(model, cqt_db(window.audio) if spec_db is None else spec_db)
    return {k: v[lead:lead + window.core_frames] for k, v in probs.items()}


def decode_windows(model, windows: Iterable[Window], mode: str = "auto",
                   keep_bends: bool = False, decode_config: DecodeConfig | None = None,
                   progress: Callable[[float], None] | None = None,
                   cancel: threading.Event | None = None, mono_model=None) -> Decoded:
    """Run the network over ``windows`` and decode notes in ``mode`` (auto/mono/poly).

    ``mono_model``, the single-line network where there is one, feeds the mono
    decoder; in auto mode both networks run (the choice of decoder comes at the end).
    """
    poly = PolyDecoder(decode_config) if mode in ("auto", "poly") else None
    mono = MonoDecoder(decode_config) if mode in ("auto", "mono") else None
    samples = 0
    for window in windows:
        if cancel is not None and cancel.is_set():
            raise Cancelled("Transcription cancelled; nothing was written.")
        spec_db = cqt_db(window.audio)
        core = (window_probabilities(model, window, spec_db)
                if poly is not None or mono_model is None else None)
        if poly is not None:
            assert core is not None
            poly.feed(core["onset"], core["frame"], core["velocity"])
        if mono is not None:
            line = core if mono_model is None else window_probabilities(mono_model, window,
                                                                        spec_db)
            assert line is not None
            mono.feed(line["onset"], line["frame"], line["velocity"], line["contour"])
        samples += window.core
        if progress is not None:
            progress(samples / SAMPLE_RATE)
    duration_s = samples / SAMPLE_RATE
    poly_notes = poly.finish() if poly is not None else []
    polyphony = poly.polyphony if poly is not None else 0.0
    chosen = mode
    if mode == "auto":
        chosen = "mono" if polyphony < AUTO_POLYPHONY else "poly"
    if chosen == "mono":
        assert mono is not None
        notes = mono.finish(keep_bends=keep_bends)
    else:
        notes = poly_notes
    notes = [n for n in notes if n.onset_s < duration_s]
    return Decoded(notes=tuple(notes), mode=chosen, polyphony=polyphony,
                   duration_s=duration_s)
