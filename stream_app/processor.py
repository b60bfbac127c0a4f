"""One cycle of the worker, without Kafka: messages in; scores, alerts, dead letters out.

Messages are checked and queued per entity, each entity's new rows go into its window in
one step, the ready windows are scored in one detector call per model (entities sharing a
dataset model are scored together), and alert state advances score by score. The engine
publishes the outputs and the entities' snapshots in one Kafka transaction with the
offsets, so a restart continues exactly where the committed outputs end.

Nothing an entity's data or model does can stop the cycle: an entity whose scoring fails
has its messages dead-lettered (`internal`, with the error) and starts afresh.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from detectors.adaptive import adapt
from detectors.base import DetectorError
from detectors.pipeline import contribution_rows
from stream_app.entity_state import EntityState, PendingRows, RowQueue
from stream_app.ingest import IngestError, Rows, parse_readings
from stream_app.messages import InMessage, OutMessage
from stream_app.model_store import ActiveModel, ModelStore
from stream_app.outputs import CycleScores, Outputs
from stream_app.probation import Probation, graduate
from stream_app.scoring import (
    new_windows,
    normalised_group,
    picked_rows,
    score_in_chunks,
    top_channels,
)
from stream_app.settings import AlertPolicy, WorkerSettings

__all__ = ["CycleResult", "InMessage", "Processor", "dataset_of_topic"]

log = logging.getLogger(__name__)

Float32Array = npt.NDArray[np.float32]
Float64Array = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
# An entity's pending rows: raw, normalised, and each row's source offset.


@dataclass
class CycleResult:
    """What a cycle produced and what happened, for the engine and the metrics."""

    outputs: list[OutMessage] = field(default_factory=list)
    dead_letters: Counter[str] = field(default_factory=Counter)
    # (reason, entity or "?") -> dead letters, and the first detail per reason: for the log.
    dead_letter_entities: Counter[tuple[str, str]] = field(default_factory=Counter)
    dead_letter_examples: dict[str, str] = field(default_factory=dict)
    # Per dataset: readings accepted, readings scored.
    readings: Counter[str] = field(default_factory=Counter)
    scored: Counter[str] = field(default_factory=Counter)
    gaps: int = 0
    # (source timestamp in ms, number of scores) per scored message, for latency.
    arrivals: list[tuple[int, int]] = field(default_factory=list)
    # (dataset, detector, seconds, windows) per detector call.
    detector_calls: list[tuple[str, str, float, int]] = field(default_factory=list)
    # Alerts resolved because their entity went silent.
    stale_resolved: int = 0
    # Entities whose probation ended with a model of their own this cycle.
    learned: int = 0


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
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.settings = settings
        self.policy = policy
        self.clock = clock
        self.monotonic = monotonic
        self.entities: dict[tuple[str, str], EntityState] = {}
        # Entities learning their own model (UNKNOWN_ENTITY=learn), until they graduate.
        self.probations: dict[tuple[str, str], Probation] = {}
        self.out = Outputs(
            settings.state_topic_name(), policy.top_channels, settings.deadletter_max_raw_bytes
        )
        self._failed_logged: set[tuple[str, str, str]] = set()

    # -- the cycle ---------------------------------------------------------------------

    def process(self, messages: Iterable[InMessage]) -> CycleResult:
        result = CycleResult()
        ingested_at = self.clock()
        seen_at = self.monotonic()
        touched: dict[tuple[str, str], EntityState] = {}
        learning: dict[tuple[str, str], Probation] = {}
        for message in messages:
            state = self._queue(message, result)
            if state is None:
                continue
            state.last_seen = seen_at
            if isinstance(state, Probation):
                learning[(state.dataset, state.entity)] = state
            else:
                touched[(state.dataset, state.entity)] = state
        for key, probation in learning.items():
            graduated = self._advance(probation, result)
            if graduated is not None:
                touched[key] = graduated
            elif self.probations.get(key) is probation:
                result.outputs.append(self.out.probation(probation))
        groups: dict[int, list[EntityState]] = defaultdict(list)
        for state in touched.values():
            groups[id(state.model)].append(state)
        for states in groups.values():
            self._score_group(states, ingested_at, result)
        for key, state in touched.items():
            if self.entities.get(key) is state:  # not dropped by a failure
                result.outputs.append(self.out.snapshot(state))
        return result

    def resolve_stale(self) -> CycleResult:
        """Resolve the open alerts of entities with no reading for the policy's silence."""
        result = CycleResult()
        silence = self.policy.stale_after_s
        if silence <= 0:
            return result
        cutoff = self.monotonic() - silence
        emitted_at = self.clock()
        for state in self.entities.values():
            if not state.tracker.is_open or state.last_seen > cutoff:
                continue
            step = state.tracker.resolve_stale()
            if step is None:
                continue
            log.info(
                "%s/%s: alert %s resolved as stale (no reading for %.0fs of wall time)",
                state.dataset, state.entity, step.alert_id, silence,
            )  # fmt: skip
            result.outputs.append(self.out.alert(state, step, emitted_at))
            result.outputs.append(self.out.snapshot(state))
            result.stale_resolved += 1
        return result

    def _dead(
        self,
        message: InMessage,
        kind: str,
        reason: str,
        result: CycleResult,
        entity: str = "?",
    ) -> None:
        result.dead_letters[kind] += 1
        result.dead_letter_entities[(kind, entity)] += 1
        result.dead_letter_examples.setdefault(kind, reason)
        result.outputs.append(self.out.dead_letter(message, f"{kind}: {reason}", self.clock()))

    def _queue(self, message: InMessage, result: CycleResult) -> EntityState | Probation | None:
        try:
            rows = parse_readings(message.value, self.settings.max_reading_bytes)
        except IngestError as exc:
            self._dead(message, exc.kind, str(exc), result)
            return None
        topic_dataset = dataset_of_topic(message.topic)
        entity = rows.entity
        if topic_dataset is not None and rows.dataset != topic_dataset:
            reason = f"dataset {rows.dataset!r} on the topic of {topic_dataset!r}"
            self._dead(message, "dataset_mismatch", reason, result, entity)
            return None
        state: EntityState | Probation | None = self._state_for(rows, message)
        if state is None and self.settings.unknown_entity == "learn":
            state = self._probation_for(rows, message)
        if state is None:
            policy = self.settings.unknown_entity
            reason = f"no model for {rows.dataset}/{entity} (policy {policy})"
            self._dead(message, "no_model", reason, result, entity)
            return None
        values = state.in_model_order(rows)
        if isinstance(values, str):
            self._dead(message, "channels", values, result, entity)
            return None
        skip = self._seq_check(state, rows, message, result)
        if skip >= len(rows):
            return None
        result.readings[rows.dataset] += len(rows) - skip
        state.pending.append(
            PendingRows(
                rows, values if skip == 0 else values[skip:], len(rows) - skip, skip, message
            )
        )
        return state

    def _seq_check(
        self, state: RowQueue, rows: Rows, message: InMessage, result: CycleResult
    ) -> int:
        """How many leading rows cannot be taken (dead-lettered); counts gaps."""
        last = state.pending_last_seq
        first, end = rows.first_seq, rows.first_seq + len(rows) - 1
        if last < 0 or first == last + 1:
            return 0
        if first > last + 1:
            if first - last > self.settings.max_seq_jump and first != state.jump_candidate:
                # One wild seq must not carry the entity off: every later good reading
                # would look late. A reading that continues from it shows the jump is real.
                state.jump_candidate = end + 1
                reason = (
                    f"seq {first} jumps {first - last} past the last seq {last} "
                    f"(limit ANOMSTREAM_WORKER_MAX_SEQ_JUMP={self.settings.max_seq_jump})"
                )
                self._dead(message, "seq_jump", reason, result, rows.entity)
                return len(rows)
            if first == state.jump_candidate:
                log.warning(
                    "%s/%s: seq jumps from %d to %d, confirmed by the next reading",
                    rows.dataset, rows.entity, last, first,
                )  # fmt: skip
            state.jump_candidate = -1
            result.gaps += 1
            log.debug("%s/%s: seq jumps from %d to %d", rows.dataset, rows.entity, last, first)
            return 0
        if end < last:
            reason = f"seq {first}..{end} arrived after seq {last}"
            self._dead(message, "out_of_order", reason, result, rows.entity)
            return len(rows)
        reason = f"seq {first}..{min(end, last)} already received (last {last})"
        if end > last:
            reason += f"; seq {last + 1}..{end} kept"
        self._dead(message, "duplicate", reason, result, rows.entity)
        return last - first + 1

    def _state_for(self, rows: Rows, message: InMessage) -> EntityState | None:
        key = (rows.dataset, rows.entity)
        state = self.entities.get(key)
        if state is not None or key in self.probations:
            return state
        model = self.store.for_entity(rows.dataset, rows.entity)
        if model is None:
            return None
        state = EntityState.create(
            rows.dataset, rows.entity, message.topic, message.partition, model, self.policy
        )
        self.entities[key] = state
        return state

    # -- cold start ------------------------------------------------------------------

    def _probation_for(self, rows: Rows, message: InMessage) -> Probation:
        key = (rows.dataset, rows.entity)
        probation = self.probations.get(key)
        if probation is None:
            probation = Probation(
                rows.dataset, rows.entity, message.topic, message.partition, rows.channels
            )
            self.probations[key] = probation
            config = self.settings.cold_start_config()
            log.info(
                "%s/%s has no model: learning %s (window %d) from its first %d readings",
                rows.dataset, rows.entity, config.detector, config.window,
                self.settings.cold_start_rows,
            )  # fmt: skip
        return probation

    def _advance(self, probation: Probation, result: CycleResult) -> EntityState | None:
        """Hold this cycle's rows; once the probation is full, the entity's new state, with
        the rows beyond it pending for scoring in this cycle."""
        wanted = self.settings.cold_start_rows
        leftover = probation.take(wanted)
        if probation.held < wanted:
            return None
        key = (probation.dataset, probation.entity)
        try:
            state = graduate(
                probation, wanted, self.store, self.settings.cold_start_config(), self.policy
            )
        except Exception as exc:  # noqa: BLE001 - whatever the data does to training
            reason = (
                f"learning a model for {probation.dataset}/{probation.entity} failed: "
                f"{type(exc).__name__}: {exc}"
            )
            seen = (probation.dataset, probation.entity, type(exc).__name__)
            if seen not in self._failed_logged:
                self._failed_logged.add(seen)
                log.error("%s; it learns again from its next readings", reason, exc_info=exc)
            for pending in leftover:
                self._dead(pending.message, "internal", reason, result, probation.entity)
                result.readings[probation.dataset] -= pending.count
                probation.last_seq = pending.first_seq + pending.count - 1
            probation.restart()
            return None
        del self.probations[key]
        self.entities[key] = state
        state.pending = leftover
        result.learned += 1
        return state

    # -- scoring ---------------------------------------------------------------------

    def _score_group(
        self, states: list[EntityState], ingested_at: str, result: CycleResult
    ) -> None:
        """Score the entities sharing one model in one detector call; if that call fails,
        each entity alone, so that one bad entity does not take the others with it.

        A plain model's call gives scores; an adaptive model's gives contributions, which
        each entity then judges against its own statistics (`score_windows`'s rule)."""
        model = states[0].model
        prepared: list[tuple[EntityState, list[int], Float32Array, BoolArray | None]] = []
        for state, rows in zip(states, normalised_group(model, states), strict=True):
            try:
                positions, windows, flags = new_windows(state, rows, self.settings.stride)
            except Exception as exc:  # noqa: BLE001 - see _fail
                self._fail(state, exc, result)
                continue
            prepared.append((state, positions, windows, flags))
        with_windows = [w for _, _, w, _ in prepared if len(w)]
        outputs: list[Float64Array | None]
        try:
            if not with_windows:
                outputs = [np.empty(0) for _ in prepared]
            else:
                joined = with_windows[0] if len(with_windows) == 1 else np.concatenate(with_windows)
                everything = self._timed_call(model, joined, result)
                bounds = np.cumsum([0] + [len(w) for _, _, w, _ in prepared])
                outputs = [everything[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        except Exception:  # noqa: BLE001 - retried per entity below
            outputs = [None] * len(prepared)
        for (state, positions, windows, flags), part in zip(prepared, outputs, strict=True):
            try:
                if part is None:
                    part = self._timed_call(model, windows, result) if len(windows) else None
                channel_scores = None
                if part is not None and model.model.adaptation is not None and len(part):
                    if state.adaptive is None:
                        raise DetectorError("adaptive model without the entity's statistics")
                    part, channel_scores = adapt(
                        part, state.adaptive, model.model.adaptation, model.threshold,
                        channel_scores=self.policy.top_channels > 0,
                    )  # fmt: skip
                health = model.model.health
                if part is not None and flags is not None and health is not None:
                    part, channel_scores = health.apply(
                        part, flags, model.threshold, channel_scores
                    )
                self._finish(
                    state, positions, part, windows, channel_scores, ingested_at, result, flags
                )
            except Exception as exc:  # noqa: BLE001 - see _fail
                self._fail(state, exc, result)

    def _timed_call(
        self, model: ActiveModel, windows: Float32Array, result: CycleResult
    ) -> Float64Array:
        """Scores of the windows, or an adaptive model's contributions (n, C)."""
        started = time.perf_counter()
        if model.model.adaptation is None:
            out = score_in_chunks(model.model.detector, windows)
        else:
            out = contribution_rows(model.model.detector, windows)
        seconds = time.perf_counter() - started
        result.detector_calls.append((model.dataset, model.detector, seconds, len(windows)))
        if not np.isfinite(out).all():
            raise DetectorError(f"{model.detector} {model.version} returned non-finite scores")
        return out

    def _fail(self, state: EntityState, exc: Exception, result: CycleResult) -> None:
        """An entity's scoring failed: dead-letter its messages, forget its state."""
        reason = f"scoring {state.dataset}/{state.entity} failed: {type(exc).__name__}: {exc}"
        seen = (state.dataset, state.entity, type(exc).__name__)
        if seen not in self._failed_logged:  # once per entity and kind of failure
            self._failed_logged.add(seen)
            log.error("%s; its messages are dead-lettered (internal)", reason, exc_info=exc)
        for pending in state.pending:
            self._dead(pending.message, "internal", reason, result, state.entity)
        result.readings[state.dataset] -= sum(p.count for p in state.pending)
        state.pending.clear()
        self.entities.pop((state.dataset, state.entity), None)

    def _finish(
        self,
        state: EntityState,
        positions: list[int],
        scores: Float64Array | None,
        windows: Float32Array,
        channel_scores: Float64Array | None,
        ingested_at: str,
        result: CycleResult,
        flags: BoolArray | None = None,
    ) -> None:
        """Scores and alert steps of one entity; added to `result` only when all are built."""
        if scores is None or not positions:
            state.last_seq = state.pending_last_seq
            state.pending.clear()
            return
        model = state.model
        verdicts = model.model.threshold.decide(scores)
        ratio, threshold = self.policy.open_ratio, model.threshold
        far_above = ratio * threshold if ratio > 0 and threshold > 0 else math.inf
        tops = top_channels(
            model, windows, verdicts, self.policy.top_channels, channel_scores, flags
        )
        scored_at = self.clock()
        # Python lists for the per-score loops: indexing numpy per element costs ~100 ns more.
        score_list: list[float] = scores.tolist()
        flag_list: list[bool] = verdicts.tolist()
        outputs: list[OutMessage] = []
        arrivals: list[tuple[int, int]] = []
        every_row = picked_rows(state.pending, positions, self.settings.stride)
        cycle = CycleScores(scores, score_list, verdicts, flag_list, tops, ingested_at, scored_at)
        outputs.extend(self.out.score_messages(state, every_row, cycle))
        for pending, picked in every_row:
            arrivals.append((pending.timestamp_ms, len(picked)))
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
                    far=score_list[index] >= far_above,
                )
                if step is not None:
                    outputs.append(self.out.alert(state, step, scored_at))
        result.outputs.extend(outputs)
        result.arrivals.extend(arrivals)
        result.scored[state.dataset] += len(positions)
        state.last_seq = state.pending_last_seq
        state.pending.clear()

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
        learning = [
            k for k, p in self.probations.items() if p.topic == topic and p.partition == partition
        ]
        for key in learning:
            del self.probations[key]
        return len(gone) + len(learning)

    def snapshots_of(self, topic: str, partition: int) -> list[OutMessage]:
        """Snapshots of every entity of a partition (to refill a recreated state topic)."""
        return [
            self.out.snapshot(s)
            for s in self.entities.values()
            if s.topic == topic and s.partition == partition
        ] + [
            self.out.probation(p)
            for p in self.probations.values()
            if p.topic == topic and p.partition == partition
        ]
