"""What other programs make of our files: each reader's notes in one common form.

A track's notes are ``(pitch, start_tick, end_tick)`` at 480 ticks a quarter,
sorted. MuseScore is run headless; it must be installed (run.sh installs it),
so tests that need it fail rather than skip when it is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from composer.core.song import (
    PPQ,
    KeySignature,
    Note,
    Song,
    TempoChange,
    TimeSignature,
    Track,
)

NoteRow = tuple[int, int, int]


# ------------------------------------------------------------------ songs on a clean grid
# (MuseScore quantises what it imports, so these keep to 16ths and whole beats.)


def n(start: int, pitch: int, length: int, velocity: int = 80) -> Note:
    return Note(pitch=pitch, start_tick=start, duration_ticks=length, velocity=velocity)


def band() -> Song:
    """Four tracks (drums on channel 10), a one-beat pickup, 3/4 then 6/8, two keys, two tempi."""
    melody = [n(0, 67, 480)] + [n(480 + i * 480, 60 + (i * 5) % 12, 240 if i % 3 else 480, 70 + i)
                                for i in range(12)]
    melody += [n(6240, 72, 240), n(6480, 72, 240), n(6720, 72, 720)]  # a repeated pitch
    piano = [n(480 + bar * 1440, p, 1440, 60) for bar in range(3) for p in (48, 55, 63)]
    piano += [n(4800, 50, 1440), n(4800, 57, 720), n(5520, 59, 720)]  # unequal lengths, one track
    bass = [n(480 + i * 720, 36 + i % 5, 720) for i in range(8)]
    drums = [n(480 + i * 240, 42 if i % 2 else 36, 120, 100) for i in range(24)]
    drums += [n(480 + i * 960, 38, 120, 90) for i in range(6)]
    return Song(
        title="Band",
        tracks=(Track("Melody", tuple(sorted(melody)), program=73, channel=0),
                Track("Piano", tuple(sorted(piano)), program=0, channel=1),
                Track("Bass", tuple(sorted(bass)), program=32, channel=2),
                Track("Drums", tuple(sorted(drums)), program=0, channel=9)),
        tempos=(TempoChange(0, 500_000), TempoChange(3360, 600_000)),
        time_signatures=(TimeSignature(0, 1, 4), TimeSignature(480, 3, 4),
                         TimeSignature(4800, 6, 8)),
        keys=(KeySignature(0, -3, "minor"), KeySignature(3360, 2, "major")),
    )


def jig() -> Song:
    """A real 6/8 tune with a pickup, read from ABC by the same code users run."""
    from composer.io.music21_convert import score_to_song

    abc = "\n".join([
        "X:1", "T:The Test Jig", "M:6/8", "L:1/8", "Q:3/8=100", "K:Bb",
        "F|BdB FDF|GAB c2A|BcB AGF|G3 F2E|", "DED FEF|GAB cBc|d2B c2A|B3 B2|]",
    ])
    from music21 import converter

    return score_to_song(converter.parse(abc, format="abc"), pickup="meter")


def chorale() -> Song:
    """A Bach chorale with its pickup, four voices, as the corpus reader makes it."""
    from music21 import corpus

    from composer.io.music21_convert import score_to_song

    return score_to_song(corpus.parse("bach/bwv66.6"), pickup="meter")


SONGS = {"band": band, "jig": jig, "chorale": chorale}



@dataclass
class ReadTrack:
    name: str
    program: int | None
    channel: int | None  # None where the reader does not say
    is_drum: bool
    notes: list[NoteRow]


def ours(song: Song) -> list[ReadTrack]:
    return [ReadTrack(t.name, t.program, t.channel, t.is_drum,
                      sorted((n.pitch, n.start_tick, n.end_tick) for n in t.notes))
            for t in song.tracks]


def with_mido(path: Path) -> list[ReadTrack]:
    import mido

    midi = mido.MidiFile(path)
    assert midi.ticks_per_beat == PPQ
    tracks = []
    for track in midi.tracks[1:]:
        tick, name, program, channels = 0, "", None, set()
        sounding: dict[int, list[int]] = {}
        notes = []
        for message in track:
            tick += message.time
            if message.type == "track_name":
                name = message.name.encode("latin-1").decode("utf-8")
            elif message.type == "program_change":
                program = message.program
            if message.type == "note_on" and message.velocity > 0:
                sounding.setdefault(message.note, []).append(tick)
                channels.add(message.channel)
            elif message.type in ("note_off", "note_on"):
                notes.append((message.note, sounding[message.note].pop(0), tick))
        assert len(channels) <= 1
        channel = channels.pop() if channels else None
        tracks.append(ReadTrack(name, program, channel, channel == 9, sorted(notes)))
    return tracks


def with_symusic(path: Path) -> list[ReadTrack]:
    import symusic

    score = symusic.Score(str(path))
    assert score.ticks_per_quarter == PPQ
    return [ReadTrack(t.name, t.program, None, t.is_drum,
                      sorted((n.pitch, n.time, n.time + n.duration) for n in t.notes))
            for t in score.tracks]


def with_pretty_midi(path: Path) -> list[ReadTrack]:
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(str(path))
    assert midi.resolution == PPQ
    return [ReadTrack(i.name, int(i.program), None, i.is_drum,
                      sorted((n.pitch, midi.time_to_tick(n.start), midi.time_to_tick(n.end))
                             for n in i.notes))
            for i in midi.instruments]


def with_music21(path: Path) -> list[ReadTrack]:
    """music21's MIDI reader, unquantised, so offsets are exact fractions of a quarter."""
    from music21 import converter, instrument, note

    score = converter.parse(str(path), quantizePost=False)
    tracks = []
    for part in score.parts:
        instruments = list(part.recurse().getElementsByClass(instrument.Instrument))
        # music21 first guesses an instrument from the track name, then applies
        # the file's program change: the last instrument is the file's.
        program = instruments[-1].midiProgram if instruments else None
        is_drum = any(isinstance(i, instrument.UnpitchedPercussion) for i in instruments)
        notes = []
        # music21 splits notes at bar lines into tied pieces; join them again.
        for element in part.flatten().stripTies().notes:
            start = _ticks(element.getOffsetInHierarchy(part))
            # music21 makes a chord of notes that start and end together; its
            # members' own durations are placeholders, the chord's is the one.
            end = start + _ticks(element.quarterLength)
            for member in element.notes if hasattr(element, "notes") else [element]:
                if isinstance(member, note.Unpitched):
                    notes.append((member.storedInstrument.percMapPitch, start, end))
                else:
                    notes.append((member.pitch.midi, start, end))
        tracks.append(ReadTrack(part.partName or "", program, None, is_drum, sorted(notes)))
    return tracks


def _ticks(quarters) -> int:
    ticks = Fraction(quarters) * PPQ
    assert ticks.denominator == 1, f"{quarters} quarters is not a whole number of ticks"
    return int(ticks)


# ------------------------------------------------------------------ MuseScore


def mscore(source: Path, target: Path, scratch: Path) -> None:
    """Convert with MuseScore 3 headless (MIDI -> MusicXML, MusicXML -> MIDI)."""
    program = shutil.which("mscore3") or shutil.which("musescore3")
    assert program, "MuseScore 3 is not installed (run.sh installs the musescore3 package)"
    runtime = scratch / "xdg-runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(runtime),
               XDG_CONFIG_HOME=str(scratch / "config"), XDG_DATA_HOME=str(scratch / "data"),
               XDG_CACHE_HOME=str(scratch / "cache"))
    result = subprocess.run([program, "-o", str(target), str(source)], env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0 and target.exists(), result.stdout[-2000:] + result.stderr[-2000:]


@dataclass
class ScorePart:
    name: str
    onsets: set[tuple[int, int]]  # (start_tick, pitch)


def musicxml_with_music21(path: Path) -> list[ScorePart]:
    """Pitched parts' (onset, pitch) pairs as music21 reads a MusicXML file.

    MuseScore splits a piano track over two staves; staves of one part share
    the part's name and are merged here.
    """
    from music21 import converter, note

    score = converter.parse(str(path))
    parts: dict[str, ScorePart] = {}
    for part in score.parts:
        name = part.partName or ""
        entry = parts.setdefault(name, ScorePart(name, set()))
        for element in part.flatten().stripTies().notes:
            if isinstance(element, note.Unpitched) or element.duration.isGrace:
                continue
            start = _ticks(element.getOffsetInHierarchy(part))
            entry.onsets.update((start, p.midi) for p in element.pitches)
    return list(parts.values())


def musicxml_drum_hits(path: Path) -> dict[str, set[tuple[int, int]]]:
    """(onset, GM drum pitch) of every unpitched note, by part name.

    music21 does not carry MusicXML's per-note instrument, which is what says
    which drum sounds, so this walks the XML: divisions, backup, forward, chord.
    """
    root = ET.parse(path).getroot()
    names, sounds = {}, {}
    for score_part in root.iter("score-part"):
        names[score_part.get("id")] = score_part.findtext("part-name", "")
        for midi in score_part.iter("midi-instrument"):
            unpitched = midi.findtext("midi-unpitched")
            if unpitched:
                sounds[midi.get("id")] = int(unpitched) - 1  # MusicXML counts from 1
    hits: dict[str, set[tuple[int, int]]] = {}
    for part in root.iter("part"):
        divisions, position, last_onset = 1, Fraction(0), Fraction(0)
        found = set()
        for measure in part.iter("measure"):
            for item in measure:
                if item.tag == "attributes" and item.findtext("divisions"):
                    divisions = int(item.findtext("divisions"))
                elif item.tag in ("backup", "forward"):
                    step = Fraction(int(item.findtext("duration")), divisions)
                    position += step if item.tag == "forward" else -step
                elif item.tag == "note":
                    if item.find("grace") is not None:
                        continue
                    onset = last_onset if item.find("chord") is not None else position
                    if item.find("chord") is None:
                        position += Fraction(int(item.findtext("duration", "0")), divisions)
                    last_onset = onset
                    instrument = item.find("instrument")
                    if item.find("unpitched") is not None and instrument is not None:
                        found.add((_ticks(onset), sounds[instrument.get("id")]))
        if found:
            hits[names[part.get("id")]] = found
    return hits
