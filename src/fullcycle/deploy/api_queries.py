"""MetricQueries through a fullcycle server's Prometheus query API, for `fullcycle worker`
processes, which run deploys but have no telemetry store of their own."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from fullcycle.deploy.metric_queries import SeriesPoints


class ApiQueries:
    """`instant` and `range` as `GET /api/v1/query` and `/api/v1/query_range`; an error the
    server names (bad query, unreachable server) is a ValueError, as MetricQueries promises."""

    def __init__(self, url: str, token: str, timeout_seconds: float = 30.0) -> None:
        self.url = url
        self.token = token
        self.timeout_seconds = timeout_seconds

    def instant(self, expr: str, at: datetime) -> list[SeriesPoints]:
        data = self._get("/api/v1/query", {"query": expr, "time": at.timestamp()})
        if data["resultType"] == "scalar":
            return [SeriesPoints({}, [_point(data["result"])])]
        return [
            SeriesPoints(series["metric"], [_point(series["value"])]) for series in data["result"]
        ]

    def range(
        self, expr: str, start: datetime, end: datetime, step: timedelta
    ) -> list[SeriesPoints]:
        parameters = {
            "query": expr,
            "start": start.timestamp(),
            "end": end.timestamp(),
            "step": step.total_seconds(),
        }
        data = self._get("/api/v1/query_range", parameters)
        return [
            SeriesPoints(series["metric"], [_point(value) for value in series["values"]])
            for series in data["result"]
        ]

    def _get(self, path: str, parameters: dict[str, Any]) -> dict[str, Any]:
        try:
            response = httpx.get(
                f"{self.url}{path}",
                params=parameters,
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=self.timeout_seconds,
                trust_env=False,
            )
        except httpx.HTTPError as error:
            raise ValueError(f"{self.url} did not answer the query: {error}") from error
        body = (
            response.json()
            if response.headers.get("content-type", "").startswith("application/json")
            else {}
        )
        if response.status_code != 200 or body.get("status") != "success":
            message = body.get("error") or response.text[:300]
            raise ValueError(f"the query failed ({response.status_code}): {message}")
        data: dict[str, Any] = body["data"]
        return data


def _point(pair: list[Any]) -> tuple[float, float]:
    return float(pair[0]), float(pair[1])
