"""The training loop under torchrun: two CPU processes with gloo, against one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

WORKER = Path(__file__).with_name("ddp_worker.py")
ROOT = Path(__file__).resolve().parents[2]
STEPS = 40


def run(out: Path, processes: int) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    if processes == 1:
        command = [sys.executable, str(WORKER), str(out), str(STEPS)]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   f"--nproc-per-node={processes}", str(WORKER), str(out), str(STEPS)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(processes)]


def test_two_processes_stay_in_sync_and_learn_like_one(tmp_path):
    single = run(tmp_path / "one", 1)[0]
    ranks = run(tmp_path / "two", 2)
    assert ranks[0]["checksum"] == ranks[1]["checksum"], "DDP replicas drifted apart"
    assert ranks[0]["steps"] == ranks[1]["steps"] == STEPS
    first, last = single["history"][0]["val_loss"], single["history"][-1]["val_loss"]
    ddp_last = ranks[0]["history"][-1]["val_loss"]
    assert last < 0.5 * first, "one process learns the task"
    # Same global batch (8 = 2 x 4): the loss falls to the same neighbourhood.
    assert ddp_last < 0.5 * ranks[0]["history"][0]["val_loss"] + 0.2
    assert abs(ddp_last - last) < max(0.5 * last, 0.15)
    # Both ranks evaluate the same validation loss (summed across ranks).
    assert ranks[0]["history"][-1]["val_loss"] == ranks[1]["history"][-1]["val_loss"]
