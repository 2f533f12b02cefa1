"""Token shards and the training windows drawn from them.

A shard is three ``.npy`` files per split (memory-mappable): every piece's
tokens end to end (``tokens``), where each piece starts (``offsets``), and
per-piece facts (``meta``: key fifths, key mode, lowest and highest pitch).
Pieces are stored without the two conditioning tokens (BOS, key); windows add
them, so a window cut from the middle of a long tune still knows its key.

Training windows: transposed at random (pitch and key tokens move together,
within the vocabulary's pitch range), started at a bar line, and with
probability ``fim_rate`` rearranged for fill-in-the-middle:
``BOS key prefix Hole suffix FillStart middle FillEnd``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from composer.core.song import KeySignature
from composer.io.tokens import BAR, KEYSIG, PITCH, Vocabulary

IGNORE = -100  # target value the loss skips (padding, conditioning)


@dataclass
class Shard:
    """One split of a tokenized corpus, loaded or memory-mapped."""

    tokens: np.ndarray  # (N,) int16
    offsets: np.ndarray  # (P + 1,) int64
    meta: np.ndarray  # (P, 4) int16: fifths, minor, lowest pitch, highest pitch
    ids: list[str]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def piece(self, index: int) -> np.ndarray:
        return self.tokens[self.offsets[index]:self.offsets[index + 1]]

    def key(self, index: int) -> KeySignature:
        fifths, minor = int(self.meta[index, 0]), int(self.meta[index, 1])
        return KeySignature(0, fifths, "minor" if minor else "major")

    def save(self, directory: Path, split: str) -> None:
        """Write the split's files, each atomically (a kill mid-save leaves the old ones)."""
        from composer.io.atomic import atomic_open, atomic_write_text

        directory.mkdir(parents=True, exist_ok=True)
        for name, array in (("tokens", self.tokens), ("offsets", self.offsets),
                            ("meta", self.meta)):
            with atomic_open(directory / f"{split}_{name}.npy") as handle:
                np.save(handle, array)
        atomic_write_text(directory / f"{split}_ids.json", json.dumps(self.ids))

    @staticmethod
    def load(directory: Path, split: str, mmap: bool = True) -> Shard:
        mode = "r" if mmap else None
        return Shard(
            tokens=np.load(directory / f"{split}_tokens.npy", mmap_mode=mode),
            offsets=np.load(directory / f"{split}_offsets.npy"),
            meta=np.load(directory / f"{split}_meta.npy"),
            ids=json.loads((directory / f"{split}_ids.json").read_text()),
        )

    @staticmethod
    def from_sequences(sequences: Sequence[Sequence[int]], keys: Sequence[KeySignature],
                       pitch_spans: Sequence[tuple[int, int]], ids: Sequence[str]) -> Shard:
        lengths = [len(s) for s in sequences]
        offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        tokens = np.fromiter((t for s in sequences for t in s), dtype=np.int16, count=sum(lengths))
        meta = np.array(
            [[k.fifths, 1 if k.mode == "minor" else 0, lo, hi]
             for k, (lo, hi) in zip(keys, pitch_spans, strict=True)],
            dtype=np.int16,
        ).reshape(-1, 4)
        return Shard(tokens, offsets, meta, list(ids))


class Transposer:
    """Lookup tables that move pitch and key tokens by k semitones."""

    def __init__(self, vocab: Vocabulary) -> None:
        self.vocab = vocab
        size = len(vocab)
        self.low, self.high = vocab.pitch_range
        self.tables: dict[int, np.ndarray] = {}
        for k in range(-11, 12):
            table = np.arange(size, dtype=np.int64)
            for index, kind in enumerate(vocab.kinds):
                if kind == PITCH:
                    target = vocab.pitch_token(vocab.values[index] + k)
                    table[index] = target if target is not None else index
                elif kind == KEYSIG:
                    fifths, mode = vocab.values[index]
                    moved = (fifths + 7 * k + 6) % 12 - 6
                    table[index] = vocab.key_token(KeySignature(0, moved, mode))
            self.tables[k] = table

    def allowed(self, lowest: int, highest: int, span: tuple[int, int]) -> list[int]:
        return [k for k in range(span[0], span[1] + 1)
                if lowest + k >= self.low and highest + k <= self.high]

    def apply(self, ids: np.ndarray, k: int) -> np.ndarray:
        return self.tables[k][ids]


class MelodyWindows:
    """Draws training batches (and fixed validation batches) from a shard."""

    def __init__(self, shard: Shard, vocab: Vocabulary, block_size: int, fim_rate: float = 0.0,
                 transpose_range: tuple[int, int] = (0, 0)) -> None:
        if len(shard) == 0:
            raise ValueError("the token shard holds no pieces")
        self.shard = shard
        self.vocab = vocab
        self.block_size = block_size
        self.fim_rate = fim_rate
        self.transpose_range = transpose_range
        self.transposer = Transposer(vocab)
        lengths = np.diff(shard.offsets).astype(np.float64)
        self.weights = lengths / lengths.sum()
        self.hole, self.fill_start, self.fill_end = (
            vocab.special("Hole"), vocab.special("FillStart"), vocab.special("FillEnd"))

    # ---------------------------------------------------------------- pieces
    def _bars(self, tokens: np.ndarray) -> np.ndarray:
        return np.flatnonzero(np.asarray(self.vocab.kinds)[tokens] == BAR) if len(tokens) else \
            np.zeros(0, dtype=np.int64)

    def _conditioning(self, index: int) -> list[int]:
        return [self.vocab.bos, self.vocab.key_token(self.shard.key(index))]

    def plain_sequence(self, index: int, rng: np.random.Generator | None) -> list[int]:
        """BOS key + a window of the piece starting at a bar (random when rng is given)."""
        tokens = np.asarray(self.shard.piece(index), dtype=np.int64)
        room = self.block_size + 1 - 2  # x and y come from block_size + 1 tokens
        if len(tokens) + 1 <= room:
            return self._conditioning(index) + tokens.tolist() + [self.vocab.eos]
        bars = self._bars(tokens)
        starts = [b for b in bars if b == 0 or len(tokens) - b >= room // 2] or [0]
        start = int(rng.choice(starts)) if rng is not None else 0
        window = tokens[start:start + room].tolist()
        if start + room >= len(tokens) + 1:
            window.append(self.vocab.eos)
        return self._conditioning(index) + window

    def fim_sequence(self, index: int, rng: np.random.Generator) -> list[int] | None:
        """BOS key prefix Hole suffix FillStart middle FillEnd, or None if too short."""
        tokens = np.asarray(self.shard.piece(index), dtype=np.int64)
        bars = self._bars(tokens).tolist()
        if len(bars) < 3:
            return None
        bounds = bars + [len(tokens)]
        first = int(rng.integers(1, len(bars) - 1))  # at least one bar on each side
        count = int(rng.integers(1, min(4, len(bars) - first - 1) + 1))
        middle = tokens[bounds[first]:bounds[first + count]].tolist()
        suffix_bars = int(rng.integers(1, 5))
        suffix = tokens[bounds[first + count]:bounds[min(first + count + suffix_bars, len(bars))]]
        suffix = suffix.tolist()
        room = self.block_size + 1 - 2 - 3 - len(middle) - len(suffix)
        if room < 8:
            return None
        prefix_start = next((b for b in bounds[:first] if bounds[first] - b <= room), bounds[first])
        prefix = tokens[prefix_start:bounds[first]].tolist()
        return (self._conditioning(index) + prefix + [self.hole] + suffix + [self.fill_start]
                + middle + [self.fill_end])

    # --------------------------------------------------------------- batches
    def _transpose(self, sequence: list[int], index: int, rng: np.random.Generator) -> np.ndarray:
        lowest, highest = int(self.shard.meta[index, 2]), int(self.shard.meta[index, 3])
        options = self.transposer.allowed(lowest, highest, self.transpose_range) or [0]
        k = int(rng.choice(options))
        return self.transposer.apply(np.asarray(sequence, dtype=np.int64), k)

    def _sequence(self, rng: np.random.Generator) -> np.ndarray:
        index = int(rng.choice(len(self.shard), p=self.weights))
        sequence = None
        if self.fim_rate and rng.random() < self.fim_rate:
            sequence = self.fim_sequence(index, rng)
        if sequence is None:
            sequence = self.plain_sequence(index, rng)
        return self._transpose(sequence, index, rng)

    def sample_batch(self, batch_size: int, rng: np.random.Generator):
        """Rows packed end to end with whole sequences (each opening with BOS and key),
        so no compute goes to padding; the last sequence of a row is cut."""
        import torch

        rows = []
        for _ in range(batch_size):
            parts, length = [], 0
            while length < self.block_size + 1:
                part = self._sequence(rng)
                parts.append(part)
                length += len(part)
            rows.append(np.concatenate(parts)[:self.block_size + 1])
        return collate(rows, self.vocab.pad, self.block_size, torch, self.vocab.bos)

    def validation_batches(self, batch_size: int, limit: int | None = None) -> Iterator:
        """Fixed batches: the opening window of every piece, untransposed."""
        import torch

        count = len(self.shard) if limit is None else min(limit * batch_size, len(self.shard))
        for start in range(0, count, batch_size):
            rows = [np.asarray(self.plain_sequence(i, None), dtype=np.int64)
                    for i in range(start, min(start + batch_size, count))]
            yield collate(rows, self.vocab.pad, self.block_size, torch, self.vocab.bos)


def collate(rows: list[np.ndarray], pad: int, block_size: int, torch, bos: int):
    """(x, y) tensors (B, T): inputs and next-token targets, padding ignored.

    The target after each BOS (the key, given as conditioning) is ignored too:
    the models are asked to continue a key, never to guess it.
    """
    length = min(max(len(r) for r in rows) - 1, block_size)
    x = np.full((len(rows), length), pad, dtype=np.int64)
    y = np.full((len(rows), length), IGNORE, dtype=np.int64)
    for i, row in enumerate(rows):
        row = row[:length + 1]
        x[i, :len(row) - 1] = row[:-1]
        y[i, :len(row) - 1] = row[1:]
    y[x == bos] = IGNORE
    return torch.from_numpy(x), torch.from_numpy(y)
