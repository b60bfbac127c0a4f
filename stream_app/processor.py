"""One cycle of the worker, without Kafka: messages in; scores, alerts, dead letters out.

Messages are checked and queued per entity, each entity's new rows go into its window in
one step, the ready windows are scored in one detector call per model (entities sharing a
dataset model are scored together), and alert state advances score by score. The engine
publishes the outputs and the entities' snapshots in one Kafka transaction with the
offsets, so a restart continues exactly where the committed outputs end.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.base import DetectorError
from stream_app.entity_state import EntityState, PendingRows
from stream_app.ingest import IngestError, Rows, parse_readings
from stream_app.model_store import ActiveModel, ModelStore
from stream_app.outputs import OutMessage, Outputs
from stream_app.settings import AlertPolicy, WorkerSettings

__all__ = ["CycleResult", "InMessage", "Processor", "dataset_of_topic"]

log = logging.getLogger(__name__)

Float32Array = npt.NDArray[np.float32]
_SCORE_CHUNK = 8192


@dataclass(slots=True)
class InMessage:
    """A consumed record: where it came from and its bytes."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int


@dataclass
class CycleResult:
    """What a cycle produced and what happened, for the engine and the metrics."""

    outputs: list[OutMessage] = field(default_factory=list)
    dead_letters: Counter[str] = field(default_factory=Counter)
    # Per dataset: readings accepted, readings scored.
    readings: Counter[str] = field(default_factory=Counter)
    scored: Counter[str] = field(default_factory=Counter)
    gaps: int = 0
    # (source timestamp in ms, number of scores) per scored message, for latency.
    arrivals: list[tuple[int, int]] = field(default_factory=list)
    # (model key, seconds, windows) per detector call.
    detector_calls: list[tuple[str, float, int]] = field(default_factory=list)


def dataset_of_topic(topic: str) -> str | None:
    prefix, _, rest = topic.partition(".")
    return rest if prefix == "readings" and rest else None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Processor:
    """Holds the entities' states and turns a list of messages into outputs."""

    def __init__(
        self,
        store: ModelStore,
        settings: WorkerSettings,
        policy: AlertPolicy,
        clock: Callable[[], str] = _now,
    ) -> None:
        self.store = store
        self.settings = settings
        self.policy = policy
        self.clock = clock
        self.entities: dict[tuple[str, str], EntityState] = {}
        self.out = Outputs(settings.state_topic_name(), policy.top_channels)

    # -- the cycle ---------------------------------------------------------------------

    def process(self, messages: Iterable[InMessage]) -> CycleResult:
        result = CycleResult()
        ingested_at = self.clock()
        touched: dict[tuple[str, str], EntityState] = {}
        for message in messages:
            state = self._queue(message, result)
            if state is not None:
                touched[(state.dataset, state.entity)] = state
        groups: dict[int, list[EntityState]] = defaultdict(list)
        for state in touched.values():
            groups[id(state.model)].append(state)
        for states in groups.values():
            self._score_group(states, ingested_at, result)
        for state in touched.values():
            result.outputs.append(self.out.snapshot(state))
        return result

    def _dead(self, message: InMessage, kind: str, reason: str, result: CycleResult) -> None:
        result.dead_letters[kind] += 1
        result.outputs.append(self.out.dead_letter(message, f"{kind}: {reason}", self.clock()))

    def _queue(self, message: InMessage, result: CycleResult) -> EntityState | None:
        try:
            rows = parse_readings(message.value)
        except IngestError as exc:
            self._dead(message, exc.kind, str(exc), result)
            return None
        topic_dataset = dataset_of_topic(message.topic)
        if topic_dataset is not None and rows.dataset != topic_dataset:
            reason = f"dataset {rows.dataset!r} on the topic of {topic_dataset!r}"
            self._dead(message, "dataset_mismatch", reason, result)
            return None
        state = self._state_for(rows, message)
        if state is None:
            policy = self.settings.unknown_entity
            reason = f"no model for {rows.dataset}/{rows.entity} (policy {policy})"
            self._dead(message, "no_model", reason, result)
            return None
        values = state.in_model_order(rows)
        if isinstance(values, str):
            self._dead(message, "channels", values, result)
            return None
        skip = self._seq_check(state, rows, message, result)
        if skip >= len(rows):
            return None
        result.readings[rows.dataset] += len(rows) - skip
        state.pending.append(
            PendingRows(
                rows,
                values if skip == 0 else values[skip:],
                len(rows) - skip,
                skip,
                message.offset,
                message.timestamp_ms,
            )
        )
        return state

    def _seq_check(
        self, state: EntityState, rows: Rows, message: InMessage, result: CycleResult
    ) -> int:
        """How many leading rows were seen already (dead-lettered); counts gaps."""
        last = state.pending_last_seq
        first, end = rows.first_seq, rows.first_seq + len(rows) - 1
        if last < 0 or first == last + 1:
            return 0
        if first > last + 1:
            result.gaps += 1
            log.debug("%s/%s: seq jumps from %d to %d", rows.dataset, rows.entity, last, first)
            return 0
        if end < last:
            reason = f"seq {first}..{end} arrived after seq {last}"
            self._dead(message, "out_of_order", reason, result)
            return len(rows)
        reason = f"seq {first}..{min(end, last)} already received (last {last})"
        if end > last:
            reason += f"; seq {last + 1}..{end} kept"
        self._dead(message, "duplicate", reason, result)
        return last - first + 1

    def _state_for(self, rows: Rows, message: InMessage) -> EntityState | None:
        key = (rows.dataset, rows.entity)
        state = self.entities.get(key)
        if state is not None:
            return state
        model = self.store.for_entity(rows.dataset, rows.entity)
        if model is None:
            return None
        state = EntityState.create(
            rows.dataset, rows.entity, message.topic, message.partition, model, self.policy
        )
        self.entities[key] = state
        return state

    # -- scoring ---------------------------------------------------------------------

    def _score_group(
        self, states: list[EntityState], ingested_at: str, result: CycleResult
    ) -> None:
        model = states[0].model
        prepared = [self._append(state) for state in states]
        windows = [w for _, _, w in prepared if len(w)]
        if not windows:
            for state in states:
                self._finish(state, [], np.empty(0), None, ingested_at, result)
            return
        batch = windows[0] if len(windows) == 1 else np.concatenate(windows)
        started = time.perf_counter()
        scores = _score(model, batch)
        seconds = time.perf_counter() - started
        result.detector_calls.append((f"{model.dataset}/{model.owner}", seconds, len(batch)))
        start = 0
        for state, (positions, _, entity_windows) in zip(states, prepared, strict=True):
            part = scores[start : start + len(entity_windows)]
            self._finish(state, positions, part, entity_windows, ingested_at, result)
            start += len(entity_windows)

    def _append(self, state: EntityState) -> tuple[list[int], int, Float32Array]:
        """Put the pending rows into the window; (scored row positions, total, windows)."""
        values, offsets = state.pending_values()
        normalised = state.model.model.normalizer.transform(values)
        count_before = state.buffer.count
        first_ready, windows = state.buffer.append(values, normalised, offsets)
        positions = list(range(first_ready, len(values)))
        stride = self.settings.stride
        if stride > 1 and positions:
            keep = state.model.window - 1
            selected = [i for i in positions if (count_before + i - keep) % stride == 0]
            windows = windows[[i - first_ready for i in selected]]
            positions = selected
        return positions, len(values), windows

    def _finish(
        self,
        state: EntityState,
        positions: list[int],
        scores: npt.NDArray[np.float64],
        windows: Float32Array | None,
        ingested_at: str,
        result: CycleResult,
    ) -> None:
        model = state.model
        verdicts = model.model.threshold.decide(scores)
        tops = self._top_channels(model, windows, verdicts)
        scored_at = self.clock()
        # Python lists for the per-score loops: indexing numpy per element costs ~100 ns more.
        score_list: list[float] = scores.tolist()
        flag_list: list[bool] = verdicts.tolist()
        contiguous = self.settings.stride == 1
        first_ready = positions[0] if positions else 0
        by_position = {} if contiguous else dict(zip(positions, range(len(positions)), strict=True))
        row = 0
        for pending in state.pending:
            n = pending.count
            if not positions:
                picked = []
            elif contiguous:  # every row from the first ready one on is scored, in order
                start = max(row, first_ready)
                picked = [(p - row, p - first_ready) for p in range(start, row + n)]
            else:
                picked = [
                    (p - row, by_position[p]) for p in range(row, row + n) if p in by_position
                ]
            row += n
            if not picked:
                continue
            result.scored[state.dataset] += len(picked)
            result.arrivals.append((pending.timestamp_ms, len(picked)))
            result.outputs.extend(
                self.out.scores(
                    state,
                    pending,
                    picked,
                    (scores, score_list),
                    (verdicts, flag_list),
                    tops,
                    ingested_at,
                    scored_at,
                )  # fmt: skip
            )
            tracker = state.tracker
            if not tracker.is_open and not any(flag_list[picked[0][1] : picked[-1][1] + 1]):
                tracker.skip_normal(len(picked))  # nothing can open: skip the per-score steps
                continue
            first_seq, times, skip = pending.first_seq, pending.rows.event_times, pending.skip
            for local, index in picked:
                step = tracker.step(
                    first_seq + local,
                    times[skip + local],
                    score_list[index],
                    flag_list[index],
                    tops.get(index, []),
                )
                if step is not None:
                    result.outputs.append(self.out.alert(state, step, scored_at))
        state.last_seq = state.pending_last_seq
        state.pending.clear()

    def _top_channels(
        self,
        model: ActiveModel,
        windows: Float32Array | None,
        verdicts: npt.NDArray[np.bool_],
    ) -> dict[int, list[tuple[str, float]]]:
        """Top channels of the anomalous windows only: attribution costs a detector call."""
        k = self.policy.top_channels
        if windows is None or k == 0 or not verdicts.any():
            return {}
        flagged = np.flatnonzero(verdicts)
        try:
            contributions = model.model.detector.contributions(
                np.ascontiguousarray(windows[flagged])
            )
        except DetectorError:
            return {}
        names = model.channels
        out = {}
        for index, row in zip(flagged.tolist(), contributions, strict=True):
            order = np.argsort(-row)[:k]
            out[index] = [(names[i], float(row[i])) for i in order if np.isfinite(row[i])]
        return out

    # -- lifecycle -------------------------------------------------------------------

    def apply_model_swaps(self) -> list[str]:
        """Pick up new model versions; returns 'dataset/owner old->new' for each swap."""
        swaps = self.store.refresh()
        done = []
        for swap in swaps:
            for state in self.entities.values():
                if state.dataset == swap.dataset and state.model.owner == swap.owner:
                    state.swap_model(swap.new)
            done.append(f"{swap.dataset}/{swap.owner} {swap.old}->{swap.new.version}")
        return done

    def drop_partition(self, topic: str, partition: int) -> int:
        """Forget the entities of a partition this worker no longer owns."""
        gone = [
            k for k, s in self.entities.items() if s.topic == topic and s.partition == partition
        ]
        for key in gone:
            del self.entities[key]
        return len(gone)

    def restore(
        self,
        topic: str,
        partition: int,
        snapshots: dict[str, dict[str, Any]],
        history: Iterable[InMessage],
    ) -> int:
        """Rebuild a partition's entities from their snapshots and the readings before the
        committed offset (`history`), so their windows hold what an uninterrupted run held."""
        states: dict[str, tuple[EntityState, dict[str, Any]]] = {}
        for entity, snap in snapshots.items():
            model = self.store.for_entity(str(snap["dataset"]), entity)
            if model is None:
                continue
            state = EntityState.create(
                str(snap["dataset"]), entity, topic, partition, model, self.policy, snap["alert"]
            )
            states[entity] = (state, snap)
        appended = dict.fromkeys(states, -1)  # last seq put back per entity
        for message in history:
            try:
                rows = parse_readings(message.value)
            except IngestError:
                continue
            found = states.get(rows.entity)
            if found is None or rows.dataset != found[0].dataset:
                continue
            state, snap = found
            start = snap["window_start_offset"]
            if start is None or message.offset < start:
                continue
            values = state.in_model_order(rows)
            if isinstance(values, str):
                continue
            # Only rows the worker had accepted: newer than the last put back (duplicates
            # were dead-lettered), not beyond the snapshot's last seq.
            first = max(rows.first_seq, appended[rows.entity] + 1)
            last = min(rows.first_seq + len(rows) - 1, int(snap["last_seq"]))
            if last < first:
                continue
            if isinstance(values, list):
                values = np.array([values], dtype=np.float64)
            values = values[first - rows.first_seq : last - rows.first_seq + 1]
            offsets = np.full(len(values), message.offset, dtype=np.int64)
            state.buffer.append(values, state.model.model.normalizer.transform(values), offsets)
            appended[rows.entity] = last
        for state, snap in states.values():
            held = state.buffer.count
            needed = state.model.window - 1
            # Short of rows (retention deleted them): refill the window from live data.
            state.buffer.count = int(snap["count"]) if held >= needed else held
            state.last_seq = int(snap["last_seq"])
            self.entities[(state.dataset, state.entity)] = state
        return len(states)


def _score(model: ActiveModel, windows: Float32Array) -> npt.NDArray[np.float64]:
    detector = model.model.detector
    if len(windows) <= _SCORE_CHUNK:
        return detector.score(windows)
    return np.concatenate(
        [
            detector.score(windows[i : i + _SCORE_CHUNK])
            for i in range(0, len(windows), _SCORE_CHUNK)
        ]
    )
