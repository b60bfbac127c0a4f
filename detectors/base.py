"""The one detector interface: windows in, one score per window out, higher = more anomalous."""

from __future__ import annotations

import inspect
import typing
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

__all__ = ["Detector", "DetectorError", "Scores", "Windows"]

Windows = npt.NDArray[np.float32]  # (n, window, channels)
Scores = npt.NDArray[np.float64]  # (n,), or (n, channels) for contributions
Arrays = dict[str, npt.NDArray[Any]]


class DetectorError(ValueError):
    """Input a detector cannot take: wrong shape or dtype, not fitted, mismatched artifact."""


class Detector(ABC):
    """Batches of windows (n, window, channels) float32 in, one float score per window out.

    Subclasses implement `_fit`, `_score` and, where they can, `_contributions`; the public
    methods validate input first. Hyperparameters are keyword arguments of `__init__`, all
    JSON-able, returned by `params()` and listed with their types by `keywords()`; fitted
    state is a dict of numpy arrays (`state()` / `load_state()`), so artifacts load without
    running code. Device placement, no_grad and mini-batching stay inside the detector.
    """

    name: ClassVar[str]
    # Deep detectors: the registry imports torch only for these.
    uses_torch: ClassVar[bool] = False

    def __init__(self, *, seed: int = 0) -> None:
        self.seed = seed
        self.window: int | None = None
        self.channels: int | None = None

    # -- public API -------------------------------------------------------------------------

    def fit(self, windows: Windows) -> Self:
        """Learn normal behaviour from training windows (assumed mostly normal)."""
        windows = self._check(windows, fitting=True)
        self.window, self.channels = windows.shape[1], windows.shape[2]
        self._fit(windows)
        return self

    def score(self, windows: Windows) -> Scores:
        """One score per window; higher means more anomalous."""
        scores = self._score(self._check(windows))
        return np.asarray(scores, dtype=np.float64).reshape(len(windows))

    def contributions(self, windows: Windows) -> Scores:
        """(n, channels): how much each channel drives each window's score (higher = more)."""
        return np.asarray(self._contributions(self._check(windows)), dtype=np.float64)

    def params(self) -> dict[str, Any]:
        """Hyperparameters as JSON-able values; `type(self)(**params())` rebuilds it."""
        return {"seed": self.seed}

    @classmethod
    def keywords(cls) -> dict[str, Any]:
        """Each keyword argument the constructor takes, with its annotation, in order: the
        keys of `params()` and any runtime choice (a deep detector's `device`)."""
        hints = typing.get_type_hints(cls.__init__)
        return {
            p.name: hints.get(p.name, Any)
            for p in inspect.signature(cls.__init__).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        }

    def state(self) -> Arrays:
        """Fitted state as named arrays (saved with np.savez, loaded without pickle)."""
        self._require_fitted()
        return {
            "_shape": np.array([self.window, self.channels], dtype=np.int64),
            **self._state(),
        }

    def load_state(self, arrays: Arrays) -> Self:
        """Restore what `state()` returned."""
        self.window, self.channels = (int(v) for v in arrays["_shape"])
        self._load_state({k: v for k, v in arrays.items() if k != "_shape"})
        return self

    # -- for subclasses ---------------------------------------------------------------------

    @abstractmethod
    def _fit(self, windows: Windows) -> None: ...

    @abstractmethod
    def _score(self, windows: Windows) -> npt.ArrayLike: ...

    def _contributions(self, windows: Windows) -> npt.ArrayLike:
        raise DetectorError(f"{self.name} does not attribute scores to channels")

    @abstractmethod
    def _state(self) -> Arrays: ...

    @abstractmethod
    def _load_state(self, arrays: Arrays) -> None: ...

    # -- validation -------------------------------------------------------------------------

    def _require_fitted(self) -> None:
        if self.window is None:
            raise DetectorError(f"{self.name} is not fitted: call fit() or load an artifact")

    def _check(self, windows: Windows, fitting: bool = False) -> Windows:
        if not isinstance(windows, np.ndarray) or windows.ndim != 3:
            raise DetectorError("windows must be a 3-D array (n, window, channels)")
        if windows.dtype != np.float32:
            raise DetectorError(f"windows must be float32, got {windows.dtype}")
        if fitting:
            if len(windows) == 0:
                raise DetectorError("no training windows")
            return windows
        self._require_fitted()
        if windows.shape[1:] != (self.window, self.channels):
            raise DetectorError(
                f"{self.name} was fitted on windows of {self.window} x {self.channels} "
                f"channels, got {windows.shape[1]} x {windows.shape[2]}"
            )
        return windows
