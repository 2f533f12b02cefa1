"""``composer bench harmonize``: how fast each harmony model answers.

Two figures per available model, both measured in this run on the same
16-bar melody (the soprano of the bundled demo chorale, "Ein feste Burg",
bars 1-16):

* ``latency_ms_16bars``: wall time of one chorale-style ``harmonize`` call
  (one variation, model already loaded), median of several runs; also
  ``latency_ms_16bars_chords`` for the chord style;
* ``fast_path_ms_median`` / ``fast_path_ms_p99``: wall time of one
  ``LiveHarmonizer.note_on`` (chorale style), over every note of the melody
  played three times, one note every 100 ms (sixteenths at 150 BPM: faster
  than most melodies), the first pass's first notes excluded as warm-up; the
  neural models decode the next notes' answers while a note is held, so this
  is what a player meets;
* ``back_to_back_ms_median``: the same notes with no time between them, so
  nothing is decoded ahead: the cost of answering from scratch.

Each is also given as a ratio to its target (1 s for 16 bars, 5 ms for the fast
path) and, for models other than the HMM, to the HMM measured in the same run.
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any

from composer.core.song import Song
from composer.services.jobs import Progress, check_cancel, no_progress

TARGET_MS_16BARS = 1000.0
TARGET_FAST_PATH_MS = 5.0
BARS = 16
WARM_UP_NOTES = 8
NOTE_GAP_S = 0.1


def sixteen_bar_melody() -> Song:
    """The demo chorale's soprano, bars 1-16, as a one-track song."""
    from composer.core.ops import slice_bars
    from composer.io.project_file import read_project
    from composer.paths import REPO_ROOT

    song = read_project(REPO_ROOT / "composer" / "data" / "demo.composer").song
    soprano = next((t for t in song.tracks if t.name.lower().startswith("soprano")), song.tracks[0])
    return slice_bars(song.with_tracks([soprano]), 0, BARS - 1)


def _note_on_times(live: Any, notes: list[int], gap_s: float,
                   cancel: threading.Event | None) -> list[float]:
    """Wall time (ms) of each ``note_on``, the melody played three times, a note
    every ``gap_s`` seconds (each held until the next)."""
    calls = []
    try:
        for _ in range(3):
            for pitch in notes:
                check_cancel(cancel)
                due = time.perf_counter() + gap_s
                start = time.perf_counter()
                live.note_on(pitch, 80)
                calls.append((time.perf_counter() - start) * 1000)
                time.sleep(max(0.0, due - time.perf_counter()))
                live.note_off(pitch)
    finally:
        live.close()  # a look-ahead left idling would take CPU from the next timings
    return calls[WARM_UP_NOTES:]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_harmonize(models: list[str] | None = None, repeats: int = 5,
                    progress: Progress = no_progress, cancel: threading.Event | None = None
                    ) -> dict[str, Any]:
    """Latency figures per available model (see the module docstring)."""
    from composer.errors import InvalidArgumentError
    from composer.services.harmonize import LiveHarmonizer, harmonize
    from composer.services.harmony_models import available_models

    melody = sixteen_bar_melody()
    have = sorted(set(available_models("chorale") + available_models("chords")))
    names = list(models) if models else have
    missing = [n for n in names if n not in have]
    if missing:
        raise InvalidArgumentError(f"no such harmony model: {', '.join(missing)}",
                                   f"available: {', '.join(have) or 'none'}")
    notes = [n.pitch for n in melody.tracks[0].notes]
    report: dict[str, Any] = {}
    for m, name in enumerate(names):
        check_cancel(cancel)
        progress(m / len(names), f"{name}: 16 bars")
        row: dict[str, Any] = {"notes_16bars": len(notes)}
        for style, key in (("chorale", "latency_ms_16bars"),
                           ("chords", "latency_ms_16bars_chords")):
            if name not in available_models(style):
                continue
            harmonize(melody, style=style, model=name, variations=1, seed=0)  # load and warm up
            times = []
            for _ in range(repeats):
                check_cancel(cancel)
                start = time.perf_counter()
                harmonize(melody, style=style, model=name, variations=1, seed=0)
                times.append((time.perf_counter() - start) * 1000)
            row[key] = round(statistics.median(times), 2)
        progress((m + 0.5) / len(names), f"{name}: fast path")
        live_style = "chorale" if "latency_ms_16bars" in row else "chords"
        calls = _note_on_times(LiveHarmonizer(style=live_style, model=name), notes,
                               NOTE_GAP_S, cancel)
        row["fast_path_ms_median"] = round(statistics.median(calls), 3)
        row["fast_path_ms_p99"] = round(_percentile(calls, 0.99), 3)
        back_to_back = _note_on_times(LiveHarmonizer(style=live_style, model=name), notes,
                                      0.0, cancel)
        row["back_to_back_ms_median"] = round(statistics.median(back_to_back), 3)
        latency = row.get("latency_ms_16bars", row.get("latency_ms_16bars_chords", 0.0))
        row["latency_vs_target"] = round(latency / TARGET_MS_16BARS, 4)
        row["fast_path_vs_target"] = round(row["fast_path_ms_median"] / TARGET_FAST_PATH_MS, 4)
        report[name] = row
    reference = report.get("hmm")
    for name, row in report.items():
        if reference is None or name == "hmm":
            continue
        for key, ratio in (("latency_ms_16bars", "latency_vs_hmm"),
                           ("fast_path_ms_median", "fast_path_vs_hmm")):
            if key in row and reference.get(key):
                row[ratio] = round(row[key] / reference[key], 3)
    progress(1.0, "done")
    return report
