"""Editing operations the piano roll performs: pure functions from Song to Song.

Each function takes the song and where to act (a track index and a
:class:`Selection`, or a cursor position) and returns a new Song, so every edit
can go on the undo stack as it is. Out-of-range edits raise
:class:`~composer.errors.InvalidArgumentError` with a message for the status line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from composer.core.ops import quantise_track, remove_overlaps, set_meter, set_tempo
from composer.core.pitch import key_from_tonic, note_name
from composer.core.song import DRUM_CHANNEL, KeySignature, Note, Song, TimeSignature, Track
from composer.core.timing import BarGrid
from composer.errors import InvalidArgumentError

GM_PROGRAMS = (
    "Acoustic Grand Piano",
    "Bright Acoustic Piano",
    "Electric Grand Piano",
    "Honky-tonk Piano",
    "Electric Piano 1",
    "Electric Piano 2",
    "Harpsichord",
    "Clavinet",
    "Celesta",
    "Glockenspiel",
    "Music Box",
    "Vibraphone",
    "Marimba",
    "Xylophone",
    "Tubular Bells",
    "Dulcimer",
    "Drawbar Organ",
    "Percussive Organ",
    "Rock Organ",
    "Church Organ",
    "Reed Organ",
    "Accordion",
    "Harmonica",
    "Tango Accordion",
    "Acoustic Guitar (nylon)",
    "Acoustic Guitar (steel)",
    "Electric Guitar (jazz)",
    "Electric Guitar (clean)",
    "Electric Guitar (muted)",
    "Overdriven Guitar",
    "Distortion Guitar",
    "Guitar Harmonics",
    "Acoustic Bass",
    "Electric Bass (finger)",
    "Electric Bass (pick)",
    "Fretless Bass",
    "Slap Bass 1",
    "Slap Bass 2",
    "Synth Bass 1",
    "Synth Bass 2",
    "Violin",
    "Viola",
    "Cello",
    "Contrabass",
    "Tremolo Strings",
    "Pizzicato Strings",
    "Orchestral Harp",
    "Timpani",
    "String Ensemble 1",
    "String Ensemble 2",
    "Synth Strings 1",
    "Synth Strings 2",
    "Choir Aahs",
    "Voice Oohs",
    "Synth Voice",
    "Orchestra Hit",
    "Trumpet",
    "Trombone",
    "Tuba",
    "Muted Trumpet",
    "French Horn",
    "Brass Section",
    "Synth Brass 1",
    "Synth Brass 2",
    "Soprano Sax",
    "Alto Sax",
    "Tenor Sax",
    "Baritone Sax",
    "Oboe",
    "English Horn",
    "Bassoon",
    "Clarinet",
    "Piccolo",
    "Flute",
    "Recorder",
    "Pan Flute",
    "Blown Bottle",
    "Shakuhachi",
    "Whistle",
    "Ocarina",
    "Lead 1 (square)",
    "Lead 2 (sawtooth)",
    "Lead 3 (calliope)",
    "Lead 4 (chiff)",
    "Lead 5 (charang)",
    "Lead 6 (voice)",
    "Lead 7 (fifths)",
    "Lead 8 (bass + lead)",
    "Pad 1 (new age)",
    "Pad 2 (warm)",
    "Pad 3 (polysynth)",
    "Pad 4 (choir)",
    "Pad 5 (bowed)",
    "Pad 6 (metallic)",
    "Pad 7 (halo)",
    "Pad 8 (sweep)",
    "FX 1 (rain)",
    "FX 2 (soundtrack)",
    "FX 3 (crystal)",
    "FX 4 (atmosphere)",
    "FX 5 (brightness)",
    "FX 6 (goblins)",
    "FX 7 (echoes)",
    "FX 8 (sci-fi)",
    "Sitar",
    "Banjo",
    "Shamisen",
    "Koto",
    "Kalimba",
    "Bagpipe",
    "Fiddle",
    "Shanai",
    "Tinkle Bell",
    "Agogo",
    "Steel Drums",
    "Woodblock",
    "Taiko Drum",
    "Melodic Tom",
    "Synth Drum",
    "Reverse Cymbal",
    "Guitar Fret Noise",
    "Breath Noise",
    "Seashore",
    "Bird Tweet",
    "Telephone Ring",
    "Helicopter",
    "Applause",
    "Gunshot",
)
"""General MIDI program names, indexed by program number 0..127."""


def instrument_name(track: Track) -> str:
    """What a musician calls the track's sound: its GM program, or drums."""
    return "Drum kit" if track.is_drum else GM_PROGRAMS[track.program]


@dataclass(frozen=True)
class Selection:
    """A rectangle in the piano roll: ticks ``start_tick`` up to ``end_tick``, pitches
    ``low_pitch`` to ``high_pitch`` inclusive. A note is selected when it starts inside."""

    start_tick: int
    end_tick: int
    low_pitch: int = 0
    high_pitch: int = 127

    def __post_init__(self) -> None:
        if self.start_tick < 0 or self.end_tick <= self.start_tick:
            raise ValueError(f"selection {self.start_tick}..{self.end_tick} is empty")
        if not 0 <= self.low_pitch <= self.high_pitch <= 127:
            raise ValueError(f"selection pitches {self.low_pitch}..{self.high_pitch} are invalid")

    def contains(self, note: Note) -> bool:
        return (
            self.start_tick <= note.start_tick < self.end_tick
            and self.low_pitch <= note.pitch <= self.high_pitch
        )

    @property
    def all_pitches(self) -> bool:
        return self.low_pitch == 0 and self.high_pitch == 127

    @staticmethod
    def of_bars(song: Song, first_bar: int, last_bar: int) -> Selection:
        """Whole bars ``first_bar``..``last_bar`` (zero-based, inclusive), every pitch."""
        grid = BarGrid.of(song)
        first, last = sorted((first_bar, last_bar))
        return Selection(grid.bar_start_tick(max(first, 0)), grid.bar_start_tick(max(last, 0) + 1))

    def bar_range(self, song: Song) -> tuple[int, int]:
        """Zero-based first and last bar the selection touches."""
        grid = BarGrid.of(song)
        return grid.bar_at_tick(self.start_tick), grid.bar_at_tick(self.end_tick - 1)

    def moved(self, delta_ticks: int = 0, semitones: int = 0) -> Selection:
        return Selection(
            max(0, self.start_tick + delta_ticks),
            max(1, self.end_tick + delta_ticks),
            min(127, max(0, self.low_pitch + semitones)),
            min(127, max(0, self.high_pitch + semitones)),
        )

    def describe(self, song: Song) -> str:
        first, last = self.bar_range(song)
        bars = f"bar {first + 1}" if first == last else f"bars {first + 1}-{last + 1}"
        if self.all_pitches:
            return bars
        return f"{bars}, {note_name(self.low_pitch)}-{note_name(self.high_pitch)}"


@dataclass(frozen=True)
class Clip:
    """Copied notes, with times relative to where the copy started."""

    notes: tuple[Note, ...]
    length_ticks: int


def _track(song: Song, track_index: int) -> Track:
    if not 0 <= track_index < len(song.tracks):
        raise InvalidArgumentError(f"there is no track {track_index + 1}")
    return song.tracks[track_index]


def notes_at(track: Track, tick: int, pitch: int) -> list[Note]:
    """Notes of ``pitch`` sounding at ``tick`` (the ones under the cursor)."""
    return [n for n in track.notes if n.pitch == pitch and n.start_tick <= tick < n.end_tick]


def selected_notes(track: Track, selection: Selection) -> list[Note]:
    return [n for n in track.notes if selection.contains(n)]


def target_notes(
    song: Song, track_index: int, selection: Selection | None, cursor_tick: int, cursor_pitch: int
) -> list[Note]:
    """What an edit acts on: the selected notes, or else the note under the cursor."""
    track = _track(song, track_index)
    if selection is not None:
        return selected_notes(track, selection)
    return notes_at(track, cursor_tick, cursor_pitch)


def _replace_notes(song: Song, track_index: int, removed: list[Note], added: list[Note]) -> Song:
    track = _track(song, track_index)
    gone = set(removed)
    kept = [n for n in track.notes if n not in gone]
    return song.replace_track(track_index, track.with_notes(remove_overlaps(kept + added)))


def insert_note(
    song: Song,
    track_index: int,
    pitch: int,
    start_tick: int,
    duration_ticks: int,
    velocity: int = 80,
) -> Song:
    """Add a note; a note of the same pitch that it overlaps is cut short."""
    if not 0 <= pitch <= 127:
        raise InvalidArgumentError(f"pitch {pitch} is outside MIDI's range")
    note = Note(
        pitch=pitch,
        start_tick=max(0, start_tick),
        duration_ticks=max(1, duration_ticks),
        velocity=velocity,
    )
    track = _track(song, track_index)
    # Starting on an existing onset replaces that note rather than stacking two.
    same_onset = [n for n in track.notes if n.pitch == pitch and n.start_tick == note.start_tick]
    return _replace_notes(song, track_index, same_onset, [note])


def delete_notes(song: Song, track_index: int, notes: list[Note]) -> Song:
    return _replace_notes(song, track_index, notes, [])


def transpose_notes(song: Song, track_index: int, notes: list[Note], semitones: int) -> Song:
    """Move ``notes`` up or down; refuses (with a clear reason) to leave MIDI's range."""
    if not notes or semitones == 0:
        return song
    low, high = min(n.pitch for n in notes), max(n.pitch for n in notes)
    if low + semitones < 0 or high + semitones > 127:
        raise InvalidArgumentError(
            f"cannot transpose by {semitones:+d}: {note_name(low if semitones < 0 else high)} "
            "would leave the MIDI range"
        )
    moved = [replace(n, pitch=n.pitch + semitones) for n in notes]
    return _replace_notes(song, track_index, notes, moved)


def move_notes(song: Song, track_index: int, notes: list[Note], delta_ticks: int) -> Song:
    """Move ``notes`` earlier or later in time (never before the start of the song)."""
    if not notes or delta_ticks == 0:
        return song
    if min(n.start_tick for n in notes) + delta_ticks < 0:
        raise InvalidArgumentError("cannot move notes before the start of the song")
    moved = [replace(n, start_tick=n.start_tick + delta_ticks) for n in notes]
    return _replace_notes(song, track_index, notes, moved)


def resize_notes(
    song: Song, track_index: int, notes: list[Note], delta_ticks: int, min_ticks: int
) -> Song:
    """Lengthen (positive ``delta_ticks``) or shorten notes, never below ``min_ticks``."""
    if not notes or delta_ticks == 0:
        return song
    resized = [
        replace(n, duration_ticks=max(min_ticks, n.duration_ticks + delta_ticks)) for n in notes
    ]
    return _replace_notes(song, track_index, notes, resized)


def set_velocity(song: Song, track_index: int, notes: list[Note], delta: int) -> Song:
    """Make notes louder or softer by ``delta`` (kept within 1..127)."""
    if not notes or delta == 0:
        return song
    changed = [replace(n, velocity=min(127, max(1, n.velocity + delta))) for n in notes]
    return _replace_notes(song, track_index, notes, changed)


def quantise_notes(song: Song, track_index: int, notes: list[Note], grid_ticks: int) -> Song:
    """Snap the starts and ends of ``notes`` to a grid of ``grid_ticks``."""
    if not notes:
        return song
    track = _track(song, track_index)
    snapped = quantise_track(replace(track, notes=tuple(notes)), grid_ticks)
    return _replace_notes(song, track_index, notes, list(snapped.notes))


def copy_notes(song: Song, track_index: int, selection: Selection) -> Clip:
    notes = selected_notes(_track(song, track_index), selection)
    return Clip(
        tuple(replace(n, start_tick=n.start_tick - selection.start_tick) for n in notes),
        selection.end_tick - selection.start_tick,
    )


def paste_clip(song: Song, track_index: int, clip: Clip, at_tick: int) -> Song:
    """Put a copied clip at ``at_tick``; notes it overlaps (same pitch) are cut."""
    if not clip.notes:
        return song
    added = [replace(n, start_tick=n.start_tick + at_tick) for n in clip.notes]
    track = _track(song, track_index)
    starts = {(n.pitch, n.start_tick) for n in added}
    replaced = [n for n in track.notes if (n.pitch, n.start_tick) in starts]
    return _replace_notes(song, track_index, replaced, added)


def free_channel(song: Song) -> int:
    """A MIDI channel no track uses yet (never the drum channel), or 0 if all are taken."""
    used = {t.channel for t in song.tracks}
    return next((c for c in range(16) if c != DRUM_CHANNEL and c not in used), 0)


def add_tracks(song: Song, tracks: list[Track] | tuple[Track, ...]) -> Song:
    """Append tracks, moving any that would share a used channel onto a free one."""
    result = song
    for track in tracks:
        if not track.is_drum and track.channel in {t.channel for t in result.tracks}:
            track = replace(track, channel=free_channel(result))
        result = result.with_tracks((*result.tracks, _unique_name(result, track)))
    return result


def _unique_name(song: Song, track: Track) -> Track:
    names = {t.name for t in song.tracks}
    if track.name not in names:
        return track
    number = 2
    while f"{track.name} {number}" in names:
        number += 1
    return replace(track, name=f"{track.name} {number}")


def new_track(song: Song, name: str = "", program: int = 0) -> Song:
    """Append an empty track on a free channel."""
    track = Track(
        name=name or f"Track {len(song.tracks) + 1}", program=program, channel=free_channel(song)
    )
    return add_tracks(song, [track])


def delete_track(song: Song, track_index: int) -> Song:
    _track(song, track_index)
    return song.with_tracks([t for i, t in enumerate(song.tracks) if i != track_index])


def set_track_properties(
    song: Song,
    track_index: int,
    name: str | None = None,
    program: int | None = None,
    channel: int | None = None,
) -> Song:
    track = _track(song, track_index)
    try:
        changed = replace(
            track,
            name=track.name if name is None else name.strip() or track.name,
            program=track.program if program is None else program,
            channel=track.channel if channel is None else channel,
        )
    except ValueError as err:
        raise InvalidArgumentError(str(err)) from err
    return song.replace_track(track_index, changed)


_TONIC_RE = re.compile(r"^\s*([A-Ga-g])([#b♯♭]?)\s*(m|min|minor|maj|major)?\s*$")


def parse_key(text: str) -> KeySignature | None:
    """'D major', 'Bb', 'F# minor', 'em' -> a key signature; blank -> None (no key)."""
    if not text.strip():
        return None
    match = _TONIC_RE.match(text.replace("-", " "))
    if not match:
        raise InvalidArgumentError(f"{text!r} is not a key like 'D major', 'Bb' or 'F# minor'")
    letter, accidental, mode = match.groups()
    tonic = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}[letter.upper()]
    tonic += {"#": 1, "♯": 1, "b": -1, "♭": -1}.get(accidental, 0)
    minor = mode in ("m", "min", "minor") or (mode is None and letter.islower())
    return key_from_tonic(tonic % 12, "minor" if minor else "major")


def parse_meter(text: str) -> tuple[int, int]:
    """'6/8' -> (6, 8)."""
    parts = text.replace(" ", "").split("/")
    try:
        numerator, denominator = int(parts[0]), int(parts[1])
        TimeSignature(0, numerator, denominator)
    except (ValueError, IndexError):
        raise InvalidArgumentError(f"{text!r} is not a meter like 4/4, 3/4 or 6/8") from None
    return numerator, denominator


def set_song_settings(
    song: Song, title: str, tempo_bpm: float, meter: tuple[int, int], key: KeySignature | None
) -> Song:
    """The song with one tempo, one meter and one key (or none) from the start."""
    try:
        result = set_tempo(song, tempo_bpm)
    except ValueError as err:
        raise InvalidArgumentError(str(err)) from err
    if (result.time_signatures[0].numerator, result.time_signatures[0].denominator) != meter or len(
        result.time_signatures
    ) > 1:
        result = set_meter(result, *meter)
    keys = () if key is None else (replace(key, tick=0),)
    return replace(result, title=title.strip(), keys=keys)
