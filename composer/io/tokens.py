"""Songs <-> token ids, through miditok's REMI tokenizer.

Why REMI: bar and position tokens put every note at its metric place, which is
what melody models need to learn meter; time-signature tokens (after every
bar) condition on meter; and a 12-per-beat grid holds both sixteenths and
triplets. Key conditioning is one ``KeySig`` token placed right after ``BOS``
(we keep key signatures out of miditok's inline stream so every training window
starts with the same two conditioning tokens). Velocities are dropped: melody
continuation is about pitch and rhythm.

miditok counts positions and durations in beats of the time signature's
denominator, so a bar of 4/2 at 12 steps per half note could not place a
sixteenth. Meters over 1 or 2 are therefore shown to the tokenizer as the same
bar over 4 (4/2 -> 8/4, 2/2 -> 4/4), which changes no note's place.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from composer.core.song import PPQ, KeySignature, Note, Song, TimeSignature, Track
from composer.errors import InvalidArgumentError, ModelError

MELODY_PARAMS: dict[str, Any] = {
    "pitch_range": (24, 109),
    "beat_res": {(0, 4): 12, (4, 12): 4},
    "use_velocities": False,
    "use_time_signatures": True,
    "use_key_signatures": True,
    "use_pitchdrum_tokens": False,
    "time_signature_range": {16: list(range(1, 17)), 8: list(range(1, 13)), 4: list(range(1, 17))},
    "special_tokens": ["PAD", "BOS", "EOS", "Hole", "FillStart", "FillEnd"],
}

# Token kinds, as small ints so masks and augmentation work on numpy arrays.
SPECIAL, BAR, POSITION, PITCH, DURATION, TIMESIG, KEYSIG = range(7)
_KIND_BY_PREFIX = {"Bar": BAR, "Position": POSITION, "Pitch": PITCH, "Duration": DURATION,
                   "TimeSig": TIMESIG, "KeySig": KEYSIG}


def build_tokenizer(params: dict[str, Any] | None = None):
    """A REMI tokenizer for the melody task (or from given miditok config params)."""
    import miditok

    return miditok.REMI(miditok.TokenizerConfig(**(params or MELODY_PARAMS)))


def tokenizer_from_json(data: dict[str, Any]):
    """Rebuild a tokenizer from the JSON miditok saved (stored in every model card)."""
    import tempfile

    import miditok

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tokenizer.json"
        path.write_text(json.dumps(data))
        try:
            return miditok.REMI(params=path)
        except Exception as err:  # miditok raises KeyError/TypeError on foreign configs
            raise ModelError(f"the checkpoint's tokenizer cannot be rebuilt ({err})",
                             "it may come from another version of composer") from err


def tokenizer_to_json(tokenizer) -> dict[str, Any]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tokenizer.json"
        tokenizer.save(path)
        return json.loads(path.read_text())


def tokenizer_meter(ts: TimeSignature) -> TimeSignature:
    """The meter as the tokenizer sees it (denominators 1 and 2 rewritten over 4;
    a numerator too large to rewrite stays as it is, a meter no model knows)."""
    if ts.denominator in (1, 2) and ts.numerator * 4 // ts.denominator <= 255:
        factor = 4 // ts.denominator
        return TimeSignature(ts.tick, ts.numerator * factor, 4)
    return ts


@dataclass(frozen=True)
class Vocabulary:
    """Per-token facts the samplers need, indexed by token id."""

    kinds: tuple[int, ...]
    values: tuple[Any, ...]  # pitch, position step, (beats, sub, res), (num, den), (fifths, mode)
    ids: dict[str, int]

    @staticmethod
    def of(tokenizer) -> Vocabulary:
        vocab = tokenizer.vocab
        kinds = [SPECIAL] * len(vocab)
        values: list[Any] = [None] * len(vocab)
        for token, index in vocab.items():
            prefix, _, value = token.partition("_")
            kind = _KIND_BY_PREFIX.get(prefix, SPECIAL)
            kinds[index] = kind
            if kind in (PITCH, POSITION):
                values[index] = int(value)
            elif kind == DURATION:
                beats, sub, res = (int(x) for x in value.split("."))
                values[index] = (beats, sub, res)
            elif kind == TIMESIG:
                num, den = value.split("/")
                values[index] = (int(num), int(den))
            elif kind == KEYSIG:
                fifths, minor = value.split(":")
                values[index] = (int(fifths), "minor" if minor == "1" else "major")
        return Vocabulary(tuple(kinds), tuple(values), dict(vocab))

    def __len__(self) -> int:
        return len(self.kinds)

    @cached_property
    def pad(self) -> int:
        return self.ids["PAD_None"]

    @cached_property
    def bos(self) -> int:
        return self.ids["BOS_None"]

    @cached_property
    def eos(self) -> int:
        return self.ids["EOS_None"]

    def special(self, name: str) -> int:
        return self.ids[f"{name}_None"]

    def key_token(self, key: KeySignature) -> int:
        return self.ids[f"KeySig_{key.fifths}:{1 if key.mode == 'minor' else 0}"]

    def pitch_token(self, pitch: int) -> int | None:
        return self.ids.get(f"Pitch_{pitch}")

    def meter_token(self, ts: TimeSignature) -> int | None:
        ts = tokenizer_meter(ts)
        return self.ids.get(f"TimeSig_{ts.numerator}/{ts.denominator}")

    @cached_property
    def pitch_ids(self) -> tuple[int, ...]:
        return tuple(i for i, k in enumerate(self.kinds) if k == PITCH)

    @cached_property
    def pitch_range(self) -> tuple[int, int]:
        pitches = [self.values[i] for i in self.pitch_ids]
        return min(pitches), max(pitches)


def supported_meter(tokenizer_vocab: Vocabulary, ts: TimeSignature) -> bool:
    return tokenizer_vocab.meter_token(ts) is not None


def melody_to_score(song: Song, track: Track):
    """A one-track symusic Score of ``track`` with the song's meters (no key: see module doc)."""
    import symusic

    score: Any = symusic.Score(PPQ)
    for ts in song.time_signatures:
        shown = tokenizer_meter(ts)
        score.time_signatures.append(
            symusic.TimeSignature(ts.tick, shown.numerator, shown.denominator))
    import numpy as np

    out: Any = symusic.Track("melody", 0, False)
    if track.notes:
        # From arrays in one call: note by note costs more than the tokenizer (corpus builds).
        columns = np.array([(n.start_tick, n.duration_ticks, n.pitch, n.velocity)
                            for n in track.notes], dtype=np.int32)
        out.notes = symusic.Note.from_numpy(columns[:, 0], columns[:, 1],
                                            columns[:, 2].astype(np.int8),
                                            columns[:, 3].astype(np.int8))
    score.tracks.append(out)
    return score


def encode_melody(tokenizer, song: Song, track_index: int = 0) -> list[int]:
    """REMI ids of one monophonic track (without BOS/key conditioning)."""
    track = song.tracks[track_index]
    if not track.notes:
        return []
    check_melody(tokenizer, song, track)
    return encode_score(tokenizer, melody_to_score(song, track))


def check_melody(tokenizer, song: Song, track: Track) -> None:
    """InvalidArgumentError for a melody the tokenizer cannot take (too long, unknown meter)."""
    _check_length(song, track)
    for ts in song.time_signatures:
        if tokenizer.vocab.get(_meter_name(ts)) is None:
            raise InvalidArgumentError(
                f"the meter {ts} is not one the melody models know",
                "supported: 1/4 to 16/4, 1/8 to 12/8, 1/16 to 16/16"
                " (and the same bars over 2 or 1)",
            )


def encode_score(tokenizer, score) -> list[int]:
    """miditok's REMI ids of a score from :func:`melody_to_score` (inline keys dropped)."""
    sequences = tokenizer.encode(score)
    sequence = sequences[0] if isinstance(sequences, list) else sequences
    return _without_inline_keys(tokenizer, list(sequence.ids), list(sequence.tokens))


MAX_BARS = 10_000
"""The longest melody the tokenizer takes (4/4 at 120 BPM: over five hours). A stray
event a billion ticks late would otherwise make millions of Bar tokens."""


def _check_length(song: Song, track: Track) -> None:
    from composer.core.timing import BarGrid

    end = max(n.end_tick for n in track.notes)
    bars = BarGrid.of(song).bar_at_tick(min(end, 2**62)) + 1
    if end >= 2**31 or bars > MAX_BARS:
        raise InvalidArgumentError(f"the melody is {bars:,} bars long; the melody models read "
                                   f"at most {MAX_BARS:,}",
                                   "a note very far from the others may be a damaged event")


def _without_inline_keys(tokenizer, ids: list[int], names: list[str] | None = None) -> list[int]:
    """Drop the KeySig miditok inserts (and a Position left with nothing after it)."""
    if names is None or len(names) != len(ids):
        names = [tokenizer[i] for i in ids]
    kept: list[int] = []
    kept_names: list[str] = []
    for i, name in zip(ids, names, strict=True):
        if name.startswith("KeySig_"):
            continue
        if kept_names and kept_names[-1].startswith("Position_") and (
            name.startswith("Position_") or name.startswith("Bar_")
        ):
            kept.pop()
            kept_names.pop()
        kept.append(i)
        kept_names.append(name)
    if kept_names and kept_names[-1].startswith("Position_"):
        kept.pop()
    return kept


def _meter_name(ts: TimeSignature) -> str:
    shown = tokenizer_meter(ts)
    return f"TimeSig_{shown.numerator}/{shown.denominator}"


def conditioning_ids(vocab: Vocabulary, key: KeySignature) -> list[int]:
    """The two tokens every melody sequence starts with: BOS and the key."""
    return [vocab.bos, vocab.key_token(key)]


_SPECIAL_OR_KEY = re.compile(r"^(PAD|BOS|EOS|Hole|FillStart|FillEnd|KeySig)_")


def decode_notes(tokenizer, ids: list[int]) -> list[Note]:
    """Notes of a REMI id sequence (conditioning and special tokens are dropped)."""
    from miditok import TokSequence

    tokens = [tokenizer[i] for i in ids]
    kept = [i for i, t in zip(ids, tokens, strict=True) if not _SPECIAL_OR_KEY.match(t)]
    if not kept:
        return []
    score = tokenizer.decode([TokSequence(ids=kept)])
    scale = PPQ / score.ticks_per_quarter
    notes = []
    for track in score.tracks:
        for n in track.notes:
            start, end = round(n.time * scale), round((n.time + n.duration) * scale)
            if end > start:
                notes.append(Note(pitch=int(n.pitch), start_tick=start,
                                  duration_ticks=end - start, velocity=80))
    return sorted(notes)
