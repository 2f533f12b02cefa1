"""Training the transcription network on rendered sessions.

Sessions (``scripts/transcription_render.py``) hold a dB spectrogram and frame
targets. Batches are random crops, normalised like inference windows, with the
level reference jittered and, now and then, the whole crop shifted by a third
of a semitone (the targets keep their key; the fine pitch moves with it). A
run saves ``state.pt`` every few hundred steps and resumes from it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from composer.audio.features import FLOOR_DB, FRAMES_PER_SECOND
from composer.audio.targets import contour_target
from composer.errors import Cancelled

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainSettings:
    """How a run goes; stored in the model card."""

    batch_size: int = 6
    crop_frames: int = 320
    learning_rate: float = 2e-3
    min_learning_rate: float = 1e-4
    warmup_steps: int = 200
    max_steps: int = 30_000
    max_minutes: float = 150.0
    eval_interval: int = 500
    checkpoint_interval: int = 200
    dev_seconds: float = 300.0
    shift_probability: float = 0.2
    level_jitter_db: float = 6.0
    seed: int = 1
    # Share of crops taken from single-line excerpts; a run with 1.0 trains the
    # monophonic network and scores itself on dev with the mono decoder.
    mono_share: float = 0.0

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.crop_frames < 16:
            raise ValueError("batch_size must be >= 1 and crop_frames >= 16")
        if not 0 < self.min_learning_rate <= self.learning_rate:
            raise ValueError("need 0 < min_learning_rate <= learning_rate")
        if self.max_steps < 1 or self.eval_interval < 1 or self.checkpoint_interval < 1:
            raise ValueError("max_steps, eval_interval and checkpoint_interval must be positive")
        if not 0.0 <= self.shift_probability <= 1.0:
            raise ValueError(f"shift_probability {self.shift_probability} is outside 0..1")
        if not 0.0 <= self.mono_share <= 1.0:
            raise ValueError(f"mono_share {self.mono_share} is outside 0..1")

    @property
    def dev_mode(self) -> str:
        """The decoder a run's dev score uses: mono for the single-line network."""
        return "mono" if self.mono_share == 1.0 else "poly"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Sessions:
    """Rendered sessions held in memory (spectrograms stay float16)."""

    def __init__(self, paths: list[Path]) -> None:
        self.items: list[dict[str, np.ndarray]] = []
        self.paths: list[Path] = []
        self.lengths = np.zeros(0, np.int64)
        # (session, first frame, end frame) of every single-line excerpt.
        self.mono_spans = np.zeros((0, 3), np.int64)
        self.add(paths)

    def add(self, paths: list[Path]) -> int:
        """Load sessions not loaded yet; returns how many were new."""
        new = [p for p in paths if p not in self.paths]
        for path in new:
            with np.load(path) as data:
                self.items.append({k: data[k] for k in
                                   ("cqt", "onset", "frame", "velocity", "pitch", "notes")})
                spans = [(len(self.items) - 1, a, b) for a, b in
                         excerpt_frames(json.loads(str(data["meta"])), mono=True)]
            self.paths.append(path)
            if spans:
                self.mono_spans = np.concatenate([self.mono_spans, np.array(spans, np.int64)])
        self.lengths = np.array([item["cqt"].shape[1] for item in self.items], np.int64)
        return len(new)

    def refresh(self, directory: Path) -> int:
        """Pick up sessions a renderer still running has written since."""
        return self.add(sorted(directory.glob("session_*.npz")))

    @staticmethod
    def from_dir(directory: Path) -> Sessions:
        return Sessions(sorted(directory.glob("session_*.npz")))

    @property
    def seconds(self) -> float:
        return float(self.lengths.sum() / FRAMES_PER_SECOND)

    def batch(self, rng: np.random.Generator, batch_size: int, frames: int,
              settings: TrainSettings | None = None):
        """A training batch: (spec (B, bins, T), targets) as torch tensors."""
        import torch

        from composer.audio.features import level_reference_db

        specs, onsets, frames_on, velocities, contours = [], [], [], [], []
        weights = self.lengths / self.lengths.sum()
        mono_share = settings.mono_share if settings is not None and len(self.mono_spans) else 0.0
        span_lengths = self.mono_spans[:, 2] - self.mono_spans[:, 1]
        for _ in range(batch_size):
            if mono_share and rng.random() < mono_share:
                index, first, end = self.mono_spans[
                    int(rng.choice(len(span_lengths), p=span_lengths / span_lengths.sum()))]
                item = self.items[int(index)]
                start = int(rng.integers(first, max(end - frames, first + 1)))
            else:
                item = self.items[int(rng.choice(len(self.items), p=weights))]
                start = int(rng.integers(0, max(item["cqt"].shape[1] - frames, 1)))
            spec_db = item["cqt"][:, start:start + frames].astype(np.float32)
            pitch = item["pitch"][start:start + frames]
            if settings is not None and rng.random() < settings.shift_probability:
                shift = int(rng.choice([-1, 1]))
                spec_db = np.roll(spec_db, shift, axis=0)
                if shift > 0:
                    spec_db[:shift] = FLOOR_DB
                else:
                    spec_db[shift:] = FLOOR_DB
                pitch = pitch.astype(np.float32) + shift / 3
            reference = level_reference_db(spec_db)
            if settings is not None:
                reference += float(rng.uniform(-settings.level_jitter_db,
                                               settings.level_jitter_db))
            specs.append(np.clip((spec_db - reference) / -FLOOR_DB + 1.0, 0.0, 1.5))
            onsets.append(item["onset"][start:start + frames])
            frames_on.append(item["frame"][start:start + frames])
            velocities.append(item["velocity"][start:start + frames])
            contours.append(contour_target(pitch))
        spec_batch = _pad_stack(specs, frames, axis=1)
        targets = {
            "onset": _pad_stack(onsets, frames, axis=0).astype(np.float32),
            "frame": _pad_stack(frames_on, frames, axis=0).astype(np.float32),
            "velocity": _pad_stack(velocities, frames, axis=0).astype(np.float32) / 127.0,
            "contour": _pad_stack(contours, frames, axis=0),
        }
        return (torch.from_numpy(spec_batch.astype(np.float32)),
                {k: torch.from_numpy(v) for k, v in targets.items()})


def excerpt_frames(meta: dict[str, Any], mono: bool) -> list[tuple[int, int]]:
    """(first, end) frames of a session's single-line (``mono``) or ensemble
    excerpts, from a quarter second before each starts to half a second after
    it ends (its release)."""
    out = []
    for excerpt in meta.get("excerpts", []):
        if (len(excerpt["programs"]) == 1) != mono:
            continue
        start_s = excerpt["start_s"] - 0.25
        end_s = excerpt["start_s"] + excerpt["duration_s"] + 0.5
        out.append((max(int(start_s * FRAMES_PER_SECOND), 0), int(end_s * FRAMES_PER_SECOND)))
    return out


def _pad_stack(arrays: list[np.ndarray], length: int, axis: int) -> np.ndarray:
    out = []
    for a in arrays:
        missing = length - a.shape[axis]
        if missing > 0:
            pad = [(0, 0)] * a.ndim
            pad[axis] = (0, missing)
            a = np.pad(a, pad)
        out.append(a)
    return np.stack(out)


def reference_notes(notes: np.ndarray, start_s: float = 0.0, end_s: float | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(intervals, pitches in Hz) for mir_eval from a session's (N, 5) note array.

    Notes of one pitch starting within 30 ms of each other (two voices in
    unison) are one sounding note, and count once.
    """
    keep = notes[:, 1] >= start_s
    if end_s is not None:
        keep &= notes[:, 1] < end_s
    chosen = notes[keep]
    order = np.lexsort((chosen[:, 1], chosen[:, 0]))
    chosen = chosen[order]
    unique: list[tuple[float, float, float]] = []
    for row in chosen:
        if unique and unique[-1][0] == row[0] and row[1] - unique[-1][1] < 0.03:
            unique[-1] = (row[0], unique[-1][1], max(unique[-1][2], row[2]))
            continue
        unique.append((row[0], row[1], row[2]))
    if not unique:
        return np.zeros((0, 2)), np.zeros(0)
    arr = np.array(unique, np.float64)
    intervals = arr[:, 1:3] - start_s
    return intervals, 440.0 * 2 ** ((arr[:, 0] - 69) / 12)


def note_scores(ref_intervals: np.ndarray, ref_hz: np.ndarray, est_intervals: np.ndarray,
                est_hz: np.ndarray) -> dict[str, float]:
    """Note precision, recall and F1 at 50 ms onset tolerance, and F1 with offsets."""
    import mir_eval

    if ref_hz.size == 0 and est_hz.size == 0:
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0, "f1_offset": 1.0}
    if ref_hz.size == 0 or est_hz.size == 0:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0, "f1_offset": 0.0}
    p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(
        ref_intervals, ref_hz, est_intervals, est_hz, onset_tolerance=0.05,
        offset_ratio=None)
    _, _, f_off, _ = mir_eval.transcription.precision_recall_f1_overlap(
        ref_intervals, ref_hz, est_intervals, est_hz, onset_tolerance=0.05)
    return {"precision": float(p), "recall": float(r), "f1": float(f), "f1_offset": float(f_off)}


def notes_to_mir(notes) -> tuple[np.ndarray, np.ndarray]:
    """(intervals, Hz) from NoteEvent-like objects (pitch, onset_s, offset_s)."""
    if not notes:
        return np.zeros((0, 2)), np.zeros(0)
    intervals = np.array([[n.onset_s, max(n.offset_s, n.onset_s + 1e-3)] for n in notes])
    hz = np.array([440.0 * 2 ** ((n.pitch - 69) / 12) for n in notes])
    return intervals, hz


def evaluate_sessions(model, sessions: Sessions, seconds: float,
                      decode_config=None, mode: str = "poly") -> dict[str, float]:
    """Note scores over the first ``seconds`` of each session, poly-decoded; in
    ``mode`` mono, over its first single-line excerpts instead, mono-decoded."""
    from composer.audio.decode import decode_probabilities
    from composer.audio.inference import predict_spectrogram

    model.eval()
    totals = {"precision": 0.0, "recall": 0.0, "f1": 0.0, "f1_offset": 0.0}
    count = 0
    per_session = int(seconds / max(len(sessions.items), 1) * FRAMES_PER_SECOND)
    for index, item in enumerate(sessions.items):
        if mode == "mono":
            spans, budget = [], per_session
            for _, first, end in sessions.mono_spans[sessions.mono_spans[:, 0] == index]:
                if budget <= 0:
                    break
                spans.append((int(first), int(end)))
                budget -= end - first
        else:
            spans = [(0, min(item["cqt"].shape[1], per_session))]
        for first, end in spans:
            parts = list(predict_spectrogram(model, item["cqt"][:, first:end].astype(np.float32)))
            probs = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
            est = notes_to_mir(decode_probabilities(probs, mode, decode_config))
            notes = item["notes"].copy()
            notes[:, 1:3] -= first / FRAMES_PER_SECOND
            # Poly: notes starting in the last half second may be cut; mono: the
            # excerpt's own notes (its span ends half a second after them).
            end_s = (end - first) / FRAMES_PER_SECOND - (0.5 if mode == "poly" else 0.0)
            ref = reference_notes(notes, 0.0, end_s)
            scores = note_scores(*ref, *est)
            for key in totals:
                totals[key] += scores[key]
            count += 1
    model.train()
    return {key: value / max(count, 1) for key, value in totals.items()}


def _load_state(path: Path) -> dict[str, Any]:
    """A run's own state file, with weights_only (runs before this fix stored the
    learning rate as a numpy scalar, which is allowed here and nothing else)."""
    import torch
    from numpy._core.multiarray import scalar as numpy_scalar

    with torch.serialization.safe_globals([numpy_scalar, np.dtype, np.dtypes.Float64DType]):
        return torch.load(path, weights_only=True)


def _learning_rate(step: int, minutes: float, settings: TrainSettings) -> float:
    """Warm-up, then a cosine decay over whichever budget, steps or minutes, runs out first."""
    if step < settings.warmup_steps:
        return settings.learning_rate * (step + 1) / settings.warmup_steps
    progress = min(max((step - settings.warmup_steps)
                       / max(settings.max_steps - settings.warmup_steps, 1),
                       minutes / settings.max_minutes), 1.0)
    cosine = 0.5 * (1 + np.cos(np.pi * progress))
    # A plain float: numpy scalars in the optimiser state would not load with weights_only.
    return float(settings.min_learning_rate
                 + (settings.learning_rate - settings.min_learning_rate) * cosine)


def train(model_config, settings: TrainSettings, train_dir: Path, dev_dir: Path,
          run_dir: Path, report: Callable[[str], None] = log.info,
          cancel: threading.Event | None = None, init_from: Path | None = None
          ) -> dict[str, Any]:
    """Train (or resume) a run in ``run_dir``; returns the run's summary.

    ``init_from``: a weights file (a shipped ``model.pt``) a new run starts
    from instead of random weights; they are scored on dev first, so the run's
    best is never worse than where it started.

    The summary holds the steps, wall time, data size and the best dev scores;
    ``run_dir/best.pt`` holds the weights that scored best on dev.
    """
    import torch

    from composer.audio.model import Transcriber

    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    data = Sessions.from_dir(train_dir)
    dev = Sessions.from_dir(dev_dir)
    if not data.items:
        raise FileNotFoundError(f"no rendered sessions in {train_dir}")
    report(f"train: {len(data.items)} sessions, {data.seconds / 3600:.2f} h; "
           f"dev: {len(dev.items)} sessions, {dev.seconds / 60:.1f} min")
    model = Transcriber(model_config)
    optimiser = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate,
                                  weight_decay=1e-4)
    state_path = run_dir / "state.pt"
    step, elapsed, best = 0, 0.0, {"f1": -1.0}
    history: list[dict[str, float]] = []
    if state_path.exists():
        state = _load_state(state_path)
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        step, elapsed = int(state["step"]), float(state["elapsed"])
        summary = json.loads((run_dir / "summary.json").read_text())
        best, history = summary["best"], summary["history"]
        rng = np.random.default_rng(settings.seed + step)
        report(f"resumed at step {step} ({elapsed / 60:.1f} min so far)")
    elif init_from is not None:
        model.load_state_dict(torch.load(init_from, weights_only=True))
        report(f"starting from the weights in {init_from}")
    total = settings.max_steps
    started = time.monotonic() - elapsed
    running = []

    def save() -> None:
        from composer.io.atomic import atomic_open, atomic_write_text

        # Atomic: a kill mid-save keeps the previous state to resume from.
        with atomic_open(state_path) as handle:
            torch.save({"model": model.state_dict(), "optimiser": optimiser.state_dict(),
                        "step": step, "elapsed": time.monotonic() - started}, handle)
        atomic_write_text(run_dir / "summary.json", json.dumps(summary_dict(), indent=1))

    def summary_dict() -> dict[str, Any]:
        return {"steps": step, "wall_seconds": round(time.monotonic() - started, 1),
                "train_hours": round(data.seconds / 3600, 3),
                "train_sessions": len(data.items), "dev_minutes": round(dev.seconds / 60, 2),
                "best": best, "history": history, "settings": settings.to_dict(),
                "model": model_config.to_dict(),
                **({"init_from": str(init_from)} if init_from is not None else {})}

    def score_on_dev() -> None:
        """Score the weights as they are now and keep them as ``step_N.pt`` (a
        few hundred kilobytes: any scored step can be shipped, say one a larger
        dev set prefers); also in best.pt if they beat the best."""
        nonlocal best
        if not dev.items or (history and history[-1]["step"] == step):
            return
        from composer.io.atomic import atomic_open

        scores = evaluate_sessions(model, dev, settings.dev_seconds,
                                   mode=settings.dev_mode)
        history.append({"step": step, **{k: round(v, 4) for k, v in scores.items()}})
        report(f"dev at step {step}: " + " ".join(f"{k} {v:.3f}" for k, v in scores.items()))
        improved = scores["f1"] > best["f1"]
        if improved:
            best = {"step": step, **scores}
        for name in (f"step_{step}.pt", *(["best.pt"] if improved else [])):
            with atomic_open(run_dir / name) as handle:
                torch.save(model.state_dict(), handle)

    if init_from is not None and step == 0:
        score_on_dev()
    model.train()
    while step < total:
        if cancel is not None and cancel.is_set():
            save()
            raise Cancelled("Training stopped; it resumes from the last checkpoint.")
        if (time.monotonic() - started) / 60 > settings.max_minutes:
            report(f"time budget of {settings.max_minutes} min reached at step {step}")
            break
        for group in optimiser.param_groups:
            group["lr"] = _learning_rate(step, (time.monotonic() - started) / 60, settings)
        spec, targets = data.batch(rng, settings.batch_size, settings.crop_frames, settings)
        _, loss = model(spec, targets)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        running.append(float(loss.detach()))
        step += 1
        if step % 50 == 0:
            report(f"step {step} loss {np.mean(running):.4f} "
                   f"lr {optimiser.param_groups[0]['lr']:.2e} "
                   f"{(time.monotonic() - started) / 60:.1f} min")
            running = []
        if step % settings.eval_interval == 0:
            new = data.refresh(train_dir) + dev.refresh(dev_dir)
            if new:
                report(f"picked up {new} new sessions; train {data.seconds / 3600:.2f} h, "
                       f"dev {dev.seconds / 60:.1f} min")
            score_on_dev()
            save()
        elif step % settings.checkpoint_interval == 0:
            save()
    # The last weights (after the learning rate has decayed) are scored too.
    score_on_dev()
    save()
    return summary_dict()


def tune_decoding(model, dev_dir: Path, report: Callable[[str], None] = log.info):
    """Pick decoder thresholds on the dev sessions (never the evaluation audio).

    The network runs once per session; each candidate setting then only
    re-decodes. Polyphonic excerpts (chorales, Palestrina) tune the poly
    thresholds, the folk excerpts the mono ones. Returns (DecodeConfig, scores and
    excerpt counts).
    """
    from dataclasses import replace

    from composer.audio.decode import DecodeConfig, decode_probabilities
    from composer.audio.inference import predict_spectrogram

    model.eval()
    segments: dict[str, list[tuple[dict[str, np.ndarray], np.ndarray]]] = {"poly": [],
                                                                           "mono": []}
    for path in sorted(dev_dir.glob("session_*.npz")):
        with np.load(path) as data:
            cqt = data["cqt"].astype(np.float32)
            notes = data["notes"]
            meta = json.loads(str(data["meta"]))
        parts = list(predict_spectrogram(model, cqt))
        probs = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        for kind in ("mono", "poly"):
            for a, b in excerpt_frames(meta, mono=kind == "mono"):
                window = {k: v[a:b] for k, v in probs.items()}
                keep = ((notes[:, 1] >= a / FRAMES_PER_SECOND)
                        & (notes[:, 1] < b / FRAMES_PER_SECOND))
                shifted = notes[keep].copy()
                shifted[:, 1:3] -= a / FRAMES_PER_SECOND
                segments[kind].append((window, shifted))

    def score(config: DecodeConfig, kind: str) -> float:
        values = []
        for window, notes in segments[kind]:
            est = decode_probabilities(window, kind, config)
            values.append(note_scores(*reference_notes(notes), *notes_to_mir(est))["f1"])
        return float(np.mean(values)) if values else 0.0

    best = DecodeConfig()
    results: dict[str, float] = {"poly_excerpts": len(segments["poly"]),
                                 "mono_excerpts": len(segments["mono"])}
    poly_best = (score(best, "poly"), best)
    # Wide enough that the choice lands inside the grid for an under- or
    # over-confident network (a run cut short leaves it under-confident).
    for onset in (0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7):
        for frame in (0.15, 0.2, 0.3, 0.4, 0.5):
            candidate = replace(best, onset_threshold=onset, frame_threshold=frame)
            value = score(candidate, "poly")
            if value > poly_best[0]:
                poly_best = (value, candidate)
    for onsetless in (0.5, 0.6, 0.7, 0.8, 0.9):
        candidate = replace(poly_best[1], onsetless_threshold=onsetless)
        value = score(candidate, "poly")
        if value > poly_best[0]:
            poly_best = (value, candidate)
    best = poly_best[1]
    results["poly_f1"] = round(poly_best[0], 4)
    report(f"poly: onset {best.onset_threshold} frame {best.frame_threshold} "
           f"onsetless {best.onsetless_threshold} -> dev F1 {poly_best[0]:.3f}")
    mono_best = (score(best, "mono"), best)
    for voicing in (0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6):
        for onset in (0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
            candidate = replace(best, mono_voicing_threshold=voicing,
                                mono_onset_threshold=onset)
            value = score(candidate, "mono")
            if value > mono_best[0]:
                mono_best = (value, candidate)
    best = mono_best[1]
    results["mono_f1"] = round(mono_best[0], 4)
    report(f"mono: voicing {best.mono_voicing_threshold} onset {best.mono_onset_threshold} "
           f"-> dev F1 {mono_best[0]:.3f}")
    return best, results
