"""The neural harmonisers (Transformer and LSTM) behind the harmony registry's interface.

Checkpoints live in ``models/harmony-<style>-<arch>/`` (written by
scripts/train_harmony.py or ``composer train --task chorale|chords``). A
loaded model harmonises a :class:`PreparedMelody` under the constrained
decoders of :mod:`composer.ml.harmony_decode`: variation 0 is greedy (the
most likely token at every step), later variations are sampled at the
temperature from a generator the service seeds.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from composer.core.song import KeySignature, Song
from composer.paths import models_dir

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from composer.services.harmony_models import ChoraleVoices, PreparedMelody

ARCHS = ("transformer", "lstm")
LOOK_AHEAD_NICENESS = 10  # added to the look-ahead thread's nice value


def neural_dir(style: str, arch: str) -> Path:
    return models_dir() / f"harmony-{style}-{arch}"


def neural_available(style: str, arch: str) -> bool:
    directory = neural_dir(style, arch)
    return (directory / "model.pt").is_file() and (directory / "card.json").is_file()


# The figure that ranks harmonisers for "auto", per style, and where a card keeps it.
PRIMARY_FIGURE = {"chorale": ("test_chorales", "pc_agreement"),
                  "chords": ("test_pop909", "chord_accuracy")}


def neural_beats_hmm(style: str, arch: str) -> bool:
    """Whether the model's card measured it above the HMM on the style's primary
    figure (agreement with Bach's chords, or POP909's), both rows from one eval."""
    import json

    section, figure = PRIMARY_FIGURE[style]
    try:
        rows = json.loads((neural_dir(style, arch) / "card.json").read_text())["eval"][section]
        return float(rows[arch][figure]) > float(rows["hmm"][figure])
    except (OSError, ValueError, KeyError, TypeError):
        return False  # never measured against the HMM: not preferred to it


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
    network is not re-entrant across threads).

    The fast path: after each note, a thread of its own decodes the answers to
    the notes that may come next as one batch (sessions that can), while the note
    is held; the next note, if foreseen, is answered without the network. A note
    that comes first stops that work at its next step.
    """

    IDLE_S = 30.0  # the look-ahead thread ends after this long without a note

    def __init__(self, session: Any, lock: threading.Lock) -> None:
        self.session = session
        self.lock = lock
        self._generation = 0  # bumped by every note: a look-ahead for an older one stops
        self._wanted: int | None = None  # the generation to look ahead from
        self._wake = threading.Condition()
        self._worker: threading.Thread | None = None
        self._closed = False
        self._looks_ahead = hasattr(session, "look_ahead_plan")  # the chorale sessions
        _LOOKING_AHEAD.add(self)
        self._ask(self._generation)  # the first note is foreseeable too

    def note_on(self, pitch: int) -> list[int]:
        from composer.ml.harmony_decode import one_thread

        self._generation += 1  # before waiting for the lock, so a look-ahead yields it
        with self.lock, one_thread():
            harmony = self.session.note_on(pitch)
            generation = self._generation
        self._ask(generation)
        return harmony

    def _ask(self, generation: int) -> None:
        # A waiting thread is woken rather than a new one started: starting a thread
        # hands it the GIL, and the caller, about to send the harmony, would wait.
        with self._wake:
            if self._closed or not self._looks_ahead:
                return
            self._wanted = generation
            if self._worker is None:
                self._worker = threading.Thread(target=self._serve, name="harmony-ahead",
                                                daemon=True)
                self._worker.start()
            self._wake.notify()

    def _serve(self) -> None:
        _lower_this_threads_priority()
        while True:
            with self._wake:
                if self._wanted is None and not self._closed:
                    self._wake.wait(self.IDLE_S)
                if self._closed or self._wanted is None:  # closed, or idle too long
                    self._worker = None
                    return
                wanted, self._wanted = self._wanted, None
            try:
                self._look_ahead(wanted)
            except Exception:  # only the fast path is lost: note_on decodes directly
                log.exception("harmony look-ahead")

    def _look_ahead(self, generation: int) -> None:
        from composer.ml.harmony_decode import one_thread

        with self.lock, one_thread():
            if generation != self._generation:
                return
            plan = self.session.look_ahead_plan()
            if plan is None:
                return
            self.session.decode_ahead(plan, lambda: generation != self._generation)

    def reset(self) -> None:
        self._generation += 1
        with self.lock:
            self.session.reset()
            generation = self._generation
        self._ask(generation)

    def close(self) -> None:
        """Stop looking ahead; returns once the thread has stopped."""
        with self._wake:
            self._closed = True
            self._generation += 1  # a look-ahead under way stops at its next step
            worker = self._worker
            self._wake.notify()
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout=5)


def _lower_this_threads_priority() -> None:
    """Let the look-ahead yield the CPU to the threads that move MIDI: JACK's own (at
    normal priority without a realtime set-up), which drop a late cycle's messages,
    and the jam loop. On Linux a thread id names one thread to setpriority."""
    import os

    with contextlib.suppress(AttributeError, OSError):
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread,
                       min(19, os.getpriority(os.PRIO_PROCESS, thread) + LOOK_AHEAD_NICENESS))


_LOOKING_AHEAD: weakref.WeakSet[_Locked] = weakref.WeakSet()


@atexit.register
def _stop_looking_ahead() -> None:
    # A daemon thread still inside torch when the interpreter finalises aborts the
    # process ("terminate called without an active exception").
    for session in list(_LOOKING_AHEAD):
        session.close()


def load_neural(style: str, arch: str) -> NeuralChorale | NeuralChords:
    directory = neural_dir(style, arch)
    return NeuralChorale(directory) if style == "chorale" else NeuralChords(directory)
