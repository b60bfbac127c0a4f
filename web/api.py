"""The HTTP API under /api/v1: scores, models, alerts, entities, live events, health."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel

from schemas import Reading, ReadingBatch
from web.events import event_stream
from web.live import LiveState
from web.models_info import deployed_models
from web.scoring import Scorer

__all__ = ["ApiContext", "ErrorBody", "FeedStatus", "LagSource", "api_router"]


class ErrorBody(BaseModel):
    """Every error the API returns: a message that says what is wrong."""

    error: str


_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": why}
    for status, why in (
        (401, "a bearer token is required"),
        (404, "not found"),
        (413, "the body is over the size cap"),
        (422, "invalid input, or readings that cannot be scored"),
    )
}


class FeedStatus(Protocol):
    connected: bool
    error: str | None


class LagSource(Protocol):
    def lags(self, timeout_s: float = 5.0) -> dict[str, Any]: ...


@dataclass
class ApiContext:
    """What the routes read: the live state, the feed, the models, the worker's lag."""

    state: LiveState
    feed: FeedStatus
    scorer: Scorer
    lag: LagSource | None = None


def api_router(context: ApiContext, guard: Any) -> APIRouter:
    """The /api/v1 routes; `guard` (a dependency) checks the bearer token, if any."""
    open_routes = APIRouter()
    router = APIRouter(dependencies=[Depends(guard)], responses=_ERRORS)
    state, scorer = context.state, context.scorer

    @open_routes.get("/healthz", summary="The server is up")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @open_routes.get("/readyz", summary="Kafka answers and models are loaded")
    def readyz() -> JSONResponse:
        problems = []
        if not context.feed.connected:
            problems.append(context.feed.error or "Kafka does not answer")
        if not deployed_models(scorer.store.root):
            problems.append(f"no models under {scorer.store.root}")
        body = {"status": "ready" if not problems else "not ready", "problems": problems}
        return JSONResponse(body, status_code=200 if not problems else 503)

    @router.post(
        "/score",
        summary="Score readings with the deployed model (no Kafka)",
        description=(
            "A ReadingBatch, or a JSON array of consecutive Readings of one entity. Each "
            "reading with a whole window ending at it gets a score, verdict and top channels."
        ),
    )
    def score(body: Annotated[ReadingBatch | list[Reading], Body()]) -> dict[str, Any]:
        return scorer.score(body)

    @router.get("/models", summary="Every deployed model (the newest version of each)")
    def models(dataset: str | None = None) -> list[dict[str, Any]]:
        return deployed_models(scorer.store.root, dataset)

    @router.get("/models/{dataset}/{entity:path}", summary="The models of one entity")
    def entity_models(dataset: str, entity: str) -> list[dict[str, Any]]:
        found = [m for m in deployed_models(scorer.store.root, dataset) if m["entity"] == entity]
        if not found:
            raise HTTPException(404, f"no model for {dataset}/{entity}")
        return found

    @router.get("/alerts", summary="Open and recent alerts, newest first")
    def alerts(
        state_: Annotated[Literal["open", "resolved", "all"], Query(alias="state")] = "all",
        dataset: str | None = None,
        entity: str | None = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 200,
    ) -> list[dict[str, Any]]:
        return state.alerts(state_, dataset, entity, limit)

    @router.get("/entities", summary="Entities seen, one page at a time")
    def entities(
        dataset: str | None = None,
        q: Annotated[str | None, Query(description="shell glob or substring")] = None,
        anomalous: bool = False,
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> dict[str, Any]:
        total, items = state.entities(dataset, q, anomalous, offset, limit)
        return {"total": total, "offset": offset, "items": items, **state.counts()}

    @router.get("/entities/{dataset}/{entity:path}/scores", summary="An entity's recent scores")
    def entity_scores(
        dataset: str,
        entity: str,
        since: Annotated[int | None, Query(description="only seqs after this one")] = None,
        last: Annotated[int | None, Query(ge=1)] = None,
    ) -> dict[str, Any]:
        found = state.scores(dataset, entity, since, last)
        if found is None:
            raise HTTPException(404, f"no scores of {dataset}/{entity} seen")
        return found

    @router.get("/worker", summary="The stream worker's consumer lag, the view's own feed")
    def worker() -> dict[str, Any]:
        lag = context.lag.lags() if context.lag is not None else None
        return {
            "kafka_connected": context.feed.connected,
            "kafka_error": context.feed.error,
            "lag": lag,
            **state.counts(),
        }

    @router.get(
        "/events",
        summary="Live changes as server-sent events (scores, alert)",
        response_class=StreamingResponse,
    )
    async def events(
        request: Request,
        dataset: str | None = None,
        entity: str | None = None,
        kinds: str = "scores,alert",
    ) -> StreamingResponse:
        stream = event_stream(
            state, request.is_disconnected, dataset, entity, set(kinds.split(","))
        )
        return StreamingResponse(
            stream,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    open_routes.include_router(router)
    return open_routes
