"""Cold start in the stream: an entity with no model learns its own from its first readings.

With `ANOMSTREAM_WORKER_UNKNOWN_ENTITY=learn`, the readings of an entity that the models
folder knows nothing of are held, unscored, until `COLD_START_ROWS` of them have come (its
probation). A model is then trained on exactly those rows, as `anomstream train --cold-start
N` trains on a stream's first N rows, saved as the entity's own version under the models
folder, and the entity is scored from its next reading on, its first windows reaching back
into the probation's last rows (offline: `score_series(..., context=...)`).

The held rows are not in the snapshot: like a window's rows, they are read again from Kafka,
from the probation's first offset, when a partition is restored. Training is deterministic,
so a worker killed after saving the model but before committing learns the same rows again;
it then finds that version (same training-data hash) and serves it instead of saving a twin.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.base import DetectorError
from detectors.pipeline import TrainConfig, data_hash, save_trained, train
from stream_app.entity_state import (
    EntityState,
    PendingRows,
    RowQueue,
    channel_order,
    in_channel_order,
    snapshot_keys,
)
from stream_app.ingest import Rows
from stream_app.model_store import ModelStore
from stream_app.settings import AlertPolicy

__all__ = ["Probation", "graduate"]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass
class Probation(RowQueue):
    """An entity learning its model: the rows held so far and where they came from."""

    dataset: str
    entity: str
    topic: str
    partition: int
    channels: tuple[str, ...]  # the first reading's, in its order: the model's
    chunks: list[FloatArray] = field(default_factory=list)
    offsets: list[IntArray] = field(default_factory=list)
    held: int = 0

    def in_model_order(self, rows: Rows) -> FloatArray | list[float] | str:
        """The rows in the probation's channel order, or why they do not fit it."""
        return in_channel_order(
            rows, self.channels, f"the probation of {self.dataset}/{self.entity}"
        )

    def hold(self, values: FloatArray, offset: int | IntArray) -> None:
        """Keep rows (in channel order) for training."""
        self.chunks.append(values)
        self.offsets.append(np.broadcast_to(np.asarray(offset, dtype=np.int64), len(values)))
        self.held += len(values)

    def take(self, wanted: int) -> list[PendingRows]:
        """Move this cycle's pending rows into the held ones until `wanted` are held; the
        rows beyond come back as pending rows of their messages (leading rows skipped)."""
        leftover: list[PendingRows] = []
        for pending in self.pending:
            room = wanted - self.held
            if room <= 0:
                leftover.append(pending)
                continue
            values = pending.values
            array = np.array([values], dtype=np.float64) if isinstance(values, list) else values
            used = min(room, pending.count)
            self.hold(array[:used], pending.offset)
            self.last_seq = pending.first_seq + used - 1
            if used < pending.count:
                leftover.append(
                    PendingRows(
                        pending.rows,
                        array[used:],
                        pending.count - used,
                        pending.skip + used,
                        pending.message,
                    )  # fmt: skip
                )
        self.pending = []
        return leftover

    def rows(self, count: int) -> tuple[FloatArray, IntArray]:
        """The first `count` held rows and their source offsets."""
        values = np.concatenate(self.chunks) if self.chunks else np.empty((0, len(self.channels)))
        offsets = np.concatenate(self.offsets) if self.offsets else np.empty(0, dtype=np.int64)
        return values[:count], offsets[:count]

    def restart(self) -> None:
        """Forget the held rows (training failed): the next rows start a new probation."""
        self.chunks, self.offsets, self.held = [], [], 0

    def first_offset(self) -> int | None:
        return int(self.offsets[0][0]) if self.held else None

    def snapshot(self) -> dict[str, Any]:
        """What a restore needs: the restore re-reads the held rows from `first offset`."""
        return {
            **snapshot_keys(self.topic, self.partition, self.dataset, self.entity),
            "last_seq": self.last_seq,
            "count": self.held,
            "window": None,
            "window_start_offset": self.first_offset(),
            "model": None,
            "alert": None,
            "adaptive": None,
            "probation": {"channels": list(self.channels), "held": self.held},
        }

    @classmethod
    def restored(cls, snap: dict[str, Any], topic: str, partition: int) -> Probation:
        channels = tuple(str(c) for c in snap["probation"]["channels"])
        return cls(str(snap["dataset"]), str(snap["entity"]), topic, partition, channels)


def graduate(
    probation: Probation,
    rows: int,
    store: ModelStore,
    config: TrainConfig,
    policy: AlertPolicy,
) -> EntityState:
    """The entity's state once its probation's first `rows` rows have trained its model.

    An own model already in the folder is served instead of training one: the same rows'
    model saved before a crash (same training-data hash), or one a person trained meanwhile.
    """
    dataset, entity = probation.dataset, probation.entity
    values, offsets = probation.rows(rows)
    model = store.own_model(dataset, entity)
    if model is not None:
        same = model.model.train_hash == data_hash(values)
        log.info(
            "%s/%s: probation over; serving %s, %s",
            dataset, entity, model.path,
            "learnt from these same readings before a restart" if same
            else "a model trained for it meanwhile",
        )  # fmt: skip
    else:
        started = time.perf_counter()
        trained = train(values, config)
        path = save_trained(
            store.root, trained, dataset=dataset, entity=entity, channels=probation.channels
        )
        model = store.adopt(dataset, entity, path)
        log.info(
            "%s/%s: learnt %s from its first %d readings (seq %d..%d) in %.2fs, threshold "
            "%.4g; saved %s",
            dataset, entity, config.detector, rows, probation.last_seq - rows + 1,
            probation.last_seq, time.perf_counter() - started, model.threshold, path,
        )  # fmt: skip
    state = EntityState.create(dataset, entity, probation.topic, probation.partition, model, policy)
    keep = model.window - 1
    if keep > 0:
        order = channel_order(probation.channels, model.channels, f"the model at {model.path}")
        if isinstance(order, str):
            raise DetectorError(f"cannot serve {dataset}/{entity}: {order}")
        tail = values[-keep:] if order is None else values[-keep:, order]
        # The first windows reach back into the probation, as offline scoring's context.
        state.buffer.append(tail, model.model.normalizer.transform(tail), offsets[-keep:])
    state.last_seq = probation.last_seq
    state.last_seen = probation.last_seen
    return state
