"""Which models exist and where: loaded once per process, on first use.

Shipped models live in ``models/<task>-<name>/`` (see composer/ml/checkpoint.py);
COMPOSER_MODELS_DIR points elsewhere (tests, user-trained models).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from composer.errors import InvalidArgumentError, ModelError
from composer.paths import models_dir

_loaded: dict[str, Any] = {}
_lock = threading.Lock()


def model_dir(task: str, name: str) -> Path:
    return models_dir() / f"{task}-{name}"


def melody_model(name: str):
    """The melody generator called ``name`` (transformer, lstm or markov), cached."""
    from composer.services.generate import MODELS

    if name not in MODELS:
        raise InvalidArgumentError(f"unknown model {name!r}", f"choose one of: {', '.join(MODELS)}")
    key = f"melody-{name}"
    with _lock:
        if key not in _loaded:
            directory = model_dir("melody", name)
            if not directory.exists():
                raise ModelError(
                    f"the {name} melody model is not installed ({directory} is missing)",
                    "train it with scripts/train_melody.py or reinstall composer")
            if name == "markov":
                from composer.ml.melody_generator import MarkovMelodyGenerator

                _loaded[key] = MarkovMelodyGenerator(directory)
            else:
                from composer.ml.melody_generator import NeuralMelodyGenerator

                _loaded[key] = NeuralMelodyGenerator(directory)
        return _loaded[key]


def forget_models() -> None:
    """Drop loaded models (tests that swap COMPOSER_MODELS_DIR call this)."""
    with _lock:
        _loaded.clear()
