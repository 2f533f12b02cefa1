"""Hypothesis strategies for whole songs, in the canonical form the readers return.

Canonical means: every tuple sorted (notes, controls, bends, texts, markers),
no two notes of one pitch overlapping in a track, conductor events one per
tick, names non-empty without surrounding spaces (readers strip those).
"""

from __future__ import annotations

from hypothesis import strategies as st

from composer.core.song import (
    TEXT_KINDS,
    ControlChange,
    KeySignature,
    Note,
    PitchBend,
    Song,
    TempoChange,
    TextEvent,
    TimeSignature,
    Track,
)

ticks = st.integers(0, 20_000)
# Any text a person might type, minus lone surrogates (not encodable at all).
any_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=16)
names = any_text.map(str.strip).map(lambda s: s.strip("\x00").strip()).filter(bool)
# What every MIDI reader decodes alike (others read meta text as latin-1).
ascii_names = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1,
                      max_size=16).map(str.strip).filter(bool)
text_kinds = st.sampled_from(TEXT_KINDS)


@st.composite
def notes(draw, max_notes: int = 40, grid: int = 1) -> tuple[Note, ...]:
    """Notes where a pitch never overlaps itself (it may repeat right away).

    With ``grid`` > 1 every start and length is a whole number of grid steps.
    """
    if grid == 1:
        gaps, lengths = st.integers(0, 2000), st.integers(1, 2000)
    else:
        gaps = st.integers(0, 8).map(lambda steps: steps * grid)
        lengths = st.integers(1, 8).map(lambda steps: steps * grid)
    cursor: dict[int, int] = {}
    made = []
    steps = st.tuples(st.integers(0, 127), gaps, lengths, st.integers(1, 127))
    for pitch, gap, length, velocity in draw(st.lists(steps, max_size=max_notes)):
        start = cursor.get(pitch, 0) + gap
        cursor[pitch] = start + length
        made.append(Note(pitch=pitch, start_tick=start, duration_ticks=length, velocity=velocity))
    return tuple(sorted(made))


@st.composite
def tracks(draw, grid: int = 1, max_notes: int = 40, events: bool = True,
           name_text=names) -> Track:
    channel = draw(st.integers(0, 15))
    controls = bends = texts = ()
    if events:
        controls = tuple(sorted(draw(st.lists(
            st.builds(ControlChange, ticks, st.integers(0, 127), st.integers(0, 127)),
            max_size=6))))
        bends = tuple(sorted(draw(st.lists(
            st.builds(PitchBend, ticks, st.integers(-8192, 8191)), max_size=6))))
        texts = tuple(sorted(draw(st.lists(
            st.builds(TextEvent, ticks, any_text, text_kinds), max_size=4))))
    return Track(
        name=draw(name_text),
        notes=draw(notes(max_notes=max_notes, grid=grid)),
        program=draw(st.integers(0, 127)),
        channel=channel,
        controls=controls,
        pitch_bends=bends,
        texts=texts,
    )


def _one_per_tick(events: list, first_at_zero) -> tuple:
    by_tick = {e.tick: e for e in events}
    if first_at_zero is not None:
        by_tick[0] = first_at_zero
    return tuple(by_tick[t] for t in sorted(by_tick))


meters = st.tuples(st.integers(1, 255), st.sampled_from([1, 2, 4, 8, 16, 32, 64]))


@st.composite
def songs(draw, max_tracks: int = 4, grid: int = 1, max_notes: int = 40,
          events: bool = True, name_text=names) -> Song:
    """A song with several tracks, tempo, meter and key changes, texts, controls, bends."""
    tempo_list = draw(st.lists(st.builds(TempoChange, ticks, st.integers(1, 0xFFFFFF)),
                               max_size=4))
    meter_list = [TimeSignature(t, n, d) for t, (n, d) in draw(st.lists(st.tuples(ticks, meters),
                                                                      max_size=3))]
    key_list = draw(st.lists(st.builds(KeySignature, ticks, st.integers(-7, 7),
                                       st.sampled_from(["major", "minor"])), max_size=3))
    first_tempo = TempoChange(0, draw(st.integers(1, 0xFFFFFF)))
    n, d = draw(meters)
    markers = ()
    if events:
        markers = tuple(sorted(draw(st.lists(st.builds(TextEvent, ticks, any_text, text_kinds),
                                             max_size=3))))
    return Song(
        title=draw(st.one_of(st.just(""), name_text)),
        tracks=tuple(draw(st.lists(tracks(grid=grid, max_notes=max_notes, events=events,
                                          name_text=name_text), max_size=max_tracks))),
        tempos=_one_per_tick(tempo_list, first_tempo),
        time_signatures=_one_per_tick(meter_list, TimeSignature(0, n, d)),
        keys=_one_per_tick(key_list, None),
        markers=markers,
    )
