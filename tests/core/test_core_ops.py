"""Properties of the pure song operations: slice, transpose, shift, quantise,
merge, split and top line. Each property is one that a plausible bug breaks."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from composer.core import ops
from composer.core.song import (
    PPQ,
    ControlChange,
    KeySignature,
    Note,
    Song,
    TempoChange,
    TextEvent,
    TimeSignature,
    Track,
)
from composer.core.timing import BarGrid

SETTINGS = settings(max_examples=200, deadline=None)


def note(start: int, pitch: int, length: int = PPQ, velocity: int = 80) -> Note:
    return Note(pitch=pitch, start_tick=start, duration_ticks=length, velocity=velocity)


def melody(*pairs: tuple[int, int], length: int = PPQ) -> Track:
    """A one-line track builder: melody((0, 60), (480, 62))."""
    return Track("Melody", tuple(note(s, p, length) for s, p in pairs))


# Any notes at all: chords, overlaps, duplicates, same-pitch overlaps.
any_notes = st.lists(
    st.builds(note, st.integers(0, 8 * PPQ), st.integers(30, 100), st.integers(1, 4 * PPQ),
              st.integers(1, 127)),
    max_size=40,
)


@st.composite
def clean_notes(draw, max_size: int = 40) -> list[Note]:
    """Notes where no pitch overlaps itself (the song model's normal state)."""
    raw = draw(any_notes)
    return ops.remove_overlaps(raw[:max_size])


def same_pitch_overlaps(notes) -> bool:
    by_pitch: dict[int, list[Note]] = {}
    for n in sorted(notes):
        by_pitch.setdefault(n.pitch, []).append(n)
    return any(a.end_tick > b.start_tick
               for ns in by_pitch.values() for a, b in zip(ns, ns[1:], strict=False))


def sounding(notes, tick: int) -> list[Note]:
    return [n for n in notes if n.start_tick <= tick < n.end_tick]


def max_polyphony(notes) -> int:
    return max((len(sounding(notes, n.start_tick)) for n in notes), default=0)


# ---------------------------------------------------------------- remove_overlaps


@SETTINGS
@given(any_notes)
def test_remove_overlaps_leaves_no_same_pitch_overlap_and_keeps_every_onset(notes):
    cleaned = ops.remove_overlaps(notes)
    assert not same_pitch_overlaps(cleaned)
    assert {(n.start_tick, n.pitch) for n in cleaned} == {(n.start_tick, n.pitch) for n in notes}
    assert len(cleaned) == len({(n.start_tick, n.pitch) for n in notes})
    assert ops.remove_overlaps(cleaned) == cleaned
    assert cleaned == sorted(cleaned)


def test_remove_overlaps_cuts_at_the_next_start_and_prefers_the_longer_duplicate():
    cleaned = ops.remove_overlaps([note(0, 60, 960), note(480, 60, 480), note(480, 60, 240),
                                   note(0, 64, 100)])
    assert cleaned == [note(0, 60, 480), note(0, 64, 100), note(480, 60, 480)]


# ---------------------------------------------------------------- transpose


@SETTINGS
@given(clean_notes(), st.integers(-24, 24), st.integers(-7, 7), st.sampled_from(["major", "minor"]))
def test_transpose_moves_pitches_and_key_but_not_drums(notes, semitones, fifths, mode):
    pitched = Track("Piano", tuple(notes))
    drums = Track("Kit", tuple(notes), channel=9)
    song = Song(tracks=(pitched, drums), keys=(KeySignature(0, fifths, mode),))
    moved = ops.transpose(song, semitones)
    assert [n.pitch for n in moved.tracks[0].notes] == [n.pitch + semitones for n in notes]
    assert [n.start_tick for n in moved.tracks[0].notes] == [n.start_tick for n in notes]
    assert moved.tracks[1] == drums
    key = moved.keys[0]
    assert key.tonic_pc == (song.keys[0].tonic_pc + semitones) % 12
    assert key.mode == mode
    assert -6 <= key.fifths <= 6 or semitones % 12 == 0
    assert ops.transpose(moved, -semitones).tracks == song.tracks


def test_transpose_by_octaves_keeps_the_key_spelling():
    song = Song(keys=(KeySignature(0, -7, "major"),))
    assert ops.transpose(song, 12).keys == song.keys
    assert ops.transpose(song, 0).keys == song.keys
    assert ops.transpose(song, 1).keys[0].name == "C major"


def test_transpose_out_of_range_raises():
    with pytest.raises(ValueError, match="outside MIDI"):
        ops.transpose(Song(tracks=(melody((0, 120)),)), 12)


# ---------------------------------------------------------------- shift and slice


@SETTINGS
@given(clean_notes(), st.integers(0, 4 * PPQ))
def test_shift_there_and_back(notes, ticks):
    song = Song(
        tracks=(Track("A", tuple(notes), controls=(ControlChange(10, 64, 127),),
                      texts=(TextEvent(5, "x"),)),),
        tempos=(TempoChange(0, 500_000), TempoChange(960, 400_000)),
        time_signatures=(TimeSignature(0, 3, 4), TimeSignature(1440, 2, 4)),
        markers=(TextEvent(0, "Intro", "marker"),),
    )
    moved = ops.shift(song, ticks)
    assert [n.start_tick for n in moved.tracks[0].notes] == [n.start_tick + ticks for n in notes]
    assert moved.tempos[0].tick == 0 and moved.tempos[1].tick == 960 + ticks
    assert ops.shift(moved, -ticks) == song


def test_shift_earlier_lets_the_latest_change_take_tick_zero():
    song = Song(tracks=(melody((960, 60)),),
                tempos=(TempoChange(0, 500_000), TempoChange(480, 400_000),
                        TempoChange(1440, 300_000)))
    moved = ops.shift(song, -960)
    assert moved.tempos == (TempoChange(0, 400_000), TempoChange(480, 300_000))
    with pytest.raises(ValueError):
        ops.shift(song, -961)


@st.composite
def metered_songs(draw) -> Song:
    """A song with one or two meters (the change on a bar line) and a key change."""
    first = TimeSignature(0, draw(st.integers(1, 7)), draw(st.sampled_from([2, 4, 8])))
    meters = [first]
    if draw(st.booleans()):
        bars = draw(st.integers(1, 4))
        meters.append(TimeSignature(bars * first.bar_ticks, draw(st.integers(1, 7)),
                                    draw(st.sampled_from([4, 8]))))
    notes = draw(clean_notes())
    return Song(tracks=(Track("A", tuple(notes)), Track("B", tuple(notes[::2]), channel=1)),
                time_signatures=tuple(meters),
                keys=(KeySignature(0, 0), KeySignature(3 * PPQ, 2)),
                tempos=(TempoChange(0, 500_000), TempoChange(2 * PPQ, 600_000)))


@SETTINGS
@given(metered_songs(), st.integers(0, 6), st.integers(0, 6))
def test_slice_bars_keeps_exactly_what_sounds_in_the_bars(song, first_bar, extra):
    last_bar = first_bar + extra
    grid = BarGrid.of(song)
    start, end = grid.bar_start_tick(first_bar), grid.bar_start_tick(last_bar + 1)
    part = ops.slice_bars(song, first_bar, last_bar)
    for original, sliced in zip(song.tracks, part.tracks, strict=True):
        expected = []
        for n in original.notes:
            begin, finish = max(n.start_tick, start), min(n.end_tick, end)
            if finish > begin:
                expected.append((begin - start, n.pitch, finish - begin, n.velocity))
        assert sorted(expected) == [(n.start_tick, n.pitch, n.duration_ticks, n.velocity)
                                    for n in sliced.notes]
        assert all(n.start_tick >= 0 and n.end_tick <= end - start for n in sliced.notes)
    # What was in force at the first bar is in force at the slice's tick 0.
    assert part.time_signatures[0] == replace(song.time_signature_at(start), tick=0)
    assert part.tempos[0].us_per_quarter == song.tempo_at(start).us_per_quarter
    assert part.keys[0].fifths == song.key_at(start).fifths
    # The slice is whole bars of the meters that were there.
    assert BarGrid.of(part).bar_start_tick(extra + 1) == end - start


@SETTINGS
@given(metered_songs(), st.integers(1, 5))
def test_slices_put_back_together_give_the_song(song, cut_bar):
    grid = BarGrid.of(song)
    end_bar = max(grid.bars_to_cover(song.end_tick), cut_bar + 1)
    head = ops.slice_bars(song, 0, cut_bar - 1)
    tail = ops.slice_bars(song, cut_bar, end_bar)
    offset = grid.bar_start_tick(cut_bar)
    for whole, a, b in zip(song.tracks, head.tracks, tail.tracks, strict=True):
        pieces = list(a.notes) + [replace(n, start_tick=n.start_tick + offset) for n in b.notes]
        # Notes crossing the cut come back as two pieces that join up.
        joined = Counter()
        for n in pieces:
            joined[(n.pitch, n.velocity)] += n.duration_ticks
        expected = Counter()
        for n in whole.notes:
            expected[(n.pitch, n.velocity)] += n.duration_ticks
        assert joined == expected


def test_slice_rejects_empty_ranges():
    with pytest.raises(ValueError):
        ops.slice_bars(Song(), 3, 2)
    with pytest.raises(ValueError):
        ops.slice_ticks(Song(), 480, 480)


# ---------------------------------------------------------------- quantise

grids = st.sampled_from([60, 120, 160, 240, 480])


@SETTINGS
@given(clean_notes(), grids)
def test_full_quantise_puts_every_start_on_the_grid_within_half_a_step(notes, grid):
    done = ops.quantise_track(Track("A", tuple(notes)), grid)
    assert all(n.start_tick % grid == 0 for n in done.notes)
    assert all(n.duration_ticks >= grid and n.duration_ticks % grid == 0 for n in done.notes)
    assert not same_pitch_overlaps(done.notes)
    assert len(done.notes) <= len(notes)  # notes landing on one step merge
    for n in notes:
        assert any(q.pitch == n.pitch and abs(q.start_tick - n.start_tick) <= grid // 2
                   for q in done.notes)
    assert ops.quantise_track(done, grid) == done


def nearest_grid_point(tick: int, grid: int) -> int:
    return (tick + grid // 2) // grid * grid  # halfway goes to the later point


@SETTINGS
@given(clean_notes(), grids, st.sampled_from([0.25, 0.5, 0.75]))
def test_partial_strength_moves_starts_part_of_the_way(notes, grid, strength):
    one_per_pitch = {n.pitch: n for n in notes}  # so each note can be followed
    track = Track("A", tuple(sorted(one_per_pitch.values())))
    done = ops.quantise_track(track, grid, strength=strength, quantise_ends=False)
    assert len(done.notes) == len(track.notes)
    for q in done.notes:
        original = one_per_pitch[q.pitch]
        target = nearest_grid_point(original.start_tick, grid)
        low, high = sorted((original.start_tick, target))
        assert low <= q.start_tick <= high
        distance = abs(original.start_tick - target)
        assert abs(q.start_tick - target) <= (1 - strength) * distance + 0.5
        assert q.duration_ticks == original.duration_ticks


def test_zero_strength_changes_nothing():
    track = melody((13, 60), (500, 62), (977, 64))
    assert ops.quantise_track(track, 240, strength=0.0) == track


@SETTINGS
@given(clean_notes(), st.sampled_from([120, 240]), st.floats(0.05, 0.9))
def test_swing_puts_off_beats_late(notes, grid, swing):
    done = ops.quantise_track(Track("A", tuple(notes)), grid, swing=swing)
    late = round(swing * grid)
    for n in done.notes:
        step, rest = divmod(n.start_tick, grid)
        # On-beats (even steps) sit on the grid; off-beats sit ``late`` ticks after it.
        assert (step % 2 == 0 and rest == 0) or (step % 2 == 1 and rest == late), n


def test_swing_snaps_to_the_nearest_swung_point():
    # Sixteenth grid, heavy swing: the off-beat point is 240 + 144 = 384.
    track = melody((380, 60), (470, 64), (100, 67), length=60)
    done = ops.quantise_track(track, 240, swing=0.6, quantise_ends=False)
    assert [(n.start_tick, n.pitch) for n in done.notes] == [(0, 67), (384, 60), (480, 64)]


def test_swung_eighths_with_triplet_feel():
    straight = melody((0, 60), (240, 62), (480, 64), (720, 65), length=200)
    swung = ops.quantise_track(straight, 240, swing=1 / 3, quantise_ends=False)
    assert [n.start_tick for n in swung.notes] == [0, 320, 480, 800]


def test_quantise_rejects_bad_settings():
    track = melody((0, 60))
    for kwargs in ({"grid_ticks": 0}, {"grid_ticks": 240, "strength": 1.5},
                   {"grid_ticks": 240, "swing": 1.0}, {"grid_ticks": 240, "swing": -0.1}):
        with pytest.raises(ValueError):
            ops.quantise_track(track, **kwargs)


# ---------------------------------------------------------------- merge and split


@SETTINGS
@given(clean_notes(), clean_notes())
def test_merge_tracks_holds_every_note_once(a, b):
    one, two = Track("A", tuple(a), program=5, channel=2), Track("B", tuple(b), channel=3)
    merged = ops.merge_tracks([one, two], name="Both")
    assert (merged.name, merged.program, merged.channel) == ("Both", 5, 2)
    assert merged.notes == tuple(ops.remove_overlaps(a + b))
    assert not same_pitch_overlaps(merged.notes)


def test_merge_of_disjoint_parts_is_their_union():
    high, low = melody((0, 72), (480, 74)), melody((0, 48), (480, 50))
    assert ops.merge_tracks([high, low]).notes == tuple(sorted(high.notes + low.notes))
    with pytest.raises(ValueError):
        ops.merge_tracks([])


@SETTINGS
@given(clean_notes(), st.integers(0, 127))
def test_split_by_pitch_partitions_the_notes(notes, split):
    upper, lower = ops.split_by_pitch(Track("Piano", tuple(notes)), split)
    assert all(n.pitch >= split for n in upper.notes)
    assert all(n.pitch < split for n in lower.notes)
    assert sorted(upper.notes + lower.notes) == sorted(notes)
    assert (upper.name, lower.name) == ("Piano (upper)", "Piano (lower)")


@SETTINGS
@given(clean_notes())
def test_split_voices_gives_monophonic_voices_holding_every_note(notes):
    voices = ops.split_voices(Track("Choir", tuple(notes)), max_voices=64)
    assert all(ops.is_monophonic(v) for v in voices)
    assert sorted(n for v in voices for n in v.notes) == sorted(notes)
    assert len(voices) == max_polyphony(notes)
    means = [sum(n.pitch for n in v.notes) / len(v.notes) for v in voices]
    assert means == sorted(means, reverse=True)


def test_split_voices_of_a_chorale_texture():
    chords = [(0, (72, 67, 64, 48)), (480, (74, 67, 65, 47)), (960, (72, 67, 64, 48))]
    track = Track("Organ", tuple(sorted(note(t, p) for t, ps in chords for p in ps)))
    voices = ops.split_voices(track)
    assert [[n.pitch for n in v.notes] for v in voices] == [
        [72, 74, 72], [67, 67, 67], [64, 65, 64], [48, 47, 48]]


def test_split_voices_beyond_the_limit_cuts_but_stays_monophonic():
    notes = [note(0, 60, 960), note(0, 64, 960), note(480, 67, 480)]
    voices = ops.split_voices(Track("X", tuple(notes)), max_voices=2)
    assert len(voices) == 2
    assert all(ops.is_monophonic(v) for v in voices)
    assert {n.pitch for v in voices for n in v.notes} == {60, 64, 67}


@SETTINGS
@given(clean_notes())
def test_top_line_is_monophonic_and_takes_the_highest_note_of_each_onset(notes):
    line = ops.top_line(Track("Piano", tuple(notes)))
    assert ops.is_monophonic(line)
    originals = {(n.start_tick, n.pitch): n for n in notes}
    for n in line.notes:
        source = originals[(n.start_tick, n.pitch)]
        assert n.duration_ticks <= source.duration_ticks
        assert n.pitch == max(m.pitch for m in notes if m.start_tick == n.start_tick)
    if notes:
        first = min(n.start_tick for n in notes)
        assert line.notes[0].start_tick == first


@SETTINGS
@given(st.lists(st.tuples(st.integers(1, 4), st.lists(st.integers(40, 90), min_size=1, max_size=4,
                                                      unique=True)), max_size=12))
def test_top_line_of_block_chords_is_their_top_notes(blocks):
    notes, tops, tick = [], [], 0
    for beats, pitches in blocks:
        notes += [note(tick, p, beats * PPQ) for p in pitches]
        tops.append(note(tick, max(pitches), beats * PPQ))
        tick += beats * PPQ
    assert list(ops.top_line(Track("P", tuple(sorted(notes)))).notes) == tops


def test_top_line_drops_a_lower_note_hidden_under_a_held_one():
    track = Track("P", (note(0, 72, 960), note(240, 60, 240), note(480, 76, 240)))
    assert [(n.start_tick, n.pitch, n.duration_ticks) for n in ops.top_line(track).notes] == [
        (0, 72, 480), (480, 76, 240)]


@SETTINGS
@given(any_notes)
def test_is_monophonic_agrees_with_pairwise_check(notes):
    pairwise = all(a.end_tick <= b.start_tick or b.end_tick <= a.start_tick
                   for i, a in enumerate(notes) for b in notes[i + 1:])
    assert ops.is_monophonic(Track("A", tuple(notes))) == pairwise


def test_set_tempo_and_meter():
    song = Song(tempos=(TempoChange(0, 500_000), TempoChange(960, 400_000)))
    assert ops.set_tempo(song, 90).tempos == (TempoChange(0, 666_667),)
    assert ops.set_meter(song, 7, 8).time_signatures == (TimeSignature(0, 7, 8),)
