"""Training any task with either architecture, from the CLI, scripts or the editor."""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from composer.paths import cache_dir, heldout_file
from composer.services.jobs import Progress, no_progress


def shard_dir(task: str, corpus: str, tokenizer_params: dict[str, Any]) -> Path:
    from composer.ml.tasks import tokenizer_fingerprint

    return cache_dir() / "tokens" / f"{task}-{corpus}-{tokenizer_fingerprint(tokenizer_params)}"


def ensure_shards(task: str, corpus: str = "music21", progress: Progress = no_progress) -> Path:
    """Tokenize the task's corpus once (cached); returns the shard folder.

    Under torchrun only rank 0 builds; the other ranks wait for its marker file.
    """
    import os

    from composer.io.tokens import build_tokenizer
    from composer.ml.tasks import get_task

    spec = get_task(task)
    user_shards = user_corpus_shards(task, corpus, spec.tokenizer_params)
    if user_shards is not None:
        return user_shards
    directory = shard_dir(task, corpus, spec.tokenizer_params)
    marker = directory / "report.json"
    if marker.exists():
        return directory
    if int(os.environ.get("RANK", "0")) != 0:
        while not marker.exists():
            time.sleep(1.0)
        return directory
    import json

    progress(-1, f"tokenizing the {corpus} corpus for {task}")
    tokenizer = build_tokenizer(spec.tokenizer_params)
    report = spec.build_shards(tokenizer, directory, corpus=corpus)
    from composer.io.atomic import atomic_write_text

    atomic_write_text(marker, json.dumps(report, indent=1))
    return directory


def user_corpus_shards(task: str, corpus: str, tokenizer_params: dict[str, Any]) -> Path | None:
    """The shard folder of a corpus built from a MIDI folder, or None for the bundled
    corpora; raises a clear error for a name nothing was built under."""
    import json

    from composer.errors import InvalidArgumentError
    from composer.ml.tasks import tokenizer_fingerprint
    from corpora.midi_folder import RESERVED_NAMES, is_user_corpus
    from corpora.store import corpus_dir, read_manifest

    if corpus in RESERVED_NAMES:
        return None
    if not is_user_corpus(corpus):
        raise InvalidArgumentError(f"there is no corpus named {corpus!r}",
                                   "build it: composer corpus build --source DIR --name NAME")
    if task != "melody":
        raise InvalidArgumentError(
            f"the {corpus} corpus holds melodies; the {task} task trains on the music21 corpus",
            "use --task melody, or leave --corpus at its default")
    manifest = read_manifest(corpus) or {}
    if manifest.get("tokenizer") != tokenizer_fingerprint(tokenizer_params):
        raise InvalidArgumentError(
            f"the {corpus} corpus was tokenized for another version of the melody models",
            f"build it again: composer corpus build --source {manifest.get('source', 'DIR')} "
            f"--name {corpus}")
    directory = corpus_dir(corpus)
    report = json.loads((directory / "report.json").read_text())
    for split in ("train", "valid"):
        if not report[split]["pieces"]:
            total = sum(report[s]["pieces"] for s in ("train", "valid", "test"))
            raise InvalidArgumentError(
                f"the {corpus} corpus has no {split} pieces ({total} pieces in all)",
                "add more files: about one piece in twenty goes to validation")
    return directory


def train_task(task: str, arch: str, corpus: str = "music21", run_dir: str | Path | None = None,
               out_dir: str | Path | None = None, minutes: float | None = None,
               max_steps: int | None = None, model_overrides: dict[str, Any] | None = None,
               train_overrides: dict[str, Any] | None = None, progress: Progress = no_progress,
               cancel: threading.Event | None = None, resume: bool = True,
               init_from: str | Path | None = None) -> dict[str, Any]:
    """Train ``arch`` on ``task``; the best checkpoint goes to ``out_dir`` (and run_dir/best).

    ``init_from``: a checkpoint of the same configuration to start from (its
    token rows matched by name); the card says so."""
    import json

    from composer.io.tokens import Vocabulary, build_tokenizer
    from composer.ml.config import ModelConfig, TrainConfig
    from composer.ml.data import Shard
    from composer.ml.tasks import get_task
    from composer.ml.train import setup_distributed, train

    spec = get_task(task)
    directory = ensure_shards(task, corpus, progress)
    tokenizer = build_tokenizer(spec.tokenizer_params)
    vocab = Vocabulary.of(tokenizer)
    model_config = ModelConfig(arch=arch, vocab_size=len(vocab),
                               **{**spec.model_defaults.get(arch, {}), **(model_overrides or {})})
    overrides = dict(train_overrides or {})
    if minutes is not None:
        overrides["max_minutes"] = minutes
    if max_steps is not None:
        overrides["max_steps"] = max_steps
    train_config = TrainConfig(**overrides)
    train_shard, valid_shard = Shard.load(directory, "train"), Shard.load(directory, "valid")
    train_data = spec.make_dataset(train_shard, vocab, model_config.block_size, train_config, True)
    valid_data = spec.make_dataset(valid_shard, vocab, model_config.block_size, train_config, False)
    run_dir = Path(run_dir) if run_dir else cache_dir() / "runs" / f"{task}-{arch}-{corpus}"
    report = json.loads((directory / "report.json").read_text())
    card = {
        "task": task,
        "arch": arch,
        "description": spec.description,
        "data": {
            "corpus": corpus,
            "splits": report,
            "trained_on": "train split only",
            "heldout_file_sha256": hashlib.sha256(heldout_file().read_bytes()).hexdigest(),
        },
        "notes": spec.card_notes,
    }
    if init_from is not None:  # the weights themselves are loaded by the loop, once
        from composer.ml.checkpoint import read_card

        started = read_card(init_from)
        card["warm_start"] = {"checkpoint": Path(init_from).name, "its_steps": started.get("steps"),
                              "its_best_val_loss": started.get("best_val_loss")}

    def on_progress(step: int, total: int, row: dict[str, float]) -> None:
        text = f"step {step}/{total}"
        if "val_loss" in row:
            text += f", val loss {row['val_loss']:.3f}"
        elif "train_loss" in row:
            text += f", loss {row['train_loss']:.3f}"
        progress(step / total, text)

    result = train(model_config, train_config, train_data, valid_data, run_dir, tokenizer, card,
                   progress=on_progress, resume=resume,
                   should_stop=(cancel.is_set if cancel is not None else None),
                   init_from=init_from)
    ctx = setup_distributed()
    summary = {
        "task": task, "arch": arch, "steps": result.steps, "best_val_loss": result.best_val_loss,
        "best_step": result.best_step, "wall_seconds": round(result.wall_seconds, 1),
        "cpu_seconds": round(result.cpu_seconds, 1),
        "stopped_because": result.stopped_because, "tokens_seen": result.tokens_seen,
        "run_dir": str(run_dir), "world_size": ctx.world_size,
    }
    if out_dir is not None and ctx.is_main and (run_dir / "best").exists():
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in ("model.pt", "tokenizer.json", "card.json"):
            shutil.copy2(run_dir / "best" / name, out_dir / name)
        from composer.ml.checkpoint import update_card

        update_card(out_dir, training={
            "total_steps": result.steps, "best_step": result.best_step,
            "wall_seconds": round(result.wall_seconds, 1),
            "cpu_seconds": round(result.cpu_seconds, 1),
            "stopped_because": result.stopped_because, "tokens_seen": result.tokens_seen,
        })
        summary["out_dir"] = str(out_dir)
    return summary
