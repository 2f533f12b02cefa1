"""``composer bench transcribe``: processing time per audio minute, and memory.

The audio is a four-part passage (a seeded random chorale-like walk, so no
corpus is needed) rendered by FluidSynth with the FluidR3 GM piano and written
as a 16-bit WAV of the requested length. Figures, all from this run:

* ``s_per_audio_min_warm``: ``transcribe_file`` with the model already loaded
  and the libraries imported, median of ``repeats`` runs;
* ``s_per_audio_min_cold``: a fresh Python process that imports composer,
  loads the model and transcribes the file (what one CLI call costs);
* ``peak_rss_mb``: the peak resident memory of that fresh process;
* ``s_per_audio_min_features``: the constant-Q front end alone on the same
  audio (the reference the warm figure is compared with, as a ratio);
* ``peak_rss_mb_long`` (with ``long_minutes``): the same fresh-process figure
  for a longer file, which shows memory does not grow with length.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from composer.services.jobs import Progress, check_cancel, no_progress

TARGET_S_PER_AUDIO_MIN = 3.0

# The peak is this process's own high-water mark (VmHWM). ru_maxrss would do
# on its own, but Linux carries the parent's resident size at fork into it,
# so the figure would grow with whatever the benchmark process holds.
_COLD = """
import json, resource, sys, time
started = time.perf_counter()
from composer.services.transcribe import transcribe_file
result = transcribe_file(sys.argv[1], mode=sys.argv[2])
seconds = time.perf_counter() - started
try:
    with open("/proc/self/status") as status:
        rss_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "rss_mb": rss_kb / 1024, "notes": len(result.notes)}))
"""


def bench_audio(minutes: float, path: Path, seed: int = 7) -> Path:
    """Write ``minutes`` of rendered four-part music to ``path`` (a WAV)."""
    import soundfile as sf

    from composer.audio import render
    from composer.audio.features import SAMPLE_RATE

    rng = np.random.default_rng(seed)
    notes = []
    time_s = 0.0
    pitches = [72, 67, 60, 48]
    while time_s < minutes * 60:
        length = float(rng.choice([0.4, 0.6, 0.8, 1.2]))
        for voice in range(4):
            pitches[voice] = int(np.clip(pitches[voice] + rng.integers(-3, 4),
                                         40 + 8 * (3 - voice), 60 + 8 * (3 - voice)))
            notes.append(render.RenderNote(pitches[voice], time_s,
                                           min(time_s + length, minutes * 60),
                                           int(rng.integers(60, 100)), voice))
        time_s += length
    excerpt = render.Excerpt(notes=notes, programs=[0, 0, 0, 0], duration_s=minutes * 60)
    midi, _, _ = render.session_midi_bytes([excerpt], gap_s=0.0)
    audio = render.render_midi_bytes(midi, render.TRAINING_SOUNDFONTS["fluidr3"])
    audio = audio[: int(minutes * 60 * SAMPLE_RATE)]
    audio = audio / max(float(np.abs(audio).max()), 1e-9) * 0.7
    sf.write(str(path), audio, SAMPLE_RATE, subtype="PCM_16")
    return path


def _cold_run(path: Path, mode: str) -> dict[str, float]:
    from composer.errors import ComposerError
    from composer.paths import REPO_ROOT

    result = subprocess.run([sys.executable, "-c", _COLD, str(path), mode],
                            capture_output=True, text=True, check=False, cwd=str(REPO_ROOT))
    if result.returncode != 0:
        raise ComposerError("the cold-start benchmark process failed: "
                            + (result.stderr.strip().splitlines() or ["no output"])[-1])
    return json.loads(result.stdout.strip().splitlines()[-1])


def bench_transcribe(minutes: float = 1.0, repeats: int = 3, long_minutes: float | None = None,
                     mode: str = "poly", progress: Progress = no_progress,
                     cancel: threading.Event | None = None) -> dict[str, Any]:
    """The benchmark figures (see the module docstring)."""
    from composer.audio.features import cqt_db
    from composer.audio.load import load_audio
    from composer.services.transcribe import transcribe_file

    with tempfile.TemporaryDirectory(prefix="composer-bench-") as tmp:
        path = Path(tmp) / "bench.wav"
        progress(0.02, f"rendering {minutes:g} min of audio")
        bench_audio(minutes, path)
        check_cancel(cancel)
        progress(0.1, "cold start in a fresh process")
        cold = _cold_run(path, mode)
        check_cancel(cancel)
        progress(0.3, "warm runs")
        transcribe_file(path, mode=mode)  # load the model, import the libraries
        warm_times = []
        for i in range(max(repeats, 1)):
            check_cancel(cancel)
            started = time.perf_counter()
            result = transcribe_file(path, mode=mode)
            warm_times.append(time.perf_counter() - started)
            progress(0.3 + 0.4 * (i + 1) / max(repeats, 1), "warm runs")
        audio = load_audio(path)
        feature_times = []
        for _ in range(max(repeats, 1)):
            started = time.perf_counter()
            for start in range(0, audio.size, 30 * 16_000):
                cqt_db(audio[start:start + 30 * 16_000])
            feature_times.append(time.perf_counter() - started)
        report: dict[str, Any] = {
            "audio_minutes": minutes,
            "mode": mode,
            "notes": len(result.notes),
            "s_per_audio_min_warm": round(statistics.median(warm_times) / minutes, 3),
            "s_per_audio_min_cold": round(cold["seconds"] / minutes, 3),
            "peak_rss_mb": round(cold["rss_mb"], 1),
            "s_per_audio_min_features": round(statistics.median(feature_times) / minutes, 3),
        }
        report["warm_vs_features"] = round(report["s_per_audio_min_warm"]
                                           / max(report["s_per_audio_min_features"], 1e-9), 2)
        report["warm_vs_target"] = round(report["s_per_audio_min_warm"]
                                         / TARGET_S_PER_AUDIO_MIN, 3)
        report["realtime_factor_warm"] = round(60.0 / max(report["s_per_audio_min_warm"],
                                                          1e-9), 1)
        if long_minutes:
            check_cancel(cancel)
            progress(0.75, f"rendering {long_minutes:g} min for the memory check")
            long_path = Path(tmp) / "long.wav"
            bench_audio(long_minutes, long_path, seed=8)
            progress(0.85, "long file in a fresh process")
            long = _cold_run(long_path, mode)
            report["long_audio_minutes"] = long_minutes
            report["peak_rss_mb_long"] = round(long["rss_mb"], 1)
            report["s_per_audio_min_long"] = round(long["seconds"] / long_minutes, 3)
        report["target_s_per_audio_min"] = TARGET_S_PER_AUDIO_MIN
        report["cpu_threads"] = _threads()
    progress(1.0, "done")
    return report


def _threads() -> int:
    import torch

    return int(torch.get_num_threads())
