"""`fullcycle users`: who has an account, and creating accounts (admin)."""

from __future__ import annotations

import typer

from fullcycle.cli import output
from fullcycle.cli.client import connect

RIGHT_FIELDS = {"admin": "is_admin", "deploy": "can_deploy"}

users_app = typer.Typer(
    help="User accounts: list them, create one (needs the 'admin' scope).",
    no_args_is_help=True,
)


@users_app.command("list")
def list_users(ctx: typer.Context, as_json: bool = output.JsonOption) -> None:
    """List every user with their rights and teams."""
    users = connect(ctx).get("/api/v1/users")
    if as_json:
        output.print_json(users)
        return
    rows = output.table("NAME", "DISPLAY NAME", "E-MAIL", "ADMIN", "DEPLOY", "ACTIVE", "TEAMS")
    for user in users:
        output.add_row(
            rows,
            user["name"],
            user["display_name"],
            user["email"],
            output.yes_no(user["is_admin"]),
            output.yes_no(user["can_deploy"]),
            output.yes_no(user["is_active"]),
            output.joined(user["teams"]),
        )
    output.print_table(rows, "no users")


@users_app.command("create")
def create_user(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The login name: letters, digits, '.', '_' or '-'."),
    admin: bool = typer.Option(False, "--admin", help="Make them an administrator."),
    no_deploy: bool = typer.Option(
        False, "--no-deploy", help="Withhold the deploy right (they can still read everything)."
    ),
    display_name: str = typer.Option("", "--display-name", help="Their full name."),
    email: str = typer.Option("", "--email", help="Their e-mail address."),
    password_prompt: bool = typer.Option(
        False,
        "--password-prompt",
        help="Ask for their initial password (twice). Without it the account has no password "
        "and cannot log in until one is set.",
    ),
    as_json: bool = output.JsonOption,
) -> None:
    """Create a user account (needs the 'admin' scope)."""
    api = connect(ctx)
    body: dict[str, object] = {
        "name": name,
        "display_name": display_name,
        "email": email,
        "is_admin": admin,
        "can_deploy": not no_deploy,
    }
    if password_prompt:
        body["password"] = typer.prompt(
            f"Password for {name}", hide_input=True, confirmation_prompt=True, err=True
        )
    user = api.post("/api/v1/users", body)
    if as_json:
        output.print_json(user)
        return
    rights = [name for name in ("admin", "deploy") if user[RIGHT_FIELDS[name]]]
    output.success(f"created user {user['name']} (rights: {', '.join(rights) or 'read only'})")
    if not user["can_log_in"]:
        output.hint(
            "they cannot log in yet: no password. Run `fullcycle admin reset-password "
            f"{user['name']}` on the server, or create the user with --password-prompt."
        )


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users", rich_help_panel="Access")
