"""OTLP/HTTP error bodies: a google.rpc.Status in the request's encoding, as the spec asks.

Exporters log the message of a refused export; for a protobuf request they can only read it if
it is a protobuf Status, for a JSON request a JSON one.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2

OTLP_PATHS = ("/v1/logs", "/v1/metrics", "/v1/traces")
PROTOBUF_TYPES = ("application/x-protobuf", "application/protobuf")

# HTTP status -> the gRPC code OTLP/gRPC would use for the same refusal.
GRPC_CODE = {
    400: code_pb2.INVALID_ARGUMENT,
    401: code_pb2.UNAUTHENTICATED,
    403: code_pb2.PERMISSION_DENIED,
    404: code_pb2.NOT_FOUND,
    413: code_pb2.INVALID_ARGUMENT,
    415: code_pb2.INVALID_ARGUMENT,
    429: code_pb2.RESOURCE_EXHAUSTED,
    503: code_pb2.UNAVAILABLE,
}


def is_otlp(request: Request) -> bool:
    return request.url.path in OTLP_PATHS


def otlp_error(
    request: Request, status_code: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    status = status_pb2.Status(code=GRPC_CODE.get(status_code, code_pb2.UNKNOWN), message=message)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in PROTOBUF_TYPES:
        body, media_type = status.SerializeToString(), content_type
    else:
        body, media_type = json_format.MessageToJson(status).encode(), "application/json"
    return Response(body, status_code=status_code, media_type=media_type, headers=headers)
