"""Check the vectorised melody encoder against miditok, id for id, on real collections.

    python -m corpora.verify_fast_tokens [--synthetic N] [--limit N]

Sources: every piece of the cached music21 corpus (folk tunes and chorales, all
splits) written out as MIDI and read back as a corpus build reads it, every
POP909 song, and a generated bench library. Each track of every file with
notes is encoded the way a corpus build would take it as the melody (its top
line, the file's meters), by miditok and by the fast encoder; so is the track
a build actually picks. Prints, per source, the melodies compared, those
miditok made because the fast encoder passed them on (and why), and the ones
that differ (listed; the exit status is 1 if there are any).
Comparing reads no piece into any model, so held-out pieces take part.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from composer.errors import ComposerError


def _music21_midi() -> Iterator[tuple[str, bytes]]:
    from composer.io.midi_file import song_to_midi_bytes
    from corpora.store import load_pieces

    for kind in ("folk", "chorales"):
        for split in ("train", "valid", "test"):
            try:
                pieces = load_pieces("music21", kind, split)
            except ComposerError as err:
                print(f"music21 {kind} {split}: {err.message}", file=sys.stderr)
                continue
            for piece in pieces:
                yield f"music21/{kind}/{piece.id}", song_to_midi_bytes(piece.song)


def _pop909_midi() -> Iterator[tuple[str, bytes]]:
    from composer.paths import pop909_dir

    for path in sorted(pop909_dir().glob("*/*.mid")):
        yield f"pop909/{path.parent.name}", path.read_bytes()


def _synthetic_midi(files: int) -> Iterator[tuple[str, bytes]]:
    from composer.services.corpus_bench import make_library

    with tempfile.TemporaryDirectory() as tmp:
        make_library(Path(tmp), files, seed=7, synthetic_only=True)
        for path in sorted(Path(tmp).rglob("*.mid")):
            yield f"synthetic/{path.name}", path.read_bytes()


def compare_file(tokenizer, name: str, data: bytes, tally: collections.Counter[str],
                 differ: list[str]) -> None:
    """Encode every usable track of one MIDI file both ways; count and list differences."""
    from composer.io.fast_tokens import encode_melody_fast
    from composer.io.tokens import encode_melody
    from corpora import midi_folder

    with tempfile.NamedTemporaryFile(suffix=".mid") as handle:
        handle.write(data)
        handle.flush()
        try:
            reading = midi_folder.read_with_symusic(handle.name)
        except Exception:  # a broken file is the bench library's; nothing to compare
            tally["unreadable"] += 1
            return
    tables = [t for t in reading.tracks if len(t.start) and not t.is_drum]
    try:
        picked = midi_folder.pick_melody(reading.tracks)
        tables.append(picked)
    except midi_folder.Skip:
        pass
    for index, table in enumerate(tables):
        try:
            song = midi_folder.melody_song(reading, table, tokenizer.config.pitch_range)
            expected = encode_melody(tokenizer, song)
        except (midi_folder.Skip, ComposerError):
            tally["not a melody the tokenizer takes"] += 1
            continue
        ids, reason = encode_melody_fast(tokenizer, song)
        tally["compared"] += 1
        tally[f"miditok: {reason}" if reason else "fast"] += 1
        if ids != expected:
            differ.append(f"{name} track {index} ({table.name})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", type=int, default=2000, help="generated bench files")
    parser.add_argument("--limit", type=int, default=None, help="files per source at most")
    args = parser.parse_args(argv)
    from corpora.midi_folder import melody_tokenizer

    tokenizer = melody_tokenizer()
    sources: dict[str, Any] = {"music21": _music21_midi(), "pop909": _pop909_midi(),
                               "synthetic": _synthetic_midi(args.synthetic)}
    failed = False
    for source, files in sources.items():
        tally: collections.Counter[str] = collections.Counter()
        differ: list[str] = []
        for count, (name, data) in enumerate(files):
            if args.limit is not None and count >= args.limit:
                break
            tally["files"] += 1
            compare_file(tokenizer, name, data, tally, differ)
        print(f"{source}: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.items()))
              + f", differ {len(differ)}")
        for line in differ[:20]:
            print(f"  differs: {line}")
        failed = failed or bool(differ)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
