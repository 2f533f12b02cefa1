"""Decoding the harmony models: grammar, fault-aware constraints, chunks, scoring, live.

Every sequence a harmony model writes runs under a constraint (the
:class:`composer.ml.sampling.Constraint` protocol) that only ever offers legal
tokens: the bars, positions and melody are forced, a chorale voice may say
only a pitch in its range, ``Hold`` or (with the soprano) ``Rest``, a chord
slot only ``ChordRoot`` then a quality then a bass that is a chord tone. So a
model cannot write an ill-formed sequence.

The chorale constraint is also *fault-aware*: when a voice is about to be
written, it knows every pitch already written at this frame (the soprano, the
voices above) and at the previous one, and refuses the pitches that would
make a fault of composer/analysis/voice_leading.py: out of range, crossing
the voice above, more than an octave under the soprano or alto, overlapping a
neighbour's previous pitch, parallel fifths or octaves (contrary motion
included) with a voice already written, and, for the bass (the last voice,
when the chord is known), a chord that resolves a dominant while the leading
tone goes elsewhere. If no pitch passes, rules are given up in a fixed order
(leading tone, overlap, parallels and spacing, crossing) until one does: the
range never, so a setting is always possible and never out of range.

Long melodies are harmonised in chunks of whole bars that fit the context,
each chunk seeing its melody and the last bars of harmony already written.
"""

from __future__ import annotations

import functools
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from composer.analysis.beats import Beat
from composer.analysis.voice_leading import SATB_RANGES, VOICES
from composer.analysis.voice_leading import _dominant_of as dominant_of  # the analysis's own rule
from composer.core.chords import LABEL_QUALITIES, QUALITY_INTERVALS, ChordSymbol, match_chord
from composer.core.song import KeySignature, Note, TimeSignature
from composer.errors import InvalidArgumentError
from composer.io.tokens import Vocabulary
from composer.ml.harmony_format import (
    ALTO,
    BASS,
    HOLD,
    REST,
    SOPRANO,
    TENOR,
    FrameGrid,
    Item,
    Slot,
    bar_infos,
    bar_token_starts,
    beat_pitches,
    check_meters,
    chorale_frame_items,
    chord_frame_items,
    chord_tokens,
    frame_grid,
    line_states,
    quantize_line,
    sounding_pitches,
    state_token,
)
from composer.ml.sampling import one_thread  # noqa: F401  (the services use it from here)

log = logging.getLogger(__name__)

OVERLAP_BARS = 4
"""Bars of already-written harmony each later chunk sees before its own."""
TOP_P = 0.95
SEARCH_WIDTH = 2  # altos, and tenors per alto, weighed for each frame of variation 1
# Context the search needs past a chunk's own tokens: at a frame it holds every
# alto and tenor candidate on trial (width + width², see ``search_frames``) where
# the setting itself takes three tokens.
SEARCH_ROOM = SEARCH_WIDTH + SEARCH_WIDTH ** 2 - 3
RELAXATIONS: tuple[frozenset[str], ...] = (
    frozenset(),
    frozenset({"leading_tone"}),
    frozenset({"leading_tone", "overlap"}),
    frozenset({"leading_tone", "overlap", "parallels", "spacing", "unison"}),
    frozenset({"leading_tone", "overlap", "parallels", "spacing", "unison", "crossing"}),
)
"""Rule sets given up, in order, when no candidate obeys them all (range never)."""


class HarmonyVocab:
    """A task's vocabulary with the ids the decoders need at hand."""

    def __init__(self, vocab: Vocabulary) -> None:
        self.vocab = vocab
        self.size = len(vocab)
        self.names = [""] * self.size
        for name, index in vocab.ids.items():
            self.names[index] = name
        self.pitch_id = np.full(128, -1, dtype=np.int64)
        for index in vocab.pitch_ids:
            self.pitch_id[vocab.values[index]] = index
        ids = vocab.ids
        self.hold, self.rest = ids.get("Hold_None"), ids.get("Rest_None")
        self.chord_none = ids.get("ChordNone_None")
        self.roots = [ids.get(f"ChordRoot_{r}") for r in range(12)]
        self.qualities = {q: ids.get(f"ChordQual_{q}") for q in QUALITY_INTERVALS}
        self.quality_of = {v: q for q, v in self.qualities.items() if v is not None}
        self.basses = [ids.get(f"ChordBass_{i}") for i in range(12)]
        self.root_of = {v: r for r, v in enumerate(self.roots) if v is not None}
        self.bass_of = {v: i for i, v in enumerate(self.basses) if v is not None}

    def one_hot(self, token: int) -> np.ndarray:
        mask = np.zeros(self.size, dtype=bool)
        mask[token] = True
        return mask

    def head(self, key: KeySignature, mode: str, style: str | None = None) -> list[int]:
        tokens = [self.vocab.bos, self.vocab.key_token(key)]
        if style is not None:
            tokens.append(self.vocab.special(f"Style{style}"))
        return tokens + [self.vocab.special(mode)]


# --------------------------------------------------------------- voice leading


@functools.lru_cache(maxsize=65536)
def _chord_of_classes(classes: tuple[int, ...], bass_pc: int) -> ChordSymbol | None:
    weights: dict[int, float] = {}
    for pc in classes:
        weights[pc] = weights.get(pc, 0.0) + 1.0
    return match_chord(weights, bass_pc=bass_pc, qualities=LABEL_QUALITIES)


def _chord_of(pitches: Sequence[int]) -> ChordSymbol | None:
    """The chord the analysis hears in a verticality (same matcher, same arguments)."""
    return _chord_of_classes(tuple(sorted(p % 12 for p in pitches)), min(pitches) % 12)


def _may_be_dominant(chord: ChordSymbol | None) -> bool:
    return chord is not None and (chord.quality in ("maj", "7") or chord.triad == "dim")


RULES = ("range", "crossing", "spacing", "unison", "overlap", "parallels", "leading_tone")


def pitch_faults(voice: int, pitches: np.ndarray, onset: bool, now: Sequence[int | None],
                 prev: Sequence[int | None], live: bool = False,
                 soprano_next: int | None = None) -> dict[str, np.ndarray]:
    """For each candidate pitch of ``voice``, which voice-leading rules writing it breaks.

    ``now`` holds the pitches already decided at this frame for the voices
    above (soprano first); ``prev`` every voice's pitch at the previous frame
    (None: resting). ``onset`` False means the voice holds its note (no range
    check: it was checked when the note began). ``soprano_next`` is the
    soprano's next pitch (None: unknown, or a rest): an alto above it now would
    be overlapped by the soprano's next note, and the soprano is given, so only
    the alto can avoid that, ahead of time.
    Returns a boolean array per rule of :data:`RULES`.
    """
    x = np.asarray(pitches, dtype=np.int64)
    none = np.zeros(len(x), dtype=bool)
    faults = dict.fromkeys(RULES, none)
    low, high = SATB_RANGES[VOICES[voice]]
    if onset:
        faults["range"] = (x < low) | (x > high)
    upper = now[voice - 1]
    if upper is not None:
        faults["crossing"] = x > upper
        if voice <= 2:
            faults["spacing"] = upper - x > 12
        if live:
            faults["unison"] = x == upper
    own = prev[voice]
    if own is not None:
        moved = x != own
        overlap = none
        if prev[voice - 1] is not None:
            overlap = overlap | (x > prev[voice - 1])  # type: ignore[operator]
        if voice < 3 and prev[voice + 1] is not None:
            overlap = overlap | (x < prev[voice + 1])  # type: ignore[operator]
        faults["overlap"] = overlap & moved
        parallel = none
        for u in range(voice):
            a, b = prev[u], now[u]
            if a is None or b is None or a == b:
                continue
            before = abs(a - own) % 12
            if before in (0, 7):
                parallel = parallel | (np.abs(b - x) % 12 == before)
        faults["parallels"] = parallel & moved
    if voice == 1 and soprano_next is not None:
        faults["overlap"] = faults["overlap"] | (x > soprano_next)
    if voice == BASS:
        faults["leading_tone"] = _unresolved_leading_tones(now, prev, x)
    return faults


def candidate_faults(voice: int, x: int | None, onset: bool, now: Sequence[int | None],
                     prev: Sequence[int | None], live: bool = False,
                     soprano_next: int | None = None) -> set[str]:
    """The rules that writing one pitch ``x`` (None: a rest) in ``voice`` would break."""
    if x is None:
        return set()
    found = pitch_faults(voice, np.array([x]), onset, now, prev, live, soprano_next)
    return {rule for rule, hit in found.items() if hit[0]}


def _unresolved_leading_tones(now: Sequence[int | None], prev: Sequence[int | None],
                              basses: np.ndarray) -> np.ndarray:
    """For each bass candidate: would the new chord resolve a dominant while a voice
    holding its leading tone goes elsewhere (the analysis's rule, inner voices may
    fall a major third)?"""
    out = np.zeros(len(basses), dtype=bool)
    if any(p is None for p in prev) or any(p is None for p in now[:3]):
        return out
    before = [int(p) for p in prev]  # type: ignore[arg-type]
    first = _chord_of(before)
    if not _may_be_dominant(first):
        return out
    assert first is not None
    upper = [int(p) for p in now[:3]]  # type: ignore[arg-type]
    for i, bass in enumerate(basses.tolist()):
        after = [*upper, bass]
        if after == before:
            continue
        second = _chord_of(after)
        if second is None or not dominant_of(first, second):
            continue
        leading, tonic = (second.root_pc - 1) % 12, second.root_pc
        for v in range(4):
            if before[v] % 12 != leading or after[v] % 12 == tonic:
                continue
            if 0 < v < 3 and before[v] - after[v] == 4:
                continue
            out[i] = True
            break
    return out


def voice_mask(hv: HarmonyVocab, voice: int, now: Sequence[int | None],
               prev: Sequence[int | None], sounding: int | None, first: bool,
               live: bool = False, soprano_next: int | None = None) -> np.ndarray:
    """Legal tokens for one voice at one frame, the fewest rules given up
    (``soprano_next``: see :func:`pitch_faults`)."""
    mask = np.zeros(hv.size, dtype=bool)
    if now[SOPRANO] is None and not live:
        # The lower voices rest with the soprano (phrase ends, pickups).
        mask[hv.hold if sounding is None and not first else hv.rest] = True
        return mask
    low, high = SATB_RANGES[VOICES[voice]]
    pitches = np.arange(low, high + 1)
    tokens = hv.pitch_id[pitches]
    pitches, tokens = pitches[tokens >= 0], tokens[tokens >= 0]
    faults = pitch_faults(voice, pitches, True, now, prev, live, soprano_next)
    holding = sounding is not None and not first and not live and hv.hold is not None
    hold_faults = (candidate_faults(voice, sounding, False, now, prev, live, soprano_next)
                   if holding else set())
    for relaxed in RELAXATIONS:
        ok = np.ones(len(pitches), dtype=bool)
        for rule in RULES:
            if rule not in relaxed:
                ok &= ~faults[rule]
        mask[tokens[ok]] = True
        if holding and hold_faults <= relaxed:
            mask[hv.hold] = True
        if mask.any():
            return mask
    mask[tokens] = True  # every rule given up but the range
    return mask


# ----------------------------------------------------------------- constraints


class ChoraleConstraint:
    """Grammar and voice leading for the frames of one chunk (sampling.Constraint).

    ``items`` are the chunk's items from ``start`` on; ``states`` the four
    voices' states at every frame (soprano complete; alto/tenor/bass filled
    before ``start`` and filled here as they are chosen).
    """

    def __init__(self, hv: HarmonyVocab, items: Sequence[Item], states: list[list[int | str]],
                 sounding: list[list[int | None]]) -> None:
        self.hv = hv
        self.items = list(items)
        self.states = states
        self.sounding = sounding
        self.index = 0
        self.done = not self.items

    def _now_prev(self, frame: int, voice: int) -> tuple[list[int | None], list[int | None]]:
        now = [self.sounding[v][frame] for v in range(voice)] + [None] * (4 - voice)
        prev = [self.sounding[v][frame - 1] if frame else None for v in range(4)]
        return now, prev

    def forced_run(self) -> list[int]:
        """The forced tokens (bar lines, positions, soprano) up to the next voice."""
        return _forced(self.items, self.index)

    def allowed(self) -> np.ndarray:
        item = self.items[self.index]
        if isinstance(item, int):
            return self.hv.one_hot(item)
        now, prev = self._now_prev(item.frame, item.voice)
        return voice_mask(self.hv, item.voice, now, prev, prev[item.voice], item.frame == 0,
                          soprano_next=self._soprano_next(item.frame))

    def _soprano_next(self, frame: int) -> int | None:
        """The soprano's next pitch after the one it sounds at ``frame`` (it is given
        ahead); None when it rests first or ends."""
        soprano = self.sounding[SOPRANO]
        for later in soprano[frame + 1:]:
            if later != soprano[frame]:
                return later
        return None

    def advance(self, token: int) -> None:
        item = self.items[self.index]
        if isinstance(item, Slot):
            state = _token_state(self.hv, token)
            self.states[item.voice][item.frame] = state
            before = self.sounding[item.voice][item.frame - 1] if item.frame else None
            self.sounding[item.voice][item.frame] = (
                before if state == HOLD else None if state == REST else int(state))
        self.index += 1
        self.done = self.index >= len(self.items)


def _forced(items: Sequence[Item], index: int) -> list[int]:
    run: list[int] = []
    while index < len(items) and isinstance(items[index], int):
        run.append(items[index])  # type: ignore[arg-type]
        index += 1
    return run


def search_frames(model, prompt: Sequence[int], constraint: ChoraleConstraint,
                  width: int = SEARCH_WIDTH) -> list[int]:
    """The constraint's tokens, a frame at a time: of the ``width`` likeliest altos,
    for each the ``width`` likeliest tenors, and for each pair the likeliest bass,
    the alto/tenor/bass with the highest joint probability (variation 1's decoding:
    a greedy alto can leave no good chord below it). Frames that do not open with
    an alto slot are decoded greedily.

    The candidates are fed on trial (``model.try_tokens``: the altos in one step,
    every alto's tenors in the next), and the chosen pair is committed: one row
    whose past is read once per step, however many candidates it weighs (a batch
    row per candidate read the whole past once each, and cost more than the
    arithmetic)."""
    import torch

    from composer.ml.sampling import prefill

    def log_softmax(logits: torch.Tensor) -> np.ndarray:
        return torch.log_softmax(logits.float(), dim=-1).numpy()

    def ranked(log_probs: np.ndarray, count: int) -> list[tuple[int, float]]:
        masked = np.where(constraint.allowed(), log_probs, -np.inf)
        order = np.argsort(-masked, kind="stable")[:count]
        return [(int(t), float(masked[t])) for t in order if np.isfinite(masked[t])]

    def rewind_to(start: int, *tokens: int) -> None:
        constraint.index, constraint.done = start, False
        for token in tokens:
            constraint.advance(token)

    out: list[int] = []
    with torch.no_grad():
        state, logits = prefill(model, [list(prompt)])
        log_probs = log_softmax(logits[0])
        while not constraint.done:
            start = constraint.index
            frame = constraint.items[start:start + 3]
            if len(frame) == 3 and all(isinstance(i, Slot) for i in frame) \
                    and [i.voice for i in frame] == [ALTO, TENOR, BASS]:  # type: ignore[union-attr]
                altos = ranked(log_probs, width)
                logits, state = model.try_tokens(state, [a for a, _ in altos], [None] * len(altos))
                tenor_lp = log_softmax(logits)
                pairs = []  # (alto trial, alto, its log-prob, tenor, its log-prob)
                for trial, (alto, a_lp) in enumerate(altos):
                    rewind_to(start, alto)
                    pairs += [(trial, alto, a_lp, tenor, t_lp)
                              for tenor, t_lp in ranked(tenor_lp[trial], width)]
                logits, state = model.try_tokens(state, [p[3] for p in pairs],
                                                 [p[0] for p in pairs])
                bass_lp = log_softmax(logits)
                options = []
                for k, (_, alto, a_lp, tenor, t_lp) in enumerate(pairs):
                    rewind_to(start, alto, tenor)
                    bass, b_lp = ranked(bass_lp[k], 1)[0]
                    options.append((a_lp + t_lp + b_lp, k, [alto, tenor, bass]))
                _, k, chosen = max(options, key=lambda o: (o[0], -o[1]))
                state = model.commit_trial(state, len(altos) + k)  # its tenor, and its alto
                rewind_to(start, *chosen[:2])
                out += chosen[:2]
                chosen = chosen[2:]  # the alto and tenor are committed already
            else:
                chosen = [ranked(log_probs, 1)[0][0]]
            for token in chosen:
                constraint.advance(token)
                out.append(token)
            run = [] if constraint.done else constraint.forced_run()
            for token in run:
                constraint.advance(token)
                out.append(token)
            if constraint.done:
                break
            logits, state = model.step(torch.tensor([chosen + run], dtype=torch.long), state)
            log_probs = log_softmax(logits[0, -1])
    return out


def _token_state(hv: HarmonyVocab, token: int) -> int | str:
    if token == hv.hold:
        return HOLD
    if token == hv.rest:
        return REST
    return int(hv.vocab.values[token])


class ChordConstraint:
    """Grammar for the beat frames of one chunk: forced melody, one chord per slot.

    A chord is ``ChordRoot`` + quality + a bass that is a chord tone, or
    ``ChordNone`` on a beat where the melody is silent.
    """

    def __init__(self, hv: HarmonyVocab, items: Sequence[Item], silent: Sequence[bool],
                 chords: list[ChordSymbol | None]) -> None:
        self.hv = hv
        self.items = list(items)
        self.silent = silent
        self.chords = chords
        self.index = 0
        self.partial: list[int] = []
        self.done = not self.items
        self._first = np.zeros(hv.size, dtype=bool)
        self._first[[r for r in hv.roots if r is not None]] = True
        self._quality = np.zeros(hv.size, dtype=bool)
        self._quality[[q for q in hv.qualities.values() if q is not None]] = True

    def forced_run(self) -> list[int]:
        """The forced tokens (bar lines, positions, melody) up to the next chord."""
        return [] if self.partial else _forced(self.items, self.index)

    def allowed(self) -> np.ndarray:
        item = self.items[self.index]
        if isinstance(item, int):
            return self.hv.one_hot(item)
        if not self.partial:
            mask = self._first.copy()
            if self.silent[item.frame] and self.hv.chord_none is not None:
                mask[self.hv.chord_none] = True
            return mask
        if len(self.partial) == 1:
            return self._quality.copy()
        quality = self.hv.quality_of[self.partial[1]]
        mask = np.zeros(self.hv.size, dtype=bool)
        for interval in QUALITY_INTERVALS[quality]:
            mask[self.hv.basses[interval]] = True
        return mask

    def advance(self, token: int) -> None:
        item = self.items[self.index]
        if isinstance(item, int):
            self._next()
            return
        if token == self.hv.chord_none:
            self.chords[item.frame] = None
            self._next()
            return
        self.partial.append(token)
        if len(self.partial) == 3:
            root = self.hv.root_of[self.partial[0]]
            quality = self.hv.quality_of[self.partial[1]]
            bass = (root + self.hv.bass_of[self.partial[2]]) % 12
            self.chords[item.frame] = ChordSymbol(root, quality, bass)
            self._next()

    def _next(self) -> None:
        self.partial = []
        self.index += 1
        self.done = self.index >= len(self.items)


# ---------------------------------------------------------------------- chunks


@dataclass(frozen=True)
class Chunk:
    """Bars ``context``..``start`` are given (already written), ``start``..``end`` new."""

    context: int
    start: int
    end: int


def plan_chunks(prefix_starts: Sequence[int], prefix_len: int, frame_starts: Sequence[int],
                frame_costs: Sequence[int], head_len: int, block_size: int) -> list[Chunk]:
    """Chunks of whole bars whose sequences (head, melody, Harm, frames) fit ``block_size``.

    ``frame_costs[i]`` is the number of tokens of frame item ``i`` (a chord
    slot may take three).
    """
    bars = len(frame_starts)
    cum = np.concatenate([[0], np.cumsum(frame_costs)])

    def at(starts: Sequence[int], bar: int, length: int) -> int:
        return starts[bar] if bar < len(starts) else length

    def cost(a: int, e: int) -> int:
        melody = at(prefix_starts, e, prefix_len) - at(prefix_starts, a, prefix_len)
        items = len(frame_costs)
        frames = cum[at(frame_starts, e, items)] - cum[at(frame_starts, a, items)]
        return head_len + melody + 1 + int(frames)

    chunks: list[Chunk] = []
    start = 0
    while start < bars:
        context = max(0, start - OVERLAP_BARS)
        while context < start and cost(context, start + 1) > block_size:
            context += 1
        if cost(context, start + 1) > block_size:
            raise InvalidArgumentError(f"bar {start + 1} holds too many notes for the model's "
                                       "context", "--model hmm harmonises any density")
        end = start + 1
        while end < bars and cost(context, end + 1) <= block_size:
            end += 1
        chunks.append(Chunk(context, start, end))
        start = end
    return chunks


def _melody_prefix(tokenizer, vocab: Vocabulary, notes: Sequence[Note],
                   time_signatures: Sequence[TimeSignature]) -> tuple[list[int], list[int]]:
    from composer.core.song import Song, Track
    from composer.io.tokens import encode_melody

    song = Song(tracks=(Track("Melody", tuple(notes)),), time_signatures=tuple(time_signatures))
    prefix = encode_melody(tokenizer, song)
    return prefix, bar_token_starts(vocab, prefix)


def _seed_of(rng: np.random.Generator | None) -> int:
    return int(rng.integers(2**31)) if rng is not None else 0


# --------------------------------------------------------------------- chorale


@dataclass
class ChoraleSetting:
    """Alto, tenor and bass notes, and the frames they were written on."""

    alto: list[Note]
    tenor: list[Note]
    bass: list[Note]
    grid: FrameGrid
    tokens: int


def _chorale_plan(hv: HarmonyVocab, tokenizer, soprano: Sequence[Note],
                  time_signatures: Sequence[TimeSignature]):
    grid = frame_grid(time_signatures, soprano)
    check_meters(hv.vocab, grid.bars)
    line = quantize_line(grid.bars, soprano)
    soprano_states = line_states(line, grid.ticks)
    items, frame_starts = chorale_frame_items(hv.vocab, grid, soprano_states)
    prefix, prefix_starts = _melody_prefix(tokenizer, hv.vocab, soprano, time_signatures)
    return grid, soprano_states, items, frame_starts, prefix, prefix_starts


def harmonize_chorale(model, hv: HarmonyVocab, tokenizer, soprano: Sequence[Note],
                      time_signatures: Sequence[TimeSignature], key: KeySignature,
                      temperature: float = 0.0, rng: np.random.Generator | None = None
                      ) -> ChoraleSetting:
    """Alto, tenor and bass for a soprano (in the soprano's range) under the constraints.

    ``temperature`` 0 is greedy: the model's most likely token at every step.
    """
    from composer.ml.sampling import generate

    grid, soprano_states, items, frame_starts, prefix, prefix_starts = _chorale_plan(
        hv, tokenizer, soprano, time_signatures)
    n = len(grid.ticks)
    states: list[list[int | str]] = [list(soprano_states)] + [[REST] * n for _ in range(3)]
    sounding: list[list[int | None]] = [sounding_pitches(soprano_states)] + \
        [[None] * n for _ in range(3)]
    head = hv.head(key, "Full")
    room = SEARCH_ROOM if temperature == 0.0 else 0
    chunks = plan_chunks(prefix_starts, len(prefix), frame_starts, [1] * len(items), len(head),
                         model.config.block_size - room)
    harm = hv.vocab.special("Harm")
    produced = 0
    for chunk in chunks:
        lo = _at(frame_starts, chunk.context, len(items))
        mid = _at(frame_starts, chunk.start, len(items))
        hi = _at(frame_starts, chunk.end, len(items))
        context = [it if isinstance(it, int) else state_token(hv.vocab, states[it.voice][it.frame])
                   for it in items[lo:mid]]
        prompt = head + prefix[_at(prefix_starts, chunk.context, len(prefix)):
                               _at(prefix_starts, chunk.end, len(prefix))] + [harm] + context
        lead = _forced(items, mid)  # the chunk opens with a bar line: part of the prompt
        constraint = ChoraleConstraint(hv, items[mid + len(lead):hi], states, sounding)
        if temperature == 0.0:  # variation 1: the search
            produced += len(search_frames(model, prompt + lead, constraint))
        else:
            rows = generate(model, prompt + lead, [constraint], temperature=temperature,
                            top_p=TOP_P, seed=_seed_of(rng), max_new_tokens=hi - mid + 1,
                            pad=hv.vocab.pad)
            produced += len(rows[0])
    from composer.ml.harmony_format import states_to_notes

    alto, tenor, bass = (states_to_notes(grid, states[v]) for v in (1, 2, 3))
    return ChoraleSetting(alto, tenor, bass, grid, produced)


def score_chorale(model, hv: HarmonyVocab, tokenizer, voices: Sequence[Sequence[Note]],
                  time_signatures: Sequence[TimeSignature], key: KeySignature
                  ) -> tuple[float, int]:
    """Bits of a four-part setting's alto/tenor/bass given its soprano, and the number of
    alto/tenor/bass notes as the frames represent them."""
    from composer.ml.sampling import token_log_probs

    grid, soprano_states, items, frame_starts, prefix, prefix_starts = _chorale_plan(
        hv, tokenizer, voices[SOPRANO], time_signatures)
    states = [soprano_states] + [line_states(v, grid.ticks) for v in voices[1:4]]
    tokens: list[int] = []
    for it in items:
        if isinstance(it, int):
            tokens.append(it)
        else:
            tokens.append(state_token(hv.vocab, _in_range(hv, states[it.voice][it.frame])))
    head = hv.head(key, "Full")
    chunks = plan_chunks(prefix_starts, len(prefix), frame_starts, [1] * len(items), len(head),
                         model.config.block_size)
    harm = hv.vocab.special("Harm")
    bits = 0.0
    for chunk in chunks:
        lo = _at(frame_starts, chunk.context, len(items))
        mid = _at(frame_starts, chunk.start, len(items))
        hi = _at(frame_starts, chunk.end, len(items))
        melody = prefix[_at(prefix_starts, chunk.context, len(prefix)):
                        _at(prefix_starts, chunk.end, len(prefix))]
        sequence = head + melody + [harm] + tokens[lo:hi]
        scored = -token_log_probs(model, sequence)  # bits of tokens 1..
        offset = len(sequence) - (hi - lo)
        for i in range(mid, hi):
            if isinstance(items[i], Slot):
                bits += float(scored[offset + (i - lo) - 1])
    notes = sum(1 for v in (1, 2, 3) for s in states[v] if s not in (HOLD, REST))
    return bits, notes


def _in_range(hv: HarmonyVocab, state: int | str) -> int | str:
    """A state the vocabulary can write (a pitch beyond it moved by octaves)."""
    if state in (HOLD, REST):
        return state
    pitch = int(state)
    while hv.pitch_id[pitch] < 0 and pitch < 64:
        pitch += 12
    while hv.pitch_id[pitch] < 0 and pitch >= 64:
        pitch -= 12
    return pitch


def _at(starts: Sequence[int], bar: int, length: int) -> int:
    return starts[bar] if bar < len(starts) else length


# ---------------------------------------------------------------------- chords


def harmonize_chords(model, hv: HarmonyVocab, tokenizer, melody: Sequence[Note],
                     time_signatures: Sequence[TimeSignature], beats: Sequence[Beat],
                     key: KeySignature, temperature: float = 0.0,
                     rng: np.random.Generator | None = None) -> list[ChordSymbol | None]:
    """A chord (or None) for every beat of ``beats`` (the melody's, from the service)."""
    from composer.ml.sampling import generate

    end = max(n.end_tick for n in melody)
    bars = bar_infos(time_signatures, max(end, beats[-1].end_tick if beats else end))
    check_meters(hv.vocab, bars)
    items, frame_starts = chord_frame_items(hv.vocab, bars, beats, melody)
    prefix, prefix_starts = _melody_prefix(tokenizer, hv.vocab, melody, time_signatures)
    silent = [not beat_pitches(melody, b) for b in beats]
    chords: list[ChordSymbol | None] = [None] * len(beats)
    head = hv.head(key, "Full", "Pop")
    costs = [1 if isinstance(it, int) else 3 for it in items]
    chunks = plan_chunks(prefix_starts, len(prefix), frame_starts, costs, len(head),
                         model.config.block_size)
    harm = hv.vocab.special("Harm")
    for chunk in chunks:
        lo = _at(frame_starts, chunk.context, len(items))
        mid = _at(frame_starts, chunk.start, len(items))
        hi = _at(frame_starts, chunk.end, len(items))
        context: list[int] = []
        for it in items[lo:mid]:
            context += [it] if isinstance(it, int) else chord_tokens(hv.vocab, chords[it.frame])
        prompt = head + prefix[_at(prefix_starts, chunk.context, len(prefix)):
                               _at(prefix_starts, chunk.end, len(prefix))] + [harm] + context
        lead = _forced(items, mid)
        constraint = ChordConstraint(hv, items[mid + len(lead):hi], silent, chords)
        generate(model, prompt + lead, [constraint], temperature=temperature, top_p=TOP_P,
                 seed=_seed_of(rng), max_new_tokens=sum(costs[mid:hi]) + 1, pad=hv.vocab.pad)
    return chords


# ------------------------------------------------------------------------ live


class _LiveDecoder:
    """One row of incremental decoding with the model's cache (KV or recurrent state).

    Tokens are fed as they become known; before a note the cache is rebuilt
    from the head and the recent notes when the key changed or the context
    would overflow during the note.
    """

    HISTORY_NOTES = 24

    def __init__(self, model, hv: HarmonyVocab) -> None:
        self.model = model
        self.hv = hv
        self.block = int(model.config.block_size)
        self.history: deque[list[int]] = deque(maxlen=self.HISTORY_NOTES)
        self.head: list[int] = []
        self.state: Any = None  # the model's cache: a KVCache, or the LSTM's (h, c)
        self.length = 0
        self.pending: list[int] = []

    def clear(self) -> None:
        self.history.clear()
        self.state = None

    def ensure_room(self, head: list[int], tokens: int) -> bool:
        """Rebuild the cache (head + history) if needed for ``tokens`` more; True if rebuilt."""
        if self.state is not None and head == self.head and \
                self.length + len(self.pending) + tokens <= self.block:
            return False
        self.head = head
        self.state = None
        self.length = 0
        self.pending = self.rebuilt(head, tokens)
        return True

    def feed(self, tokens: list[int]) -> np.ndarray:
        """Feed pending tokens plus ``tokens``; returns the logits after the last (V,)."""
        self.pending += tokens
        if self.state is None:
            self.state = self.model.new_state(1)
        logits, self.state = self.feed_rows(self.state, [self.pending])
        self.length += len(self.pending)
        self.pending = []
        return logits[0]

    # Looking ahead: several continuations of the same cache at once, as a batch.

    def rebuilt(self, head: list[int], tokens: int) -> list[int]:
        """The tokens a rebuilt cache starts from: the head and the recent notes that fit."""
        kept: list[list[int]] = []
        room = self.block - len(head) - tokens
        for note in reversed(self.history):  # the most recent notes that fit
            if len(note) > room:
                break
            kept.append(note)
            room -= len(note)
        return list(head) + [t for note in reversed(kept) for t in note]

    def ready_to_branch(self, head: list[int], tokens: int) -> bool:
        """Whether ``ensure_room(head, tokens)`` would keep the cache as it is."""
        return self.state is not None and not self.pending and head == self.head \
            and self.length + tokens <= self.block

    def branch(self, rows: int, tokens: int, state: Any = None) -> Any:
        """A copy of the cache (or of ``state``, one row) for ``rows`` continuations of
        up to ``tokens`` tokens each."""
        from dataclasses import replace

        from composer.ml.model import KVCache

        state = self.state if state is None else state
        if isinstance(state, tuple):  # the LSTM's (h, c), each (layers, 1, H)
            return tuple(part.repeat(1, rows, 1) for part in state)
        # A KV cache just long enough: only the part in use is copied.
        end = state.length + tokens
        branch = KVCache(replace(self.model.config, block_size=end), rows, state.k.device,
                         state.k.dtype)
        branch.k.copy_(state.k[:, :1, :, :end].expand(-1, rows, -1, -1, -1))
        branch.v.copy_(state.v[:, :1, :, :end].expand(-1, rows, -1, -1, -1))
        branch.length = state.length
        return branch

    def fresh(self, tokens: list[int]) -> Any:
        """A new cache holding ``tokens`` (a rebuild, decoded aside)."""
        return self.feed_rows(self.model.new_state(1), [tokens])[1]

    def feed_rows(self, state: Any, tokens: list[list[int]]) -> tuple[np.ndarray, Any]:
        """Feed one list of tokens per row of a branch; the logits after each row's last."""
        import torch

        idx = torch.tensor(tokens, dtype=torch.long)  # (rows, T)
        with torch.no_grad():
            logits, state = self.model.step(idx, state)
        return logits[:, -1].float().numpy(), state

    def adopt(self, state: Any, row: int, fed: int, rebuilt: list[int] | None = None,
              head: list[int] | None = None) -> None:
        """Make ``row`` of a branch the live cache, after ``fed`` tokens it took; a
        branch of a rebuilt cache (``rebuilt`` tokens for ``head``) replaces it whole."""
        if rebuilt is not None:
            assert head is not None
            self.head, self.pending, self.length = head, [], len(rebuilt)
            self.state = self.model.new_state(1)
        start = self.length
        if isinstance(state, tuple):
            self.state = tuple(part[:, row:row + 1].contiguous() for part in state)
        else:
            end = start + fed
            self.state.k[:, :, :, :end] = state.k[:, row:row + 1, :, :end]
            self.state.v[:, :, :, :end] = state.v[:, row:row + 1, :, :end]
            self.state.length = end
        self.length = start + fed


class _KeyFollower:
    """The given key, or one estimated from the notes played: after every note at
    first, then every few notes (a key does not turn on one passing note)."""

    SETTLED_NOTES = 8
    KEY_EVERY = 4

    def __init__(self, key: KeySignature | None) -> None:
        self.key = key
        self.played: deque[int] = deque(maxlen=32)
        self._heard: KeySignature | None = None
        self._since = 0

    def reset(self) -> None:
        self.played.clear()
        self._heard, self._since = None, 0

    def hear(self, pitch: int) -> KeySignature:
        key = self.peek(pitch)
        self.played.append(pitch)
        if self.key is None:
            self._since = 0 if self._estimates(len(self.played)) else self._since + 1
            self._heard = key
        return key

    def peek(self, pitch: int) -> KeySignature:
        """The key ``hear(pitch)`` would give, hearing nothing."""
        if self.key is not None:
            return self.key
        played = [*self.played, pitch][-(self.played.maxlen or 0):]
        if self._heard is not None and not self._estimates(len(played)):
            return self._heard
        from composer.core.pitch import estimate_key

        return estimate_key([Note(pitch=p, start_tick=i, duration_ticks=1)
                             for i, p in enumerate(played)])

    def _estimates(self, played: int) -> bool:
        """Whether the next note is one the key is estimated at."""
        return self._heard is None or played <= self.SETTLED_NOTES \
            or self._since + 1 >= self.KEY_EVERY


def _greedy(logits: np.ndarray, mask: np.ndarray) -> int:
    return int(np.where(mask, logits, -np.inf).argmax())


class ChoraleLiveSession:
    """Alto, tenor and bass for one soprano note at a time (the Live format), greedy,
    under the same voice-leading masks as the full format (no unisons: live, each
    voice should add a note)."""

    NOTE_ROOM = 8  # context kept free before a note (it takes 4 tokens): else rebuilt

    def __init__(self, model, hv: HarmonyVocab, key: KeySignature | None) -> None:
        self.hv = hv
        self.keys = _KeyFollower(key)
        self.decoder = _LiveDecoder(model, hv)
        self.reset()

    def reset(self) -> None:
        self.decoder.clear()
        self.keys.reset()
        self.previous: list[int | None] = [None] * 4
        self._last: list[int] = []
        self._version = 0  # counts notes: an answer decoded ahead is for one version only
        self._ahead: dict[int, _Answer] = {}

    def note_on(self, pitch: int) -> list[int]:
        shift = _octave_shift_into(pitch, *SATB_RANGES["Soprano"])
        soprano = pitch + shift
        head = self.hv.head(self.keys.hear(pitch), "Live")
        answer = self._ahead.get(soprano)
        self._version += 1
        self._ahead = {}
        if answer is not None and answer.head == head:
            self.decoder.adopt(answer.state, answer.row, answer.fed, answer.rebuilt, head)
            return self._settle(answer.tokens, answer.now, pitch, shift)
        if self.decoder.ensure_room(head, self.NOTE_ROOM):
            self._last = []  # the history holds the last note already
        s_token = int(self.hv.pitch_id[soprano])
        logits = self.decoder.feed(self._last + [s_token])
        now: list[int | None] = [soprano, None, None, None]
        tokens = [s_token]
        for voice in (1, 2, 3):
            mask = voice_mask(self.hv, voice, now, self.previous, None, False, live=True)
            token = _greedy(logits, mask)
            tokens.append(token)
            now[voice] = int(self.hv.vocab.values[token])
            if voice < 3:
                logits = self.decoder.feed([token])
        return self._settle(tokens, now, pitch, shift)

    def _settle(self, tokens: list[int], now: list[int | None], pitch: int, shift: int
                ) -> list[int]:
        self._last = [tokens[-1]]
        self.decoder.history.append(tokens)
        self.previous = now
        return sorted({_fold(p - shift) for p in now[1:] if p is not None} - {pitch})

    # The fast path: while a note is held, the answers to every note that may come
    # next are decoded as one batch, so the next note is answered at once. A note
    # is sung as a soprano pitch in the soprano's range, so one row per such pitch
    # covers every MIDI note; the key is found from pitch classes, so the soprano
    # pitch gives the same key as the note.

    def look_ahead_plan(self) -> _LookAhead | None:
        """What decoding ahead needs, copied (call under the session's lock)."""
        low, high = SATB_RANGES["Soprano"]
        heads = {pc: tuple(self.hv.head(self.keys.peek(pc), "Live")) for pc in range(12)}
        groups: dict[tuple[int, ...], list[int]] = {}
        for soprano in range(low, high + 1):
            if self.hv.pitch_id[soprano] >= 0:
                groups.setdefault(heads[soprano % 12], []).append(soprano)
        if not groups:
            return None
        plan = _LookAhead(self._version, list(self.previous), [])
        # The live cache's branch first (the key mostly stays), then the biggest.
        ordered = sorted(groups.items(), key=lambda group: (
            not self.decoder.ready_to_branch(list(group[0]), self.NOTE_ROOM), -len(group[1])))
        for key_head, sopranos in ordered:
            head = list(key_head)
            if self.decoder.ready_to_branch(head, self.NOTE_ROOM):
                last, fed = list(self._last), len(self._last) + 3
                branch = _Branch(head, sopranos, last, None,
                                 self.decoder.branch(len(sopranos), fed))
            else:  # a first note, a new key, a full context: note_on would rebuild it
                rebuilt = self.decoder.rebuilt(head, self.NOTE_ROOM)
                branch = _Branch(head, sopranos, [], rebuilt, None)
            plan.branches.append(branch)
        return plan

    def decode_ahead(self, plan: _LookAhead, cancelled: Callable[[], bool]) -> dict[int, _Answer]:
        """Decode ``plan`` (under the session's lock); what a cancel cuts short is dropped.

        Each branch's answers are offered as soon as it is done, so a note that
        stops the look-ahead still finds those decoded before it came.
        """
        answers: dict[int, _Answer] = {}
        for branch in plan.branches:
            if cancelled():
                break
            decoded = self._decode_branch(branch, plan.previous, cancelled)
            if decoded is None:
                break
            answers.update(decoded)
            self.offer(plan, answers)
        return answers

    def _decode_branch(self, branch: _Branch, previous: list[int | None],
                       cancelled: Callable[[], bool]) -> dict[int, _Answer] | None:
        state, fed = branch.state, len(branch.last) + 3
        if branch.rebuilt is not None:
            state = self.decoder.branch(len(branch.sopranos), fed,
                                        self.decoder.fresh(branch.rebuilt))
        now: list[list[int | None]] = [[soprano, None, None, None] for soprano in branch.sopranos]
        tokens = [[int(self.hv.pitch_id[soprano])] for soprano in branch.sopranos]
        logits, state = self.decoder.feed_rows(state, [branch.last + t for t in tokens])
        for voice in (1, 2, 3):
            if cancelled():
                return None
            chosen = []
            for i, row in enumerate(now):
                mask = voice_mask(self.hv, voice, row, previous, None, False, live=True)
                token = _greedy(logits[i], mask)
                chosen.append(token)
                tokens[i].append(token)
                row[voice] = int(self.hv.vocab.values[token])
            if voice < 3:
                logits, state = self.decoder.feed_rows(state, [[t] for t in chosen])
        return {soprano: _Answer(branch.head, branch.rebuilt, state, i, fed, tokens[i], now[i])
                for i, soprano in enumerate(branch.sopranos)}

    def offer(self, plan: _LookAhead, answers: dict[int, _Answer]) -> bool:
        """Keep answers decoded ahead if no note came meanwhile (call under the lock)."""
        if plan.version != self._version:
            return False
        self._ahead = dict(answers)
        return True


@dataclass
class _Branch:
    """Sopranos decoded from one cache: the live one, or one rebuilt for a new head."""

    head: list[int]
    sopranos: list[int]
    last: list[int]  # tokens fed before the soprano (the last note's bass, if any)
    rebuilt: list[int] | None  # the tokens of a rebuilt cache; None: the live cache
    state: Any  # a branch of the live cache (a rebuilt one is made when decoding)


@dataclass
class _LookAhead:
    """A copy of a live session's state to decode the next notes' answers from."""

    version: int
    previous: list[int | None]
    branches: list[_Branch]


@dataclass
class _Answer:
    """note_on's answer to one soprano pitch, decoded ahead: row ``row`` of ``state``."""

    head: list[int]
    rebuilt: list[int] | None
    state: Any
    row: int
    fed: int
    tokens: list[int]
    now: list[int | None]


class ChordLiveSession:
    """A chord for one melody note at a time (Live format), voiced for a chord track."""

    def __init__(self, model, hv: HarmonyVocab, key: KeySignature | None) -> None:
        self.hv = hv
        self.keys = _KeyFollower(key)
        self.decoder = _LiveDecoder(model, hv)
        self.reset()

    def reset(self) -> None:
        self.decoder.clear()
        self.keys.reset()
        self._voicing: tuple[int, ...] | None = None
        self._last: list[int] = []

    def note_on(self, pitch: int) -> list[int]:
        from composer.analysis.voicing import chord_voicing

        head = self.hv.head(self.keys.hear(pitch), "Live", "Pop")
        if self.decoder.ensure_room(head, 8):
            self._last = []
        low, high = self.hv.vocab.pitch_range
        token = int(self.hv.pitch_id[min(max(pitch, low), high)])
        logits = self.decoder.feed(self._last + [token])
        constraint = ChordConstraint(self.hv, [Slot(0, 0)], [False], [None])
        chosen: list[int] = []
        while not constraint.done:
            choice = _greedy(logits, constraint.allowed())
            constraint.advance(choice)
            chosen.append(choice)
            if not constraint.done:
                logits = self.decoder.feed([choice])
        self._last = [chosen[-1]]
        self.decoder.history.append([token] + chosen)
        chord = constraint.chords[0]
        if chord is None:
            return []
        voicing = chord_voicing(chord, self._voicing, ceiling=pitch)
        self._voicing = voicing
        return sorted({_fold(p) for p in voicing} - {pitch})


def _octave_shift_into(pitch: int, low: int, high: int) -> int:
    shift = 0
    while pitch + shift < low:
        shift += 12
    while pitch + shift > high:
        shift -= 12
    return shift


def _fold(pitch: int) -> int:
    while pitch < 0:
        pitch += 12
    while pitch > 127:
        pitch -= 12
    return pitch

