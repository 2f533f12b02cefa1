"""The tasks the models are trained for, each with its tokenizer, data and defaults.

A task says how its corpus becomes token shards and how training windows are
drawn from them; the network, the loop, sampling and checkpoints are shared.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from composer.errors import InvalidArgumentError


@dataclass(frozen=True)
class TaskSpec:
    name: str
    description: str
    tokenizer_params: dict[str, Any]
    build_shards: Callable[..., dict[str, Any]]  # (tokenizer, out_dir, corpus=...) -> report
    make_dataset: Callable[..., Any]  # (shard, vocab, block_size, train_config, training) -> data
    model_defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    card_notes: dict[str, str] = field(default_factory=dict)


def _melody_dataset(shard, vocab, block_size, train_config, training: bool):
    from composer.ml.data import MelodyWindows

    if training:
        return MelodyWindows(shard, vocab, block_size, train_config.fim_rate,
                             train_config.transpose_range)
    return MelodyWindows(shard, vocab, block_size)


def _melody_shards(tokenizer, out_dir: Path, corpus: str = "music21", progress=None):
    from composer.ml.melody import build_shards

    return build_shards(tokenizer, out_dir, corpus=corpus, progress=progress)


def _melody() -> TaskSpec:
    from composer.io.tokens import MELODY_PARAMS

    return TaskSpec(
        name="melody",
        description="melody continuation and infilling (folk tunes and chorale sopranos)",
        tokenizer_params=MELODY_PARAMS,
        build_shards=_melody_shards,
        make_dataset=_melody_dataset,
        model_defaults={
            "transformer": {"n_layer": 4, "n_head": 4, "n_embd": 256, "block_size": 512,
                            "dropout": 0.1},
            "lstm": {"n_layer": 2, "n_embd": 256, "lstm_hidden": 512, "block_size": 512,
                     "dropout": 0.1},
        },
        card_notes={
            "tokenization": (
                "miditok REMI: Bar and Position tokens place every note on the bar grid, so the "
                "models learn meter; TimeSig tokens after each bar condition on meter; a KeySig "
                "token after BOS conditions on key (kept out of the inline stream so every "
                "training window starts with it); a 12-steps-per-beat grid holds sixteenths and "
                "triplets; durations up to 12 beats; no velocity tokens (melody continuation is "
                "about pitch and rhythm); meters over 1 or 2 are shown over 4 so a half-note "
                "beat can still place sixteenths. Special tokens Hole/FillStart/FillEnd give the "
                "fill-in-the-middle format used for infilling."
            ),
        },
    )


_REGISTRY: dict[str, Callable[[], TaskSpec]] = {"melody": _melody}


def register_task(name: str, factory: Callable[[], TaskSpec]) -> None:
    """Add a task (harmonisation tasks register themselves from their modules)."""
    _REGISTRY[name] = factory


def get_task(name: str) -> TaskSpec:
    _load_plugins()
    if name not in _REGISTRY:
        raise InvalidArgumentError(f"unknown task {name!r}",
                                   f"choose one of: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]()


def task_names() -> list[str]:
    _load_plugins()
    return sorted(_REGISTRY)


def _load_plugins() -> None:
    # Harmonisation tasks live beside their data code; importing registers them.
    import importlib

    for module in ("composer.ml.harmony_tasks",):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:
                raise


def tokenizer_fingerprint(params: dict[str, Any]) -> str:
    text = repr(sorted((k, repr(v)) for k, v in params.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:10]
