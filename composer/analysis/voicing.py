"""Rule-based voicing: chords per beat become alto, tenor and bass lines, or a
playable chord track, by the voice-leading rules the analysis counts.

SATB: for every beat, every alto/tenor/bass combination of chord tones that is
in range, uncrossed, spaced within an octave above the tenor and complete
(root, third, and the seventh or the altered fifth where the chord has one) is
a candidate, with a cost for its inversion, doubling and tessitura; moving from
one candidate to the next costs its motion (steps cheap, leaps dear), and
heavily for parallel fifths and octaves (contrary motion included), overlaps,
hidden octaves in the outer voices, an unresolved leading tone or seventh.
Dynamic programming finds the cheapest path through all beats, so a choice
early on can serve a cadence later. The live harmoniser takes the cheapest
next step from where it is (greedy), which needs no future.

Chord tracks: a bass note on the chord's bass plus three upper notes in close
(within an octave) or open (drop-2) position, each chord voiced nearest to
the previous one and kept under the melody where the range allows.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from composer.analysis.beats import Beat, notes_in, sounding_note
from composer.analysis.voice_leading import SATB_RANGES
from composer.core.chords import QUALITY_INTERVALS, ChordSymbol
from composer.core.song import Note

ATB = ("Alto", "Tenor", "Bass")
_CENTRES = np.array([64.0, 57.0, 48.0])  # comfortable middle of alto, tenor, bass
_PAIRS = list(itertools.combinations(range(4), 2))  # voice pairs of S, A, T, B

PARALLEL_COST = 60.0
OVERLAP_COST = 6.0
HIDDEN_COST = 4.0
LEADING_TONE_COST = (3.0, 3.0, 8.0)  # alto, tenor, bass
SEVENTH_COST = 3.0


@dataclass(frozen=True, slots=True)
class VoicingBeat:
    """What one beat asks of the voicing: its chord and the soprano around it."""

    chord: ChordSymbol | None
    soprano_first: int | None  # the soprano on the beat; None makes the lower voices rest
    soprano_last: int | None  # the soprano at the end of the beat, which the next beat moves from


def _dominant_of(first: ChordSymbol, second: ChordSymbol) -> bool:
    if second.quality not in ("maj", "min"):
        return False
    if first.quality in ("maj", "7"):
        return (first.root_pc - second.root_pc) % 12 == 7
    if first.triad == "dim":
        return (second.root_pc - first.root_pc) % 12 == 1
    return False


@functools.lru_cache(maxsize=4096)
def candidates(chord: ChordSymbol, soprano: int, strict: bool = True
               ) -> tuple[np.ndarray, np.ndarray]:
    """All alto/tenor/bass voicings of ``chord`` under ``soprano`` and their own cost.

    Returns (pitches (N, 3) in A, T, B order, cost (N,)). ``strict=False``
    relaxes range, spacing and completeness for a soprano no rule can serve.
    Results are cached (the live harmoniser meets the same few again and again)
    and must not be modified.
    """
    intervals = QUALITY_INTERVALS[chord.quality]
    tones = [(chord.root_pc + i) % 12 for i in intervals]
    required = {tones[0], tones[1]}
    if len(tones) > 3:
        required.add(tones[3])
    if intervals[2] != 7:
        required.add(tones[2])
    widen = 0 if strict else 5
    ranges = [SATB_RANGES[v] for v in ATB]

    def options(voice: int) -> list[int]:
        low, high = ranges[voice]
        return [p for p in range(low - widen, high + widen + 1) if p % 12 in tones]

    rows, costs = [], []
    for bass in options(2):
        if bass >= soprano:
            continue
        for tenor in options(1):
            if not bass <= tenor < soprano:
                continue
            for alto in options(0):
                if not tenor <= alto <= soprano:
                    continue
                if strict and (soprano - alto > 12 or alto - tenor > 12):
                    continue
                pcs = [soprano % 12, alto % 12, tenor % 12, bass % 12]
                if strict and not required <= set(pcs):
                    continue
                rows.append((alto, tenor, bass))
                costs.append(_static_cost(chord, tones, pcs, soprano, alto, tenor, bass))
    if not rows:
        if strict:
            return candidates(chord, soprano, strict=False)
        return _fallback(chord, soprano)
    return np.array(rows, dtype=np.int64), np.array(costs)


def _static_cost(chord: ChordSymbol, tones: list[int], pcs: list[int], soprano: int, alto: int,
                 tenor: int, bass: int) -> float:
    cost = 0.0
    bass_pc = bass % 12
    if bass_pc != tones[0]:
        position = tones.index(bass_pc)
        cost += (1.5, 4.0, 2.5)[position - 1]  # first inversion, second, third
    counts = {pc: pcs.count(pc) for pc in set(pcs)}
    for pc, n in counts.items():
        if n < 2 or pc not in tones:
            continue
        role = tones.index(pc)
        extra = n - 1
        if role == 0:
            cost += 0.3 * (extra - 1) if extra > 1 else 0.0
        elif role == 1:
            # a doubled major third is the leading tone of a dominant: worst
            cost += extra * (3.0 if chord.quality in ("maj", "7") else 1.5)
        elif role == 2:
            cost += extra * 0.8
        else:
            cost += extra * 5.0
    if len(tones) == 3 and tones[2] not in pcs:
        cost += 1.0
    if tenor - bass > 19:
        cost += 1.0
    cost += 2.5 * ((alto == soprano) + (alto == tenor) + (tenor == bass))  # unisons thin the chord
    centres = np.abs(np.array([alto, tenor, bass]) - _CENTRES)
    return cost + 0.03 * float(centres.sum())


def _fallback(chord: ChordSymbol, soprano: int) -> tuple[np.ndarray, np.ndarray]:
    """Chord tones stacked downwards under the soprano: always possible."""
    voices = []
    ceiling = soprano
    for tone in (chord.pitch_classes[min(2, len(chord.pitch_classes) - 1)], chord.pitch_classes[1],
                 chord.bass_pc if chord.bass_pc is not None else chord.root_pc):
        pitch = ceiling - 1
        while pitch % 12 != tone:
            pitch -= 1
        pitch = max(pitch, 0)
        voices.append(pitch)
        ceiling = pitch
    return np.array([voices], dtype=np.int64), np.array([20.0])


def transition_costs(prev: np.ndarray, prev_soprano: int, prev_chord: ChordSymbol,
                     cur: np.ndarray, cur_soprano: int, cur_chord: ChordSymbol) -> np.ndarray:
    """(M, N) cost of moving from each previous A/T/B voicing to each current one."""
    m, n = len(prev), len(cur)
    before = np.concatenate([np.full((m, 1), prev_soprano), prev], axis=1)[:, None, :]  # (M, 1, 4)
    after = np.concatenate([np.full((n, 1), cur_soprano), cur], axis=1)[None, :, :]  # (1, N, 4)
    motion = after - before  # (M, N, 4)
    dist = np.abs(motion)
    inner = dist[..., 1:3]
    cost = (0.3 * inner + 2.0 * (inner > 4) + 4.0 * (inner > 7) + 10.0 * (inner > 12)).sum(axis=-1)
    bass = dist[..., 3]
    cost += 0.1 * bass + 1.5 * ((bass > 7) & (bass != 12)) + 6.0 * (bass > 12)
    moved = dist > 0
    for i, j in _PAIRS:
        was = np.abs(before[..., i] - before[..., j]) % 12
        now = np.abs(after[..., i] - after[..., j]) % 12
        parallel = moved[..., i] & moved[..., j] & (was == now) & ((now == 0) | (now == 7))
        cost += PARALLEL_COST * parallel
    # Hidden fifths/octaves: the outer voices move the same way into a perfect
    # interval with the soprano leaping.
    outer = np.abs(after[..., 0] - after[..., 3]) % 12
    similar = np.sign(motion[..., 0]) * np.sign(motion[..., 3]) > 0
    cost += HIDDEN_COST * (similar & ((outer == 0) | (outer == 7)) & (dist[..., 0] > 2))
    for upper in range(3):
        lower = upper + 1
        overlap = (moved[..., lower] & (after[..., lower] > before[..., upper])) | \
                  (moved[..., upper] & (after[..., upper] < before[..., lower]))
        cost += OVERLAP_COST * overlap
    if _dominant_of(prev_chord, cur_chord):
        leading, tonic = (cur_chord.root_pc - 1) % 12, cur_chord.root_pc
        for v in range(3):
            had = (before[..., v + 1] % 12) == leading
            resolved = (after[..., v + 1] % 12) == tonic
            falls_to_fifth = (motion[..., v + 1] == -4) & (v < 2)
            cost += LEADING_TONE_COST[v] * (had & ~resolved & ~falls_to_fifth)
    intervals = QUALITY_INTERVALS[prev_chord.quality]
    if len(intervals) > 3 and prev_chord != cur_chord:
        seventh = (prev_chord.root_pc + intervals[3]) % 12
        for v in range(3):
            had = (before[..., v + 1] % 12) == seventh
            down_step = (motion[..., v + 1] < 0) & (motion[..., v + 1] >= -2)
            cost += SEVENTH_COST * (had & ~down_step)
    return cost


def voice_satb(beats: Sequence[VoicingBeat], rng: np.random.Generator | None = None,
               noise: float = 0.0) -> list[tuple[int, int, int] | None]:
    """Alto, tenor and bass pitches for every beat (None where the lower voices rest).

    ``noise`` adds that much random cost (standard deviation) to each candidate,
    so variations of one chord sequence can differ in voicing.
    """
    result: list[tuple[int, int, int] | None] = [None] * len(beats)
    segment: list[int] = []
    for i, beat in enumerate(beats):
        if beat.chord is None or beat.soprano_first is None:
            _solve_segment(beats, segment, result, rng, noise)
            segment = []
        else:
            segment.append(i)
    _solve_segment(beats, segment, result, rng, noise)
    return result


def _solve_segment(beats: Sequence[VoicingBeat], indices: list[int],
                   result: list[tuple[int, int, int] | None], rng: np.random.Generator | None,
                   noise: float) -> None:
    if not indices:
        return
    cands: list[np.ndarray] = []
    totals: list[np.ndarray] = []
    backs: list[np.ndarray] = []
    for k, i in enumerate(indices):
        beat = beats[i]
        assert beat.chord is not None and beat.soprano_first is not None
        rows, static = candidates(beat.chord, beat.soprano_first)
        if rng is not None and noise > 0:
            static = static + rng.normal(0.0, noise, size=len(static))
        if k == 0:
            total = static
            back = np.zeros(len(rows), dtype=np.int64)
        else:
            prev_beat = beats[indices[k - 1]]
            assert prev_beat.chord is not None
            prev_soprano = prev_beat.soprano_last if prev_beat.soprano_last is not None \
                else prev_beat.soprano_first
            assert prev_soprano is not None
            moves = transition_costs(cands[-1], prev_soprano, prev_beat.chord, rows,
                                     beat.soprano_first, beat.chord)
            through = totals[-1][:, None] + moves  # (M, N)
            back = through.argmin(axis=0)
            total = through.min(axis=0) + static
        cands.append(rows)
        totals.append(total)
        backs.append(back)
    choice = int(totals[-1].argmin())
    for k in range(len(indices) - 1, -1, -1):
        alto, tenor, bass = (int(x) for x in cands[k][choice])
        result[indices[k]] = (alto, tenor, bass)
        choice = int(backs[k][choice])


def next_voicing(chord: ChordSymbol, soprano: int, previous: tuple[int, int, int] | None,
                 previous_soprano: int | None, previous_chord: ChordSymbol | None
                 ) -> tuple[int, int, int]:
    """The cheapest alto/tenor/bass for one more beat, given where the voices are (greedy).

    Unisons are left out where possible: live, each voice should add a note.
    """
    rows, static = candidates(chord, soprano)
    distinct = (rows[:, 0] != soprano) & (rows[:, 0] != rows[:, 1]) & (rows[:, 1] != rows[:, 2])
    if distinct.any():
        rows, static = rows[distinct], static[distinct]
    total = static
    if previous is not None and previous_soprano is not None and previous_chord is not None:
        moves = transition_costs(np.array([previous]), previous_soprano, previous_chord, rows,
                                 soprano, chord)[0]
        total = static + moves
    alto, tenor, bass = (int(x) for x in rows[int(total.argmin())])
    return alto, tenor, bass


def satb_beats(beats: Sequence[Beat], chords: Sequence[ChordSymbol | None],
               soprano: Sequence[Note]) -> list[VoicingBeat]:
    """The voicing's view of each beat: chord, soprano on the beat and at its end."""
    out = []
    for beat, chord in zip(beats, chords, strict=True):
        inside = notes_in(soprano, beat.start_tick, beat.end_tick)
        first = sounding_note(soprano, beat.start_tick) or (inside[0] if inside else None)
        last = inside[-1] if inside else None
        out.append(VoicingBeat(chord, first.pitch if first else None, last.pitch if last else None))
    return out


def voices_to_notes(beats: Sequence[Beat], chords: Sequence[ChordSymbol | None],
                    voicing: Sequence[tuple[int, int, int] | None], soprano: Sequence[Note],
                    velocity: int = 70) -> tuple[list[Note], list[Note], list[Note]]:
    """Alto, tenor and bass notes: one per beat, tied over while pitch and chord stay,
    and stopped with the soprano where a phrase ends inside a beat."""
    parts: tuple[list[Note], list[Note], list[Note]] = ([], [], [])
    for k, (beat, chord, pitches) in enumerate(zip(beats, chords, voicing, strict=True)):
        if pitches is None:
            continue
        end = beat.end_tick
        if sounding_note(soprano, beat.end_tick - 1) is None:
            inside = notes_in(soprano, beat.start_tick, beat.end_tick)
            if inside:
                end = max(beat.start_tick + 1, inside[-1].end_tick)
        for v, pitch in enumerate(pitches):
            line = parts[v]
            tie = (k > 0 and line and line[-1].end_tick == beat.start_tick
                   and line[-1].pitch == pitch and chords[k - 1] == chord)
            if tie:
                last = line[-1]
                line[-1] = Note(pitch=pitch, start_tick=last.start_tick,
                                duration_ticks=end - last.start_tick, velocity=last.velocity)
            else:
                line.append(Note(pitch=pitch, start_tick=beat.start_tick,
                                 duration_ticks=end - beat.start_tick, velocity=velocity))
    return parts


# ------------------------------------------------------------------ chord tracks

BASS_RANGE = (36, 52)  # C2-E3
UPPER_RANGE = (52, 79)  # E3-G5


def chord_voicing(chord: ChordSymbol, previous: tuple[int, ...] | None, ceiling: int | None,
                  position: str = "close") -> tuple[int, ...]:
    """Bass plus three upper notes for ``chord``, nearest to ``previous`` and under ``ceiling``.

    ``position`` 'close' keeps the upper notes within an octave; 'open' drops
    the middle one an octave (drop-2), spreading them over more than an octave.
    """
    if position not in ("close", "open"):
        raise ValueError(f"voicing position {position!r} is neither 'close' nor 'open'")
    tones = list(chord.pitch_classes)
    bass_pc = chord.bass_pc if chord.bass_pc is not None else chord.root_pc
    # Triads: all three tones above the bass; sevenths: the three that the bass leaves.
    upper_pcs = [pc for pc in tones if pc != bass_pc][:3] if len(tones) >= 4 else tones
    bass_options = [p for p in range(BASS_RANGE[0], BASS_RANGE[1] + 1) if p % 12 == bass_pc]
    prev_bass = previous[0] if previous else 43
    bass = min(bass_options, key=lambda p: (abs(p - prev_bass), p))
    best: tuple[float, tuple[int, ...]] | None = None
    low, high = UPPER_RANGE
    for order in itertools.permutations(upper_pcs):
        for base in range(low, high + 1):
            if base % 12 != order[0]:
                continue
            stack = [base]
            for pc in order[1:]:
                nxt = stack[-1] + 1
                while nxt % 12 != pc:
                    nxt += 1
                stack.append(nxt)
            if stack[-1] - stack[0] >= 12:
                continue  # not a close position
            if position == "open":
                if stack[1] - 12 <= bass:
                    continue  # the dropped note would sink under the bass
                stack = sorted([stack[0], stack[1] - 12, stack[2]])
            if stack[0] <= bass or stack[-1] > high:
                continue
            if previous:
                cost = float(sum(abs(a - b) for a, b in zip(sorted(previous[1:]), stack,
                                                            strict=False)))
            else:
                cost = abs(sum(stack) / 3 - 62)
            if ceiling is not None and stack[-1] >= ceiling:
                cost += 20 + 2 * (stack[-1] - ceiling)  # over the melody only when it lies low
            if best is None or cost < best[0]:
                best = (cost, tuple(stack))
    # The lowest close stack of any order starts at E3 or just above, over any bass, and
    # ends below G5, so there is always a candidate.
    assert best is not None
    return (bass, *best[1])


def chord_track_notes(beats: Sequence[Beat], chords: Sequence[ChordSymbol | None],
                      melody: Sequence[Note], position: str = "close", velocity: int = 64
                      ) -> list[Note]:
    """Notes of a chord track: each chord held until it changes, struck again each bar."""
    notes: list[Note] = []
    previous: tuple[int, ...] | None = None
    k = 0
    while k < len(beats):
        chord = chords[k]
        end = k + 1
        while end < len(beats) and chords[end] == chord and beats[end].bar == beats[k].bar:
            end += 1
        if chord is not None:
            start_tick, end_tick = beats[k].start_tick, beats[end - 1].end_tick
            above = notes_in(melody, start_tick, end_tick)
            ceiling = min((n.pitch for n in above), default=None)
            voicing = chord_voicing(chord, previous, ceiling, position)
            notes += [Note(pitch=p, start_tick=start_tick, duration_ticks=end_tick - start_tick,
                           velocity=velocity) for p in voicing]
            previous = voicing
        k = end
    return notes
