"""Pitch names, ranges, scales and a light key finder (no heavy imports)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from composer.core.song import KeySignature, Note, pitch_class_name

_NAME_RE = re.compile(r"^\s*([A-Ga-g])([#b♯♭]*)(-?\d+)\s*$")
_LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
NATURAL_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)
# Melodic and harmonic minor raise the 6th and 7th; a minor key admits both.
MINOR_KEY_SCALE = (0, 2, 3, 5, 7, 8, 9, 10, 11)


def note_name(pitch: int, prefer_flats: bool = False) -> str:
    """MIDI pitch to scientific pitch name: 60 -> 'C4'."""
    return f"{pitch_class_name(pitch, prefer_flats)}{pitch // 12 - 1}"


def parse_note_name(text: str) -> int:
    """Scientific pitch name or MIDI number to MIDI pitch: 'C4' -> 60, 'Bb3' -> 58."""
    stripped = text.strip()
    if stripped.lstrip("-").isdigit():
        pitch = int(stripped)
    else:
        match = _NAME_RE.match(stripped)
        if not match:
            raise ValueError(f"{text!r} is not a note name like C4, F#3 or Bb5")
        letter, accidentals, octave = match.groups()
        pitch = _LETTER_PC[letter.upper()] + 12 * (int(octave) + 1)
        pitch += sum(1 if a in "#♯" else -1 for a in accidentals)
    if not 0 <= pitch <= 127:
        raise ValueError(f"{text!r} is outside the MIDI range C-1..G9")
    return pitch


def parse_range(text: str) -> tuple[int, int]:
    """'C4:C6' -> (60, 84)."""
    parts = text.split(":")
    if len(parts) != 2:
        raise ValueError(f"{text!r} is not a range like C4:C6")
    low, high = parse_note_name(parts[0]), parse_note_name(parts[1])
    if low > high:
        raise ValueError(f"range {text!r} goes downwards")
    return low, high


def scale_pitch_classes(key: KeySignature) -> frozenset[int]:
    """Pitch classes that belong to ``key`` (minor admits raised 6th and 7th)."""
    steps = MAJOR_SCALE if key.mode == "major" else MINOR_KEY_SCALE
    return frozenset((key.tonic_pc + s) % 12 for s in steps)


def diatonic_pitch_classes(key: KeySignature) -> frozenset[int]:
    """The seven pitch classes of the key signature itself."""
    steps = MAJOR_SCALE if key.mode == "major" else NATURAL_MINOR_SCALE
    return frozenset((key.tonic_pc + s) % 12 for s in steps)


# Krumhansl-Kessler key profiles (probe-tone ratings), major and minor.
_KK_MAJOR = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
_KK_MINOR = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)


def _correlate(xs: list[float], ys: tuple[float, ...]) -> float:
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    cov = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    vx = sum((x - mx) ** 2 for x in xs)
    vy = sum((y - my) ** 2 for y in ys)
    return cov / ((vx * vy) ** 0.5) if vx and vy else 0.0


def estimate_key(notes: Iterable[Note]) -> KeySignature:
    """Best-matching key by duration-weighted Krumhansl-Schmuckler correlation."""
    weights = [0.0] * 12
    for n in notes:
        weights[n.pitch % 12] += n.duration_ticks
    if not any(weights):
        return KeySignature(0, 0, "major")
    best = None
    for tonic in range(12):
        rotated = weights[tonic:] + weights[:tonic]
        for mode, profile in (("major", _KK_MAJOR), ("minor", _KK_MINOR)):
            score = _correlate(rotated, profile)
            if best is None or score > best[0]:
                best = (score, tonic, mode)
    assert best is not None
    _, tonic, mode = best
    return key_from_tonic(tonic, mode)


def key_from_tonic(tonic_pc: int, mode: str) -> KeySignature:
    """The conventional key signature for a tonic and mode (F# major, not Gb)."""
    major_tonic = tonic_pc if mode == "major" else (tonic_pc + 3) % 12
    fifths = (major_tonic * 7) % 12
    if fifths > 6 or (fifths == 6 and mode == "minor"):
        fifths -= 12  # prefer flats past F#/D#m: Db major, Bb minor
    return KeySignature(0, fifths, "major" if mode == "major" else "minor")
