"""Thresholds fitted on label-free scores, kept apart from scoring: flag where score > value."""

from __future__ import annotations

import dataclasses
import logging
import math
import warnings
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Final, Self

import numpy as np
import numpy.typing as npt

__all__ = [
    "THRESHOLDS",
    "MeanStdThreshold",
    "NonparametricThreshold",
    "PotThreshold",
    "QuantileThreshold",
    "Threshold",
    "ThresholdError",
    "make_threshold",
    "threshold_from_dict",
]

log = logging.getLogger(__name__)

# Fewer excesses than this and a GPD fit is noise: POT falls back to the plain quantile.
MIN_EXCESSES: Final = 10


class ThresholdError(ValueError):
    """Bad threshold parameters, nothing finite to fit on, or an unfitted threshold used."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Threshold(ABC):
    """Hyperparameters as fields plus the fitted `value`; `fit` returns a fitted copy.

    Fit on scores without labels (typically a validation tail of the training split);
    NaN and infinite scores are ignored. `decide` flags score > value (NaN is never flagged).
    """

    kind: ClassVar[str]
    value: float = math.nan

    def fit(self, scores: npt.ArrayLike) -> Self:
        """A copy of this threshold with `value` learnt from `scores` (labels never used)."""
        finite = np.asarray(scores, dtype=np.float64).ravel()
        finite = finite[np.isfinite(finite)]
        if finite.size == 0:
            raise ThresholdError(f"{self.kind} threshold: no finite scores to fit on")
        return dataclasses.replace(self, value=float(self._fit(finite)))

    @property
    def fitted(self) -> bool:
        return not math.isnan(self.value)

    def decide(self, scores: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """True where score > value."""
        if not self.fitted:
            raise ThresholdError(f"{self.kind} threshold is not fitted: call fit() first")
        return np.asarray(scores, dtype=np.float64) > self.value

    def params(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "value"
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: {"kind", "value" (None if unfitted), "params"}."""
        value = self.value if self.fitted else None
        return {"kind": self.kind, "value": value, "params": self.params()}

    @abstractmethod
    def _fit(self, finite: npt.NDArray[np.float64]) -> float: ...

    @staticmethod
    def _check_unit(name: str, x: float) -> None:
        if not 0.0 < x < 1.0:
            raise ThresholdError(f"{name} must lie in (0, 1), got {x}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class QuantileThreshold(Threshold):
    """The q-quantile of the fitting scores (numpy's default linear interpolation)."""

    kind: ClassVar[str] = "quantile"
    q: float = 0.995

    def __post_init__(self) -> None:
        self._check_unit("q", self.q)

    def _fit(self, finite: npt.NDArray[np.float64]) -> float:
        return float(np.quantile(finite, self.q))


@dataclasses.dataclass(frozen=True, kw_only=True)
class MeanStdThreshold(Threshold):
    """mean + k * std (population std) of the fitting scores."""

    kind: ClassVar[str] = "mean_std"
    k: float = 3.0

    def __post_init__(self) -> None:
        if not math.isfinite(self.k):
            raise ThresholdError(f"k must be finite, got {self.k}")

    def _fit(self, finite: npt.NDArray[np.float64]) -> float:
        return float(finite.mean() + self.k * finite.std())


@dataclasses.dataclass(frozen=True, kw_only=True)
class PotThreshold(Threshold):
    """Peaks over threshold (SPOT, Siffer et al. 2017): the score exceeded with prob. `risk`.

    Excesses over t = quantile(init_quantile) are fitted with a generalised Pareto
    distribution (scale sigma, shape gamma) by maximum likelihood (scipy), falling back to the
    method of moments; then value = t + sigma/gamma * ((risk*n/N_t)^-gamma - 1), or
    t - sigma*ln(risk*n/N_t) when gamma ~ 0. With too few excesses, constant scores or a risk
    not below the initial exceedance rate, it logs a warning and uses quantile(1 - risk).
    """

    kind: ClassVar[str] = "pot"
    risk: float = 1e-3
    init_quantile: float = 0.98

    def __post_init__(self) -> None:
        self._check_unit("risk", self.risk)
        self._check_unit("init_quantile", self.init_quantile)

    def _fit(self, finite: npt.NDArray[np.float64]) -> float:
        t = float(np.quantile(finite, self.init_quantile))
        excess = finite[finite > t] - t
        ratio = self.risk * finite.size / max(excess.size, 1)
        if excess.size < MIN_EXCESSES or ratio >= 1.0:
            return self._fallback(finite, f"{excess.size} excesses over the initial quantile")
        sigma, gamma = _fit_gpd(excess)
        if not (math.isfinite(sigma) and math.isfinite(gamma) and sigma > 0):
            return self._fallback(finite, "the GPD fit failed")
        if abs(gamma) < 1e-8:
            return t - sigma * math.log(ratio)
        return t + sigma / gamma * (math.pow(ratio, -gamma) - 1.0)

    def _fallback(self, finite: npt.NDArray[np.float64], why: str) -> float:
        log.warning("POT threshold: %s; using the %.6g quantile instead", why, 1 - self.risk)
        return float(np.quantile(finite, 1.0 - self.risk))


def _fit_gpd(excess: npt.NDArray[np.float64]) -> tuple[float, float]:
    """(sigma, gamma) of a GPD with location 0: scipy MLE, else the method of moments."""
    try:
        from scipy.stats import genpareto
    except ImportError:  # pragma: no cover - scipy ships with scikit-learn
        return _gpd_moments(excess)
    with warnings.catch_warnings():
        # The optimiser warns on awkward samples; a bad fit is caught by the check below.
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            gamma, _, sigma = genpareto.fit(excess, floc=0.0)
        except (ValueError, RuntimeError):
            return _gpd_moments(excess)
    if not (math.isfinite(sigma) and math.isfinite(gamma) and sigma > 0):
        return _gpd_moments(excess)
    return float(sigma), float(gamma)


def _gpd_moments(excess: npt.NDArray[np.float64]) -> tuple[float, float]:
    mean, var = float(excess.mean()), float(excess.var())
    if var <= 0.0:
        return math.nan, math.nan
    gamma = 0.5 * (1.0 - mean * mean / var)
    return 0.5 * mean * (mean * mean / var + 1.0), gamma


@dataclasses.dataclass(frozen=True, kw_only=True)
class NonparametricThreshold(Threshold):
    """Telemanom's dynamic threshold (Hundman et al. 2018): label-free, see error_scoring."""

    kind: ClassVar[str] = "nonparametric"
    z_min: float = 2.0
    z_max: float = 10.0

    def __post_init__(self) -> None:
        if not 0 < self.z_min < self.z_max:
            raise ThresholdError(f"need 0 < z_min < z_max, got {self.z_min}, {self.z_max}")

    def _fit(self, finite: npt.NDArray[np.float64]) -> float:
        from detectors.error_scoring import nonparametric_threshold

        return nonparametric_threshold(finite, (self.z_min, self.z_max))


THRESHOLDS: Final[dict[str, type[Threshold]]] = {
    cls.kind: cls
    for cls in (QuantileThreshold, MeanStdThreshold, PotThreshold, NonparametricThreshold)
}


def make_threshold(kind: str, **params: Any) -> Threshold:
    """An unfitted threshold of `kind` (a key of THRESHOLDS) with `params`."""
    try:
        cls = THRESHOLDS[kind]
    except KeyError:
        raise ThresholdError(
            f"unknown threshold {kind!r}; known: {', '.join(THRESHOLDS)}"
        ) from None
    try:
        return cls(**params)
    except TypeError as exc:
        raise ThresholdError(f"bad parameters for {kind!r} threshold: {exc}") from None


def threshold_from_dict(data: dict[str, Any]) -> Threshold:
    """Rebuild what `Threshold.to_dict()` wrote."""
    threshold = make_threshold(str(data["kind"]), **dict(data.get("params", {})))
    value = data.get("value")
    return threshold if value is None else dataclasses.replace(threshold, value=float(value))
