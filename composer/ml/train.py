"""One training loop for every task and both architectures; DDP-ready.

Run directly it uses one process; under ``torchrun --nproc-per-node N`` each
process trains a DistributedDataParallel replica on its share of every global
batch (gloo on CPU, nccl on GPU, bf16 autocast on GPU). Rank 0 evaluates,
logs a CSV, saves ``last.pt`` for resuming and the best weights so far.

Stops at ``max_steps``, when the wall-clock budget runs out, or when validation
loss has not improved for ``patience`` evaluations (early stopping).
"""

from __future__ import annotations

import csv
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from composer.ml.checkpoint import build_model, save_checkpoint
from composer.ml.config import ModelConfig, TrainConfig
from composer.ml.data import IGNORE

log = logging.getLogger(__name__)


@dataclass
class Distributed:
    """Where this process sits in a (possibly one-process) training job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def setup_distributed() -> Distributed:
    """Join the process group torchrun describes in the environment, if any."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return Distributed(device=device)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    device = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
    return Distributed(rank, world_size, local_rank, device)


def learning_rate(step: int, config: TrainConfig, time_fraction: float = 0.0) -> float:
    """Linear warm-up, then cosine decay to the minimum at max_steps or at the end of
    the time budget, whichever comes first (so a time-bound run still anneals)."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    by_steps = (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps)
    progress = min(1.0, max(by_steps, time_fraction))
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return config.min_learning_rate + cosine * (config.learning_rate - config.min_learning_rate)


def _optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=config.learning_rate, betas=(0.9, 0.95),
    )


@dataclass
class TrainResult:
    steps: int
    best_val_loss: float
    best_step: int
    wall_seconds: float
    cpu_seconds: float  # this process's CPU time: the cost on a dedicated machine
    stopped_because: str
    tokens_seen: int
    history: list[dict[str, float]]
    model: torch.nn.Module | None = None  # the weights as training left them (not the best)


def evaluate(model: torch.nn.Module, batches, ctx: Distributed) -> float:
    """Mean loss per target token over fixed batches, shared out among the ranks."""
    model.eval()
    sums = torch.zeros(2, dtype=torch.float64)
    with torch.no_grad():
        for index, (x, y) in enumerate(batches):
            if index % ctx.world_size != ctx.rank:
                continue
            x, y = x.to(ctx.device), y.to(ctx.device)
            logits, _ = model(x)
            losses = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1), ignore_index=IGNORE,
                reduction="sum")
            sums[0] += losses.item()
            sums[1] += (y != IGNORE).sum().item()
    if ctx.active:
        dist.all_reduce(sums)
    model.train()
    return float(sums[0] / max(float(sums[1]), 1.0))


def train(
    model_config: ModelConfig,
    train_config: TrainConfig,
    train_data: Any,
    valid_data: Any,
    out_dir: str | Path,
    tokenizer: Any,
    card: dict[str, Any],
    progress: Callable[[int, int, dict[str, float]], None] | None = None,
    resume: bool = True,
    should_stop: Callable[[], bool] | None = None,
    init_from: str | Path | None = None,
) -> TrainResult:
    """Train, evaluate and checkpoint; the best weights land in ``out_dir/best``.

    ``train_data`` has ``sample_batch(batch_size, rng) -> (x, y)``;
    ``valid_data`` has ``validation_batches(batch_size, limit)`` yielding (x, y).
    ``init_from``: a checkpoint folder whose weights a run that is not resumed
    starts from (:func:`composer.ml.checkpoint.warm_start`).
    """
    ctx = setup_distributed()
    out_dir = Path(out_dir)
    if ctx.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(train_config.seed)  # identical initial weights on every rank
    model = build_model(model_config.to_dict()).to(ctx.device)
    optimizer = _optimizer(model, train_config)
    rng = np.random.default_rng(train_config.seed + 1000 * ctx.rank)
    step, best_loss, best_step, bad_evals, tokens_seen = 0, math.inf, 0, 0, 0
    elapsed_before = cpu_before = 0.0
    history: list[dict[str, float]] = []

    last_path = out_dir / "last.pt"
    if resume and last_path.exists():
        state = torch.load(last_path, map_location=ctx.device, weights_only=True)
        # Compared as configs: one saved before a field existed has its default.
        if ModelConfig.from_dict(state["model_config"]) == model_config:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            step, best_loss, best_step = state["step"], state["best_loss"], state["best_step"]
            bad_evals, tokens_seen = state["bad_evals"], state["tokens_seen"]
            elapsed_before, cpu_before = state["elapsed"], state.get("cpu", 0.0)
            rng = np.random.default_rng(train_config.seed + 1000 * ctx.rank + step)
            history = [dict(h) for h in state.get("history", [])]
            log.info("resumed from step %d", step)
        else:
            log.warning("%s was made for another model config; starting afresh", last_path)
    if step == 0 and init_from is not None:
        from composer.ml.checkpoint import warm_start

        log.info("starting from the weights of %s (new tokens: %s)", init_from,
                 warm_start(model, init_from, tokenizer))

    train_model: torch.nn.Module = model
    if ctx.active:
        from torch.nn.parallel import DistributedDataParallel

        train_model = DistributedDataParallel(
            model, device_ids=[ctx.local_rank] if ctx.device.type == "cuda" else None)

    local_batch = max(1, train_config.batch_size // ctx.world_size)
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if ctx.device.type == "cuda"
                else torch.autocast("cpu", enabled=False))
    started = time.monotonic()
    cpu_started = time.process_time()
    budget = train_config.max_minutes * 60 - elapsed_before
    stopped_because = "max_steps"
    log_path = out_dir / "metrics.csv"
    recent_losses: list[float] = []
    window_tokens, window_start = 0, time.monotonic()
    model.train()
    def time_fraction() -> float:
        spent = elapsed_before + time.monotonic() - started
        return spent / (train_config.max_minutes * 60)

    while step < train_config.max_steps:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, train_config, time_fraction())
        x, y = train_data.sample_batch(local_batch, rng)
        x, y = x.to(ctx.device), y.to(ctx.device)
        with autocast:
            _, loss = train_model(x, y, ignore_index=IGNORE)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train_config.grad_clip)
        optimizer.step()
        step += 1
        batch_tokens = int((y != IGNORE).sum()) * ctx.world_size
        tokens_seen += batch_tokens
        window_tokens += batch_tokens
        recent_losses.append(float(loss.item()))
        if progress and ctx.is_main and step % 10 == 0:
            progress(step, train_config.max_steps, {"train_loss": float(np.mean(recent_losses))})

        out_of_time = time.monotonic() - started > budget
        stop_asked = should_stop is not None and should_stop()
        if stop_asked:
            out_of_time = True  # evaluate and save now, then stop
        if step % train_config.eval_interval == 0 or step == train_config.max_steps or out_of_time:
            val_loss = evaluate(
                model, valid_data.validation_batches(local_batch, train_config.eval_batches), ctx)
            now = time.monotonic()
            row = {
                "step": step,
                "train_loss": float(np.mean(recent_losses)),
                "val_loss": val_loss,
                "lr": learning_rate(step, train_config, time_fraction()),
                "tokens_per_s": window_tokens / max(now - window_start, 1e-9),
                "elapsed_s": elapsed_before + now - started,
                "cpu_s": cpu_before + time.process_time() - cpu_started,
            }
            recent_losses, window_tokens, window_start = [], 0, now
            history.append(row)
            improved = val_loss < best_loss - 1e-4
            if improved:
                best_loss, best_step, bad_evals = val_loss, step, 0
            else:
                bad_evals += 1
            if ctx.is_main:
                _append_csv(log_path, row)
                _tensorboard(out_dir, row)
                if improved:
                    save_checkpoint(out_dir / "best", model, {
                        **card, "steps": step, "best_val_loss": val_loss,
                        "train_config": train_config.to_dict(),
                        "wall_seconds": round(row["elapsed_s"], 1),
                        "cpu_seconds": round(row["cpu_s"], 1),
                        "world_size": ctx.world_size,
                    }, tokenizer)
                from composer.io.atomic import atomic_open

                with atomic_open(last_path) as handle:  # a kill mid-save keeps the last one
                    torch.save({
                        "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "model_config": model_config.to_dict(), "step": step,
                        "best_loss": best_loss, "best_step": best_step, "bad_evals": bad_evals,
                        "tokens_seen": tokens_seen, "elapsed": row["elapsed_s"],
                        "cpu": row["cpu_s"], "history": history,
                    }, handle)
            if progress and ctx.is_main:
                progress(step, train_config.max_steps, row)
            if bad_evals >= train_config.patience:
                stopped_because = "early_stopping"
                break
            if out_of_time:
                stopped_because = "cancelled" if stop_asked else "time_budget"
                break
    if ctx.active:
        dist.barrier()
    return TrainResult(step, best_loss, best_step, elapsed_before + time.monotonic() - started,
                       cpu_before + time.process_time() - cpu_started, stopped_because,
                       tokens_seen, history, model)


def _append_csv(path: Path, row: dict[str, float]) -> None:
    new = not path.exists()
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow({k: round(v, 5) if isinstance(v, float) else v for k, v in row.items()})


_writers: dict[str, Any] = {}


def _tensorboard(out_dir: Path, row: dict[str, float]) -> None:
    """Mirror the CSV row to TensorBoard when it is installed (it is optional)."""
    key = str(out_dir)
    if key not in _writers:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            _writers[key] = None
        else:
            _writers[key] = SummaryWriter(log_dir=str(out_dir / "tensorboard"))
    writer = _writers[key]
    if writer is None:
        return
    for name, value in row.items():
        if name != "step":
            writer.add_scalar(name, value, int(row["step"]))
    writer.flush()
