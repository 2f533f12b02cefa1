"""Pure operations on songs and tracks; each returns a new value."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from composer.core.song import (
    KeySignature,
    Note,
    Song,
    TempoChange,
    TimeSignature,
    Track,
)
from composer.core.timing import BarGrid


def transpose_track(track: Track, semitones: int) -> Track:
    """Move every pitched note by ``semitones``; drums are left alone.

    Raises ValueError when a note would leave MIDI's 0..127.
    """
    if track.is_drum or semitones == 0:
        return track
    notes = [replace(n, pitch=n.pitch + semitones) for n in track.notes]
    return replace(track, notes=tuple(notes))


def transpose(song: Song, semitones: int) -> Song:
    """Transpose every pitched track, and move key signatures with them."""
    if semitones % 12 == 0:
        keys = song.keys  # octaves keep the key (and its spelling: Cb stays Cb)
    else:
        keys = tuple(_transpose_key(k, semitones) for k in song.keys)
    tracks = tuple(transpose_track(t, semitones) for t in song.tracks)
    return replace(song, tracks=tracks, keys=keys)


def _transpose_key(key: KeySignature, semitones: int) -> KeySignature:
    # Each semitone is 7 fifths; pick the spelling with the fewest accidentals.
    fifths = (key.fifths + 7 * semitones) % 12
    if fifths > 6 or (fifths == 6 and key.fifths < 0):
        fifths -= 12
    return replace(key, fifths=fifths)


def shift(song: Song, ticks: int) -> Song:
    """Move all events later by ``ticks`` (or earlier, if no note goes below 0).

    Tempo, meter and key that start at tick 0 stay at tick 0. Raises ValueError
    when a note, control, bend, text or marker would move before tick 0.
    """
    def move_track(track: Track) -> Track:
        return replace(
            track,
            notes=tuple(replace(n, start_tick=n.start_tick + ticks) for n in track.notes),
            controls=tuple(replace(c, tick=c.tick + ticks) for c in track.controls),
            pitch_bends=tuple(replace(b, tick=b.tick + ticks) for b in track.pitch_bends),
            texts=tuple(replace(t, tick=t.tick + ticks) for t in track.texts),
        )

    def move_meta(events: tuple) -> tuple:
        # What is in force from the start (tick 0) stays in force from the start;
        # moving earlier, the last change that reaches tick 0 takes its place.
        by_tick: dict[int, Any] = {}
        for e in events:
            tick = 0 if e.tick == 0 else max(e.tick + ticks, 0)
            by_tick[tick] = e if e.tick == tick else replace(e, tick=tick)
        return tuple(by_tick[t] for t in sorted(by_tick))

    return replace(
        song,
        tracks=tuple(move_track(t) for t in song.tracks),
        tempos=move_meta(song.tempos),
        time_signatures=move_meta(song.time_signatures),
        keys=move_meta(song.keys),
        markers=tuple(replace(m, tick=m.tick + ticks) for m in song.markers),
    )


def slice_ticks(song: Song, start_tick: int, end_tick: int) -> Song:
    """The part of ``song`` between two ticks, moved to start at tick 0.

    Notes that cross the boundaries are cut to fit; the tempo, meter and key in
    force at ``start_tick`` carry over to the new tick 0.
    """
    if end_tick <= start_tick:
        raise ValueError(f"slice end {end_tick} is not after start {start_tick}")

    def clip_notes(notes: tuple[Note, ...]) -> tuple[Note, ...]:
        kept = []
        for n in notes:
            begin, end = max(n.start_tick, start_tick), min(n.end_tick, end_tick)
            if end > begin:
                kept.append(replace(n, start_tick=begin - start_tick, duration_ticks=end - begin))
        return tuple(sorted(kept))  # clipped starts can change the order

    def within(events: tuple) -> tuple:
        return tuple(
            replace(e, tick=e.tick - start_tick)
            for e in events
            if start_tick <= e.tick < end_tick
        )

    def conductor(events: tuple, current) -> tuple:
        inside = [e for e in within(events) if e.tick > 0]
        head = [replace(current, tick=0)] if current is not None else []
        return tuple(head + inside)

    tracks = tuple(
        replace(
            t,
            notes=clip_notes(t.notes),
            controls=within(t.controls),
            pitch_bends=within(t.pitch_bends),
            texts=within(t.texts),
        )
        for t in song.tracks
    )
    return replace(
        song,
        tracks=tracks,
        tempos=conductor(song.tempos, song.tempo_at(start_tick)),
        time_signatures=conductor(song.time_signatures, song.time_signature_at(start_tick)),
        keys=conductor(song.keys, song.key_at(start_tick)),
        markers=within(song.markers),
    )


def slice_bars(song: Song, first_bar: int, last_bar: int) -> Song:
    """Bars ``first_bar``..``last_bar`` (zero-based, inclusive) as a new song."""
    if first_bar < 0 or last_bar < first_bar:
        raise ValueError(f"bar range {first_bar}..{last_bar} is empty or negative")
    grid = BarGrid.of(song)
    return slice_ticks(song, grid.bar_start_tick(first_bar), grid.bar_start_tick(last_bar + 1))


def quantise_track(
    track: Track,
    grid_ticks: int,
    strength: float = 1.0,
    swing: float = 0.0,
    quantise_ends: bool = True,
) -> Track:
    """Pull note starts (and ends) toward a grid.

    ``strength`` 1.0 snaps fully, 0.5 moves halfway. ``swing`` 0..1 delays every
    second grid step by that fraction of a step (0.33 gives a triplet feel for
    eighths). Notes never shrink below one grid step when ``quantise_ends``.
    """
    if grid_ticks < 1:
        raise ValueError(f"grid of {grid_ticks} ticks is too fine")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"quantise strength {strength} is outside 0..1")
    if not 0.0 <= swing < 1.0:
        raise ValueError(f"swing {swing} is outside 0..1")

    swing_ticks = round(swing * grid_ticks)

    def position(step: int) -> int:
        return step * grid_ticks + (swing_ticks if step % 2 else 0)

    def target(tick: int) -> int:
        # The nearest point of the swung grid (ties go to the later point). With
        # swing the odd steps move later, so the nearest one can be a step away
        # from the nearest straight grid line.
        base = tick // grid_ticks
        steps = [s for s in (base - 1, base, base + 1) if s >= 0]
        return min((position(s) for s in steps), key=lambda p: (abs(p - tick), -p))

    def pull(tick: int) -> int:
        return max(0, round(tick + (target(tick) - tick) * strength))

    notes = []
    for n in track.notes:
        start = pull(n.start_tick)
        if quantise_ends:
            end = pull(n.end_tick)
            min_len = max(1, round(grid_ticks * strength)) if strength > 0 else 1
            end = max(end, start + min_len)
        else:
            end = start + n.duration_ticks
        notes.append(replace(n, start_tick=start, duration_ticks=end - start))
    return track.with_notes(remove_overlaps(notes))


def remove_overlaps(notes: list[Note] | tuple[Note, ...]) -> list[Note]:
    """Drop exact duplicates and cut a note where the next one of its pitch starts."""
    by_pitch: dict[int, list[Note]] = {}
    for n in sorted(notes):
        by_pitch.setdefault(n.pitch, []).append(n)
    result = []
    for same in by_pitch.values():
        for i, n in enumerate(same):
            nxt = same[i + 1] if i + 1 < len(same) else None
            if nxt is not None and nxt.start_tick == n.start_tick:
                continue  # a duplicate start; the later (longer-sorting) one wins
            if nxt is not None and n.end_tick > nxt.start_tick:
                n = replace(n, duration_ticks=nxt.start_tick - n.start_tick)
            result.append(n)
    return sorted(result)


def merge_tracks(tracks: list[Track] | tuple[Track, ...], name: str | None = None) -> Track:
    """One track holding every note and event of ``tracks``; the first sets program/channel."""
    if not tracks:
        raise ValueError("nothing to merge")
    first = tracks[0]
    return Track(
        name=name if name is not None else first.name,
        notes=tuple(remove_overlaps([n for t in tracks for n in t.notes])),
        program=first.program,
        channel=first.channel,
        controls=tuple(sorted(c for t in tracks for c in t.controls)),
        pitch_bends=tuple(sorted(b for t in tracks for b in t.pitch_bends)),
        texts=tuple(sorted(x for t in tracks for x in t.texts)),
    )


def split_by_pitch(track: Track, split_pitch: int) -> tuple[Track, Track]:
    """(upper, lower): notes at or above ``split_pitch`` and those below it."""
    upper = [n for n in track.notes if n.pitch >= split_pitch]
    lower = [n for n in track.notes if n.pitch < split_pitch]
    return (
        replace(track, name=f"{track.name} (upper)", notes=tuple(upper)),
        replace(track, name=f"{track.name} (lower)", notes=tuple(lower), controls=(),
                pitch_bends=(), texts=()),
    )


def split_voices(track: Track, max_voices: int = 8) -> list[Track]:
    """Separate a polyphonic track into monophonic voices, top voice first.

    Greedy voice assignment: notes are taken in time order, highest first, and
    each goes to the sounding-free voice whose last pitch is nearest, which
    keeps lines smooth the way a notation program's voice separation does.
    """
    voices: list[list[Note]] = []
    for n in sorted(track.notes, key=lambda n: (n.start_tick, -n.pitch)):
        free = [i for i, v in enumerate(voices) if v[-1].end_tick <= n.start_tick]
        if free:
            best = min(free, key=lambda i: (abs(voices[i][-1].pitch - n.pitch), i))
            voices[best].append(n)
        elif len(voices) < max_voices:
            voices.append([n])
        else:
            # More simultaneous notes than voices: cut the voice that ends first.
            best = min(range(len(voices)), key=lambda i: voices[i][-1].end_tick)
            last = voices[best][-1]
            if last.start_tick < n.start_tick:
                voices[best][-1] = replace(last, duration_ticks=n.start_tick - last.start_tick)
                voices[best].append(n)
    voices.sort(key=lambda v: -sum(n.pitch for n in v) / len(v))
    return [
        replace(track, name=f"{track.name} {i + 1}", notes=tuple(v), controls=(), pitch_bends=(),
                texts=())
        for i, v in enumerate(voices)
    ]


def top_line(track: Track) -> Track:
    """The monophonic top line ("skyline"): the highest sounding note at each onset."""
    highest: dict[int, Note] = {}
    for n in track.notes:  # only the top note of each onset can be in the line
        if n.start_tick not in highest or n.pitch > highest[n.start_tick].pitch:
            highest[n.start_tick] = n
    line: list[Note] = []
    for n in (highest[t] for t in sorted(highest)):
        if line and line[-1].end_tick > n.start_tick:
            if line[-1].pitch > n.pitch and line[-1].end_tick >= n.end_tick:
                continue  # hidden under a higher held note
            line[-1] = replace(line[-1], duration_ticks=n.start_tick - line[-1].start_tick)
        line.append(n)
    return track.with_notes(line)


def is_monophonic(track: Track) -> bool:
    notes = sorted(track.notes)
    return all(a.end_tick <= b.start_tick for a, b in zip(notes, notes[1:], strict=False))


def set_tempo(song: Song, tempo_bpm: float) -> Song:
    """Replace the whole tempo map with one tempo."""
    return replace(song, tempos=(TempoChange.from_bpm(0, tempo_bpm),))


def set_meter(song: Song, numerator: int, denominator: int) -> Song:
    """Replace the meter map with a single time signature."""
    return replace(song, time_signatures=(TimeSignature(0, numerator, denominator),))

