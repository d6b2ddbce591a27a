"""/logs: the log explorer (query, time range, histogram, results, facets, patterns, live tail)
and the line details it opens; every view is a URL. The data comes from fullcycle.logs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from clickhouse_connect.driver.exceptions import DatabaseError
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from fullcycle.audit.log import record
from fullcycle.auth.dependencies import current_principal, get_db
from fullcycle.auth.principal import Principal
from fullcycle.auth.scopes import Scope
from fullcycle.logs import explorer
from fullcycle.logs.explorer import LogRequest, LogRequestError
from fullcycle.logs.patterns import PATTERN_SAMPLE
from fullcycle.logs.query import field_filter
from fullcycle.logs.saved_searches import (
    SavedSearchError,
    create_saved_search,
    find_saved_search,
    list_saved_searches,
)
from fullcycle.telemetry.log_queries import LogLine, Window
from fullcycle.telemetry.store import TelemetryStore
from fullcycle.web.pages.flash import page, redirect
from fullcycle.web.rendering import render

router = APIRouter()

PAGE_SIZE = 100
QUICK_RANGES = (
    ("15m", "now-15m"),
    ("1h", "now-1h"),
    ("6h", "now-6h"),
    ("24h", "now-24h"),
    ("7d", "now-7d"),
)
KEY_ATTRIBUTES = 4
SPARKLINE_WIDTH, SPARKLINE_HEIGHT = 120, 24


@dataclass(frozen=True)
class View:
    """The explorer's state, all of it in the URL."""

    q: str
    start: str
    end: str
    mode: str
    cursor: str
    new_since: str
    line: str = ""  # the id of the line whose details are open

    def url(self, **changes: str) -> str:
        values = {
            "q": self.q,
            "from": self.start,
            "to": self.end,
            "view": self.mode,
            "cursor": "",
            "new_since": self.new_since,
            "line": "",
        }
        values.update(
            {("from" if k == "start" else "to" if k == "end" else k): v for k, v in changes.items()}
        )
        defaults = {"from": "now-1h", "to": "now", "view": "lines"}
        kept = {k: v for k, v in values.items() if v and defaults.get(k) != v}
        return "/logs" + ("?" + urlencode(kept) if kept else "")

    def with_filter(self, field: str, value: str) -> str | None:
        """The URL adding `field:value` to the query (None when it cannot be written)."""
        clause = field_filter(field, value)
        if clause is None:
            return None
        return self.url(q=f"{self.q} {clause}".strip() if self.q.strip() else clause)


def store_of(request: Request) -> TelemetryStore:
    store: TelemetryStore = request.app.state.telemetry
    return store


def sparkline_points(counts: list[int]) -> str:
    """SVG polyline points for a sparkline (numbers only)."""
    peak = max(counts) or 1
    step = SPARKLINE_WIDTH / max(1, len(counts) - 1)
    return " ".join(
        f"{index * step:.1f},{SPARKLINE_HEIGHT - 2 - count / peak * (SPARKLINE_HEIGHT - 4):.1f}"
        for index, count in enumerate(counts)
    )


def key_attributes(line: LogLine) -> list[tuple[str, str]]:
    return sorted(line.attributes.items())[:KEY_ATTRIBUTES]


def time_of_day(timestamp: str) -> str:
    """`2026-11-26T10:00:00.123456789Z` -> `10:00:00.123`."""
    return timestamp[11:23]


def line_time(timestamp: str, with_date: bool) -> str:
    """`10:00:00.123`, or `2026-11-26 10:00:00.123` `with_date`."""
    return f"{timestamp[:10]} {timestamp[11:23]}" if with_date else time_of_day(timestamp)


def lines_need_dates(lines: list[LogLine], window: Window) -> bool:
    """Whether the page's lines must show their date: any of them is from another day (UTC)
    than the range's end, so a time of day alone would not say which day."""
    end_day = explorer.timestamp_text(window.end_ns - 1)[:10]
    return any(explorer.timestamp_text(line.timestamp_ns)[:10] != end_day for line in lines)


def explore(store: TelemetryStore, request: LogRequest, view: View) -> dict[str, Any]:
    """Everything the page shows for one view (run off the event loop)."""
    histogram = explorer.histogram(store, request)
    context: dict[str, Any] = {
        "histogram": {
            "buckets": [start // 1_000_000_000 for start in histogram.buckets],
            "step": histogram.step_seconds,
            "levels": histogram.levels,
        },
        "facets": explorer.facets(store, request, 8, 6).facets,
    }
    if view.mode == "patterns":
        found = explorer.patterns(store, request, PATTERN_SAMPLE, view.new_since or None)
        context["patterns"] = found
    else:
        context["page"] = page = explorer.search(store, request, PAGE_SIZE, view.cursor or None)
        context["line_dates"] = lines_need_dates(page.lines, request.window)
    if view.line:
        context["line_detail"] = line_detail(store, view.line)
    return context


def line_detail(store: TelemetryStore, line_id: str) -> dict[str, Any] | None:
    """What the details panel of a line shows (None: no such line); LogRequestError for an
    id that is no line id."""
    found = explorer.line_with_context(store, line_id, 5)
    if found is None:
        return None
    line, neighbours = found
    view = View("", "now-1h", "now", "lines", "", "")
    trace_url = view.url(q=f"trace_id:{line.trace_id}", start="now-24h") if line.trace_id else ""
    return {
        "line": explorer.line_json(line),
        "context_lines": [explorer.line_json(item) for item in neighbours],
        "trace_url": trace_url,
    }


@router.get("/logs")
async def logs_page(
    request: Request,
    q: str = "",
    view: str = "lines",
    cursor: str = "",
    new_since: str = "",
    line: str = "",
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    params = request.query_params
    state = View(
        q=q,
        start=params.get("from") or "now-1h",
        end=params.get("to") or "now",
        mode="patterns" if view == "patterns" else "lines",
        cursor=cursor,
        new_since=new_since,
        line=line,
    )
    context: dict[str, Any] = {
        "nav": "logs",
        "view": state,
        "quick_ranges": QUICK_RANGES,
        "saved_searches": [
            (saved, View(saved.query, saved.range_from, saved.range_to, "lines", "", "").url())
            for saved in list_saved_searches(db)
        ],
        "user_name": principal.user.name,
        "is_admin": principal.has(Scope.ADMIN),
    }
    try:
        log_request = explorer.log_request(state.q, state.start, state.end)
        context |= await run_in_threadpool(explore, store_of(request), log_request, state)
    except LogRequestError as error:
        context["error"] = error
    except DatabaseError as error:
        refusal = explorer.refused_by_store(error)
        if refusal is None:
            raise
        context["error"] = refusal
    context |= {
        "key_attributes": key_attributes,
        "time_of_day": time_of_day,
        "line_time": line_time,
        "line_json": explorer.line_json,
        "timestamp_text": explorer.timestamp_text,
        "sparkline_points": sparkline_points,
    }
    status_code = 400 if "error" in context else 200
    if state.line and status_code == 200 and context.get("line_detail") is None:
        status_code = 404  # the page, with "no such line" in the details panel
    return page(request, "logs/explorer.html", context, status_code)


@router.post("/logs/saved-searches")
def save_search_from_form(
    request: Request,
    name: str = Form(""),
    q: str = Form(""),
    range_from: str = Form("now-1h", alias="from"),
    range_to: str = Form("now", alias="to"),
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    view = View(q, range_from, range_to, "lines", "", "")
    try:
        saved = create_saved_search(db, name, q, range_from, range_to, principal.user.name)
    except SavedSearchError as error:
        return redirect(view.url(), f"Not saved: {error}", "error")
    record(db, request, principal, "logs.saved_search.create", saved.name, q=saved.query)
    db.commit()
    return redirect(view.url(), f"Saved as “{saved.name}”; everyone sees it under Saved searches.")


@router.post("/logs/saved-searches/{search_id}/delete")
def delete_saved_search_from_form(
    request: Request,
    search_id: int,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
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
    return redirect("/logs", f"Deleted the saved search “{saved.name}”.")


@router.get("/logs/lines/{line_id}")
async def line_details(
    request: Request, line_id: str, principal: Principal = Depends(current_principal)
) -> Response:
    """The details panel of one line (an htmx fragment): all attributes, its trace, context."""
    try:
        detail = await run_in_threadpool(line_detail, store_of(request), line_id)
    except LogRequestError as error:
        raise HTTPException(status_code=400, detail=error.message) from None
    if detail is None:
        raise HTTPException(status_code=404, detail=f"no log line {line_id}")
    return render(request, "logs/_line.html", {**detail, "time_of_day": time_of_day})


@dataclass(frozen=True)
class ServiceLogs:
    """The logs section of a service page: its newest lines of the last hour and links."""

    url: str
    errors_url: str
    total: int
    lines: list[dict[str, Any]]


def service_logs(store: TelemetryStore, service: str, count: int = 10) -> ServiceLogs:
    view = View(field_filter("service", service) or "", "now-1h", "now", "lines", "", "")
    found = explorer.search(store, explorer.log_request(view.q, "now-1h", "now"), count, None)
    return ServiceLogs(
        url=view.url(),
        errors_url=view.url(q=f"{view.q} level:>=error"),
        total=found.total,
        lines=[explorer.line_json(line) for line in found.lines],
    )
