"""Song <-> music21 Score, for MusicXML export and for reading scores (MusicXML,
ABC, Humdrum, MuseScore's own export). music21 is imported inside functions.

A pickup (anacrusis) has no place on a plain bar grid. Two treatments:
``"meter"`` writes the pickup as a short bar with its own time signature (as
notation programs export MIDI); ``"pad"`` shifts the piece so the pickup sits at
the end of an otherwise silent first bar, giving one meter throughout (what the
corpus uses, so the tokenizer sees every note at its true metric position).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Literal

from composer.core import ops
from composer.core.song import (
    DRUM_CHANNEL,
    PPQ,
    KeySignature,
    Note,
    Song,
    TempoChange,
    TimeSignature,
    Track,
)

PickupMode = Literal["meter", "pad"]

_EXPORT_GRIDS = (PPQ // 8, PPQ // 6)  # 32nd notes and 16th-note triplets


def _ticks(quarter_length: Any) -> int:
    return round(Fraction(quarter_length) * PPQ)


def score_to_song(score: Any, pickup: PickupMode = "meter", title: str = "") -> Song:
    """Convert a parsed music21 Score (or Part/Opus member) into a Song."""
    from music21 import key as m21key
    from music21 import meter, tempo

    parts = list(score.parts) if hasattr(score, "parts") and score.parts else [score]
    first_part = parts[0]
    pickup_ticks, bar_ticks = _pickup_length(first_part)

    tracks = []
    melodic_channels = iter([c for c in range(16) if c != 9] * 8)
    for index, part in enumerate(parts):
        notes = []
        for element in part.flatten().stripTies().notes:
            if element.duration.isGrace or element.quarterLength == 0:
                continue
            start = _ticks(element.getOffsetInHierarchy(part))
            length = max(_ticks(element.quarterLength), 1)
            velocity = element.volume.velocity if element.volume.velocityIsRelative is False \
                and element.volume.velocity else 80
            for p in element.pitches:
                if 0 <= p.midi <= 127:
                    notes.append(Note(pitch=int(p.midi), start_tick=start, duration_ticks=length,
                                      velocity=int(velocity)))
        if not notes:
            continue
        instrument = part.getInstrument(returnDefault=True)
        program = instrument.midiProgram if instrument.midiProgram is not None else 0
        name = (part.partName or instrument.partName or instrument.instrumentName
                or f"Part {index + 1}")
        channel = DRUM_CHANNEL if _is_drum_part(instrument) else next(melodic_channels)
        tracks.append(Track(name=str(name), notes=tuple(ops.remove_overlaps(notes)),
                            program=int(program), channel=channel))

    flat = first_part.flatten()
    meters = []
    for ts in flat.getElementsByClass(meter.TimeSignature):
        tick = _ticks(ts.getOffsetInHierarchy(first_part))
        meters.append(TimeSignature(tick, ts.numerator, ts.denominator))
    keys = []
    for ks in flat.getElementsByClass(m21key.KeySignature):
        tick = _ticks(ks.getOffsetInHierarchy(first_part))
        # The signature as written (Gb major stays 6 flats); modal keys keep
        # their signature and count as major.
        minor = isinstance(ks, m21key.Key) and ks.mode == "minor"
        keys.append(KeySignature(tick, max(-7, min(7, ks.sharps)), "minor" if minor else "major"))
    tempos = []
    for mark in score.flatten().getElementsByClass(tempo.MetronomeMark):
        bpm = mark.getQuarterBPM()
        if bpm and 1 <= bpm <= 1000:
            tempos.append(TempoChange.from_bpm(_ticks(mark.getOffsetInHierarchy(score)), bpm))

    song = Song(
        title=title or _title(score),
        tracks=tuple(tracks),
        tempos=_dedupe(tempos, TempoChange(0, 500_000)),
        time_signatures=_dedupe(meters, TimeSignature(0, 4, 4)),
        keys=tuple(sorted({k.tick: k for k in keys}.values())),
    )
    if pickup_ticks and bar_ticks:
        song = _apply_pickup(song, pickup_ticks, bar_ticks, pickup)
    return song


def _is_drum_part(instrument: Any) -> bool:
    """A drum kit: unpitched percussion (not timpani or marimba), or on MIDI channel 10."""
    from music21 import instrument as m21instrument

    unpitched = isinstance(instrument, m21instrument.Percussion) \
        and not isinstance(instrument, m21instrument.PitchedPercussion)
    return unpitched or instrument.midiChannel == DRUM_CHANNEL


def _dedupe(events: list, default: Any) -> tuple:
    by_tick = {e.tick: e for e in sorted(events)}
    if 0 not in by_tick:
        by_tick[0] = default
    return tuple(by_tick[t] for t in sorted(by_tick))


def _title(score: Any) -> str:
    metadata = getattr(score, "metadata", None)
    if metadata is None:
        return ""
    return str(metadata.title or metadata.movementName or "")


def _pickup_length(part: Any) -> tuple[int, int]:
    """(pickup ticks, full bar ticks) when the first measure is a short anacrusis."""
    from music21 import stream

    measures = part.getElementsByClass(stream.Measure)
    if not measures:
        return 0, 0
    first = measures[0]
    ts = first.timeSignature or first.getContextByClass("TimeSignature")
    if ts is None:
        return 0, 0
    bar = _ticks(ts.barDuration.quarterLength)
    padding = _ticks(first.paddingLeft) if first.paddingLeft else 0
    actual = _ticks(first.duration.quarterLength)
    if padding > 0:
        return bar - padding, bar
    if 0 < actual < bar and len(measures) > 1:
        return actual, bar
    return 0, 0


def _apply_pickup(song: Song, pickup_ticks: int, bar_ticks: int, mode: PickupMode) -> Song:
    from dataclasses import replace

    if mode == "pad":
        shifted = ops.shift(song, bar_ticks - pickup_ticks)
        # The padded first bar is a whole bar of the opening meter; a change
        # inside it is dropped, and so is one repeating the meter in force.
        meters: list[TimeSignature] = []
        for ts in shifted.time_signatures:
            if ts.tick == 0 or (ts.tick >= bar_ticks and (ts.numerator, ts.denominator)
                                != (meters[-1].numerator, meters[-1].denominator)):
                meters.append(ts)
        return replace(shifted, time_signatures=tuple(meters))
    meter = song.time_signatures[0]
    # Express the pickup as n/d in the meter's unit, or a finer one if needed.
    denominator = meter.denominator
    while (pickup_ticks * denominator) % (PPQ * 4) and denominator < 64:
        denominator *= 2
    if (pickup_ticks * denominator) % (PPQ * 4):
        return _apply_pickup(song, pickup_ticks, bar_ticks, "pad")
    numerator = pickup_ticks * denominator // (PPQ * 4)
    later = [ts for ts in song.time_signatures if ts.tick >= pickup_ticks]
    if not later or later[0].tick != pickup_ticks:
        later.insert(0, replace(meter, tick=pickup_ticks))
    return replace(song, time_signatures=(TimeSignature(0, numerator, denominator), *later))


# ------------------------------------------------------------------ Song -> music21


def _snap(tick: int) -> int:
    options = [round(tick / grid) * grid for grid in _EXPORT_GRIDS]
    return min(options, key=lambda t: (abs(t - tick), t))


def song_to_score(song: Song) -> Any:
    """A music21 Score of the song, notes snapped to 32nds / 16th triplets."""
    from music21 import instrument, key, metadata, meter, note, stream, tempo

    score = stream.Score()
    score.metadata = metadata.Metadata()
    score.metadata.title = song.title or "Untitled"
    for index, track in enumerate(song.tracks):
        part = stream.Part()
        part.id = f"P{index + 1}"
        part.partName = track.name
        inst: Any
        if track.is_drum:
            inst = instrument.UnpitchedPercussion()
        else:
            try:
                inst = instrument.instrumentFromMidiProgram(track.program)
            except Exception:  # music21 lacks a few GM programs; fall back to piano
                inst = instrument.Piano()
            inst.midiProgram = track.program
        inst.partName = track.name
        inst.midiChannel = track.channel
        part.insert(0, inst)
        # Every part carries meter and key (notation needs them per staff);
        # the tempo marks go on the top part only, as a score prints them.
        for ts in song.time_signatures:
            part.insert(Fraction(ts.tick, PPQ),
                        meter.TimeSignature(f"{ts.numerator}/{ts.denominator}"))
        for ks in song.keys:
            part.insert(Fraction(ks.tick, PPQ), key.KeySignature(ks.fifths).asKey(ks.mode))
        if index == 0:
            for t in song.tempos:
                part.insert(Fraction(t.tick, PPQ),
                            tempo.MetronomeMark(number=round(t.tempo_bpm, 2)))
        groups: dict[tuple[int, int], list[int]] = {}
        for n in track.notes:
            start = _snap(n.start_tick)
            end = max(_snap(n.end_tick), start + min(_EXPORT_GRIDS))
            groups.setdefault((start, end), []).append(n.pitch)
        for (start, end), pitches in sorted(groups.items()):
            quarter_length = Fraction(end - start, PPQ)
            element: Any
            if len(pitches) == 1:
                element = note.Note(pitches[0], quarterLength=quarter_length)
            else:
                from music21 import chord

                element = chord.Chord(sorted(set(pitches)), quarterLength=quarter_length)
            part.insert(Fraction(start, PPQ), element)
        score.insert(0, part)
    return score


def write_musicxml(song: Song, path: str) -> None:
    """Export a Song to MusicXML through music21, atomically."""
    import os
    import tempfile

    from composer.errors import OutputFileError
    from composer.io.atomic import atomic_write_bytes

    if not song.tracks or not song.note_count:
        raise OutputFileError(f"{path}: the song has no notes to write")
    score = song_to_score(song)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = os.path.join(tmp, "score.musicxml")
        try:
            written = score.write("musicxml", fp=scratch, makeNotation=True)
        except Exception as err:  # music21 raises many kinds while laying out
            raise OutputFileError(f"{path}: MusicXML export failed ({err})") from err
        with open(written, "rb") as handle:
            data = handle.read()
    atomic_write_bytes(path, data)
