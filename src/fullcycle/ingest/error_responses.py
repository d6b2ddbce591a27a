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
from fullcycle.ingest.otlp_status import is_otlp, otlp_error
from fullcycle.ingest.services import ServiceNotAllowed
from fullcycle.telemetry.group_commit import Overloaded


def refusal(
    request: Request, status_code: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    """An ingest refusal: a Status for OTLP, `{"detail": …}` for every other protocol."""
    if is_otlp(request):
        return otlp_error(request, status_code, message, headers)
    return JSONResponse({"detail": message}, status_code=status_code, headers=headers)


async def _bad_body(request: Request, error: Exception) -> Response:
    return refusal(request, 400, str(error))


async def _too_large(request: Request, error: Exception) -> Response:
    return refusal(request, 413, str(error))


async def _unsupported(request: Request, error: Exception) -> Response:
    return refusal(request, 415, str(error))


async def _not_allowed(request: Request, error: Exception) -> Response:
    return refusal(request, 403, str(error))


async def _overloaded(request: Request, error: Exception) -> Response:
    assert isinstance(error, Overloaded)
    retry = {"Retry-After": str(error.retry_after)}
    return refusal(request, error.status_code, str(error), retry)


def install_error_handlers(app: FastAPI) -> None:
    # Starlette picks the handler of the most specific class, so 415 wins over 400.
    app.add_exception_handler(UnsupportedContentType, _unsupported)
    app.add_exception_handler(DecodeError, _bad_body)
    app.add_exception_handler(BodyTooLarge, _too_large)
    app.add_exception_handler(ServiceNotAllowed, _not_allowed)
    app.add_exception_handler(Overloaded, _overloaded)
