"""``composer bench train``: what a second training process buys (DDP overhead).

The melody Transformer is trained for a few steps by the shared training loop
(``composer.ml.train.train``) under ``torchrun``: once with one process of one
thread, once with two processes of one thread each (DistributedDataParallel,
gloo), with the same global batch. Token throughput is timed over the steps
after a warm-up (evaluation and checkpoints come after the timed window);
the ratio two/one is the figure (target >= 1.7; 2.0 would be free scaling).

The data are the melody task's token shards when they are built (music21
corpus), else shards of generated tunes, so the bench runs on a clean clone.
Other work on the machine shows in the ratio: the report carries the load
average before and after each run, each process's share of a CPU, and the
ratio of CPU seconds per step (one process against each of two): what the
ratio would be with a core per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from composer.errors import ComposerError
from composer.services.jobs import Progress, check_cancel, no_progress

TARGET_RATIO = 1.7
SIZES: dict[str, dict[str, Any]] = {
    # The shipped melody Transformer's shape.
    "default": {"n_layer": 4, "n_head": 4, "n_embd": 256, "block_size": 512, "dropout": 0.1},
    # For tests: seconds, not minutes.
    "tiny": {"n_layer": 1, "n_head": 2, "n_embd": 32, "block_size": 64, "dropout": 0.0},
}


def _shard_folder(root: Path, progress: Progress) -> tuple[Path, str]:
    """Melody shards to train on: the music21 ones when built, else generated tunes."""
    from composer.io.tokens import MELODY_PARAMS
    from composer.services.train import shard_dir

    built = shard_dir("melody", "music21", MELODY_PARAMS)
    if (built / "report.json").exists():
        return built, "music21 melody shards"
    import numpy as np

    from composer.io.tokens import build_tokenizer, encode_melody
    from composer.ml.data import Shard
    from composer.ml.melody import song_key
    from composer.services.corpus_bench import synthetic_song

    progress(-1, "tokenizing generated tunes")
    tokenizer = build_tokenizer(MELODY_PARAMS)
    rng = np.random.default_rng(0)
    folder = root / "shards"
    for split, count in (("train", 120), ("valid", 8)):
        sequences, keys, spans, ids = [], [], [], []
        for i in range(count):
            song = synthetic_song(rng, 1)
            sequences.append(encode_melody(tokenizer, song))
            keys.append(song_key(song))
            pitches = [n.pitch for n in song.tracks[0].notes]
            spans.append((min(pitches), max(pitches)))
            ids.append(f"generated-{split}-{i}")
        Shard.from_sequences(sequences, keys, spans, ids).save(folder, split)
    return folder, "generated tunes"


def _run(processes: int, settings: dict[str, Any], root: Path, cancel: threading.Event | None,
         timeout_s: float) -> dict[str, Any]:
    out = root / f"result-{processes}.json"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc-per-node={processes}", "-m", "composer.services.train_bench",
               json.dumps({**settings, "out": str(out), "run_dir": str(root / f"run-{processes}")})]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    load_before = os.getloadavg()[0]
    log = root / f"log-{processes}.txt"
    with open(log, "w") as handle:
        process = subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT)
        started = time.monotonic()
        while process.poll() is None:
            if (cancel is not None and cancel.is_set()) or time.monotonic() - started > timeout_s:
                process.kill()
                process.wait()
                check_cancel(cancel)
                raise ComposerError(f"the {processes}-process training run took over "
                                    f"{timeout_s:.0f} s and was stopped")
            time.sleep(0.2)
    if process.returncode != 0 or not out.exists():
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        raise ComposerError(f"the {processes}-process training run failed: {' / '.join(tail)}")
    result = json.loads(out.read_text())
    result["load_average_before"] = round(load_before, 2)
    result["load_average_after"] = round(os.getloadavg()[0], 2)
    return result


def bench_train(steps: int = 30, warmup: int = 10, batch_size: int = 8, size: str = "default",
                progress: Progress = no_progress, cancel: threading.Event | None = None,
                timeout_s: float = 1800) -> dict[str, Any]:
    """Tokens per second of one and of two one-thread processes, same global batch."""
    if size not in SIZES:
        raise ComposerError(f"unknown model size {size!r}", f"choose {' or '.join(SIZES)}")
    if warmup < 1 or steps < warmup + 10 or steps % 10:
        raise ComposerError("--steps must be a multiple of 10, at least 10 more than --warmup",
                            "the loop reports every 10 steps; e.g. --steps 30 --warmup 10")
    if batch_size < 2 or batch_size % 2:
        raise ComposerError("--batch must be even (it is split between two processes)")
    with tempfile.TemporaryDirectory(prefix="composer-bench-train-") as tmp:
        root = Path(tmp)
        shards, data = _shard_folder(root, progress)
        settings = {"shards": str(shards), "steps": steps, "warmup": warmup,
                    "batch_size": batch_size, "model": SIZES[size]}
        runs = {}
        for index, processes in enumerate((1, 2)):
            progress(0.05 + 0.45 * index, f"training with {processes} process(es)")
            runs[processes] = _run(processes, settings, root, cancel, timeout_s)
    one, two = runs[1], runs[2]
    ratio = two["tokens_per_s"] / one["tokens_per_s"]
    # Load-independent: the CPU a step costs one process against what it costs each of two
    # (what the ratio would be if every process had a core to itself).
    cpu_ratio = one["rank0_cpu_seconds_per_step"] / two["rank0_cpu_seconds_per_step"]
    progress(1.0, "done")
    return {
        "model": {"size": size, **SIZES[size]},
        "data": data,
        "global_batch": batch_size,
        "steps": steps,
        "timed_steps": steps - warmup,
        "one_process": one,
        "two_processes": two,
        "ratio": round(ratio, 3),
        "efficiency": round(ratio / 2, 3),
        "cpu_bound_ratio": round(cpu_ratio, 3),
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio >= TARGET_RATIO,
        "cpu_count": os.cpu_count(),
    }


# ------------------------------------------------------------ in each process


def _worker(settings: dict[str, Any]) -> None:
    """One rank of a timed run (started by torchrun); rank 0 writes the figures."""
    import torch

    from composer.io.tokens import MELODY_PARAMS, Vocabulary, build_tokenizer
    from composer.ml.config import ModelConfig, TrainConfig
    from composer.ml.data import MelodyWindows, Shard
    from composer.ml.train import setup_distributed, train

    torch.set_num_threads(1)
    tokenizer = build_tokenizer(MELODY_PARAMS)
    vocab = Vocabulary.of(tokenizer)
    model = ModelConfig(arch="transformer", vocab_size=len(vocab), **settings["model"])
    steps = settings["steps"]
    config = TrainConfig(batch_size=settings["batch_size"], max_steps=steps, eval_interval=steps,
                         eval_batches=1, warmup_steps=5, max_minutes=600, patience=99)
    folder = Path(settings["shards"])
    train_data = MelodyWindows(Shard.load(folder, "train"), vocab, model.block_size,
                               config.fim_rate, config.transpose_range)
    valid_data = MelodyWindows(Shard.load(folder, "valid"), vocab, model.block_size)
    marks: dict[int, tuple[float, float]] = {}

    def mark(step: int, total: int, row: dict[str, float]) -> None:
        if step % 10 == 0 and "val_loss" not in row and step not in marks:
            marks[step] = (time.perf_counter(), time.process_time())

    result = train(model, config, train_data, valid_data, settings["run_dir"], tokenizer, {},
                   progress=mark, resume=False)
    ctx = setup_distributed()
    if not ctx.is_main:
        return
    first, last = settings["warmup"], steps
    (t0, c0), (t1, c1) = marks[first], marks[last]
    tokens_per_step = result.tokens_seen / result.steps  # summed over the ranks
    from composer.io.atomic import atomic_write_text

    atomic_write_text(settings["out"], json.dumps({
        "processes": ctx.world_size,
        "threads_per_process": torch.get_num_threads(),
        "tokens_per_step": round(tokens_per_step, 1),
        "seconds_per_step": round((t1 - t0) / (last - first), 4),
        "tokens_per_s": round(tokens_per_step * (last - first) / (t1 - t0), 1),
        "rank0_cpu_share": round((c1 - c0) / (t1 - t0), 3),
        "rank0_cpu_seconds_per_step": round((c1 - c0) / (last - first), 4),
        "final_train_loss": round(result.history[-1]["train_loss"], 4),
    }))


if __name__ == "__main__":
    _worker(json.loads(sys.argv[1]))
