"""The harmonisation baseline: an HMM over chords with melody-note emissions.

Hidden states are chords named relative to the key signature's major tonic
(so G major in C and E minor in G are the same state "V"), which makes the
model transposition-free without augmenting the data, and lets a minor-key
melody use the same states as its relative major (the mode a melody alone
suggests is an unreliable guess). Transitions depend on where the new beat
falls in the bar (downbeat, middle of the bar, other), which is how the model
learns that chords tend to change on strong beats. Each beat emits the
pitch classes the melody sounds in it, weighted by how long they sound:
``log p(beat | chord) = emission_weight * sum_pc w_pc * log p(pc | chord)``.
A piece's last beat has its own
distribution (melodies end on the tonic far more often than anywhere else).
Decoding is Viterbi; variations are drawn by forward filtering and backward
sampling at a temperature; the live harmoniser filters forward one note at a
time. Everything is counted from labelled beats (with add-k smoothing) and
stored as JSON: no pickle, no torch.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from composer.analysis.chord_labels import LabelledBeat
from composer.core.chords import QUALITY_INTERVALS, TRIAD_CLASS, ChordSymbol
from composer.errors import ModelError

FORMAT = "composer-chord-hmm"
FORMAT_VERSION = 2
POSITIONS = 3  # composer.analysis.beats STRONG, MEDIUM, WEAK


@dataclass(frozen=True)
class HMMConfig:
    """What an HMM is counted from and how its counts are smoothed."""

    style: str = "chorale"
    qualities: tuple[str, ...] = ("maj", "min", "dim", "aug", "7", "maj7", "min7", "hdim7", "dim7")
    min_state_beats: int = 20
    transition_prior: float = 0.1
    emission_prior: float = 0.5
    emission_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.style not in ("chorale", "chords"):
            raise ValueError(f"HMM style {self.style!r} is neither 'chorale' nor 'chords'")
        unknown = [q for q in self.qualities if q not in QUALITY_INTERVALS]
        if unknown:
            raise ValueError(f"HMM qualities {unknown} are not chord qualities")
        if self.min_state_beats < 1:
            raise ValueError(f"min_state_beats {self.min_state_beats} must be at least 1")
        if self.transition_prior <= 0 or self.emission_prior <= 0:
            raise ValueError("HMM smoothing priors must be positive")
        if not 0 < self.emission_weight <= 10:
            raise ValueError(f"emission_weight {self.emission_weight} is outside (0, 10]")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["qualities"] = list(self.qualities)
        return data

    @staticmethod
    def from_dict(data: dict[str, Any]) -> HMMConfig:
        fields = dict(data)
        fields["qualities"] = tuple(fields.get("qualities", ()))
        return HMMConfig(**fields)


State = tuple[int, str]  # (root relative to the key's major tonic, quality)


@dataclass(frozen=True)
class KeyedSequence:
    """Labelled beats of one piece and the pitch class its states are relative to."""

    tonic_pc: int
    beats: Sequence[LabelledBeat]


class ChordHMM:
    """Start, position-dependent transition and emission log-probabilities over chord states."""

    def __init__(self, config: HMMConfig, states: list[State], log_start: np.ndarray,
                 log_trans: np.ndarray, log_emit: np.ndarray, log_end: np.ndarray,
                 card: dict[str, Any] | None = None):
        self.config = config
        self.states = states
        self.log_start = log_start  # (S,)
        self.log_end = log_end  # (S,): the state of a piece's last beat
        self.log_trans = log_trans  # (P, S, S): from row state to column state at position P
        self.log_emit = log_emit  # (S, 12): relative melody pitch class given the state
        self.card = card or {}
        self._index = {s: i for i, s in enumerate(states)}

    # ------------------------------------------------------------ states

    def state_of(self, chord: ChordSymbol | None, tonic_pc: int) -> int | None:
        """The state index of a chord in a key, falling back to its triad; None if unknown."""
        if chord is None:
            return None
        root = (chord.root_pc - tonic_pc) % 12
        for quality in (chord.quality, TRIAD_CLASS[chord.quality]):
            index = self._index.get((root, quality))
            if index is not None:
                return index
        return None

    def chord_of(self, state: int, tonic_pc: int) -> ChordSymbol:
        root, quality = self.states[state]
        return ChordSymbol((root + tonic_pc) % 12, quality)

    # ------------------------------------------------------------ training

    @staticmethod
    def fit(config: HMMConfig, sequences: Sequence[KeyedSequence],
            card: dict[str, Any] | None = None) -> ChordHMM:
        """Count states, transitions and emissions from labelled pieces."""
        def key_of(chord: ChordSymbol, tonic: int) -> State:
            quality = chord.quality
            if quality not in config.qualities:
                quality = TRIAD_CLASS[quality]
            return ((chord.root_pc - tonic) % 12, quality)

        frequency: Counter[State] = Counter()
        for seq in sequences:
            for lb in seq.beats:
                if lb.chord is not None:
                    frequency[key_of(lb.chord, seq.tonic_pc)] += 1
        # Rare sevenths fall back to their triad before the cut, so their beats still count.
        merged: Counter[State] = Counter()
        for (root, quality), n in frequency.items():
            if n < config.min_state_beats and quality != TRIAD_CLASS[quality]:
                merged[(root, TRIAD_CLASS[quality])] += n
            else:
                merged[(root, quality)] += n
        states = sorted(s for s, n in merged.items() if n >= config.min_state_beats)
        if not states:
            raise ModelError("no chord occurs often enough to train the HMM on",
                             "use more training pieces or a lower min_state_beats")
        model = ChordHMM(config, states, np.zeros(len(states)), np.zeros((POSITIONS, 1, 1)),
                         np.zeros((len(states), 12)), np.zeros(len(states)), card)
        size = len(states)
        start = np.full(size, config.transition_prior)
        end = np.full(size, config.transition_prior)
        trans = np.full((POSITIONS, size, size), config.transition_prior)
        emit = np.full((size, 12), config.emission_prior)
        for seq in sequences:
            prev: int | None = None
            first = True
            for lb in seq.beats:
                state = model.state_of(lb.chord, seq.tonic_pc)
                if state is None:
                    prev, first = None, True  # a gap: the next labelled beat starts afresh
                    continue
                for pc, w in lb.melody.items():
                    emit[state, (pc - seq.tonic_pc) % 12] += w
                if first:
                    start[state] += 1
                elif prev is not None:
                    trans[lb.beat.position, prev, state] += 1
                prev, first = state, False
            if prev is not None:
                end[prev] += 1
        model.log_start = np.log(start / start.sum())
        model.log_end = np.log(end / end.sum())
        model.log_trans = np.log(trans / trans.sum(axis=2, keepdims=True))
        model.log_emit = np.log(emit / emit.sum(axis=1, keepdims=True))
        model.card = dict(card or {}, state_beats={f"{r}:{q}": merged[(r, q)] for r, q in states})
        return model

    # ------------------------------------------------------------ inference

    def emission_scores(self, melody: Sequence[dict[int, float]], tonic_pc: int) -> np.ndarray:
        """(T, S) log-likelihood of each beat's melody under each state (0 for silent beats)."""
        weights = np.zeros((len(melody), 12))
        for t, beat in enumerate(melody):
            for pc, w in beat.items():
                weights[t, (pc - tonic_pc) % 12] += w
        return self.config.emission_weight * weights @ self.log_emit.T  # (T, 12) @ (12, S)

    def decode(self, positions: Sequence[int], melody: Sequence[dict[int, float]], tonic_pc: int
               ) -> list[int]:
        """The most likely state for every beat (Viterbi)."""
        emit = self.emission_scores(melody, tonic_pc)
        steps = len(positions)
        if steps == 0:
            return []
        score = self.log_start + emit[0]
        back = np.zeros((steps, len(self.states)), dtype=np.int32)
        for t in range(1, steps):
            cand = score[:, None] + self.log_trans[positions[t]]  # (S_prev, S)
            back[t] = cand.argmax(axis=0)
            score = cand.max(axis=0) + emit[t]
        path = [int((score + self.log_end).argmax())]
        for t in range(steps - 1, 0, -1):
            path.append(int(back[t, path[-1]]))
        return path[::-1]

    def sample(self, positions: Sequence[int], melody: Sequence[dict[int, float]], tonic_pc: int,
               rng: np.random.Generator, temperature: float = 1.0) -> list[int]:
        """A state sequence drawn from the posterior, sharpened or flattened by ``temperature``."""
        if temperature <= 0:
            return self.decode(positions, melody, tonic_pc)
        emit = self.emission_scores(melody, tonic_pc) / temperature
        trans = self.log_trans / temperature
        steps, size = len(positions), len(self.states)
        if steps == 0:
            return []
        alpha = np.zeros((steps, size))
        alpha[0] = self.log_start / temperature + emit[0]
        for t in range(1, steps):
            alpha[t] = _logsumexp(alpha[t - 1][:, None] + trans[positions[t]], axis=0) + emit[t]
        path = [_draw(alpha[-1] + self.log_end / temperature, rng)]
        for t in range(steps - 1, 0, -1):
            path.append(_draw(alpha[t - 1] + trans[positions[t]][:, path[-1]], rng))
        return path[::-1]

    def filter_start(self) -> np.ndarray:
        """Log belief over states before any melody note (the live harmoniser's start)."""
        return self.log_start.copy()

    def filter_step(self, belief: np.ndarray, position: int, weights: dict[int, float],
                    tonic_pc: int, first: bool = False) -> np.ndarray:
        """One forward step: move the belief one beat on and weigh in a beat's melody."""
        emit = self.emission_scores([weights], tonic_pc)[0]
        prior = belief if first else _logsumexp(belief[:, None] + self.log_trans[position], axis=0)
        posterior = prior + emit
        return posterior - _logsumexp(posterior, axis=0)

    # ------------------------------------------------------------ files

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "config": self.config.to_dict(),
            "states": [[r, q] for r, q in self.states],
            "log_start": _rounded(self.log_start),
            "log_end": _rounded(self.log_end),
            "log_trans": _rounded(self.log_trans),
            "log_emit": _rounded(self.log_emit),
            "card": self.card,
        }

    @staticmethod
    def from_dict(data: dict[str, Any]) -> ChordHMM:
        if data.get("format") != FORMAT or data.get("format_version") != FORMAT_VERSION:
            raise ModelError("not a composer chord HMM of this version",
                             "retrain it with scripts/train_harmony_hmm.py")
        try:
            config = HMMConfig.from_dict(data["config"])
            states = [(int(r), str(q)) for r, q in data["states"]]
            model = ChordHMM(config, states, np.array(data["log_start"], dtype=float),
                             np.array(data["log_trans"], dtype=float),
                             np.array(data["log_emit"], dtype=float),
                             np.array(data["log_end"], dtype=float), data.get("card", {}))
        except (KeyError, TypeError, ValueError) as err:
            raise ModelError(f"the chord HMM file is damaged ({err})") from err
        size = len(states)
        if model.log_start.shape != (size,) or model.log_end.shape != (size,) \
                or model.log_trans.shape != (POSITIONS, size, size) \
                or model.log_emit.shape != (size, 12):
            raise ModelError("the chord HMM file is damaged (table shapes disagree)")
        return model

    def save(self, path: str | Path) -> None:
        from composer.io.atomic import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), separators=(",", ":")))

    @staticmethod
    def load(path: str | Path) -> ChordHMM:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as err:
            raise ModelError(f"{path}: the chord HMM is missing",
                             "train it with scripts/train_harmony_hmm.py") from err
        except (OSError, ValueError) as err:
            raise ModelError(f"{path}: the chord HMM cannot be read ({err})") from err
        return ChordHMM.from_dict(data)


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    top = x.max(axis=axis, keepdims=True)
    return (top + np.log(np.exp(x - top).sum(axis=axis, keepdims=True))).squeeze(axis)


def _draw(log_weights: np.ndarray, rng: np.random.Generator) -> int:
    p = np.exp(log_weights - log_weights.max())
    return int(rng.choice(len(p), p=p / p.sum()))


def _rounded(array: np.ndarray) -> Any:
    # Six decimals of a log-probability change likelihoods by under one part in 10^5.
    return np.round(array, 6).tolist()



# ------------------------------------------------------------- training data


def keyed_sequence(song: Any, beats: Sequence[LabelledBeat]) -> KeyedSequence:
    """Labelled beats of a song, relative to its declared key (or the estimated one)."""
    from composer.analysis.keys import signature_tonic
    from composer.core.pitch import estimate_key

    key = song.keys[0] if song.keys else estimate_key([n for t in song.tracks for n in t.notes])
    return KeyedSequence(signature_tonic(key), beats)


def label_agreement(model: ChordHMM, sequences: Sequence[KeyedSequence]) -> dict[str, float]:
    """Viterbi chords against the labels: root+triad and root agreement over labelled beats."""
    from composer.core.chords import same_root, same_triad

    hits = roots = total = 0
    for seq in sequences:
        if not seq.beats:
            continue
        states = model.decode([lb.beat.position for lb in seq.beats],
                              [lb.melody for lb in seq.beats], seq.tonic_pc)
        for lb, state in zip(seq.beats, states, strict=True):
            if lb.chord is None:
                continue
            guess = model.chord_of(state, seq.tonic_pc)
            total += 1
            hits += same_triad(guess, lb.chord)
            roots += same_root(guess, lb.chord)
    return {"chord_accuracy": hits / total if total else 0.0,
            "root_accuracy": roots / total if total else 0.0, "beats": total}
