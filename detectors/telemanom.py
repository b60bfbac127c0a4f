"""LSTM forecaster of the next step with smoothed prediction errors (Hundman et al. 2018)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from detectors._deep import DeepDetector, DeepParams
from detectors.base import DetectorError, Windows
from detectors.error_scoring import ewma

__all__ = ["TelemanomDetector", "TelemanomParams"]


class _Forecaster(nn.Module):
    """Stacked LSTM over the window's first steps -> linear -> the next step, all channels."""

    def __init__(self, channels: int, outputs: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(channels, hidden, num_layers=layers, batch_first=True)
        self.output = nn.Linear(hidden, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sequence, _ = self.lstm(x)
        out: torch.Tensor = self.output(sequence[:, -1])
        return out


@dataclass(frozen=True)
class TelemanomParams(DeepParams):
    """telemanom's hyperparameters: LSTM `layers`, the EWMA's `smoothing_span` in windows,
    and the channel indices to forecast (`targets`, None = all)."""

    layers: int = 2
    smoothing_span: int = 10
    targets: list[int] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.layers < 1 or self.smoothing_span < 1:
            raise DetectorError("layers and smoothing_span must be >= 1")
        if self.targets is not None:  # a tuple or numpy ints given in code: saved as a list
            object.__setattr__(self, "targets", [int(t) for t in self.targets])


class TelemanomDetector(DeepDetector[TelemanomParams]):
    """Predict window[-1] from window[:-1]; error = |prediction - actual| per channel.

    Unlike telemanom (one model per channel) one model forecasts every channel, or only the
    `targets` channels while reading all of them: on SMAP/MSL telemanom forecasts channel 0
    (the telemetry) from it and the command channels, `--param targets=[0]`. Errors are
    smoothed with an EWMA of span `smoothing_span` over consecutive windows *within one
    call*, in the order given: no state is kept between calls, so pass ordered windows (the
    stream app does), and a call's first window is unsmoothed. The smoothed errors are then
    scored by `scoring` (see `detectors.error_scoring`), fitted on the training windows
    smoothed the same way. Telemanom's label-free dynamic threshold is a separate object:
    `detectors.error_scoring.nonparametric_threshold`.
    """

    name = "telemanom"
    Params = TelemanomParams

    def _target_index(self, channels: int) -> list[int]:
        targets = self.hp.targets if self.hp.targets is not None else list(range(channels))
        if not targets or any(not 0 <= t < channels for t in targets):
            raise DetectorError(f"targets {targets} are not channels of 0..{channels - 1}")
        return targets

    def fit(self, windows: Windows) -> TelemanomDetector:
        if windows.ndim == 3 and windows.shape[1] < 2:
            raise DetectorError("telemanom needs windows of at least 2 steps")
        super().fit(windows)
        return self

    def _build(self, window: int, channels: int) -> nn.Module:
        outputs = len(self._target_index(channels))
        return _Forecaster(channels, outputs, self.hp.hidden, self.hp.layers)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return super()._forward(x[:, :-1])

    def _target(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, -1, self._target_index(x.shape[2])]

    def _reduce(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        return torch.abs(out - self._target(x))

    def _contributions(self, windows: Windows) -> npt.NDArray[np.float64]:
        # Channels that are read but not forecast contribute nothing.
        per_target = super()._contributions(windows)
        full = np.zeros((len(windows), windows.shape[2]))
        full[:, self._target_index(windows.shape[2])] = per_target
        return full

    def _errors(self, windows: Windows) -> npt.NDArray[np.float64]:
        raw = super()._errors(windows)
        return ewma(raw, 2.0 / (self.hp.smoothing_span + 1))
