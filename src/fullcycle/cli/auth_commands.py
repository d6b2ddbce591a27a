"""`fullcycle login`, `logout` and `whoami`: getting, forgetting and checking credentials."""

from __future__ import annotations

import os
import socket
from dataclasses import replace

import typer
from rich.text import Text

from fullcycle.cli import output
from fullcycle.cli.client import (
    TOKEN_ENV,
    CliError,
    Connection,
    GlobalOptions,
    connect,
    current_options,
    open_client,
    read_config,
    resolve_connection,
)
from fullcycle.cli.config import StoredLogin, save_config

LoginUrlOption = typer.Option(
    None, "--url", metavar="URL", help="The server (default: as for every other command)."
)


def login(
    ctx: typer.Context,
    url: str | None = LoginUrlOption,
    token: str | None = typer.Option(
        None,
        "--token",
        metavar="TOKEN",
        help="Store this existing API token (checked with the server first) instead of "
        "logging in with a password.",
    ),
    username: str | None = typer.Option(
        None, "--user", "-u", help="Your user name (prompted for when missing)."
    ),
    scopes: list[str] = typer.Option(
        [],
        "--scope",
        metavar="SCOPE",
        help="Scope of the new token, repeatable: read, deploy, admin, ingest "
        "(default: read and deploy).",
    ),
    expires_in_days: int = typer.Option(
        90, "--expires-in-days", min=1, max=3650, help="Days until the new token expires."
    ),
) -> None:
    """Log in to a server and remember the token for the next commands.

    Asks for your user name and password and stores a new API token, readable by you only, in
    $XDG_CONFIG_HOME/fullcycle/config.toml (~/.config/fullcycle/config.toml). That server
    becomes the default for later commands.
    """
    options = current_options(ctx)
    connection = resolve_connection(
        GlobalOptions(url=url or options.url), os.environ, read_config()
    )
    if token:
        stored = _check_token(ctx, connection, token)
    else:
        stored = _password_login(ctx, connection, username, scopes, expires_in_days)
    config = read_config()
    config.url = connection.url
    config.servers[connection.url] = stored
    path = save_config(config)
    output.hint(f"token stored in {path}")
    if os.environ.get(TOKEN_ENV):
        output.warn(f"note: {TOKEN_ENV} is set, and takes precedence over the stored token")


def _password_login(
    ctx: typer.Context,
    connection: Connection,
    username: str | None,
    scopes: list[str],
    expires_in_days: int,
) -> StoredLogin:
    name = username or typer.prompt("User name", err=True)
    password = typer.prompt("Password", hide_input=True, err=True)
    body: dict[str, object] = {
        "username": name,
        "password": password,
        "token_name": f"fullcycle CLI on {socket.gethostname()}",
        "expires_in_days": expires_in_days,
    }
    if scopes:
        body["scopes"] = scopes
    api = open_client(ctx, replace(connection, token=None, token_source=None))
    created = api.post("/api/v1/auth/login", body)
    scopes_text = output.joined(created["scopes"])
    output.success(
        f"logged in to {connection.url} as {created['user']} "
        f"(scopes: {scopes_text}; expires {output.when(created['expires_at'])})"
    )
    return StoredLogin(token=created["token"], token_id=created["id"])


def _check_token(ctx: typer.Context, connection: Connection, token: str) -> StoredLogin:
    given = Connection(connection.url, connection.url_source, token, "--token")
    me = open_client(ctx, given).get("/api/v1/auth/me")
    output.success(
        f"token accepted by {connection.url}: {me['user']['name']} "
        f"(scopes: {output.joined(me['scopes'])})"
    )
    return StoredLogin(token=token)


def logout(ctx: typer.Context, url: str | None = LoginUrlOption) -> None:
    """Forget the token stored for a server.

    A token that `fullcycle login` created with your password is also revoked on the server; a
    token you stored with `login --token` is only forgotten here (revoke it with
    `fullcycle tokens revoke ID`).
    """
    config = read_config()
    options = current_options(ctx)
    connection = resolve_connection(GlobalOptions(url=url or options.url), os.environ, config)
    stored = config.servers.pop(connection.url, None)
    if stored is None:
        output.hint(f"no token stored for {connection.url}: nothing to do")
        return
    if stored.token_id is not None:
        _revoke_quietly(ctx, replace(connection, token=stored.token), stored.token_id)
    save_config(config)
    output.success(f"logged out of {connection.url}")


def _revoke_quietly(ctx: typer.Context, connection: Connection, token_id: int) -> None:
    """Revoke the token login created; if that fails, say so and let logout go on."""
    try:
        open_client(ctx, connection).delete(f"/api/v1/tokens/{token_id}")
    except CliError as error:
        output.warn(
            f"could not revoke the token on the server ({error.message}); it stays valid "
            "until it expires, unless someone revokes it"
        )


def whoami(ctx: typer.Context, as_json: bool = output.JsonOption) -> None:
    """Show who the server thinks you are: user, scopes, teams and where the token came from."""
    api = connect(ctx)
    me = api.get("/api/v1/auth/me")
    if as_json:
        output.print_json(me)
        return
    user = me["user"]
    line = Text(user["name"], style="bold")
    if user["display_name"]:
        line.append(f" ({user['display_name']})")
    line.append(f" on {api.url}")
    output.line(line)
    output.print_fields(
        [
            ("scopes", output.joined(me["scopes"])),
            ("teams", output.joined(user["teams"])),
            ("admin", output.yes_no(user["is_admin"])),
            ("may deploy", output.yes_no(user["can_deploy"])),
            ("credentials", f"{me['via']} from {api.connection.token_source}"),
        ]
    )


def register(app: typer.Typer) -> None:
    panel = "Log in"
    app.command("login", rich_help_panel=panel)(login)
    app.command("logout", rich_help_panel=panel)(logout)
    app.command("whoami", rich_help_panel=panel)(whoami)
