"""Build a corpus from a folder of the user's own MIDI files.

Files that cannot be read are skipped and listed with the reason. Identical
pieces (same notes, whatever the file name) are kept once. The split is drawn
from a hash of each piece's notes, so adding files never moves a piece from
one split to another.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from composer.core.song import Song
from composer.errors import Cancelled, ComposerError
from corpora.heldout import SPLITS, Split
from corpora.store import Piece, corpus_dir, write_manifest, write_pieces

MIDI_SUFFIXES = (".mid", ".midi", ".kar", ".smf", ".rmi")


def corpus_name_for(folder: Path) -> str:
    """A readable, unique cache name for a folder: ``<name>-<hash of its path>``."""
    resolved = str(folder.resolve())
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", folder.resolve().name).strip("-") or "midi"
    return f"{slug}-{hashlib.sha256(resolved.encode()).hexdigest()[:8]}"


def find_midi_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES)


def content_hash(song: Song) -> str:
    """The identity of a piece: its notes, independent of file name and metadata."""
    digest = hashlib.sha256()
    for track in song.tracks:
        for n in track.notes:
            digest.update(f"{track.channel},{n.start_tick},{n.pitch},{n.duration_ticks};".encode())
    return digest.hexdigest()


def split_for_hash(digest: str) -> Split:
    bucket = int(digest[:16], 16) % 20
    return "test" if bucket == 0 else "valid" if bucket == 1 else "train"


def read_one(path_text: str) -> tuple[str, Song | None, str]:
    from composer.io.midi_file import read_midi

    try:
        song = read_midi(path_text)
    except ComposerError as err:
        return path_text, None, err.message.removeprefix(f"{path_text}: ")
    except Exception as err:  # the fuzz tests keep this branch from ever being taken
        return path_text, None, f"unexpected {type(err).__name__}: {err}"
    if not song.note_count:
        return path_text, None, "no notes"
    return path_text, song, ""


def build(folder: str | Path, processes: int | None = None,
          progress: Callable[[int, int], None] | None = None,
          cancel: threading.Event | None = None) -> dict[str, Any]:
    from multiprocessing import get_context

    folder = Path(folder)
    if not folder.is_dir():
        raise ComposerError(f"{folder}: not a folder of MIDI files")
    files = find_midi_files(folder)
    if not files:
        raise ComposerError(f"{folder}: no MIDI files (.mid, .midi) found")
    name = corpus_name_for(folder)
    started = time.monotonic()
    processes = processes or os.cpu_count() or 1
    by_split: dict[str, list[Piece]] = {s: [] for s in SPLITS}
    seen: dict[str, str] = {}
    skipped: list[dict[str, str]] = []
    duplicates: list[dict[str, str]] = []
    read: list[tuple[str, Song | None, str]] = []
    with get_context("fork").Pool(processes) as pool:
        results = pool.imap_unordered(read_one, [str(f) for f in files], chunksize=16)
        for done, result in enumerate(results, start=1):
            read.append(result)
            if progress:
                progress(done, len(files))
            if cancel is not None and cancel.is_set():
                pool.terminate()
                raise Cancelled("Corpus build cancelled; the previous corpus is unchanged.")
    # Files in name order, whatever order the workers finished in: the first of
    # identical pieces is the one kept, the same one every time.
    for path_text, song, reason in sorted(read, key=lambda r: r[0]):
        rel = os.path.relpath(path_text, folder)
        if song is None:
            skipped.append({"file": rel, "reason": reason})
            continue
        digest = content_hash(song)
        if digest in seen:
            duplicates.append({"file": rel, "same_as": seen[digest]})
        else:
            seen[digest] = rel
            by_split[split_for_hash(digest)].append(Piece(rel, "midi", song))
    out = corpus_dir(name)
    out.mkdir(parents=True, exist_ok=True)
    counts = {s: write_pieces(out / f"midi_{s}.jsonl.gz", sorted(by_split[s], key=lambda p: p.id))
              for s in SPLITS}
    manifest = {
        "name": name,
        "source": str(folder.resolve()),
        "counts": {"midi": counts},
        "files": len(files),
        "skipped": sorted(skipped, key=lambda s: s["file"]),
        "duplicates": sorted(duplicates, key=lambda d: d["file"]),
        "seconds": round(time.monotonic() - started, 1),
        "processes": processes,
    }
    write_manifest(name, manifest)
    return manifest
