"""``composer bench generate``: how fast the melody models continue a melody.

Each model is measured in its own fresh process (so its peak memory is its
own): median latency of an 8-bar continuation with 1 and with 4 variations
over several prompts (the first 4 bars of test tunes) and its 90th percentile
(``..._p90`` in the JSON), generated tokens per second, and for the Transformer
the same continuations recomputed without the KV cache, reported as a speed-up
ratio measured in the same run.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from typing import Any

from composer.services.jobs import Progress, no_progress

PROMPTS = 8
REPEATS = 3


def _prompts() -> list:
    from composer.core import ops
    from composer.services.melody_eval import test_pieces

    songs = test_pieces(limit=PROMPTS)["folk"]
    return [ops.slice_bars(song, 0, 3) for _, song in songs]


def measure(model: str) -> dict[str, Any]:
    """Run in a fresh process: latency, throughput, KV-cache ratio, peak memory."""
    import resource

    from composer.services.generate import GenerationSettings, continue_melody
    from composer.services.models import melody_model

    prompts = _prompts()
    generator = melody_model(model)
    # Warm up once: the first call pays for lazy imports and allocator growth.
    continue_melody(prompts[0], GenerationSettings(model=model, bars=8, seed=0), track_index=0)
    figures: dict[str, Any] = {}
    for variations, key in ((1, "latency_ms_8bars"), (4, "latency_ms_8bars_4var")):
        times = []
        for repeat in range(REPEATS):
            for index, prompt in enumerate(prompts):
                settings = GenerationSettings(model=model, bars=8, variations=variations,
                                              seed=repeat * 100 + index)
                started = time.perf_counter()
                continue_melody(prompt, settings, track_index=0)
                times.append((time.perf_counter() - started) * 1000)
        figures[key] = round(statistics.median(times), 2)
        figures[f"{key}_p90"] = round(statistics.quantiles(times, n=10)[-1], 2)
    if model != "markov":
        figures.update(_token_rates(generator, prompts))
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return figures


def _token_rates(generator, prompts) -> dict[str, Any]:
    """Tokens per second with the cache, and (Transformer) without it, same seeds."""
    from composer.ml.melody import song_key
    from composer.services.generate import GenerationSettings

    def run(use_cache: bool) -> tuple[int, float]:
        tokens, seconds = 0, 0.0
        for index, prompt in enumerate(prompts):
            notes = sorted(prompt.tracks[0].notes)
            settings = GenerationSettings(bars=8, seed=index)
            started = time.perf_counter()
            generated = generator.continue_notes(prompt, notes, song_key(prompt),
                                                 notes[-1].end_tick, settings, use_cache=use_cache)
            seconds += time.perf_counter() - started
            tokens += generated.tokens
        return tokens, seconds

    cached_tokens, cached_seconds = run(True)
    figures: dict[str, Any] = {"tokens_per_s": round(cached_tokens / cached_seconds, 1)}
    if generator.loaded.card["model"]["arch"] == "transformer":
        _, uncached_seconds = run(False)
        figures["kv_cache_speedup"] = round(uncached_seconds / cached_seconds, 2)
        figures["latency_ms_8bars_no_cache"] = round(uncached_seconds * 1000 / len(prompts), 2)
    return figures


def bench_generate(models: list[str] | None = None, progress: Progress = no_progress
                   ) -> dict[str, Any]:
    """Measure each model in a subprocess; returns {model: figures}."""
    from composer.errors import ComposerError
    from composer.services.generate import MODELS

    report: dict[str, Any] = {}
    chosen = list(models or MODELS)
    for index, model in enumerate(chosen):
        progress(index / len(chosen), f"measuring {model}")
        completed = subprocess.run(
            [sys.executable, "-m", "composer.services.melody_bench", model],
            capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            last = (completed.stderr.strip().splitlines() or ["no output"])[-1]
            raise ComposerError(f"benchmarking the {model} model failed: {last}")
        report[model] = json.loads(completed.stdout)
    progress(1.0, "done")
    return report


if __name__ == "__main__":
    import torch

    torch.set_num_threads(2)
    print(json.dumps(measure(sys.argv[1])))
