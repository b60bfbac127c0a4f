"""The order of a replay: rows of every entity merged by event time, packed into messages."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from producers.datasets import EntityData, Split
from producers.row_blocks import RowBlocks
from schemas import (
    Reading,
    ReadingBatch,
    decode,
    encode_key,
    encode_reading,
    encode_reading_batch,
)

__all__ = ["OutgoingMessage", "ReplayPlan"]

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class OutgoingMessage:
    """One message ready to send: key, encoded value, and what pacing and counting need."""

    key: bytes
    value: bytes
    event_time_ns: int
    readings: int


@dataclass(frozen=True)
class _Source:
    """One entity's split, with what every message of it shares computed once."""

    data: EntityData
    split: Split
    key: bytes
    channels: list[str]
    times_ns: IntArray
    blocks: RowBlocks


class ReplayPlan:
    """Messages in event-time order across entities; rows of one entity stay in seq order.

    With `batch_rows` > 1 each message packs up to that many consecutive rows of one entity,
    ordered by the time of its first row. `loops` > 1 repeats the data, shifting event time
    by the data's span and continuing each entity's seq, so time and seq keep increasing.
    """

    def __init__(
        self,
        entities: Sequence[EntityData],
        split: Literal["train", "test"],
        batch_rows: int = 1,
    ) -> None:
        if batch_rows < 1:
            raise ValueError("batch_rows must be at least 1")
        self.dataset = entities[0].dataset if entities else ""
        self.batch_rows = batch_rows
        self._sources = [
            _Source(
                data=e,
                split=e.split(split),
                key=encode_key(e.entity),
                channels=list(e.channels),
                times_ns=_ns(e.split(split)),
                blocks=RowBlocks(e.split(split), _ns(e.split(split))),
            )
            for e in entities
            if len(e.split(split)) > 0
        ]
        for source in self._sources:
            _check_finite(source)
        self._order = self._chunk_order()
        self.readings_per_loop = sum(len(s.split) for s in self._sources)
        self._span_ns = self._loop_span_ns()

    def _chunk_order(self) -> list[tuple[int, int]]:
        """(source index, first row) of every message, sorted by the first row's time."""
        starts = [np.arange(0, len(s.split), self.batch_rows) for s in self._sources]
        if not starts:
            return []
        source_ids = np.concatenate([np.full(len(r), i) for i, r in enumerate(starts)])
        rows = np.concatenate(starts)
        times = np.concatenate([s.times_ns[r] for s, r in zip(self._sources, starts, strict=True)])
        # Stable: equal times keep entity order, so a replay is deterministic.
        order = np.argsort(times, kind="stable")
        return list(zip(source_ids[order].tolist(), rows[order].tolist(), strict=True))

    def _loop_span_ns(self) -> int:
        if not self._sources:
            return 0
        first = min(int(s.times_ns[0]) for s in self._sources)
        last = max(int(s.times_ns[-1]) for s in self._sources)
        steps = [np.diff(s.times_ns) for s in self._sources if len(s.times_ns) > 1]
        step = int(np.median(np.concatenate(steps))) if steps else 1_000_000_000
        return last - first + max(step, 1)

    def messages(
        self, loops: int | None = 1, limit: int | None = None
    ) -> Iterator[OutgoingMessage]:
        """Messages of `loops` passes over the data (None: without end), at most `limit` readings.

        The message that reaches the limit is cut short, so exactly `limit` readings go out.
        """
        left = limit
        loop = 0
        while (loops is None or loop < loops) and self._order:
            for source_id, row in self._order:
                if left is not None and left <= 0:
                    return
                message = self._message(self._sources[source_id], row, loop, left)
                if left is not None:
                    left -= message.readings
                yield message
            loop += 1

    def _message(
        self, source: _Source, row: int, loop: int, max_rows: int | None = None
    ) -> OutgoingMessage:
        rows_here = self.batch_rows if max_rows is None else min(self.batch_rows, max_rows)
        end = min(row + rows_here, len(source.split))
        seq = loop * len(source.split) + row
        shift_ns = loop * self._span_ns
        times = source.blocks.times(row, end, shift_ns)
        labels = source.blocks.labels(row, end)
        # The arrays were checked once for the whole split (_check_finite), names and slugs
        # when the first message was validated, so the hot path writes JSON directly.
        if self.batch_rows == 1:
            value = encode_reading(
                dataset=source.data.dataset,
                entity=source.data.entity,
                seq=seq,
                event_time=times[0],
                values=dict(
                    zip(source.channels, source.blocks.value_rows(row, end)[0], strict=True)
                ),
                label=None if labels is None else labels[0],
            )
        else:
            value = encode_reading_batch(
                dataset=source.data.dataset,
                entity=source.data.entity,
                first_seq=seq,
                event_times=times,
                channels=source.channels,
                rows=source.blocks.value_array(row, end),
                labels=labels,
            )
        first_ns = int(source.times_ns[row]) + shift_ns
        return OutgoingMessage(source.key, value, first_ns, end - row)

    def validate_first_messages(self) -> None:
        """Fully validate one message per entity, so names and slugs are checked once."""
        model = Reading if self.batch_rows == 1 else ReadingBatch
        for source in self._sources:
            decode(self._message(source, 0, 0).value, model)


def _ns(split: Split) -> IntArray:
    ns: IntArray = split.timestamps.astype("datetime64[ns]").astype(np.int64)
    return ns


def _check_finite(source: _Source) -> None:
    if np.isinf(source.split.values).any():
        row, col = np.argwhere(np.isinf(source.split.values))[0]
        raise ValueError(
            f"{source.data.dataset}/{source.data.entity}: infinite value in channel "
            f"{source.channels[col]} at row {row}; readings carry finite values or null"
        )
