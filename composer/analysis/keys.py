"""Which key to harmonise a melody in: the declared one if the notes agree, else an estimate."""

from __future__ import annotations

from collections.abc import Sequence

from composer.core.pitch import estimate_key, scale_pitch_classes
from composer.core.song import KeySignature, Note

FIT_THRESHOLD = 0.9
"""Share of the melody's duration that must lie in a declared key for it to be believed."""


def key_fit(notes: Sequence[Note], key: KeySignature) -> float:
    """Fraction of the notes' total duration whose pitch class belongs to ``key``."""
    total = sum(n.duration_ticks for n in notes)
    if not total:
        return 0.0
    scale = scale_pitch_classes(key)
    return sum(n.duration_ticks for n in notes if n.pitch % 12 in scale) / total


def melody_key(notes: Sequence[Note], declared: KeySignature | None
               ) -> tuple[KeySignature, str | None]:
    """The key to use and, when it is not simply the declared one, a note saying why.

    MIDI files often carry a default C major signature whatever the music is,
    so a declared key is kept only when the melody fits it.
    """
    if declared is not None and key_fit(notes, declared) >= FIT_THRESHOLD:
        return declared, None
    estimated = estimate_key(notes)
    if declared is None:
        return estimated, f"key estimated from the melody: {estimated.name}"
    return estimated, (f"the key signature says {declared.name} but the melody fits "
                       f"{estimated.name} better; used {estimated.name}")


def signature_tonic(key: KeySignature) -> int:
    """The major tonic of a key's signature (C for both C major and A minor)."""
    return (key.fifths * 7) % 12
