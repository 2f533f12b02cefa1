"""Token formats of the two harmonisation tasks: chorale (SATB) and chord symbols.

Each task has its own miditok REMI tokenizer (Bar, TimeSig, Position, Pitch
and Duration tokens; 4 positions per beat, enough for sixteenths), saved with
its checkpoints, with special tokens for what REMI has no words for. A
sequence is one of two formats:

    BOS Key [Style] Full <melody, plain REMI> Harm <harmony frames> [EOS]
    BOS Key [Style] Live <for each melody note: its pitch, then its harmony>

*Full* lets the model read the whole melody (the REMI prefix, exactly as
miditok encodes a one-track score) before it writes any harmony. The harmony
frames then walk through the same bars again and put the melody's state at
each frame right before the harmony to be written there, so the model need
not search the prefix for where it is. *Live* carries no time at all: in a
jam a note arrives with a pitch and nothing else, and its harmony must come
at once. One model is trained on a mix of both formats; the mode token says
which one a sequence is.

Chorale frames: one frame per eighth note (and at every soprano onset or rest
that falls between), each ``Position S A T B``, where every voice says
``Pitch_p`` (a note starts), ``Hold`` (what sounded goes on: the note, or the
silence) or ``Rest`` (a rest starts). Durations are implicit (a note lasts to
the voice's next change), so voices can neither overlap nor double up, and a
sampler that knows every voice's pitch at every frame can refuse fifths,
crossings and the rest before they are written. Alto/tenor/bass notes
between eighth-note frames (about 4% of Bach's, mostly sixteenth-note
passing tones) are the price.

Chord frames: one per beat of :func:`composer.analysis.beats.beat_grid` (the
beats the eval and the chord track use), each ``Position <the melody's
pitches sounding in the beat, up to four> Ahead <those of the next beat>
Ahead2 <those of the beat after> <chord>``, the chord being ``ChordRoot_r
ChordQual_q ChordBass_i`` (root pitch class, quality, bass as semitones above
the root) or ``ChordNone``. Chord roots are absolute, so the transposition
augmentation moves them with the notes. The beats ahead are there because a
chord is chosen for where the melody goes as much as where it is, and an LSTM
cannot look that up in the prefix as attention can. A tokenizer shows as many
beats ahead as it has look-ahead tokens (``LOOK_AHEAD``): those made before
``Ahead`` existed (the shipped chord Transformer's) none, those before
``Ahead2`` one; every function here follows the tokenizer it is given.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from composer.analysis.beats import Beat, beat_grid, notes_in
from composer.core.chords import QUALITY_INTERVALS, ChordSymbol
from composer.core.song import PPQ, Note, TimeSignature
from composer.core.timing import BarGrid
from composer.errors import InvalidArgumentError
from composer.io.tokens import Vocabulary, tokenizer_meter

STEPS_PER_BEAT = 4
"""Tokenizer positions per beat of the (shown) meter's denominator."""
FRAME_TICKS = PPQ // 2
"""Chorale frames fall on every eighth note of the bar (plus the soprano's own onsets)."""
MAX_BEAT_PITCHES = 4
"""Melody pitches shown in one chord frame (the rest of a busy beat is in the prefix)."""

_METERS = {16: list(range(1, 17)), 8: list(range(1, 13)), 4: list(range(1, 17))}
_COMMON = ["PAD", "BOS", "EOS", "Full", "Live", "Harm"]

CHORALE_PARAMS: dict[str, Any] = {
    "pitch_range": (28, 100),
    "beat_res": {(0, 4): STEPS_PER_BEAT, (4, 12): 2},
    "use_velocities": False,
    "use_time_signatures": True,
    "use_key_signatures": True,
    "use_pitchdrum_tokens": False,
    "time_signature_range": _METERS,
    "special_tokens": _COMMON + ["Hold", "Rest"],
}

QUALITIES: tuple[str, ...] = tuple(QUALITY_INTERVALS)
CHORDS_PARAMS: dict[str, Any] = {
    **CHORALE_PARAMS,
    "pitch_range": (24, 109),
    "special_tokens": _COMMON + ["StylePop", "StyleChorale", "ChordNone"]
    + [f"ChordRoot_{r}" for r in range(12)] + [f"ChordQual_{q}" for q in QUALITIES]
    + [f"ChordBass_{i}" for i in range(12)] + ["Ahead", "Ahead2"],
}
LOOK_AHEAD: tuple[str, ...] = ("Ahead", "Ahead2")
"""The tokens that open the next beat's and the beat after's pitches in a chord frame."""

SOPRANO, ALTO, TENOR, BASS = range(4)
HOLD, REST = "hold", "rest"


# ------------------------------------------------------------------------ bars


@dataclass(frozen=True, slots=True)
class BarInfo:
    """One bar: where it starts, how long it is, and its meter as the tokenizer sees it."""

    start_tick: int
    length_ticks: int
    meter: TimeSignature

    @property
    def end_tick(self) -> int:
        return self.start_tick + self.length_ticks

    @property
    def unit_ticks(self) -> float:
        """Ticks per tokenizer position."""
        return PPQ * 4 / self.meter.denominator / STEPS_PER_BEAT

    def position(self, tick: int) -> int:
        return round((tick - self.start_tick) / self.unit_ticks)


def bar_infos(time_signatures: Sequence[TimeSignature], end_tick: int) -> list[BarInfo]:
    """Bars from tick 0 to the one holding ``end_tick - 1`` (at least one)."""
    grid = BarGrid(tuple(time_signatures))
    bars: list[BarInfo] = []
    index = 0
    while True:
        start = grid.bar_start_tick(index)
        if start >= end_tick and bars:
            return bars
        bars.append(BarInfo(start, grid.bar_length_ticks(index),
                            tokenizer_meter(grid.meter_at_tick(start))))
        index += 1


def check_meters(vocab: Vocabulary, bars: Sequence[BarInfo]) -> None:
    """InvalidArgumentError for a meter the tokenizer has no token for."""
    for bar in bars:
        if vocab.meter_token(bar.meter) is None:
            raise InvalidArgumentError(
                f"the meter {bar.meter.numerator}/{bar.meter.denominator} is not one the neural "
                "harmony models know",
                "supported: 1/4 to 16/4, 1/8 to 12/8, 1/16 to 16/16; --model hmm takes any meter")


def _bar_of(bars: Sequence[BarInfo], tick: int) -> int:
    starts = [b.start_tick for b in bars]
    return max(0, bisect.bisect_right(starts, tick) - 1)


def snap(bars: Sequence[BarInfo], tick: int) -> int:
    """The nearest tokenizer grid point to ``tick``."""
    bar = bars[_bar_of(bars, tick)]
    return round(bar.start_tick + bar.position(tick) * bar.unit_ticks)


def quantize_line(bars: Sequence[BarInfo], notes: Sequence[Note]) -> list[Note]:
    """A monophonic line with onsets and ends on the tokenizer grid, overlaps trimmed."""
    out: list[Note] = []
    for n in sorted(notes):
        start, end = snap(bars, n.start_tick), snap(bars, n.end_tick)
        if out and out[-1].start_tick == start:
            out.pop()  # two onsets on one grid point: the later note wins
        if out and out[-1].end_tick > start:
            last = out[-1]
            out[-1] = Note(pitch=last.pitch, start_tick=last.start_tick,
                           duration_ticks=start - last.start_tick, velocity=last.velocity)
        if end > start:
            out.append(Note(pitch=n.pitch, start_tick=start, duration_ticks=end - start,
                            velocity=n.velocity))
    return out


# -------------------------------------------------------------- chorale frames


@dataclass(frozen=True)
class FrameGrid:
    """The frames of a chorale: their ticks, bars and positions, and where it ends."""

    bars: tuple[BarInfo, ...]
    ticks: tuple[int, ...]
    bar_of: tuple[int, ...]
    end_tick: int

    def end_of(self, frame: int) -> int:
        return self.ticks[frame + 1] if frame + 1 < len(self.ticks) else self.end_tick

    def frames_in_bar(self, bar: int) -> range:
        lo = bisect.bisect_left(self.bar_of, bar)
        hi = bisect.bisect_right(self.bar_of, bar)
        return range(lo, hi)


def frame_grid(time_signatures: Sequence[TimeSignature], soprano: Sequence[Note]) -> FrameGrid:
    """Frames on the eighth-note grid and at the (quantised) soprano's onsets and rests,
    from its first onset to its last note's end."""
    end = max(n.end_tick for n in soprano)
    bars = bar_infos(time_signatures, end)
    line = quantize_line(bars, soprano)
    if not line:
        raise InvalidArgumentError("the melody has no note long enough to harmonise")
    start, end = line[0].start_tick, line[-1].end_tick
    ticks = {t for bar in bars for t in range(bar.start_tick, bar.end_tick, FRAME_TICKS)}
    ticks |= {n.start_tick for n in line} | {n.end_tick for n in line}
    ordered = sorted(t for t in ticks if start <= t < end)
    return FrameGrid(tuple(bars), tuple(ordered), tuple(_bar_of(bars, t) for t in ordered), end)


def line_states(notes: Sequence[Note], ticks: Sequence[int]) -> list[int | str]:
    """What a monophonic voice does at each frame: a pitch (a note starts), HOLD, or REST.

    The first frame says a pitch or REST, never HOLD.
    """
    ordered = sorted(notes)
    states: list[int | str] = []
    current: Note | None = None
    i = 0
    for k, tick in enumerate(ticks):
        while i < len(ordered) and ordered[i].start_tick <= tick:
            i += 1
        candidate = ordered[i - 1] if i else None
        sounding = candidate if candidate is not None and candidate.end_tick > tick else None
        if sounding is None:
            states.append(HOLD if k and current is None else REST)
        elif sounding is current:
            states.append(HOLD)
        else:
            states.append(sounding.pitch)
        current = sounding
    return states


def state_token(vocab: Vocabulary, state: int | str) -> int:
    if state == HOLD:
        return vocab.special("Hold")
    if state == REST:
        return vocab.special("Rest")
    token = vocab.pitch_token(int(state))
    if token is None:
        raise InvalidArgumentError(f"pitch {state} is outside the chorale model's range")
    return token


def token_state(vocab: Vocabulary, token: int) -> int | str:
    if token == vocab.special("Hold"):
        return HOLD
    if token == vocab.special("Rest"):
        return REST
    return int(vocab.values[token])


@dataclass(frozen=True)
class Slot:
    """A place in a sequence that a voice's state fills: ``frame`` and ``voice``."""

    frame: int
    voice: int


Item = int | Slot
"""A sequence item: a token id, or a slot the model (or the data) fills."""


def chorale_frame_items(vocab: Vocabulary, grid: FrameGrid, soprano_states: Sequence[int | str]
                        ) -> tuple[list[Item], list[int]]:
    """The frame section with the soprano written in and A/T/B slots, and where each
    bar starts in it (one entry per bar of ``grid.bars``)."""
    items: list[Item] = []
    bar_starts: list[int] = []
    bar_token = vocab.ids["Bar_None"]
    for b, bar in enumerate(grid.bars):
        bar_starts.append(len(items))
        items += [bar_token, _meter_token(vocab, bar)]
        for f in grid.frames_in_bar(b):
            items.append(_position_token(vocab, bar, grid.ticks[f]))
            items.append(state_token(vocab, soprano_states[f]))
            items += [Slot(f, ALTO), Slot(f, TENOR), Slot(f, BASS)]
    return items, bar_starts


def states_to_notes(grid: FrameGrid, states: Sequence[int | str], velocity: int = 70
                    ) -> list[Note]:
    """A voice's notes from its state at every frame (a HOLD after a note extends it)."""
    notes: list[Note] = []
    start: int | None = None
    pitch = 0
    for f, state in enumerate(states):
        tick = grid.ticks[f]
        if state == HOLD:
            continue
        if start is not None:
            notes.append(Note(pitch=pitch, start_tick=start, duration_ticks=tick - start,
                              velocity=velocity))
            start = None
        if state != REST:
            start, pitch = tick, int(state)
    if start is not None:
        notes.append(Note(pitch=pitch, start_tick=start, duration_ticks=grid.end_tick - start,
                          velocity=velocity))
    return [n for n in notes if n.duration_ticks > 0]


def sounding_pitches(states: Sequence[int | str]) -> list[int | None]:
    """The pitch a voice sounds at each frame (None while it rests)."""
    out: list[int | None] = []
    current: int | None = None
    for state in states:
        if state == REST:
            current = None
        elif state != HOLD:
            current = int(state)
        out.append(current)
    return out


def chorale_live_tokens(vocab: Vocabulary, voices_states: Sequence[Sequence[int | str]]
                        ) -> list[int]:
    """Live format body: for every soprano onset, the pitches S, A, T, B sound there."""
    sounding = [sounding_pitches(states) for states in voices_states]
    rest = vocab.special("Rest")
    out: list[int] = []
    for f, state in enumerate(voices_states[SOPRANO]):
        if state in (HOLD, REST):
            continue
        for v in range(4):
            pitch = sounding[v][f]
            token = vocab.pitch_token(pitch) if pitch is not None else rest
            out.append(token if token is not None else rest)
    return out


# ----------------------------------------------------------------- chord frames


def chord_beats(time_signatures: Sequence[TimeSignature], melody: Sequence[Note]) -> list[Beat]:
    """The beats chords are written on: first note's beat to the last note's end."""
    return beat_grid(time_signatures, melody[0].start_tick, max(n.end_tick for n in melody))


def beat_pitches(melody: Sequence[Note], beat: Beat) -> list[int]:
    """Melody pitches sounding in a beat, in order, repeats of one pitch merged."""
    out: list[int] = []
    for n in notes_in(melody, beat.start_tick, beat.end_tick):
        if not out or out[-1] != n.pitch:
            out.append(n.pitch)
    return out[:MAX_BEAT_PITCHES]


def chord_frame_items(vocab: Vocabulary, bars: Sequence[BarInfo], beats: Sequence[Beat],
                      melody: Sequence[Note]) -> tuple[list[Item], list[int]]:
    """The frame section with the melody written in and one chord slot per beat
    (``Slot(beat, 0)``), and where each bar starts in it."""
    items: list[Item] = []
    bar_starts: list[int] = []
    bar_token = vocab.ids["Bar_None"]
    # A tokenizer from before a look-ahead token lacks it, and every one after it.
    names = itertools.takewhile(lambda name: name in vocab.ids, (f"{t}_None" for t in LOOK_AHEAD))
    ahead = [vocab.ids[name] for name in names]
    starts = [b.start_tick for b in beats]
    pitch_tokens = [[t for t in map(vocab.pitch_token, beat_pitches(melody, beat)) if t is not None]
                    for beat in beats] + [[]] * len(ahead)  # nothing ahead of the last beat
    for bar in bars:
        bar_starts.append(len(items))
        items += [bar_token, _meter_token(vocab, bar)]
        lo = bisect.bisect_left(starts, bar.start_tick)
        hi = bisect.bisect_left(starts, bar.end_tick)
        for k in range(lo, hi):
            items.append(_position_token(vocab, bar, beats[k].start_tick))
            items += pitch_tokens[k]
            for distance, token in enumerate(ahead, start=1):
                items += [token, *pitch_tokens[k + distance]]
            items.append(Slot(k, 0))
    return items, bar_starts


def chord_tokens(vocab: Vocabulary, chord: ChordSymbol | None) -> list[int]:
    if chord is None:
        return [vocab.special("ChordNone")]
    assert chord.bass_pc is not None
    return [vocab.ids[f"ChordRoot_{chord.root_pc}"], vocab.ids[f"ChordQual_{chord.quality}"],
            vocab.ids[f"ChordBass_{(chord.bass_pc - chord.root_pc) % 12}"]]


def chord_live_tokens(vocab: Vocabulary, melody: Sequence[Note], beats: Sequence[Beat],
                      chords: Sequence[ChordSymbol | None]) -> list[int]:
    """Live format body: for every melody onset, its pitch and the chord of its beat."""
    starts = [b.start_tick for b in beats]
    out: list[int] = []
    for n in melody:
        token = vocab.pitch_token(n.pitch)
        k = bisect.bisect_right(starts, n.start_tick) - 1
        if token is None or k < 0:
            continue
        out.append(token)
        out += chord_tokens(vocab, chords[k])
    return out


# ----------------------------------------------------------------------- helpers


def _meter_token(vocab: Vocabulary, bar: BarInfo) -> int:
    token = vocab.meter_token(bar.meter)
    if token is None:
        check_meters(vocab, [bar])
    assert token is not None
    return token


def _position_token(vocab: Vocabulary, bar: BarInfo, tick: int) -> int:
    position = min(bar.position(tick), _max_position(bar))
    return vocab.ids[f"Position_{position}"]


def _max_position(bar: BarInfo) -> int:
    return bar.meter.numerator * STEPS_PER_BEAT - 1


def bar_token_starts(vocab: Vocabulary, tokens: Sequence[int]) -> list[int]:
    """Indices of the Bar tokens of a REMI stream."""
    bar = vocab.ids["Bar_None"]
    return [i for i, t in enumerate(tokens) if t == bar]
