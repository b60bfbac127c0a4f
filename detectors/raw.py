"""Raw-signal baseline: how far the window's latest readings sit from the training mean."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.base import Arrays, Detector, DetectorError, Windows

__all__ = ["RawSignalDetector"]


class RawSignalDetector(Detector):
    """Per-channel squared deviation of the latest reading(s) over the training variance.

    The window's last `tail` readings are averaged into one vector per window (the last
    reading alone by default, so a window's score reflects the newest data and a streaming
    point score is not delayed). Channel c contributes `(v_c - mean_c)^2 / var_c`, with the
    mean and variance of that same vector over the training windows; the score is the mean
    of the contributions over channels, so it is about 1 on normal data whatever the width.

    Hyperparameters:
        tail: how many of the window's last readings to average (1 = the last reading).
        var_floor: lower bound on a channel's training variance, so a channel that was
            constant in training gives large but finite scores when it moves.
        seed: unused (the detector is deterministic); kept for the common interface.

    >>> import numpy as np
    >>> train = np.random.default_rng(0).normal(size=(200, 8, 2)).astype(np.float32)
    >>> detector = RawSignalDetector().fit(train)
    >>> spike = train[:1].copy()
    >>> spike[0, -1, 1] += 10.0
    >>> bool(detector.score(spike)[0] > detector.score(train).max())
    True
    >>> int(detector.contributions(spike)[0].argmax())
    1
    """

    name = "raw"

    def __init__(self, *, tail: int = 1, var_floor: float = 1e-4, seed: int = 0) -> None:
        super().__init__(seed=seed)
        if tail < 1:
            raise DetectorError(f"tail must be at least 1, got {tail}")
        if var_floor <= 0:
            raise DetectorError(f"var_floor must be positive, got {var_floor}")
        self.tail = tail
        self.var_floor = var_floor
        self._mean = np.zeros(0, dtype=np.float64)
        self._var = np.ones(0, dtype=np.float64)

    def params(self) -> dict[str, Any]:
        return {**super().params(), "tail": self.tail, "var_floor": self.var_floor}

    def _latest(self, windows: Windows) -> npt.NDArray[np.float64]:
        tail = min(self.tail, windows.shape[1])
        out: npt.NDArray[np.float64] = windows[:, -tail:, :].mean(axis=1, dtype=np.float64)
        return out

    def _fit(self, windows: Windows) -> None:
        latest = self._latest(windows)
        self._mean = latest.mean(axis=0)
        self._var = np.maximum(latest.var(axis=0), self.var_floor)

    def _contributions(self, windows: Windows) -> npt.NDArray[np.float64]:
        out: npt.NDArray[np.float64] = np.square(self._latest(windows) - self._mean) / self._var
        return out

    def _score(self, windows: Windows) -> npt.NDArray[np.float64]:
        out: npt.NDArray[np.float64] = self._contributions(windows).mean(axis=1)
        return out

    def _state(self) -> Arrays:
        return {"mean": self._mean, "var": self._var}

    def _load_state(self, arrays: Arrays) -> None:
        self._mean = np.asarray(arrays["mean"], dtype=np.float64)
        self._var = np.asarray(arrays["var"], dtype=np.float64)
