"""Temporal convolutional autoencoder (TCN-AE, after Thill et al. 2021): dilated causal convs."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional

from detectors._deep import ReconstructionDetector, ReconstructionParams
from detectors._torch import Schedule
from detectors.error_scoring import Scoring

__all__ = ["TcnAutoencoderDetector", "TcnAutoencoderParams"]

DILATIONS = (1, 2, 4, 8)  # receptive field 1 + 2 * 15 = 31 steps with kernel 3
KERNEL = 3
POOL = 4  # the latent sequence is this many times shorter than the window


class _CausalConv(nn.Module):
    """Conv1d that sees only the present and the past: left padding of (k - 1) * dilation."""

    def __init__(self, inputs: int, outputs: int, dilation: int) -> None:
        super().__init__()
        self.pad = (KERNEL - 1) * dilation
        self.conv = nn.Conv1d(inputs, outputs, KERNEL, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.conv(functional.pad(x, (self.pad, 0)))
        return out


def _tcn(inputs: int, hidden: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for index, dilation in enumerate(DILATIONS):
        layers += [_CausalConv(inputs if index == 0 else hidden, hidden, dilation), nn.ReLU()]
    return nn.Sequential(*layers)


class _TcnAutoencoder(nn.Module):
    """TCN -> 1x1 conv to a narrow latent -> average pool -> upsample -> TCN -> 1x1 conv."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        latent = max(1, hidden // 4)
        self.encoder = nn.Sequential(_tcn(channels, hidden), nn.Conv1d(hidden, latent, 1))
        self.decoder = nn.Sequential(_tcn(latent, hidden), nn.Conv1d(hidden, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(x.transpose(1, 2))  # convs want (n, C, window)
        h = functional.avg_pool1d(h, POOL, ceil_mode=True)
        h = functional.interpolate(h, size=x.shape[1], mode="nearest")
        out: torch.Tensor = self.decoder(h)
        return out.transpose(1, 2)


@dataclass(frozen=True)
class TcnAutoencoderParams(ReconstructionParams):
    """tcn_ae's hyperparameters, trained and scored as chosen on SMD machine-1-*
    (docs/DEEP_DETECTORS.md): early stopping with patience 10 on the last 25% (Garg et al.),
    a plateau schedule, plain kernel-smoothed absolute errors."""

    epochs: int = 100
    batch_size: int = 128
    lr: float = 2e-3
    hidden: int = 16
    patience: int = 10
    validation: float = 0.25
    lr_schedule: Schedule = "plateau"
    scoring: Scoring = "plain"
    kernel_sigma: float | None = 1.0


class TcnAutoencoderDetector(ReconstructionDetector[TcnAutoencoderParams]):
    """TCN autoencoder; score from the reconstruction error of the window.

    Errors are those of `ReconstructionDetector` (by default the kernel over the last
    steps' absolute errors), scored by `scoring` (see `detectors.error_scoring`).
    """

    name = "tcn_ae"
    Params = TcnAutoencoderParams

    def _build(self, window: int, channels: int) -> nn.Module:
        return _TcnAutoencoder(channels, self.hp.hidden)
