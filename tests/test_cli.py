"""The `fullcycle` command-line client, run in-process with CliRunner against a real server over
real HTTP, with its settings file under a temporary XDG_CONFIG_HOME."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer.main
from typer.testing import CliRunner, Result

from fullcycle.cli.config import ClientConfig, StoredLogin, to_toml
from fullcycle.cli.main import app
from tests.conftest import ADMIN_TOKEN, LiveServer, free_port

FIXTURES = Path(__file__).parent / "fixtures" / "cli"
PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def cli_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No settings from the developer's machine: a fresh config directory, no FULLCYCLE_*."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("FULLCYCLE_URL", raising=False)
    monkeypatch.delenv("FULLCYCLE_TOKEN", raising=False)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return tmp_path / "xdg" / "fullcycle" / "config.toml"


def fullcycle(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input)


def ok(*args: str, input: str | None = None) -> Result:
    result = fullcycle(*args, input=input)
    assert result.exit_code == 0, f"{args} failed:\n{result.output}\n{result.exception!r}"
    return result


def failed(*args: str, input: str | None = None) -> Result:
    result = fullcycle(*args, input=input)
    assert result.exit_code == 1, f"{args} should fail:\n{result.output}\n{result.exception!r}"
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result


def api(server: LiveServer, token: str = ADMIN_TOKEN) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"})


def create_user(server: LiveServer, name: str, **rights: bool) -> None:
    with api(server) as admin:
        response = admin.post("/api/v1/users", json={"name": name, "password": PASSWORD, **rights})
    assert response.status_code == 201, response.text


def token_for(server: LiveServer, name: str, scopes: list[str]) -> str:
    body = {"username": name, "password": PASSWORD, "scopes": scopes, "token_name": "test"}
    response = httpx.post(f"{server.url}/api/v1/auth/login", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


def me(server: LiveServer, token: str) -> httpx.Response:
    with api(server, token) as client:
        return client.get("/api/v1/auth/me")


def whoami_name(*args: str) -> str:
    return str(json.loads(ok(*args, "whoami", "--json").stdout)["user"]["name"])


# --- logging in -------------------------------------------------------------------------------


def test_password_login_stores_a_private_token_and_whoami_uses_it(
    live_server: LiveServer, config_file: Path
) -> None:
    create_user(live_server, "alice")

    login = ok("login", "--url", live_server.url, input=f"alice\n{PASSWORD}\n")

    assert f"logged in to {live_server.url} as alice" in login.stdout
    assert PASSWORD not in login.output
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(config_file.parent.stat().st_mode) == 0o700
    stored = tomllib.loads(config_file.read_text())
    assert stored["url"] == live_server.url
    token = stored["servers"][live_server.url]["token"]
    assert me(live_server, token).json()["user"]["name"] == "alice"

    whoami = ok("whoami")
    assert "alice" in whoami.stdout
    assert "deploy, read" in whoami.stdout
    assert str(config_file) in whoami.stdout
    assert json.loads(ok("whoami", "--json").stdout) == me(live_server, token).json()


def test_wrong_password_says_so_and_stores_nothing(
    live_server: LiveServer, config_file: Path
) -> None:
    create_user(live_server, "alice")

    result = failed("login", "--url", live_server.url, "--user", "alice", input="nope\n")

    assert "wrong user name or password" in result.stderr
    assert not config_file.exists()


def test_logout_revokes_the_token_login_created(live_server: LiveServer, config_file: Path) -> None:
    create_user(live_server, "alice")
    ok("login", "--url", live_server.url, "-u", "alice", input=f"{PASSWORD}\n")
    token = tomllib.loads(config_file.read_text())["servers"][live_server.url]["token"]

    assert f"logged out of {live_server.url}" in ok("logout").stdout

    assert "servers" not in tomllib.loads(config_file.read_text())
    assert me(live_server, token).status_code == 401
    result = failed("whoami")
    assert "fullcycle login" in result.stderr
    assert "nothing to do" in ok("logout").stderr


def test_login_with_a_token_checks_it_and_logout_only_forgets_it(
    live_server: LiveServer, config_file: Path
) -> None:
    create_user(live_server, "alice")
    token = token_for(live_server, "alice", ["read"])

    assert "alice" in ok("login", "--url", live_server.url, "--token", token).stdout
    assert whoami_name() == "alice"
    ok("logout")

    assert me(live_server, token).status_code == 200, "a token given to login is not revoked"
    refused = failed("login", "--url", live_server.url, "--token", "fc_not_a_real_token")
    assert "invalid, expired or revoked API token" in refused.stderr
    assert "servers" not in tomllib.loads(config_file.read_text())


def test_token_precedence_option_then_environment_then_settings_file(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("alice", "bob", "carol"):
        create_user(live_server, name)
    ok("login", "--url", live_server.url, "-u", "alice", input=f"{PASSWORD}\n")
    assert whoami_name() == "alice"

    monkeypatch.setenv("FULLCYCLE_TOKEN", token_for(live_server, "bob", ["read"]))
    assert whoami_name() == "bob"

    assert whoami_name("--token", token_for(live_server, "carol", ["read"])) == "carol"


def test_stored_token_is_only_sent_to_its_own_server(live_server: LiveServer) -> None:
    create_user(live_server, "alice")
    ok("login", "--url", live_server.url, "-u", "alice", input=f"{PASSWORD}\n")
    other_url = live_server.url.replace("127.0.0.1", "localhost")

    result = failed("--url", other_url, "whoami")

    assert f"you are not logged in to {other_url}" in result.stderr


def test_url_from_environment_and_option(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    unused = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("FULLCYCLE_URL", unused)
    monkeypatch.setenv("FULLCYCLE_TOKEN", ADMIN_TOKEN)

    assert "from FULLCYCLE_URL" in failed("whoami").stderr
    assert whoami_name("--url", live_server.url) == "admin"


def test_refused_token_suggests_logging_in(live_server: LiveServer) -> None:
    result = failed("--url", live_server.url, "--token", "fc_revoked_or_made_up", "whoami")

    assert "error: invalid, expired or revoked API token" in result.stderr
    assert f"fullcycle login --url {live_server.url}" in result.stderr


def test_unreachable_server_names_the_url_and_how_to_change_it() -> None:
    url = f"http://127.0.0.1:{free_port()}"

    result = failed("--url", url, "--token", ADMIN_TOKEN, "users", "list")

    assert f"cannot reach the fullcycle server at {url} (from --url)" in result.stderr
    assert "FULLCYCLE_URL" in result.stderr
    assert "fullcycle login --url" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("token", [f"{ADMIN_TOKEN}\n", "tökën"])
def test_a_token_that_cannot_be_sent_names_where_it_came_from(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    monkeypatch.setenv("FULLCYCLE_TOKEN", token)

    result = failed("--url", live_server.url, "services", "list")

    assert "the token from FULLCYCLE_TOKEN holds a line break" in result.stderr
    assert "cannot reach" not in result.stderr


def test_url_without_scheme_is_refused() -> None:
    result = failed("--url", "fullcycle.example.com", "whoami")
    assert "must start with http:// or https://" in result.stderr


# --- users, tokens, audit ---------------------------------------------------------------------


def test_admin_creates_users_and_lists_them(live_server: LiveServer) -> None:
    admin = ("--url", live_server.url, "--token", ADMIN_TOKEN)

    created = ok(*admin, "users", "create", "dana", "--admin", "--password-prompt",
                 input=f"{PASSWORD}\n{PASSWORD}\n")  # fmt: skip
    assert "created user dana (rights: admin, deploy)" in created.stdout
    no_password = ok(*admin, "users", "create", "eve", "--no-deploy", "--display-name", "Eve [ops]")
    assert "rights: read only" in no_password.stdout
    assert "cannot log in yet" in no_password.stderr

    assert me(live_server, token_for(live_server, "dana", ["admin"])).json()["user"]["is_admin"]
    listing = ok(*admin, "users", "list").stdout
    assert "Eve [ops]" in listing
    assert {"admin", "dana", "eve"} <= {line.split()[0] for line in listing.splitlines()[2:]}
    with api(live_server) as client:
        assert json.loads(ok(*admin, "users", "list", "--json").stdout) == (
            client.get("/api/v1/users").json()
        )
    assert "a user named 'eve' exists" in failed(*admin, "users", "create", "eve").stderr


def test_read_only_token_cannot_create_a_user(live_server: LiveServer) -> None:
    read_only = token_for_admin(live_server, ["read"])

    result = failed("--url", live_server.url, "--token", read_only, "users", "create", "mallory")

    assert "error: this needs the 'admin' scope" in result.stderr
    with api(live_server) as client:
        assert client.get("/api/v1/users/mallory").status_code == 404


def token_for_admin(server: LiveServer, scopes: list[str]) -> str:
    with api(server) as admin:
        response = admin.post("/api/v1/tokens", json={"name": "limited", "scopes": scopes})
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


def test_tokens_create_list_and_revoke(live_server: LiveServer) -> None:
    create_user(live_server, "alice")
    ok("login", "--url", live_server.url, "-u", "alice", input=f"{PASSWORD}\n")

    created = ok("tokens", "create", "ci", "--scope", "read", "--expires-in-days", "7")
    secret = created.stdout.splitlines()[1].strip()
    assert "created token" in created.stdout
    assert "not shown again" in created.stderr
    assert me(live_server, secret).json()["scopes"] == ["read"]

    tokens = json.loads(ok("tokens", "list", "--json").stdout)
    ci = next(token for token in tokens if token["name"] == "ci")
    assert ci["scopes"] == ["read"] and ci["expires_at"] and "token" not in ci
    listing = ok("tokens", "list").stdout
    assert "ci" in listing and "active" in listing and secret not in listing

    assert f"revoked token {ci['id']} 'ci' of alice" in ok("tokens", "revoke", str(ci["id"])).stdout
    assert me(live_server, secret).status_code == 401
    assert "revoked" in ok("tokens", "list").stdout

    as_json = json.loads(ok("tokens", "create", "deploy-bot", "--scope", "deploy", "--json").stdout)
    assert as_json["scopes"] == ["deploy"]
    assert "deploy" in me(live_server, as_json["token"]).json()["scopes"]
    limited = ok("tokens", "create", "otel", "--scope", "ingest", "--service", "Checkout", "--json")
    assert json.loads(limited.stdout)["service"] == "checkout"
    refused = failed("tokens", "create", "root", "--scope", "admin")
    assert "cannot grant scopes they lack: admin" in refused.stderr
    assert "no token with id 99999" in failed("tokens", "revoke", "99999").stderr


def test_audit_shows_the_writes_and_matches_the_api(live_server: LiveServer) -> None:
    admin = ("--url", live_server.url, "--token", ADMIN_TOKEN)
    ok(*admin, "users", "create", "frank")
    ok(*admin, "tokens", "create", "nightly", "--scope", "read")

    table = ok(*admin, "audit").stdout
    assert "user.create" in table and "frank" in table and "token.create" in table

    only_tokens = json.loads(ok(*admin, "audit", "--action", "token.", "--json").stdout)
    assert [event["action"] for event in only_tokens] == ["token.create"]
    with api(live_server) as client:
        expected = client.get("/api/v1/audit", params={"limit": 1}).json()
    assert json.loads(ok(*admin, "audit", "--limit", "1", "--json").stdout) == expected


# --- help, version, settings file -------------------------------------------------------------


def test_every_command_and_group_has_help() -> None:
    def walk(command: Any, path: tuple[str, ...]) -> None:
        result = ok(*path, "--help")
        assert "Usage: fullcycle" in result.stdout
        assert command.help, f"`fullcycle {' '.join(path)}` has no help text"
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())


def test_version() -> None:
    assert ok("--version").stdout.startswith("fullcycle ")


def test_settings_file_round_trips_awkward_strings() -> None:
    url = 'http://h/"quoted"\\back\tslash\x7f\u00e9\U0001f600'
    config = ClientConfig(url=url, servers={url: StoredLogin(token="t\n\x01", token_id=3)})

    data = tomllib.loads(to_toml(config))

    assert data == {"url": url, "servers": {url: {"token": "t\n\x01", "token_id": 3}}}


# --- the catalog ------------------------------------------------------------------------------

CATALOG_FILE = FIXTURES / "catalog-info.yaml"
BROKEN_FILE = FIXTURES / "broken-catalog-info.yaml"


def admin_options(server: LiveServer) -> tuple[str, ...]:
    return ("--url", server.url, "--token", ADMIN_TOKEN)


def service_names(server: LiveServer) -> list[str]:
    with api(server) as client:
        return [service["name"] for service in client.get("/api/v1/services").json()]


def test_import_a_backstage_file_then_list_show_and_export(
    live_server: LiveServer, tmp_path: Path
) -> None:
    admin = admin_options(live_server)

    imported = ok(*admin, "services", "import", str(CATALOG_FILE))

    report = imported.stdout
    assert "5 created, 0 updated, 0 unchanged, 1 skipped, 3 unresolved references" in report
    for expected in ("component:orders", "group:payments", "location:more-services",
                     "component:fraud-check", "spec.dependsOn"):  # fmt: skip
        assert expected in report
    again = ok(*admin, "services", "import", str(CATALOG_FILE)).stdout
    assert "0 created, 0 updated, 5 unchanged" in again

    listing = ok(*admin, "services", "list").stdout
    rows = {line.split()[0]: line for line in listing.splitlines()[2:]}
    assert set(rows) == {"billing", "orders", "nightly-export"}
    assert "payments" in rows["orders"] and "P0RD3RS" in rows["orders"]
    assert "unowned: data-platform (not in catalog)" in rows["nightly-export"]
    assert ok(*admin, "services", "list", "--search", "invoices").stdout.count("billing") == 1
    assert "orders" not in ok(*admin, "services", "list", "--search", "invoices").stdout
    assert (
        "the catalog is empty" not in ok(*admin, "services", "list", "--owner", "payments").output
    )
    assert "no services match" in ok(*admin, "services", "list", "--owner", "nobody").stderr

    shown = ok(*admin, "services", "show", "orders").stdout
    for expected in ("Takes and tracks customer orders.", "payments",
                     "pagerduty.com/service-id: P0RD3RS", "https://runbooks.example.com/orders",
                     "https://github.com/example/orders", "Dashboard: https://grafana.example.com",
                     "billing", "fraud-check (not in catalog)"):  # fmt: skip
        assert expected in shown, expected
    assert "billing (not in catalog)" not in shown
    assert "used by     orders" in ok(*admin, "services", "show", "billing").stdout
    assert "unowned: data-platform" in ok(*admin, "services", "show", "nightly-export").stdout

    with api(live_server) as client:
        assert json.loads(ok(*admin, "services", "list", "--json").stdout) == (
            client.get("/api/v1/services").json()
        )
        assert json.loads(ok(*admin, "services", "show", "orders", "--json").stdout) == (
            client.get("/api/v1/services/orders").json()
        )
        exported_by_api = client.get("/api/v1/catalog/export").text

    export_file = tmp_path / "export.yaml"
    ok(*admin, "services", "export", "-o", str(export_file))
    assert export_file.read_text() == exported_by_api
    assert ok(*admin, "services", "export").stdout == exported_by_api
    reimported = ok(*admin, "services", "import", str(export_file)).stdout
    assert "0 created, 0 updated" in reimported


def test_teams_list_and_show(live_server: LiveServer) -> None:
    admin = admin_options(live_server)
    ok(*admin, "services", "import", str(CATALOG_FILE))

    listing = ok(*admin, "teams", "list").stdout
    assert "payments" in listing and "Payments team" in listing

    shown = ok(*admin, "teams", "show", "payments").stdout
    assert "payments@example.com" in shown
    assert "alice (not in catalog)" in shown
    assert "billing" in shown and "orders" in shown
    with api(live_server) as client:
        assert json.loads(ok(*admin, "teams", "show", "payments", "--json").stdout) == (
            client.get("/api/v1/teams/payments").json()
        )
        assert json.loads(ok(*admin, "teams", "list", "--json").stdout) == (
            client.get("/api/v1/teams").json()
        )
    assert "ghosts" in failed(*admin, "teams", "show", "ghosts").stderr


def test_broken_file_prints_each_problem_with_its_line_and_imports_nothing(
    live_server: LiveServer,
) -> None:
    result = failed(*admin_options(live_server), "services", "import", str(BROKEN_FILE))

    problems = result.stderr
    assert f"{BROKEN_FILE}:18: document 2 (component:recommendations) spec.owner:" in problems
    assert "must be text, not a list" in problems
    assert "nothing was imported" in problems
    assert service_names(live_server) == []


def test_several_files_are_checked_before_any_is_imported(live_server: LiveServer) -> None:
    admin = admin_options(live_server)

    result = failed(*admin, "services", "import", str(CATALOG_FILE), str(BROKEN_FILE))

    assert f"invalid catalog file {BROKEN_FILE}: nothing was imported" in result.stderr
    assert service_names(live_server) == []

    other = FIXTURES / "catalog-info.yaml"
    dry = ok(*admin, "services", "import", "--dry-run", str(CATALOG_FILE), str(other)).stdout
    assert "dry run, nothing changed" in dry
    assert "FILE" in dry.splitlines()[0]
    assert service_names(live_server) == []


def test_only_admins_import_and_missing_services_are_named(live_server: LiveServer) -> None:
    create_user(live_server, "alice")
    ok("login", "--url", live_server.url, "-u", "alice", input=f"{PASSWORD}\n")

    refused = failed("services", "import", str(CATALOG_FILE))
    assert "this needs the 'admin' scope" in refused.stderr
    assert "no-such-service" in failed("services", "show", "no-such-service").stderr
    assert "the catalog is empty" in ok("services", "list").stderr


def test_unreadable_settings_file_is_named(config_file: Path) -> None:
    config_file.parent.mkdir(parents=True)
    config_file.write_text("url = [\n")

    result = failed("whoami")

    assert f"cannot read {config_file}" in result.stderr
    assert "fix or delete the file" in result.stderr
