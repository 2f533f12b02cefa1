"""Fixtures for the melody pipeline: a tiny corpus and tiny checkpoints, built once.

A clean clone has no corpus cache and CI must not depend on one, so the
session builds a small corpus from the music21 wheel (about 60 pieces), its
token shards, and tiny Transformer/LSTM checkpoints trained for a few dozen
steps, all under a temporary cache and models folder.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from composer.core.song import KeySignature, Note, Song, TimeSignature, Track

TINY_MODELS = {
    "transformer": {"n_layer": 2, "n_head": 2, "n_embd": 64, "block_size": 256, "dropout": 0.0},
    "lstm": {"n_layer": 2, "n_embd": 64, "lstm_hidden": 96, "block_size": 256, "dropout": 0.0},
}


@pytest.fixture(scope="package")
def tiny_env(tmp_path_factory):
    """A cache with a small music21 corpus and melody shards, and tiny checkpoints.
    Package-scoped: the environment is put back once tests/ml is done, so the
    tests of other folders see the shipped models again."""
    root = tmp_path_factory.mktemp("melody_env")
    saved = {k: os.environ.get(k) for k in ("COMPOSER_CACHE_DIR", "COMPOSER_MODELS_DIR")}
    os.environ["COMPOSER_CACHE_DIR"] = str(root / "cache")
    os.environ["COMPOSER_MODELS_DIR"] = str(root / "models")
    from composer.services.models import forget_models

    forget_models()
    try:
        from corpora import music21_corpus

        music21_corpus.build(limit=40, processes=2)
        from composer.services.train import train_task

        for arch, overrides in TINY_MODELS.items():
            train_task("melody", arch, run_dir=root / "runs" / arch,
                       out_dir=root / "models" / f"melody-{arch}", max_steps=30,
                       model_overrides=overrides,
                       train_overrides={"batch_size": 4, "eval_interval": 15, "eval_batches": 2,
                                        "warmup_steps": 5, "learning_rate": 3e-3})
        shipped_markov = Path(__file__).resolve().parents[2] / "models" / "melody-markov"
        shutil.copytree(shipped_markov, root / "models" / "melody-markov")
        yield root
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        forget_models()


def tune(bars: int = 4, meter: tuple[int, int] = (4, 4), key: KeySignature | None = None) -> Song:
    """A simple C-major scale tune, one note per beat, ``bars`` bars long."""
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    beat = 480 * 4 // meter[1]
    notes = [Note(pitch=scale[i % len(scale)], start_tick=i * beat, duration_ticks=beat)
             for i in range(bars * meter[0])]
    return Song(tracks=(Track("Melody", tuple(notes), program=73),),
                time_signatures=(TimeSignature(0, *meter),),
                keys=(key or KeySignature(0, 0, "major"),))
