"""``composer eval transcription``: note F1 on audio rendered with an unseen soundfont.

What is scored (all pieces held out from every model's training):

* **poly**: the chorales listed under ``transcription_test`` in heldout.json
  plus the test-split chorales, each rendered as four instruments in three
  ensembles (piano; violins, viola and cello; flute, oboe, clarinet and
  bassoon) at a tempo between 66 and 100 BPM fixed by the chorale's id;
* **mono**: 60 test-split folk tunes (a fixed choice by hash of the id), up to
  30 seconds each, on a rotating melody instrument (flute, violin, clarinet,
  trumpet, voice, piano, alto sax, oboe), decoded in mono mode (by the
  single-line network where the checkpoint has one).

Audio comes from FluidSynth with TimGM6mb, a soundfont used for nothing else,
then each rendering is scored clean, with pink noise at 20 dB SNR and with
1.2-second reverb. Scores are ``mir_eval.transcription`` note precision,
recall and F1 at 50 ms onset tolerance, and F1 with offsets (20% or 50 ms),
averaged over pieces. Two voices sounding one pitch at one moment are one
note in the reference (audio cannot tell them apart).
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from composer.core.song import Song, TempoChange
from composer.services.jobs import Progress, check_cancel, no_progress

MONO_TUNES = 60
MONO_MAX_SECONDS = 30.0
METRICS = ("f1", "f1_offset", "precision", "recall")


def _hash(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest(), 16)


def eval_chorales(limit: int | None = None) -> list[tuple[str, Song]]:
    """The transcription_test chorales, then the test-split ones, as (id, song)."""
    from corpora.heldout import load_heldout

    heldout = load_heldout()
    ids = sorted(heldout.transcription_test) + sorted(heldout.test_chorales
                                                      - heldout.transcription_test)
    if limit is not None:
        ids = ids[:limit]
    cached = _cached_pieces("chorales", ("train", "valid", "test"))
    out = []
    for piece_id in ids:
        song = cached.get(piece_id) or _parse_chorale(piece_id)
        if song is not None:
            out.append((piece_id, song))
    return out


def eval_tunes(limit: int | None = None) -> list[tuple[str, Song]]:
    """A fixed sample of test-split folk tunes, as (id, song)."""
    from corpora.heldout import load_heldout

    count = MONO_TUNES if limit is None else min(limit, MONO_TUNES)
    ids = sorted(load_heldout().test_folk, key=_hash)
    cached = _cached_pieces("folk", ("test",))
    chosen: list[tuple[str, Song]] = []
    missing: list[str] = []
    for piece_id in ids:
        if len(chosen) + len(missing) >= count:
            break
        if piece_id in cached:
            chosen.append((piece_id, cached[piece_id]))
        else:
            missing.append(piece_id)
    if missing:
        chosen += _parse_tunes(missing)
    order = {piece_id: i for i, piece_id in enumerate(ids)}
    return sorted(chosen, key=lambda item: order[item[0]])[:count]


def _cached_pieces(kind: str, splits: tuple[str, ...]) -> dict[str, Song]:
    from corpora.store import corpus_dir, iter_pieces

    pieces: dict[str, Song] = {}
    for split in splits:
        path = corpus_dir("music21") / f"{kind}_{split}.jsonl.gz"
        if path.exists():
            pieces.update({p.id: p.song for p in iter_pieces(path)})
    return pieces


def _parse_chorale(piece_id: str) -> Song | None:
    from corpora.music21_corpus import Job, parse_job

    _, song, _ = parse_job(Job("chorales", piece_id, "bach"))
    return song


def _parse_tunes(ids: list[str]) -> list[tuple[str, Song]]:
    from corpora.music21_corpus import folk_jobs, parse_job

    wanted = set(ids)
    out = []
    for job in folk_jobs():
        if job.id in wanted:
            _, song, _ = parse_job(job)
            if song is not None:
                out.append((job.id, song))
    return out


def chorale_excerpt(piece_id: str, song: Song, ensemble: str):
    """A chorale as the evaluation renders it: four instruments, tempo fixed by its id."""
    from composer.audio import render

    bpm = 66 + _hash(piece_id) % 35
    song = replace(song, tempos=(TempoChange.from_bpm(0, float(bpm)),))
    programs = render.ensemble_programs(ensemble, len(song.tracks))
    return render.song_to_excerpt(song, programs, source=piece_id)


def tune_excerpt(index: int, piece_id: str, song: Song):
    """A folk tune as the evaluation renders it: first 30 s, one instrument, a
    comfortable register, tempo fixed by its id."""
    from composer.audio import render
    from composer.core.ops import slice_ticks
    from composer.core.timing import TempoMap

    h = _hash(piece_id)
    denominator = song.time_signatures[0].denominator
    bpm = (70 + h % 50) if denominator >= 8 else (80 + h % 60)
    song = replace(song, tempos=(TempoChange.from_bpm(0, float(bpm)),))
    end_tick = round(TempoMap.of(song).tick_at(MONO_MAX_SECONDS))
    if song.end_tick > end_tick:
        song = slice_ticks(song, 0, end_tick)
    names = list(render.EVAL_MELODY_PROGRAMS)
    instrument = names[index % len(names)]
    pitches = [n.pitch for n in song.tracks[0].notes]
    target = 60 + h % 14
    transpose = int(np.clip(round(target - float(np.median(pitches))), -12, 12))
    excerpt = render.song_to_excerpt(song, [render.EVAL_MELODY_PROGRAMS[instrument]],
                                     transpose=transpose, source=piece_id)
    return instrument, excerpt


def evaluate_transcription(limit: int | None = None, progress: Progress = no_progress,
                           cancel: threading.Event | None = None,
                           model_dir: Path | None = None) -> dict[str, Any]:
    """The evaluation table (see the module docstring); ``limit`` caps pieces per set."""
    from composer.audio import render
    from composer.audio.checkpoint import load_checkpoint, load_mono_network
    from composer.audio.decode import DecodeConfig

    model, card = load_checkpoint(model_dir)
    mono_model = load_mono_network(model_dir) or model
    decode_config = DecodeConfig(**card.get("decode", {}))
    started = time.monotonic()
    progress(-1, "collecting the held-out pieces")
    chorales = eval_chorales(limit)
    tunes = eval_tunes(limit)
    jobs = len(chorales) * len(render.EVAL_ENSEMBLES) + len(tunes)
    done = 0
    per: dict[str, dict[str, list[dict[str, float]]]] = {"poly": {}, "mono": {}}
    audio_seconds = 0.0
    for piece_id, song in chorales:
        for ensemble in render.EVAL_ENSEMBLES:
            check_cancel(cancel)
            progress(done / jobs, f"{piece_id} on {ensemble}")
            excerpt = chorale_excerpt(piece_id, song, ensemble)
            for condition, scores in _score_excerpt(model, excerpt, "poly", decode_config,
                                                    cancel):
                per["poly"].setdefault(condition, []).append(scores)
                per["poly"].setdefault(f"{ensemble}/{condition}", []).append(scores)
            audio_seconds += excerpt.duration_s * len(render.EVAL_CONDITIONS)
            done += 1
    for index, (piece_id, song) in enumerate(tunes):
        check_cancel(cancel)
        progress(done / jobs, f"{piece_id}")
        instrument, excerpt = tune_excerpt(index, piece_id, song)
        for condition, scores in _score_excerpt(mono_model, excerpt, "mono", decode_config,
                                                cancel):
            per["mono"].setdefault(condition, []).append(scores)
            per["mono"].setdefault(f"{instrument}/{condition}", []).append(scores)
        audio_seconds += excerpt.duration_s * len(render.EVAL_CONDITIONS)
        done += 1
    progress(1.0, "done")
    table: dict[str, Any] = {
        kind: {condition: _mean(rows) for condition, rows in conditions.items()}
        for kind, conditions in per.items()
    }
    table["about"] = {
        "soundfont": render.EVAL_SOUNDFONT.name,
        "poly_pieces": len(chorales), "mono_pieces": len(tunes),
        "ensembles": {k: list(v) for k, v in render.EVAL_ENSEMBLES.items()},
        "conditions": {k: _describe(v) for k, v in render.EVAL_CONDITIONS.items()},
        "onset_tolerance_s": 0.05,
        "audio_minutes": round(audio_seconds / 60, 1),
        "wall_seconds": round(time.monotonic() - started, 1),
        "model_sha256": card.get("sha256", ""),
        "mono_model_sha256": card.get("mono", {}).get("sha256", ""),
    }
    return table


def _score_excerpt(model, excerpt, mode: str, decode_config, cancel):
    from composer.audio.pipeline import decode_windows, windows_from_array
    from composer.audio.training import note_scores, notes_to_mir

    for condition, audio, reference in rendered_conditions(excerpt):
        decoded = decode_windows(model, windows_from_array(audio), mode=mode,
                                 decode_config=decode_config, cancel=cancel)
        yield condition, note_scores(*reference, *notes_to_mir(decoded.notes))


def rendered_conditions(excerpt, soundfont: Path | None = None, seed_tag: str = "eval"):
    """(condition, 16 kHz audio, mir_eval reference) for each evaluation condition.

    The evaluation renders with its own soundfont and seeds its noise from the
    piece; decoder tuning (scripts/transcription_tune_decode.py) renders
    training pieces the same way with a training soundfont and other seeds.
    """
    from composer.audio import render
    from composer.audio.training import reference_notes

    midi, starts, _ = render.session_midi_bytes([excerpt], gap_s=0.5)
    audio = render.render_midi_bytes(midi, soundfont or render.EVAL_SOUNDFONT)
    start = starts[0]
    notes = np.array([(n.pitch, n.onset_s + start, n.offset_s + start, n.velocity, n.voice)
                      for n in excerpt.notes], np.float64)
    reference = reference_notes(notes)
    for i, (condition, spec) in enumerate(render.EVAL_CONDITIONS.items()):
        # The evaluation's seeds come from the piece, never the training renderer's.
        rng = np.random.default_rng(_hash(f"{seed_tag}/{excerpt.source}/{condition}/{i}") % 2**63)
        yield condition, render.apply_condition(audio, spec, rng), reference


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    out = {metric: round(float(np.mean([r[metric] for r in rows])), 4) for metric in METRICS}
    out["pieces"] = len(rows)
    return out


def _describe(condition) -> str:
    parts = []
    if condition.snr_db is not None:
        parts.append(f"pink noise at {condition.snr_db:g} dB SNR")
    if condition.rt60_s:
        parts.append(f"reverb RT60 {condition.rt60_s:g} s, {condition.wet:.0%} wet")
    return ", ".join(parts) or "as rendered"
