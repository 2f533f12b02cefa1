"""Beats, tempo, meter, key and quantisation of transcribed notes."""

from __future__ import annotations

import numpy as np
import pytest

from composer.audio.decode import NoteEvent
from composer.audio.rhythm import make_grid, parse_quantize, place_on_grid
from composer.core.song import PPQ
from composer.errors import InvalidArgumentError

G_MAJOR = [67, 69, 71, 72, 74, 76, 78, 79]


def _waltz(bpm: float, bars: int, jitter_s: float = 0.0, seed: int = 0) -> list[NoteEvent]:
    """Oom-pah-pah: a long low G or D on 1, short G-major chords on 2 and 3, a tune on top."""
    rng = np.random.default_rng(seed)
    beat = 60.0 / bpm
    notes = []
    for bar in range(bars):
        start = 0.5 + bar * 3 * beat
        bass = 43 if bar % 2 == 0 else 50
        notes.append(NoteEvent(bass, start, start + 2.8 * beat, 100))
        for b in (1, 2):
            t = start + b * beat + rng.normal(0, jitter_s)
            for p in (59, 62, 67):
                notes.append(NoteEvent(p, t, t + 0.4 * beat, 60))
        melody = G_MAJOR[bar % len(G_MAJOR)]
        notes.append(NoteEvent(melody, start + rng.normal(0, jitter_s), start + 2.9 * beat, 90))
    return sorted(notes, key=lambda n: n.onset_s)


def _march(bpm: float, bars: int, pickup: bool = True) -> list[NoteEvent]:
    """4/4 with a one-beat pickup: accented long notes on 1, shorter ones after."""
    beat = 60.0 / bpm
    first_downbeat = 1.0
    notes = []
    if pickup:
        notes.append(NoteEvent(62, first_downbeat - beat, first_downbeat - 0.1 * beat, 70))
    for bar in range(bars):
        start = first_downbeat + bar * 4 * beat
        notes.append(NoteEvent(43, start, start + 3.8 * beat, 110))
        notes.append(NoteEvent(G_MAJOR[bar % 8], start, start + 1.9 * beat, 100))
        for b in (1, 2, 3):
            notes.append(NoteEvent(G_MAJOR[(bar + b) % 8], start + b * beat,
                                   start + (b + 0.5) * beat, 55))
    return sorted(notes, key=lambda n: n.onset_s)


def test_waltz_is_three_four_at_its_tempo_in_g():
    notes = _waltz(100, 16)
    placed = place_on_grid(notes, notes[-1].offset_s + 1, parse_quantize("1/16"))
    song = placed.song
    assert str(song.time_signatures[0]) == "3/4"
    assert song.tempos[0].tempo_bpm == pytest.approx(100, rel=0.03)
    assert song.keys[0].name == "G major"
    bass_starts = [n.start_tick for n in song.tracks[0].notes if n.pitch in (43, 50)]
    assert all(t % (3 * PPQ) == 0 for t in bass_starts)


def test_march_pickup_is_padded_so_bar_lines_fall_on_the_grid():
    notes = _march(120, 8)
    placed = place_on_grid(notes, notes[-1].offset_s + 1, parse_quantize("1/16"))
    song = placed.song
    assert str(song.time_signatures[0]) == "4/4"
    bass = sorted(n.start_tick for n in song.tracks[0].notes if n.pitch == 43)
    assert bass[0] == 4 * PPQ and all(t % (4 * PPQ) == 0 for t in bass)
    pickup = min(song.tracks[0].notes)
    assert pickup.pitch == 62 and pickup.start_tick == 3 * PPQ


def test_quantised_song_and_unquantised_performance():
    notes = _waltz(90, 12, jitter_s=0.02, seed=3)
    grid = parse_quantize("1/8")
    placed = place_on_grid(notes, notes[-1].offset_s + 1, grid)
    quantised = placed.song.tracks[0].notes
    assert all(n.start_tick % grid == 0 for n in quantised)
    performed = placed.performance.notes
    assert len(performed) == len(notes)
    assert any(n.start_tick % grid for n in performed)  # the played timing is kept
    assert placed.performance.name.endswith("(performance)")


def test_given_tempo_is_used_exactly():
    notes = _march(96, 8)
    placed = place_on_grid(notes, notes[-1].offset_s + 1, parse_quantize("1/16"), tempo_bpm=96)
    assert [round(t.tempo_bpm, 2) for t in placed.song.tempos] == [96.0]


def test_a_drifting_tempo_gets_a_tempo_map():
    notes, t = [], 0.5
    for i in range(64):
        beat = 60.0 / (80 + i * 0.8)  # 80 BPM speeding up to about 130
        notes.append(NoteEvent(60 + (i % 5), t, t + 0.8 * beat, 100 if i % 4 == 0 else 60))
        t += beat
    grid = make_grid(notes, t + 1)
    assert not grid.steady
    placed = place_on_grid(notes, t + 1, parse_quantize("1/8"))
    tempos = [c.tempo_bpm for c in placed.song.tempos]
    assert len(tempos) > 3 and tempos[-1] > tempos[0] + 20
    starts = [n.start_tick for n in placed.song.tracks[0].notes]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert all(s % PPQ == 0 for s in starts)  # one note per beat, each on a beat


def test_bends_move_with_their_note():
    beat = 0.5
    note = NoteEvent(64, 1.0 + 0.04, 1.0 + 0.04 + 4 * beat, 90,
                     bends=((1.04, 0.2), (1.5, -0.3), (2.0, 0.1)))
    others = [NoteEvent(60, 1.0 + i * beat, 1.0 + (i + 0.5) * beat, 90) for i in range(1, 16)]
    placed = place_on_grid([note, *others], 10.0, parse_quantize("1/4"), tempo_bpm=120)
    track = placed.song.tracks[0]
    held = next(n for n in track.notes if n.pitch == 64)
    bends = track.pitch_bends
    assert bends[0].tick == held.start_tick and bends[0].value == round(0.2 / 2 * 8192)
    assert bends[-1].value == 0  # reset where the note ends
    assert len(placed.performance.pitch_bends) == len(bends)


def test_no_notes_gives_an_empty_song_with_defaults():
    placed = place_on_grid([], 5.0, parse_quantize("1/16"))
    assert placed.song.note_count == 0 and placed.song.keys == ()
    assert placed.song.tempos[0].tempo_bpm == pytest.approx(120)


@pytest.mark.parametrize("text,ticks", [("1/4", 480), ("1/8", 240), ("1/16", 120),
                                        ("1/32", 60), ("1/8t", 160), ("1/16T", 80),
                                        ("off", None)])
def test_parse_quantize(text, ticks):
    assert parse_quantize(text) == ticks


@pytest.mark.parametrize("text", ["1/3", "2/8", "sixteenth", "1/", ""])
def test_bad_quantize_is_a_clear_error(text):
    with pytest.raises(InvalidArgumentError, match="quantize"):
        parse_quantize(text)
