"""The ingest endpoints: OTLP/HTTP, Prometheus remote_write, Loki push, Elasticsearch bulk and
plain NDJSON. Each needs a token with the `ingest` scope; docs/ingest.md describes them."""

from __future__ import annotations

import time
from functools import partial

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from fullcycle.auth.principal import Principal
from fullcycle.ingest import elastic_bulk, loki, ndjson_logs, otlp, remote_write, table_batches
from fullcycle.ingest.callers import RequireIngestCaller
from fullcycle.ingest.errors import UnsupportedContentType
from fullcycle.ingest.otlp_common import PROTOBUF, encoding_of
from fullcycle.ingest.pipeline import ingest_of

router = APIRouter(tags=["ingest"])

OTLP_SIGNALS = {
    "logs": otlp.decode_logs_for_wal,
    "metrics": otlp.decode_metrics,
    "traces": otlp.decode_traces,
}


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _otlp(signal: str, request: Request, principal: Principal) -> Response:
    content_type = _content_type(request)
    decode = partial(OTLP_SIGNALS[signal], content_type=content_type)
    kept_as_received = signal == "logs" and encoding_of(content_type) == PROTOBUF
    decoded = await ingest_of(request).accept(
        request, principal, decode, source="otlp", checks_only=kept_as_received
    )
    body = otlp.encode_export_response(signal, content_type, decoded.rejected, decoded.message)
    media_type = "application/json" if content_type == "application/json" else content_type
    return Response(body, media_type=media_type)


@router.post("/v1/logs")
async def otlp_logs(request: Request, principal: Principal = RequireIngestCaller) -> Response:
    """OTLP/HTTP logs, protobuf or JSON."""
    return await _otlp("logs", request, principal)


@router.post("/v1/metrics")
async def otlp_metrics(request: Request, principal: Principal = RequireIngestCaller) -> Response:
    """OTLP/HTTP metrics, protobuf or JSON, stored as Prometheus-style samples."""
    return await _otlp("metrics", request, principal)


@router.post("/v1/traces")
async def otlp_traces(request: Request, principal: Principal = RequireIngestCaller) -> Response:
    """OTLP/HTTP traces, protobuf or JSON."""
    return await _otlp("traces", request, principal)


@router.post("/api/v1/write", status_code=204)
async def prometheus_remote_write(
    request: Request, principal: Principal = RequireIngestCaller
) -> Response:
    """Prometheus remote_write 1.0: a snappy-compressed protobuf WriteRequest."""
    ingest = ingest_of(request)
    decode = partial(
        remote_write.decode_remote_write, max_decompressed_bytes=ingest.max_decompressed_bytes
    )
    await ingest.accept(
        request, principal, decode, source="prometheus", compressed_by_protocol=True
    )
    return Response(status_code=204)


@router.post("/loki/api/v1/push", status_code=204)
async def loki_push(request: Request, principal: Principal = RequireIngestCaller) -> Response:
    """The Loki push API: JSON, or snappy-compressed protobuf PushRequest."""
    ingest = ingest_of(request)
    decode = partial(
        loki.decode_loki_push,
        content_type=_content_type(request),
        content_encoding=request.headers.get("content-encoding"),
        max_decompressed_bytes=ingest.max_decompressed_bytes,
    )
    await ingest.accept(request, principal, decode, source="loki", compressed_by_protocol=True)
    return Response(status_code=204)


@router.post("/api/v1/ingest/logs")
async def ndjson_ingest(
    request: Request, principal: Principal = RequireIngestCaller
) -> JSONResponse:
    """One JSON object per line: timestamp, service, level, message, any other fields."""
    decoded = await ingest_of(request).accept(
        request, principal, ndjson_logs.decode_ndjson_logs, source="ndjson"
    )
    return JSONResponse({"accepted": decoded.accepted})


@router.post("/api/v1/ingest/batches")
async def table_batches_ingest(
    request: Request, principal: Principal = RequireIngestCaller
) -> JSONResponse:
    """Rows of the telemetry tables in fullcycle's own Arrow format (what `fullcycle worker`
    sends: its scrapes, deploy markers); docs/ingest.md."""
    if _content_type(request) != table_batches.CONTENT_TYPE:
        raise UnsupportedContentType(
            f"expected Content-Type {table_batches.CONTENT_TYPE}, got {_content_type(request)!r}"
        )
    decoded = await ingest_of(request).accept(
        request, principal, table_batches.decode_table_batches, source="worker"
    )
    return JSONResponse({"accepted": decoded.accepted})


async def _bulk(request: Request, principal: Principal, index: str) -> JSONResponse:
    started = time.monotonic()
    decode = partial(elastic_bulk.decode_bulk, default_index=index)
    decoded = await ingest_of(request).accept(request, principal, decode, source="elasticsearch")
    assert isinstance(decoded, elastic_bulk.BulkDecoded)
    took_ms = int((time.monotonic() - started) * 1000)
    return JSONResponse(elastic_bulk.bulk_reply(decoded, took_ms))


@router.post("/_bulk")
async def elasticsearch_bulk(
    request: Request, principal: Principal = RequireIngestCaller
) -> JSONResponse:
    """The Elasticsearch bulk API, as rsyslog, syslog-ng, Filebeat and Fluent Bit send it; the
    reply has Elasticsearch's shape, with per-item errors for documents that were refused."""
    return await _bulk(request, principal, "")


@router.post("/{index}/_bulk")
async def elasticsearch_index_bulk(
    index: str, request: Request, principal: Principal = RequireIngestCaller
) -> JSONResponse:
    """The bulk API with a default index in the path."""
    return await _bulk(request, principal, index)
