"""One PNG per entity: signal, score against threshold, labels and detections."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers or in CI

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402

__all__ = ["label_runs", "plot_entity"]

# More channels than this turn the signal panel into noise; the top contributors are shown.
MAX_CHANNELS = 4


def label_runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """(start, end) index pairs of the runs of True, end exclusive."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def plot_entity(
    path: Path,
    *,
    title: str,
    values: npt.NDArray[np.float64],
    channels: list[str],
    scores: npt.NDArray[np.float64],
    threshold: float,
    labels: npt.NDArray[np.int8],
    predictions: npt.NDArray[np.bool_],
    channel_order: list[int] | None = None,
) -> Path:
    """Write the figure to `path` and return it."""
    shown = (channel_order or list(range(len(channels))))[:MAX_CHANNELS]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(14, 6), sharex=True)
    x = np.arange(len(scores))
    for index in shown:
        column = values[:, index]
        spread = np.nanstd(column) or 1.0
        top.plot(x, (column - np.nanmean(column)) / spread, lw=0.6, label=channels[index])
    top.set_ylabel("signal (z)")
    top.legend(loc="upper right", fontsize=7, ncol=len(shown))
    bottom.plot(x, scores, lw=0.7, color="black", label="score")
    bottom.axhline(threshold, color="tab:orange", lw=1, ls="--", label="threshold")
    for axis in (top, bottom):
        for start, end in label_runs(labels.astype(bool)):
            axis.axvspan(start, end, color="tab:red", alpha=0.15, lw=0)
    hits = np.flatnonzero(predictions)
    bottom.scatter(hits, scores[hits], s=4, color="tab:blue", label="detected", zorder=3)
    finite = scores[np.isfinite(scores)]
    if len(finite):
        top_value = max(np.quantile(finite, 0.999), threshold) * 1.5
        bottom.set_ylim(min(finite.min(), 0), top_value)
    bottom.set_ylabel("score")
    bottom.set_xlabel("row (test split); red = labelled anomaly")
    bottom.legend(loc="upper right", fontsize=7, ncol=3)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
