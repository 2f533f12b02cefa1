"""Build a token corpus from a folder of the user's own MIDI files, of any size.

``build(folder)`` reads every MIDI file in worker processes (symusic, with the
tolerant reader as a second opinion), picks each file's melody line, tokenizes
it with the melody tokenizer and writes memory-mappable token shards that
``composer train --corpus NAME --task melody`` trains on.

- **Skipped files** are listed with the reason (unreadable, no notes, a meter
  the models do not know, a reader that hung or crashed on it).
- **Duplicates**: identical pieces (the same notes, whatever the file name,
  track order, tempo or velocities) are kept once: the first in path order.
- **Split**: drawn from a hash of each piece's notes, so adding files never
  moves a piece from one split to another.
- **Encoder**: the vectorised REMI encoder (:mod:`composer.io.fast_tokens`)
  makes miditok's ids without miditok's per-token Python; a melody it does not
  handle goes to miditok, and one piece in ``CROSS_CHECK_EVERY`` is encoded by
  both (miditok's ids win if they ever differ). ``report.json`` counts the
  pieces each encoder made, with the reasons.
- **Resumable**: every file's result is appended to a journal as soon as it is
  known (tokens to ``tokens.bin``, facts to ``journal.jsonl``); a rebuild after
  an interruption, or after files were added, redoes only files it has no
  result for (or whose size or modification time changed).

Layout under ``<cache>/corpus/<name>/``: ``journal.jsonl`` + ``tokens.bin``
(the per-file results), ``{split}_tokens.npy`` / ``_offsets.npy`` /
``_meta.npy`` / ``_ids.json`` (a :class:`composer.ml.data.Shard` per split),
``manifest.json`` (counts, skipped files, duplicates) and ``report.json``
(written last: its presence says the shards are complete).
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from composer.errors import Cancelled, ComposerError, InvalidArgumentError
from corpora.heldout import SPLITS, Split
from corpora.store import corpus_dir

log = logging.getLogger(__name__)

MIDI_SUFFIXES = (".mid", ".midi", ".kar", ".smf", ".rmi")
KIND = "midi"  # the manifest's name for the pieces of a user folder
FORMAT = 1  # of the journal and shards; another value means rebuild from scratch
RESERVED_NAMES = ("music21", "pop909")
JOURNAL, TOKENS_BIN = "journal.jsonl", "tokens.bin"
MAX_FILE_BYTES = 64 * 1024 * 1024  # as the tolerant reader: real MIDI files are a few MB
MAX_NOTES = 2_000_000  # notes in one file; past this it is a stress test, not music

_MELODY_NAMES = [re.compile(p, re.IGNORECASE) for p in (
    r"melod", r"vocal|voice|vox|sing|lyric|canto|cantus", r"lead|solo|theme|tune|main",
    r"soprano|sopran|descant|treble")]


# --------------------------------------------------------------------- names


def corpus_name_for(folder: Path) -> str:
    """A readable, unique cache name for a folder: ``<name>-<hash of its path>``."""
    resolved = str(folder.resolve())
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", folder.resolve().name).strip("-") or "midi"
    return f"{slug}-{hashlib.sha256(resolved.encode()).hexdigest()[:8]}"


def check_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name) or name in RESERVED_NAMES:
        raise InvalidArgumentError(
            f"{name!r} cannot name a corpus",
            "use letters, digits, '-', '_' or '.' (and not music21 or pop909)")
    return name


def is_user_corpus(name: str) -> bool:
    """Whether ``name`` is a corpus built from a MIDI folder (with complete shards)."""
    if name in RESERVED_NAMES or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        return False
    directory = corpus_dir(name)
    return (directory / "report.json").exists() and (directory / "train_tokens.npy").exists()


@dataclass(frozen=True)
class SourceFile:
    path: str  # relative to the folder, with '/'
    size: int
    mtime_ns: int


def find_midi_files(folder: Path) -> list[SourceFile]:
    """MIDI files under ``folder`` (any depth), in path order; hidden folders are skipped."""
    found: list[SourceFile] = []
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError as err:
            log.warning("%s: cannot be listed (%s)", current, err.strerror)
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not entry.name.startswith("."):
                        stack.append(Path(entry.path))
                elif entry.name.lower().endswith(MIDI_SUFFIXES) and entry.is_file():
                    info = entry.stat()
                    rel = os.path.relpath(entry.path, folder).replace(os.sep, "/")
                    found.append(SourceFile(rel, info.st_size, info.st_mtime_ns))
            except OSError:
                continue
    return sorted(found, key=lambda f: f.path)


def split_for_hash(digest: str) -> Split:
    bucket = int(digest[:16], 16) % 20
    return "test" if bucket == 0 else "valid" if bucket == 1 else "train"


# ------------------------------------------------------------ one file (worker)


@dataclass
class NoteTable:
    """One track's notes as arrays at 480 ticks per quarter."""

    name: str
    is_drum: bool
    start: Any  # (N,) int64
    duration: Any  # (N,) int64
    pitch: Any  # (N,) int64


@dataclass
class Reading:
    tracks: list[NoteTable]
    meters: list[tuple[int, int, int]]  # tick, numerator, denominator
    keys: list[tuple[int, int, str]]  # tick, fifths, mode


class Skip(Exception):
    """A file is left out of the corpus, for the reason given."""


def _scaled(values, tpq: int):
    import numpy as np

    values = np.asarray(values, dtype=np.int64)
    return values if tpq == 480 else np.rint(values * (480 / tpq)).astype(np.int64)


def read_with_symusic(path: str) -> Reading:
    import symusic

    score: Any = symusic.Score.from_file(path)
    tpq = int(score.ticks_per_quarter)
    if tpq <= 0:
        raise ValueError("zero ticks per quarter")
    tracks = []
    total = 0
    for track in score.tracks:
        arrays = track.notes.numpy()
        total += len(arrays["time"])
        if total > MAX_NOTES:
            raise Skip(f"more than {MAX_NOTES:,} notes")
        tracks.append(NoteTable(str(track.name), bool(track.is_drum), _scaled(arrays["time"], tpq),
                                _scaled(arrays["duration"], tpq),
                                arrays["pitch"].astype("int64")))
    meters = [(int(_scaled([ts.time], tpq)[0]), int(ts.numerator), int(ts.denominator))
              for ts in score.time_signatures]
    keys = [(int(_scaled([k.time], tpq)[0]), int(k.key), "minor" if k.tonality else "major")
            for k in score.key_signatures]
    return Reading(tracks, meters, keys)


def read_with_composer(path: str) -> Reading:
    """The tolerant reader: slower, but it reads files symusic gives up on."""
    import numpy as np

    from composer.io.midi_file import read_midi

    song = read_midi(path)
    tracks = []
    for track in song.tracks:
        notes = np.array([(n.start_tick, n.duration_ticks, n.pitch) for n in track.notes],
                         dtype=np.int64).reshape(-1, 3)
        tracks.append(NoteTable(track.name, track.is_drum, notes[:, 0], notes[:, 1], notes[:, 2]))
    return Reading(tracks,
                   [(ts.tick, ts.numerator, ts.denominator) for ts in song.time_signatures],
                   [(k.tick, k.fifths, k.mode) for k in song.keys])


def content_hash(tracks: list[NoteTable]) -> str:
    """The identity of a piece: its notes (onset, length, pitch, drum or not), in any
    track order, independent of file name, names, tempo and velocities."""
    import numpy as np

    tables = [t for t in tracks if len(t.start)]
    if not tables:
        return hashlib.sha256(b"").hexdigest()
    # Sorted by one number per note (onset, pitch, drum flag, length up to 255 ticks);
    # the exact lengths follow in the same order. Notes alike in all but a length
    # over 255 ticks may sort either way: such a piece can miss its twin, no more.
    starts = np.concatenate([t.start for t in tables])
    pitches = np.concatenate([t.pitch for t in tables])
    durations = np.concatenate([t.duration for t in tables])
    drums = np.concatenate([np.full(len(t.start), int(t.is_drum), dtype=np.int64) for t in tables])
    keys = (np.clip(starts, 0, 2**46) << 16) | ((pitches & 127) << 9) | (drums << 8) \
        | np.clip(durations, 0, 255)
    order = np.argsort(keys, kind="stable")
    digest = hashlib.sha256(keys[order].astype("<i8").tobytes())
    digest.update(durations[order].astype("<i8").tobytes())
    return digest.hexdigest()


def _polyphony(table: NoteTable) -> float:
    """Share of notes that start while another note of the track still sounds."""
    import numpy as np

    if len(table.start) < 2:
        return 0.0
    order = np.argsort(table.start, kind="stable")
    ends = np.maximum.accumulate((table.start + table.duration)[order])
    return float(np.mean(table.start[order][1:] < ends[:-1]))


def pick_melody(tracks: list[NoteTable]) -> NoteTable:
    """The track the melody task reads: one named as a melody (melody, vocal, lead,
    soprano...), else the highest-sounding mostly monophonic track, else the
    highest-sounding track (its top line is taken)."""
    pitched = [t for t in tracks if not t.is_drum and len(t.start)]
    if not pitched:
        raise Skip("only drums" if tracks and any(len(t.start) for t in tracks) else "no notes")
    for pattern in _MELODY_NAMES:
        named = [t for t in pitched if pattern.search(t.name)]
        if named:
            return max(named, key=lambda t: len(t.start))
    lines = [t for t in pitched if _polyphony(t) <= 0.1 and len(t.start) >= 8] or pitched
    return max(lines, key=lambda t: float(t.pitch.mean()))


def melody_song(reading: Reading, table: NoteTable, pitch_range: tuple[int, int]):
    """A one-track Song of the table's top line (monophonic, within the tokenizer's
    pitch range) with the file's meters and keys."""
    import numpy as np

    from composer.core.ops import top_line
    from composer.core.song import KeySignature, Note, Song, TimeSignature, Track

    keep = (table.pitch >= pitch_range[0]) & (table.pitch <= pitch_range[1]) \
        & (table.duration >= 1) & (table.start >= 0)
    start, duration, pitch = table.start[keep], table.duration[keep], table.pitch[keep]
    if not len(start):
        raise Skip("no notes in the melody models' pitch range")
    # Only the highest note of each onset can be in the top line: drop the rest
    # before making Note objects (chords are most of an accompaniment's notes).
    order = np.lexsort((-pitch, start))
    first = np.ones(len(order), dtype=bool)
    first[1:] = start[order][1:] != start[order][:-1]
    chosen = order[first]
    start, duration, pitch = start[chosen], duration[chosen], pitch[chosen]
    notes = [Note(pitch=p, start_tick=s, duration_ticks=d)
             for s, d, p in zip(start.tolist(), duration.tolist(), pitch.tolist(), strict=True)]
    melody = Track(table.name or "melody", tuple(notes))
    if np.any(start[:-1] + duration[:-1] > start[1:]):
        melody = top_line(melody)  # notes overlap: keep the line on top
    meters = {}
    for tick, numerator, denominator in sorted(reading.meters):
        if tick >= 0:
            meters[tick] = (numerator, denominator)
    meters.setdefault(0, (4, 4))
    keys = {}
    for tick, fifths, mode in sorted(reading.keys):
        if tick >= 0 and -7 <= fifths <= 7:
            keys[tick] = (fifths, mode)
    try:
        return Song(
            tracks=(melody,),
            time_signatures=tuple(TimeSignature(t, n, d) for t, (n, d) in sorted(meters.items())),
            keys=tuple(KeySignature(t, f, m) for t, (f, m) in sorted(keys.items())),  # type: ignore[arg-type]
        )
    except ValueError as err:  # a time signature MIDI allows and music does not (e.g. 0/4)
        raise Skip(f"invalid meter or key ({err})") from err


_TOKENIZER: list[Any] = []


def melody_tokenizer():
    """The melody task's tokenizer, built once per process."""
    if not _TOKENIZER:
        from composer.io.tokens import MELODY_PARAMS, build_tokenizer

        _TOKENIZER.append(build_tokenizer(MELODY_PARAMS))
    return _TOKENIZER[0]


def _warm_up() -> None:
    """Imports every worker needs, done once in the parent (workers are forked)."""
    import symusic  # noqa: F401

    import composer.core.ops  # noqa: F401
    import composer.io.midi_file  # noqa: F401
    import composer.ml.melody  # noqa: F401


def start_worker() -> None:
    """In a fresh worker: the tokenizer, without torch.

    miditok imports torch when it can (for its PyTorch datasets, which a
    corpus build never uses); that is a second or two per process and a few
    hundred MB. In a worker nothing else runs, so torch is kept out while
    miditok loads (a ``None`` in ``sys.modules`` makes ``import torch`` fail).
    """
    import sys

    if "miditok" not in sys.modules and "torch" not in sys.modules:
        sys.modules["torch"] = None  # type: ignore[assignment]
        try:
            import miditok  # noqa: F401
        finally:
            del sys.modules["torch"]
    melody_tokenizer()


CROSS_CHECK_EVERY = 64
"""One piece in this many (by content hash) is also tokenized by miditok at build time."""
MISMATCH = "fast encoder differed from miditok"


def _encode(tokenizer, song, digest: str) -> tuple[list[int], str | None]:
    """The melody's ids from the vectorised encoder, and None; or miditok's ids and
    why miditok made them (a melody the fast encoder passes on, or a cross-check
    that found the two differ: miditok's ids are the definition)."""
    from composer.io.fast_tokens import encode_melody_fast
    from composer.io.tokens import encode_melody

    tokens, fallback = encode_melody_fast(tokenizer, song)
    if fallback is None and int(digest[:8], 16) % CROSS_CHECK_EVERY == 0:
        reference = encode_melody(tokenizer, song)
        if reference != tokens:
            log.warning("the fast encoder differs from miditok on a piece (hash %s)", digest)
            return reference, MISMATCH
    return tokens, fallback


def tokenize_file(path: str) -> dict[str, Any]:
    """Everything the corpus needs from one file, or ``{"skip": reason}``.

    Runs in a worker. Never raises for a bad file: every reader and tokenizer
    failure becomes a reason (the fuzz tests hold it to that).
    """
    import numpy as np

    from composer.ml.melody import song_key

    try:
        size = os.path.getsize(path)
        if size > MAX_FILE_BYTES:
            return {"skip": f"{size // (1024 * 1024)} MB is too large for a MIDI file"}
        try:
            reading: Reading | None = read_with_symusic(path)
        except Skip:
            raise
        except Exception:  # symusic is strict; the tolerant reader has the last word
            reading = None
        if reading is None or not any(len(t.start) for t in reading.tracks):
            # Nothing read: the tolerant reader finds notes symusic missed, or says why not.
            reading = read_with_composer(path)
        digest = content_hash(reading.tracks)
        table = pick_melody(reading.tracks)
        tokenizer = melody_tokenizer()
        song = melody_song(reading, table, tokenizer.config.pitch_range)
        tokens, encoder = _encode(tokenizer, song, digest)
        if not tokens:
            return {"skip": "no notes the melody models can use"}
        pitches = [n.pitch for n in song.tracks[0].notes]
        key = song_key(song)
        result = {"hash": digest, "tokens": np.asarray(tokens, dtype="<i2").tobytes(),
                  "key": [key.fifths, 1 if key.mode == "minor" else 0],
                  "span": [min(pitches), max(pitches)], "track": table.name}
        if encoder:
            result["encoder"] = encoder
        return result
    except Skip as err:
        return {"skip": str(err)}
    except ComposerError as err:
        return {"skip": err.message.removeprefix(f"{path}: ")}
    except OSError as err:
        return {"skip": f"cannot be read ({err.strerror or err})"}


# ------------------------------------------------------------------- journal


class Journal:
    """The per-file results so far: ``journal.jsonl`` (one JSON line a file, the
    first line naming the format and tokenizer) and ``tokens.bin`` (int16 tokens,
    referenced by offset). Appends only; a line cut short by a crash is dropped."""

    def __init__(self, directory: Path, fingerprint: str) -> None:
        self.path = directory / JOURNAL
        self.tokens_path = directory / TOKENS_BIN
        self.fingerprint = fingerprint
        self.records: dict[str, dict[str, Any]] = {}
        self._last_sync = time.monotonic()
        header = {"format": FORMAT, "tokenizer": fingerprint}
        try:
            self._open(header)
        except OSError as err:
            from composer.io.atomic import output_error

            raise output_error(self.path, err) from err

    def _open(self, header: dict[str, Any]) -> None:
        good_bytes = self._load(header)
        if good_bytes is None:  # absent, another format or tokenizer: start again
            self.records = {}
            with contextlib.suppress(FileNotFoundError):
                self.tokens_path.unlink()
            self.path.write_text(json.dumps(header) + "\n")
        else:
            with open(self.path, "r+b") as handle:
                handle.truncate(good_bytes)
        self._lines = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self._tokens = open(self.tokens_path, "ab")  # noqa: SIM115
        self.token_end = self._tokens.tell()

    def _load(self, header: dict[str, Any]) -> int | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        token_bytes = self.tokens_path.stat().st_size if self.tokens_path.exists() else 0
        lines = raw.split(b"\n")
        try:
            if json.loads(lines[0]) != header:
                return None
        except ValueError:
            return None
        good = len(lines[0]) + 1
        # Every record ends with a newline: the piece after the last one is
        # empty, or a line a crash cut short.
        for line in lines[1:-1]:
            try:
                record = json.loads(line)
                if record.get("o", 0) + 2 * record.get("n", 0) > token_bytes:
                    break  # its tokens never reached the disk
            except ValueError:
                break  # the line a crash cut short (or the empty tail)
            self.records[record["f"]] = record
            good += len(line) + 1
        return good

    def known(self, source: SourceFile) -> bool:
        record = self.records.get(source.path)
        return record is not None and record["s"] == source.size and record["m"] == source.mtime_ns

    def add(self, source: SourceFile, result: dict[str, Any]) -> None:
        """Append one file's result; OutputFileError if the disk is full (what is already
        journaled stays usable: the next build resumes from it)."""
        from composer.io.atomic import output_error

        try:
            self._add(source, result)
        except OSError as err:
            raise output_error(self.path, err) from err

    def _add(self, source: SourceFile, result: dict[str, Any]) -> None:
        record: dict[str, Any] = {"f": source.path, "s": source.size, "m": source.mtime_ns}
        if "skip" in result:
            record["r"] = result["skip"]
        else:
            tokens = result["tokens"]
            self._tokens.write(tokens)
            record.update(h=result["hash"], o=self.token_end, n=len(tokens) // 2,
                          k=result["key"], p=result["span"], t=result["track"])
            if result.get("encoder"):
                record["e"] = result["encoder"]  # why miditok, not the fast encoder, made them
            self.token_end += len(tokens)
        self.records[source.path] = record
        # Tokens first: a journal line never points past the tokens on disk.
        self._tokens.flush()
        self._lines.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._lines.flush()
        if time.monotonic() - self._last_sync > 2.0:
            self.sync()

    def sync(self) -> None:
        from composer.io.atomic import output_error

        try:
            for handle in (self._tokens, self._lines):
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as err:
            raise output_error(self.path, err) from err
        self._last_sync = time.monotonic()

    def close(self) -> None:
        for handle in (self._tokens, self._lines):
            with contextlib.suppress(OSError, ValueError):
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(OSError):  # a full disk: close() flushes again
                handle.close()


# ------------------------------------------------------------------- shards


def _npy_header(handle, dtype: str, shape: tuple[int, ...]) -> None:
    import numpy as np

    np.lib.format.write_array_header_1_0(
        handle, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape})


def write_shards(directory: Path, journal: Journal, kept: dict[str, list[dict[str, Any]]]
                 ) -> dict[str, dict[str, int]]:
    """A Shard per split, streamed from ``tokens.bin`` (memory stays small)."""
    import numpy as np

    from composer.io.atomic import atomic_open, atomic_write_text

    journal.sync()
    source = (np.memmap(journal.tokens_path, dtype="<i2", mode="r")
              if journal.token_end else np.zeros(0, dtype="<i2"))
    report: dict[str, dict[str, int]] = {}
    for split in SPLITS:
        records = kept[split]
        lengths = np.array([r["n"] for r in records], dtype=np.int64)
        offsets = np.zeros(len(records) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        with atomic_open(directory / f"{split}_tokens.npy") as handle:
            _npy_header(handle, "<i2", (int(offsets[-1]),))
            for r in records:
                start = r["o"] // 2
                handle.write(source[start:start + r["n"]].tobytes())
        with atomic_open(directory / f"{split}_offsets.npy") as handle:
            np.save(handle, offsets)
        meta = np.array([[*r["k"], *r["p"]] for r in records], dtype=np.int16).reshape(-1, 4)
        with atomic_open(directory / f"{split}_meta.npy") as handle:
            np.save(handle, meta)
        atomic_write_text(directory / f"{split}_ids.json", json.dumps([r["f"] for r in records]))
        report[split] = {"pieces": len(records), "tokens": int(offsets[-1])}
    del source
    return report


# -------------------------------------------------------------------- build


@contextlib.contextmanager
def _build_lock(directory: Path) -> Iterator[None]:
    import fcntl

    with open(directory / ".lock", "w") as handle:
        # A few seconds' grace: the workers of a build that was just killed take a
        # moment to die (and to let go of the lock they inherited).
        deadline = time.monotonic() + 10.0
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as err:
                if time.monotonic() > deadline:
                    raise ComposerError(
                        f"the corpus {directory.name} is being built by another process",
                        "wait for it to finish") from err
                time.sleep(0.1)
        yield


def build(folder: str | Path, name: str | None = None, workers: int | None = None,
          progress: Callable[[int, int], None] | None = None,
          cancel: threading.Event | None = None, time_limit: float = 30.0,
          memory_limit_mb: int = 2048, directory: Path | None = None) -> dict[str, Any]:
    """Tokenize a folder into a corpus (resuming what an earlier build did);
    returns its manifest. ``directory`` overrides where the corpus goes (the
    benchmark builds into a temporary folder)."""
    from composer.io.tokens import MELODY_PARAMS
    from composer.ml.tasks import tokenizer_fingerprint
    from corpora.workers import WorkerPool

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ComposerError(f"{folder}: not a folder of MIDI files")
    files = find_midi_files(folder)
    if not files:
        raise ComposerError(f"{folder}: no MIDI files (.mid, .midi) found")
    name = check_name(name) if name else corpus_name_for(folder)
    directory = directory or corpus_dir(name)
    directory.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    workers = max(1, workers or os.cpu_count() or 1)
    with _build_lock(directory):
        journal = Journal(directory, tokenizer_fingerprint(MELODY_PARAMS))
        try:
            todo = [f for f in files if not journal.known(f)]
            resumed = len(files) - len(todo)
            by_path = {str(folder / f.path): f for f in todo}
            done = resumed
            if progress:
                progress(done, len(files))
            if todo:
                _warm_up()
                pool = WorkerPool(tokenize_file, workers=workers, time_limit=time_limit,
                                  memory_limit_mb=memory_limit_mb, initializer=start_worker)
                stop = cancel.is_set if cancel is not None else None
                for path, outcome in pool.run(sorted(by_path), should_stop=stop):
                    result = outcome.value if outcome.status == "ok" else {
                        "skip": outcome.detail if outcome.status != "raised"
                        else f"unexpected error: {outcome.detail}"}
                    journal.add(by_path[path], result)
                    done += 1
                    if progress:
                        progress(done, len(files))
                if cancel is not None and cancel.is_set():
                    raise Cancelled(f"Corpus build stopped after {done} of {len(files)} files; "
                                    "run it again to go on from there.")
            with contextlib.suppress(FileNotFoundError):
                (directory / "report.json").unlink()  # the shards are about to change
            manifest = _assemble(directory, journal, files, folder, name)
        finally:
            journal.close()
    seconds = time.monotonic() - started
    manifest.update(seconds=round(seconds, 1), processes=workers, resumed=resumed,
                    tokenized=len(todo),
                    files_per_second=round(len(todo) / seconds, 1) if todo else None)
    from composer.io.atomic import atomic_write_text

    atomic_write_text(directory / "manifest.json", json.dumps(manifest, indent=1))

    atomic_write_text(directory / "report.json", json.dumps(manifest["report"], indent=1))
    return manifest


def _assemble(directory: Path, journal: Journal, files: list[SourceFile], folder: Path,
              name: str) -> dict[str, Any]:
    kept: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    seen: dict[str, str] = {}
    skipped, duplicates = [], []
    by_miditok: collections.Counter[str] = collections.Counter()
    for source in files:  # path order: the first of identical pieces is kept, every time
        record = journal.records[source.path]
        if "e" in record:
            by_miditok[record["e"]] += 1
        if "r" in record:
            skipped.append({"file": source.path, "reason": record["r"]})
        elif record["h"] in seen:
            duplicates.append({"file": source.path, "same_as": seen[record["h"]]})
        else:
            seen[record["h"]] = source.path
            kept[split_for_hash(record["h"])].append(record)
    shards = write_shards(directory, journal, kept)
    tokenized = sum(1 for source in files if "h" in journal.records[source.path])
    encoders = {"fast": tokenized - sum(by_miditok.values()),
                "miditok": dict(sorted(by_miditok.items()))}
    report: dict[str, Any] = {**shards, "skipped_files": len(skipped),
                              "duplicates": len(duplicates), "encoders": encoders}
    return {
        "name": name,
        "kind": "midi-folder",
        "format": FORMAT,
        "tokenizer": journal.fingerprint,
        "source": str(folder.resolve()),
        "files": len(files),
        "counts": {KIND: {s: shards[s]["pieces"] for s in SPLITS}},
        "tokens": {s: shards[s]["tokens"] for s in SPLITS},
        "skipped": skipped,
        "duplicates": duplicates,
        "report": report,
    }

