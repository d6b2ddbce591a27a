"""Who sends an ingest request: the `ingest` scope check, with tokens checked recently trusted
for a second.

A shipper sends many requests a second with the same token. Looking the token up on each one
(a database session opened and closed in a worker thread, the token and its user read) was
about a fifth of the server's Python time per OTLP request. A token found valid within the last
`ttl_seconds` is trusted again without the database, so a token revoked, or a user deactivated,
is refused by ingest at most that long after (the rest of the API checks every request). The
token's expiry time is checked on every request; refusals are never remembered, and web
sessions (cookies) always take the usual path.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from fastapi import Depends, Request

from fullcycle.auth.credentials import hash_token
from fullcycle.auth.dependencies import bearer_token, caller_in_own_session, require
from fullcycle.auth.principal import Principal
from fullcycle.auth.scopes import Scope
from fullcycle.store.database import utcnow

_require_ingest = require(Scope.INGEST)


@dataclass
class RecentTokens:
    """Principals of tokens found valid within the last `ttl_seconds`, by the token's hash (as
    the database keeps them: no token is held in memory in the clear)."""

    ttl_seconds: float = 1.0
    max_entries: int = 1024
    _entries: dict[str, tuple[float, Principal]] = field(default_factory=dict)

    def get(self, token: str) -> Principal | None:
        key = hash_token(token)
        entry = self._entries.get(key)
        if entry is None:
            return None
        checked_at, principal = entry
        usable = principal.token is not None and principal.token.is_usable(utcnow())
        if time.monotonic() - checked_at >= self.ttl_seconds or not usable:
            del self._entries[key]
            return None
        return principal

    def remember(self, token: str, principal: Principal) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[hash_token(token)] = (time.monotonic(), principal)


async def ingest_caller(request: Request) -> Principal:
    """The caller, who must hold the `ingest` scope (401 / 403 as for every endpoint)."""
    recent: RecentTokens = request.app.state.ingest.recent_tokens
    token = bearer_token(request)
    principal = recent.get(token) if token is not None else None
    if principal is None:
        principal = await caller_in_own_session(request)
        if token is not None:
            recent.remember(token, principal)
    request.state.principal = principal
    request.state.actor = principal.actor
    return await _require_ingest(principal)


RequireIngestCaller = Depends(ingest_caller)
