"""Base classes of the deep detectors: a torch network scored by its per-channel errors."""

from __future__ import annotations

import logging
from abc import abstractmethod
from dataclasses import asdict, dataclass, replace
from typing import Any, ClassVar, Generic, TypeVar, get_args

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from detectors._torch import (
    Schedule,
    TrainConfig,
    TrainHistory,
    arrays_to_module,
    map_batches,
    module_to_arrays,
    resolve_amp,
    resolve_device,
    seeded,
    train_network,
)
from detectors.base import Arrays, Detector, DetectorError, Windows
from detectors.error_scoring import ErrorScorer, Scoring, kernel_weights
from detectors.hyperparams import field_types

__all__ = [
    "DeepDetector",
    "DeepParams",
    "ReconstructionDetector",
    "ReconstructionParams",
    "check_kernel_sigma",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeepParams:
    """Hyperparameters every deep detector has. Each detector has a subclass that adds its
    own and sets its defaults; the constructor's keywords, `params()` and the check of
    `--param` values all come from those fields.

    Training: Adam for at most `epochs`; the last `validation` fraction of the training
    windows (in time order) is held out, training stops after `patience` epochs without a
    better validation loss and the best epoch's weights are kept; `lr_schedule` is the
    learning-rate schedule (see `detectors._torch.TrainConfig`). The defaults here are the
    training every deep detector had before these three were settings; a detector's
    subclass sets its own.
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float = 2e-3
    hidden: int = 32
    scoring: Scoring = "gaussian_static"
    seed: int = 0
    patience: int = 3
    validation: float = 0.1
    lr_schedule: Schedule = "constant"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.hidden < 1 or not self.lr > 0:
            raise DetectorError("epochs, batch_size and hidden must be >= 1 and lr > 0")
        if self.patience < 1 or not 0.0 <= self.validation < 1.0:
            raise DetectorError("patience must be >= 1 and validation in [0, 1)")
        if self.lr_schedule not in get_args(Schedule):
            raise DetectorError(f"lr_schedule must be one of {', '.join(get_args(Schedule))}")


def check_kernel_sigma(kernel_sigma: float | None) -> None:
    """DetectorError unless `kernel_sigma` is None or positive."""
    if kernel_sigma is not None and not kernel_sigma > 0:
        raise DetectorError(f"kernel_sigma must be > 0 or None, got {kernel_sigma}")


@dataclass(frozen=True)
class ReconstructionParams(DeepParams):
    """`half_life`: steps over which an error's weight halves, None for equal weights.
    `kernel_sigma`: None, or Garg et al.'s kernel smoothing within the window (see
    `ReconstructionDetector`); half_life is then unused."""

    half_life: float | None = 20.0
    kernel_sigma: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.half_life is not None and not self.half_life > 0:
            raise DetectorError(f"half_life must be > 0 or None, got {self.half_life}")
        check_kernel_sigma(self.kernel_sigma)


P = TypeVar("P", bound=DeepParams)
R = TypeVar("R", bound=ReconstructionParams)


class DeepDetector(Detector, Generic[P]):
    """A torch network trained so that forward(x) ~ target(x), scored by its errors.

    Subclasses set `Params` (their hyperparameters, a `DeepParams` dataclass), build the
    network and say how a batch becomes per-channel errors (n, C); an `ErrorScorer` turns
    those into scores. `device`, `amp` and `progress` are runtime choices, not
    hyperparameters: they are left out of `params()`, so an artifact trained on a GPU loads
    on a CPU (and the other way round).
    """

    uses_torch: ClassVar[bool] = True
    Params: type[P]

    def __init__(
        self,
        *,
        device: str = "auto",
        amp: bool | None = None,
        progress: bool = False,
        **params: Any,
    ) -> None:
        self.hp: P = self.Params(**params)
        super().__init__(seed=self.hp.seed)
        self.scorer = ErrorScorer(self.hp.scoring, getattr(self.hp, "kernel_sigma", None))
        self.device = resolve_device(device)
        self.amp = resolve_amp(amp, self.device)
        self.progress = progress
        self.net: nn.Module | None = None
        self.history: TrainHistory | None = None  # of the last fit; not saved

    def params(self) -> dict[str, Any]:
        return asdict(self.hp)

    @classmethod
    def keywords(cls) -> dict[str, Any]:
        return {**field_types(cls.Params), **super().keywords()}

    # -- for subclasses ---------------------------------------------------------------------

    @abstractmethod
    def _build(self, window: int, channels: int) -> nn.Module: ...

    @abstractmethod
    def _reduce(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """(b, C) errors of a batch of windows x given forward(x) in float32."""

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self._network()(x)
        return out

    def _target(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def _errors(self, windows: Windows) -> npt.NDArray[np.float64]:
        self._network().eval()
        return map_batches(self._forward, self._reduce, windows, self.device, self.amp)

    # -- Detector ---------------------------------------------------------------------------

    def _network(self) -> nn.Module:
        if self.net is None:
            raise DetectorError(f"{self.name} is not fitted: call fit() or load an artifact")
        return self.net

    def _fit(self, windows: Windows) -> None:
        assert self.window is not None and self.channels is not None  # noqa: S101 (set by fit)
        hp = self.hp
        config = TrainConfig(
            hp.epochs,
            hp.batch_size,
            hp.lr,
            validation=hp.validation,
            patience=hp.patience,
            schedule=hp.lr_schedule,
            amp=self.amp,
            progress=self.progress,
        )
        with seeded(self.seed, self.device):
            self.net = self._build(self.window, self.channels).to(self.device)
            self.history = train_network(
                self.net, windows, self._forward, self._target, config, self.device, self.seed
            )
        self.scorer.fit(self._errors(windows))

    def _score(self, windows: Windows) -> npt.NDArray[np.float64]:
        return self.scorer.score(self._errors(windows))

    def _contributions(self, windows: Windows) -> npt.NDArray[np.float64]:
        return self.scorer.contributions(self._errors(windows))

    def _state(self) -> Arrays:
        return {**module_to_arrays(self._network()), **self.scorer.state()}

    def _load_state(self, arrays: Arrays) -> None:
        assert self.window is not None and self.channels is not None  # noqa: S101 (set by load_state)
        with seeded(self.seed, self.device):
            net = self._build(self.window, self.channels)
        arrays_to_module(net, arrays)
        self.net = net.to(self.device).eval()
        if self.scorer.weights is not None and np.ndim(arrays.get("scoring.mean", [])) == 1:
            # Saved before kernel scoring existed: its meta.json names no kernel_sigma, so
            # the default filled one in. The one-Gaussian-per-channel state says how it
            # scored; params() then reports that too.
            self.hp = replace(self.hp, kernel_sigma=None)  # type: ignore[call-arg]
            self.scorer = ErrorScorer(self.hp.scoring)
        self.scorer.load_state(arrays)


class ReconstructionDetector(DeepDetector[R], Generic[R]):
    """Networks that reconstruct the whole window; errors are time-weighted squared errors.

    Per channel, error = sum over steps of w_t (x_t - x̂_t)^2 with w_t proportional to
    0.5 ** ((window - 1 - t) / half_life): the stream scores the newest point of each window,
    so recent steps weigh more. `half_life=None` weighs all steps equally (plain MSE).

    With `kernel_sigma` the errors are instead the absolute errors |x_t - x̂_t| of the last
    steps of the window (Garg et al. 2021 score the last step's absolute error); the scorer
    scores each step (with `gaussian_*`, against that step's training Gaussian) and smooths
    the results with a causal Gaussian kernel over those steps (see
    `detectors.error_scoring`). Every step comes from the window being scored, so a
    window's score needs no other window.
    """

    def _reduce(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        if self.hp.kernel_sigma is not None:
            steps = len(kernel_weights(self.hp.kernel_sigma))
            if steps > x.shape[1]:
                raise DetectorError(
                    f"kernel_sigma={self.hp.kernel_sigma} needs windows of at least "
                    f"{steps} steps, got {x.shape[1]}"
                )
            return torch.abs(out - x)[:, -steps:]
        steps_t = torch.arange(x.shape[1], dtype=torch.float32, device=x.device)
        half_life = self.hp.half_life
        if half_life is None:
            weights = torch.ones_like(steps_t)
        else:
            weights = torch.pow(0.5, (x.shape[1] - 1 - steps_t) / half_life)
        weights = weights / weights.sum()
        return torch.matmul(torch.square(out - x).transpose(1, 2), weights)
