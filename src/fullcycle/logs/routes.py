"""The log API: search, histogram, facets, patterns, a line with its context, and live tail
(server-sent events). Every endpoint takes `q` (docs/log-query.md) and `from`/`to` (RFC 3339 or
`now-1h`); bad input is a 400 naming the parameter and, for `q`, the column."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from clickhouse_connect.driver.exceptions import DatabaseError
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from fullcycle.audit.log import record
from fullcycle.auth.dependencies import RequireRead, get_db
from fullcycle.auth.principal import Principal
from fullcycle.auth.scopes import Scope
from fullcycle.logs import explorer
from fullcycle.logs.explorer import LogRequest, LogRequestError, line_json
from fullcycle.logs.models import SavedSearch
from fullcycle.logs.patterns import MAX_PATTERN_SAMPLE, PATTERN_SAMPLE
from fullcycle.logs.saved_searches import (
    SavedSearchError,
    create_saved_search,
    find_saved_search,
    list_saved_searches,
)
from fullcycle.logs.time_range import NS_PER_SECOND
from fullcycle.telemetry import log_queries
from fullcycle.telemetry.log_queries import Window
from fullcycle.telemetry.store import TelemetryStore

router = APIRouter(prefix="/api/v1/logs", tags=["logs"], dependencies=[RequireRead])

QueryText = Query("", max_length=10_000, description="a log query (docs/log-query.md)")
From = Query(None, alias="from", description="RFC 3339 or relative (now-1h); default now-1h")
To = Query(None, alias="to", description="RFC 3339 or relative; default now")
TAIL_INTERVAL_SECONDS = 1.0
Result = TypeVar("Result")


def store_of(request: Request) -> TelemetryStore:
    store: TelemetryStore = request.app.state.telemetry
    return store


def bad_request(error: LogRequestError) -> HTTPException:
    return HTTPException(status_code=400, detail=error.message)


def parsed(q: str, start: str | None, end: str | None) -> LogRequest:
    try:
        return explorer.log_request(q, start, end)
    except LogRequestError as error:
        raise bad_request(error) from None


async def answer(function: Callable[..., Result], *args: Any) -> Result:
    """Run a read off the event loop; input errors (also those the store finds) are 400s."""
    try:
        return await run_in_threadpool(function, *args)
    except LogRequestError as error:
        raise bad_request(error) from None
    except DatabaseError as error:
        refusal = explorer.refused_by_store(error)
        if refusal is None:
            raise
        raise bad_request(refusal) from None


@router.get("/search")
async def search(
    request: Request,
    q: str = QueryText,
    start: str | None = From,
    end: str | None = To,
    limit: int = Query(100, ge=1, le=1000),
    cursor: str | None = Query(None, max_length=64),
) -> dict[str, Any]:
    """The exact number of matching lines in the range and the newest `limit`, newest first;
    pass `next_cursor` as `cursor` for the next page."""
    page = await answer(explorer.search, store_of(request), parsed(q, start, end), limit, cursor)
    return {
        "total": page.total,
        "results": [line_json(line) for line in page.lines],
        "next_cursor": page.next_cursor,
    }


@router.get("/histogram")
async def histogram(
    request: Request,
    q: str = QueryText,
    start: str | None = From,
    end: str | None = To,
    buckets: int = Query(60, ge=1, le=500),
) -> dict[str, Any]:
    """Matching lines per time bucket, one series per level (for a stacked chart)."""
    result = await answer(explorer.histogram, store_of(request), parsed(q, start, end), buckets)
    return {
        "step_seconds": result.step_seconds,
        "buckets": [explorer.timestamp_text(start) for start in result.buckets],
        "levels": result.levels,
    }


@router.get("/facets")
async def facets(
    request: Request,
    q: str = QueryText,
    start: str | None = From,
    end: str | None = To,
    values: int = Query(10, ge=1, le=100),
    attributes: int = Query(8, ge=0, le=50),
) -> dict[str, Any]:
    """The commonest values of service, level and host (exact counts over the matching lines)
    and of the commonest attributes (over the newest 20,000 matching lines, `attribute_lines`
    says how many)."""
    result = await answer(
        explorer.facets, store_of(request), parsed(q, start, end), values, attributes
    )
    return {
        "facets": [
            {
                "field": facet.field,
                "values": [{"value": value, "count": count} for value, count in facet.values],
            }
            for facet in result.facets
        ],
        "attribute_lines": result.attribute_lines,
    }


@router.get("/patterns")
async def patterns(
    request: Request,
    q: str = QueryText,
    start: str | None = From,
    end: str | None = To,
    sample: int = Query(PATTERN_SAMPLE, ge=1, le=MAX_PATTERN_SAMPLE),
    new_since: str | None = Query(None, description="mark templates not seen before this time"),
) -> dict[str, Any]:
    """The matching lines grouped into templates (drain3), commonest first."""
    result = await answer(
        explorer.patterns, store_of(request), parsed(q, start, end), sample, new_since
    )
    return {
        "sampled": result.sampled,
        "patterns": [
            {
                "template": pattern.template,
                "count": pattern.count,
                "first_seen": explorer.timestamp_text(pattern.first_seen_ns),
                "last_seen": explorer.timestamp_text(pattern.last_seen_ns),
                "example": pattern.example,
                "sparkline": pattern.sparkline,
                "new": pattern.new,
            }
            for pattern in result.patterns
        ],
    }


@router.get("/lines/{line_id}")
async def line(
    request: Request, line_id: str, context: int = Query(10, ge=0, le=200)
) -> dict[str, Any]:
    """One line with all its attributes, and `context` lines before and after it from the
    same service and host."""
    found = await answer(explorer.line_with_context, store_of(request), line_id, context)
    if found is None:
        raise HTTPException(status_code=404, detail=f"no log line {line_id}")
    target, neighbours = found
    return {"line": line_json(target), "context": [line_json(item) for item in neighbours]}


def server_sent_event(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.get("/tail")
async def tail(
    request: Request,
    q: str = QueryText,
    limit: int = Query(5000, ge=1, le=20_000, description="most lines sent per second"),
) -> StreamingResponse:
    """Server-sent events: `lines` (a JSON array, oldest first) about once a second with the
    lines that arrived, and `dropped` ({"count": N}) when more matched than `limit` per second.

    Lines are sent once the store has them (a second or two after ingest); a line whose
    timestamp is older than that when it arrives is not sent.
    """
    query = parsed(q, None, None).query
    store = store_of(request)
    settle_ns = int((store.options.longest_flush_wait_seconds + 1.5) * NS_PER_SECOND)

    async def events() -> AsyncIterator[str]:
        cursor = time.time_ns() - settle_ns
        yield server_sent_event("ready", {"from": explorer.timestamp_text(cursor)})
        while not await request.is_disconnected():
            await asyncio.sleep(TAIL_INTERVAL_SECONDS)
            until = time.time_ns() - settle_ns
            lines, total = await run_in_threadpool(
                log_queries.tail_lines, store, query, Window(cursor, until), limit
            )
            cursor = until
            if total > len(lines):
                yield server_sent_event("dropped", {"count": total - len(lines)})
            if lines:
                yield server_sent_event("lines", [line_json(item) for item in lines])
            else:
                yield ": idle\n\n"

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


# --- saved searches --------------------------------------------------------------------------


class SavedSearchIn(BaseModel):
    name: str = Field(max_length=200)
    q: str = Field("", max_length=10_000)
    range_from: str = Field("now-1h", alias="from", max_length=200)
    range_to: str = Field("now", alias="to", max_length=200)


def saved_search_json(saved: SavedSearch) -> dict[str, Any]:
    return {
        "id": saved.id,
        "name": saved.name,
        "q": saved.query,
        "from": saved.range_from,
        "to": saved.range_to,
        "created_by": saved.created_by,
        "created_at": saved.created_at.isoformat(),
    }


@router.get("/saved-searches")
def saved_searches(db: Session = Depends(get_db)) -> list[dict[str, Any]]:
    """The team's saved searches, by name."""
    return [saved_search_json(saved) for saved in list_saved_searches(db)]


@router.post("/saved-searches", status_code=201)
def save_search(
    body: SavedSearchIn,
    request: Request,
    principal: Principal = RequireRead,
    db: Session = Depends(get_db),
) -> dict[str, Any]:
    """Save a query and time range under a name everyone sees (422 if it does not parse,
    409 if the name is taken)."""
    try:
        saved = create_saved_search(
            db, body.name, body.q, body.range_from, body.range_to, principal.user.name
        )
    except SavedSearchError as error:
        status_code = 409 if "exists already" in str(error) else 422
        raise HTTPException(status_code=status_code, detail=str(error)) from None
    record(db, request, principal, "logs.saved_search.create", saved.name, q=saved.query)
    db.commit()
    return saved_search_json(saved)


@router.delete("/saved-searches/{search_id}", status_code=204)
def delete_saved_search(
    search_id: int,
    request: Request,
    principal: Principal = RequireRead,
    db: Session = Depends(get_db),
) -> Response:
    """Delete a saved search: its author or an admin."""
    saved = find_saved_search(db, search_id)
    if saved is None:
        raise HTTPException(status_code=404, detail=f"no saved search {search_id}")
    if saved.created_by != principal.user.name and not principal.has(Scope.ADMIN):
        raise HTTPException(
            status_code=403, detail="only its author or an admin may delete a saved search"
        )
    record(db, request, principal, "logs.saved_search.delete", saved.name)
    db.delete(saved)
    db.commit()
    return Response(status_code=204)
