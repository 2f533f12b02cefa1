"""Chord labels per beat: named from a four-part texture, or read from chord symbols.

How chorale labels are made (our own pitch-class-set matcher, no music21):
for every beat, each note of the four voices that sounds in the beat adds the
fraction of the beat it covers to its pitch class, and the notes sounding on
the beat itself add half a beat more (passing notes fall between beats). The
bass note on the beat is the bass. :func:`composer.core.chords.match_chord`
then picks the chord among the major, minor, diminished and augmented triads
and the dominant, major, minor, half-diminished and diminished sevenths that
best explains those weights, preferring the chord whose root is in the bass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from composer.analysis.beats import Beat, beat_grid, melody_weights, sounding_note
from composer.core.chords import LABEL_QUALITIES, ChordSymbol, match_chord, parse_chord
from composer.core.song import Note, Song, TextEvent, Track


@dataclass(frozen=True, slots=True)
class LabelledBeat:
    """One beat with the melody's pitch-class weights and the chord heard there."""

    beat: Beat
    melody: dict[int, float]
    chord: ChordSymbol | None


def texture_chord(voices: Sequence[Sequence[Note]], beat: Beat) -> ChordSymbol | None:
    """The chord a beat of several voices (top first, bass last) sounds; None if silent."""
    weights: dict[int, float] = {}
    for line in voices:
        for pc, w in melody_weights(line, beat).items():
            weights[pc] = weights.get(pc, 0.0) + w
    bass_note = sounding_note(voices[-1], beat.start_tick)
    bass = bass_note.pitch % 12 if bass_note is not None else None
    return match_chord(weights, bass_pc=bass, qualities=LABEL_QUALITIES)


def label_chorale(song: Song) -> list[LabelledBeat]:
    """Per-beat chord labels of a four-part chorale (tracks Soprano, Alto, Tenor, Bass),
    with the soprano's weights as the melody."""
    voices = [sorted(t.notes) for t in song.tracks[:4]]
    start = min((v[0].start_tick for v in voices if v), default=0)
    end = max((v[-1].end_tick for v in voices if v), default=0)
    return [LabelledBeat(b, melody_weights(voices[0], b), texture_chord(voices, b))
            for b in beat_grid(song.time_signatures, start, end)]


def chord_events(track: Track) -> list[tuple[int, ChordSymbol | None]]:
    """(tick, chord) for every text event of a track that is a chord symbol ('N' is None)."""
    events = []
    for text in sorted(track.texts):
        try:
            events.append((text.tick, parse_chord(text.text)))
        except ValueError:
            continue  # a lyric or marker, not a chord symbol
    return events


def chords_at_beats(events: Sequence[tuple[int, ChordSymbol | None]], beats: Sequence[Beat]
                    ) -> list[ChordSymbol | None]:
    """The chord in force at each beat's start (None before the first symbol)."""
    out: list[ChordSymbol | None] = []
    i, current = 0, None
    for beat in beats:
        while i < len(events) and events[i][0] <= beat.start_tick:
            current = events[i][1]
            i += 1
        out.append(current)
    return out


def label_lead_sheet(song: Song, melody_index: int = 0, chords_name: str = "Chords"
                     ) -> list[LabelledBeat]:
    """Per-beat labels of a melody with chord-symbol text events (POP909 as cached),
    from the first to the last melody note."""
    melody = sorted(song.tracks[melody_index].notes)
    if not melody:
        return []
    chord_track = next((t for t in song.tracks if t.name == chords_name), song.tracks[melody_index])
    beats = beat_grid(song.time_signatures, melody[0].start_tick, melody[-1].end_tick)
    chords = chords_at_beats(chord_events(chord_track), beats)
    return [LabelledBeat(b, melody_weights(melody, b), c)
            for b, c in zip(beats, chords, strict=True)]


def chord_text_events(beats: Sequence[Beat], chords: Sequence[ChordSymbol | None],
                      prefer_flats: bool = False) -> tuple[TextEvent, ...]:
    """Chord-symbol text events where the chord changes (and 'N' where harmony stops)."""
    events: list[TextEvent] = []
    last: str | None = None
    for beat, chord in zip(beats, chords, strict=True):
        text = "N" if chord is None else chord.format(prefer_flats)
        if text != last:
            events.append(TextEvent(beat.start_tick, text))
            last = text
    return tuple(events)
