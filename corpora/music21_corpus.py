"""Build the training corpus from the music shipped inside the music21 wheel.

Folk collections become monophonic melodies (meter, key, pickup padded onto
the bar grid); BWV-numbered Bach chorales become four tracks named Soprano,
Alto, Tenor and Bass. ABC files are split into single tunes here so the two
worker processes get even work (music21 parses about ten tunes a second).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from composer.core import ops
from composer.core.song import Song, Track
from composer.errors import Cancelled
from corpora.heldout import SPLITS, load_heldout, soprano_signature
from corpora.store import Piece, corpus_dir, write_manifest, write_pieces

FOLK_COLLECTIONS = ("essenFolksong", "oneills1850", "ryansMammoth", "airdsAirs", "miscFolk")
CORPUS_NAME = "music21"
_X_LINE = re.compile(r"^X:\s*(\d+)", re.MULTILINE)
_FIELD_LINE = re.compile(r"^[A-Za-z]:")
# A grace group right after a tuplet marker, as in "(3{d}cBc".
_TUPLET_THEN_GRACE = re.compile(r"(\(\d(?::\d*){0,2})(\{[^}]*\})")
_FREE_METER = re.compile(r"^M:\s*none\s*$", re.MULTILINE | re.IGNORECASE)


@dataclass(frozen=True)
class Job:
    """One unit of parsing work: a folk tune's ABC text, or a chorale id."""

    kind: str  # "folk" or "chorales"
    id: str
    collection: str
    text: str = ""


def music21_corpus_root() -> Path:
    import music21

    return Path(music21.__file__).parent / "corpus"


def folk_jobs(root: Path | None = None) -> Iterator[Job]:
    """Every folk tune as ``<collection file>#<X number>`` with its ABC text."""
    root = root or music21_corpus_root()
    for collection in FOLK_COLLECTIONS:
        for path in sorted((root / collection).rglob("*.abc")):
            rel = path.relative_to(root).as_posix()
            text = path.read_text(encoding="latin-1")
            starts = [m.start() for m in _X_LINE.finditer(text)]
            if not starts:
                continue
            # Fields before the first tune are file-wide defaults for every tune.
            header = "\n".join(
                line for line in text[:starts[0]].splitlines()
                if len(line) > 1 and line[1] == ":" and line[0].isalpha()
            )
            for i, begin in enumerate(starts):
                end = starts[i + 1] if i + 1 < len(starts) else len(text)
                tune = text[begin:end]
                number = int(_X_LINE.match(tune).group(1))  # type: ignore[union-attr]
                lines = tune.splitlines()
                body = "\n".join([lines[0], header, *lines[1:]]) if header else tune
                yield Job("folk", f"{rel}#{number}", collection, body)


def chorale_jobs() -> Iterator[Job]:
    from music21.corpus import chorales

    for name in chorales.Iterator(numberingSystem="bwv", returnType="filename"):
        yield Job("chorales", str(name), "bach")


def parse_job(job: Job) -> tuple[Job, Song | None, str]:
    """Parse one job in a worker; returns (job, song or None, reason if skipped)."""
    try:
        song = _parse_folk(job) if job.kind == "folk" else _parse_chorale(job)
    except Exception as err:  # music21 raises many types on odd ABC; the tune is skipped
        return job, None, f"{type(err).__name__}: {' '.join(str(err).split())[:120]}"
    if song is None or not song.note_count:
        return job, None, "no notes"
    return job, song, ""


def clean_abc(text: str) -> str:
    """Rewrite the few ABC constructs music21 misreads into equivalent ones.

    - ``(3{d}cBc``: music21 counts the grace note as one of the triplet's three
      notes, so the bar comes out a third of a beat too long (and the tune
      fails with a 1/3 or 1/6 "meter"). ``{d}(3cBc`` means the same and parses.
    - Lines in the tune header (before ``K:``) that are not fields, e.g. a note
      written ``N bars 13 and 21 are |f2ed|`` without its colon: music21 reads
      them as music in the default meter.
    """
    lines = text.splitlines()
    header_end = next((i for i, line in enumerate(lines) if line.startswith("K:")), 0)
    kept = [line for i, line in enumerate(lines)
            if i == 0 or i >= header_end or not line.strip() or line.startswith("%")
            or _FIELD_LINE.match(line)]
    body = "\n".join(kept)
    return _TUPLET_THEN_GRACE.sub(r"\2\1", body)


def has_free_meter(text: str) -> bool:
    """Essen tunes marked ``M: none``: their bar lines are phrase marks, not a meter."""
    return bool(_FREE_METER.search(text))


def _parse_folk(job: Job) -> Song | None:
    from music21 import converter

    from composer.io.music21_convert import score_to_song

    parsed = converter.parse(clean_abc(job.text), format="abc")
    if hasattr(parsed, "scores") and parsed.scores:
        parsed = parsed.scores[0]
    song = score_to_song(parsed, pickup="pad", title=_abc_title(job.text))
    if not song.tracks:
        return None
    melody = ops.top_line(song.tracks[0])
    return replace(song, tracks=(replace(melody, name="Melody", program=73, channel=0),))


def _abc_title(text: str) -> str:
    match = re.search(r"^T:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else ""


_VOICE_NAMES = ("Soprano", "Alto", "Tenor", "Bass")


def _parse_chorale(job: Job) -> Song | None:
    from music21 import corpus

    from composer.io.music21_convert import score_to_song

    score = corpus.parse(job.id)
    song = score_to_song(score, pickup="pad", title=job.id)
    by_voice: dict[str, Track] = {}
    for track in song.tracks:
        for voice in _VOICE_NAMES:
            # "Soprano 1" in the few five-voice settings counts as the soprano.
            if track.name.startswith(voice) and voice not in by_voice:
                by_voice[voice] = track
    if len(by_voice) < 4 and len(song.tracks) == 4:
        by_voice = dict(zip(_VOICE_NAMES, song.tracks, strict=True))
    if len(by_voice) < 4:
        return None
    tracks = tuple(
        replace(ops.top_line(by_voice[v]), name=v, program=52, channel=i)
        for i, v in enumerate(_VOICE_NAMES)
    )
    return replace(song, tracks=tracks)


def build(processes: int | None = None, progress: Callable[[int, int], None] | None = None,
          limit: int | None = None, name: str = CORPUS_NAME,
          cancel: threading.Event | None = None,
          only: Collection[str] | None = None) -> dict[str, Any]:
    """Parse the folk tunes and chorales in parallel and write the cached corpus.

    ``limit`` keeps only the first N jobs of each kind and ``only`` just the
    pieces with those ids (both for quick tests). Returns the manifest: counts
    per kind and split, skipped pieces and why.
    """
    from multiprocessing import get_context

    import music21

    heldout = load_heldout()
    jobs = list(folk_jobs())
    chorales = list(chorale_jobs())
    if only is not None:
        jobs = [j for j in jobs if j.id in only]
        chorales = [j for j in chorales if j.id in only]
    if limit is not None:
        jobs, chorales = jobs[:limit], chorales[:limit]
    jobs += chorales
    processes = processes or os.cpu_count() or 1
    started = time.monotonic()
    parsed: dict[str, list[Piece]] = {"folk": [], "chorales": []}
    skipped: list[dict[str, str]] = []
    with get_context("spawn" if os.name == "nt" else "fork").Pool(processes) as pool:
        for done, (job, song, reason) in enumerate(
            pool.imap_unordered(parse_job, jobs, chunksize=8), start=1
        ):
            if song is None:
                skipped.append({"id": job.id, "reason": reason})
            else:
                parsed[job.kind].append(Piece(job.id, job.collection, song))
            if progress:
                progress(done, len(jobs))
            if cancel is not None and cancel.is_set():
                pool.terminate()
                raise Cancelled("Corpus build cancelled; the previous corpus is unchanged.")

    splits, regrouped = _assign_splits(parsed, heldout)
    out = corpus_dir(name)
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, dict[str, int]] = {}
    for kind, by_split in splits.items():
        counts[kind] = {}
        for split in SPLITS:
            pieces = sorted(by_split[split], key=lambda p: p.id)
            counts[kind][split] = write_pieces(out / f"{kind}_{split}.jsonl.gz", pieces)
    manifest = {
        "name": name,
        "source": "music21",
        "music21": music21.__version__,
        "heldout_music21": heldout.music21_version,
        "counts": counts,
        "skipped": sorted(skipped, key=lambda s: s["id"]),
        # Train-listed chorales kept out of train: their soprano repeats a held-out one.
        "regrouped": regrouped,
        # Tunes written "M: none": kept, but their 4/4 is a stand-in, not a meter.
        "free_meter": sorted(j.id for j in jobs if j.kind == "folk" and has_free_meter(j.text)),
        "seconds": round(time.monotonic() - started, 1),
        "processes": processes,
        "collections": dict(Counter(p.collection for ps in parsed.values() for p in ps)),
    }
    write_manifest(name, manifest)
    return manifest


def _assign_splits(parsed: dict[str, list[Piece]], heldout
                   ) -> tuple[dict[str, dict[str, list[Piece]]], list[dict[str, str]]]:
    """Pieces by kind and split, and the chorales moved out of train (with why)."""
    splits: dict[str, dict[str, list[Piece]]] = {k: {s: [] for s in SPLITS} for k in parsed}
    for piece in parsed["folk"]:
        splits["folk"][heldout.folk_split(piece.id)].append(piece)
    held_sopranos = {
        _soprano_key(p): p.id for p in sorted(parsed["chorales"], key=lambda p: p.id)
        if heldout.chorale_split(p.id) != "train"
    }
    regrouped = []
    for piece in parsed["chorales"]:
        split = heldout.chorale_split(piece.id)
        twin = held_sopranos.get(_soprano_key(piece))
        if split == "train" and twin is not None:
            # Another setting of a held-out tune: keep it out of training too. It
            # goes to valid, not test, so the test split stays exactly the list
            # every evaluation reports on.
            split = "valid"
            regrouped.append({"id": piece.id, "split": split, "same_soprano_as": twin})
        splits["chorales"][split].append(piece)
    return splits, sorted(regrouped, key=lambda r: r["id"])


def _soprano_key(piece: Piece) -> tuple[int, ...]:
    return soprano_signature([n.pitch for n in piece.song.tracks[0].notes])
