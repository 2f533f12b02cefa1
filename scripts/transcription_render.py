#!/usr/bin/env python
"""Render transcription training audio: train-split pieces through two soundfonts.

    nice -n 10 .venv/bin/python scripts/transcription_render.py [--out DIR] [--quick]

Chorales (four instruments), Palestrina (four to six voices) and folk tunes
(one line, half of them "sung": off-grid notes, vibrato, slides) are cut into
excerpts with random ensembles, tempi, velocities, articulation and
transposition, strung together into five-minute MIDI sessions, rendered by
FluidSynth with the FluidR3 GM or MuseScore General soundfont, spoiled per
excerpt (noise, reverb, EQ, gain, clipping), and stored as a constant-Q
spectrogram plus frame targets: ``<out>/{train,dev}/session_NNNN.npz``.

Only pieces that ``check_renderable`` allows are used: never test or valid
pieces, never the transcription_test chorales. ``dev`` sessions come from a
few train pieces set aside (by hash) to watch progress; the real evaluation
uses the TimGM6mb soundfont (``composer eval transcription``).

Sessions already on disk are skipped, so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from composer.audio import features, render, targets  # noqa: E402
from composer.core import ops  # noqa: E402
from composer.core.song import Song, TempoChange  # noqa: E402
from composer.paths import cache_dir  # noqa: E402

SESSION_SECONDS = 300.0
MAX_VOICES = 6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=cache_dir() / "transcription" / "renders")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--chorale-passes", type=int, default=1)
    parser.add_argument("--palestrina", type=int, default=110, help="Palestrina movements")
    parser.add_argument("--folk", type=int, default=200, help="folk tunes")
    parser.add_argument("--quick", action="store_true", help="a few pieces, to try the pipeline")
    parser.add_argument("--dev-folk", type=int, default=0,
                        help="add this many more train-split folk tunes, none of them rendered "
                             "for training, as dev sessions (tuning the mono decoder)")
    parser.add_argument("--only", choices=("train", "dev"),
                        help="render one split (the same sessions as without it), e.g. dev "
                             "first in a second process, so a run can start scoring on it")
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    pieces = load_sources(args, rng)
    plan = plan_excerpts(pieces, rng, args.chorale_passes)
    # Planned apart, with their own generator, so the sessions above stay as they were.
    extra = extra_dev_tunes(args.dev_folk, {p["id"] for p in pieces}, args.seed)
    for split in ("train", "dev"):
        if args.only not in (None, split):
            continue
        items = [p for p in plan if p["split"] == split]
        sessions = group_sessions(items)
        if split == "dev":
            sessions += group_sessions(extra)
            items += extra
        out = args.out / split
        out.mkdir(parents=True, exist_ok=True)
        print(f"{split}: {len(items)} excerpts in {len(sessions)} sessions, "
              f"{sum(i['seconds'] for i in items) / 3600:.2f} h", flush=True)
        for index, session in enumerate(sessions):
            path = out / f"session_{index:04d}.npz"
            if path.exists():
                continue
            started = time.monotonic()
            seconds = render_session(session, path, seed=args.seed * 100_003 + index
                                     + (0 if split == "train" else 50_000),
                                     soundfont=("fluidr3", "musescore")[index % 2])
            print(f"  {path.name}: {seconds:.0f} s of audio in "
                  f"{time.monotonic() - started:.1f} s", flush=True)
    return 0


# ----------------------------------------------------------------- sources


def load_sources(args: argparse.Namespace, rng: np.random.Generator) -> list[dict]:
    """Pieces allowed as training audio, as dicts: id, kind, song."""
    from corpora.store import load_pieces

    limit = 6 if args.quick else None
    pieces = []
    for p in load_pieces("music21", "chorales", "train")[:limit]:
        if _allowed(p.id):
            pieces.append({"id": p.id, "kind": "chorale", "song": p.song})
    folk = load_pieces("music21", "folk", "train")
    chosen = rng.choice(len(folk), size=min(6 if args.quick else args.folk, len(folk)),
                        replace=False)
    for i in sorted(chosen):
        if _allowed(folk[i].id):
            pieces.append({"id": folk[i].id, "kind": "folk", "song": folk[i].song})
    pieces += palestrina_pieces(3 if args.quick else args.palestrina, rng)
    return pieces


def _allowed(piece_id: str) -> bool:
    try:
        render.check_renderable(piece_id)
    except Exception:
        return False
    return True


def extra_dev_tunes(count: int, used: set[str], seed: int) -> list[dict]:
    """Dev excerpts from ``count`` train-split folk tunes that no training session uses."""
    if count <= 0:
        return []
    from corpora.store import load_pieces

    rng = np.random.default_rng(seed + 7919)
    folk = [p for p in load_pieces("music21", "folk", "train")
            if p.id not in used and _allowed(p.id)]
    chosen = rng.choice(len(folk), size=min(count, len(folk)), replace=False)
    items = []
    for i in sorted(chosen):
        excerpt = make_excerpt({"id": folk[i].id, "kind": "folk", "song": folk[i].song}, rng)
        if excerpt is not None and excerpt.notes:
            items.append({"split": "dev", "excerpt": excerpt, "seconds": excerpt.duration_s + 1.0})
    return items


def palestrina_pieces(count: int, rng: np.random.Generator) -> list[dict]:
    from music21 import corpus

    from composer.io.music21_convert import score_to_song

    paths = sorted(corpus.getComposer("palestrina"))
    chosen = rng.choice(len(paths), size=min(count, len(paths)), replace=False)
    pieces = []
    for i in sorted(chosen):
        piece_id = "palestrina/" + paths[i].name
        if not _allowed(piece_id):
            continue
        try:
            song = score_to_song(corpus.parse(str(paths[i])), pickup="pad")
        except Exception as err:  # odd Humdrum files are skipped, not fatal
            print(f"  skipped {piece_id}: {type(err).__name__}", flush=True)
            continue
        tracks = [t.with_notes(ops.remove_overlaps(t.notes)) for t in song.tracks if t.notes]
        if 2 <= len(tracks) <= MAX_VOICES:
            pieces.append({"id": piece_id, "kind": "palestrina",
                           "song": song.with_tracks(tracks)})
    return pieces


# -------------------------------------------------------------------- plan


def plan_excerpts(pieces: list[dict], rng: np.random.Generator, chorale_passes: int
                  ) -> list[dict]:
    plan = []
    for piece in pieces:
        passes = chorale_passes if piece["kind"] == "chorale" else 1
        for _ in range(passes):
            excerpt = make_excerpt(piece, rng)
            if excerpt is not None and excerpt.notes:
                plan.append({"split": "dev" if render.is_dev_piece(piece["id"]) else "train",
                             "excerpt": excerpt, "seconds": excerpt.duration_s + 1.0})
    order = rng.permutation(len(plan))
    return [plan[i] for i in order]


def make_excerpt(piece: dict, rng: np.random.Generator) -> render.Excerpt | None:
    song: Song = piece["song"]
    kind = piece["kind"]
    ts = song.time_signatures[0]
    if kind == "chorale":
        bpm = rng.uniform(60, 110)
        max_seconds = 60.0
    elif kind == "palestrina":
        bpm = rng.uniform(100, 180)  # quarters; the beat is the half note
        max_seconds = 40.0
    else:
        bpm = rng.uniform(60, 130) if ts.denominator >= 8 else rng.uniform(70, 160)
        max_seconds = 30.0
    song = replace(song, tempos=(TempoChange.from_bpm(0, float(bpm)),))
    song = _random_slice(song, max_seconds, bpm, rng)
    if song is None:
        return None
    voices = len(song.tracks)
    singing = kind == "folk" and rng.random() < 0.5
    if kind == "folk":
        programs = [int(rng.choice(render.SINGING_PROGRAMS if singing
                                   else render.MELODY_PROGRAMS))]
        pitches = [n.pitch for n in song.tracks[0].notes]
        transpose = int(np.clip(round(rng.uniform(50, 82) - np.median(pitches)), -14, 14))
    else:
        name = str(rng.choice(list(render.ENSEMBLES)))
        programs = render.ensemble_programs(name, voices, rng)
        transpose = int(rng.integers(-5, 7))
    legato = rng.random() < 0.7
    excerpt = render.song_to_excerpt(
        song, programs, transpose=transpose,
        duration_scale=1.0 if legato else float(rng.uniform(0.45, 0.95)), source=piece["id"])
    excerpt.notes = _humanise(excerpt.notes, voices, rng)
    if singing:
        excerpt.bends = [render.singing_bends(excerpt.notes, rng)]
    elif rng.random() < 0.3:
        # An ensemble tuned away from A440, each voice a little off the others.
        offset = float(rng.uniform(-0.4, 0.4))
        excerpt.bends = [[(0.0, offset + float(rng.uniform(-0.08, 0.08)))]
                         for _ in range(voices)]
    return excerpt


def _random_slice(song: Song, max_seconds: float, bpm: float, rng: np.random.Generator
                  ) -> Song | None:
    bar_seconds = song.time_signatures[0].bar_ticks / 480 * 60 / bpm
    from composer.core.timing import BarGrid

    bars = BarGrid.of(song).bars_to_cover(song.end_tick)
    if bars == 0:
        return None
    take = max(1, int(max_seconds // bar_seconds))
    if take >= bars:
        return song
    first = int(rng.integers(0, bars - take + 1))
    sliced = ops.slice_bars(song, first, first + take - 1)
    return sliced if sliced.note_count else None


def _humanise(notes: list[render.RenderNote], voices: int, rng: np.random.Generator
              ) -> list[render.RenderNote]:
    """Velocities per voice with a slow swell and per-note jitter; tiny timing jitter."""
    base = rng.uniform(45, 115, size=voices)
    swell_rate = rng.uniform(0.02, 0.15)
    swell_depth = rng.uniform(0, 20)
    jitter_s = rng.uniform(0, 0.015)
    out = []
    for n in notes:
        velocity = base[n.voice] + swell_depth * np.sin(2 * np.pi * swell_rate * n.onset_s) \
            + rng.normal(0, 8)
        shift = float(rng.normal(0, jitter_s)) if jitter_s else 0.0
        onset = max(n.onset_s + shift, 0.0)
        out.append(replace(n, onset_s=onset, offset_s=max(n.offset_s + shift, onset + 0.03),
                           velocity=int(np.clip(round(velocity), 15, 127))))
    return out


def group_sessions(items: list[dict]) -> list[list[dict]]:
    sessions: list[list[dict]] = [[]]
    total = 0.0
    for item in items:
        if total >= SESSION_SECONDS:
            sessions.append([])
            total = 0.0
        sessions[-1].append(item)
        total += item["seconds"]
    return [s for s in sessions if s]


# ------------------------------------------------------------------ render


def render_session(session: list[dict], path: Path, seed: int, soundfont: str) -> float:
    rng = np.random.default_rng(seed)
    excerpts = [item["excerpt"] for item in session]
    midi, starts, total_s = render.session_midi_bytes(excerpts, gap_s=1.0)
    effects = bool(rng.random() < 0.5)
    audio = render.render_midi_bytes(midi, render.TRAINING_SOUNDFONTS[soundfont],
                                     effects=effects)
    conditions = []
    for excerpt, start in zip(excerpts, starts, strict=True):
        condition = render.random_condition(rng)
        conditions.append(condition)
        a = max(int((start - 0.25) * features.SAMPLE_RATE), 0)
        b = min(int((start + excerpt.duration_s + 0.95) * features.SAMPLE_RATE), audio.size)
        audio[a:b] = render.apply_condition(audio[a:b], condition, rng)
    spec = features.cqt_db(audio)
    n_frames = spec.shape[1]
    notes, bends = [], np.zeros((MAX_VOICES, n_frames), np.float32)
    for excerpt, start in zip(excerpts, starts, strict=True):
        for n in excerpt.notes:
            notes.append((n.pitch, n.onset_s + start, n.offset_s + start, n.velocity, n.voice))
        targets.bend_frames(excerpt.bends, start, start + excerpt.duration_s + 0.5, bends)
    frame_targets = targets.session_targets(np.array(notes, np.float64), bends, n_frames)
    meta = {
        "soundfont": soundfont, "fluidsynth_effects": effects, "seconds": total_s,
        "excerpts": [{"source": e.source, "programs": e.programs, "start_s": s,
                      "duration_s": e.duration_s, "sung": len(e.bends[0]) > 1,
                      "condition": asdict(c)}
                     for e, s, c in zip(excerpts, starts, conditions, strict=True)],
    }
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, cqt=spec.astype(np.float16), notes=np.array(notes, np.float32),
             meta=np.array(json.dumps(meta)), **frame_targets)
    tmp.replace(path)
    return total_s


if __name__ == "__main__":
    sys.exit(main())
