"""Backstage-style entity references ("kind:namespace/name").

References are stored as normalised strings and resolved when read, so that an import can name
entities that do not exist (yet), and they show as unresolved instead of failing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_NAMESPACE = "default"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


@dataclass(frozen=True)
class EntityRef:
    kind: str
    name: str
    namespace: str = DEFAULT_NAMESPACE

    def __str__(self) -> str:
        if self.namespace == DEFAULT_NAMESPACE:
            return f"{self.kind}:{self.name}"
        return f"{self.kind}:{self.namespace}/{self.name}"


def parse_ref(text: str, default_kind: str) -> EntityRef:
    """Parse 'name', 'kind:name' or 'kind:namespace/name'; raises ValueError on a malformed ref."""
    raw = text.strip()
    kind, sep, rest = raw.partition(":")
    if not sep:
        kind, rest = default_kind, raw
    namespace, slash, name = rest.partition("/")
    if not slash:
        namespace, name = DEFAULT_NAMESPACE, rest
    if not kind or not NAME_PATTERN.match(name) or not NAME_PATTERN.match(namespace):
        raise ValueError(f"malformed entity reference {text!r}; expected [kind:][namespace/]name")
    return EntityRef(kind=kind.lower(), name=name.lower(), namespace=namespace.lower())


def normalise_ref(text: str, default_kind: str) -> str:
    return str(parse_ref(text, default_kind))


def valid_name(name: str) -> bool:
    return bool(NAME_PATTERN.match(name))
