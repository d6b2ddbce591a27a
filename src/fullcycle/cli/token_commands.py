"""`fullcycle tokens`: API tokens for scripts, CI jobs and exporters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import typer
from rich.text import Text

from fullcycle.cli import output
from fullcycle.cli.client import connect

tokens_app = typer.Typer(
    help="API tokens: list yours, create one with chosen scopes, revoke one.",
    no_args_is_help=True,
)


def token_state(token: dict[str, Any]) -> Text:
    if token["revoked_at"]:
        return Text("revoked", style="red")
    expires = token["expires_at"]
    if expires and datetime.fromisoformat(expires) <= datetime.now(UTC):
        return Text("expired", style="yellow")
    return Text("active", style="green")


@tokens_app.command("list")
def list_tokens(
    ctx: typer.Context,
    all_users: bool = typer.Option(
        False, "--all", help="Everyone's tokens, not only yours (needs the 'admin' scope)."
    ),
    as_json: bool = output.JsonOption,
) -> None:
    """List your API tokens (never their secrets) with scopes, expiry and last use."""
    tokens = connect(ctx).get("/api/v1/tokens", all_users_tokens=all_users or None)
    if as_json:
        output.print_json(tokens)
        return
    rows = output.table("ID", "NAME", "USER", "PREFIX", "SCOPES", "STATE", "EXPIRES", "LAST USED")
    for token in tokens:
        output.add_row(
            rows,
            token["id"],
            token["name"],
            token["user"],
            f"{token['prefix']}…",
            output.joined(token["scopes"]),
            token_state(token),
            output.when(token["expires_at"]),
            output.when(token["last_used_at"]),
        )
    output.print_table(rows, "no tokens")


@tokens_app.command("create")
def create_token(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="What the token is for, e.g. 'github-actions'."),
    scopes: list[str] = typer.Option(
        ...,
        "--scope",
        metavar="SCOPE",
        help="A scope, repeatable: read, deploy, ingest, admin (only scopes you hold yourself).",
    ),
    expires_in_days: int | None = typer.Option(
        None, "--expires-in-days", min=1, max=3650, help="Days until it expires (default: never)."
    ),
    service: str | None = typer.Option(
        None, "--service", help="Limit an ingest token to this catalog service's telemetry."
    ),
    as_json: bool = output.JsonOption,
) -> None:
    """Create an API token for yourself and print its secret, which is shown only this once."""
    body: dict[str, object] = {"name": name, "scopes": scopes}
    if expires_in_days is not None:
        body["expires_in_days"] = expires_in_days
    if service is not None:
        body["service"] = service
    token = connect(ctx).post("/api/v1/tokens", body)
    if as_json:
        output.print_json(token)
        return
    output.success(
        f"created token {token['id']} {token['name']!r} "
        f"(scopes: {output.joined(token['scopes'])}; expires {output.when(token['expires_at'])})"
    )
    output.line(Text(token["token"], style="bold"))
    output.hint("copy it now: it is not shown again. Use it as FULLCYCLE_TOKEN or a Bearer token.")


@tokens_app.command("revoke")
def revoke_token(
    ctx: typer.Context,
    token_id: int = typer.Argument(..., metavar="ID", help="The token's id, from `tokens list`."),
) -> None:
    """Revoke a token at once (yours; admins: anyone's). Revoking twice is harmless."""
    token = connect(ctx).delete(f"/api/v1/tokens/{token_id}")
    output.success(f"revoked token {token['id']} {token['name']!r} of {token['user']}")


def register(app: typer.Typer) -> None:
    app.add_typer(tokens_app, name="tokens", rich_help_panel="Access")
