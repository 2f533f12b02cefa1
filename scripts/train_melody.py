#!/usr/bin/env python
"""Train a shipped melody model (Transformer or LSTM) and evaluate it into its card.

    .venv/bin/python scripts/train_melody.py --arch transformer --minutes 120
    .venv/bin/python scripts/train_melody.py --arch lstm --minutes 120 --threads 1

Builds the token shards from the cached music21 corpus if needed
(`composer corpus build` first), trains on the train split with the shared
loop (resumable: run the same command again to continue), copies the best
checkpoint to models/melody-<arch>/, and writes its training facts to the card.
Logs go to runs/melody-<arch>/ (metrics.csv) — kept out of git.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Shipped configurations: sized so a run fits about two hours on two CPU cores. The
# Transformer is 192 wide, not 256: generation reads every weight once per token, and
# at 256 an 8-bar continuation missed its 150 ms (docs/melody.md).
MODEL_CONFIGS = {
    "transformer": {"n_layer": 4, "n_head": 4, "n_embd": 192, "block_size": 384, "dropout": 0.1},
    "lstm": {"n_layer": 2, "n_embd": 256, "lstm_hidden": 384, "block_size": 384, "dropout": 0.1},
}
TRAIN_CONFIG = {
    "batch_size": 8, "learning_rate": 1e-3, "min_learning_rate": 5e-5, "warmup_steps": 100,
    "max_steps": 20000, "eval_interval": 200, "eval_batches": 25, "patience": 10,
    "fim_rate": 0.25, "transpose_range": (-5, 6),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=sorted(MODEL_CONFIGS), required=True)
    parser.add_argument("--minutes", type=float, default=120.0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads per process")
    parser.add_argument("--out", default=None, help="default: models/melody-<arch>")
    parser.add_argument("--run-dir", default=None, help="default: runs/melody-<arch>")
    parser.add_argument("--fresh", action="store_true", help="ignore runs/.../last.pt")
    args = parser.parse_args()

    import torch

    from composer.services.train import train_task

    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out) if args.out else ROOT / "models" / f"melody-{args.arch}"
    run_dir = Path(args.run_dir) if args.run_dir else ROOT / "runs" / f"melody-{args.arch}"
    last = [0.0]

    def progress(fraction: float, message: str) -> None:
        if "val loss" in message or fraction - last[0] > 0.01:
            last[0] = fraction
            print(message, flush=True)

    summary = train_task("melody", args.arch, run_dir=run_dir, out_dir=out, minutes=args.minutes,
                         model_overrides=MODEL_CONFIGS[args.arch], train_overrides=TRAIN_CONFIG,
                         progress=progress, resume=not args.fresh)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
