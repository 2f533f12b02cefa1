"""The held-out rule: which pieces may never be trained on.

``heldout.json`` (a copy of ``../shared/corpus/heldout.json``, checked equal by
a test) lists the test and valid pieces of the music21 corpus and POP909, and
the chorales never to render as transcription training audio. Folk tunes are
assigned by ``sha256(id) % 20`` and the lists agree with that rule; chorales are
grouped by soprano tune, so a chorale whose soprano line repeats a held-out
one is held out with it even if a list were ever to miss it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from typing import Literal

from composer.paths import heldout_file

Split = Literal["train", "valid", "test"]
SPLITS: tuple[Split, ...] = ("train", "valid", "test")


@dataclass(frozen=True)
class Heldout:
    test_folk: frozenset[str]
    valid_folk: frozenset[str]
    test_chorales: frozenset[str]
    valid_chorales: frozenset[str]
    transcription_test: frozenset[str]
    test_pop909: frozenset[str]
    valid_pop909: frozenset[str]
    music21_version: str

    def folk_split(self, tune_id: str) -> Split:
        if tune_id in self.test_folk:
            return "test"
        if tune_id in self.valid_folk:
            return "valid"
        return "train"

    def chorale_split(self, chorale_id: str) -> Split:
        if chorale_id in self.test_chorales:
            return "test"
        if chorale_id in self.valid_chorales:
            return "valid"
        return "train"

    def pop909_split(self, song_id: str) -> Split:
        if song_id in self.test_pop909:
            return "test"
        if song_id in self.valid_pop909:
            return "valid"
        return "train"

    def may_render_for_transcription(self, piece_id: str) -> bool:
        """Transcription training audio may use train pieces only, minus its own test list."""
        return piece_id not in self.transcription_test and piece_id not in self.test_chorales \
            and piece_id not in self.test_folk and piece_id not in self.valid_chorales \
            and piece_id not in self.valid_folk


@cache
def load_heldout() -> Heldout:
    data = json.loads(heldout_file().read_text())
    return Heldout(
        test_folk=frozenset(data["test"]["folk"]),
        valid_folk=frozenset(data["valid"]["folk"]),
        test_chorales=frozenset(data["test"]["chorales"]),
        valid_chorales=frozenset(data["valid"]["chorales"]),
        transcription_test=frozenset(data["transcription_test"]["chorales"]),
        test_pop909=frozenset(data["pop909"]["test"]),
        valid_pop909=frozenset(data["pop909"]["valid"]),
        music21_version=str(data.get("music21", "")),
    )


def folk_rule_split(tune_id: str) -> Split:
    """The rule the folk lists were made by (used by tests to cross-check the lists)."""
    bucket = int(hashlib.sha256(tune_id.encode()).hexdigest(), 16) % 20
    return "test" if bucket == 0 else "valid" if bucket == 1 else "train"


def soprano_signature(pitches: list[int]) -> tuple[int, ...]:
    """A transposition-free fingerprint of a soprano line: its interval sequence."""
    return tuple(b - a for a, b in zip(pitches, pitches[1:], strict=False))
