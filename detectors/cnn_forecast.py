"""1-step CNN forecaster (TSB-AD's CNN, Liu & Paparrizos, NeurIPS 2024): predict the newest
reading of the window from the readings before it; the errors are the anomaly evidence."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from torch.nn import functional

from detectors._deep import DeepDetector, DeepParams, check_kernel_sigma
from detectors._torch import Schedule, map_batches
from detectors.base import DetectorError, Windows
from detectors.error_scoring import Scoring, kernel_weights

__all__ = ["CnnForecastDetector", "CnnForecastParams"]

KERNEL = 3
DROPOUT = 0.25


class _CnnForecaster(nn.Module):
    """Two (conv k=3 -> ReLU -> max-pool 2) blocks, global average over time, then a
    two-layer head to one value per channel. Any input length of at least 10 steps works."""

    def __init__(self, channels: int, widths: tuple[int, int]) -> None:
        super().__init__()
        first, second = widths
        self.convs = nn.Sequential(
            nn.Conv1d(channels, first, KERNEL),
            nn.ReLU(),
            nn.MaxPool1d(2),
            nn.Conv1d(first, second, KERNEL),
            nn.ReLU(),
            nn.MaxPool1d(2),
        )
        self.head = nn.Sequential(
            nn.Linear(second, second), nn.ReLU(), nn.Dropout(DROPOUT), nn.Linear(second, channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.convs(x.transpose(1, 2))  # convs want (n, C, steps)
        out: torch.Tensor = self.head(functional.adaptive_avg_pool1d(h, 1).squeeze(-1))
        return out


@dataclass(frozen=True)
class CnnForecastParams(DeepParams):
    """cnn_forecast's hyperparameters: TSB-AD's training (Adam, lr 8e-4, batch 128, at most
    50 epochs, patience 3 on the last 20%), a plateau schedule in place of its StepLR, and
    the scoring chosen on SMD machine-1-* (docs/DEEP_DETECTORS.md). `hidden` is the second
    conv's width (TSB-AD: 40; the first has 32 there, here 4/5 of `hidden`). `kernel_sigma`:
    None, or the causal kernel smoothing of `detectors.error_scoring` over the forecasts of
    the window's last steps (one forward pass per step)."""

    epochs: int = 50
    batch_size: int = 128
    lr: float = 8e-4
    hidden: int = 40
    patience: int = 3
    validation: float = 0.2
    lr_schedule: Schedule = "plateau"
    scoring: Scoring = "plain"
    kernel_sigma: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_kernel_sigma(self.kernel_sigma)


class CnnForecastDetector(DeepDetector[CnnForecastParams]):
    """Forecast window[-1] from window[:-1]; the error per channel is what gets scored.

    As in TSB-AD the network sees the window's first window-1 readings and is trained with
    MSE. Without `kernel_sigma` (the default) the error is TSB-AD's squared error. With it
    the readings window[-1-k] for the kernel's lags k are forecast too, each from the
    readings before it in the same window (a shorter input for k > 0: the global average
    over time takes any length), and the errors are absolute, as in Garg et al.'s scoring.
    Errors are scored by `scoring` (see `detectors.error_scoring`); contributions are the
    per-channel scored errors.
    """

    name = "cnn_forecast"
    Params = CnnForecastParams

    def fit(self, windows: Windows) -> CnnForecastDetector:
        lags = self._lags()
        if windows.ndim == 3 and windows.shape[1] < 11 + lags:
            raise DetectorError(f"cnn_forecast needs windows of at least {11 + lags} steps")
        super().fit(windows)
        return self

    def _lags(self) -> int:
        sigma = self.hp.kernel_sigma
        return 0 if sigma is None else len(kernel_weights(sigma)) - 1

    def _build(self, window: int, channels: int) -> nn.Module:
        hidden = self.hp.hidden
        return _CnnForecaster(channels, (max(1, hidden * 4 // 5), hidden))

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return super()._forward(x[:, :-1])

    def _target(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, -1]

    def _reduce(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        if self.hp.kernel_sigma is None:
            return torch.square(out - x[:, -1])
        return torch.abs(out - x[:, -1])

    def _errors(self, windows: Windows) -> npt.NDArray[np.float64]:
        if self.hp.kernel_sigma is None:
            return super()._errors(windows)
        self._network().eval()
        width = windows.shape[1]
        # Lag k: the window cut k readings short, so its newest reading is window[-1-k].
        per_lag = [
            map_batches(self._forward, self._reduce, windows[:, : width - k], self.device, self.amp)
            for k in range(self._lags(), -1, -1)
        ]
        return np.stack(per_lag, axis=1)
