"""POP909: 909 Chinese pop songs with melody, beat and chord annotations.

Source: Ziyu Wang, Ke Chen, Junyan Jiang, Yiyi Zhang, Maoran Xu, Shuqi Dai,
Guxian Bin and Gus Xia, "POP909: A Pop-song Dataset for Music Arrangement
Generation", ISMIR 2020 (https://arxiv.org/abs/2008.07142), MIT licence,
shipped beside the project (``composer.paths.pop909_dir()``).

Each song folder holds ``NNN.mid`` (tracks MELODY, BRIDGE, PIANO, played in
with human timing), ``beat_midi.txt`` (beat times in the MIDI file's seconds,
with two columns of downbeat marks) and ``chord_midi.txt`` (chord segments in
Harte labels, same seconds). We keep the MELODY track and the chords, and put
both on a PPQ-480 grid by the beat annotations: a time in seconds becomes a
beat position by interpolating between the two annotated beats around it, and
then a tick, snapped to a sixteenth. Bars follow the annotated downbeats, so a
two-beat bar inserted in a 4/4 song becomes a 2/4 bar, and a pickup before the
first downbeat is padded to a whole bar. The meter comes from ``index.csv``:
``num_quavers_per_beat`` 2 is simple time (quarter beats, x/4), 3 compound
time (dotted-quarter beats, x/8); ``num_beats_per_measure`` 2 means four-beat
bars (the third beat column marks them) and 3 means three-beat bars (the
second column). The key is the longest key of ``key_audio.txt``.

Processed songs are cached like the music21 corpus, under
``<cache>/corpus/pop909/songs_<split>.jsonl.gz``, split by heldout.json's
``"pop909"`` lists. Chord labels become lead-sheet text events (``"N"`` where
the annotation has no chord) on a track named "Chords" with no notes.
"""

from __future__ import annotations

import bisect
import csv
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from composer.core import ops
from composer.core.chords import format_chord, parse_chord
from composer.core.pitch import key_from_tonic
from composer.core.song import (
    PPQ,
    KeySignature,
    Note,
    Song,
    TempoChange,
    TextEvent,
    TimeSignature,
    Track,
)
from composer.errors import Cancelled, InputFileError
from composer.paths import pop909_dir
from corpora.heldout import SPLITS, load_heldout
from corpora.store import (
    Piece,
    corpus_dir,
    load_pieces,
    read_manifest,
    write_manifest,
    write_pieces,
)

CORPUS_NAME = "pop909"
KIND = "songs"
CREDIT = ("POP909 (Wang, Chen, Jiang, Zhang, Xu, Dai, Bin and Xia, 'POP909: A Pop-song Dataset "
          "for Music Arrangement Generation', ISMIR 2020; MIT licence)")
FORMAT_VERSION = 1
_WHERE_HINT = "set COMPOSER_POP909_DIR to the folder holding the 001..909 song folders"
GRID_TICKS = PPQ // 4
"""Quantisation grid: a sixteenth note, in simple and in compound time."""


@dataclass(frozen=True)
class SongMeta:
    """One row of ``index.csv``."""

    song_id: str
    name: str
    artist: str
    beats_per_measure: int
    quavers_per_beat: int


def read_index(root: Path) -> dict[str, SongMeta]:
    """``index.csv`` (in the dataset folder or the one above it) by song id."""
    for path in (root / "index.csv", root.parent / "index.csv"):
        if path.exists():
            with path.open(encoding="utf-8") as handle:
                return {
                    row["song_id"]: SongMeta(
                        row["song_id"], row["name"], row["artist"],
                        int(row["num_beats_per_measure"]), int(row["num_quavers_per_beat"]),
                    )
                    for row in csv.DictReader(handle)
                }
    raise InputFileError(f"{root}: POP909's index.csv is missing", _WHERE_HINT)


def _read_rows(path: Path) -> list[list[str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise InputFileError(f"{path}: cannot be read ({err.strerror or err})") from err
    return [line.split() if "\t" not in line else line.split("\t") for line in text.splitlines()
            if line.strip()]


class BeatClock:
    """Seconds to beat positions, by the annotated beats (extrapolated at the ends)."""

    def __init__(self, beat_seconds: list[float]) -> None:
        if len(beat_seconds) < 2:
            raise ValueError("fewer than two annotated beats")
        self.seconds = beat_seconds

    def beat_at(self, seconds: float) -> float:
        times = self.seconds
        i = bisect.bisect_right(times, seconds) - 1
        i = min(max(i, 0), len(times) - 2)
        span = times[i + 1] - times[i]
        return i + (seconds - times[i]) / span if span > 0 else float(i)


def load_song_folder(folder: Path, meta: SongMeta) -> Song:
    """One POP909 song as a Song: a quantised "Melody" track and a "Chords" text track."""
    from composer.core.timing import TempoMap
    from composer.io.midi_file import read_midi

    song_id = folder.name
    raw = read_midi(folder / f"{song_id}.mid")
    melody_tracks = [t for t in raw.tracks if t.name.strip().upper() == "MELODY"]
    if not melody_tracks or not melody_tracks[0].notes:
        raise InputFileError(f"{folder}: no MELODY track")
    beat_rows = _read_rows(folder / "beat_midi.txt")
    clock = BeatClock([float(r[0]) for r in beat_rows])
    column = 2 if meta.beats_per_measure == 2 else 1
    downbeats = [i for i, r in enumerate(beat_rows) if float(r[column]) == 1.0]
    if not downbeats:
        downbeats = [0]
    default_bar = 4 if meta.beats_per_measure == 2 else 3
    beat_ticks = PPQ if meta.quavers_per_beat == 2 else PPQ * 3 // 2

    # Bars: a pickup padded to a whole bar, then one bar per annotated downbeat.
    bar_beats = [b - a for a, b in zip(downbeats, downbeats[1:], strict=False)]
    pad = (default_bar - downbeats[0] % default_bar) % default_bar
    lengths = [default_bar] * ((downbeats[0] + pad) // default_bar) + bar_beats

    def beat_to_tick(beat: float) -> int:
        return round((beat + pad) * beat_ticks / GRID_TICKS) * GRID_TICKS

    tempo = TempoMap.of(raw)
    notes = []
    for n in melody_tracks[0].notes:
        start = beat_to_tick(clock.beat_at(tempo.seconds_at(n.start_tick)))
        end = beat_to_tick(clock.beat_at(tempo.seconds_at(n.end_tick)))
        if start < 0:
            continue  # before the padded pickup bar: never in practice
        notes.append(Note(pitch=n.pitch, start_tick=start,
                          duration_ticks=max(end - start, GRID_TICKS), velocity=n.velocity))
    melody = ops.top_line(Track("Melody", tuple(sorted(notes)), program=0, channel=0))

    keys = _key(folder)
    chords: list[TextEvent] = []
    for row in _read_rows(folder / "chord_midi.txt"):
        if len(row) < 3:
            continue
        start = beat_to_tick(clock.beat_at(float(row[0])))
        label = parse_chord(row[2].strip())
        text = format_chord(label, key=keys[0] if keys else None)
        if start < 0 or (chords and chords[-1].text == text):
            continue
        if chords and chords[-1].tick == start:
            chords[-1] = TextEvent(start, text)
        else:
            chords.append(TextEvent(start, text))

    return Song(
        tracks=(melody, Track("Chords", texts=tuple(chords), channel=1)),
        tempos=(TempoChange(0, _median_us_per_beat(clock.seconds, beat_ticks)),),
        time_signatures=_meters(lengths, beat_ticks, meta.quavers_per_beat),
        keys=keys,
        title=f"{meta.name} - {meta.artist}",
    )


def _median_us_per_beat(seconds: list[float], beat_ticks: int) -> int:
    gaps = sorted(b - a for a, b in zip(seconds, seconds[1:], strict=False))
    per_beat = gaps[len(gaps) // 2]
    us_per_quarter = round(per_beat * 1e6 * PPQ / beat_ticks)
    return min(max(us_per_quarter, 60_000), 0xFFFFFF)


def _meters(bar_lengths: list[int], beat_ticks: int, quavers_per_beat: int
            ) -> tuple[TimeSignature, ...]:
    meters: list[TimeSignature] = []
    tick = 0
    for beats in bar_lengths or [4]:
        numerator, denominator = (beats, 4) if quavers_per_beat == 2 else (beats * 3, 8)
        if not meters or (meters[-1].numerator, meters[-1].denominator) != (numerator, denominator):
            meters.append(TimeSignature(tick, numerator, denominator))
        tick += beats * beat_ticks
    return tuple(meters)


def _key(folder: Path) -> tuple[KeySignature, ...]:
    path = folder / "key_audio.txt"
    if not path.exists():
        return ()
    longest: tuple[float, str] | None = None
    for row in _read_rows(path):
        if len(row) >= 3 and (longest is None or float(row[1]) - float(row[0]) > longest[0]):
            longest = (float(row[1]) - float(row[0]), row[2].strip())
    if longest is None:
        return ()
    tonic_text, _, mode = longest[1].partition(":")
    chord = parse_chord(tonic_text)
    if chord is None:
        return ()
    return (key_from_tonic(chord.root_pc, "minor" if mode.startswith("min") else "major"),)


def build(root: Path | None = None, progress: Callable[[int, int], None] | None = None,
          cancel: threading.Event | None = None, limit: int | None = None) -> dict[str, Any]:
    """Process every song folder and write the cached splits; returns the manifest."""
    root = root or pop909_dir()
    if not root.is_dir():
        raise InputFileError(f"{root}: POP909 is not there", _WHERE_HINT)
    index = read_index(root)
    heldout = load_heldout()
    folders = sorted(p for p in root.iterdir() if p.is_dir() and p.name in index)
    if limit is not None:
        folders = folders[:limit]
    started = time.monotonic()
    by_split: dict[str, list[Piece]] = {s: [] for s in SPLITS}
    skipped = []
    for done, folder in enumerate(folders, start=1):
        if cancel is not None and cancel.is_set():
            raise Cancelled("POP909 build cancelled; the previous cache is unchanged.")
        try:
            song = load_song_folder(folder, index[folder.name])
        except (InputFileError, ValueError, IndexError) as err:
            skipped.append({"id": folder.name, "reason": getattr(err, "message", str(err))})
            continue
        by_split[heldout.pop909_split(folder.name)].append(Piece(folder.name, "pop909", song))
        if progress:
            progress(done, len(folders))
    out = corpus_dir(CORPUS_NAME)
    out.mkdir(parents=True, exist_ok=True)
    counts = {KIND: {s: write_pieces(out / f"{KIND}_{s}.jsonl.gz", by_split[s]) for s in SPLITS}}
    manifest = {
        "name": CORPUS_NAME, "source": str(root), "format_version": FORMAT_VERSION,
        "limit": limit, "counts": counts, "skipped": skipped,
        "seconds": round(time.monotonic() - started, 1), "processes": 1, "credit": CREDIT,
    }
    write_manifest(CORPUS_NAME, manifest)
    return manifest


def load_split(split: str, build_if_missing: bool = True) -> list[Piece]:
    """Processed POP909 songs of one split, building the cache on first use."""
    manifest = read_manifest(CORPUS_NAME)
    stale = manifest is None or manifest.get("format_version") != FORMAT_VERSION \
        or manifest.get("limit") is not None  # a quick partial build is not the data set
    if build_if_missing and stale:
        build()
    return load_pieces(CORPUS_NAME, KIND, split)


def main() -> None:
    """``python -m corpora.pop909``: build the cache and print the counts."""
    manifest = build(progress=lambda done, total: print(f"\r{done}/{total}", end="", flush=True))
    print()
    print(manifest["counts"], f"{len(manifest['skipped'])} skipped in {manifest['seconds']} s")
    for item in manifest["skipped"]:
        print(f"  skipped {item['id']}: {item['reason']}")


if __name__ == "__main__":
    main()
