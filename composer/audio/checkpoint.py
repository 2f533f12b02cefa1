"""The shipped transcription checkpoint: ``models/transcription/``.

``model.pt`` is a plain state dict (loaded with ``torch.load(weights_only=True)``,
no pickled code); ``card.json`` records the network, spectrogram and decoder
configs, the training data and split, steps, wall time, library versions, the
evaluation figures, and the SHA-256 of ``model.pt``, checked on every load.

``mono.pt``, where the card has a ``mono`` section, is the same network
fine-tuned on single lines only: mono mode runs it instead of ``model.pt``.
Its section holds its own SHA-256 and training record; the decoder settings
(``decode``) are shared, the ``mono_*`` ones being tuned on its output.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import threading
from pathlib import Path
from typing import Any

from composer.errors import ModelError
from composer.paths import models_dir

CARD_FORMAT = 1
MODEL_NAME = "transcription"
MONO_WEIGHTS = "mono.pt"


def default_dir() -> Path:
    return models_dir() / MODEL_NAME


def library_versions() -> dict[str, str]:
    from importlib.metadata import version

    from composer import __version__

    return {"python": platform.python_version(), "composer": __version__,
            **{name: version(name) for name in ("torch", "numpy", "scipy", "librosa")}}


def save_checkpoint(model, training: dict[str, Any], directory: Path | None = None,
                    evaluation: dict[str, Any] | None = None, decode=None) -> Path:
    """Write ``model.pt`` and ``card.json`` into ``directory``; returns the weights path.

    ``decode`` is the DecodeConfig tuned for these weights (defaults otherwise).
    """
    from composer.audio.decode import DecodeConfig
    from composer.audio.features import FeatureConfig
    from composer.io.atomic import atomic_write_bytes, atomic_write_text

    directory = directory or default_dir()
    directory.mkdir(parents=True, exist_ok=True)
    weights = _state_bytes(model)
    atomic_write_bytes(directory / "model.pt", weights)
    # A single-line network was fine-tuned from the weights this replaces.
    (directory / MONO_WEIGHTS).unlink(missing_ok=True)
    from dataclasses import asdict

    card = {
        "format": CARD_FORMAT,
        "name": MODEL_NAME,
        "task": "audio to MIDI transcription (polyphonic and monophonic)",
        "model": model.config.to_dict(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "features": FeatureConfig().to_dict(),
        "decode": asdict(decode or DecodeConfig()),
        "training": training,
        "evaluation": evaluation or {},
        "libraries": library_versions(),
        "sha256": hashlib.sha256(weights).hexdigest(),
    }
    atomic_write_text(directory / "card.json", json.dumps(card, indent=1) + "\n")
    return directory / "model.pt"


def _state_bytes(model) -> bytes:
    """The model's weights as a plain state dict, serialised (what the card's SHA-256 covers)."""
    import torch

    buffer = io.BytesIO()
    torch.save({k: v.detach().clone() for k, v in model.state_dict().items()}, buffer)
    return buffer.getvalue()


def save_mono_network(model, training: dict[str, Any], directory: Path | None = None) -> Path:
    """Write ``mono.pt`` beside a saved checkpoint and its section in the card."""
    from composer.io.atomic import atomic_write_bytes

    directory = directory or default_dir()
    card = read_card(directory)
    if model.config.to_dict() != card["model"]:
        raise ModelError("the single-line network must have the general network's shape")
    weights = _state_bytes(model)
    atomic_write_bytes(directory / MONO_WEIGHTS, weights)
    section = {"sha256": hashlib.sha256(weights).hexdigest(), "training": training}
    _edit_card(directory, lambda card: card.__setitem__("mono", section))
    return directory / MONO_WEIGHTS


def read_card(directory: Path | None = None) -> dict[str, Any]:
    directory = directory or default_dir()
    path = directory / "card.json"
    try:
        card = json.loads(path.read_text())
    except FileNotFoundError as err:
        raise ModelError(f"no transcription model at {directory}",
                         "run scripts/transcription_train.py, or restore models/ from git") from err
    except (OSError, ValueError) as err:
        raise ModelError(f"the transcription model card {path} is unreadable: {err}") from err
    if card.get("format") != CARD_FORMAT:
        raise ModelError(f"{path} has card format {card.get('format')}, expected {CARD_FORMAT}",
                         "this checkpoint comes from another version of composer")
    return card


def update_card(evaluation: dict[str, Any], directory: Path | None = None) -> None:
    """Record evaluation figures in the card (the weights and their hash stay)."""
    _edit_card(directory, lambda card: card.__setitem__("evaluation", evaluation))


def update_decode(decode: dict[str, Any], tuning: dict[str, Any],
                  directory: Path | None = None) -> None:
    """Record retuned decoder settings, and how they were chosen, in the card."""
    def edit(card: dict[str, Any]) -> None:
        card["decode"] = decode
        card.setdefault("training", {})["decode_tuning"] = tuning

    _edit_card(directory, edit)


def _edit_card(directory: Path | None, edit) -> None:
    from composer.io.atomic import atomic_write_text

    directory = directory or default_dir()
    card = read_card(directory)
    edit(card)
    atomic_write_text(directory / "card.json", json.dumps(card, indent=1) + "\n")


_cache: dict[str, Any] = {}
_lock = threading.Lock()


def load_checkpoint(directory: Path | None = None, use_cache: bool = True):
    """The shipped network (eval mode, batch norm folded) and its card.

    Raises ModelError when the files are missing, altered or incompatible.
    """
    directory = directory or default_dir()
    key = str(directory.resolve())
    with _lock:
        if use_cache and key in _cache:
            return _cache[key]
        card = read_card(directory)
        model = _load_network(directory, "model.pt", card, card.get("sha256"))
        _cache[key] = (model, card)
        return model, card


def load_mono_network(directory: Path | None = None, use_cache: bool = True):
    """The single-line network (see the module docstring), or None where the
    checkpoint has none and mono mode runs the general network."""
    directory = directory or default_dir()
    key = str(directory.resolve()) + "/" + MONO_WEIGHTS
    with _lock:
        if use_cache and key in _cache:
            return _cache[key]
        card = read_card(directory)
        section = card.get("mono")
        model = (None if section is None else
                 _load_network(directory, MONO_WEIGHTS, card, section.get("sha256")))
        _cache[key] = model
        return model


def _load_network(directory: Path, name: str, card: dict[str, Any], sha256: str | None):
    import torch

    from composer.audio.features import FeatureConfig
    from composer.audio.model import Transcriber, TranscriberConfig

    try:
        weights = (directory / name).read_bytes()
    except OSError as err:
        raise ModelError(f"cannot read {directory / name}: {err}") from err
    if hashlib.sha256(weights).hexdigest() != sha256:
        raise ModelError(f"{directory / name} does not match its model card's SHA-256",
                         "the file is damaged or was replaced; restore it from git")
    try:
        FeatureConfig.from_dict(card["features"])
        model = Transcriber(TranscriberConfig.from_dict(card["model"]))
        model.load_state_dict(torch.load(io.BytesIO(weights), weights_only=True))
    except (KeyError, ValueError, RuntimeError) as err:
        raise ModelError(f"the transcription checkpoint in {directory} does not fit this "
                         f"version of composer: {err}") from err
    model.eval()
    model.fold_batch_norm()
    return model
