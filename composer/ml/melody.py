"""The melody task: corpus to token shards, prompts, constrained generation, scoring.

Shared by the Transformer and the LSTM (the Markov baseline has its own module
with the same entry points). A continuation is generated bar by bar under a
:class:`MelodyConstraint` that keeps the REMI grammar, the bar grid, one note
at a time (monophony), the key (when locked) and the pitch range.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from composer.core.pitch import estimate_key, scale_pitch_classes
from composer.core.song import PPQ, KeySignature, Note, Song, TimeSignature, Track
from composer.core.timing import BarGrid
from composer.io.tokens import (
    BAR,
    DURATION,
    PITCH,
    POSITION,
    TIMESIG,
    Vocabulary,
    encode_melody,
    tokenizer_meter,
)

log = logging.getLogger(__name__)

STEPS_PER_BEAT = 12  # the tokenizer's grid: positions per beat of the meter's denominator


def song_key(song: Song) -> KeySignature:
    """The key a melody is in: its first key signature, else estimated from its notes."""
    if song.keys:
        return song.keys[0]
    notes = [n for t in song.tracks if not t.is_drum for n in t.notes]
    return estimate_key(notes)


# ------------------------------------------------------------------ corpus -> shards


def melody_pieces(split: str, corpus: str = "music21"):
    """(id, Song with one melody track) for folk tunes and chorale sopranos of a split."""
    from dataclasses import replace

    from corpora.store import load_pieces

    for piece in load_pieces(corpus, "folk", split):
        yield piece.id, piece.song, "folk"
    for piece in load_pieces(corpus, "chorales", split):
        soprano = piece.song.tracks[0]
        yield piece.id, replace(piece.song, tracks=(soprano,)), "chorale_soprano"


def build_shards(tokenizer, out_dir: Path, splits: Sequence[str] = ("train", "valid", "test"),
                 corpus: str = "music21", progress: Callable[[str, int], None] | None = None
                 ) -> dict[str, dict[str, int]]:
    """Tokenize the corpus into shards; returns counts of pieces kept and skipped."""
    from composer.errors import ComposerError
    from composer.ml.data import Shard

    report: dict[str, dict[str, int]] = {}
    for split in splits:
        sequences, keys, spans, ids = [], [], [], []
        skipped = 0
        for piece_id, song, source in melody_pieces(split, corpus):
            try:
                tokens = encode_melody(tokenizer, song)
            except ComposerError:
                skipped += 1
                continue
            pitches = [n.pitch for n in song.tracks[0].notes]
            if not tokens or not pitches:
                skipped += 1
                continue
            sequences.append(tokens)
            keys.append(song_key(song))
            spans.append((min(pitches), max(pitches)))
            ids.append(f"{source}:{piece_id}")
        Shard.from_sequences(sequences, keys, spans, ids).save(out_dir, split)
        report[split] = {"pieces": len(sequences), "skipped": skipped,
                         "tokens": sum(len(s) for s in sequences)}
        if progress:
            progress(split, len(sequences))
    return report


# --------------------------------------------------------------------- constraint


@dataclass(frozen=True)
class BarSlot:
    """One bar the generator may write into: where it starts and its meter."""

    start_tick: int
    length_ticks: int
    meter: TimeSignature  # as the tokenizer sees it

    @property
    def unit_ticks(self) -> float:
        return PPQ * 4 / self.meter.denominator / STEPS_PER_BEAT

    @property
    def end_tick(self) -> int:
        return self.start_tick + self.length_ticks


def bar_slots(song: Song, first_bar: int, end_tick: int) -> list[BarSlot]:
    """Bars from ``first_bar`` up to the one that ends at or after ``end_tick``."""
    grid = BarGrid.of(song)
    slots = []
    bar = first_bar
    while True:
        start = grid.bar_start_tick(bar)
        if start >= end_tick and slots:
            break
        meter = tokenizer_meter(grid.meter_at_tick(start))
        slots.append(BarSlot(start, grid.bar_length_ticks(bar), meter))
        bar += 1
    return slots


_AFTER_BAR, _AFTER_TIMESIG, _AFTER_POSITION, _AFTER_PITCH, _AFTER_DURATION = range(5)


class MelodyConstraint:
    """REMI grammar + bar grid + monophony + key/range for one generated row.

    The row starts inside ``slots[0]`` in state ``after_duration`` (a prompt
    ends after a note) or ``before_bar`` (infilling starts with a Bar token).
    It is done when it ends the last bar (a Bar or the end token there) or
    emits the end token; ``done_by_bar`` says the last token was such a Bar,
    which callers drop before decoding.
    """

    def __init__(self, vocab: Vocabulary, slots: list[BarSlot], end_tick: int, busy_until: int,
                 first_onset: int | None, end_token: int, pitch_range: tuple[int, int],
                 key_pcs: frozenset[int] | None, start_state: str = "after_duration") -> None:
        self.vocab = vocab
        self.slots = slots
        self.end_tick = end_tick
        self.busy_until = busy_until
        self.first_onset = first_onset
        self.end_token = end_token
        if start_state not in ("after_duration", "before_bar"):
            raise ValueError(f"unknown start state {start_state!r}")
        self.bar = 0 if start_state == "after_duration" else -1
        self.state = _AFTER_DURATION
        self.onset = 0
        self.done = False
        self.done_by_bar = False
        self.notes: list[Note] = []
        self._pitch = 0
        kinds = np.asarray(vocab.kinds)
        size = len(vocab)
        self._is = {kind: kinds == kind for kind in (BAR, POSITION, PITCH, DURATION, TIMESIG)}
        self._bar_id = int(np.flatnonzero(self._is[BAR])[0])
        positions = np.full(size, -1)
        for i in np.flatnonzero(self._is[POSITION]):
            positions[i] = vocab.values[i]
        self._positions = positions
        pitch_ok = np.zeros(size, dtype=bool)
        low, high = pitch_range
        for i in np.flatnonzero(self._is[PITCH]):
            pitch = vocab.values[i]
            pitch_ok[i] = low <= pitch <= high and (key_pcs is None or pitch % 12 in key_pcs)
        if not pitch_ok.any():
            raise ValueError("no pitch satisfies the range and key lock together")
        self._pitch_ok = pitch_ok
        # Read-only masks handed out by ``allowed`` (a sampler calls it every step).
        self._durations = self._is[DURATION]
        self._only_bar = np.zeros(size, dtype=bool)
        self._only_bar[self._bar_id] = True
        for mask in (self._pitch_ok, self._durations, self._only_bar):
            mask.flags.writeable = False
        self._slot_ticks: dict[int, np.ndarray] = {}  # bar -> tick of each Position token

    # The first bar of an infill starts with its Bar token.
    @property
    def _before_first_bar(self) -> bool:
        return self.bar < 0

    def _slot(self) -> BarSlot:
        return self.slots[self.bar]

    def _in_last_bar(self) -> bool:
        return self.bar >= len(self.slots) - 1

    def allowed(self) -> np.ndarray:
        """Legal next tokens (V,); the same array may be returned again, so read only."""
        if self.state == _AFTER_POSITION:
            return self._pitch_ok
        if self.state == _AFTER_PITCH:
            return self._durations
        mask = np.zeros(len(self.vocab), dtype=bool)
        if self.state == _AFTER_BAR:
            token = self.vocab.meter_token(self._slot().meter)
            mask[token] = True
            return mask
        if self._before_first_bar:
            return self._only_bar
        # After a duration or a time signature: a note in this bar, the next bar, or the end.
        slot = self._slot()
        ticks = self._ticks_of_positions()
        ok = self._is[POSITION] & (ticks >= self.busy_until) \
            & (ticks < min(slot.end_tick, self.end_tick))
        if self.first_onset is not None:
            # The continuation starts exactly where the prompt ends.
            mask |= ok & np.isclose(ticks, self.first_onset)
            mask[self._bar_id] = self.first_onset >= slot.end_tick
            return mask
        mask |= ok
        mask[self._bar_id] = True  # the next bar; in the last bar it means "done"
        mask[self.end_token] = True
        return mask

    def _ticks_of_positions(self) -> np.ndarray:
        """The tick each Position token stands for in the current bar (V,)."""
        ticks = self._slot_ticks.get(self.bar)
        if ticks is None:
            slot = self._slot()
            ticks = self._slot_ticks[self.bar] = slot.start_tick + self._positions * slot.unit_ticks
        return ticks

    def forced_run(self) -> list[int]:
        """The meter token that must follow a bar line (fed in the same model step)."""
        if self.state == _AFTER_BAR and not self.done:
            return [self.vocab.meter_token(self._slot().meter)]
        return []

    def advance(self, token: int) -> None:
        kind = self.vocab.kinds[token]
        if token == self.end_token:
            self.done = True
        elif kind == BAR:
            if self._in_last_bar() and not self._before_first_bar:
                self.done = self.done_by_bar = True
            else:
                self.bar += 1
                self.state = _AFTER_BAR
        elif kind == TIMESIG:
            self.state = _AFTER_TIMESIG
        elif kind == POSITION:
            slot = self._slot()
            self.onset = round(slot.start_tick + self.vocab.values[token] * slot.unit_ticks)
            self.first_onset = None
            self.state = _AFTER_POSITION
        elif kind == PITCH:
            self._pitch = self.vocab.values[token]
            self.state = _AFTER_PITCH
        elif kind == DURATION:
            beats, sub, res = self.vocab.values[token]
            beat_ticks = PPQ * 4 / self._slot().meter.denominator
            length = round((beats + sub / res) * beat_ticks)
            end = min(self.onset + length, self.end_tick)
            self.busy_until = self.onset + length
            if end > self.onset:
                self.notes.append(Note(pitch=self._pitch, start_tick=self.onset,
                                       duration_ticks=end - self.onset))
            self.state = _AFTER_DURATION


def snap_up(tick: int, slot: BarSlot) -> int:
    """The first grid point at or after ``tick`` in ``slot``."""
    steps = -(-(tick - slot.start_tick) // slot.unit_ticks)
    return round(slot.start_tick + steps * slot.unit_ticks)


def key_lock_pcs(key: KeySignature | None) -> frozenset[int] | None:
    return scale_pitch_classes(key) if key is not None else None


# ------------------------------------------------------------------- prompts


@dataclass
class GenerationPlan:
    """Where generated notes go, and the tokens that lead up to them."""

    tokens: list[int]  # conditioning + window of prompt tokens
    window_start_tick: int  # absolute tick of the window's first Bar token
    slots: list[BarSlot]
    start_tick: int  # generated notes begin here
    end_tick: int  # and end by here (a bar line)
    busy_until: int
    first_onset: int | None
    start_state: str
    end_token: int
    decode_prefix: list[int]  # tokens decoded together with the generated ones


def _bar_positions(vocab: Vocabulary, ids: Sequence[int]) -> list[int]:
    return [i for i, t in enumerate(ids) if vocab.kinds[t] == BAR]


def melody_song(song: Song, notes: Sequence[Note]) -> Song:
    """A one-track song with ``notes`` and ``song``'s meters and keys."""
    from dataclasses import replace

    return replace(song, tracks=(Track("melody", tuple(sorted(notes))),))


def region_end(song: Song, start_tick: int, bars: int) -> int:
    """The bar line ``bars`` whole bars after the bar that ``start_tick`` is in or opens."""
    grid = BarGrid.of(song)
    bar = grid.bar_at_tick(start_tick)
    if grid.bar_start_tick(bar) != start_tick:
        bar += 1  # finish the current bar first
    return grid.bar_start_tick(bar + bars)


def plan_continuation(tokenizer, vocab: Vocabulary, song: Song, notes: Sequence[Note],
                      key: KeySignature, start_tick: int, bars: int,
                      block_size: int) -> GenerationPlan:
    """Tokens and bar slots to continue ``notes`` (all ending by ``start_tick``)."""
    ids = encode_melody(tokenizer, melody_song(song, notes))
    bar_pos = _bar_positions(vocab, ids)
    end_tick = region_end(song, start_tick, bars)
    reserve = min(block_size // 2, 40 * (bars + 1))
    room = block_size - 2 - reserve
    first = next((k for k, p in enumerate(bar_pos) if len(ids) - p <= room), len(bar_pos) - 1)
    window = ids[bar_pos[first]:]
    if len(window) > room:
        window = window[-room:]  # a single bar longer than the room: keep its end
    grid = BarGrid.of(song)
    last_bar = len(bar_pos) - 1
    slots = bar_slots(song, last_bar, end_tick)
    return GenerationPlan(
        tokens=[vocab.bos, vocab.key_token(key)] + window,
        window_start_tick=grid.bar_start_tick(first),
        slots=slots,
        start_tick=start_tick,
        end_tick=end_tick,
        busy_until=start_tick,
        first_onset=snap_up(start_tick, _slot_at(slots, start_tick)),
        start_state="after_duration",
        end_token=vocab.eos,
        decode_prefix=window,
    )


def _slot_at(slots: list[BarSlot], tick: int) -> BarSlot:
    return next((s for s in slots if s.start_tick <= tick < s.end_tick), slots[-1])


SUFFIX_BARS = 4  # as in training: up to four bars after the hole


def plan_infill(tokenizer, vocab: Vocabulary, song: Song, notes: Sequence[Note], key: KeySignature,
                first_bar: int, last_bar: int, block_size: int) -> GenerationPlan:
    """Tokens for fill-in-the-middle of bars ``first_bar``..``last_bar`` (zero-based)."""
    grid = BarGrid.of(song)
    start, end = grid.bar_start_tick(first_bar), grid.bar_start_tick(last_bar + 1)
    kept = [n for n in notes if n.end_tick <= start or n.start_tick >= end]
    kept += [_cut(n, 0, start) for n in notes if n.start_tick < start < n.end_tick]
    ids = encode_melody(tokenizer, melody_song(song, kept)) if kept else []
    bar_pos = _bar_positions(vocab, ids) + [len(ids)]
    def at(bar: int) -> int:
        return bar_pos[min(bar, len(bar_pos) - 1)]
    suffix = ids[at(last_bar + 1):at(last_bar + 1 + SUFFIX_BARS)]
    reserve = min(block_size // 2, 40 * (last_bar - first_bar + 2))
    room = block_size - 2 - 2 - len(suffix) - reserve
    prefix_start = next((at(b) for b in range(first_bar + 1) if at(first_bar) - at(b) <= room),
                        at(first_bar))
    prefix = ids[prefix_start:at(first_bar)]
    return GenerationPlan(
        tokens=[vocab.bos, vocab.key_token(key)] + prefix + [vocab.special("Hole")] + suffix
        + [vocab.special("FillStart")],
        window_start_tick=start,
        slots=bar_slots(song, first_bar, end),
        start_tick=start,
        end_tick=end,
        busy_until=start,
        first_onset=None,
        start_state="before_bar",
        end_token=vocab.special("FillEnd"),
        decode_prefix=[],
    )


def _cut(note: Note, start: int, end: int) -> Note:
    from dataclasses import replace

    begin, finish = max(note.start_tick, start), min(note.end_tick, end)
    return replace(note, start_tick=begin, duration_ticks=finish - begin)


def make_constraints(plan: GenerationPlan, vocab: Vocabulary, count: int,
                     pitch_range: tuple[int, int], key_pcs: frozenset[int] | None
                     ) -> list[MelodyConstraint]:
    return [
        MelodyConstraint(vocab, plan.slots, plan.end_tick, plan.busy_until, plan.first_onset,
                         plan.end_token, pitch_range, key_pcs, plan.start_state)
        for _ in range(count)
    ]


def decode_generated(tokenizer, vocab: Vocabulary, plan: GenerationPlan, generated: list[int],
                     constraint: MelodyConstraint) -> list[Note]:
    """Generated notes in song ticks, decoded by miditok, cut to the plan's region."""
    from composer.io.tokens import decode_notes

    body = list(generated)
    if body and (constraint.done_by_bar or body[-1] == plan.end_token):
        body = body[:-1]
    notes = decode_notes(tokenizer, plan.decode_prefix + body)
    result = []
    for n in notes:
        start = n.start_tick + plan.window_start_tick
        if start < plan.start_tick or start >= plan.end_tick:
            continue
        end = min(start + n.duration_ticks, plan.end_tick)
        result.append(Note(pitch=n.pitch, start_tick=start, duration_ticks=end - start))
    return result


def recrop_keep_tail(keep: int) -> Callable[[list[int]], list[int]]:
    """A recrop for the sampler: conditioning tokens + the last ``keep`` tokens."""
    def recrop(sequence: list[int]) -> list[int]:
        return sequence[:2] + sequence[-keep:]
    return recrop


# ------------------------------------------------------------------- scoring


@dataclass
class NoteBits:
    """Information content of a melody under a model, in bits."""

    pitch_bits: float
    event_bits: float
    notes: int


def score_sequence(model, vocab: Vocabulary, conditioning: list[int], tokens: list[int],
                   block_size: int | None) -> NoteBits:
    """Bits of every note's pitch and of the whole event (bar/position/pitch/duration).

    Pieces longer than the context are scored in windows that start at bar
    lines and overlap by at least half a context, each token counted once.
    """
    from composer.ml.sampling import token_log_probs

    kinds = np.asarray(vocab.kinds)
    sequence = list(tokens) + [vocab.eos]
    bits = np.full(len(sequence), np.nan)
    limit = (block_size or 10**9) + 1 - len(conditioning)
    bar_pos = [i for i, t in enumerate(sequence) if kinds[t] == BAR]
    start = 0
    while True:
        window = sequence[start:start + limit]
        scored = -token_log_probs(model, conditioning + window)[len(conditioning) - 1:]
        for offset, value in enumerate(scored):
            if np.isnan(bits[start + offset]):
                bits[start + offset] = value
        if start + limit >= len(sequence):
            break
        target = start + limit // 2
        start = max([b for b in bar_pos if start < b <= target], default=target)
    targets = kinds[np.asarray(sequence)]
    pitch = float(np.sum(bits[targets == PITCH]))
    event_mask = np.isin(targets, [BAR, POSITION, PITCH, DURATION])
    return NoteBits(pitch, float(np.sum(bits[event_mask])), int(np.sum(targets == PITCH)))
