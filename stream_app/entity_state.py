"""What the worker holds per (dataset, entity): model, window, last seq, alert state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.adaptive import AdaptiveState
from stream_app.alert_tracker import AlertTracker
from stream_app.ingest import Rows
from stream_app.messages import InMessage
from stream_app.model_store import ActiveModel
from stream_app.settings import AlertPolicy
from stream_app.window_buffer import WindowBuffer

__all__ = [
    "EntityState",
    "PendingRows",
    "RowQueue",
    "channel_order",
    "in_channel_order",
    "snapshot_keys",
]

FloatArray = npt.NDArray[np.float64]


def snapshot_keys(topic: str, partition: int, dataset: str, entity: str) -> dict[str, Any]:
    """Where a snapshot's entity lives: what the restore of a partition selects it by."""
    return {"topic": topic, "partition": partition, "dataset": dataset, "entity": entity}


def channel_order(
    have: tuple[str, ...], expected: tuple[str, ...], whose: str
) -> list[int] | None | str:
    """Column indices that put channels `have` in the `expected` order (matched by name),
    None when they are in it already, or why they do not fit `whose` channels."""
    if have == expected:
        return None
    if len(have) != len(expected):
        return f"{len(have)} channels; {whose} expects {len(expected)}"
    index = {name: i for i, name in enumerate(have)}
    missing = [name for name in expected if name not in index]
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        return f"channels {whose} expects are missing: {shown}"
    return [index[name] for name in expected]


def in_channel_order(
    rows: Rows, expected: tuple[str, ...], whose: str
) -> FloatArray | list[float] | str:
    """The rows' values in the `expected` channel order, or why they do not fit."""
    order = channel_order(rows.channels, expected, whose)
    if order is None or isinstance(order, str):
        return rows.values if order is None else order
    if isinstance(rows.values, list):
        return [rows.values[i] for i in order]
    return rows.values[:, order]


@dataclass(slots=True)
class PendingRows:
    """Rows of one message queued for scoring in this cycle (already seq-checked)."""

    rows: Rows
    # In the model's channel order, rows before `skip` dropped; a list is one single row.
    values: FloatArray | list[float]
    count: int  # rows in `values`
    skip: int  # leading rows of the message that were duplicates
    message: InMessage  # where the rows came from (offset, timestamp; dead letters)

    @property
    def first_seq(self) -> int:
        return self.rows.first_seq + self.skip

    @property
    def offset(self) -> int:
        return self.message.offset

    @property
    def timestamp_ms(self) -> int:
        return self.message.timestamp_ms


@dataclass(kw_only=True)
class RowQueue:
    """What the sequence check and a cycle's queue keep per entity, scored or learning."""

    last_seq: int = -1
    pending: list[PendingRows] = field(default_factory=list)
    # When the worker last accepted a reading of the entity (monotonic seconds), for
    # resolving the alerts of entities gone silent.
    last_seen: float = 0.0
    # The seq just past a reading dead-lettered for jumping too far: a reading starting
    # there continues it, which makes the jump real.
    jump_candidate: int = -1

    @property
    def pending_last_seq(self) -> int:
        if self.pending:
            last = self.pending[-1]
            return last.rows.first_seq + len(last.rows) - 1
        return self.last_seq


@dataclass
class EntityState(RowQueue):
    """One entity's live state; `snapshot()` is what survives a restart with the offsets."""

    dataset: str
    entity: str
    topic: str
    partition: int
    model: ActiveModel
    buffer: WindowBuffer
    tracker: AlertTracker
    # An adaptive model's running statistics for this entity (None for a plain model).
    adaptive: AdaptiveState | None = None

    @classmethod
    def create(
        cls, dataset: str, entity: str, topic: str, partition: int, model: ActiveModel,
        policy: AlertPolicy, alert_state: dict[str, Any] | None = None,
        adaptive_state: dict[str, Any] | None = None,
    ) -> EntityState:  # fmt: skip
        """A new entity's state; `adaptive_state` (a snapshot's) is used only if it fits the
        model, else the entity starts from the model's own start state."""
        adaptive = model.model.start_state()
        if adaptive is not None and adaptive_state is not None:
            saved = AdaptiveState.from_dict(adaptive_state)
            if saved.mean.shape == adaptive.mean.shape:
                adaptive = saved
        return cls(
            dataset=dataset,
            entity=entity,
            topic=topic,
            partition=partition,
            model=model,
            buffer=WindowBuffer(model.window, len(model.channels)),
            tracker=AlertTracker(f"{dataset}/{entity}", policy, alert_state),
            adaptive=adaptive,
        )

    def pending_values(self) -> tuple[FloatArray, npt.NDArray[np.int64]]:
        """This cycle's rows as one (n, C) array, with each row's source offset."""
        parts: list[FloatArray] = []
        singles: list[list[float]] = []
        for p in self.pending:
            if isinstance(p.values, list):
                singles.append(p.values)
                continue
            if singles:
                parts.append(np.array(singles, dtype=np.float64))
                singles = []
            parts.append(p.values)
        if singles:
            parts.append(np.array(singles, dtype=np.float64))
        values = parts[0] if len(parts) == 1 else np.concatenate(parts)
        offsets = np.repeat(
            np.array([p.offset for p in self.pending], dtype=np.int64),
            [p.count for p in self.pending],
        )
        return values, offsets

    def in_model_order(self, rows: Rows) -> FloatArray | list[float] | str:
        """The rows' values in the model's channel order, or why they do not fit it."""
        model = self.model
        whose = f"the model for {self.dataset}/{self.entity} ({model.detector} {model.version})"
        return in_channel_order(rows, model.channels, whose)

    def swap_model(self, model: ActiveModel) -> None:
        """Serve a new model version, keeping the window held so far (renormalised)."""
        held = self.buffer.held_raw()
        held_offsets = self.buffer.held_offsets()
        count = self.buffer.count
        if model.window != self.buffer.window or len(model.channels) != self.buffer.channels:
            self.buffer = WindowBuffer(model.window, len(model.channels))
            keep = max(model.window - 1, 0)
            start = max(len(held) - keep, 0)
            held, held_offsets = held[start:], held_offsets[start:]
            if held.shape[1] == len(model.channels) and len(held):
                # The rows keep their source offsets: a restart re-reads from the oldest.
                self.buffer.append(held, model.model.normalizer.transform(held), held_offsets)
            self.buffer.count = len(held) if len(held) < model.window - 1 else count
        elif len(held):
            self.buffer.renormalise(model.model.normalizer.transform(held))
        # Another model's contributions live on another scale: start from its statistics.
        self.adaptive = model.model.start_state()
        self.model = model

    def snapshot(self) -> dict[str, Any]:
        return {
            **snapshot_keys(self.topic, self.partition, self.dataset, self.entity),
            "last_seq": self.last_seq,
            "count": self.buffer.count,
            "window": self.buffer.window,
            "window_start_offset": self.buffer.window_start_offset(),
            "model": str(self.model.path),
            "alert": self.tracker.state(),
            "adaptive": None if self.adaptive is None else self.adaptive.to_dict(),
        }
