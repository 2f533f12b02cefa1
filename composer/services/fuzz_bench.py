"""``composer bench fuzz``: thousands of mutated MIDI files against every reader.

A corpus of mutated files is generated into the cache (never into git): valid
seed files (generated songs, and hand-built files with running status, SysEx,
SMPTE time, RIFF wrappers, format 0 and 2) put through byte-level and
structure-aware mutations (bit flips, cuts, splices, lying chunk lengths,
huge variable-length numbers), plus a fixed set of absurd files (a track
claiming 2^32-1 bytes, a header promising 65,535 tracks, events 2^28 ticks
apart, 5 million notes, a SysEx claiming 256 MB).

Every file goes through, in a worker process with a time and memory limit:
- ``read``: the tolerant reader (:func:`composer.io.midi_file.read_midi`);
- ``corpus``: the corpus builder's per-file work (symusic, then the reader);
- ``round_trip``: the melody tokenizer, song -> tokens -> notes;
- ``decode``: the melody decoder fed arbitrary token ids (a model's raw output);
- ``harmony`` (one file in ``harmony_every``): the constrained chorale decoder
  driven by a randomly initialised network, the file's melody as soprano.

A target may load the file or raise :class:`ComposerError`; any other
exception, a worker that dies, or the memory limit is a crash; more than the
time limit in CPU seconds (or no answer at all within ten times that) is a
hang. The target is 0 crashes and 0 hangs.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from composer.services.jobs import Progress, check_cancel, no_progress

TARGETS = ("read", "corpus", "round_trip", "decode", "harmony")
FORMAT = 1  # of the generated corpus: another value regenerates it


# ------------------------------------------------------------ building bytes


def _varlen(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(out))


def _chunk(kind: bytes, body: bytes, length: int | None = None) -> bytes:
    return kind + (len(body) if length is None else length).to_bytes(4, "big") + body


def _header(midi_format: int, tracks: int, division: int = 480, length: int = 6) -> bytes:
    return _chunk(b"MThd", midi_format.to_bytes(2, "big") + tracks.to_bytes(2, "big")
                  + division.to_bytes(2, "big"), length)


def _meta(delta: int, kind: int, data: bytes, claimed: int | None = None) -> bytes:
    return _varlen(delta) + bytes([0xFF, kind]) + _varlen(len(data) if claimed is None
                                                          else claimed) + data


_END = b"\x00\xff\x2f\x00"


def _notes_track(rng: np.random.Generator, count: int, channel: int = 0,
                 running_status: bool = False) -> bytes:
    events = bytearray()
    for i in range(count):
        pitch = int(rng.integers(36, 96))
        on = bytes([0x90 | channel, pitch, 80])
        off = bytes([pitch, 0]) if running_status else bytes([0x80 | channel, pitch, 64])
        events += _varlen(int(rng.integers(0, 240))) + (on if not running_status or i == 0
                                                        else on[1:])
        events += _varlen(int(rng.integers(1, 480))) + off
    return bytes(events)


def structural_seeds(rng: np.random.Generator) -> list[bytes]:
    """Small valid files exercising the corners of the format."""
    conductor = _chunk(b"MTrk", _meta(0, 0x51, (500_000).to_bytes(3, "big"))
                       + _meta(0, 0x58, bytes([3, 2, 24, 8])) + _meta(0, 0x59, bytes([0xFE, 1]))
                       + _meta(0, 0x03, b"Title") + _END)
    sysex = b"\x00\xf0" + _varlen(4) + b"\x7e\x7f\x09\xf7"
    text = _meta(0, 0x01, "Caf\xe9 \u266b".encode())
    seeds = [
        _header(1, 3) + conductor + _chunk(b"MTrk", sysex + text + _notes_track(rng, 40) + _END)
        + _chunk(b"MTrk", _notes_track(rng, 30, channel=9) + _END),
        _header(0, 1) + _chunk(b"MTrk", _notes_track(rng, 60, running_status=True)
                               + b"\x00\xc1\x05" + _notes_track(rng, 20, channel=1) + _END),
        _header(2, 2) + _chunk(b"MTrk", _notes_track(rng, 20) + _END)
        + _chunk(b"MTrk", _notes_track(rng, 20) + _END),
        _header(1, 1, division=0xE728) + _chunk(b"MTrk", _notes_track(rng, 30) + _END),  # SMPTE
        _header(1, 1, division=96) + _chunk(b"MTrk", _notes_track(rng, 30) + b"\x00\xe0\x00\x40"
                                            + b"\x00\xb0\x40\x7f" + _END),
    ]
    riff_body = b"RMID" + b"data" + len(seeds[0]).to_bytes(4, "little") + seeds[0]
    seeds.append(b"RIFF" + len(riff_body).to_bytes(4, "little") + riff_body)
    return seeds


def song_seeds(rng: np.random.Generator, count: int) -> list[bytes]:
    from composer.io.midi_file import song_to_midi_bytes
    from composer.services.corpus_bench import synthetic_song

    return [song_to_midi_bytes(synthetic_song(rng, 4 if i % 2 else 1)) for i in range(count)]


def absurd_files() -> dict[str, bytes]:
    """Files that claim (or hold) sizes no real MIDI file has."""
    rng = np.random.default_rng(7)
    small = _notes_track(rng, 10)
    five_million = bytes([0x00, 0x90, 60, 80, 0x00, 0x80, 60, 0]) * 2_500_000
    return {
        "track-claims-4GB": _header(1, 1) + _chunk(b"MTrk", small + _END, 0xFFFFFFFF),
        "track-claims-2GB": _header(1, 1) + _chunk(b"MTrk", small + _END, 2**31),
        "header-claims-65535-tracks": _header(1, 65535) + _chunk(b"MTrk", small + _END),
        "header-length-4GB": _header(1, 1, length=0xFFFFFFFF) + _chunk(b"MTrk", small + _END),
        "events-2^28-ticks-apart": _header(1, 1) + _chunk(b"MTrk", b"".join(
            _varlen(2**28 - 1) + bytes([0x90, 60 + i % 12, 80]) + _varlen(2**28 - 1)
            + bytes([0x80, 60 + i % 12, 0]) for i in range(2000)) + _END),
        "five-million-notes": _header(1, 1) + _chunk(b"MTrk", five_million + _END),
        "sysex-claims-256MB": _header(1, 1) + _chunk(b"MTrk", b"\x00\xf0" + _varlen(2**28 - 1)
                                                      + small + _END),
        "meta-claims-256MB": _header(1, 1) + _chunk(b"MTrk", _meta(0, 0x01, b"x", 2**28 - 1)
                                                     + small + _END),
        "zero-division": _header(1, 1, division=0) + _chunk(b"MTrk", small + _END),
        "only-header": _header(1, 1),
        "empty": b"",
        "riff-claims-4GB": b"RIFF\xff\xff\xff\xffRMIDdata\xff\xff\xff\xff" + _header(0, 1)
        + _chunk(b"MTrk", small + _END),
    }


# ---------------------------------------------------------------- mutations

_INTERESTING = [0x00, 0x01, 0x7F, 0x80, 0x81, 0xF0, 0xF7, 0xFF, 0x2F, 0x51, 0x58, 0x90]


def _chunk_starts(data: bytes) -> list[int]:
    starts: list[int] = []
    at = 0
    while True:
        at = data.find(b"MTrk", at)
        if at < 0:
            return starts
        starts.append(at)
        at += 4


def mutate(data: bytes, rng: np.random.Generator, donors: list[bytes]) -> bytes:
    """One to four random mutations of ``data``."""
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 5))):
        op = int(rng.integers(0, 11))
        size = len(out)
        if size == 0:
            out += bytes(rng.integers(0, 256, 16, dtype=np.uint8))
            continue
        at = int(rng.integers(0, size))
        if op == 0:  # flip a few bits
            for _ in range(int(rng.integers(1, 9))):
                i = int(rng.integers(0, size))
                out[i] ^= 1 << int(rng.integers(0, 8))
        elif op == 1:  # an interesting byte
            out[at] = _INTERESTING[int(rng.integers(len(_INTERESTING)))]
        elif op == 2:  # cut the file short
            del out[at:]
        elif op == 3:  # delete a range
            del out[at:at + int(rng.integers(1, 64))]
        elif op == 4:  # insert random bytes
            out[at:at] = bytes(rng.integers(0, 256, int(rng.integers(1, 32)), dtype=np.uint8))
        elif op == 5:  # repeat a range
            piece = out[at:at + int(rng.integers(1, 256))]
            out[at:at] = piece * int(rng.integers(1, 8))
        elif op == 6:  # lie about a chunk length
            starts = _chunk_starts(bytes(out)) or [0]
            i = starts[int(rng.integers(len(starts)))] + 4
            value = int(rng.choice([0, 1, 0xFFFFFFFF, 2**31, size * 2,
                                    int(rng.integers(0, 2**32))]))
            out[i:i + 4] = value.to_bytes(4, "big")
        elif op == 7:  # the header's format, track count or division
            field = int(rng.choice([8, 10, 12]))
            value = int(rng.choice([0, 1, 2, 3, 0x7FFF, 0x8000, 0xE250, 0xFFFF]))
            if size >= field + 2:
                out[field:field + 2] = value.to_bytes(2, "big")
        elif op == 8:  # a huge variable-length number
            out[at:at] = bytes([0x8F, 0xFF, 0xFF, 0x7F])
        elif op == 9:  # splice in part of another file
            donor = donors[int(rng.integers(len(donors)))]
            if donor:
                j = int(rng.integers(0, len(donor)))
                out[at:] = donor[j:j + int(rng.integers(1, 2048))]
        else:  # a status byte where data should be, or the reverse
            flipped = rng.integers(0x80, 0x100) if out[at] < 0x80 else rng.integers(0, 0x80)
            out[at] = int(flipped)
    return bytes(out)


def fuzz_folder(files: int, seed: int) -> Path:
    from composer.paths import cache_dir

    return cache_dir() / "fuzz" / f"midi-{seed}-{files}"


def make_fuzz_corpus(files: int = 10_000, seed: int = 0, folder: Path | None = None,
                     progress: Progress = no_progress, cancel: threading.Event | None = None
                     ) -> list[Path]:
    """The mutated files (generated once per ``files``/``seed``, then reused)."""
    folder = folder or fuzz_folder(files, seed)
    marker = folder / "corpus.json"
    if marker.exists():
        try:
            info = json.loads(marker.read_text())
            if info.get("format") == FORMAT:
                return [folder / name for name in info["files"]]
        except (OSError, ValueError):
            pass
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    seeds = structural_seeds(rng) + song_seeds(rng, 40)
    names = []
    for name, data in absurd_files().items():
        (folder / f"absurd-{name}.mid").write_bytes(data)
        names.append(f"absurd-{name}.mid")
    for i in range(max(0, files - len(names))):
        data = mutate(seeds[int(rng.integers(len(seeds)))], rng, seeds)
        name = f"mutant-{i:05d}.mid"
        (folder / name).write_bytes(data)
        names.append(name)
        if i % 500 == 0:
            check_cancel(cancel)
            progress(0.1 * i / files, f"generating mutated files: {i}/{files}")
    from composer.io.atomic import atomic_write_text

    atomic_write_text(marker, json.dumps({"format": FORMAT, "seed": seed, "files": names}))
    return [folder / name for name in names]


# ------------------------------------------------------------ in a worker

_STATE: dict[str, Any] = {}


def start_worker() -> None:
    """Tokenizers and a randomly initialised chorale network, once per worker."""
    import torch

    from composer.io.tokens import MELODY_PARAMS, Vocabulary, build_tokenizer
    from composer.ml.checkpoint import build_model
    from composer.ml.harmony_decode import HarmonyVocab
    from composer.ml.harmony_format import CHORALE_PARAMS

    torch.set_num_threads(1)
    melody = build_tokenizer(MELODY_PARAMS)
    chorale = build_tokenizer(CHORALE_PARAMS)
    vocab = Vocabulary.of(chorale)
    torch.manual_seed(0)
    model = build_model({"arch": "transformer", "vocab_size": len(vocab), "block_size": 256,
                         "n_layer": 1, "n_head": 2, "n_embd": 32, "dropout": 0.0})
    model.eval()
    _STATE.update(melody=melody, melody_vocab=Vocabulary.of(melody), chorale=chorale,
                  hv=HarmonyVocab(vocab), model=model)


def _melody_of(song):
    """The first pitched track's top line, as a one-track song (or None)."""
    from dataclasses import replace

    from composer.core.ops import top_line

    for track in song.tracks:
        if track.notes and not track.is_drum:
            return replace(song, tracks=(top_line(track),))
    return None


def _round_trip(song) -> str:
    from composer.io.tokens import decode_notes, encode_melody

    melody = _melody_of(song)
    if melody is None:
        return "ok"
    tokenizer = _STATE["melody"]
    low, high = _STATE["melody_vocab"].pitch_range
    notes = melody.tracks[0].notes
    ids = encode_melody(tokenizer, melody)
    decoded = decode_notes(tokenizer, ids)
    pitches = {n.pitch for n in notes if low <= n.pitch <= high}
    if len(decoded) > len(notes) or any(n.pitch not in pitches for n in decoded):
        return f"mismatch: {len(notes)} notes in, {len(decoded)} out"
    return "ok"


def _decode(data: bytes) -> str:
    from composer.io.tokens import decode_notes

    vocab = _STATE["melody_vocab"]
    raw = data[:1024][:len(data[:1024]) // 2 * 2]
    ids = (np.frombuffer(raw, dtype="<u2") % len(vocab)).tolist()
    for n in decode_notes(_STATE["melody"], ids):
        if not (0 <= n.pitch <= 127 and n.duration_ticks >= 1 and n.start_tick >= 0):
            return f"mismatch: an impossible note {n}"
    return "ok"


def _harmony(song, seed: int) -> str:
    """Four bars of the file's melody (notes cut at the fourth bar line: a damaged
    note-off can leave a note thousands of bars long, which is slow, not wrong)."""
    from dataclasses import replace

    from composer.core.timing import BarGrid
    from composer.ml.harmony_decode import harmonize_chorale
    from composer.ml.melody import song_key

    melody = _melody_of(song)
    if melody is None:
        return "ok"
    grid = BarGrid.of(melody)
    notes = melody.tracks[0].notes
    end = grid.bar_start_tick(grid.bar_at_tick(notes[0].start_tick) + 4)  # four bars of it
    soprano = [replace(n, duration_ticks=min(n.duration_ticks, end - n.start_tick))
               for n in notes if n.start_tick < end]
    setting = harmonize_chorale(_STATE["model"], _STATE["hv"], _STATE["chorale"], soprano,
                                melody.time_signatures, song_key(melody), temperature=1.0,
                                rng=np.random.default_rng(seed))
    for notes in (setting.alto, setting.tenor, setting.bass):
        if any(n.start_tick < 0 or n.duration_ticks < 1 for n in notes):
            return "mismatch: an impossible note"
    return "ok"


def check_file(item: tuple[str, bool]) -> dict[str, str]:
    """Each target's outcome for one file: "ok", "error: ..." (a ComposerError),
    "crash: ..." (anything else) or "mismatch: ..." (a broken round trip)."""
    from composer.errors import ComposerError
    from composer.io.midi_file import read_midi
    from corpora.midi_folder import tokenize_file

    path, with_harmony = item
    results: dict[str, str] = {}
    song = None

    def attempt(target: str, run) -> None:
        try:
            results[target] = run()
        except ComposerError as err:
            results[target] = f"error: {err.message}"[:200]
        except Exception as err:  # exactly what the fuzzer is looking for
            results[target] = f"crash: {type(err).__name__}: {err}"[:300]

    def read() -> str:
        nonlocal song
        song = read_midi(path)
        return "ok"

    attempt("read", read)
    attempt("corpus", lambda: "ok" if isinstance(tokenize_file(path), dict) else "crash: no result")
    if song is not None:
        attempt("round_trip", lambda: _round_trip(song))
        if with_harmony:
            attempt("harmony", lambda: _harmony(song, len(path)))
    attempt("decode", lambda: _decode(Path(path).read_bytes()))
    return results


# ------------------------------------------------------------------ the run


def run_fuzz(files: int = 10_000, seed: int = 0, workers: int = 2, time_limit: float = 20.0,
             memory_limit_mb: int = 1536, harmony_every: int = 20, folder: Path | None = None,
             progress: Progress = no_progress, cancel: threading.Event | None = None
             ) -> dict[str, Any]:
    """Generate (or reuse) the mutated corpus and run every target over it."""
    from corpora.workers import MemorySampler, WorkerPool

    paths = make_fuzz_corpus(files, seed, folder, progress, cancel)
    counts = {t: {"ok": 0, "error": 0, "crash": 0, "mismatch": 0} for t in TARGETS}
    crashes: list[dict[str, str]] = []
    mismatches: list[dict[str, str]] = []
    hangs: list[str] = []
    items = [(str(p), i % harmony_every == 0) for i, p in enumerate(paths)]
    pool = WorkerPool(check_file, workers=workers, time_limit=time_limit,
                      memory_limit_mb=memory_limit_mb, batch=16, initializer=start_worker)
    started = time.monotonic()
    done = 0
    with MemorySampler() as memory:
        for (path, _), outcome in pool.run(items, should_stop=cancel.is_set if cancel else None):
            done += 1
            name = Path(path).name
            if outcome.status == "timeout":
                hangs.append(name)
            elif outcome.status != "ok":
                crashes.append({"file": name, "target": "worker", "detail": outcome.detail})
            else:
                for target, result in outcome.value.items():
                    kind = result.split(":", 1)[0]
                    counts[target][kind] += 1
                    if kind == "crash":
                        crashes.append({"file": name, "target": target, "detail": result})
                    elif kind == "mismatch":
                        mismatches.append({"file": name, "target": target, "detail": result})
            if done % 50 == 0:
                progress(0.1 + 0.9 * done / len(items), f"{done}/{len(items)} files, "
                         f"{len(crashes)} crashes, {len(hangs)} hangs")
    check_cancel(cancel)
    seconds = time.monotonic() - started
    progress(1.0, "done")
    return {
        "files": done,
        "corpus": str(paths[0].parent) if paths else "",
        "workers": workers,
        "time_limit_s": time_limit,
        "memory_limit_mb": memory_limit_mb,
        "seconds": round(seconds, 1),
        "files_per_s": round(done / seconds, 1) if seconds else None,
        "targets": counts,
        "crashes": len(crashes),
        "hangs": len(hangs),
        "mismatches": len(mismatches),
        "crash_list": crashes[:50],
        "hang_list": hangs[:50],
        "mismatch_list": mismatches[:50],
        "worker_restarts": pool.restarts,
        "peak_pss_mb": round(memory.peak_pss_kb / 1024, 1),
        "peak_rss_mb": round(memory.peak_rss_kb / 1024, 1),
    }
