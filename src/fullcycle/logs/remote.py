"""Counting matching log lines through a fullcycle server's log API, for `fullcycle worker`
processes, which evaluate log alert rules but have no telemetry store of their own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx

NS_PER_SECOND = 1_000_000_000


def api_log_counter(url: str, token: str) -> Callable[[str, int, int], int]:
    """(query text, window start ns, window end ns) -> the exact number of matching lines, as
    `GET /api/v1/logs/search` answers it; an error is a ValueError naming the server's reason."""

    def count(query: str, start_ns: int, end_ns: int) -> int:
        try:
            response = httpx.get(
                f"{url}/api/v1/logs/search",
                params={"q": query, "from": _rfc3339(start_ns), "to": _rfc3339(end_ns), "limit": 1},
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
                trust_env=False,
            )
        except httpx.HTTPError as error:
            raise ValueError(f"{url} did not answer the log count: {error}") from error
        if response.status_code != 200:
            raise ValueError(
                f"the log count failed ({response.status_code}): {response.text[:300]}"
            )
        return int(response.json()["total"])

    return count


def _rfc3339(nanoseconds: int) -> str:
    moment = datetime.fromtimestamp(nanoseconds // 1000 / 1_000_000, UTC)
    return moment.isoformat().replace("+00:00", "Z")
