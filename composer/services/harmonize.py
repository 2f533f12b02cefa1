"""Harmonise a melody: a four-part chorale setting or chord symbols with a voicing.

:func:`harmonize` takes a song and one of its tracks as the melody and returns
variations, each a list of tracks to add: "Alto", "Tenor", "Bass" (chorale
style) or "Chords" (chord style: a playable voicing plus one chord-symbol text
event per change). :class:`LiveHarmonizer` answers one melody note at a time
for the live jam mode.

What the service takes care of for every model: picking the melody track
(drums refused, chords reduced to their top line), the key (the declared one
if the melody fits it, else estimated), the beat grid (any meter, pickups,
rests), moving a melody that lies outside the model's range by octaves and the
result back, and repairing what a model returns (notes outside MIDI's range,
overlaps within a voice).
"""

from __future__ import annotations

import statistics
import threading
from dataclasses import dataclass, field, replace

from composer.analysis.beats import beat_grid, beat_unit_ticks
from composer.core.chords import ChordSymbol
from composer.core.ops import is_monophonic, remove_overlaps, top_line
from composer.core.pitch import note_name, parse_note_name
from composer.core.song import DRUM_CHANNEL, PPQ, KeySignature, Note, Song, Track
from composer.core.timing import BarGrid
from composer.errors import InputFileError, InvalidArgumentError
from composer.services.harmony_models import (
    STYLES,
    ChoraleVoices,
    PreparedMelody,
    get_model,
    resolve,
)
from composer.services.jobs import Progress, check_cancel, no_progress

MAX_VARIATIONS = 16
MAX_BEATS = 4096  # about a thousand bars of 4/4: far past any real melody
VOICINGS = ("close", "open")
MODEL_RANGES = {"chorale": (60, 81), "chords": (55, 88)}
"""Where each style wants the melody (the soprano's range for chorales)."""
CHOIR_PROGRAM = 52  # General MIDI "Choir Aahs", as the chorale corpus uses
PIANO_PROGRAM = 0
_STANDARD_NUMERATORS = {1, 2, 3, 4, 6, 9, 12}


@dataclass
class HarmonyResult:
    """Variations of harmony for one melody, and what the user should know about them.

    ``variations[i]`` is the list of tracks to add to the song;
    ``chords[i]`` the chord of each beat of ``beats_ticks`` where the model names
    chords (empty for models that write voices only).
    """

    style: str
    model: str
    key: KeySignature
    seed: int
    melody_track: int
    variations: list[list[Track]] = field(default_factory=list)
    chords: list[list[ChordSymbol | None]] = field(default_factory=list)
    beats_ticks: list[int] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


def harmonize(song: Song, track_index: int | None = None, style: str = "chorale",
              model: str = "auto", variations: int = 3, seed: int | None = None,
              temperature: float = 1.0, progress: Progress = no_progress,
              cancel: threading.Event | None = None, voicing: str = "close") -> HarmonyResult:
    """Harmonise ``song.tracks[track_index]`` (default: the first pitched track with notes).

    Variation 0 is the model's most likely harmony; the others are sampled at
    ``temperature`` from a generator seeded by ``seed`` (the same seed gives
    the same notes). ``voicing`` ('close' or 'open') shapes the chord style's
    chord track. Raises InputFileError for a song without a usable melody
    and InvalidArgumentError for bad settings or an unavailable model.
    """
    import numpy as np

    if style not in STYLES:
        raise InvalidArgumentError(f"unknown harmony style {style!r}",
                                   f"choose one of: {', '.join(STYLES)}")
    if not 1 <= variations <= MAX_VARIATIONS:
        raise InvalidArgumentError(f"{variations} variations is outside 1..{MAX_VARIATIONS}")
    if not 0.0 < temperature <= 5.0:
        raise InvalidArgumentError(f"temperature {temperature:g} is outside (0, 5]",
                                   "1.0 samples as trained; lower is safer, higher is wilder")
    if seed is not None and seed < 0:
        raise InvalidArgumentError(f"seed {seed} is negative")
    if voicing not in VOICINGS:
        raise InvalidArgumentError(f"unknown voicing {voicing!r}",
                                   f"choose one of: {', '.join(VOICINGS)}")
    model = resolve(model, style)
    harmonizer = get_model(model, style)
    progress(0.0, "preparing the melody")
    melody, index, shift, messages = prepare_melody(song, track_index, style)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy) % (2**31)  # type: ignore[arg-type]
    result = HarmonyResult(style=style, model=model, key=melody.key, seed=seed, melody_track=index,
                           beats_ticks=[b.start_tick for b in melody.beats], messages=messages)
    channels = _free_channels(song, 3 if style == "chorale" else 1)
    seen: set[tuple] = set()
    for v in range(variations):
        check_cancel(cancel)
        progress(v / variations, f"variation {v + 1} of {variations}")
        rng = np.random.default_rng([seed, v])
        for _attempt in range(4):  # a sample that repeats an earlier variation is drawn again
            tracks, chords = _one_variation(harmonizer, style, melody, v, rng, temperature, shift,
                                            channels, voicing)
            signature = tuple((n.start_tick, n.pitch) for t in tracks for n in t.notes)
            if signature not in seen or v == 0:
                break
        if signature in seen:
            result.messages.append(f"variation {v + 1} came out the same as an earlier one")
        seen.add(signature)
        result.variations.append(tracks)
        result.chords.append(chords)
    progress(1.0, "done")
    return result


def _one_variation(harmonizer, style: str, melody: PreparedMelody, variation: int, rng,
                   temperature: float, shift: int, channels: list[int], voicing: str
                   ) -> tuple[list[Track], list[ChordSymbol | None]]:
    from composer.analysis.chord_labels import chord_text_events

    if style == "chorale":
        voices: ChoraleVoices = harmonizer.harmonize(melody, variation, rng, temperature)
        parts = [repair_line(notes, -shift) for notes in (voices.alto, voices.tenor, voices.bass)]
        names = ("Alto", "Tenor", "Bass")
        tracks = [Track(name, tuple(notes), program=CHOIR_PROGRAM, channel=channel)
                  for name, notes, channel in zip(names, parts, channels, strict=True)]
        return tracks, list(voices.chords or [])
    from composer.analysis.voicing import chord_track_notes

    chords = list(harmonizer.chords(melody, variation, rng, temperature))
    if len(chords) != len(melody.beats):  # a model that gave too few or too many: pad or cut
        chords = (chords + [chords[-1] if chords else None] * len(melody.beats))[:len(melody.beats)]
    notes = repair_chord_notes(chord_track_notes(melody.beats, chords, melody.notes, voicing),
                               -shift)
    texts = chord_text_events(melody.beats, chords)
    texts = tuple(replace(t, text=_respell(t.text, melody.key)) for t in texts)
    track = Track("Chords", tuple(notes), program=PIANO_PROGRAM, channel=channels[0], texts=texts)
    return [track], chords


def _respell(text: str, key: KeySignature) -> str:
    from composer.core.chords import format_chord, parse_chord

    return format_chord(parse_chord(text), key=key)


def prepare_melody(song: Song, track_index: int | None, style: str
                   ) -> tuple[PreparedMelody, int, int, list[str]]:
    """The melody as models see it, its track index, the octave shift applied, and notes."""
    from composer.analysis.keys import melody_key

    messages: list[str] = []
    index = _melody_track(song, track_index, messages)
    track = song.tracks[index]
    if not is_monophonic(track):
        track = top_line(track)
        messages.append(f"track {index + 1} ({track.name or 'unnamed'}) has chords; "
                        "harmonised its top line")
    notes = tuple(sorted(track.notes))
    low, high = MODEL_RANGES[style]
    median = statistics.median_low([n.pitch for n in notes])
    shift = 0
    while median + shift < low:
        shift += 12
    while median + shift > high:
        shift -= 12
    top, bottom = max(n.pitch for n in notes), min(n.pitch for n in notes)
    while top + shift > 127 or bottom + shift < 0:  # never move a note out of MIDI's range
        shift -= 12 if shift > 0 else -12
    if shift:
        octaves = abs(shift) // 12
        moved = f"{octaves} octave{'s' if octaves > 1 else ''} {'up' if shift > 0 else 'down'}"
        messages.append(
            f"the melody lies {'low' if shift > 0 else 'high'} (middle note {note_name(median)}); "
            f"harmonised {moved} and moved the harmony back")
        notes = tuple(replace(n, pitch=n.pitch + shift) for n in notes)
    key, key_note = melody_key(notes, song.key_at(notes[0].start_tick))
    if key_note:
        messages.append(key_note)
    beats = tuple(beat_grid(song.time_signatures, notes[0].start_tick, notes[-1].end_tick))
    if len(beats) > MAX_BEATS:
        # Every beat is decoded; a melody this long is a file gone wrong (a note
        # held for thousands of bars) far more often than a real piece.
        raise InputFileError(
            f"the melody spans {len(beats)} beats; composer harmonises at most {MAX_BEATS} "
            "beats at a time", "select a shorter range of bars, or check for a note held far too long")
    messages += _meter_notes(song, notes[0].start_tick, notes[-1].end_tick)
    prepared = PreparedMelody(notes=notes, beats=beats, key=key,
                              time_signatures=song.time_signatures,
                              song=song.with_tracks([track.with_notes(notes)]))
    return prepared, index, shift, messages


def _melody_track(song: Song, track_index: int | None, messages: list[str]) -> int:
    if track_index is not None:
        if not 0 <= track_index < len(song.tracks):
            count = len(song.tracks)
            raise InvalidArgumentError(f"there is no track {track_index + 1}; the song has "
                                       f"{count} track{'s' if count != 1 else ''}")
        track = song.tracks[track_index]
        label = f"track {track_index + 1} ({track.name or 'unnamed'})"
        if track.is_drum:
            raise InputFileError(f"{label} is a drum track; there is no melody in it to harmonise",
                                 "choose a melody track")
        if not track.notes:
            raise InputFileError(f"{label} has no notes to harmonise")
        return track_index
    pitched = [i for i, t in enumerate(song.tracks) if t.notes and not t.is_drum]
    if not pitched:
        if any(t.notes for t in song.tracks):
            raise InputFileError("the song has only drum tracks; there is no melody to harmonise")
        raise InputFileError("the song has no notes to harmonise")
    named = [i for i in pitched if song.tracks[i].name.strip().lower() in ("melody", "soprano")]
    index = named[0] if named else pitched[0]
    if len(pitched) > 1:
        messages.append(f"harmonised track {index + 1} ({song.tracks[index].name or 'unnamed'}) "
                        "as the melody; choose another with --track")
    return index


def _meter_notes(song: Song, start: int, end: int) -> list[str]:
    notes = []
    grid = BarGrid.of(song)
    for ts in song.time_signatures:
        regular = ts.numerator in _STANDARD_NUMERATORS and ts.bar_ticks % beat_unit_ticks(ts) == 0
        if ts.tick >= end or regular:
            continue
        bar = grid.bar_at_tick(max(ts.tick, start))
        beats = beat_grid((replace(ts, tick=0),), 0, ts.bar_ticks)
        eighths = "+".join(str(b.duration_ticks * 2 // PPQ) for b in beats)
        notes.append(f"{ts} (from bar {bar + 1}): one chord per beat, beats of {eighths} eighths")
    return notes


def _free_channels(song: Song, count: int) -> list[int]:
    used = {t.channel for t in song.tracks}
    free = [c for c in range(16) if c != DRUM_CHANNEL and c not in used]
    free += [c for c in range(16) if c != DRUM_CHANNEL and c in used]
    return free[:count]


def _fold(pitch: int) -> int:
    while pitch < 0:
        pitch += 12
    while pitch > 127:
        pitch -= 12
    return pitch


def repair_line(notes, shift: int = 0) -> list[Note]:
    """One voice as a clean line: moved by ``shift``, in MIDI's range, no overlaps, monophonic."""
    moved = [replace(n, pitch=_fold(n.pitch + shift)) for n in notes if n.duration_ticks > 0]
    line = top_line(Track("voice", tuple(remove_overlaps(moved))))
    return list(line.notes)


def repair_chord_notes(notes, shift: int = 0) -> list[Note]:
    """A chord track moved by ``shift`` into MIDI's range, with same-pitch overlaps cut."""
    return remove_overlaps([replace(n, pitch=_fold(n.pitch + shift)) for n in notes])


def add_variation(song: Song, result: HarmonyResult, variation: int = 0) -> Song:
    """The song with one variation's tracks added after its own."""
    if not 0 <= variation < len(result.variations):
        raise InvalidArgumentError(f"there is no variation {variation + 1}; "
                                   f"{len(result.variations)} were made")
    return song.with_tracks(list(song.tracks) + list(result.variations[variation]))


class LiveHarmonizer:
    """Harmony for one melody note at a time, for the live jam mode.

    ``note_on(pitch, velocity)`` returns the pitches to sound with the melody
    note (the melody note itself not included), ``note_off(pitch)`` the ones
    started for it (to release them), ``reset()`` forgets the phrase. ``key``
    is a KeySignature or a name like 'G major' / 'E minor'; without one the
    key is estimated from the notes played so far. ``model`` 'auto' takes the
    Transformer's fast path (its KV cache) when its checkpoint is installed,
    else the next available model.
    """

    def __init__(self, style: str = "chorale", model: str = "auto",
                 key: KeySignature | str | None = None) -> None:
        model = resolve(model, style)
        self.style, self.model = style, model
        self._session = get_model(model, style).live(_parse_key(key))
        self._active: dict[int, list[int]] = {}
        self._lock = threading.Lock()

    def note_on(self, pitch: int, velocity: int = 80) -> list[int]:
        if not 0 <= pitch <= 127:
            raise InvalidArgumentError(f"pitch {pitch} is outside MIDI's 0..127")
        if velocity == 0:
            return self.note_off(pitch)
        with self._lock:
            harmony = self._session.note_on(pitch)
            self._active[pitch] = harmony
            return list(harmony)

    def note_off(self, pitch: int) -> list[int]:
        with self._lock:
            return self._active.pop(pitch, [])

    def sounding(self) -> list[int]:
        """Every harmony pitch started and not yet released (for a panic)."""
        with self._lock:
            return sorted({p for notes in self._active.values() for p in notes})

    def reset(self) -> None:
        with self._lock:
            self._session.reset()
            self._active.clear()

    def close(self) -> None:
        """Stop the session's look-ahead thread, if it has one (it would otherwise
        idle on for half a minute, decoding answers nobody will ask for)."""
        close = getattr(self._session, "close", None)
        if close is not None:
            close()


def _parse_key(key: KeySignature | str | None) -> KeySignature | None:
    if key is None or isinstance(key, KeySignature):
        return key
    from composer.core.pitch import key_from_tonic

    parts = key.replace("-", " ").split()
    mode = "minor" if len(parts) > 1 and parts[1].lower().startswith("min") else "major"
    if len(parts) == 1 and parts[0].endswith("m") and len(parts[0]) > 1:
        parts[0], mode = parts[0][:-1], "minor"
    try:
        tonic = parse_note_name(parts[0] + "4") % 12 if parts else None
    except ValueError:
        tonic = None
    bad_mode = len(parts) == 2 and not parts[1].lower().startswith(("maj", "min"))
    if tonic is None or len(parts) > 2 or bad_mode:
        raise InvalidArgumentError(f"{key!r} is not a key",
                                   "write a key like 'G major', 'E minor' or 'Em'")
    return key_from_tonic(tonic, mode)
