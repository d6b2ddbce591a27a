"""OTLP traces (`POST /v1/traces`) into rows of the spans table.

Span events (time, name, attributes) and links (trace id, span id, attributes) are stored with
their span. A span without a trace id or span id (absent or all zero,
both invalid in OTLP) cannot be found again and is rejected (OTLP partial success); an id of the
wrong length makes the whole request malformed.
"""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from fullcycle.ingest.decoded import Decoded
from fullcycle.ingest.otlp_common import (
    MAX_TIMESTAMP_NS,
    SPAN_ID_BYTES,
    TRACE_ID_BYTES,
    ZERO_SPAN_ID,
    ZERO_TRACE_ID,
    IdFields,
    Rejections,
    ResourceInfo,
    attribute_map,
    check_timestamp,
    hex_id,
    parse_request,
)
from fullcycle.telemetry.batches import SpanBatch, SpanEvent, SpanLink

_LINK_IDS = IdFields(ids=("traceId", "spanId"))

SPAN_ID_FIELDS = IdFields(
    children={
        "resourceSpans": IdFields(
            children={
                "scopeSpans": IdFields(
                    children={
                        "spans": IdFields(
                            ids=("traceId", "spanId", "parentSpanId"),
                            children={"links": _LINK_IDS},
                        )
                    }
                )
            }
        )
    }
)

# By the enum's numbers; a number from a newer OTLP version reads as "unspecified" / "unset".
_KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
_STATUS_CODES = ("unset", "ok", "error")


def decode_traces(body: bytes, content_type: str) -> Decoded:
    """An ExportTraceServiceRequest (protobuf or OTLP JSON) as a SpanBatch."""
    request = parse_request(body, content_type, ExportTraceServiceRequest, SPAN_ID_FIELDS)
    return spans_from_request(request)


def spans_from_request(request: ExportTraceServiceRequest) -> Decoded:
    batch = SpanBatch()
    add = batch.add
    rejections = Rejections()
    for resource_index, resource_spans in enumerate(request.resource_spans):
        resource = ResourceInfo.of(resource_spans.resource)
        for scope_index, scope_spans in enumerate(resource_spans.scope_spans):
            for span_index, span in enumerate(scope_spans.spans):
                start_ns = span.start_time_unix_nano
                ids = _well_formed_ids(span)
                if ids is None or start_ns > MAX_TIMESTAMP_NS:
                    path = _path(resource_index, scope_index, span_index)
                    ids = _checked_ids(span, path)
                    if not ids[0] or not ids[1]:
                        missing = "traceId" if not ids[0] else "spanId"
                        rejections.add(f"{path}.{missing}: a span needs a non-zero {missing}")
                        continue
                trace_id, span_id, parent_span_id = ids
                kind = span.kind
                status = span.status
                code = status.code
                add(
                    trace_id=trace_id,
                    span_id=span_id,
                    parent_span_id=parent_span_id,
                    name=span.name,
                    service=resource.service,
                    start_ns=start_ns,
                    duration_ns=max(span.end_time_unix_nano - start_ns, 0),
                    kind=_KINDS[kind] if 0 <= kind < len(_KINDS) else _KINDS[0],
                    status_code=_STATUS_CODES[code] if 0 <= code < len(_STATUS_CODES) else "unset",
                    status_message=status.message,
                    resource_attributes=resource.attributes,
                    attributes=attribute_map(span.attributes),
                    events=_events(span, _path(resource_index, scope_index, span_index))
                    if span.events
                    else None,
                    links=_links(span, _path(resource_index, scope_index, span_index))
                    if span.links
                    else None,
                )
    return Decoded(
        batches=[batch],
        accepted=len(batch),
        rejected=rejections.count,
        message=rejections.message,
    )


def _path(resource_index: int, scope_index: int, span_index: int) -> str:
    return f"resourceSpans[{resource_index}].scopeSpans[{scope_index}].spans[{span_index}]"


def _events(span: Span, path: str) -> list[SpanEvent]:
    return [
        {
            "timestamp": check_timestamp(
                event.time_unix_nano, f"{path}.events[{index}].timeUnixNano"
            ),
            "name": event.name,
            "attributes": attribute_map(event.attributes),
        }
        for index, event in enumerate(span.events)
    ]


def _links(span: Span, path: str) -> list[SpanLink]:
    """The span's links; a link id of the wrong length makes the request malformed."""
    links: list[SpanLink] = []
    for index, link in enumerate(span.links):
        link_path = f"{path}.links[{index}]"
        links.append(
            {
                "trace_id": hex_id(link.trace_id, TRACE_ID_BYTES, f"{link_path}.traceId"),
                "span_id": hex_id(link.span_id, SPAN_ID_BYTES, f"{link_path}.spanId"),
                "attributes": attribute_map(link.attributes),
            }
        )
    return links


def _well_formed_ids(span: Span) -> tuple[str, str, str] | None:
    """The span's ids in hex, or None when one is absent, zero or not of its size."""
    trace = span.trace_id
    own = span.span_id
    parent = span.parent_span_id
    if (
        len(trace) != TRACE_ID_BYTES
        or len(own) != SPAN_ID_BYTES
        or trace == ZERO_TRACE_ID
        or own == ZERO_SPAN_ID
    ):
        return None
    if not parent:
        return trace.hex(), own.hex(), ""
    if len(parent) != SPAN_ID_BYTES:
        return None
    return trace.hex(), own.hex(), parent.hex() if parent != ZERO_SPAN_ID else ""


def _checked_ids(span: Span, path: str) -> tuple[str, str, str]:
    """The span's ids after checking them and its start time; "" for an absent or zero id."""
    check_timestamp(span.start_time_unix_nano, f"{path}.startTimeUnixNano")
    return (
        hex_id(span.trace_id, TRACE_ID_BYTES, f"{path}.traceId"),
        hex_id(span.span_id, SPAN_ID_BYTES, f"{path}.spanId"),
        hex_id(span.parent_span_id, SPAN_ID_BYTES, f"{path}.parentSpanId"),
    )
