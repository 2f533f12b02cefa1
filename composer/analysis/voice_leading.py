"""Voice-leading faults of a four-part (SATB) setting, counted the textbook way.

The piece is read as a sequence of *verticalities*: every tick where some
voice starts a note, with the pitch each voice sounds there. A *chord change*
is a pair of consecutive verticalities where all four voices sound and at
least one of them moves to another pitch; rates are given per 100 chord
changes, so a busy texture and a plain one are compared on the same footing
of "how often, when something moves, is it wrong".

Faults counted:

* parallel fifths and parallel octaves (unisons included): two voices that
  both move, from one perfect fifth (octave) to another, compound intervals and
  contrary motion included;
* voice crossing: a lower voice above its upper neighbour, counted at each
  verticality where one of the two starts a note;
* voice overlap: a voice moving past the previous pitch of its neighbour
  (above the note the upper voice just left, or below the lower one's);
* spacing: more than an octave between soprano and alto or alto and tenor;
* out of range: notes outside ``SATB_RANGES``;
* unresolved leading tones: a dominant chord (major triad or dominant seventh
  a fifth above, or a diminished chord a semitone below) moving to a major or
  minor triad, where a voice holding the leading tone does not rise to the
  tonic; an inner voice may fall a major third to the fifth (Bach's
  "frustrated" leading tone). Keys are read locally from the chords, so a
  cadence in a passing key counts too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from composer.core.chords import ChordSymbol, match_chord
from composer.core.pitch import note_name
from composer.core.song import Note, Song, Track
from composer.errors import InputFileError

VOICES = ("Soprano", "Alto", "Tenor", "Bass")

SATB_RANGES: dict[str, tuple[int, int]] = {
    "Soprano": (60, 81),  # C4-A5
    "Alto": (53, 74),     # F3-D5
    "Tenor": (48, 69),    # C3-A4
    "Bass": (38, 62),     # D2-D4
}
"""Ranges of the four voices (MIDI pitches, inclusive): the common textbook ranges
(S C4-G5, A G3-D5, T C3-G4, B E2-C4) widened by the notes Bach writes often
enough in the chorales to be normal for a choir: S to A5, A down to F3, T up to
A4, B from D2 to D4. Out-of-range counts notes beyond these."""

FAULT_KINDS = ("parallel_fifths", "parallel_octaves", "crossing", "overlap", "spacing",
               "out_of_range", "unresolved_leading_tone")
PARALLEL_KINDS = ("parallel_fifths", "parallel_octaves")
MAX_UPPER_SPACING = 12


@dataclass(frozen=True)
class Fault:
    """One fault: what, where (tick), which voices, and the pitches involved."""

    kind: str
    tick: int
    voices: tuple[str, ...]
    pitches: tuple[int, ...]

    def describe(self) -> str:
        names = " ".join(note_name(p) for p in self.pitches)
        return f"{self.kind.replace('_', ' ')}: {'/'.join(self.voices)} ({names})"


@dataclass
class VoiceLeadingReport:
    """Counts of each fault kind, the number of chord changes they are rated against,
    and the faults themselves (for showing where they are)."""

    chord_changes: int = 0
    verticalities: int = 0
    notes: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAULT_KINDS, 0))
    faults: list[Fault] = field(default_factory=list)

    def add(self, fault: Fault) -> None:
        self.counts[fault.kind] += 1
        self.faults.append(fault)

    def per_100(self, kinds: Sequence[str] = FAULT_KINDS) -> float:
        if not self.chord_changes:
            return 0.0
        return 100.0 * sum(self.counts[k] for k in kinds) / self.chord_changes

    @property
    def faults_per_100(self) -> float:
        return self.per_100(FAULT_KINDS)

    @property
    def parallels_per_100(self) -> float:
        return self.per_100(PARALLEL_KINDS)

    @property
    def out_of_range(self) -> int:
        return self.counts["out_of_range"]

    def merge(self, other: VoiceLeadingReport) -> VoiceLeadingReport:
        """Totals over two pieces (faults lists are joined, ticks stay per piece)."""
        return VoiceLeadingReport(
            chord_changes=self.chord_changes + other.chord_changes,
            verticalities=self.verticalities + other.verticalities,
            notes=self.notes + other.notes,
            counts={k: self.counts[k] + other.counts[k] for k in FAULT_KINDS},
            faults=self.faults + other.faults,
        )

    def summary(self) -> dict[str, Any]:
        """Rates and counts as plain numbers (JSON-ready)."""
        return {
            "chord_changes": self.chord_changes,
            "faults_per_100": round(self.faults_per_100, 3),
            "parallels_per_100": round(self.parallels_per_100, 3),
            "out_of_range": self.out_of_range,
            "per_100": {k: round(self.per_100((k,)), 3) for k in FAULT_KINDS},
            "counts": dict(self.counts),
        }


def _sounding(notes: Sequence[Note], ticks: Sequence[int]) -> list[tuple[int | None, bool, int]]:
    """(pitch or None, starts here, end tick) for a time-sorted monophonic line at each tick."""
    out: list[tuple[int | None, bool, int]] = []
    i = 0
    for tick in ticks:
        while i + 1 < len(notes) and notes[i + 1].start_tick <= tick:
            i += 1
        if notes and notes[i].start_tick <= tick < notes[i].end_tick:
            out.append((notes[i].pitch, notes[i].start_tick == tick, notes[i].end_tick))
        else:
            out.append((None, False, tick))
    return out


def _dominant_of(first: ChordSymbol, second: ChordSymbol) -> bool:
    """``first`` acts as the (local) dominant of ``second``, a major or minor triad."""
    if second.quality not in ("maj", "min"):
        return False
    if first.triad == "maj" and first.quality in ("maj", "7"):
        return (first.root_pc - second.root_pc) % 12 == 7
    if first.triad == "dim":
        return (second.root_pc - first.root_pc) % 12 == 1
    return False


def analyse_voices(voices: Sequence[Sequence[Note]], names: Sequence[str] = VOICES,
                   ranges: dict[str, tuple[int, int]] | None = None) -> VoiceLeadingReport:
    """Count the faults of monophonic voices given top to bottom (soprano first)."""
    ranges = SATB_RANGES if ranges is None else ranges
    lines = [sorted(v) for v in voices]
    report = VoiceLeadingReport(notes=sum(len(v) for v in lines))
    for name, line in zip(names, lines, strict=True):
        low, high = ranges.get(name, (0, 127))
        for n in line:
            if not low <= n.pitch <= high:
                report.add(Fault("out_of_range", n.start_tick, (name,), (n.pitch,)))
    ticks = sorted({n.start_tick for line in lines for n in line})
    report.verticalities = len(ticks)
    columns = [_sounding(line, ticks) for line in lines]
    count = len(lines)
    prev: list[int | None] | None = None
    prev_chord: ChordSymbol | None = None
    prev_ends: list[int] = []
    for k, tick in enumerate(ticks):
        now = [columns[v][k][0] for v in range(count)]
        onset = [columns[v][k][1] for v in range(count)]
        for upper in range(count - 1):
            lower = upper + 1
            a, b = now[upper], now[lower]
            if a is None or b is None or not (onset[upper] or onset[lower]):
                continue
            if b > a:
                report.add(Fault("crossing", tick, (names[upper], names[lower]), (a, b)))
            if lower <= 2 and a - b > MAX_UPPER_SPACING:
                report.add(Fault("spacing", tick, (names[upper], names[lower]), (a, b)))
        complete = all(p is not None for p in now)
        chord = None
        if complete:
            pitches = [p for p in now if p is not None]
            weights: dict[int, float] = {}
            for p in pitches:
                weights[p % 12] = weights.get(p % 12, 0.0) + 1.0
            chord = match_chord(weights, bass_pc=min(pitches) % 12)
        # A rest in any voice between the two verticalities breaks the connection.
        connected = prev is not None and all(p is not None for p in prev) \
            and all(end >= tick for end in prev_ends)
        if connected and complete and prev != now:
            report.chord_changes += 1
            _motion_faults(report, tick, prev, now, names)  # type: ignore[arg-type]
            if prev_chord is not None and chord is not None and _dominant_of(prev_chord, chord):
                _leading_tone_faults(report, tick, prev, now, names,  # type: ignore[arg-type]
                                     chord)
        prev, prev_chord = now, chord
        prev_ends = [columns[v][k][2] for v in range(count)]
    return report


def _motion_faults(report: VoiceLeadingReport, tick: int, prev: list[int], now: list[int],
                   names: Sequence[str]) -> None:
    count = len(now)
    moved = [prev[v] != now[v] for v in range(count)]
    for upper in range(count):
        for lower in range(upper + 1, count):
            if not (moved[upper] and moved[lower]):
                continue
            before = abs(prev[upper] - prev[lower]) % 12
            after = abs(now[upper] - now[lower]) % 12
            if before == after and before in (0, 7):
                kind = "parallel_fifths" if before == 7 else "parallel_octaves"
                report.add(Fault(kind, tick, (names[upper], names[lower]),
                                 (prev[upper], prev[lower], now[upper], now[lower])))
    for upper in range(count - 1):
        lower = upper + 1
        if now[lower] > now[upper]:
            continue  # already a crossing
        if (moved[lower] and now[lower] > prev[upper]) or \
                (moved[upper] and now[upper] < prev[lower]):
            report.add(Fault("overlap", tick, (names[upper], names[lower]),
                             (prev[upper], prev[lower], now[upper], now[lower])))


def _leading_tone_faults(report: VoiceLeadingReport, tick: int, prev: list[int], now: list[int],
                         names: Sequence[str], tonic: ChordSymbol) -> None:
    leading = (tonic.root_pc - 1) % 12
    count = len(now)
    for v in range(count):
        if prev[v] % 12 != leading or now[v] % 12 == tonic.root_pc:
            continue
        inner = 0 < v < count - 1
        if inner and prev[v] - now[v] == 4:
            continue  # the inner voice's leap down to the fifth
        report.add(Fault("unresolved_leading_tone", tick, (names[v],), (prev[v], now[v])))


# ------------------------------------------------------------- from a song


def satb_tracks(song: Song) -> tuple[list[Track], list[str]]:
    """The four voices of a song, soprano first, and notes on how they were found.

    Tracks named Soprano/Alto/Tenor/Bass are used by name; otherwise exactly
    four pitched tracks are taken, ordered by average pitch; a single track
    holding four-part chords is split into voices. Polyphonic voices are reduced
    to their top line. Raises InputFileError when there are not four voices.
    """
    notes: list[str] = []
    pitched = [t for t in song.tracks if not t.is_drum and t.notes]
    by_name = {}
    for t in pitched:
        for voice in VOICES:
            if t.name.strip().lower().startswith(voice.lower()) and voice not in by_name:
                by_name[voice] = t
    if len(by_name) == 4:
        tracks = [by_name[v] for v in VOICES]
    elif len(pitched) == 4:
        tracks = sorted(pitched, key=lambda t: -sum(n.pitch for n in t.notes) / len(t.notes))
        notes.append("voices taken from the four tracks, highest first: "
                     + ", ".join(t.name or "(unnamed)" for t in tracks))
    elif len(pitched) == 1:
        from composer.core.ops import split_voices

        tracks = split_voices(pitched[0], max_voices=4)
        if len(tracks) != 4:
            raise InputFileError(
                f"the track {pitched[0].name!r} holds {len(tracks)} "
                f"voice{'s' if len(tracks) != 1 else ''}, not four",
                "voice-leading checks need a four-part (SATB) setting")
        notes.append(f"split the track {pitched[0].name!r} into four voices")
    else:
        raise InputFileError(
            f"found {len(pitched)} pitched tracks and no Soprano/Alto/Tenor/Bass names",
            "voice-leading checks need four parts: four tracks, or one track of four-part chords")
    from composer.core.ops import is_monophonic, top_line

    result = []
    for voice, track in zip(VOICES, tracks, strict=True):
        if not is_monophonic(track):
            notes.append(f"{voice.lower()} ({track.name}) has chords; its top line was used")
            track = top_line(track)
        result.append(track)
    return result, notes


def analyse_song(song: Song) -> tuple[VoiceLeadingReport, list[str]]:
    """Voice-leading report of a four-part song, with notes on how voices were found."""
    tracks, notes = satb_tracks(song)
    return analyse_voices([t.notes for t in tracks]), notes
