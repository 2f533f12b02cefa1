"""The on-disk form of a built corpus: gzipped JSON lines, one piece a line.

Layout under ``<cache>/corpus/<name>/``: ``<kind>_<split>.jsonl.gz`` for each
kind (``folk``, ``chorales``, ``midi``) and split, plus ``manifest.json``
(counts, skipped files, library versions). Loading 13,000 tunes takes about a
second, against about 20 minutes to parse them again.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from composer.core.serialize import song_from_dict, song_to_dict
from composer.core.song import Song
from composer.errors import ComposerError
from composer.io.atomic import atomic_write_bytes, atomic_write_text
from composer.paths import cache_dir


@dataclass(frozen=True)
class Piece:
    """One piece of a corpus: a stable id, where it came from, and its music."""

    id: str
    collection: str
    song: Song

    def to_json(self) -> str:
        return json.dumps({"id": self.id, "collection": self.collection,
                           "song": song_to_dict(self.song)}, ensure_ascii=False,
                          separators=(",", ":"))

    @staticmethod
    def from_json(line: str) -> Piece:
        data = json.loads(line)
        return Piece(data["id"], data["collection"], song_from_dict(data["song"]))


def corpus_dir(name: str) -> Path:
    return cache_dir() / "corpus" / name


def write_pieces(path: Path, pieces: Iterable[Piece]) -> int:
    buffer = io.BytesIO()
    count = 0
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as handle:
        for piece in pieces:
            handle.write(piece.to_json().encode("utf-8") + b"\n")
            count += 1
    atomic_write_bytes(path, buffer.getvalue())
    return count


def iter_pieces(path: Path) -> Iterator[Piece]:
    """The pieces of one cached file; raises ComposerError if it is damaged."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    try:
                        yield Piece.from_json(line)
                    except (ValueError, KeyError, TypeError) as err:
                        raise _damaged(path, f"line {number}: {err}") from err
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise _damaged(path, str(err)) from err


def _damaged(path: Path, detail: str) -> ComposerError:
    source = path.parent.name if path.parent.name in ("music21", "pop909") else "FOLDER"
    return ComposerError(f"{path}: the cached corpus is damaged ({detail[:120]})",
                         f"rebuild it: composer corpus build --source {source}")


def load_pieces(name: str, kind: str, split: str) -> list[Piece]:
    """All pieces of one kind and split; raises ComposerError if not built yet."""
    path = corpus_dir(name) / f"{kind}_{split}.jsonl.gz"
    if not path.exists():
        raise ComposerError(
            f"the {name} corpus has not been built ({path.name} is missing)",
            f"run: composer corpus build --source {name}",
        )
    return list(iter_pieces(path))


def write_manifest(name: str, manifest: dict[str, Any]) -> None:
    atomic_write_text(corpus_dir(name) / "manifest.json", json.dumps(manifest, indent=1))


def read_manifest(name: str) -> dict[str, Any] | None:
    path = corpus_dir(name) / "manifest.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise _damaged(path, str(err)) from err
