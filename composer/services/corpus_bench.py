"""``composer bench corpus``: how fast a folder of MIDI files becomes token shards.

A typical library is written to a temporary folder: pop songs (POP909's
MELODY/BRIDGE/PIANO files, train split, and transposed copies), Bach chorales
in four parts and folk tunes (the cached music21 corpus, train split), plus the
things real libraries hold: exact copies under other names and broken files.
Where a source is not on this machine, generated multi-track songs stand in
(the report says which sources were used).

Measured in the same run:
- the build (``composer corpus build``) with N workers: files per second and
  peak memory of the parent plus its workers (summed RSS, and PSS, which counts
  shared pages once);
- the reference: the raw read rate of the same files in one process with
  symusic (the reader the build uses) and with mido, as ratios;
- a second build of the unchanged folder (everything resumed from the
  journal), and one after 5% more files were added (only those tokenized),
  checking that no piece changed split.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from composer.services.jobs import Progress, check_cancel, no_progress

TARGET_FILES_PER_S = 500.0
MIX = {"pop": 0.4, "classical": 0.2, "folk": 0.38, "duplicate": 0.01, "broken": 0.01}


# ------------------------------------------------------------------ library


def _real_sources() -> dict[str, list[bytes]]:
    """MIDI bytes of the real pieces on this machine, by kind (train splits only)."""
    from composer.errors import ComposerError
    from composer.io.midi_file import song_to_midi_bytes
    from composer.paths import pop909_dir
    from corpora.heldout import load_heldout
    from corpora.store import load_pieces

    heldout = load_heldout()
    sources: dict[str, list[bytes]] = {"pop": [], "classical": [], "folk": []}
    held = heldout.test_pop909 | heldout.valid_pop909
    if pop909_dir().is_dir():
        for path in sorted(pop909_dir().glob("*/*.mid")):
            if path.parent.name not in held:
                sources["pop"].append(path.read_bytes())
    for kind, collection in (("classical", "chorales"), ("folk", "folk")):
        try:
            pieces = load_pieces("music21", collection, "train")
        except ComposerError:
            continue
        sources[kind] = [song_to_midi_bytes(p.song) for p in pieces[:4000]]
    return sources


def synthetic_song(rng: np.random.Generator, parts: int):
    """A generated song in a major or minor key: melody, chords, bass (and drums)."""
    from composer.core.pitch import scale_pitch_classes
    from composer.core.song import KeySignature, Note, Song, TimeSignature, Track

    key = KeySignature(0, int(rng.integers(-5, 6)), "major" if rng.random() < 0.7 else "minor")
    scale = sorted(scale_pitch_classes(key))
    beats = int(rng.choice([3, 4, 4, 4]))
    bars = int(rng.integers(16, 49))
    melody: list[Note] = []
    chords: list[Note] = []
    bass: list[Note] = []
    drums: list[Note] = []
    degree = 0
    for bar in range(bars):
        start = bar * beats * 480
        root = int(rng.choice([0, 3, 4, 5]))
        triad = [scale[(root + k) % 7] for k in (0, 2, 4)]
        chords.extend(Note(pitch=48 + pc, start_tick=start, duration_ticks=beats * 480,
                           velocity=60) for pc in triad)
        bass.append(Note(pitch=36 + triad[0], start_tick=start, duration_ticks=beats * 480))
        tick = start
        while tick < start + beats * 480:
            length = int(rng.choice([240, 480, 480, 960]))
            length = min(length, start + beats * 480 - tick)
            degree = int(np.clip(degree + rng.integers(-2, 3), -3, 10))
            pitch = 60 + 12 * (degree // 7) + scale[degree % 7]
            melody.append(Note(pitch=pitch, start_tick=tick, duration_ticks=length))
            tick += length
        drums.extend(Note(pitch=36 if b % 2 == 0 else 38, start_tick=start + b * 480,
                          duration_ticks=120) for b in range(beats))
    tracks = [Track("Melody", tuple(melody), program=73, channel=0)]
    if parts > 1:
        tracks += [Track("Chords", tuple(sorted(chords)), program=0, channel=1),
                   Track("Bass", tuple(bass), program=33, channel=2)]
        tracks.append(Track("Drums", tuple(drums), channel=9))
    return Song(tracks=tuple(tracks), time_signatures=(TimeSignature(0, beats, 4),),
                keys=(key,))


def _variant(data: bytes, shift: int) -> bytes:
    """The same piece moved by ``shift`` semitones (a different piece to the build)."""
    import symusic

    score: Any = symusic.Score.from_midi(data)
    return bytes(score.shift_pitch(shift).dumps_midi())


def make_library(folder: Path, files: int, seed: int = 0, synthetic_only: bool = False,
                 progress: Progress = no_progress, cancel: threading.Event | None = None
                 ) -> dict[str, Any]:
    """Write ``files`` MIDI files to ``folder``; returns counts by kind and the sources."""
    from composer.io.midi_file import song_to_midi_bytes

    rng = np.random.default_rng(seed)
    sources = {"pop": [], "classical": [], "folk": []} if synthetic_only else _real_sources()
    used = {kind: ("real" if sources[kind] else "synthetic") for kind in sources}
    counts = {kind: int(round(files * share)) for kind, share in MIX.items()}
    counts["folk"] += files - sum(counts.values())
    written: list[Path] = []
    number = 0
    for kind in ("pop", "classical", "folk"):
        pool = sources[kind]
        for i in range(counts[kind]):
            if pool:
                base = pool[i % len(pool)]
                round_ = i // len(pool)
                data = base if round_ == 0 else _variant(base, [1, -2, 3, -4, 5, -6][round_ % 6])
            else:
                data = song_to_midi_bytes(synthetic_song(rng, 4 if kind == "pop" else 1))
            path = folder / kind / f"{number // 500:03d}" / f"{kind}-{number:05d}.mid"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            written.append(path)
            number += 1
            if number % 100 == 0:
                check_cancel(cancel)
                progress(0.3 * number / files, f"writing the library: {number}/{files} files")
    extras = folder / "misc"
    extras.mkdir(parents=True, exist_ok=True)
    for i in range(counts["duplicate"]):
        original = written[int(rng.integers(len(written)))]
        (extras / f"copy of {original.stem} ({i}).mid").write_bytes(original.read_bytes())
    for i in range(counts["broken"]):
        data = written[int(rng.integers(len(written)))].read_bytes()
        cut = data[:int(rng.integers(8, max(9, len(data) // 2)))]
        (extras / f"broken-{i:04d}.mid").write_bytes(cut if i % 3 else b"RIFF" + cut[4:])
    return {"counts": counts, "sources": used}


# ------------------------------------------------------------------ measuring


def _read_rate(paths: list[Path], reader: str, limit: int, seconds: float = 20.0
               ) -> dict[str, float]:
    """Files per second one process reads (parse only), over up to ``limit`` files."""
    import mido
    import symusic

    sample = paths[:limit]
    read = failed = 0
    started = time.perf_counter()
    for path in sample:
        try:
            if reader == "symusic":
                symusic.Score.from_file(str(path))
            else:
                mido.MidiFile(str(path))
            read += 1
        except Exception:  # broken files are part of the library; count them as read tries
            failed += 1
        if time.perf_counter() - started > seconds:
            break
    elapsed = time.perf_counter() - started
    return {"files": read + failed, "seconds": round(elapsed, 2),
            "files_per_s": round((read + failed) / elapsed, 1)}


def bench_corpus(files: int = 3000, workers: int = 2, seed: int = 0, synthetic_only: bool = False,
                 progress: Progress = no_progress, cancel: threading.Event | None = None
                 ) -> dict[str, Any]:
    """Generate a library, build it, and report rates, memory and the references."""
    from corpora import midi_folder
    from corpora.workers import MemorySampler

    root = Path(tempfile.mkdtemp(prefix="composer-bench-corpus-"))
    try:
        library, corpus = root / "library", root / "corpus"
        corpus.mkdir()
        made = make_library(library, files, seed, synthetic_only, progress, cancel)
        paths = sorted(library.rglob("*.mid"))
        progress(0.35, "reference: reading with symusic")
        symusic_rate = _read_rate(paths, "symusic", len(paths))
        progress(0.4, "reference: reading with mido")
        mido_rate = _read_rate(paths[::max(1, len(paths) // 300)], "mido", 300)

        def on_build(done: int, total: int) -> None:
            progress(0.45 + 0.45 * done / total, f"building: {done}/{total} files")

        with MemorySampler() as memory:
            cpu_before = _cpu_seconds()
            started = time.perf_counter()
            manifest = midi_folder.build(library, name="bench", workers=workers,
                                         progress=on_build, cancel=cancel, directory=corpus)
            build_s = time.perf_counter() - started
            build_cpu = _cpu_seconds() - cpu_before
        splits_before = _splits(corpus)

        progress(0.92, "rebuilding the unchanged folder (all resumed)")
        started = time.perf_counter()
        midi_folder.build(library, name="bench", workers=workers, cancel=cancel,
                          directory=corpus)
        resume_s = time.perf_counter() - started

        progress(0.95, "adding 5% more files and building again")
        added = make_library(root / "added", max(1, files // 20), seed + 1, synthetic_only)
        shutil.move(str(root / "added"), str(library / "added"))
        started = time.perf_counter()
        grown = midi_folder.build(library, name="bench", workers=workers, cancel=cancel,
                                  directory=corpus)
        grow_s = time.perf_counter() - started
        splits_after = _splits(corpus)
        moved = sum(1 for piece, split in splits_before.items()
                    if piece in splits_after and splits_after[piece] != split)
        rate = len(paths) / build_s
        progress(1.0, "done")
        return {
            "library": {"files": len(paths), "by_kind": made["counts"], "sources": made["sources"],
                        "megabytes": round(sum(p.stat().st_size for p in paths) / 2**20, 1)},
            "workers": workers,
            "build": {
                "seconds": round(build_s, 2),
                "files_per_s": round(rate, 1),
                "pieces": manifest["counts"]["midi"],
                "tokens": sum(manifest["tokens"].values()),
                "skipped": len(manifest["skipped"]),
                "duplicates": len(manifest["duplicates"]),
                # Pieces the vectorised encoder tokenized, and those miditok did (and why).
                "encoders": manifest["report"]["encoders"],
                "cpu_seconds": round(build_cpu, 2),
                # What the same work gives when the workers have their cores to themselves
                # (this machine may be busy with other jobs; the wall-clock rate is the figure).
                "cpu_bound_files_per_s": round(len(paths) * workers / build_cpu, 1),
                "peak_rss_mb": round(memory.peak_rss_kb / 1024, 1),
                "peak_pss_mb": round(memory.peak_pss_kb / 1024, 1),
            },
            "reference": {
                "symusic_read_1_process": symusic_rate,
                "mido_read_1_process": mido_rate,
                "build_vs_symusic_read": round(rate / symusic_rate["files_per_s"], 3),
                "build_vs_mido_read": round(rate / mido_rate["files_per_s"], 2),
            },
            "resume": {
                "unchanged_rebuild_s": round(resume_s, 2),
                "added_files": sum(added["counts"].values()),
                "tokenized_after_adding": grown["tokenized"],
                "rebuild_after_adding_s": round(grow_s, 2),
                "pieces_that_changed_split": moved,
            },
            "target_files_per_s": TARGET_FILES_PER_S,
            "meets_target": rate >= TARGET_FILES_PER_S,
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _cpu_seconds() -> float:
    """CPU time of this process and of its children that have ended (the workers)."""
    import resource

    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def _splits(corpus: Path) -> dict[str, str]:
    import json

    found = {}
    for split in ("train", "valid", "test"):
        for piece in json.loads((corpus / f"{split}_ids.json").read_text()):
            found[piece] = split
    return found
