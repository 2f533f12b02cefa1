"""One-line builders of small songs and voices for the harmony tests."""

from __future__ import annotations

from collections.abc import Sequence

from composer.core.song import PPQ, KeySignature, Note, Song, TimeSignature, Track

TUNE = (60, 62, 64, 65, 67, 65, 64, 62, 60, 64, 67, 72, 71, 67, 62, 60)
"""Four bars of quarter notes in C major, ending on the tonic."""


def line(pitches: Sequence[int | None], duration: int = PPQ, start: int = 0) -> tuple[Note, ...]:
    """Notes of equal length one after another; None is a rest."""
    notes = []
    for i, pitch in enumerate(pitches):
        if pitch is not None:
            notes.append(Note(pitch=pitch, start_tick=start + i * duration,
                              duration_ticks=duration))
    return tuple(notes)


def melody_song(pitches: Sequence[int | None] = TUNE, duration: int = PPQ, start: int = 0,
                meter: tuple[int, int] = (4, 4), key: KeySignature | None = None,
                name: str = "Melody") -> Song:
    return Song(tracks=(Track(name, line(pitches, duration, start)),),
                time_signatures=(TimeSignature(0, *meter),), keys=(key,) if key else ())


def satb(rows: Sequence[tuple[int | None, int | None, int | None, int | None]],
         duration: int = PPQ) -> list[tuple[Note, ...]]:
    """Four voices from rows of (soprano, alto, tenor, bass) pitches, one row a beat."""
    return [line([row[v] for row in rows], duration) for v in range(4)]


def satb_song(rows, duration: int = PPQ) -> Song:
    names = ("Soprano", "Alto", "Tenor", "Bass")
    return Song(tracks=tuple(Track(n, notes, program=52, channel=i)
                             for i, (n, notes) in enumerate(zip(names, satb(rows, duration),
                                                                strict=True))))


CADENCE_SONG = satb_song([(72, 67, 64, 48), (72, 69, 65, 53), (72, 67, 64, 48), (74, 69, 65, 50),
                          (74, 71, 67, 55)])
"""C F C Dm G: clean but for one move, on beat 4, into parallel octaves (soprano/bass)
and parallel fifths (alto/bass)."""
