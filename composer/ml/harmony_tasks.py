"""The harmonisation tasks: corpora to token shards, and the training windows.

``chorale``: Bach's soprano given, alto/tenor/bass to write (train split of the
music21 chorales). ``chords``: a melody given, a chord symbol per beat to write
(POP909's train split with its own chord annotations, plus the chorale train
split labelled by our pitch-class-set matcher). Formats are described in
:mod:`composer.ml.harmony_format`.

A shard piece holds ``[Style] <melody REMI> Harm <frames> Live <live body>``;
:class:`HarmonyWindows` cuts training sequences from it: a *full* window (a
random run of whole bars: the melody of those bars, then their frames) or,
with probability ``LIVE_RATE``, a *live* window (a run of melody notes with
their harmony), transposed at random by -6..+5 semitones (every key once),
packed end to end into rows. Only harmony tokens are targets: the melody is
always given, so learning to predict it would spend capacity on nothing the
harmoniser is asked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from composer.core.song import KeySignature, Song, Track
from composer.io.tokens import BAR, PITCH, POSITION, Vocabulary
from composer.ml.data import IGNORE, Shard, Transposer
from composer.ml.harmony_format import (
    CHORALE_PARAMS,
    CHORDS_PARAMS,
    SOPRANO,
    bar_token_starts,
    chorale_frame_items,
    chorale_live_tokens,
    chord_frame_items,
    chord_live_tokens,
    chord_tokens,
    frame_grid,
    line_states,
    state_token,
)
from composer.ml.tasks import TaskSpec, register_task

log = logging.getLogger(__name__)

LIVE_RATE = 0.25
"""Share of training windows in the live format."""
WHOLE_START_RATE = 0.3
"""Share of full windows that start at the piece's first bar (openings and pickups)."""
CHORD_NOISE_RATE = 0.2
"""Chords task, training only: share of the chords in a full window that the model is
shown with a random root and quality, while what it must predict stays the true chord.
About two beats in three repeat the previous chord, so a model can lower its loss
by copying the last chord; with a noisy history it has to read the melody."""
CHORD_HOLD_RATE = 0.45
"""Chords task, training only: share of the chord changes in a full window that the model
is shown as missed: the chord before the change is shown again until the next change,
while the targets stay true. This is the error a model makes when it writes its own
history (it keeps a chord the melody has left), so it learns to leave such a chord."""


# ------------------------------------------------------------------- encoding


def song_key(song: Song) -> KeySignature:
    from composer.core.pitch import estimate_key

    if song.keys:
        return song.keys[0]
    return estimate_key([n for t in song.tracks for n in t.notes])


def encode_chorale(tokenizer, vocab: Vocabulary, song: Song) -> list[int]:
    """The shard body of a four-part chorale (tracks soprano, alto, tenor, bass)."""
    from composer.io.tokens import encode_melody

    voices = [sorted(t.notes) for t in song.tracks[:4]]
    grid = frame_grid(song.time_signatures, voices[SOPRANO])
    states = [line_states(v, grid.ticks) for v in voices]
    items, _ = chorale_frame_items(vocab, grid, states[SOPRANO])
    frames = [it if isinstance(it, int) else state_token(vocab, states[it.voice][it.frame])
              for it in items]
    prefix = encode_melody(tokenizer, song.with_tracks([Track("Soprano", tuple(voices[0]))]))
    return (prefix + [vocab.special("Harm")] + frames + [vocab.special("Live")]
            + chorale_live_tokens(vocab, states))


def encode_lead_sheet(tokenizer, vocab: Vocabulary, song: Song, beats, chords, style: str
                      ) -> list[int]:
    """The shard body of a melody (track 0) with a chord (or None) per beat."""
    from composer.io.tokens import encode_melody
    from composer.ml.harmony_format import bar_infos, check_meters

    melody = sorted(song.tracks[0].notes)
    bars = bar_infos(song.time_signatures, max(n.end_tick for n in melody))
    check_meters(vocab, bars)
    items, _ = chord_frame_items(vocab, bars, beats, melody)
    frames: list[int] = []
    for it in items:
        frames += [it] if isinstance(it, int) else chord_tokens(vocab, chords[it.frame])
    prefix = encode_melody(tokenizer, song.with_tracks([Track("Melody", tuple(melody))]))
    return ([vocab.special(f"Style{style}")] + prefix + [vocab.special("Harm")] + frames
            + [vocab.special("Live")] + chord_live_tokens(vocab, melody, beats, chords))


def _pitch_span(song: Song, tracks: int) -> tuple[int, int]:
    pitches = [n.pitch for t in song.tracks[:tracks] for n in t.notes]
    return min(pitches), max(pitches)


def _chorale_pieces(corpus: str, split: str) -> list[Any]:
    from composer.errors import InvalidArgumentError
    from corpora.store import load_pieces

    if corpus != "music21":
        raise InvalidArgumentError(f"the harmony tasks train on the music21 corpus, not {corpus!r}",
                                   "leave --corpus at its default")
    return load_pieces(corpus, "chorales", split)


def build_chorale_shards(tokenizer, out_dir: Path, corpus: str = "music21",
                         splits: Sequence[str] = ("train", "valid", "test"),
                         progress: Callable[[str, int], None] | None = None
                         ) -> dict[str, dict[str, int]]:
    from composer.errors import ComposerError

    vocab = Vocabulary.of(tokenizer)
    report: dict[str, dict[str, int]] = {}
    for split in splits:
        sequences, keys, spans, ids = [], [], [], []
        skipped = 0
        for piece in _chorale_pieces(corpus, split):
            if len(piece.song.tracks) < 4 or not all(t.notes for t in piece.song.tracks[:4]):
                skipped += 1
                continue
            try:
                sequences.append(encode_chorale(tokenizer, vocab, piece.song))
            except ComposerError as err:
                log.info("skipped %s: %s", piece.id, err)
                skipped += 1
                continue
            keys.append(song_key(piece.song))
            spans.append(_pitch_span(piece.song, 4))
            ids.append(f"chorale:{piece.id}")
        Shard.from_sequences(sequences, keys, spans, ids).save(out_dir, split)
        report[split] = {"pieces": len(sequences), "skipped": skipped,
                         "tokens": sum(len(s) for s in sequences)}
        if progress:
            progress(split, len(sequences))
    return report


def build_chord_shards(tokenizer, out_dir: Path, corpus: str = "music21",
                       splits: Sequence[str] = ("train", "valid", "test"),
                       progress: Callable[[str, int], None] | None = None
                       ) -> dict[str, dict[str, int]]:
    """POP909 songs with their own chords, plus chorales with matcher labels.

    Keys are estimated from the melody, as the harmoniser must do for a user's
    melody (and as the eval does: it removes POP909's key signatures).
    """
    from composer.analysis.chord_labels import label_chorale, label_lead_sheet
    from composer.core.pitch import estimate_key
    from composer.errors import ComposerError
    from corpora import pop909

    vocab = Vocabulary.of(tokenizer)
    report: dict[str, dict[str, int]] = {}
    for split in splits:
        sequences, keys, spans, ids = [], [], [], []
        skipped = {"pop909": 0, "chorales": 0}
        sources = [("pop909", p) for p in pop909.load_split(split)]
        sources += [("chorales", p) for p in _chorale_pieces(corpus, split)]
        for source, piece in sources:
            song = piece.song
            if not song.tracks or not song.tracks[0].notes:
                skipped[source] += 1
                continue
            melody_song = song.with_tracks([song.tracks[0]])
            labels = label_lead_sheet(song) if source == "pop909" else label_chorale(song)
            try:
                body = encode_lead_sheet(tokenizer, vocab, melody_song, [lb.beat for lb in labels],
                                         [lb.chord for lb in labels],
                                         "Pop" if source == "pop909" else "Chorale")
            except ComposerError as err:
                log.info("skipped %s: %s", piece.id, err)
                skipped[source] += 1
                continue
            sequences.append(body)
            keys.append(estimate_key(list(song.tracks[0].notes)))
            spans.append(_pitch_span(song, 1))
            ids.append(f"{source}:{piece.id}")
        Shard.from_sequences(sequences, keys, spans, ids).save(out_dir, split)
        pieces = {s: sum(1 for i in ids if i.startswith(s + ":")) for s in skipped}
        report[split] = {"pieces": len(sequences), "pop909": pieces["pop909"],
                         "chorales": pieces["chorales"], "skipped": sum(skipped.values()),
                         "tokens": sum(len(s) for s in sequences)}
        if progress:
            progress(split, len(sequences))
    return report


# -------------------------------------------------------------------- windows


@dataclass
class _Piece:
    key: int
    cond: list[int]
    prefix: np.ndarray
    prefix_bars: list[int]
    frames: np.ndarray
    frame_targets: np.ndarray
    frame_bars: list[int]
    first_bar: int
    live: np.ndarray
    live_targets: np.ndarray
    live_groups: list[int]
    span: tuple[int, int]


class HarmonyWindows:
    """Training batches (and fixed validation batches) for a harmony task's shard."""

    def __init__(self, shard: Shard, vocab: Vocabulary, block_size: int, task: str,
                 live_rate: float = 0.0, transpose_range: tuple[int, int] = (0, 0),
                 chord_noise: float = 0.0, chord_hold: float = 0.0) -> None:
        if len(shard) == 0:
            raise ValueError("the token shard holds no pieces")
        self.vocab = vocab
        self.block_size = block_size
        self.task = task
        self.live_rate = live_rate
        self.transpose_range = transpose_range
        self.chord_noise = chord_noise
        self.chord_hold = chord_hold
        self._roots, self._qualities = (
            np.array([i for name, i in vocab.ids.items() if name.startswith(kind)],
                     dtype=np.int64)
            for kind in ("ChordRoot_", "ChordQual_"))  # none in the chorale vocabulary
        self.tables = _transpose_tables(vocab)
        self.low, self.high = vocab.pitch_range
        self.pieces = [self._parse(shard, i) for i in range(len(shard))]
        lengths = np.array([len(p.frames) + len(p.prefix) for p in self.pieces], dtype=np.float64)
        self.weights = lengths / lengths.sum()

    # ------------------------------------------------------------- parsing
    def _parse(self, shard: Shard, index: int) -> _Piece:
        vocab = self.vocab
        body = np.asarray(shard.piece(index), dtype=np.int64)
        kinds = np.asarray(vocab.kinds)[body]
        harm = int(np.flatnonzero(body == vocab.special("Harm"))[0])
        live_at = int(np.flatnonzero(body == vocab.special("Live"))[0])
        first_bar = int(np.flatnonzero(kinds == BAR)[0])
        cond = body[:first_bar].tolist()
        prefix = body[first_bar:harm]
        frames = body[harm + 1:live_at]
        live = body[live_at + 1:]
        frame_kinds, live_kinds = kinds[harm + 1:live_at], kinds[live_at + 1:]
        if self.task == "chorale":
            frame_targets = np.zeros(len(frames), dtype=bool)
            for p in np.flatnonzero(frame_kinds == POSITION):
                frame_targets[p + 2:p + 5] = True  # Position S [A T B]
            live_targets = (np.arange(len(live)) % 4) != 0  # [S] A T B
            live_groups = list(range(0, len(live), 4))
        else:
            chord = self._chord_mask()
            frame_targets = chord[frames]
            live_targets = chord[live]
            live_groups = np.flatnonzero(live_kinds == PITCH).tolist()
        frame_bars = bar_token_starts(vocab, frames.tolist())
        positions = np.flatnonzero(frame_kinds == POSITION)
        first = int(np.searchsorted(frame_bars, positions[0], side="right") - 1) \
            if len(positions) else 0
        return _Piece(
            key=vocab.key_token(shard.key(index)), cond=cond, prefix=prefix,
            prefix_bars=bar_token_starts(vocab, prefix.tolist()), frames=frames,
            frame_targets=frame_targets, frame_bars=frame_bars, first_bar=max(first, 0),
            live=live, live_targets=live_targets, live_groups=live_groups,
            span=(int(shard.meta[index, 2]), int(shard.meta[index, 3])))

    def _chord_mask(self) -> np.ndarray:
        mask = np.zeros(len(self.vocab), dtype=bool)
        for name, index in self.vocab.ids.items():
            mask[index] = name.startswith("Chord")
        return mask

    # ------------------------------------------------------------ sequences
    def _head(self, piece: _Piece, mode: str) -> list[int]:
        return [self.vocab.bos, piece.key, *piece.cond, self.vocab.special(mode)]

    def full_window(self, piece: _Piece, start_bar: int) -> tuple[np.ndarray, np.ndarray]:
        """BOS key [style] Full prefix Harm frames (EOS) for bars start_bar.. as far as fit."""
        head = self._head(piece, "Full")
        bars = len(piece.frame_bars)
        room = self.block_size + 1 - len(head) - 1

        def span(a: int, e: int) -> tuple[int, int, int, int]:
            pa, pe = _at(piece.prefix_bars, a, len(piece.prefix)), \
                _at(piece.prefix_bars, e, len(piece.prefix))
            fa, fe = _at(piece.frame_bars, a, len(piece.frames)), \
                _at(piece.frame_bars, e, len(piece.frames))
            return pa, pe, fa, fe

        end = start_bar + 1
        while end < bars:
            pa, pe, fa, fe = span(start_bar, end + 1)
            if (pe - pa) + (fe - fa) + (1 if end + 1 >= bars else 0) > room:
                break
            end += 1
        pa, pe, fa, fe = span(start_bar, end)
        tail = [self.vocab.eos] if end >= bars else []
        tokens = np.concatenate([head, piece.prefix[pa:pe], [self.vocab.special("Harm")],
                                 piece.frames[fa:fe], tail]).astype(np.int64)
        targets = np.concatenate([np.zeros(len(head) + pe - pa + 1, dtype=bool),
                                  piece.frame_targets[fa:fe], np.zeros(len(tail), dtype=bool)])
        return tokens[:self.block_size + 1], targets[:self.block_size + 1]

    def live_window(self, piece: _Piece, rng: np.random.Generator
                    ) -> tuple[np.ndarray, np.ndarray]:
        head = self._head(piece, "Live")
        room = self.block_size + 1 - len(head)
        groups = piece.live_groups
        starts = [g for g in groups if len(piece.live) - g >= room // 2] or groups[:1] or [0]
        start = int(rng.choice(starts))
        body = piece.live[start:start + room]
        targets = piece.live_targets[start:start + room]
        return (np.concatenate([head, body]).astype(np.int64),
                np.concatenate([np.zeros(len(head), dtype=bool), targets]))

    def _sequence(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(tokens, targets, what the model is shown: the tokens, or a noisy copy)."""
        index = int(rng.choice(len(self.pieces), p=self.weights))
        piece = self.pieces[index]
        if self.live_rate and len(piece.live) and rng.random() < self.live_rate:
            tokens, targets = self.live_window(piece, rng)
            tokens = self._transpose(tokens, piece, rng)
            return tokens, targets, tokens
        bars = len(piece.frame_bars)
        start = 0 if rng.random() < WHOLE_START_RATE else \
            int(rng.integers(piece.first_bar, max(piece.first_bar + 1, bars)))
        tokens, targets = self.full_window(piece, start)
        tokens = self._transpose(tokens, piece, rng)
        if not self.chord_noise and not self.chord_hold:
            return tokens, targets, tokens
        return (tokens, *self._noisy_chords(tokens, targets, rng))

    def _noisy_chords(self, tokens: np.ndarray, targets: np.ndarray, rng: np.random.Generator
                      ) -> tuple[np.ndarray, np.ndarray]:
        """Targets and shown tokens with wrong chords in the history the model is shown:
        ``chord_hold`` of the chord changes missed (the chord before shown on to the next
        change) and ``chord_noise`` of the chords given a random root and quality. A wrong
        chord's root is still learnt (from the history before it); its quality and bass
        are not (they would follow a wrong root)."""
        roots = np.flatnonzero(np.isin(tokens, self._roots))
        roots = roots[roots + 2 < len(tokens)]
        chords = tokens[roots[:, None] + np.arange(3)]  # (chords, root/quality/bass)
        changes = np.ones(len(roots), dtype=bool)
        changes[1:] = (chords[1:] != chords[:-1]).any(axis=1)
        missed = changes & (rng.random(len(roots)) < self.chord_hold)
        missed[:1] = False  # nothing before the first chord to hold (if there is one)
        shown, targets = tokens.copy(), targets.copy()
        held = np.zeros(len(roots), dtype=bool)
        for i in range(1, len(roots)):
            held[i] = missed[i] or (held[i - 1] and not changes[i])
            if held[i]:  # what was shown the chord before (itself held in a chain of misses)
                shown[roots[i]:roots[i] + 3] = shown[roots[i - 1]:roots[i - 1] + 3]
        noisy = ~held & (rng.random(len(roots)) < self.chord_noise)
        shown[roots[noisy]] = rng.choice(self._roots, int(noisy.sum()))
        shown[roots[noisy] + 1] = rng.choice(self._qualities, int(noisy.sum()))
        wrong = roots[held | noisy]
        targets[wrong + 1] = targets[wrong + 2] = False
        return targets, shown

    def _transpose(self, tokens: np.ndarray, piece: _Piece, rng: np.random.Generator
                   ) -> np.ndarray:
        low, high = piece.span
        options = [k for k in range(self.transpose_range[0], self.transpose_range[1] + 1)
                   if low + k >= self.low and high + k <= self.high] or [0]
        return self.tables[int(rng.choice(options))][tokens]

    # -------------------------------------------------------------- batches
    def sample_batch(self, batch_size: int, rng: np.random.Generator):
        """Rows packed end to end with whole windows; the last one of a row is cut."""
        rows = []
        for _ in range(batch_size):
            parts: list[list[np.ndarray]] = [[], [], []]  # tokens, targets, shown
            length = 0
            while length < self.block_size + 1:
                for part, array in zip(parts, self._sequence(rng), strict=True):
                    part.append(array)
                length += len(parts[0][-1])
            tokens, targets, shown = (np.concatenate(p)[:self.block_size + 1] for p in parts)
            rows.append((tokens, targets, shown))
        return collate_targets(rows, self.vocab.pad, self.block_size)

    def validation_batches(self, batch_size: int, limit: int | None = None) -> Iterator:
        """Fixed batches: every piece's opening full window, untransposed."""
        count = len(self.pieces) if limit is None else min(limit * batch_size, len(self.pieces))
        for start in range(0, count, batch_size):
            rows = [(*window, window[0]) for window in
                    (self.full_window(self.pieces[i], 0)
                     for i in range(start, min(start + batch_size, count)))]
            yield collate_targets(rows, self.vocab.pad, self.block_size)


def _at(starts: Sequence[int], bar: int, length: int) -> int:
    return starts[bar] if bar < len(starts) else length


def collate_targets(rows: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], pad: int,
                    block_size: int):
    """(x, y) tensors (B, T) from rows of (tokens, targets, shown): x is what the model is
    shown, y the next token where it is a target, else IGNORE."""
    import torch

    length = min(max(len(tokens) for tokens, _, _ in rows) - 1, block_size)
    x = np.full((len(rows), length), pad, dtype=np.int64)
    y = np.full((len(rows), length), IGNORE, dtype=np.int64)
    for i, (tokens, targets, shown) in enumerate(rows):
        tokens, targets = tokens[:length + 1], targets[:length + 1]
        n = len(tokens) - 1
        x[i, :n] = shown[:n]
        y[i, :n] = np.where(targets[1:], tokens[1:], IGNORE)
    return torch.from_numpy(x), torch.from_numpy(y)


def _transpose_tables(vocab: Vocabulary) -> dict[int, np.ndarray]:
    """The shared pitch/key transposition tables, with chord roots moved too."""
    tables = {k: table.copy() for k, table in Transposer(vocab).tables.items()}
    roots = {r: vocab.ids.get(f"ChordRoot_{r}") for r in range(12)}
    if all(v is not None for v in roots.values()):
        for k, table in tables.items():
            for r, index in roots.items():
                table[index] = roots[(r + k) % 12]
    return tables


# ---------------------------------------------------------------------- tasks


def _dataset(task: str):
    def make(shard, vocab, block_size, train_config, training: bool) -> HarmonyWindows:
        if training:
            chords = task == "chords"
            return HarmonyWindows(shard, vocab, block_size, task, LIVE_RATE,
                                  train_config.transpose_range,
                                  chord_noise=CHORD_NOISE_RATE if chords else 0.0,
                                  chord_hold=CHORD_HOLD_RATE if chords else 0.0)
        return HarmonyWindows(shard, vocab, block_size, task)
    return make


_FORMAT_NOTE = (
    "miditok REMI (Bar, TimeSig, Position, Pitch, Duration; 4 positions per beat) with special "
    "tokens for the harmony. Two formats, one model trained on a 3:1 mix: 'Full' = BOS Key Full "
    "<the whole melody in plain REMI> Harm <harmony frames> EOS, so the model reads the whole "
    "melody (phrase ends, cadences) before it writes any harmony, and each frame repeats the "
    "melody's state right before the harmony written there (no searching the prefix for where "
    "it is); 'Live' = BOS Key Live <per melody note: its pitch, then its harmony>, with no time "
    "at all, because a played note arrives with a pitch and nothing else - this is the "
    "one-note-at-a-time fast path, run with the Transformer's KV cache. Windows longer than the "
    "context are whole bars; long melodies are harmonised in overlapping chunks of bars.")


def _chorale() -> TaskSpec:
    return TaskSpec(
        name="chorale",
        description="four-part chorale harmonisation: alto, tenor and bass under a given soprano",
        tokenizer_params=CHORALE_PARAMS,
        build_shards=build_chorale_shards,
        make_dataset=_dataset("chorale"),
        model_defaults={
            "transformer": {"n_layer": 4, "n_head": 4, "n_embd": 256, "block_size": 768,
                            "dropout": 0.1},
            "lstm": {"n_layer": 2, "n_embd": 256, "lstm_hidden": 512, "block_size": 768,
                     "dropout": 0.1},
        },
        card_notes={
            "tokenization": _FORMAT_NOTE + " Chorale frames: one per eighth note (plus the "
            "soprano's own onsets and rests), 'Position S A T B', each voice 'Pitch_p' (a note "
            "starts), 'Hold' (what sounded goes on) or 'Rest'. Durations are implicit, so voices "
            "cannot overlap; alto/tenor/bass notes shorter than the eighth-note grid (about 4% "
            "of Bach's) are not represented.",
            "targets": "only alto/tenor/bass tokens are trained on (the soprano is always given)",
            "data": "music21's Bach chorales, train split of corpora/heldout.json (chorales "
                    "grouped by soprano tune), every key by transposition (-6..+5 semitones)",
        },
    )


def _chords() -> TaskSpec:
    from corpora.pop909 import CREDIT

    return TaskSpec(
        name="chords",
        description="chord symbols (root, quality, bass) per beat for a melody",
        tokenizer_params=CHORDS_PARAMS,
        build_shards=build_chord_shards,
        make_dataset=_dataset("chords"),
        model_defaults={
            "transformer": {"n_layer": 4, "n_head": 4, "n_embd": 256, "block_size": 640,
                            "dropout": 0.1},
            "lstm": {"n_layer": 2, "n_embd": 256, "lstm_hidden": 512, "block_size": 640,
                     "dropout": 0.1},
        },
        card_notes={
            "tokenization": _FORMAT_NOTE + " Chord frames: one per beat of the harmonic beat "
            "grid (composer/analysis/beats.py), 'Position <up to 4 melody pitches sounding in the "
            "beat> Ahead <those of the next beat> Ahead2 <those of the beat after> <chord>', a "
            "chord being 'ChordRoot_r ChordQual_q ChordBass_i' (root pitch class, one of 15 "
            "qualities, bass in semitones above the root) or 'ChordNone'; a style token after "
            "the key says POP909 (StylePop, used when harmonising) or chorale. (Models trained "
            "before 'Ahead' or 'Ahead2' existed have frames without those beats; the decoder "
            "follows the model's own tokenizer.)",
            "targets": "only chord tokens are trained on (the melody is always given); "
                       f"training windows show {CHORD_NOISE_RATE:.0%} of the earlier chords with "
                       "a random root and quality (CHORD_NOISE_RATE) and "
                       f"{CHORD_HOLD_RATE:.0%} of the chord changes missed (the chord before "
                       "shown on to the next change: CHORD_HOLD_RATE) while the targets stay "
                       "true, so copying the last chord does not pay and a chord the melody "
                       "has left is left",
            "data": "POP909 train split (heldout.json 'pop909') with its own chord annotations, "
                    "plus the Bach chorales' train split; keys estimated from the melody "
                    "(Krumhansl), as for any user's melody; every key by transposition",
            "labels": "POP909: its own chord annotations (chord_midi.txt, Harte labels), read at "
                      "each beat after quantising melody and chords onto the annotated beats "
                      "(corpora/pop909.py). Chorales: per beat, our pitch-class-set matcher over "
                      "the four voices (composer/analysis/chord_labels.py).",
            "credit": CREDIT,
            "licence": "POP909 is MIT-licensed",
        },
    )


register_task("chorale", _chorale)
register_task("chords", _chords)

