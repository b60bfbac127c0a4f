"""One entity's split served as JSON-ready pieces, converted a block of rows at a time."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from producers.datasets import Split

__all__ = ["RowBlocks", "rfc3339_utc"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# numpy's per-call overhead on one row at a time would cost more than encoding the message,
# so times and values are converted for this many rows at once.
BLOCK_ROWS = 4096


def rfc3339_utc(times_ns: IntArray) -> list[str]:
    """UTC timestamps as RFC 3339 strings ending in Z, converted in C by numpy.

    Whole seconds are written without a fraction, as pydantic writes them; otherwise with
    microseconds (a datetime's resolution, which is what a decoded message holds).
    """
    times: npt.NDArray[np.datetime64] = times_ns.astype("datetime64[ns]")
    whole_seconds = not (times_ns % 1_000_000_000).any()
    strings: list[str] = np.datetime_as_string(
        times, unit="s" if whole_seconds else "us", timezone="UTC"
    ).tolist()
    return strings


@dataclass
class RowBlocks:
    """Times, values and labels of row ranges of one split, in increasing row order."""

    split: Split
    times_ns: IntArray
    _start: int = 0
    _stop: int = 0
    _shift_ns: int = -1
    _times: list[str] = field(default_factory=list)
    _values: list[list[float]] = field(default_factory=list)
    _labels: list[int] | None = None

    def _fill(self, start: int, end: int, shift_ns: int) -> None:
        stop = min(len(self.split), start + max(BLOCK_ROWS, end - start))
        self._start, self._stop, self._shift_ns = start, stop, shift_ns
        self._times = rfc3339_utc(self.times_ns[start:stop] + shift_ns)
        # NaN stays NaN here: the JSON writer turns it into null, the schema's missing value.
        self._values = self.split.values[start:stop].tolist()
        labels = self.split.labels
        self._labels = None if labels is None else labels[start:stop].tolist()

    def times(self, start: int, end: int, shift_ns: int = 0) -> list[str]:
        """Event times of rows start..end-1, shifted by `shift_ns` (for looped replays)."""
        if not (self._start <= start and end <= self._stop and shift_ns == self._shift_ns):
            self._fill(start, end, shift_ns)
        return self._times[start - self._start : end - self._start]

    def value_rows(self, start: int, end: int) -> list[list[float]]:
        """Values of rows start..end-1 as lists of floats (call `times` first)."""
        return self._values[start - self._start : end - self._start]

    def value_array(self, start: int, end: int) -> FloatArray:
        """Values of rows start..end-1 as a C-contiguous array, for a batch."""
        array: FloatArray = self.split.values[start:end]
        return array

    def labels(self, start: int, end: int) -> list[int] | None:
        """Labels of rows start..end-1, or None when the split has none (call `times` first)."""
        return (
            None if self._labels is None else self._labels[start - self._start : end - self._start]
        )
