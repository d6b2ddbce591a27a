"""Token scopes. Reading is open to every user; scopes guard writing and machine access."""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    READ = "read"
    INGEST = "ingest"
    DEPLOY = "deploy"
    ADMIN = "admin"


# A scope also grants the scopes listed here: admin can do everything, deploying implies reading.
IMPLIED: dict[Scope, frozenset[Scope]] = {
    Scope.READ: frozenset({Scope.READ}),
    Scope.INGEST: frozenset({Scope.INGEST}),
    Scope.DEPLOY: frozenset({Scope.DEPLOY, Scope.READ}),
    Scope.ADMIN: frozenset(Scope),
}


def effective_scopes(granted: list[str] | frozenset[Scope]) -> frozenset[Scope]:
    result: set[Scope] = set()
    for name in granted:
        result |= IMPLIED[Scope(name)]
    return frozenset(result)


def parse_scopes(names: list[str]) -> list[Scope]:
    """Validate scope names; raises ValueError naming the unknown one."""
    known = {scope.value for scope in Scope}
    for name in names:
        if name not in known:
            raise ValueError(f"unknown scope {name!r}; expected one of {', '.join(sorted(known))}")
    return sorted({Scope(name) for name in names})
