"""The Elasticsearch bulk API (`POST /_bulk`), as rsyslog's omelasticsearch and syslog-ng send it.

The body is NDJSON: an action line (`{"index": {"_index": "applogs"}}` or `{"create": {...}}`)
followed by a document line, which becomes one log row as in `ndjson_logs` (the field mapping is
documented there). Blank lines, which rsyslog puts after every document, are skipped, and the
final newline Elasticsearch insists on may be missing.

Like Elasticsearch, a malformed action line fails the whole request (DecodeError, 400), while a
document that cannot be stored fails only its own item: `delete` and `update` actions (fullcycle
stores logs, it does not edit them) and documents that are not JSON objects or carry a bad
timestamp. `bulk_reply` answers in Elasticsearch's shape, item by item in request order, because
the senders read it: rsyslog retries or writes to its error file the items whose status is not
2xx.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from fullcycle.ingest.decoded import Decoded
from fullcycle.ingest.errors import DecodeError
from fullcycle.ingest.ndjson_logs import (
    add_json_record,
    json_type,
    non_blank_lines,
    parse_json_object,
)
from fullcycle.ingest.otlp_common import Rejections
from fullcycle.telemetry.batches import LogBatch

ACTIONS = ("create", "delete", "index", "update")

# The error types Elasticsearch 7/8 use for the same situations.
DOCUMENT_ERROR = "mapper_parsing_exception"
UNSUPPORTED_ACTION_ERROR = "illegal_argument_exception"
# A single-node cluster: one copy of each document.
SHARDS = {"total": 1, "successful": 1, "failed": 0}


@dataclass(frozen=True, slots=True)
class BulkItem:
    """One action of the request and its outcome; `error_type` is empty when it was stored."""

    action: str
    index: str
    id: str
    error_type: str = ""
    error_reason: str = ""


@dataclass
class BulkDecoded(Decoded):
    """Decoded, plus every action's outcome for the bulk reply."""

    items: list[BulkItem] = field(default_factory=list)


def decode_bulk(
    body: bytes, *, default_index: str = "", received_ns: int | None = None
) -> BulkDecoded:
    """Decode a bulk body. `default_index` is the `{index}` of `POST /{index}/_bulk`.

    `received_ns` (default: now) stamps documents without a timestamp and is every row's
    observed timestamp.
    """
    received_ns = time.time_ns() if received_ns is None else received_ns
    batch = LogBatch()
    items: list[BulkItem] = []
    rejections = Rejections()
    lines = non_blank_lines(body)
    for number, line in lines:
        action, metadata = _parse_action(line, number)
        index = _metadata_text(metadata, "_index", number) or default_index
        item_id = _metadata_text(metadata, "_id", number) or _generated_id()
        error: tuple[str, str] | None
        if action == "delete":
            error = _unsupported(action, number)
        else:
            document_line = next(lines, None)
            if document_line is None:
                raise DecodeError(f"line {number}: the {action} action has no document line")
            if action == "update":
                error = _unsupported(action, number)
            else:
                error = _add_document(batch, document_line, received_ns)
        items.append(BulkItem(action, index, item_id, *(error or ("", ""))))
        if error:
            rejections.add(error[1])
    if not items:
        raise DecodeError("the bulk body has no actions")
    return BulkDecoded(
        batches=[batch],
        accepted=len(batch),
        rejected=rejections.count,
        message=rejections.message,
        items=items,
    )


def bulk_reply(decoded: BulkDecoded, took_ms: int) -> dict[str, Any]:
    """The body Elasticsearch answers a bulk request with (HTTP 200 even with item errors)."""
    replies: list[dict[str, Any]] = []
    sequence_number = 0
    for item in decoded.items:
        if item.error_type:
            outcome: dict[str, Any] = {
                "_index": item.index,
                "_id": item.id,
                "status": 400,
                "error": {"type": item.error_type, "reason": item.error_reason},
            }
        else:
            outcome = {
                "_index": item.index,
                "_id": item.id,
                "_version": 1,
                "result": "created",
                "_shards": dict(SHARDS),
                "_seq_no": sequence_number,
                "_primary_term": 1,
                "status": 201,
            }
            sequence_number += 1
        replies.append({item.action: outcome})
    return {"took": took_ms, "errors": decoded.rejected > 0, "items": replies}


def _parse_action(line: bytes, number: int) -> tuple[str, dict[str, Any]]:
    where = f"line {number}"
    action_line = parse_json_object(line, where)
    if len(action_line) != 1:
        raise DecodeError(
            f"{where}: malformed action/metadata line: expected one action, "
            f"got {len(action_line)} keys"
        )
    ((action, metadata),) = action_line.items()
    if action not in ACTIONS:
        raise DecodeError(
            f"{where}: unknown bulk action [{action}]: expected one of {', '.join(ACTIONS)}"
        )
    if not isinstance(metadata, dict):
        raise DecodeError(
            f"{where}: malformed action/metadata line: [{action}] must be an object, "
            f"got {json_type(metadata)}"
        )
    return action, metadata


def _metadata_text(metadata: dict[str, Any], name: str, number: int) -> str:
    value = metadata.get(name)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return json.dumps(value)
    raise DecodeError(f"line {number}: {name} must be a string, got {json_type(value)}")


def _generated_id() -> str:
    """20 URL-safe characters, like Elasticsearch's auto-generated ids."""
    return secrets.token_urlsafe(15)


def _unsupported(action: str, number: int) -> tuple[str, str]:
    return (
        UNSUPPORTED_ACTION_ERROR,
        f"line {number}: the bulk action [{action}] is not supported: fullcycle stores log "
        "documents (index and create) and does not change them",
    )


def _add_document(
    batch: LogBatch, line: tuple[int, bytes], received_ns: int
) -> tuple[str, str] | None:
    """Add the document; (error type, reason) for its item when it cannot be stored."""
    number, text = line
    try:
        add_json_record(batch, parse_json_object(text, f"line {number}"), received_ns)
    except DecodeError as error:
        reason = str(error) if str(error).startswith("line ") else f"line {number}: {error}"
        return DOCUMENT_ERROR, f"failed to parse document: {reason}"
    return None
