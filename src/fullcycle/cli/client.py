"""Talking to a fullcycle server: which one, with which token, and what to say when it fails.

The server and token come from, in this order: the `--url`/`--token` options, the
FULLCYCLE_URL/FULLCYCLE_TOKEN environment variables, then the settings file written by
`fullcycle login` (see config.py). The settings file's token is only used for the server it was
stored for, so pointing the client at another server never leaks it there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import typer

from fullcycle import __version__
from fullcycle.cli import output
from fullcycle.cli.config import ClientConfig, ConfigError, config_path, load_config, normalise_url

DEFAULT_URL = "http://127.0.0.1:8080"
URL_ENV = "FULLCYCLE_URL"
TOKEN_ENV = "FULLCYCLE_TOKEN"
TIMEOUT_SECONDS = 60.0


class CliError(Exception):
    """A failure to report to the user: a message in red, then an optional hint; exit status 1."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def show(self) -> None:
        output.error_line(self.message)
        if self.hint:
            output.hint(self.hint)


class ApiError(CliError):
    """The server answered with a 4xx or 5xx status; `body` is its JSON (or {})."""

    def __init__(self, status: int, message: str, body: dict[str, Any], hint: str | None) -> None:
        super().__init__(message, hint)
        self.status = status
        self.body = body


@dataclass(frozen=True)
class GlobalOptions:
    """The top-level `--url` and `--token` options, kept on the click context for every command."""

    url: str | None = None
    token: str | None = None


@dataclass(frozen=True)
class Connection:
    url: str
    url_source: str
    token: str | None
    token_source: str | None


def resolve_connection(
    options: GlobalOptions, environ: Mapping[str, str], config: ClientConfig
) -> Connection:
    """Pick the server URL and token by precedence: option, then environment, then the file."""
    url_candidates = [
        (options.url, "--url"),
        (environ.get(URL_ENV), URL_ENV),
        (config.url, str(config_path())),
    ]
    url, url_source = next(((u, s) for u, s in url_candidates if u), (DEFAULT_URL, "default"))
    url = normalise_url(url)
    if not url.startswith(("http://", "https://")):
        raise CliError(
            f"server URL {url!r} (from {url_source}) must start with http:// or https://"
        )
    stored = config.servers.get(url)
    token_candidates = [
        (options.token, "--token"),
        (environ.get(TOKEN_ENV), TOKEN_ENV),
        (stored.token if stored else None, str(config_path())),
    ]
    token, token_source = next(((t, s) for t, s in token_candidates if t), (None, None))
    if token and not _sendable(token):
        raise CliError(
            f"the token from {token_source} holds a line break, a space at an end or a "
            "character outside ASCII, which no token has",
            "pass the secret alone, e.g. from `fullcycle tokens create NAME --scope read --json"
            " | jq -r .token`",
        )
    return Connection(url, url_source, token, token_source)


def _sendable(token: str) -> bool:
    """Whether the token fits in an Authorization header as it is (else httpx refuses it with
    an error that reads like an unreachable server)."""
    return token.isascii() and token.isprintable() and token == token.strip()


def current_options(ctx: typer.Context) -> GlobalOptions:
    """The top-level options, which the root command's callback put on the context."""
    return ctx.find_object(GlobalOptions) or GlobalOptions()


def read_config() -> ClientConfig:
    try:
        return load_config()
    except ConfigError as error:
        raise CliError(str(error), "fix or delete the file, then run `fullcycle login`") from error


def connect(ctx: typer.Context) -> ApiClient:
    """A client for the server this invocation is about, closed when the command ends."""
    connection = resolve_connection(current_options(ctx), os.environ, read_config())
    return open_client(ctx, connection)


def open_client(ctx: typer.Context, connection: Connection) -> ApiClient:
    client = ApiClient(connection)
    ctx.call_on_close(client.close)
    return client


class ApiClient:
    """A thin wrapper over httpx that turns every failure into a CliError the user can act on."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        headers = {"User-Agent": f"fullcycle-cli/{__version__}", "Accept": "application/json"}
        if connection.token:
            headers["Authorization"] = f"Bearer {connection.token}"
        self.http = httpx.Client(base_url=connection.url, headers=headers, timeout=TIMEOUT_SECONDS)

    @property
    def url(self) -> str:
        return self.connection.url

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, **params: Any) -> Any:
        return self.decode(self.send("GET", path, params=_without_none(params)))

    def get_text(self, path: str, **params: Any) -> str:
        return self.send("GET", path, params=_without_none(params)).text

    def post(self, path: str, body: Any) -> Any:
        return self.decode(self.send("POST", path, json=body))

    def delete(self, path: str) -> Any:
        response = self.send("DELETE", path)
        return self.decode(response) if response.content else None

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as error:
            raise self._unreachable(error) from error
        if response.status_code >= 400:
            raise self._api_error(response)
        return response

    def decode(self, response: httpx.Response) -> Any:
        """The response's JSON; anything else means the URL is not a fullcycle server."""
        try:
            return response.json()
        except ValueError as error:
            raise CliError(
                f"{response.request.url} answered with something other than JSON "
                f"({response.headers.get('content-type', 'no content type')})",
                f"is {self.url} (from {self.connection.url_source}) a fullcycle server?",
            ) from error

    def _unreachable(self, error: httpx.TransportError) -> CliError:
        if isinstance(error, httpx.TimeoutException):
            return CliError(
                f"the fullcycle server at {self.url} did not answer within "
                f"{TIMEOUT_SECONDS:.0f} s ({type(error).__name__})"
            )
        reason = str(error) or type(error).__name__
        return CliError(
            f"cannot reach the fullcycle server at {self.url} (from "
            f"{self.connection.url_source}): {reason}",
            f"is the server running? Use another server with --url URL, {URL_ENV}=URL "
            "or `fullcycle login --url URL`.",
        )

    def _api_error(self, response: httpx.Response) -> ApiError:
        body = _json_object(response)
        detail = _detail_text(body.get("detail")) or (
            f"HTTP {response.status_code} {response.reason_phrase} from {response.request.url}"
        )
        return ApiError(response.status_code, detail, body, self._hint_for(response.status_code))

    def _hint_for(self, status: int) -> str | None:
        if status != 401:
            return None
        if self.connection.token is None:
            return f"you are not logged in to {self.url}: run `fullcycle login --url {self.url}`"
        return (
            f"the token from {self.connection.token_source} was refused: run "
            f"`fullcycle login --url {self.url}` for a new one"
        )


def _without_none(params: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in params.items() if value is not None}


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _detail_text(detail: Any) -> str:
    """FastAPI's `detail`: a message, or a list of validation problems with their location."""
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        problems = []
        for item in detail:
            if isinstance(item, dict):
                where = ".".join(str(part) for part in item.get("loc", []) if part != "body")
                problems.append(f"{where}: {item.get('msg', '')}" if where else item.get("msg", ""))
            else:
                problems.append(str(item))
        return "; ".join(problems)
    return ""
