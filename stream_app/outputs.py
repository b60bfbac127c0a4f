"""The worker's outgoing messages: scores, alerts, dead letters and state snapshots."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import orjson

from schemas import (
    ALERTS_TOPIC,
    DEADLETTER_TOPIC,
    Alert,
    AlertState,
    ChannelContribution,
    DeadLetter,
    encode,
    encode_score,
    encode_score_batch,
    scores_topic,
)
from stream_app.alert_tracker import AlertStep
from stream_app.messages import InMessage, OutMessage

if TYPE_CHECKING:
    from stream_app.entity_state import EntityState, PendingRows
    from stream_app.probation import Probation

__all__ = ["CycleScores", "Outputs"]

TopChannels = dict[int, list[tuple[str, float]]]
# Scores of one entity in one cycle: (pending message, [(row in message, score index)]).
Picked = list[tuple["PendingRows", Sequence[tuple[int, int]]]]


# Scores that name no channel share one empty list: most do, and orjson writes it as [].
_NONE: list[dict[str, object]] = []


@dataclass(frozen=True, slots=True)
class CycleScores:
    """One entity's scores of a cycle, as arrays and as the same values in lists (cheaper
    to index one by one), with the channels named for the anomalous ones."""

    scores: npt.NDArray[np.float64]
    score_list: list[float]
    verdicts: npt.NDArray[np.bool_]
    verdict_list: list[bool]
    tops: TopChannels
    ingested_at: str
    scored_at: str


def _consecutive(rows: Sequence[tuple[int, int]]) -> list[Sequence[tuple[int, int]]]:
    """The rows of one message split into runs of consecutive rows (with every row scored,
    the whole: checked at both ends, without walking them)."""
    if rows[-1][0] - rows[0][0] == len(rows) - 1:
        return [rows]
    parts: list[Sequence[tuple[int, int]]] = []
    start = 0
    for k in range(1, len(rows)):
        if rows[k][0] != rows[k - 1][0] + 1:
            parts.append(rows[start:k])
            start = k
    parts.append(rows[start:])
    return parts


def _channels(tops: TopChannels, index: int) -> list[dict[str, object]]:
    pairs = tops.get(index)
    if not pairs:
        return _NONE
    return [{"channel": name, "contribution": value} for name, value in pairs]


class Outputs:
    """Encodes outputs; one instance per worker (it knows the state topic)."""

    def __init__(self, state_topic: str, top_channels: int, deadletter_max_raw: int) -> None:
        self.state_topic = state_topic
        self.top_channels = top_channels
        self.deadletter_max_raw = deadletter_max_raw

    def score_messages(
        self, state: EntityState, picked: Picked, cycle: CycleScores
    ) -> list[OutMessage]:
        """One entity's scores of a cycle: each run of consecutive seqs, across messages, is
        one `ScoreBatch`, so that a cycle of single readings costs one record per entity
        rather than one per reading; a run of one reading is a `Score`. With stride > 1 no
        two scored rows are consecutive: a `Score` each."""
        out: list[OutMessage] = []
        run: Picked = []
        next_seq = -1
        for pending, rows in picked:
            for part in _consecutive(rows):
                seq = pending.first_seq + part[0][0]
                if run and seq != next_seq:
                    out.append(self._run(state, run, cycle))
                    run = []
                run.append((pending, part))
                next_seq = seq + len(part)
        if run:
            out.append(self._run(state, run, cycle))
        return out

    def _run(self, state: EntityState, run: Picked, cycle: CycleScores) -> OutMessage:
        """The scores of consecutive rows, which have consecutive score indices."""
        topic, key, model = scores_topic(state.dataset), state.entity.encode(), state.model
        first_pending, first_rows = run[0]
        start = first_rows[0][1]
        if len(run) == 1 and len(first_rows) == 1:
            rows = first_pending.rows
            at = first_pending.skip + first_rows[0][0]
            value = encode_score(
                dataset=state.dataset,
                entity=state.entity,
                seq=first_pending.first_seq + first_rows[0][0],
                event_time=rows.event_times[at],
                score=cycle.score_list[start],
                threshold=model.threshold,
                is_anomaly=cycle.verdict_list[start],
                detector=model.detector,
                model_version=model.version,
                top_channels=_channels(cycle.tops, start),
                label=rows.labels[at] if rows.labels is not None else None,
                ingested_at=cycle.ingested_at,
                scored_at=cycle.scored_at,
            )
            return OutMessage(topic, key, value)
        times: list[str] = []
        labels: list[int | None] = []
        labelled = False
        for pending, rows_picked in run:
            at = pending.skip + rows_picked[0][0]
            times.extend(pending.rows.event_times[at : at + len(rows_picked)])
            if pending.rows.labels is None:
                labels.extend([None] * len(rows_picked))
            else:
                labelled = True
                labels.extend(pending.rows.labels[at : at + len(rows_picked)])
        index = slice(start, start + len(times))
        flags = cycle.verdicts[index]
        value = encode_score_batch(
            dataset=state.dataset,
            entity=state.entity,
            first_seq=first_pending.first_seq + first_rows[0][0],
            event_times=times,
            scores=cycle.scores[index],
            is_anomaly=flags,
            labels=labels if labelled else None,
            top_channels=(
                [_channels(cycle.tops, i) for i in range(index.start, index.stop)]
                if flags.any()
                else []
            ),
            threshold=model.threshold,
            detector=model.detector,
            model_version=model.version,
            ingested_at=cycle.ingested_at,
            scored_at=cycle.scored_at,
        )
        return OutMessage(topic, key, value)

    def alert(self, state: EntityState, step: AlertStep, emitted_at: str) -> OutMessage:
        alert = Alert(
            alert_id=step.alert_id,
            dataset=state.dataset,
            entity=state.entity,
            state=AlertState(step.state),
            start_seq=step.start_seq,
            end_seq=step.end_seq,
            start_time=datetime.fromisoformat(step.start_time),
            end_time=datetime.fromisoformat(step.end_time) if step.end_time else None,
            peak_score=step.peak_score,
            threshold=state.model.threshold,
            top_channels=[
                ChannelContribution(channel=c, contribution=v) for c, v in step.top_channels
            ],
            detector=state.model.detector,
            model_version=state.model.version,
            emitted_at=datetime.fromisoformat(emitted_at),
            resolved_by=step.resolved_by,
        )
        return OutMessage(ALERTS_TOPIC, state.entity.encode(), encode(alert))

    def dead_letter(self, message: InMessage, reason: str, failed_at: str) -> OutMessage:
        """The message, its origin and why; only its head when it is over the size cap
        (base64 makes 4/3 of it, and what did not fit as a reading must fit here)."""
        raw = message.value or b""
        truncated = len(raw) > self.deadletter_max_raw
        key = message.key if message.key is None or len(message.key) <= 1024 else None
        letter = DeadLetter(
            raw=raw[: self.deadletter_max_raw] if truncated else raw,
            key=key,
            source_topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            reason=reason[:2000],
            failed_at=datetime.fromisoformat(failed_at),
            truncated=truncated,
            raw_size=len(raw) if truncated else None,
        )
        return OutMessage(DEADLETTER_TOPIC, key, encode(letter))

    def snapshot(self, state: EntityState) -> OutMessage:
        """The entity's state, to the state topic's partition of the entity's input."""
        key = f"{state.topic}|{state.entity}".encode()
        return OutMessage(self.state_topic, key, orjson.dumps(state.snapshot()), state.partition)

    def probation(self, probation: Probation) -> OutMessage:
        """A learning entity's state, under the key its snapshots keep after it graduates."""
        key = f"{probation.topic}|{probation.entity}".encode()
        return OutMessage(
            self.state_topic, key, orjson.dumps(probation.snapshot()), probation.partition
        )
