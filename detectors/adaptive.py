"""Adaptive scoring: each channel's contribution judged against its own recent past.

A detector fitted once sees a plant that drifts, restarts and changes operating point, so
its per-channel contributions (reconstruction errors, deviations) creep up and a new normal
becomes a permanent alert. Here every contribution is turned into a one-sided z-score
against an exponentially weighted mean and variance of that channel's earlier
contributions, and the score is the mean of the squared z-scores over channels (Garg et
al. 2021's dynamic Gaussian scoring, applied to any detector's contributions).

Three rules keep an incident from teaching itself normal and a new normal from alerting
forever:

- A reading whose score is over the threshold, and the `hold` readings after the last such
  reading, are judged but not learnt from (the statistics are frozen).
- A freeze that lasts `max_freeze` readings is taken for a new normal: every reading is
  learnt again until the scores have been under the threshold for `hold` readings.
- The variance never falls below `floor` times the starting variance, so a long quiet run
  does not make the next small wobble look extreme.

The state belongs to one entity (`AdaptiveState`, JSON-able, in the stream's snapshots). The
result depends only on the order of the contributions, never on how they are split into
calls: `adapt` over a series equals `adapt` over its pieces in turn, which is what keeps the
stream's scores equal to the offline evaluator's. `adapt_reference` is the same rule one
reading at a time, kept as the specification the vectorised `adapt` is tested against.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal, Self

import numpy as np
import numpy.typing as npt

from detectors.error_scoring import ewma

__all__ = ["Adaptation", "AdaptiveState", "adapt", "adapt_reference"]

FloatArray = npt.NDArray[np.float64]

# Rows per vectorised step: a freeze or thaw costs one recomputation of at most this many.
_CHUNK = 512


@dataclasses.dataclass(frozen=True, kw_only=True)
class Adaptation:
    """How fast the statistics follow the data (readings), JSON-able via `asdict`."""

    span: int = 2000  # EWMA span in readings: alpha = 2 / (span + 1)
    hold: int = 20  # readings after the last one over the threshold that are not learnt
    max_freeze: int = 3000  # a freeze this long is a new normal: learn again
    floor: float = 0.1  # variance floor, as a fraction of the starting variance
    # "amplitude" judges the square root of each contribution (most are squared errors, whose
    # tails would otherwise swamp the score); "energy" the contribution itself.
    scale: Literal["amplitude", "energy"] = "energy"
    # How channels' squared z-scores make one score: their mean, or the largest.
    combine: Literal["mean", "max"] = "mean"
    # EWMA span of the score itself (1 = none): a sustained anomaly outscores a lone blip.
    smooth: int = 1

    def __post_init__(self) -> None:
        if self.scale not in ("amplitude", "energy") or self.combine not in ("mean", "max"):
            raise ValueError("scale must be amplitude or energy, combine mean or max")
        if self.span < 1 or self.hold < 0 or self.max_freeze < 1 or self.smooth < 1:
            raise ValueError("span, max_freeze and smooth must be at least 1, hold at least 0")
        if not 0.0 < self.floor <= 1.0:
            raise ValueError(f"floor must lie in (0, 1], got {self.floor}")

    @property
    def alpha(self) -> float:
        return 2.0 / (self.span + 1)

    @property
    def smooth_alpha(self) -> float:
        return 2.0 / (self.smooth + 1)

    def prepare(self, contributions: npt.ArrayLike) -> FloatArray:
        """The values the statistics follow: contributions, or their square roots."""
        c = np.asarray(contributions, dtype=np.float64)
        out: FloatArray = np.sqrt(np.maximum(c, 0.0)) if self.scale == "amplitude" else c
        return out

    def reduce(self, judged: FloatArray) -> FloatArray:
        out: FloatArray = judged.max(axis=-1) if self.combine == "max" else judged.mean(axis=-1)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Adaptation:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown adaptive setting {', '.join(unknown)}; known: {sorted(known)}"
            )
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class AdaptiveState:
    """One entity's running statistics of its C contributions, and where its freeze stands."""

    mean: FloatArray  # EWMA of the contributions
    square: FloatArray  # EWMA of their squares: variance = square - mean^2
    var_floor: FloatArray
    since_flag: int = 1 << 30  # readings since the last one over the threshold
    frozen: int = 0  # readings in a row that were not learnt
    relearn: bool = False  # a freeze ran past max_freeze: learning every reading
    smoothed: float = 0.0  # the last (smoothed) score

    @classmethod
    def start(cls, contributions: npt.ArrayLike, adaptation: Adaptation) -> Self:
        """Statistics of normal contributions (n, C), e.g. a validation tail's."""
        c = adaptation.prepare(contributions)
        if c.ndim != 2 or len(c) == 0:
            raise ValueError(f"need (n, channels) contributions to start from, got {c.shape}")
        mean, var = c.mean(axis=0), c.var(axis=0)
        # A channel that never moved (var 0) still needs a scale: the overall one, or 1.
        typical = float(np.median(var[var > 0])) if np.any(var > 0) else 1.0
        var = np.where(var > 0, var, typical)
        return cls(mean, var + np.square(mean), adaptation.floor * var)

    def copy(self) -> AdaptiveState:
        return dataclasses.replace(
            self, mean=self.mean.copy(), square=self.square.copy(), var_floor=self.var_floor.copy()
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able; floats round-trip exactly through json (repr)."""
        return {
            "mean": self.mean.tolist(),
            "square": self.square.tolist(),
            "var_floor": self.var_floor.tolist(),
            "since_flag": self.since_flag,
            "frozen": self.frozen,
            "relearn": self.relearn,
            "smoothed": self.smoothed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AdaptiveState:
        mean, square, floor = (
            np.asarray(data[k], dtype=np.float64) for k in ("mean", "square", "var_floor")
        )
        if mean.ndim != 1 or not mean.shape == square.shape == floor.shape:
            raise ValueError("adaptive state arrays must be 1-D and of one length")
        return cls(
            mean,
            square,
            floor,
            since_flag=int(data["since_flag"]),
            frozen=int(data["frozen"]),
            relearn=bool(data["relearn"]),
            smoothed=float(data.get("smoothed", 0.0)),
        )

    def _std(self) -> FloatArray:
        var = np.maximum(self.square - np.square(self.mean), self.var_floor)
        out: FloatArray = np.sqrt(var)
        return out


def _judge(c: FloatArray, mean: FloatArray, std: FloatArray) -> FloatArray:
    """Per-channel squared one-sided z-scores: below-normal contributions are no evidence."""
    out: FloatArray = np.square(np.maximum((c - mean) / std, 0.0))
    return out


def adapt(
    contributions: npt.ArrayLike,
    state: AdaptiveState,
    adaptation: Adaptation,
    threshold: float,
    *,
    channel_scores: bool = False,
) -> tuple[FloatArray, FloatArray | None]:
    """Scores (n,) of contributions (n, C) in stream order, advancing `state` in place.

    `threshold` decides which readings freeze the statistics (score > threshold, as the
    model's threshold flags them; math.inf when fitting the threshold itself). With
    `channel_scores`, also the per-channel squared z-scores (n, C) whose mean is the score.
    """
    c = adaptation.prepare(contributions)
    n = len(c)
    scores = np.empty(n)
    per_channel = np.empty_like(c) if channel_scores else None
    i = 0
    while i < n:
        end = min(n, i + _CHUNK)
        if state.relearn or state.since_flag > adaptation.hold:
            i = _adapting(c, i, end, state, adaptation, threshold, scores, per_channel)
        else:
            i = _frozen(c, i, end, state, adaptation, threshold, scores, per_channel)
    return scores, per_channel


def _smoothed(raw: FloatArray, state: AdaptiveState, adaptation: Adaptation) -> FloatArray:
    """The scores' EWMA, continuing from the state's last score (raw scores when smooth=1)."""
    if adaptation.smooth == 1:
        return raw
    out: FloatArray = ewma(raw, adaptation.smooth_alpha, initial=np.float64(state.smoothed))
    return out


def _since(flags: npt.NDArray[np.bool_], since_before: int) -> npt.NDArray[np.int64]:
    """Readings since the last flag, after each row, starting from `since_before`."""
    index = np.arange(len(flags), dtype=np.int64)
    last = np.maximum.accumulate(np.where(flags, index, np.int64(-1) - since_before))
    since: npt.NDArray[np.int64] = index - last
    return since


def _adapting(
    c: FloatArray,
    i: int,
    end: int,
    state: AdaptiveState,
    adaptation: Adaptation,
    threshold: float,
    scores: FloatArray,
    per_channel: FloatArray | None,
) -> int:
    """Rows from i while each is learnt: up to the first flag (normal learning) or, while
    relearning, up to the first row `hold` readings clear of the last flag."""
    block = c[i:end]
    alpha = adaptation.alpha
    means = ewma(block, alpha, initial=state.mean)
    squares = ewma(np.square(block), alpha, initial=state.square)
    # Row k is judged by the statistics of the rows before it.
    before_mean = np.vstack([state.mean[None, :], means[:-1]])
    before_square = np.vstack([state.square[None, :], squares[:-1]])
    std = np.sqrt(np.maximum(before_square - np.square(before_mean), state.var_floor))
    judged = _judge(block, before_mean, std)
    block_scores = _smoothed(adaptation.reduce(judged), state, adaptation)
    flags = block_scores > threshold
    since = _since(flags, state.since_flag)
    if state.relearn:
        clear = np.flatnonzero(since > adaptation.hold)
        stop = int(clear[0]) + 1 if clear.size else len(block)  # rows learnt, all of them
        state.relearn = not clear.size
        learnt = stop
    else:
        flagged = np.flatnonzero(flags)
        stop = int(flagged[0]) + 1 if flagged.size else len(block)
        learnt = stop - 1 if flagged.size else stop
    scores[i : i + stop] = block_scores[:stop]
    if per_channel is not None:
        per_channel[i : i + stop] = judged[:stop]
    if learnt:
        state.mean, state.square = means[learnt - 1].copy(), squares[learnt - 1].copy()
    state.since_flag = int(since[stop - 1])
    state.smoothed = float(block_scores[stop - 1])
    if learnt < stop:  # the flagged row that ended normal learning
        state.frozen = 1
        state.relearn = state.frozen >= adaptation.max_freeze
    else:
        state.frozen = 0
    return i + stop


def _frozen(
    c: FloatArray,
    i: int,
    end: int,
    state: AdaptiveState,
    adaptation: Adaptation,
    threshold: float,
    scores: FloatArray,
    per_channel: FloatArray | None,
) -> int:
    """Rows from i judged by fixed statistics, up to the first that is learnt again (hold
    readings clear of the last flag) or the one that makes the freeze a new normal."""
    block = c[i:end]
    judged = _judge(block, state.mean, state._std())
    block_scores = _smoothed(adaptation.reduce(judged), state, adaptation)
    since = _since(block_scores > threshold, state.since_flag)
    k = np.arange(len(block))
    thaw = np.flatnonzero(since > adaptation.hold)
    renew = np.flatnonzero(
        (since <= adaptation.hold) & (state.frozen + k + 1 >= adaptation.max_freeze)
    )
    first_thaw = int(thaw[0]) if thaw.size else math.inf
    first_renew = int(renew[0]) if renew.size else math.inf
    if first_thaw == first_renew == math.inf:
        stop = len(block)
        state.frozen += stop
    elif first_thaw < first_renew:
        # This row is learnt: the statistics were fixed, so its score stands as computed.
        stop = int(first_thaw) + 1
        row = block[stop - 1]
        alpha = adaptation.alpha
        state.mean = (1 - alpha) * state.mean + alpha * row
        state.square = (1 - alpha) * state.square + alpha * np.square(row)
        state.frozen = 0
    else:
        stop = int(first_renew) + 1
        state.frozen += stop
        state.relearn = True
    scores[i : i + stop] = block_scores[:stop]
    if per_channel is not None:
        per_channel[i : i + stop] = judged[:stop]
    state.since_flag = int(since[stop - 1])
    state.smoothed = float(block_scores[stop - 1])
    return i + stop


def adapt_reference(
    contributions: npt.ArrayLike, state: AdaptiveState, adaptation: Adaptation, threshold: float
) -> FloatArray:
    """`adapt`, one reading at a time: the rule itself (slow; the tests' oracle)."""
    c = adaptation.prepare(contributions)
    alpha = adaptation.alpha
    out = np.empty(len(c))
    for t, row in enumerate(c):
        raw = float(adaptation.reduce(_judge(row, state.mean, state._std())))
        beta = adaptation.smooth_alpha
        score = (1 - beta) * state.smoothed + beta * raw
        state.smoothed = score
        out[t] = score
        state.since_flag = 0 if score > threshold else state.since_flag + 1
        if state.relearn:
            learn = True
            state.relearn = state.since_flag <= adaptation.hold
        elif state.since_flag <= adaptation.hold:
            learn = False
            state.frozen += 1
            state.relearn = state.frozen >= adaptation.max_freeze
        else:
            learn = True
        if learn:
            state.mean = (1 - alpha) * state.mean + alpha * row
            state.square = (1 - alpha) * state.square + alpha * np.square(row)
            state.frozen = 0
    return out
