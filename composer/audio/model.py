"""The transcription network: harmonic CQT in, onsets, notes, velocity and fine pitch out.

Small on purpose (16k parameters in the shipped configuration, Basic Pitch's
size): FluidSynth renderings and hummed ideas are clean, in-tune-ish signals,
and two CPU cores must run it many times faster than real time. Every layer is
a convolution shared across pitch, so what the network learns about one note
carries to every other:

    spectrogram (B, 282, T)
      -> harmonic stack        (B, 6, T, 264)   sub-harmonic and harmonics 1..5
      -> stem, 2 convs         (B, 12, T, 264)  3 bins per semitone
      -> contour head          (B, T, 264)      fine pitch salience (for mono mode)
      -> down to semitones     (B, 20, T, 88)   + a learned per-key bias
      -> 3 residual convs dilated 1, 3, 9 in time (receptive field about 0.5 s)
      -> heads                 (B, T, 88) x 3   onset, frame (note active), velocity
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from composer.audio.features import (
    BINS_PER_SEMITONE,
    HARMONICS,
    N_CQT_BINS,
    N_KEYS,
    harmonic_shifts,
)


@dataclass(frozen=True)
class TranscriberConfig:
    """Everything that shapes the network; stored in the checkpoint's card."""

    harmonics: tuple[float, ...] = HARMONICS
    stem_channels: int = 12
    channels: int = 20
    dilations: tuple[int, ...] = (1, 3, 9)
    n_keys: int = N_KEYS
    bins_per_semitone: int = BINS_PER_SEMITONE
    n_cqt_bins: int = N_CQT_BINS
    loss_weights: dict[str, float] = field(default_factory=lambda: {
        "onset": 1.0, "frame": 1.0, "velocity": 0.5, "contour": 1.0})
    onset_pos_weight: float = 4.0  # onsets are rare (about 1 frame in 1000 per key)

    def __post_init__(self) -> None:
        for name in ("stem_channels", "channels", "n_keys", "bins_per_semitone", "n_cqt_bins"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not self.harmonics or any(h <= 0 for h in self.harmonics):
            raise ValueError(f"harmonics {self.harmonics} must be positive numbers")
        if any(d < 1 for d in self.dilations):
            raise ValueError(f"dilations {self.dilations} must be positive")
        unknown = set(self.loss_weights) - {"onset", "frame", "velocity", "contour"}
        if unknown:
            raise ValueError(f"unknown loss weights: {', '.join(sorted(unknown))}")

    @property
    def n_bins(self) -> int:
        return self.n_keys * self.bins_per_semitone

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["harmonics"] = list(self.harmonics)
        data["dilations"] = list(self.dilations)
        return data

    @staticmethod
    def from_dict(data: dict[str, Any]) -> TranscriberConfig:
        known = set(TranscriberConfig.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown TranscriberConfig fields: {', '.join(sorted(unknown))}")
        data = dict(data)
        for name in ("harmonics", "dilations"):
            if name in data:
                data[name] = tuple(data[name])
        return TranscriberConfig(**data)


class HarmonicStack(nn.Module):
    """Gathers, for every pitch bin, the spectrogram bins of its harmonics."""

    def __init__(self, config: TranscriberConfig) -> None:
        super().__init__()
        n_bins = config.n_bins
        index = torch.empty(len(config.harmonics), n_bins, dtype=torch.long)
        base = torch.arange(n_bins)
        for i, shift in enumerate(harmonic_shifts(config.harmonics)):
            source = base + shift
            # Out-of-range bins point at an appended row of zeros.
            source[(source < 0) | (source >= config.n_cqt_bins)] = config.n_cqt_bins
            index[i] = source
        self.index: torch.Tensor
        self.register_buffer("index", index.reshape(-1), persistent=False)
        self.shape = (len(config.harmonics), n_bins)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        batch, _, frames = spec.shape
        padded = F.pad(spec, (0, 0, 0, 1))  # (B, F+1, T): the zero row
        stacked = padded[:, self.index, :]  # (B, H*n_bins, T)
        stacked = stacked.reshape(batch, *self.shape, frames)  # (B, H, n_bins, T)
        return stacked.transpose(2, 3)  # (B, H, T, n_bins)


def _conv_bn(c_in: int, c_out: int, kernel: tuple[int, int], dilation: tuple[int, int] = (1, 1),
             stride: tuple[int, int] = (1, 1)) -> nn.Sequential:
    pad_time, pad_pitch = ((k - 1) // 2 * d if s == 1 else 0
                           for k, d, s in zip(kernel, dilation, stride, strict=True))
    padding = (pad_time, pad_pitch)
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, dilation=dilation,
                  bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class Transcriber(nn.Module):
    """The network; ``forward(spec, targets)`` returns ``(outputs, loss)``."""

    def __init__(self, config: TranscriberConfig) -> None:
        super().__init__()
        self.config = config
        c1, c = config.stem_channels, config.channels
        self.stack = HarmonicStack(config)
        self.stem = nn.Sequential(
            _conv_bn(len(config.harmonics), c1, (3, 5)),
            _conv_bn(c1, c1, (3, 3)),
        )
        self.contour = nn.Conv2d(c1, 1, (1, 1))
        bps = config.bins_per_semitone
        # Folding each semitone's 3 bins into channels makes this a 1x1 conv
        # (a plain matrix product), several times faster than a strided one.
        self.down = _conv_bn((c1 + 1) * bps, c, (1, 1))
        self.key_bias = nn.Parameter(torch.zeros(1, c, 1, config.n_keys))
        self.blocks = nn.ModuleList(_conv_bn(c, c, (3, 3), dilation=(d, 1))
                                    for d in config.dilations)
        self.heads = nn.Conv2d(c, 3, (1, 1))

    @property
    def receptive_frames(self) -> int:
        """Frames of context each output sees on either side."""
        return 2 + sum(self.config.dilations)

    def forward(self, spec: torch.Tensor, targets: dict[str, torch.Tensor] | None = None
                ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        """``spec`` (B, n_cqt_bins, T) normalised; outputs are logits, each (B, T, keys/bins)."""
        x = self.stack(spec)  # (B, H, T, n_bins)
        x = self.stem(x)  # (B, c1, T, n_bins)
        contour = self.contour(x)  # (B, 1, T, n_bins)
        x = torch.cat([x, torch.sigmoid(contour)], dim=1)  # (B, c1+1, T, n_bins)
        batch, chans, frames, _ = x.shape
        bps = self.config.bins_per_semitone
        x = x.reshape(batch, chans, frames, self.config.n_keys, bps)  # (B, c1+1, T, keys, 3)
        x = x.permute(0, 1, 4, 2, 3).reshape(batch, chans * bps, frames, self.config.n_keys)
        x = self.down(x)  # (B, c, T, keys)
        x = x + self.key_bias
        for block in self.blocks:
            x = x + block(x)
        heads = self.heads(x)  # (B, 3, T, keys)
        outputs = {
            "onset": heads[:, 0],
            "frame": heads[:, 1],
            "velocity": heads[:, 2],
            "contour": contour[:, 0],  # (B, T, n_bins)
        }
        loss = None if targets is None else self.loss(outputs, targets)
        return outputs, loss

    def loss(self, outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]
             ) -> torch.Tensor:
        """Weighted sum of the head losses; velocity counts only where notes start."""
        w = self.config.loss_weights
        onset = F.binary_cross_entropy_with_logits(
            outputs["onset"], targets["onset"],
            pos_weight=torch.tensor(self.config.onset_pos_weight))
        frame = F.binary_cross_entropy_with_logits(outputs["frame"], targets["frame"])
        contour = F.binary_cross_entropy_with_logits(outputs["contour"], targets["contour"])
        mask = (targets["onset"] > 0.99).float()
        velocity_error = (torch.sigmoid(outputs["velocity"]) - targets["velocity"]) ** 2
        velocity = (velocity_error * mask).sum() / mask.sum().clamp(min=1.0)
        return (w.get("onset", 1.0) * onset + w.get("frame", 1.0) * frame
                + w.get("velocity", 0.5) * velocity + w.get("contour", 1.0) * contour)

    @torch.no_grad()
    def fold_batch_norm(self) -> None:
        """Merge each batch norm into the convolution before it (inference only).

        Same outputs in eval mode, about a seventh less work per frame.
        """
        for seq in [*self.stem, self.down, *self.blocks]:
            conv, norm = seq[0], seq[1]
            if not isinstance(norm, nn.BatchNorm2d):
                continue
            assert norm.running_var is not None and norm.running_mean is not None
            scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
            conv.weight.mul_(scale.reshape(-1, 1, 1, 1))
            bias = norm.bias - norm.running_mean * scale
            conv.bias = nn.Parameter(bias if conv.bias is None else conv.bias * scale + bias)
            seq[1] = nn.Identity()

    @torch.no_grad()
    def predict(self, spec: torch.Tensor) -> dict[str, torch.Tensor]:
        """Probabilities (velocity as 0..1) for one (n_cqt_bins, T) spectrogram."""
        outputs, _ = self.forward(spec.unsqueeze(0))
        return {name: torch.sigmoid(value[0]) for name, value in outputs.items()}
