"""A per-entity sliding window over preallocated arrays, handing out windows as views."""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

__all__ = ["WindowBuffer"]

Float32Array = npt.NDArray[np.float32]
Float64Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
A = TypeVar("A", bound=np.ndarray[Any, Any])


class WindowBuffer:
    """The last `window` rows of one entity, raw and normalised, with their source offsets.

    `append` writes rows into a preallocated block and returns the windows that end at the
    new rows as a strided view (no copy). The view is valid until the next `append`: rows
    move to the front of the block when it fills up. Rows are kept raw as well, so a new
    model's normalisation can be applied to the window already held (`renormalise`).
    """

    def __init__(self, window: int, channels: int, capacity: int = 0) -> None:
        if window < 1 or channels < 1:
            raise ValueError("window and channels must be at least 1")
        self.window = window
        self.channels = channels
        # Room for an eighth of a window of new rows past the window-1 kept: rows move to the
        # front once per that many rows (a copy of window-1 rows), and an entity holds about
        # 1.7x its raw window (float64 raw + float32 normalised). A batch larger than the
        # room grows the arrays, for that entity alone.
        size = max(capacity, window + max(8, window // 8))
        self._normalised = np.zeros((size, channels), dtype=np.float32)
        self._raw = np.zeros((size, channels), dtype=np.float64)
        self._offsets = np.zeros(size, dtype=np.int64)
        self._end = 0
        # Rows appended since the entity was first seen (or as restored), for readiness.
        self.count = 0

    def append(
        self, raw: Float64Array, normalised: Float32Array, offsets: IntArray
    ) -> tuple[int, Float32Array]:
        """Add rows; return (index of the first row whose window is full, those windows).

        The windows have shape (ready rows, window, channels), ready rows being the appended
        rows from that index on; rows before it are still filling the first window.
        """
        n = len(raw)
        keep = self.window - 1
        if self._end + n > len(self._raw):
            self._make_room(n)
        start, stop = self._end, self._end + n
        self._raw[start:stop] = raw
        self._normalised[start:stop] = normalised
        self._offsets[start:stop] = offsets
        before = self.count
        self._end, self.count = stop, before + n
        first_ready = max(0, keep - before)
        if first_ready >= n:
            return n, np.empty((0, self.window, self.channels), dtype=np.float32)
        block = self._normalised[start + first_ready - keep : stop]
        view = np.lib.stride_tricks.sliding_window_view(block, self.window, axis=0)
        return first_ready, view.transpose(0, 2, 1)

    def _make_room(self, incoming: int) -> None:
        keep = min(self.window - 1, self._end)
        needed = keep + incoming
        if needed > len(self._raw):
            grown = max(needed, 2 * len(self._raw))
            self._raw = _resized(self._raw, grown, self._end - keep, self._end)
            self._normalised = _resized(self._normalised, grown, self._end - keep, self._end)
            self._offsets = _resized(self._offsets, grown, self._end - keep, self._end)
        else:
            tail = slice(self._end - keep, self._end)
            self._raw[:keep] = self._raw[tail]
            self._normalised[:keep] = self._normalised[tail]
            self._offsets[:keep] = self._offsets[tail]
        self._end = keep

    def newest_raw(self, rows: int) -> Float64Array:
        """The newest `rows` raw rows (fewer when fewer are held), oldest first; a view."""
        return self._raw[max(self._end - rows, 0) : self._end]

    def held_raw(self) -> Float64Array:
        """The raw rows of the current window (at most window - 1 of them are kept)."""
        keep = min(self.window - 1, self._end, self.count)
        return self._raw[self._end - keep : self._end].copy()

    def held_offsets(self) -> IntArray:
        """Source offsets of the rows `held_raw()` returns, in the same order."""
        keep = min(self.window - 1, self._end, self.count)
        return self._offsets[self._end - keep : self._end].copy()

    def window_start_offset(self) -> int | None:
        """Source offset of the oldest row a future window needs; None if none is held."""
        keep = min(self.window - 1, self._end, self.count)
        return int(self._offsets[self._end - keep]) if keep else None

    def renormalise(self, normalised: Float32Array) -> None:
        """Replace the held rows' normalised values (same count as `held_raw()`)."""
        keep = len(normalised)
        self._normalised[self._end - keep : self._end] = normalised


def _resized(array: A, size: int, start: int, stop: int) -> A:
    out = np.zeros((size, *array.shape[1:]), dtype=array.dtype)
    out[: stop - start] = array[start:stop]
    return out  # type: ignore[return-value]
