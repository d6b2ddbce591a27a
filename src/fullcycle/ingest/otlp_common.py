"""What the three OTLP/HTTP signals share: request parsing, ids, attribute values, resources.

Requests come as protobuf or as OTLP JSON. Both end up as the same protobuf message, so that one
extraction per signal serves both encodings and they yield the same rows. OTLP JSON differs from
the plain protobuf JSON mapping in one point that matters here: trace and span ids are hex, not
base64; they are rewritten before `json_format` sees them. Error messages use the OTLP JSON field
names (lowerCamelCase) for both encodings, with the index of every repeated element on the way.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from fullcycle.ingest.errors import DecodeError, UnsupportedContentType

PROTOBUF = "protobuf"
JSON = "json"

_ENCODINGS = {
    "application/x-protobuf": PROTOBUF,
    "application/protobuf": PROTOBUF,
    "application/json": JSON,
}

UNKNOWN_SERVICE = "unknown_service"

# Timestamps go to Arrow as signed 64-bit nanoseconds; OTLP's are unsigned.
MAX_TIMESTAMP_NS = 2**63 - 1

TRACE_ID_BYTES = 16
SPAN_ID_BYTES = 8
# All-zero ids are invalid in OTLP: they mean "no id".
ZERO_TRACE_ID = bytes(TRACE_ID_BYTES)
ZERO_SPAN_ID = bytes(SPAN_ID_BYTES)

RequestT = TypeVar("RequestT", bound=Message)


def encoding_of(content_type: str) -> str:
    """`PROTOBUF` or `JSON` for a Content-Type header; parameters such as charset are ignored.

    Raises UnsupportedContentType (a DecodeError the routes answer with 415) for any other type.
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    encoding = _ENCODINGS.get(media_type)
    if encoding is None:
        raise UnsupportedContentType(
            f"unsupported content type {content_type!r}: OTLP/HTTP accepts "
            "application/x-protobuf and application/json"
        )
    return encoding


@dataclass(frozen=True)
class IdFields:
    """Where a signal's JSON carries hex ids: id fields here, and child objects to descend into.

    Names are lowerCamelCase; the snake_case spelling is looked up as well.
    """

    ids: tuple[str, ...] = ()
    children: dict[str, IdFields] = field(default_factory=dict)


def parse_request(
    body: bytes, content_type: str, request_class: type[RequestT], id_fields: IdFields
) -> RequestT:
    """The Export*ServiceRequest in `body`, from protobuf or OTLP JSON."""
    if encoding_of(content_type) == PROTOBUF:
        return _parse_protobuf(body, request_class)
    return _parse_json(body, request_class, id_fields)


def _parse_protobuf(body: bytes, request_class: type[RequestT]) -> RequestT:
    request = request_class()
    try:
        request.ParseFromString(body)
    except (ProtobufDecodeError, RecursionError, ValueError) as error:
        raise DecodeError(
            f"not a valid protobuf {request_class.DESCRIPTOR.name} ({error})"
        ) from None
    return request


def _parse_json(body: bytes, request_class: type[RequestT], id_fields: IdFields) -> RequestT:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DecodeError(f"not valid JSON: not UTF-8 text (byte {error.start})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise DecodeError(
            f"line {error.lineno}: not valid JSON ({error.msg} at column {error.colno})"
        ) from None
    except RecursionError:
        raise DecodeError("not valid JSON: nested too deeply") from None
    if _SURROGATE_ESCAPE.search(text):
        _reject_lone_surrogates(document)
    if not isinstance(document, dict):
        raise DecodeError(
            f"expected a JSON object ({request_class.DESCRIPTOR.name}), "
            f"got {type(document).__name__}"
        )
    _hex_ids_to_base64(document, id_fields, "")
    try:
        return json_format.ParseDict(document, request_class(), ignore_unknown_fields=True)
    except _JSON_FORMAT_ERRORS:
        raise DecodeError(_locate_json_error(document, request_class.DESCRIPTOR, "")) from None


# A \u escape of a UTF-16 surrogate: in pairs they make one character, alone they make none.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _reject_lone_surrogates(document: Any) -> None:
    """Refuse strings that are not Unicode text (protobuf cannot hold them)."""
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as error:
        raise DecodeError(
            f"not valid JSON: a \\u escape makes a lone surrogate ({error.object[error.start]!a})"
        ) from None


# What `json_format` raises for documents of an unexpected shape, besides its ParseError.
_JSON_FORMAT_ERRORS = (
    json_format.ParseError,
    RecursionError,
    ValueError,
    TypeError,
    AttributeError,
    OverflowError,
)


@functools.cache
def _spellings(name: str) -> tuple[str, ...]:
    """A field's lowerCamelCase JSON name and its snake_case protobuf name, if different."""
    snake = re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()
    return (name, snake) if snake != name else (name,)


def _hex_ids_to_base64(node: Any, fields: IdFields, path: str) -> None:
    """Rewrite OTLP JSON's hex ids in place into the base64 that `json_format` expects.

    Shapes that do not match (a list where an object belongs, a number for an id) are left as
    they are for `json_format` to report.
    """
    if not isinstance(node, dict):
        return
    for id_name in fields.ids:
        for key in _spellings(id_name):
            value = node.get(key)
            if isinstance(value, str) and value:
                node[key] = _hex_to_base64(value, _join(path, key))
    for child_name, child_fields in fields.children.items():
        for key in _spellings(child_name):
            child = node.get(key)
            if isinstance(child, list):
                for index, item in enumerate(child):
                    _hex_ids_to_base64(item, child_fields, f"{_join(path, key)}[{index}]")
            elif isinstance(child, dict):
                _hex_ids_to_base64(child, child_fields, _join(path, key))


def _hex_to_base64(value: str, path: str) -> str:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise DecodeError(f"{path}: expected a hex id, got {value!r}") from None
    return base64.b64encode(raw).decode("ascii")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


_FIELD_ERROR = re.compile(r"^Failed to parse (\w+) field: (.*)$", re.DOTALL)


def _locate_json_error(node: Any, descriptor: Descriptor, path: str) -> str:
    """Name the innermost element that `json_format` cannot parse, with its indices.

    `json_format` names fields but not list indices; this parses the children of the failing
    element one by one to find the failing record. It runs only for bad requests.
    """
    if isinstance(node, dict):
        for key, value in node.items():
            child = _message_field(descriptor, key)
            if child is None:
                continue
            child_class = GetMessageClass(child.message_type)
            if isinstance(value, list) and child.is_repeated:
                for index, item in enumerate(value):
                    item_path = f"{_join(path, key)}[{index}]"
                    if not _parses(item, child_class):
                        return _locate_json_error(item, child.message_type, item_path)
            elif (
                isinstance(value, dict)
                and not child.is_repeated
                and not _parses(value, child_class)
            ):
                return _locate_json_error(value, child.message_type, _join(path, key))
    return _describe_json_error(node, descriptor, path)


def _message_field(descriptor: Descriptor, key: str) -> FieldDescriptor | None:
    found = descriptor.fields_by_camelcase_name.get(key) or descriptor.fields_by_name.get(key)
    if found is None or found.message_type is None or found.message_type.GetOptions().map_entry:
        return None
    return found


def _parses(node: Any, message_class: type[Message]) -> bool:
    return _parse_error(node, message_class) is None


def _parse_error(node: Any, message_class: type[Message]) -> str | None:
    """Why `json_format` cannot parse `node` into `message_class`, or None if it can."""
    try:
        json_format.ParseDict(node, message_class(), ignore_unknown_fields=True)
    except json_format.ParseError as error:
        return str(error)
    except RecursionError:
        return "nested too deeply"
    except (ValueError, TypeError, AttributeError, OverflowError) as error:
        return f"unexpected value ({error})"
    return None


# json_format's own note of where it was, which the path in front of the message replaces.
_JSON_FORMAT_PATH = re.compile(r"\.? at \"?[A-Za-z]+(\.\S*)?\"?\.?$")


def _describe_json_error(node: Any, descriptor: Descriptor, path: str) -> str:
    if not isinstance(node, dict):
        shown = json.dumps(node)
        shown = shown if len(shown) <= 40 else f"{shown[:37]}..."
        return f"{path or descriptor.name}: expected an object ({descriptor.name}), got {shown}"
    message_class = GetMessageClass(descriptor)
    reason = _parse_error(node, message_class) or "unexpected value"
    if not _FIELD_ERROR.match(reason):
        # json_format names no field for members of a oneof (AnyValue's stringValue, ...).
        for key, value in node.items():
            if _parse_error({key: value}, message_class) is not None:
                path = _join(path, key)
                break
    while match := _FIELD_ERROR.match(reason):
        path = _join(path, match.group(1))
        reason = match.group(2)
    reason = _JSON_FORMAT_PATH.sub("", reason.removesuffix("."))
    return f"{path or descriptor.name}: {reason}"


def hex_id(raw: bytes, size: int, path: str) -> str:
    """Lowercase hex of a trace or span id; "" for an absent or all-zero (invalid) id."""
    if not raw.strip(b"\x00"):
        if len(raw) in (0, size):
            return ""
    elif len(raw) == size:
        return raw.hex()
    raise DecodeError(
        f"{path}: expected a {size}-byte id ({2 * size} hex digits), got {len(raw)} bytes"
    )


def check_timestamp(value: int, path: str) -> int:
    if value > MAX_TIMESTAMP_NS:
        raise DecodeError(f"{path}: {value} is beyond the year 2262")
    return value


def attribute_map(key_values: Iterable[KeyValue]) -> dict[str, str]:
    """Attributes as strings: kvlists flattened with dotted keys, arrays as JSON text.

    Hot path of every decoder: strings and integers, nearly all attributes, are taken inline.
    """
    result: dict[str, str] = {}
    for key_value in key_values:
        value = key_value.value
        text = value.string_value
        if text:
            result[key_value.key] = text
            continue
        kind = value.WhichOneof("value")
        if kind == "int_value":
            result[key_value.key] = str(value.int_value)
        else:
            _put_value(result, key_value.key, value, kind)
    return result


def _put_value(result: dict[str, str], key: str, value: AnyValue, kind: str | None) -> None:
    if kind == "kvlist_value":
        for inner in value.kvlist_value.values:
            inner_value = inner.value
            _put_value(result, f"{key}.{inner.key}", inner_value, inner_value.WhichOneof("value"))
    else:
        result[key] = _text(value, kind)


def any_value_text(value: AnyValue) -> str:
    """An AnyValue as text: strings as they are, other scalars in their plain form.

    bool -> "true"/"false", int -> "42", double -> shortest repr ("0.1", "1e+20", "nan"),
    bytes -> base64, arrays and kvlists -> compact JSON, no value -> "".
    """
    return _text(value, value.WhichOneof("value"))


def _text(value: AnyValue, kind: str | None) -> str:
    if kind == "int_value":
        return str(value.int_value)
    if kind == "string_value":
        return value.string_value
    if kind is None:
        return ""
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "double_value":
        return repr(value.double_value)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return json.dumps(any_value_json(value), ensure_ascii=False, separators=(",", ":"))


def any_value_json(value: AnyValue) -> object:
    """An AnyValue as a JSON-ready Python value (bytes as base64 strings)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value_json(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {item.key: any_value_json(item.value) for item in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return getattr(value, kind)


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    """What every record of one resource shares, worked out once per resource."""

    service: str
    environment: str
    host: str
    job: str
    instance: str
    attributes: dict[str, str]

    @classmethod
    def of(cls, resource: Resource) -> ResourceInfo:
        attributes = attribute_map(resource.attributes)
        service_name = attributes.get("service.name", "")
        namespace = attributes.get("service.namespace", "")
        job = f"{namespace}/{service_name}" if namespace and service_name else service_name
        instance = attributes.get("service.instance.id", "")
        return cls(
            service=service_name or UNKNOWN_SERVICE,
            environment=attributes.get("deployment.environment.name")
            or attributes.get("deployment.environment", ""),
            host=attributes.get("host.name") or instance,
            job=job,
            instance=instance,
            attributes=attributes,
        )


class Rejections:
    """Records that could not be stored: how many, and what was wrong with the first few."""

    _SHOWN = 3

    def __init__(self) -> None:
        self.count = 0
        self._messages: list[str] = []

    def add(self, message: str) -> None:
        self.count += 1
        if len(self._messages) < self._SHOWN:
            self._messages.append(message)

    @property
    def message(self) -> str:
        text = "; ".join(self._messages)
        hidden = self.count - len(self._messages)
        return f"{text}; and {hidden} more" if hidden > 0 else text
