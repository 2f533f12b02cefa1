"""Model and training configs: frozen, validated when built, JSON round-trippable."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

Architecture = Literal["transformer", "lstm"]
ARCHITECTURES: tuple[str, ...] = ("transformer", "lstm")
POSITIONS: tuple[str, ...] = ("learned", "rotary")


def _from_dict(cls, data: dict[str, Any]):
    names = {f.name for f in fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {', '.join(sorted(unknown))}")
    return cls(**data)


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a network; stored in every checkpoint."""

    arch: str = "transformer"
    vocab_size: int = 512
    block_size: int = 512  # longest context, in tokens
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 256
    dropout: float = 0.1
    lstm_hidden: int = 512
    # Transformer positions: "learned" (a table of absolute positions) or "rotary"
    # (RoPE: queries and keys turned by their position, so attention sees offsets;
    # learns "the frame before this one" from little data, where a table must learn
    # it anew at every absolute position).
    positions: str = "learned"

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"arch {self.arch!r} is not one of {', '.join(ARCHITECTURES)}")
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "lstm_hidden"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.arch == "transformer" and self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} is not divisible by n_head {self.n_head}")
        if self.positions not in POSITIONS:
            raise ValueError(f"positions {self.positions!r} is not one of {', '.join(POSITIONS)}")
        if self.arch == "transformer" and self.positions == "rotary" and \
                (self.n_embd // self.n_head) % 2:
            raise ValueError("rotary positions need an even head size")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout {self.dropout} is outside 0..1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> ModelConfig:
        return _from_dict(ModelConfig, data)


@dataclass(frozen=True)
class TrainConfig:
    """How a training run goes; stored in the model card."""

    batch_size: int = 32  # sequences per optimiser step, summed over all processes
    learning_rate: float = 1e-3
    min_learning_rate: float = 1e-4
    warmup_steps: int = 200
    max_steps: int = 20_000
    max_minutes: float = 110.0  # wall-clock budget; training stops cleanly when reached
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    eval_interval: int = 250
    eval_batches: int = 40
    patience: int = 8  # evaluations without improvement before early stopping
    seed: int = 1234
    fim_rate: float = 0.25  # share of training windows in fill-in-the-middle form
    transpose_range: tuple[int, int] = (-5, 6)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")
        if not 0 < self.min_learning_rate <= self.learning_rate:
            raise ValueError("need 0 < min_learning_rate <= learning_rate, got "
                             f"{self.min_learning_rate} and {self.learning_rate}")
        if self.max_steps < 1 or self.eval_interval < 1 or self.eval_batches < 1:
            raise ValueError("max_steps, eval_interval and eval_batches must be positive")
        if not 0.0 <= self.fim_rate <= 1.0:
            raise ValueError(f"fim_rate {self.fim_rate} is outside 0..1")
        low, high = self.transpose_range
        if low > 0 or high < 0:
            raise ValueError(f"transpose_range {self.transpose_range} must include 0")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["transpose_range"] = list(self.transpose_range)
        return data

    @staticmethod
    def from_dict(data: dict[str, Any]) -> TrainConfig:
        data = dict(data)
        if "transpose_range" in data:
            data["transpose_range"] = tuple(data["transpose_range"])
        return _from_dict(TrainConfig, data)
