"""The ASGI application: settings, database, routers, middleware and error handling."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fullcycle import __version__
from fullcycle.alerting.contact_routes import router as contact_router
from fullcycle.alerting.oncall_routes import router as oncall_router
from fullcycle.alerting.receiver_routes import router as receiver_router
from fullcycle.alerting.routes import router as alerting_router
from fullcycle.alerting.rules.routes import router as rule_router
from fullcycle.anomaly.routes import router as anomaly_router
from fullcycle.audit.routes import router as audit_router
from fullcycle.auth.dependencies import Forbidden, NotAuthenticated, RequireRead
from fullcycle.auth.routes import router as auth_router
from fullcycle.background import BackgroundWork
from fullcycle.catalog.routes import router as catalog_router
from fullcycle.catalog.scrape_routes import router as scrape_router
from fullcycle.catalog.service import CatalogConflict, CatalogError
from fullcycle.deploy.routes import router as deploy_router
from fullcycle.ingest.decode_pool import DecodePool
from fullcycle.ingest.error_responses import install_error_handlers
from fullcycle.ingest.otlp_status import is_otlp, otlp_error
from fullcycle.ingest.pipeline import Ingest
from fullcycle.ingest.rate_limit import RateLimiter
from fullcycle.ingest.routes import router as ingest_router
from fullcycle.ingest.services import KnownServices
from fullcycle.logs.routes import router as logs_router
from fullcycle.metrics.dashboard_routes import router as dashboard_router
from fullcycle.metrics.routes import router as metrics_router
from fullcycle.selfmonitoring.metrics import RequestMetricsMiddleware, ServerMetrics
from fullcycle.selfmonitoring.routes import router as health_router
from fullcycle.settings import Settings
from fullcycle.startup import banner, prepare
from fullcycle.store.database import Database
from fullcycle.telemetry.routes import router as telemetry_router
from fullcycle.telemetry.store import DataDirInUse, StoreOptions, TelemetryStore
from fullcycle.web.pages import router as pages_router
from fullcycle.web.rendering import STATIC_DIR, render_error, templates_for


def store_options(settings: Settings) -> StoreOptions:
    return StoreOptions(
        data_dir=settings.data_dir,
        clickhouse_url=settings.clickhouse_url,
        cluster=settings.clickhouse_cluster,
        retention=settings.retention,
        durable=settings.wal_fsync,
        max_backlog_bytes=settings.ingest_max_backlog_bytes,
        soft_backlog_bytes=settings.ingest_soft_backlog_bytes,
        flush_interval_seconds=settings.flush_interval_seconds,
    )


def is_machine_path(path: str) -> bool:
    """Paths for programs (JSON errors, 401) rather than people (pages, login redirects)."""
    return (
        path.startswith(("/api/", "/v1/", "/loki/"))
        or path.endswith("/_bulk")
        or path == "/metrics"
    )


def wants_json(request: Request) -> bool:
    return is_machine_path(request.url.path)


async def not_authenticated(request: Request, error: Exception) -> Response:
    assert isinstance(error, NotAuthenticated)
    if is_otlp(request):
        return otlp_error(request, 401, error.message, {"WWW-Authenticate": "Bearer"})
    if wants_json(request):
        return JSONResponse(
            {"detail": error.message}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


async def http_error(request: Request, error: Exception) -> Response:
    """API callers get Starlette's JSON error; people get the error page."""
    assert isinstance(error, StarletteHTTPException)
    if wants_json(request):
        return await http_exception_handler(request, error)
    return render_error(request, error.status_code, str(error.detail))


async def catalog_refusal(request: Request, error: Exception) -> Response:
    """Invalid catalog input: 422, or 409 when it conflicts with what exists."""
    status_code = 409 if isinstance(error, CatalogConflict) else 422
    if wants_json(request):
        return JSONResponse({"detail": str(error)}, status_code=status_code)
    return render_error(request, status_code, str(error))


async def conflicting_write(request: Request, error: Exception) -> Response:
    """A unique constraint hit by a concurrent write: the change was not made; retrying is safe."""
    message = "a concurrent change conflicted with this one and nothing was changed; try again"
    if wants_json(request):
        return JSONResponse({"detail": message}, status_code=409)
    return render_error(request, 409, message)


async def forbidden(request: Request, error: Exception) -> Response:
    assert isinstance(error, Forbidden)
    if is_otlp(request):
        return otlp_error(request, 403, error.message)
    if wants_json(request):
        return JSONResponse({"detail": error.message}, status_code=403)
    return render_error(request, 403, error.message)


class BodySizeLimit:
    """Refuse request bodies over the limit with 413, before anything reads them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise BodyTooLarge
            return message

        try:
            await self.app(scope, counting_receive, send)
        except BodyTooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"request body larger than the limit of {self.limit} bytes"},
            status_code=413,
        )
        await send({"type": "http.response.start", "status": 413, "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body})


class BodyTooLarge(Exception):
    pass


def startup_failure(error: DataDirInUse | OperationalError) -> str:
    """What stopped the start, in one line for the operator (the log has the traceback)."""
    if isinstance(error, OperationalError):
        reason = str(error.orig).splitlines()[0] if error.orig else str(error)
        return f"cannot reach the control-plane database (FULLCYCLE_DATABASE_URL): {reason}"
    return f"{error}; stop that process or give this one another --data-dir"


def create_app(settings: Settings, announce: bool = False) -> FastAPI:
    """Build the app; its lifespan migrates the database and provisions the admin.

    `announce`: the app of `fullcycle up`, which prints its banner and starts the ingest workers
    at once."""
    database = Database(settings.resolved_database_url)
    store = TelemetryStore(store_options(settings))
    background = BackgroundWork.for_server(settings, database, store)
    decode_pool = DecodePool(settings.ingest_workers)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            report = prepare(settings, database)
            await run_in_threadpool(store.open)
        except (DataDirInUse, OperationalError) as error:
            app.state.startup_failure = startup_failure(error)
            raise
        if announce:  # `fullcycle up`: the first requests should not wait for the workers
            decode_pool.warm()
        if settings.background_work:
            await background.start()
        if announce:
            print(banner(settings, report), file=sys.stdout, flush=True)
        try:
            yield
        finally:
            await background.stop()
            await run_in_threadpool(decode_pool.shutdown)
            await run_in_threadpool(store.close)
            database.dispose()

    app = FastAPI(
        title="fullcycle",
        version=__version__,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.metrics = ServerMetrics()
    app.state.templates = templates_for(settings)
    app.state.telemetry = store
    app.state.background = background
    app.state.ingest = Ingest(
        store,
        KnownServices(database),
        settings.max_decompressed_bytes,
        RateLimiter(settings.ingest_rate_limit),
        decode_pool,
    )
    app.add_exception_handler(NotAuthenticated, not_authenticated)
    app.add_exception_handler(Forbidden, forbidden)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(IntegrityError, conflicting_write)
    app.add_exception_handler(CatalogError, catalog_refusal)
    install_error_handlers(app)
    routers = (
        health_router,
        auth_router,
        audit_router,
        catalog_router,
        scrape_router,
        telemetry_router,
        ingest_router,
        logs_router,
        metrics_router,
        dashboard_router,
        deploy_router,
        anomaly_router,
        alerting_router,
        rule_router,
        oncall_router,
        contact_router,
        receiver_router,
    )
    for router in (*routers, pages_router):
        app.include_router(router)
    app.add_api_route(
        "/api/v1/openapi.json",
        lambda: app.openapi(),
        dependencies=[RequireRead],
        include_in_schema=False,
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    app.add_middleware(RequestMetricsMiddleware, metrics=app.state.metrics)
    return app
