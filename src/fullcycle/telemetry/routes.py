"""GET /api/v1/telemetry: what the telemetry store holds and how long it keeps it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from fullcycle.auth.dependencies import RequireRead
from fullcycle.telemetry.store import TelemetryStore

router = APIRouter(prefix="/api/v1/telemetry", tags=["telemetry"])


class TableOut(BaseModel):
    name: str
    rows: int
    bytes_on_disk: int
    retention_hours: int


class TelemetryStatus(BaseModel):
    engine: str
    backlog_bytes: int
    tables: list[TableOut]


def telemetry_status(store: TelemetryStore) -> TelemetryStatus:
    return TelemetryStatus(
        engine=store.clickhouse.description,
        backlog_bytes=store.backlog_bytes,
        tables=[TableOut(**vars(table)) for table in store.table_statistics()],
    )


@router.get("", response_model=TelemetryStatus, dependencies=[RequireRead])
async def telemetry(request: Request) -> TelemetryStatus:
    """Per table: rows, bytes on disk and retention; and how far the store is behind the log."""
    return await run_in_threadpool(telemetry_status, request.app.state.telemetry)
