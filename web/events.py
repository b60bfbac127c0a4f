"""Server-sent events: the live state's changes pushed to each browser that listens.

Each client gets a bounded queue filled from the feed's thread; a client too slow to keep up
loses events (counted, and told with a `gap` event) rather than growing the server's memory.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from web.live import LiveState

__all__ = ["event_stream"]

Event = dict[str, Any]
_QUEUE = 1000
_KEEPALIVE_S = 15.0


def _matches(event: Event, dataset: str | None, entity: str | None, kinds: set[str]) -> bool:
    if event["type"] not in kinds:
        return False
    where = event.get("alert", event)
    return (dataset is None or where.get("dataset") == dataset) and (
        entity is None or where.get("entity") == entity
    )


async def event_stream(
    state: LiveState,
    is_disconnected: Callable[[], Any],
    dataset: str | None = None,
    entity: str | None = None,
    kinds: set[str] | None = None,
) -> AsyncIterator[str]:
    """`text/event-stream` lines of the changes that match, until the client goes away."""
    wanted = kinds or {"scores", "alert"}
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=_QUEUE)
    lost = 0

    def put(event: Event) -> None:
        nonlocal lost
        try:
            queue.put_nowait(event)
        except asyncio.QueueFull:
            lost += 1

    def listener(event: Event) -> None:  # on the feed's thread
        if _matches(event, dataset, entity, wanted):
            try:
                loop.call_soon_threadsafe(put, event)
            except RuntimeError:
                pass  # the server's loop is closing

    cancel = state.subscribe(listener)
    try:
        yield "retry: 2000\n\n"
        while not await is_disconnected():
            if lost:
                yield f"event: gap\ndata: {json.dumps({'lost': lost})}\n\n"
                lost = 0
            try:
                event = await asyncio.wait_for(queue.get(), timeout=_KEEPALIVE_S)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            yield f"event: {event['type']}\ndata: {json.dumps(event)}\n\n"
    finally:
        cancel()
