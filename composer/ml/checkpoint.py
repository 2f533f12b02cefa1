"""Shipped checkpoints: weights, tokenizer and model card, in one folder.

``models/<name>/`` holds ``model.pt`` (a dict of tensors and plain values, so
it loads with ``torch.load(weights_only=True)``: no pickle of code),
``tokenizer.json`` (miditok's own file) and ``card.json`` (config, tokenizer,
data and split, steps, wall time, library versions, evaluation figures, and the
SHA-256 of ``model.pt``, checked on every load).
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from composer.errors import ModelError

CHECKPOINT_FORMAT = 1
TOKEN_ROWS = ("tok_emb.weight", "head.weight")
"""Weights with one row per token, in both architectures (tied to each other)."""


def library_versions() -> dict[str, str]:
    from importlib import metadata

    import numpy
    import torch

    import composer

    versions = {
        "python": platform.python_version(),
        "composer": composer.__version__,
        "torch": torch.__version__,
        # miditok has no __version__; the installed distribution knows it.
        "miditok": metadata.version("miditok"),
        "numpy": numpy.__version__,
    }
    try:
        import symusic

        versions["symusic"] = getattr(symusic, "__version__", "")
    except ImportError:
        pass
    return versions


def build_model(config_dict: dict[str, Any]):
    """The network a config describes (Transformer or LSTM)."""
    from composer.ml.config import ModelConfig

    config = ModelConfig.from_dict(config_dict)
    if config.arch == "transformer":
        from composer.ml.model import Transformer

        return Transformer(config)
    from composer.ml.lstm import LSTMModel

    return LSTMModel(config)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_checkpoint(directory: str | Path, model, card: dict[str, Any], tokenizer) -> Path:
    """Write model.pt, tokenizer.json and card.json (the card gains hash and versions)."""
    import torch

    from composer.io.atomic import atomic_write_bytes, atomic_write_text
    from composer.io.tokens import tokenizer_to_json

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    raw = model.module if hasattr(model, "module") else model  # unwrap DDP
    buffer = io.BytesIO()
    torch.save({
        "format": CHECKPOINT_FORMAT,
        "config": raw.config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in raw.state_dict().items()},
    }, buffer)
    weights = buffer.getvalue()
    atomic_write_bytes(directory / "model.pt", weights)
    tokenizer_json = tokenizer_to_json(tokenizer)
    atomic_write_text(directory / "tokenizer.json", json.dumps(tokenizer_json, indent=1))
    full_card = {
        **card,
        "format": CHECKPOINT_FORMAT,
        "model": raw.config.to_dict(),
        "parameters": sum(p.numel() for p in raw.parameters()),
        "tokenizer": tokenizer_json,
        "weights_sha256": _sha256(weights),
        "weights_bytes": len(weights),
        "library_versions": library_versions(),
    }
    atomic_write_text(directory / "card.json", json.dumps(full_card, indent=1))
    return directory


def read_card(directory: str | Path) -> dict[str, Any]:
    """A checkpoint's card alone (no weights loaded, no hash checked)."""
    path = Path(directory) / "card.json"
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ModelError(f"{path}: the model card is unreadable ({err})") from err


def update_card(directory: str | Path, **fields: Any) -> dict[str, Any]:
    """Merge fields (e.g. evaluation figures) into a checkpoint's card."""
    from composer.io.atomic import atomic_write_text

    path = Path(directory) / "card.json"
    card = read_card(directory)
    for key, value in fields.items():
        if isinstance(value, dict) and isinstance(card.get(key), dict):
            card[key] = {**card[key], **value}
        else:
            card[key] = value
    atomic_write_text(path, json.dumps(card, indent=1))
    return card


@dataclass
class LoadedModel:
    """A network in eval mode with the tokenizer and card it was trained with."""

    name: str
    model: Any
    tokenizer: Any
    vocab: Any
    card: dict[str, Any]
    path: Path


def load_checkpoint(directory: str | Path, device: str = "cpu") -> LoadedModel:
    """Load a checkpoint folder, verifying its hash and format; raises ModelError."""
    import torch

    from composer.io.tokens import Vocabulary, tokenizer_from_json

    directory = Path(directory)
    card_path, weights_path = directory / "card.json", directory / "model.pt"
    if not card_path.exists() or not weights_path.exists():
        raise ModelError(f"no checkpoint in {directory} (card.json and model.pt are needed)",
                         "train one with `composer train` or use a shipped model")
    card = read_card(directory)
    if card.get("format") != CHECKPOINT_FORMAT:
        raise ModelError(
            f"{directory.name}: checkpoint format {card.get('format')!r} is not the "
            f"format {CHECKPOINT_FORMAT} this composer reads",
            "it comes from another version; retrain it or use the shipped models",
        )
    weights = weights_path.read_bytes()
    if card.get("weights_sha256") != _sha256(weights):
        raise ModelError(f"{weights_path}: the weights do not match their model card's SHA-256",
                         "the file is corrupt or was replaced; reinstall or retrain it")
    try:
        blob = torch.load(io.BytesIO(weights), map_location=device, weights_only=True)
        model = build_model(blob["config"])
        model.load_state_dict(blob["state_dict"])
    except (RuntimeError, KeyError, ValueError, TypeError) as err:
        raise ModelError(f"{weights_path}: cannot load the weights ({err})") from err
    model.to(device).eval()
    tokenizer = tokenizer_from_json(card["tokenizer"])
    return LoadedModel(directory.name, model, tokenizer, Vocabulary.of(tokenizer), card, directory)


def warm_start(model, directory: str | Path, tokenizer) -> list[str]:
    """Copy a checkpoint's weights into ``model`` before training goes on from them.

    The two must be one architecture of one size; only the vocabulary may have
    grown (a format that gained a token). Rows indexed by token (embedding and
    output head) are matched by token name, so what was learnt of every old
    token is kept and a new one starts from ``model``'s own initialisation.
    Returns the names of the new tokens.
    """
    import torch

    from composer.io.tokens import Vocabulary

    loaded = load_checkpoint(directory)
    config = model.config.to_dict()
    theirs = loaded.model.config.to_dict()
    if {**theirs, "vocab_size": 0} != {**config, "vocab_size": 0}:
        raise ModelError(f"{Path(directory).name} is another architecture or size than the "
                         "model to train", "warm-start only from the same configuration")
    new_ids = Vocabulary.of(tokenizer).ids
    rows = [(new_ids[name], index) for name, index in loaded.vocab.ids.items()
            if name in new_ids]
    new_rows = torch.tensor([r for r, _ in rows])
    old_rows = torch.tensor([o for _, o in rows])
    target = model.state_dict()
    with torch.no_grad():
        for name, tensor in loaded.model.state_dict().items():
            if name in TOKEN_ROWS:
                target[name][new_rows] = tensor[old_rows]
            elif tensor.shape == target[name].shape:
                target[name].copy_(tensor)
            else:
                raise ModelError(f"{name}: shape {tuple(tensor.shape)} does not fit "
                                 f"{tuple(target[name].shape)}")
    return sorted(set(new_ids) - set(loaded.vocab.ids))
