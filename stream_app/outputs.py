"""The worker's outgoing messages: scores, alerts, dead letters and state snapshots."""

from __future__ import annotations

from collections.abc import Sequence
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

__all__ = ["Outputs"]

TopChannels = dict[int, list[tuple[str, float]]]
# Scores of one entity in one cycle: (pending message, [(row in message, score index)]).
Picked = list[tuple["PendingRows", Sequence[tuple[int, int]]]]


# Scores that name no channel share one empty list: most do, and orjson writes it as [].
_NONE: list[dict[str, object]] = []


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

    def scores(
        self,
        state: EntityState,
        pending: PendingRows,
        picked: Sequence[tuple[int, int]],
        scores: tuple[npt.NDArray[np.float64], list[float]],
        verdicts: tuple[npt.NDArray[np.bool_], list[bool]],
        tops: TopChannels,
        ingested_at: str,
        scored_at: str,
    ) -> list[OutMessage]:
        """Scores for the picked rows of one message: (row in message, index in scores).

        A single reading gives a `Score`; consecutive rows of a batch one `ScoreBatch`; rows
        that are not consecutive (stride > 1) one `Score` each. Scores and verdicts come
        as the array and the same values as a list (cheaper to index one by one).
        """
        score_array, score_list = scores
        flag_array, flag_list = verdicts
        topic, key, model = scores_topic(state.dataset), state.entity.encode(), state.model
        rows = pending.rows
        labels = rows.labels
        consecutive = picked[-1][0] - picked[0][0] == len(picked) - 1
        if len(picked) > 1 and consecutive:
            local0, index0 = picked[0]
            index = slice(index0, index0 + len(picked))
            at = pending.skip + local0
            flags = flag_array[index]
            value = encode_score_batch(
                dataset=state.dataset,
                entity=state.entity,
                first_seq=pending.first_seq + local0,
                event_times=rows.event_times[at : at + len(picked)],
                scores=score_array[index],
                is_anomaly=flags,
                labels=labels[at : at + len(picked)] if labels is not None else None,
                top_channels=[_channels(tops, i) for _, i in picked] if flags.any() else [],
                threshold=model.threshold,
                detector=model.detector,
                model_version=model.version,
                ingested_at=ingested_at,
                scored_at=scored_at,
            )
            return [OutMessage(topic, key, value)]
        out = []
        for local, i in picked:
            at = pending.skip + local
            value = encode_score(
                dataset=state.dataset,
                entity=state.entity,
                seq=pending.first_seq + local,
                event_time=rows.event_times[at],
                score=score_list[i],
                threshold=model.threshold,
                is_anomaly=flag_list[i],
                detector=model.detector,
                model_version=model.version,
                top_channels=_channels(tops, i),
                label=labels[at] if labels is not None else None,
                ingested_at=ingested_at,
                scored_at=scored_at,
            )
            out.append(OutMessage(topic, key, value))
        return out

    def score_runs(
        self,
        state: EntityState,
        picked: Picked,
        scores: tuple[npt.NDArray[np.float64], list[float]],
        verdicts: tuple[npt.NDArray[np.bool_], list[bool]],
        tops: TopChannels,
        ingested_at: str,
        scored_at: str,
    ) -> list[OutMessage]:
        """One entity's scores of a cycle, every row scored (stride 1): each run of
        consecutive seqs, across messages, is one `ScoreBatch`, so that a cycle of single
        readings costs one record per entity rather than one per reading; a run of one
        single reading stays a `Score`."""
        out: list[OutMessage] = []
        run: Picked = []
        for pending, rows in picked:
            if run:
                last, last_rows = run[-1]
                if last.first_seq + last_rows[-1][0] + 1 != pending.first_seq + rows[0][0]:
                    out.extend(
                        self._run(state, run, scores, verdicts, tops, ingested_at, scored_at)
                    )
                    run = []
            run.append((pending, rows))
        if run:
            out.extend(self._run(state, run, scores, verdicts, tops, ingested_at, scored_at))
        return out

    def _run(
        self,
        state: EntityState,
        run: Picked,
        scores: tuple[npt.NDArray[np.float64], list[float]],
        verdicts: tuple[npt.NDArray[np.bool_], list[bool]],
        tops: TopChannels,
        ingested_at: str,
        scored_at: str,
    ) -> list[OutMessage]:
        if len(run) == 1:
            pending, rows = run[0]
            return self.scores(state, pending, rows, scores, verdicts, tops, ingested_at, scored_at)
        score_array, _ = scores
        flag_array, _ = verdicts
        first_pending, first_rows = run[0]
        start = first_rows[0][1]
        times: list[str] = []
        labels: list[int | None] = []
        labelled = False
        for pending, rows in run:
            at = pending.skip + rows[0][0]
            times.extend(pending.rows.event_times[at : at + len(rows)])
            if pending.rows.labels is None:
                labels.extend([None] * len(rows))
            else:
                labelled = True
                labels.extend(pending.rows.labels[at : at + len(rows)])
        index = slice(start, start + len(times))
        flags = flag_array[index]
        model = state.model
        value = encode_score_batch(
            dataset=state.dataset,
            entity=state.entity,
            first_seq=first_pending.first_seq + first_rows[0][0],
            event_times=times,
            scores=score_array[index],
            is_anomaly=flags,
            labels=labels if labelled else None,
            top_channels=(
                [_channels(tops, i) for i in range(index.start, index.stop)] if flags.any() else []
            ),
            threshold=model.threshold,
            detector=model.detector,
            model_version=model.version,
            ingested_at=ingested_at,
            scored_at=scored_at,
        )
        return [OutMessage(scores_topic(state.dataset), state.entity.encode(), value)]

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
