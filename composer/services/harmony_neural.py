"""The neural harmonisers (Transformer and LSTM) behind the harmony registry's interface.

Checkpoints live in ``models/harmony-<style>-<arch>/`` (written by
scripts/train_harmony.py or ``composer train --task chorale|chords``). A
loaded model harmonises a :class:`PreparedMelody` under the constrained
decoders of :mod:`composer.ml.harmony_decode`: variation 0 is greedy (the
most likely token at every step), later variations are sampled at the
temperature from a generator the service seeds.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from composer.core.song import KeySignature, Song
from composer.paths import models_dir

if TYPE_CHECKING:
    from composer.services.harmony_models import ChoraleVoices, PreparedMelody

ARCHS = ("transformer", "lstm")


def neural_dir(style: str, arch: str) -> Path:
    return models_dir() / f"harmony-{style}-{arch}"


def neural_available(style: str, arch: str) -> bool:
    directory = neural_dir(style, arch)
    return (directory / "model.pt").is_file() and (directory / "card.json").is_file()


class _Neural:
    def __init__(self, directory: Path) -> None:
        from composer.ml.checkpoint import load_checkpoint
        from composer.ml.harmony_decode import HarmonyVocab

        self.loaded = load_checkpoint(directory)
        self.hv = HarmonyVocab(self.loaded.vocab)
        self._lock = threading.Lock()  # one decode at a time per loaded model

    @property
    def card(self) -> dict[str, Any]:
        return self.loaded.card

    @staticmethod
    def _temperature(variation: int, temperature: float) -> float:
        return 0.0 if variation == 0 else temperature


class NeuralChorale(_Neural):
    """Alto, tenor and bass from a chorale checkpoint."""

    def harmonize(self, melody: PreparedMelody, variation: int, rng: Any, temperature: float
                  ) -> ChoraleVoices:
        from composer.ml.harmony_decode import harmonize_chorale, one_thread
        from composer.services.harmony_models import ChoraleVoices

        with self._lock, one_thread():
            setting = harmonize_chorale(self.loaded.model, self.hv, self.loaded.tokenizer,
                                        melody.notes, melody.time_signatures, melody.key,
                                        self._temperature(variation, temperature), rng)
        return ChoraleVoices(setting.alto, setting.tenor, setting.bass)

    def atb_bits(self, chorale: Song) -> tuple[float, int] | None:
        """Bits of Bach's alto/tenor/bass given his soprano (key as the service reads it)."""
        from composer.analysis.keys import melody_key
        from composer.ml.harmony_decode import one_thread, score_chorale

        voices = [sorted(t.notes) for t in chorale.tracks[:4]]
        key, _ = melody_key(voices[0], chorale.key_at(voices[0][0].start_tick))
        with self._lock, one_thread():
            return score_chorale(self.loaded.model, self.hv, self.loaded.tokenizer, voices,
                                 chorale.time_signatures, key)

    def live(self, key: KeySignature | None):
        from composer.ml.harmony_decode import ChoraleLiveSession

        return _Locked(ChoraleLiveSession(self.loaded.model, self.hv, key), self._lock)


class NeuralChords(_Neural):
    """Chord symbols per beat from a chords checkpoint."""

    def chords(self, melody: PreparedMelody, variation: int, rng: Any, temperature: float):
        from composer.ml.harmony_decode import harmonize_chords, one_thread

        with self._lock, one_thread():
            return harmonize_chords(self.loaded.model, self.hv, self.loaded.tokenizer,
                                    melody.notes, melody.time_signatures, melody.beats,
                                    melody.key, self._temperature(variation, temperature), rng)

    def live(self, key: KeySignature | None):
        from composer.ml.harmony_decode import ChordLiveSession

        return _Locked(ChordLiveSession(self.loaded.model, self.hv, key), self._lock)


class _Locked:
    """A live session sharing its model's lock (the KV cache is per session, the
    network is not re-entrant across threads)."""

    def __init__(self, session: Any, lock: threading.Lock) -> None:
        self.session = session
        self.lock = lock

    def note_on(self, pitch: int) -> list[int]:
        from composer.ml.harmony_decode import one_thread

        with self.lock, one_thread():
            return self.session.note_on(pitch)

    def reset(self) -> None:
        with self.lock:
            self.session.reset()


def load_neural(style: str, arch: str) -> NeuralChorale | NeuralChords:
    directory = neural_dir(style, arch)
    return NeuralChorale(directory) if style == "chorale" else NeuralChords(directory)
