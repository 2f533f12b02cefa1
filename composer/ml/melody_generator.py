"""Loaded melody models behind one interface: the Transformer, the LSTM, Markov."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from composer.core.pitch import estimate_key, scale_pitch_classes
from composer.core.song import KeySignature, Note, Song
from composer.errors import Cancelled, InvalidArgumentError, ModelError


@dataclass
class Generated:
    variations: list[list[Note]]
    end_tick: int
    messages: list[str] = field(default_factory=list)
    tokens: int = 0  # tokens the network generated (0 for the Markov model)


def prompt_key(song: Song, notes: list[Note]) -> KeySignature:
    """The key in force where the prompt starts, else the key its notes suggest."""
    start = notes[0].start_tick if notes else 0
    key = song.key_at(start)
    return key if key is not None else estimate_key(notes)


def _seed(seed: int | None) -> tuple[int, list[str]]:
    if seed is not None:
        return seed, []
    import secrets

    chosen = secrets.randbelow(2**31)
    return chosen, [f"seed {chosen} (use it to get these variations again)"]


def _octave_shift(notes: list[Note], low: int, high: int) -> int:
    """Octaves that bring the prompt inside the model's pitch range (0 if it fits)."""
    lowest, highest = min(n.pitch for n in notes), max(n.pitch for n in notes)
    shift = 0
    while lowest + shift < low and highest + shift + 12 <= high:
        shift += 12
    while highest + shift > high and lowest + shift - 12 >= low:
        shift -= 12
    return shift


def _moved(notes: list[Note], semitones: int) -> list[Note]:
    from dataclasses import replace

    if not semitones:
        return list(notes)
    return [replace(n, pitch=max(0, min(127, n.pitch + semitones))) for n in notes]


def _pitch_window(settings, model_low: int, model_high: int, shift: int) -> tuple[int, int]:
    if settings.pitch_range is None:
        return model_low, model_high
    low, high = settings.pitch_range
    low, high = max(low + shift, model_low), min(high + shift, model_high)
    if low > high:
        raise InvalidArgumentError("the pitch range lies outside what the model can write")
    return low, high


class NeuralMelodyGenerator:
    """A Transformer or LSTM checkpoint, ready to continue and infill melodies."""

    def __init__(self, directory: Path) -> None:
        from composer.ml.checkpoint import load_checkpoint

        self.loaded = load_checkpoint(directory)
        self.block_size = int(self.loaded.card["model"]["block_size"])
        self._lock = threading.Lock()

    @property
    def card(self) -> dict[str, Any]:
        return self.loaded.card

    def key_of(self, song: Song, notes: list[Note]) -> KeySignature:
        return prompt_key(song, notes)

    def _prepare(self, notes: list[Note], settings) -> tuple[int, tuple[int, int], list[str]]:
        low, high = self.loaded.vocab.pitch_range
        shift = _octave_shift(notes, low, high)
        messages = []
        if shift:
            messages.append(f"the prompt was moved {abs(shift) // 12} octave(s) "
                            f"{'up' if shift > 0 else 'down'} for the model and back")
        return shift, _pitch_window(settings, low, high, shift), messages

    def continue_notes(self, song: Song, prompt: list[Note], key: KeySignature, start_tick: int,
                       settings, cancel: threading.Event | None = None,
                       use_cache: bool = True) -> Generated:
        from composer.ml.melody import (
            decode_generated,
            make_constraints,
            plan_continuation,
            recrop_keep_tail,
        )
        from composer.ml.sampling import generate, one_thread

        shift, window, messages = self._prepare(prompt, settings)
        vocab = self.loaded.vocab
        plan = plan_continuation(self.loaded.tokenizer, vocab, song, _moved(prompt, shift), key,
                                 start_tick, settings.bars, self.block_size)
        key_pcs = scale_pitch_classes(key) if settings.key_lock else None  # octaves keep classes
        seed, seed_messages = _seed(settings.seed)
        constraints = make_constraints(plan, vocab, settings.variations, window, key_pcs)
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        with self._lock, one_thread():
            rows = generate(self.loaded.model, plan.tokens, constraints, settings.temperature,
                            settings.top_p, seed, max_new_tokens=80 * (settings.bars + 2),
                            use_cache=use_cache, recrop=recrop_keep_tail(self.block_size // 2),
                            pad=vocab.pad)
        variations = [
            _moved(decode_generated(self.loaded.tokenizer, vocab, plan, row, c), -shift)
            for row, c in zip(rows, constraints, strict=True)
        ]
        return Generated(variations, plan.end_tick, messages + seed_messages,
                         sum(len(row) for row in rows))

    def infill_notes(self, song: Song, notes: list[Note], key: KeySignature, first_bar: int,
                     last_bar: int, settings, cancel: threading.Event | None = None) -> Generated:
        from composer.ml.melody import decode_generated, make_constraints, plan_infill
        from composer.ml.sampling import generate, one_thread

        shift, window, messages = self._prepare(notes, settings)
        vocab = self.loaded.vocab
        plan = plan_infill(self.loaded.tokenizer, vocab, song, _moved(notes, shift), key,
                           first_bar, last_bar, self.block_size)
        key_pcs = scale_pitch_classes(key) if settings.key_lock else None  # octaves keep classes
        seed, seed_messages = _seed(settings.seed)
        constraints = make_constraints(plan, vocab, settings.variations, window, key_pcs)
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        with self._lock, one_thread():
            rows = generate(self.loaded.model, plan.tokens, constraints, settings.temperature,
                            settings.top_p, seed, max_new_tokens=80 * (last_bar - first_bar + 2),
                            pad=vocab.pad)
        variations = [
            _moved(decode_generated(self.loaded.tokenizer, vocab, plan, row, c), -shift)
            for row, c in zip(rows, constraints, strict=True)
        ]
        return Generated(variations, plan.end_tick, messages + seed_messages,
                         sum(len(row) for row in rows))


class MarkovMelodyGenerator:
    """The PPM baseline behind the same interface (it cannot infill)."""

    def __init__(self, directory: Path) -> None:
        import hashlib
        import json

        from composer.ml.markov import MarkovMelodyModel

        card_path, model_path = directory / "card.json", directory / "model.json.gz"
        if not card_path.exists() or not model_path.exists():
            raise ModelError(f"no Markov model in {directory}")
        self.card = json.loads(card_path.read_text())
        raw = model_path.read_bytes()
        if hashlib.sha256(raw).hexdigest() != self.card.get("weights_sha256"):
            raise ModelError(f"{model_path}: does not match its model card's SHA-256")
        self.model = MarkovMelodyModel.load_bytes(raw)

    def key_of(self, song: Song, notes: list[Note]) -> KeySignature:
        return prompt_key(song, notes)

    def continue_notes(self, song: Song, prompt: list[Note], key: KeySignature, start_tick: int,
                       settings, cancel: threading.Event | None = None) -> Generated:
        from composer.ml.melody import region_end

        end_tick = region_end(song, start_tick, settings.bars)
        key_pcs = scale_pitch_classes(key) if settings.key_lock else None
        low, high = settings.pitch_range or (0, 127)

        def pitch_ok(pitch: int) -> bool:
            return low <= pitch <= high and (key_pcs is None or pitch % 12 in key_pcs)

        seed, messages = _seed(settings.seed)
        variations = []
        for index in range(settings.variations):
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            rng = np.random.default_rng([seed, index])
            variations.append(self.model.generate(
                song, prompt, key, start_tick, end_tick, rng, settings.temperature, pitch_ok,
                first_onset=start_tick))
        return Generated(variations, end_tick, messages)

    def infill_notes(self, *args, **kwargs) -> Generated:
        raise InvalidArgumentError("the Markov baseline cannot infill (it only looks backwards)",
                                   "use --model transformer or --model lstm")
