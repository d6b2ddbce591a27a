"""`fullcycle deploy`, `rollback`, `deploys` and `pipelines` against a real server over HTTP:
the deploy command streams the stages and exits non-zero when a release is rolled back."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from fullcycle.cli.main import app
from tests.conftest import ADMIN_TOKEN, LiveServer
from tests.deploy_helpers import version_health

pytestmark = pytest.mark.usefixtures("cli_against_live_server")


def fullcycle(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def write_pipeline(tmp_path: Path, health_url: str) -> Path:
    file = tmp_path / "fullcycle.yaml"
    file.write_text(f"""service: shop
environments:
  - name: production
    test: echo all {{version}} tests green
    deploy:
      target: command
      command: echo {{version}} > {tmp_path / "live-version"}
    verify: {{bake: 1, interval: 1, health_url: "{health_url}"}}
""")
    return file


def test_check_names_file_line_and_field_without_a_server(tmp_path: Path) -> None:
    file = tmp_path / "fullcycle.yaml"
    file.write_text(
        "service: shop\nenvironments:\n  - name: prod\n    deploy:\n"
        "      target: command\n      command: x\n      timeout: soon\n"
    )
    result = fullcycle("pipelines", "check", str(file))
    assert result.exit_code == 1
    assert f"{file}:7: environments[0].deploy.timeout:" in result.output


def test_deploy_streams_stages_and_a_rolled_back_release_exits_non_zero(
    tmp_path: Path, live_server: LiveServer
) -> None:
    with httpx.Client(
        base_url=live_server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ) as api:
        api.post("/api/v1/services", json={"name": "shop", "owners": ["team-shop"]})
    with version_health(tmp_path / "live-version") as health:
        file = write_pipeline(tmp_path, health.url)
        assert fullcycle("pipelines", "check", str(file)).exit_code == 0
        applied = fullcycle("pipelines", "apply", str(file))
        assert applied.exit_code == 0 and "pipeline of shop applied" in applied.output

        good = fullcycle("deploy", "shop", "1.0.0", "--commit", "abc")
        assert good.exit_code == 0, good.output
        assert "all 1.0.0 tests green" in good.output
        assert "health: passed" in good.output and "succeeded" in good.output

        bad = fullcycle("deploy", "shop", "2.0.0-bad")
        assert bad.exit_code == 1, bad.output
        assert "health: failed - HTTP 500" in bad.output
        assert "rolled back: verification failed: rolled back to 1.0.0" in bad.output

        manual = fullcycle("rollback", "shop", "--to", "1.0.0")
        assert manual.exit_code == 0, manual.output

    listed = fullcycle("deploys", "list", "--service", "shop", "--json")
    history = [(d["version"], d["kind"], d["status"]) for d in json.loads(listed.output)]
    assert history == [
        ("1.0.0", "rollback", "succeeded"),
        ("1.0.0", "rollback", "succeeded"),
        ("2.0.0-bad", "deploy", "rolled_back"),
        ("1.0.0", "deploy", "succeeded"),
    ]
    shown = fullcycle("deploys", "show", str(json.loads(listed.output)[2]["id"]))
    assert "verification failed: rolled back to 1.0.0" in shown.output
    recorded = fullcycle("deploys", "record", "billing", "3.2.1", "--by", "ci")
    assert recorded.exit_code == 0 and "recorded deploy" in recorded.output


def test_a_refused_deploy_says_why(tmp_path: Path) -> None:
    result = fullcycle("deploy", "nothing", "1")
    assert result.exit_code == 1
    assert "has no pipeline" in result.output


def test_lock_and_unlock_from_the_command_line(live_server: LiveServer) -> None:
    with httpx.Client(
        base_url=live_server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ) as api:
        api.post("/api/v1/services", json={"name": "shop", "owners": ["team-shop"]})
    assert fullcycle("deploys", "lock", "shop", "--reason", "incident 42").exit_code == 0
    listed = fullcycle("deploys", "locks", "--json")
    assert [(lock["service"], lock["reason"]) for lock in json.loads(listed.output)] == [
        ("shop", "incident 42")
    ]
    again = fullcycle("deploys", "lock", "shop", "--reason", "twice")
    assert again.exit_code == 1 and "already locked by admin: incident 42" in again.output
    assert fullcycle("deploys", "unlock", "shop").exit_code == 0
    assert json.loads(fullcycle("deploys", "locks", "--json").output) == []
