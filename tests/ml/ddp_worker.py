"""Run the shared training loop on a synthetic task; used by test_ml_ddp.py.

Under torchrun each rank writes ``rank<N>.json`` with a checksum of the weights
it ended with and the loop's history, so the test can check that the replicas
stay identical and that the loss falls as it does in one process.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import torch

from composer.ml.config import ModelConfig, TrainConfig
from composer.ml.train import train

VOCAB, LENGTH = 24, 33


class Cycles:
    """Sequences counting upwards mod 20 from a random start: quick to learn."""

    @staticmethod
    def _rows(starts: np.ndarray):
        rows = (starts[:, None] + np.arange(LENGTH)[None, :]) % 20 + 2
        return torch.from_numpy(rows[:, :-1]), torch.from_numpy(rows[:, 1:])

    def sample_batch(self, batch_size: int, rng: np.random.Generator):
        return self._rows(rng.integers(0, 20, size=batch_size))

    def validation_batches(self, batch_size: int, limit: int | None = None):
        for start in range(0, 20, batch_size):
            yield self._rows(np.arange(start, min(start + batch_size, 20)))


def main(out_dir: str, steps: int) -> None:
    from composer.io.tokens import build_tokenizer

    torch.set_num_threads(1)
    model = ModelConfig(arch="transformer", vocab_size=VOCAB, block_size=40, n_layer=1, n_head=2,
                        n_embd=32, dropout=0.0)
    config = TrainConfig(batch_size=8, learning_rate=3e-3, min_learning_rate=3e-3, warmup_steps=1,
                         max_steps=steps, eval_interval=max(1, steps // 2), eval_batches=5,
                         patience=99, max_minutes=30)
    result = train(model, config, Cycles(), Cycles(), out_dir, build_tokenizer(), {}, resume=False)
    rank = int(os.environ.get("RANK", "0"))
    checksum = float(sum(p.detach().double().abs().sum() for p in result.model.parameters()))
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as handle:
        json.dump({"rank": rank, "checksum": checksum, "history": result.history,
                   "steps": result.steps}, handle)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
