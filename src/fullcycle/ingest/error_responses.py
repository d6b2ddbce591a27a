"""How ingest failures are answered: what the senders' retry logic expects.

Bad input is 400 (never retried by OTLP exporters or Prometheus), an oversized body 413, an
unsupported content type 415, a token limited to another service 403, and a saturated write path
429 or 503 with Retry-After (both retried by OTLP exporters and Prometheus).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from fullcycle.ingest.compression import BodyTooLarge
from fullcycle.ingest.errors import DecodeError, UnsupportedContentType
from fullcycle.ingest.services import ServiceNotAllowed
from fullcycle.telemetry.group_commit import Overloaded


async def _bad_body(request: Request, error: Exception) -> Response:
    return JSONResponse({"detail": str(error)}, status_code=400)


async def _too_large(request: Request, error: Exception) -> Response:
    return JSONResponse({"detail": str(error)}, status_code=413)


async def _unsupported(request: Request, error: Exception) -> Response:
    return JSONResponse({"detail": str(error)}, status_code=415)


async def _not_allowed(request: Request, error: Exception) -> Response:
    return JSONResponse({"detail": str(error)}, status_code=403)


async def _overloaded(request: Request, error: Exception) -> Response:
    assert isinstance(error, Overloaded)
    return JSONResponse(
        {"detail": str(error)},
        status_code=error.status_code,
        headers={"Retry-After": str(error.retry_after)},
    )


def install_error_handlers(app: FastAPI) -> None:
    # Starlette picks the handler of the most specific class, so 415 wins over 400.
    app.add_exception_handler(UnsupportedContentType, _unsupported)
    app.add_exception_handler(DecodeError, _bad_body)
    app.add_exception_handler(BodyTooLarge, _too_large)
    app.add_exception_handler(ServiceNotAllowed, _not_allowed)
    app.add_exception_handler(Overloaded, _overloaded)
