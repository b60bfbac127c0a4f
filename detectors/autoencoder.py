"""Fully connected autoencoders: one over the flattened window, or one small one per channel."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from detectors._deep import ReconstructionDetector, ReconstructionParams
from detectors._torch import Schedule
from detectors.error_scoring import Scoring

__all__ = [
    "AutoencoderDetector",
    "AutoencoderParams",
    "UnivariateAutoencoderDetector",
    "UnivariateAutoencoderParams",
]


class _DenseAutoencoder(nn.Module):
    """(n, window, C) -> flatten -> hidden -> latent -> hidden -> (n, window, C)."""

    def __init__(self, window: int, channels: int, hidden: int) -> None:
        super().__init__()
        size, latent = window * channels, max(1, hidden // 4)
        self.layers = nn.Sequential(
            nn.Linear(size, hidden),
            nn.ReLU(),
            nn.Linear(hidden, latent),
            nn.ReLU(),
            nn.Linear(latent, hidden),
            nn.ReLU(),
            nn.Linear(hidden, size),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.layers(x.flatten(1))
        return out.view_as(x)


class _GroupedLinear(nn.Module):
    """C independent linear maps applied at once: (C, n, a) -> (C, n, b), one batched matmul."""

    def __init__(self, groups: int, inputs: int, outputs: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(inputs)  # nn.Linear's default initialisation, per group
        self.weight = nn.Parameter(torch.empty(groups, inputs, outputs).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(groups, outputs).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight)


class _ChannelAutoencoders(nn.Module):
    """One autoencoder per channel over its window, all channels in one forward pass."""

    def __init__(self, window: int, channels: int, hidden: int) -> None:
        super().__init__()
        latent = max(1, hidden // 4)
        sizes = [window, hidden, latent, hidden, window]
        self.layers = nn.ModuleList(
            _GroupedLinear(channels, a, b) for a, b in zip(sizes, sizes[1:], strict=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.permute(2, 0, 1)  # (C, n, window): channels are the batch of bmm
        for index, layer in enumerate(self.layers):
            h = layer(h)
            if index < len(self.layers) - 1:
                h = torch.relu(h)
        return h.permute(1, 2, 0)


@dataclass(frozen=True)
class AutoencoderParams(ReconstructionParams):
    """ae's hyperparameters: those of `ReconstructionParams`, with its own defaults."""

    epochs: int = 20
    batch_size: int = 256
    lr: float = 1e-3
    hidden: int = 64


class AutoencoderDetector(ReconstructionDetector[AutoencoderParams]):
    """Dense autoencoder over the flattened window; score from the reconstruction error.

    The latent size is hidden // 4. Errors are time-weighted per channel (see
    `ReconstructionDetector`), scored by `scoring` (see `detectors.error_scoring`);
    contributions are the per-channel scored errors.
    """

    name = "ae"
    Params = AutoencoderParams

    def _build(self, window: int, channels: int) -> nn.Module:
        return _DenseAutoencoder(window, channels, self.hp.hidden)


@dataclass(frozen=True)
class UnivariateAutoencoderParams(AutoencoderParams):
    """uae's hyperparameters: those of ae, with narrower channel autoencoders, trained and
    scored as chosen on SMD machine-1-* (docs/DEEP_DETECTORS.md): Garg et al.'s early
    stopping (patience 10 on the last 25%) with a plateau schedule, plain kernel-smoothed
    absolute errors."""

    epochs: int = 100
    hidden: int = 16
    patience: int = 10
    validation: float = 0.25
    lr_schedule: Schedule = "plateau"
    scoring: Scoring = "plain"
    kernel_sigma: float | None = 1.0


class UnivariateAutoencoderDetector(AutoencoderDetector):
    """One small dense autoencoder per channel (separate weights, one batched forward pass).

    Channels do not see each other, so a broken correlation goes unnoticed but a channel's
    own odd shape does not hide behind the others. With `scoring="gaussian_static"` each
    channel's error is normalised by its training errors before the mean.
    """

    name = "uae"
    Params = UnivariateAutoencoderParams

    def _build(self, window: int, channels: int) -> nn.Module:
        return _ChannelAutoencoders(window, channels, self.hp.hidden)
