"""Chord symbols: root, quality and bass, parsed from and written as text.

Two spellings are read and written:

* lead-sheet symbols, as a musician writes them and as composer stores them in
  chord-symbol text events: ``C``, ``F#m7/C#``, ``Bbmaj7``, ``Bm7b5``, ``Gsus4``;
* Harte labels, as datasets such as POP909 annotate chords: ``C:maj7``,
  ``F#:min7/5`` (bass as a scale degree over the root), ``N`` for no chord.

Besides parsing, this module matches pitch-class sets to chord symbols (the
labeller that names the chords of a four-part chorale) and reduces any quality
to its triad class, the unit chord accuracy is scored in. Pure Python; no
heavy imports.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from composer.core.song import KeySignature, pitch_class_name

QUALITY_INTERVALS: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "sus2": (0, 2, 7),
    "sus4": (0, 5, 7),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10),
    "hdim7": (0, 3, 6, 10),
    "dim7": (0, 3, 6, 9),
    "minmaj7": (0, 3, 7, 11),
    "maj6": (0, 4, 7, 9),
    "min6": (0, 3, 7, 9),
    "7sus4": (0, 5, 7, 10),
}
"""Semitones above the root for every quality composer knows (Harte names)."""

TRIAD_CLASS: dict[str, str] = {
    "maj": "maj", "7": "maj", "maj7": "maj", "maj6": "maj",
    "min": "min", "min7": "min", "min6": "min", "minmaj7": "min",
    "dim": "dim", "hdim7": "dim", "dim7": "dim",
    "aug": "aug",
    "sus2": "sus2",
    "sus4": "sus4", "7sus4": "sus4",
}
"""The triad each quality reduces to; chord accuracy compares root and this class."""

# Lead-sheet suffix for each quality, and the extra spellings the parser accepts.
_SUFFIX = {
    "maj": "", "min": "m", "dim": "dim", "aug": "aug", "sus2": "sus2", "sus4": "sus4",
    "7": "7", "maj7": "maj7", "min7": "m7", "hdim7": "m7b5", "dim7": "dim7",
    "minmaj7": "mMaj7", "maj6": "6", "min6": "m6", "7sus4": "7sus4",
}
_SUFFIX_ALIASES = {
    "M": "maj", "maj": "maj", "major": "maj", "min": "min", "-": "min", "mi": "min",
    "o": "dim", "°": "dim", "+": "aug", "ø": "hdim7", "ø7": "hdim7", "o7": "dim7",
    "°7": "dim7", "M7": "maj7", "Δ": "maj7", "Δ7": "maj7", "ma7": "maj7", "min7": "min7",
    "-7": "min7", "mi7": "min7", "-7b5": "hdim7", "m7-5": "hdim7", "mM7": "minmaj7",
    "m(maj7)": "minmaj7", "M6": "maj6", "maj6": "maj6", "-6": "min6", "sus": "sus4",
    "sus4(b7)": "7sus4", "dom7": "7",
}
_HARTE_ALIASES = {"sus4(b7)": "7sus4", "": "maj"}

_DEGREE_SEMITONES = {
    "1": 0, "b2": 1, "2": 2, "#2": 3, "b3": 3, "3": 4, "4": 5, "#4": 6, "b5": 6, "5": 7,
    "#5": 8, "b6": 8, "6": 9, "bb7": 9, "b7": 10, "7": 11, "b9": 1, "9": 2, "#9": 3,
    "11": 5, "#11": 6, "b13": 8, "13": 9,
}
_SEMITONE_DEGREE = {0: "1", 1: "b2", 2: "2", 3: "b3", 4: "3", 5: "4", 6: "b5", 7: "5",
                    8: "#5", 9: "6", 10: "b7", 11: "7"}

_ROOT_RE = re.compile(r"^([A-Ga-g])([#b♯♭]?)")
_LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}

NO_CHORD = "N"
"""The label for a stretch without harmony (Harte's ``N``)."""


@dataclass(frozen=True, slots=True, order=True)
class ChordSymbol:
    """A chord: root pitch class, quality (a key of QUALITY_INTERVALS), bass pitch class.

    The bass equals the root for a chord in root position. Spelling (sharps or
    flats) is not stored; ``format`` picks it.
    """

    root_pc: int
    quality: str = "maj"
    bass_pc: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.root_pc <= 11:
            raise ValueError(f"chord root {self.root_pc} is not a pitch class 0..11")
        if self.quality not in QUALITY_INTERVALS:
            raise ValueError(f"chord quality {self.quality!r} is not one of "
                             f"{', '.join(QUALITY_INTERVALS)}")
        if self.bass_pc is None:
            object.__setattr__(self, "bass_pc", self.root_pc)
        elif not 0 <= self.bass_pc <= 11:
            raise ValueError(f"chord bass {self.bass_pc} is not a pitch class 0..11")

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        """Chord tones, root first, then upwards by interval."""
        return tuple((self.root_pc + i) % 12 for i in QUALITY_INTERVALS[self.quality])

    @property
    def triad(self) -> str:
        return TRIAD_CLASS[self.quality]

    @property
    def is_inverted(self) -> bool:
        return self.bass_pc != self.root_pc

    def root_position(self) -> ChordSymbol:
        return ChordSymbol(self.root_pc, self.quality)

    def transpose(self, semitones: int) -> ChordSymbol:
        assert self.bass_pc is not None
        return ChordSymbol((self.root_pc + semitones) % 12, self.quality,
                           (self.bass_pc + semitones) % 12)

    def format(self, prefer_flats: bool = False, key: KeySignature | None = None) -> str:
        """Lead-sheet spelling: 'F#m7/C#', 'Bbmaj7', 'C'; spelled for ``key`` when given."""
        def name(pc: int) -> str:
            if key is not None:
                return spell_pitch_class(pc, key)
            return pitch_class_name(pc, prefer_flats)

        text = name(self.root_pc) + _SUFFIX[self.quality]
        if self.is_inverted:
            assert self.bass_pc is not None
            text += "/" + name(self.bass_pc)
        return text

    def harte(self, prefer_flats: bool = False) -> str:
        """Harte spelling: 'F#:min7/5', 'C:maj'."""
        quality = "sus4(b7)" if self.quality == "7sus4" else self.quality
        text = f"{pitch_class_name(self.root_pc, prefer_flats)}:{quality}"
        if self.is_inverted:
            assert self.bass_pc is not None
            text += "/" + _SEMITONE_DEGREE[(self.bass_pc - self.root_pc) % 12]
        return text

    def __str__(self) -> str:
        return self.format()


_LETTER_FIFTHS = {"F": -1, "C": 0, "G": 1, "D": 2, "A": 3, "E": 4, "B": 5}


def spell_pitch_class(pc: int, key: KeySignature) -> str:
    """The spelling of a pitch class nearest the key on the line of fifths
    (F# in G minor, Gb in Db major), so chord symbols read as a musician expects."""
    # A major key's notes lie one fifth below to five above its signature; a
    # minor key leans sharpwards for its raised sixth and seventh.
    centre = key.fifths + (2.0 if key.mode == "major" else 3.5)
    best: tuple[float, str] | None = None
    for letter, fifths in _LETTER_FIFTHS.items():
        for accidental, shift in (("", 0), ("#", 7), ("b", -7)):
            position = fifths + shift
            if (position * 7) % 12 != pc % 12:
                continue
            if letter + accidental in ("Fb", "Cb", "E#", "B#") and \
                    not key.fifths - 1 <= position <= key.fifths + 5:
                continue  # only where the key signature itself spells it so
            distance = abs(position - centre)
            if best is None or distance < best[0]:
                best = (distance, letter + accidental)
    assert best is not None
    return best[1]


def _parse_root(text: str) -> tuple[int, str]:
    match = _ROOT_RE.match(text)
    if not match:
        raise ValueError(f"{text!r} does not start with a note name A..G")
    letter, accidental = match.groups()
    pc = _LETTER_PC[letter.upper()]
    if accidental in ("#", "♯"):
        pc += 1
    elif accidental in ("b", "♭"):
        pc -= 1
    return pc % 12, text[match.end():]


def parse_chord(text: str) -> ChordSymbol | None:
    """Read a chord symbol in lead-sheet or Harte spelling; ``None`` for 'N' (no chord).

    Raises ValueError naming the text when it is not a chord symbol.
    """
    stripped = text.strip()
    if stripped in (NO_CHORD, "N.C.", "NC", "X"):
        return None
    if not stripped:
        raise ValueError("an empty text is not a chord symbol")
    root, rest = _parse_root(stripped)
    if rest.startswith(":"):
        return _parse_harte(stripped, root, rest[1:])
    body, _, bass_text = rest.partition("/")
    quality = _lead_sheet_quality(body, stripped)
    bass = root
    if bass_text:
        bass, leftover = _parse_root(bass_text)
        if leftover:
            raise ValueError(f"{text!r}: the bass {bass_text!r} is not a note name")
    return ChordSymbol(root, quality, bass)


def _lead_sheet_quality(body: str, whole: str) -> str:
    if body in _SUFFIX_ALIASES:
        return _SUFFIX_ALIASES[body]
    for quality, suffix in _SUFFIX.items():
        if body == suffix:
            return quality
    raise ValueError(f"{whole!r}: unknown chord quality {body!r}")


def _parse_harte(whole: str, root: int, rest: str) -> ChordSymbol:
    body, _, bass_text = rest.partition("/")
    quality = _HARTE_ALIASES.get(body, body)
    if quality not in QUALITY_INTERVALS:
        raise ValueError(f"{whole!r}: unknown chord quality {body!r}")
    bass = root
    if bass_text:
        if bass_text not in _DEGREE_SEMITONES:
            raise ValueError(f"{whole!r}: unknown bass degree {bass_text!r}")
        bass = (root + _DEGREE_SEMITONES[bass_text]) % 12
    return ChordSymbol(root, quality, bass)


def format_chord(chord: ChordSymbol | None, prefer_flats: bool = False,
                 key: KeySignature | None = None) -> str:
    """Lead-sheet text for a chord, 'N' for no chord."""
    return NO_CHORD if chord is None else chord.format(prefer_flats, key)


# ------------------------------------------------------------------ matching

LABEL_QUALITIES = ("maj", "min", "dim", "aug", "7", "maj7", "min7", "hdim7", "dim7")
"""Qualities the pitch-class matcher chooses among (the chorale vocabulary)."""

# A small prior per quality: plain triads first, then the usual sevenths; rarer
# colours must earn their place with the notes.
_QUALITY_PRIOR = {"maj": 0.0, "min": 0.0, "7": 0.08, "dim": 0.15, "min7": 0.12,
                  "hdim7": 0.15, "dim7": 0.15, "maj7": 0.2, "aug": 0.35,
                  "sus4": 0.3, "sus2": 0.35, "maj6": 0.3, "min6": 0.3, "minmaj7": 0.4,
                  "7sus4": 0.35}


def match_chord(weights: Mapping[int, float], bass_pc: int | None = None,
                qualities: Iterable[str] = LABEL_QUALITIES) -> ChordSymbol | None:
    """The chord symbol that best explains a weighted pitch-class set.

    ``weights`` maps pitch class to how much it sounds (duration, accent).
    A candidate scores the weight of its chord tones, minus the weight of the
    pitch classes it leaves unexplained, minus a penalty for a missing root or
    third and a small prior for rarer qualities; the sounding bass on the root
    earns a bonus, which settles ambiguous sets (D-F-A-C is Dm7 over D, F6 over F
    when sixth chords are among ``qualities``).
    Returns None when nothing sounds.
    """
    total = sum(w for w in weights.values() if w > 0)
    if total <= 0:
        return None
    norm = {pc % 12: w / total for pc, w in weights.items() if w > 0}
    best: tuple[float, ChordSymbol] | None = None
    for quality in qualities:
        intervals = QUALITY_INTERVALS[quality]
        for root in range(12):
            tones = {(root + i) % 12 for i in intervals}
            covered = sum(w for pc, w in norm.items() if pc in tones)
            score = covered - (1.0 - covered)
            # A triad missing its root or third is a guess; a missing fifth is normal.
            for essential in intervals[:2]:
                if (root + essential) % 12 not in norm:
                    score -= 0.5
            if intervals[2] != 7 and (root + intervals[2]) % 12 not in norm:
                score -= 0.5  # a diminished or augmented fifth is what names the chord
            for extra in intervals[3:]:  # a seventh named but not sounding
                if (root + extra) % 12 not in norm:
                    score -= 0.6
            if bass_pc is not None:
                score += 0.25 if bass_pc % 12 == root else (0.0 if bass_pc % 12 in tones else -0.2)
            score -= _QUALITY_PRIOR.get(quality, 0.3)
            if best is None or score > best[0] + 1e-9:
                sounding_bass = bass_pc % 12 if bass_pc is not None else root
                best = (score, ChordSymbol(root, quality,
                                           sounding_bass if sounding_bass in tones else root))
    assert best is not None
    return best[1]


def same_triad(a: ChordSymbol | None, b: ChordSymbol | None) -> bool:
    """Root and triad class agree (both 'no chord' also agrees)."""
    if a is None or b is None:
        return a is None and b is None
    return a.root_pc == b.root_pc and a.triad == b.triad


def same_root(a: ChordSymbol | None, b: ChordSymbol | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.root_pc == b.root_pc
