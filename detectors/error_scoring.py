"""Scores from per-channel reconstruction or prediction errors, and telemanom's threshold.

Errors are (n, channels) arrays, one row per window in stream order. Every scoring turns
them into per-channel contributions (n, channels) whose mean over channels is the score:

- `plain`: the error itself.
- `gaussian_static`: squared one-sided z-score against a Gaussian per channel fitted on the
  training errors. One-sided because an error below its usual level is no evidence of an
  anomaly; squared so that the sum is the Gaussian negative log-likelihood up to constants.
- `gaussian_dynamic`: the same, but mean and variance come from an exponentially weighted
  trailing window (span `DYNAMIC_SPAN`) over the errors of the rows *before* each row in
  the same call, started from the training Gaussian. No state is kept between calls and
  nothing tells one entity's rows from another's, so it is right only for a call that holds
  one entity's consecutive windows in order. The stream's calls are not that (one new
  window per entity per cycle, several entities sharing a model in one call): there a
  window is judged by another entity's errors or by the training Gaussian alone. Per-entity
  dynamic statistics belong to the caller (`detectors.adaptive`).

Kernel smoothing (Garg et al. 2021's "-K", `kernel_sigma`): errors are (n, steps, channels),
the errors of each window's last `steps` readings, newest last. Each step is scored as
above (with `gaussian_*`, against its own step's training Gaussian), then the steps are
averaged with the causal half-Gaussian weights of `kernel_weights`. Garg et al. convolve
each channel's score over time with a centred Gaussian of 8 sigma points, so their smoothed
score at t also uses the 4 sigma readings after t; here only t and the readings before it
count, all taken from the window that ends at t, so no state is needed across windows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt

__all__ = [
    "ErrorScorer",
    "Scoring",
    "ewma",
    "gaussian_dynamic",
    "gaussian_static",
    "kernel_weights",
    "nonparametric_threshold",
    "plain",
    "zscores",
]

Scoring = Literal["plain", "gaussian_static", "gaussian_dynamic"]
FloatArray = npt.NDArray[np.float64]

DYNAMIC_SPAN = 100  # windows in the trailing kernel of gaussian_dynamic (alpha = 2/(span+1))
_STD_FLOOR = 1e-6  # a perfectly reconstructed channel must not divide by zero
_BLOCK = 128  # rows per matrix product in ewma; decay powers stay within float range


def ewma(values: npt.ArrayLike, alpha: float, initial: npt.ArrayLike | None = None) -> FloatArray:
    """Exponentially weighted moving average along axis 0: s_i = (1-alpha) s_(i-1) + alpha v_i.

    s_(-1) is `initial` (default: the first row). Vectorised per block of rows, exact.
    """
    v = np.asarray(values, dtype=np.float64)
    out = np.empty_like(v)
    if len(v) == 0:
        return out
    decay = 1.0 - alpha
    steps = np.arange(_BLOCK)
    lag = steps[:, None] - steps[None, :]
    weights = np.where(lag >= 0, alpha * decay ** np.maximum(lag, 0), 0.0)
    carry_in = decay ** (steps + 1)
    state = np.asarray(v[0] if initial is None else initial, dtype=np.float64)
    for start in range(0, len(v), _BLOCK):
        block = v[start : start + _BLOCK]
        m = len(block)
        flat = block.reshape(m, -1)
        smoothed = weights[:m, :m] @ flat + carry_in[:m, None] * state.reshape(1, -1)
        out[start : start + m] = smoothed.reshape(block.shape)
        state = out[start + m - 1]
    return out


def kernel_weights(sigma: float) -> FloatArray:
    """Causal Gaussian weights exp(-k^2 / (2 sigma^2)) for lags k = ceil(3 sigma) .. 0,
    oldest first, summing to 1. Lags beyond 3 sigma would carry about 0.3% of the mass."""
    lags = np.arange(int(np.ceil(3 * sigma)), -1, -1, dtype=np.float64)
    weights = np.exp(-np.square(lags) / (2 * sigma**2))
    out: FloatArray = weights / weights.sum()
    return out


def zscores(errors: FloatArray, mean: FloatArray, std: FloatArray) -> FloatArray:
    """(errors - mean) / std per channel."""
    return (errors - mean) / std


def plain(errors: FloatArray) -> FloatArray:
    """Score = mean error over channels."""
    score: FloatArray = np.mean(errors, axis=1, dtype=np.float64)
    return score


def _one_sided_sq(z: FloatArray) -> FloatArray:
    return np.square(np.maximum(z, 0.0))


def gaussian_static(errors: FloatArray, mean: FloatArray, std: FloatArray) -> FloatArray:
    """Per-channel squared one-sided z against the training Gaussian, (n, channels)."""
    return _one_sided_sq(zscores(errors, mean, std))


def gaussian_dynamic(
    errors: FloatArray, mean: FloatArray, std: FloatArray, span: int = DYNAMIC_SPAN
) -> FloatArray:
    """Like gaussian_static, with mean/std from the EWMA of the preceding rows' errors.

    The variance is floored at a tenth of the training variance so that a long quiet run
    does not make the next small wobble look extreme.
    """
    alpha = 2.0 / (span + 1)
    first = ewma(errors, alpha, initial=mean)
    second = ewma(np.square(errors), alpha, initial=np.square(std) + np.square(mean))
    # Row i is judged by the statistics of rows < i: shift by one, training stats first.
    run_mean = np.vstack([mean[None, :], first[:-1]])
    run_sq = np.vstack([(np.square(std) + np.square(mean))[None, :], second[:-1]])
    run_var = np.maximum(run_sq - np.square(run_mean), 0.1 * np.square(std))
    return _one_sided_sq(zscores(errors, run_mean, np.sqrt(run_var)))


@dataclass
class ErrorScorer:
    """A scoring method plus the training-error Gaussian it needs (kept in the artifact).

    Errors are (n, channels), or (n, steps, channels) with `kernel_sigma` (one Gaussian per
    step and channel, then the kernel over the steps).
    """

    method: Scoring = "gaussian_static"
    kernel_sigma: float | None = None
    mean: FloatArray = field(default_factory=lambda: np.zeros(0))
    std: FloatArray = field(default_factory=lambda: np.ones(0))
    weights: FloatArray | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.method not in get_args(Scoring):
            raise ValueError(f"scoring must be one of {get_args(Scoring)}, got {self.method!r}")
        if self.kernel_sigma is not None:
            self.weights = kernel_weights(self.kernel_sigma)

    def fit(self, errors: FloatArray) -> ErrorScorer:
        """Fit the per-channel (and per-step) Gaussian on training errors."""
        self._check(errors)
        self.mean = errors.mean(axis=0)
        self.std = np.maximum(errors.std(axis=0), _STD_FLOOR)
        return self

    def contributions(self, errors: FloatArray) -> FloatArray:
        """(n, channels) per-channel contributions; their mean over channels is the score."""
        self._check(errors)
        if self.method == "plain":
            scored = errors
        elif self.method == "gaussian_static":
            scored = gaussian_static(errors, self.mean, self.std)
        else:
            scored = gaussian_dynamic(errors, self.mean, self.std)
        if self.weights is None:
            return scored
        out: FloatArray = np.einsum("nkc,k->nc", scored, self.weights)
        return out

    def score(self, errors: FloatArray) -> FloatArray:
        return plain(self.contributions(errors))

    def state(self) -> dict[str, FloatArray]:
        return {"scoring.mean": self.mean, "scoring.std": self.std}

    def load_state(self, arrays: dict[str, npt.NDArray[np.generic]]) -> None:
        self.mean = np.asarray(arrays["scoring.mean"], dtype=np.float64)
        self.std = np.asarray(arrays["scoring.std"], dtype=np.float64)

    def _check(self, errors: FloatArray) -> None:
        if self.weights is None:
            if errors.ndim != 2:
                raise ValueError(f"errors must be (n, channels), got shape {errors.shape}")
        elif errors.ndim != 3 or errors.shape[1] != len(self.weights):
            raise ValueError(
                f"kernel_sigma={self.kernel_sigma} wants errors (n, {len(self.weights)}, "
                f"channels), got shape {errors.shape}"
            )


def _sequences(above: npt.NDArray[np.bool_]) -> int:
    """Number of contiguous runs of True."""
    return int(np.count_nonzero(np.diff(above.astype(np.int8), prepend=0) == 1))


def nonparametric_threshold(
    errors: npt.ArrayLike, z_range: tuple[float, float] = (2.0, 10.0), step: float = 0.5
) -> float:
    """Telemanom's label-free dynamic threshold (Hundman et al. 2018) over 1-D smoothed errors.

    Tries epsilon = mean + z * std for z in z_range (by `step`) and keeps the one maximising
    (delta_mean/mean + delta_std/std) / (#anomalous points + #anomalous sequences ** 2),
    where the deltas are how much mean and std drop once points above epsilon are removed.
    Like telemanom, candidates flagging half the points or more are skipped; with no
    candidate flagging anything, the top of the range is returned.
    """
    e = np.asarray(errors, dtype=np.float64)
    if e.ndim != 1 or len(e) == 0:
        raise ValueError(f"errors must be a non-empty 1-D array, got shape {e.shape}")
    mean, std = float(e.mean()), float(e.std())
    best_score, best = -np.inf, mean + z_range[1] * std
    if std == 0.0:
        return best
    for z in np.arange(z_range[0], z_range[1] + step / 2, step):
        epsilon = mean + z * std
        above = e > epsilon
        count = int(above.sum())
        if count == 0 or count >= len(e) / 2:
            continue
        below = e[~above]
        gain = (mean - below.mean()) / mean if mean else 0.0
        gain += (std - below.std()) / std
        score = gain / (count + _sequences(above) ** 2)
        if score > best_score:
            best_score, best = score, float(epsilon)
    return best
