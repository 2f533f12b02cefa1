"""The non-neural floor: variable-order Markov models of melody (PPM-C, blended).

Like IDyOM's long-term model, two viewpoints are predicted from their own
histories: pitch relative to the key's tonic (so every key shares statistics,
as transposition augmentation does for the networks), and rhythm, as
(position in the bar, duration, bar lines crossed since the last onset). A
note's event probability is the product of the two. Each is an interpolated
PPM model with escape method C: a context of order n mixes its own counts with
the next-shorter context's prediction, down to a uniform order -1.
"""

from __future__ import annotations

import gzip
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from composer.core.song import KeySignature, Note, Song
from composer.core.timing import BarGrid

Symbol = tuple[int, ...] | int


class PPM:
    """Interpolated PPM-C over a finite alphabet of hashable symbols."""

    def __init__(self, max_order: int) -> None:
        self.max_order = max_order
        self.counts: dict[tuple, dict] = defaultdict(lambda: defaultdict(int))
        self.alphabet: dict = {}

    def train(self, sequence: Sequence, start: tuple = ()) -> None:
        history = list(start)
        for symbol in sequence:
            self.alphabet.setdefault(symbol, len(self.alphabet))
            for order in range(min(self.max_order, len(history)) + 1):
                context = tuple(history[len(history) - order:])
                self.counts[context][symbol] += 1
            history.append(symbol)

    def distribution(self, history: Sequence) -> np.ndarray:
        """P(next symbol) over ``self.alphabet`` (indexed by the alphabet's ids)."""
        size = len(self.alphabet)
        probs = np.full(size, 1.0 / (size + 1))  # order -1: uniform, with room for novelty
        longest = min(self.max_order, len(history))
        for order in range(0, longest + 1):
            context = tuple(history[len(history) - order:]) if order else ()
            seen = self.counts.get(context)
            if not seen:
                break  # a longer context can't have been seen either
            total, distinct = sum(seen.values()), len(seen)
            weight = distinct / (total + distinct)
            probs = probs * weight
            for symbol, count in seen.items():
                probs[self.alphabet[symbol]] += count / (total + distinct)
        return probs

    def probability(self, history: Sequence, symbol) -> float:
        index = self.alphabet.get(symbol)
        probs = self.distribution(history)
        if index is None:
            return float((1.0 - probs.sum()) or 1e-9)  # the escape mass left for unseen symbols
        return float(probs[index])

    def to_json(self) -> dict:
        # Contexts may hold start symbols (key mode, meter) that are never predicted:
        # they follow the alphabet in one symbol table.
        symbols = list(self.alphabet)
        ids = {s: i for i, s in enumerate(symbols)}
        for context in self.counts:
            for c in context:
                if c not in ids:
                    ids[c] = len(symbols)
                    symbols.append(c)
        return {
            "max_order": self.max_order,
            "alphabet_size": len(self.alphabet),
            "symbols": [_to_json_symbol(s) for s in symbols],
            "counts": [[[ids[c] for c in ctx], {str(ids[s]): n for s, n in seen.items()}]
                       for ctx, seen in self.counts.items()],
        }

    @staticmethod
    def from_json(data: dict) -> PPM:
        model = PPM(int(data["max_order"]))
        symbols = [_from_json_symbol(s) for s in data["symbols"]]
        model.alphabet = {s: i for i, s in enumerate(symbols[:int(data["alphabet_size"])])}
        for ctx, seen in data["counts"]:
            counts = model.counts[tuple(symbols[c] for c in ctx)]
            for s, n in seen.items():
                counts[symbols[int(s)]] = n
        return model


def _to_json_symbol(symbol):
    return [_to_json_symbol(s) for s in symbol] if isinstance(symbol, tuple) else symbol


def _from_json_symbol(value):
    return tuple(_from_json_symbol(v) for v in value) if isinstance(value, list) else value


def pitch_symbols(notes: Sequence[Note], key: KeySignature) -> list[int]:
    return [n.pitch - key.tonic_pc for n in notes]


def rhythm_symbols(song: Song, notes: Sequence[Note]) -> list[tuple[int, int, int]]:
    grid = BarGrid.of(song)
    symbols = []
    previous_bar = None
    for n in notes:
        bar = grid.bar_at_tick(n.start_tick)
        crossed = 0 if previous_bar is None else bar - previous_bar
        symbols.append((n.start_tick - grid.bar_start_tick(bar), n.duration_ticks, min(crossed, 4)))
        previous_bar = bar
    return symbols


def _meter_context(song: Song, key: KeySignature) -> tuple[tuple, tuple]:
    ts = song.time_signatures[0]
    return (("key", key.mode),), (("meter", ts.numerator, ts.denominator),)


@dataclass
class MarkovMelodyModel:
    """Pitch and rhythm PPM models with the training facts for the model card."""

    pitch: PPM
    rhythm: PPM

    @staticmethod
    def train(pieces: Iterable[tuple[Song, KeySignature]], pitch_order: int = 5,
              rhythm_order: int = 4) -> MarkovMelodyModel:
        model = MarkovMelodyModel(PPM(pitch_order), PPM(rhythm_order))
        for song, key in pieces:
            notes = sorted(song.tracks[0].notes)
            if not notes:
                continue
            pitch_start, rhythm_start = _meter_context(song, key)
            model.pitch.train(pitch_symbols(notes, key), pitch_start)
            model.rhythm.train(rhythm_symbols(song, notes), rhythm_start)
        return model

    def note_bits(self, song: Song, key: KeySignature) -> tuple[float, float, int]:
        """(pitch bits, event bits, notes) of the song's melody."""
        notes = sorted(song.tracks[0].notes)
        pitch_start, rhythm_start = _meter_context(song, key)
        pitches, rhythms = pitch_symbols(notes, key), rhythm_symbols(song, notes)
        pitch_bits = rhythm_bits = 0.0
        for i in range(len(notes)):
            pitch_context = [*pitch_start, *pitches[:i]]
            rhythm_context = [*rhythm_start, *rhythms[:i]]
            pitch_bits -= math.log2(self.pitch.probability(pitch_context, pitches[i]))
            rhythm_bits -= math.log2(self.rhythm.probability(rhythm_context, rhythms[i]))
        return pitch_bits, pitch_bits + rhythm_bits, len(notes)

    def to_bytes(self) -> bytes:
        data = json.dumps({"pitch": self.pitch.to_json(), "rhythm": self.rhythm.to_json()},
                          separators=(",", ":")).encode()
        return gzip.compress(data, mtime=0)

    @staticmethod
    def load_bytes(raw: bytes) -> MarkovMelodyModel:
        data = json.loads(gzip.decompress(raw))
        return MarkovMelodyModel(PPM.from_json(data["pitch"]), PPM.from_json(data["rhythm"]))

    def generate(self, song: Song, notes: Sequence[Note], key: KeySignature, start_tick: int,
                 end_tick: int, rng: np.random.Generator, temperature: float = 1.0,
                 pitch_ok=None, first_onset: int | None = None) -> list[Note]:
        """Continue ``notes`` from ``start_tick`` to ``end_tick``, monophonic, on the bar grid."""
        grid = BarGrid.of(song)
        notes = sorted(notes)
        pitch_start, rhythm_start = _meter_context(song, key)
        pitch_history = [*pitch_start, *pitch_symbols(notes, key)]
        rhythm_history = [*rhythm_start, *rhythm_symbols(song, notes)]
        previous_bar = grid.bar_at_tick(notes[-1].start_tick if notes else start_tick)
        pitch_symbols_list = list(self.pitch.alphabet)
        rhythm_symbols_list = list(self.rhythm.alphabet)
        busy_until = start_tick
        out: list[Note] = []
        for _ in range(512):
            probs = self.rhythm.distribution(rhythm_history)
            onsets = np.array([
                grid.bar_start_tick(previous_bar + crossed) + position
                for position, _, crossed in rhythm_symbols_list
            ])
            ok = (onsets >= busy_until) & (onsets < end_tick)
            if first_onset is not None and not out:
                ok &= onsets == first_onset
            if not ok.any():
                break
            choice = _sample(probs, ok, temperature, rng)
            position, duration, crossed = rhythm_symbols_list[choice]
            onset = int(onsets[choice])
            pitch_probs = self.pitch.distribution(pitch_history)
            allowed = np.array([
                pitch_ok(s + key.tonic_pc) if pitch_ok else 0 <= s + key.tonic_pc <= 127
                for s in pitch_symbols_list])
            if not allowed.any():
                break
            p_choice = _sample(pitch_probs, allowed, temperature, rng)
            pitch = pitch_symbols_list[p_choice] + key.tonic_pc
            end = min(onset + duration, end_tick)
            out.append(Note(pitch=pitch, start_tick=onset, duration_ticks=end - onset))
            pitch_history.append(pitch_symbols_list[p_choice])
            rhythm_history.append((position, duration, crossed))
            previous_bar += crossed
            busy_until = onset + duration
        return out


def _sample(probs: np.ndarray, ok: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    p = np.where(ok, probs, 0.0)
    if temperature > 0 and temperature != 1.0:
        p = np.where(ok, np.power(np.maximum(p, 1e-12), 1.0 / temperature), 0.0)
    if temperature <= 0:
        return int(np.argmax(p))
    return int(rng.choice(len(p), p=p / p.sum()))
