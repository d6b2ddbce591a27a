"""The demo's way to its own server: the public HTTP API with a token, like any client."""

from __future__ import annotations

from typing import Any

import httpx

TIMEOUT_SECONDS = 60.0


class DemoApiError(RuntimeError):
    """The server refused a step of the demo; the message names the request and the answer."""


class DemoApi:
    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.client = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT_SECONDS,
            trust_env=False,
        )

    def close(self) -> None:
        self.client.close()

    def call(self, method: str, path: str, *, accept: tuple[int, ...] = (), **kwargs: Any) -> Any:
        """The JSON answer (None for an empty one); statuses in `accept` are not errors."""
        response = self.client.request(method, path, **kwargs)
        if response.status_code >= 400 and response.status_code not in accept:
            raise DemoApiError(
                f"{method} {path}: HTTP {response.status_code}: {response.text[:500]}"
            )
        if not response.content or "json" not in response.headers.get("content-type", ""):
            return None
        return response.json()

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params=params)

    def post(self, path: str, body: Any, *, accept: tuple[int, ...] = ()) -> Any:
        return self.call("POST", path, json=body, accept=accept)

    def put(self, path: str, body: Any) -> Any:
        return self.call("PUT", path, json=body)
