"""Rebuilding a partition's entities when the worker is assigned it: snapshots + readings.

With snapshots (the normal case), each entity's window is refilled from the readings between
the oldest row its window needs and the committed offset, so it holds exactly what an
uninterrupted run held. Without any (the state topic was deleted or never written), windows
are rebuilt from the readings before the committed offset as a first start would fill them;
alert state cannot be rebuilt that way and starts closed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from stream_app.entity_state import EntityState
from stream_app.ingest import IngestError, Rows, parse_readings
from stream_app.messages import InMessage
from stream_app.probation import Probation
from stream_app.processor import Processor

__all__ = ["rebuild_without_snapshots", "restore_from_snapshots"]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]


def restore_from_snapshots(
    processor: Processor,
    topic: str,
    partition: int,
    snapshots: dict[str, dict[str, Any]],
    history: Iterable[InMessage],
) -> int:
    """Rebuild a partition's entities from their snapshots and the readings before the
    committed offset (`history`); returns how many entities were restored."""
    states: dict[str, tuple[EntityState, dict[str, Any]]] = {}
    learning: dict[str, tuple[Probation, dict[str, Any]]] = {}
    for entity, snap in snapshots.items():
        if snap.get("probation") is not None:
            learning[entity] = (Probation.restored(snap, topic, partition), snap)
            continue
        served = Path(str(snap.get("model", ""))).parent.name or None  # .../<detector>/v<N>
        model = processor.store.for_entity(str(snap["dataset"]), entity, prefer=served)
        if model is None:
            continue
        # The statistics belong to the model version that learnt them.
        same_model = str(model.path) == str(snap.get("model", ""))
        state = EntityState.create(
            str(snap["dataset"]), entity, topic, partition, model, processor.policy,
            snap["alert"], snap.get("adaptive") if same_model else None,
        )  # fmt: skip
        states[entity] = (state, snap)
    appended = dict.fromkeys(states, -1)  # last seq put back per entity
    for message in history:
        rows = _parse(message)
        if rows is not None and rows.entity in learning:
            _hold(*learning[rows.entity], rows, message)
            continue
        found = states.get(rows.entity) if rows is not None else None
        if rows is None or found is None:
            continue
        state, snap = found
        values = _in_model_order(state, rows)
        if values is None:
            continue
        start = snap["window_start_offset"]
        if start is None or message.offset < start:
            continue
        # Only rows the worker had accepted: newer than the last put back (duplicates
        # were dead-lettered), not beyond the snapshot's last seq.
        first = max(rows.first_seq, appended[rows.entity] + 1)
        last = min(rows.first_seq + len(rows) - 1, int(snap["last_seq"]))
        if last < first:
            continue
        _append(state, values[first - rows.first_seq : last - rows.first_seq + 1], message)
        appended[rows.entity] = last
    seen_at = processor.monotonic()
    for state, snap in states.values():
        held = state.buffer.count
        needed = state.model.window - 1
        # Short of rows (retention deleted them): refill the window from live data.
        state.buffer.count = int(snap["count"]) if held >= needed else held
        state.last_seq = int(snap["last_seq"])
        state.last_seen = seen_at
        processor.entities[(state.dataset, state.entity)] = state
    for probation, snap in learning.values():
        probation.last_seq = int(snap["last_seq"])
        probation.last_seen = seen_at
        if probation.held < int(snap["count"]):
            log.warning(
                "%s/%s: %d of the %d readings its probation held are gone from %s "
                "(retention?); it goes on learning from the next ones",
                probation.dataset, probation.entity, int(snap["count"]) - probation.held,
                int(snap["count"]), topic,
            )  # fmt: skip
        processor.probations[(probation.dataset, probation.entity)] = probation
    return len(states) + len(learning)


def rebuild_without_snapshots(
    processor: Processor, topic: str, partition: int, history: Iterable[InMessage]
) -> int:
    """Rebuild windows and last seqs from readings alone (oldest first), taking each
    entity's rows in rising seq as the worker would have; returns the entities rebuilt."""
    states: dict[str, EntityState] = {}
    for message in history:
        rows = _parse(message)
        if rows is None:
            continue
        state = states.get(rows.entity)
        if state is None:
            model = processor.store.for_entity(rows.dataset, rows.entity)
            if model is None:
                continue
            state = EntityState.create(
                rows.dataset, rows.entity, topic, partition, model, processor.policy
            )
            states[rows.entity] = state
        values = _in_model_order(state, rows)
        if values is None:
            continue
        first = max(rows.first_seq, state.last_seq + 1)
        last = rows.first_seq + len(rows) - 1
        if last < first:
            continue
        _append(state, values[first - rows.first_seq :], message)
        state.last_seq = last
    seen_at = processor.monotonic()
    for state in states.values():
        state.last_seen = seen_at
        processor.entities[(state.dataset, state.entity)] = state
    return len(states)


def _hold(probation: Probation, snap: dict[str, Any], rows: Rows, message: InMessage) -> None:
    """Put back the rows a probation had held: from its first offset to its last seq."""
    start = snap["window_start_offset"]
    if start is None or message.offset < start or rows.dataset != probation.dataset:
        return
    values = probation.in_model_order(rows)
    if isinstance(values, str):
        return  # dead-lettered when it was first read
    array = np.array([values], dtype=np.float64) if isinstance(values, list) else values
    first = max(rows.first_seq, probation.last_seq + 1)
    last = min(rows.first_seq + len(rows) - 1, int(snap["last_seq"]))
    if last < first:
        return
    probation.hold(array[first - rows.first_seq : last - rows.first_seq + 1], message.offset)
    probation.last_seq = last


def _parse(message: InMessage) -> Rows | None:
    try:
        return parse_readings(message.value)
    except IngestError:
        return None  # dead-lettered when it was first read


def _in_model_order(state: EntityState, rows: Rows) -> FloatArray | None:
    """The rows as a 2-D array in the model's channel order; None if they are not its."""
    if rows.dataset != state.dataset:
        return None
    values = state.in_model_order(rows)
    if isinstance(values, str):
        return None
    if isinstance(values, list):
        return np.array([values], dtype=np.float64)
    return values


def _append(state: EntityState, values: FloatArray, message: InMessage) -> None:
    offsets = np.full(len(values), message.offset, dtype=np.int64)
    state.buffer.append(values, state.model.model.normalizer.transform(values), offsets)
