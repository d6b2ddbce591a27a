"""`fullcycle rules` and `fullcycle alerts` against a real server over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from fullcycle.alerting.evaluator import RuleEvaluator
from fullcycle.cli.main import app
from fullcycle.deploy.metric_queries import EngineQueries
from tests.conftest import LiveServer, running_live_server
from tests.test_alert_evaluation import METRIC_RULES, T0, Clock, post_samples, queue_depths
from tests.test_alert_rules import RULES

pytestmark = [
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
    pytest.mark.usefixtures("cli_against_live_server"),
]


@pytest.fixture
def live_server(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    """A real server without background work: the test evaluates at its own clock's time."""
    with running_live_server(tmp_path, database_url, background_work=False) as server:
        yield server


def fullcycle(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def api(live_server: LiveServer) -> httpx.Client:
    return live_server.admin_client()


def test_rules_check_names_file_line_and_field_without_a_server(tmp_path: Path) -> None:
    file = tmp_path / "shop.rules.yaml"
    file.write_text(RULES.replace("for: 2m", "for: soon"))
    result = fullcycle("rules", "check", str(file))
    assert result.exit_code == 1
    assert f"{file}:8: groups[0].rules[0].for: 'soon' is not a duration" in result.output
    file.write_text(RULES)
    ok = fullcycle("rules", "check", str(file))
    assert ok.exit_code == 0 and "3 rules in 1 groups are valid" in ok.output


def test_rules_apply_then_alerts_list_ack_resolve_silence(
    tmp_path: Path, live_server: LiveServer
) -> None:
    file = tmp_path / "shop.rules.yaml"
    file.write_text(METRIC_RULES.replace("for: 1m", "for: 0s"))
    refused = fullcycle("rules", "apply", str(file))
    assert refused.exit_code == 1
    assert "groups[0].rules[0]: no service 'shop'" in refused.output
    with api(live_server) as client:
        assert (
            client.post(
                "/api/v1/services", json={"name": "shop", "owners": ["team-shop"]}
            ).status_code
            == 201
        )
    applied = fullcycle("rules", "apply", str(file))
    assert applied.exit_code == 0, applied.output
    assert "1 created, 0 updated, 0 removed" in applied.output
    listed = json.loads(fullcycle("rules", "list", "--json").output)
    assert [rule["name"] for rule in listed] == ["QueueTooDeep"]

    state = live_server.app.state
    with api(live_server) as client:
        post_samples(client, queue_depths())
    state.telemetry.flush()
    clock = Clock(T0 + timedelta(minutes=5.5))
    evaluator = RuleEvaluator(
        state.database,
        "cli-test",
        metrics=EngineQueries(state.telemetry),
        count_logs=None,
        clock=clock,
    )
    assert evaluator.evaluate_due_once() == 1
    alerts = json.loads(fullcycle("alerts", "list", "--json", "--state", "firing").output)
    (alert,) = alerts
    table = fullcycle("alerts", "list")
    assert "QueueTooDeep" in table.output and "firing" in table.output

    acked = fullcycle("alerts", "ack", str(alert["id"]))
    assert acked.exit_code == 0 and f"alert {alert['id']} acknowledged by admin" in acked.output
    shown = json.loads(fullcycle("alerts", "show", str(alert["id"]), "--json").output)
    assert shown["acknowledged_by"] == "admin"
    resolved = fullcycle("alerts", "resolve", str(alert["id"]))
    assert resolved.exit_code == 0
    again = fullcycle("alerts", "resolve", str(alert["id"]))
    assert again.exit_code == 1 and "resolved already" in again.output

    silenced = fullcycle("alerts", "silence", 'alertname="QueueTooDeep"', "--for", "1h")
    assert silenced.exit_code == 0, silenced.output
    bad = fullcycle("alerts", "silence", "not a matcher")
    assert bad.exit_code == 1 and "is not a matcher" in bad.output
    with api(live_server) as client:
        (silence,) = client.get("/api/v1/silences").json()
    assert silence["matchers"] == [{"name": "alertname", "op": "=", "value": "QueueTooDeep"}]


def test_receivers_apply_list_show_and_delete(tmp_path: Path) -> None:
    file = tmp_path / "receivers.yaml"
    file.write_text(
        "receivers:\n"
        "  - name: shop-hook\n"
        "    kind: webhook\n"
        "    url: https://hooks.example/shop/secret-path\n"
        "    service: shop\n"
        "  - name: ops-pager\n"
        "    kind: pagerduty\n"
        "    secret: routing-key-0123456789\n"
    )
    applied = fullcycle("receivers", "apply", str(file))
    assert applied.exit_code == 0, applied.output
    assert "receiver shop-hook created" in applied.output
    file.write_text(file.read_text().replace("service: shop", "group_wait: 10s"))
    again = fullcycle("receivers", "apply", str(file))
    assert again.exit_code == 0 and "receiver shop-hook replaced" in again.output
    listed = json.loads(fullcycle("receivers", "list", "--json").output)
    assert [(r["name"], r["service"], r["group_wait"]) for r in listed] == [
        ("ops-pager", "", "30s"),
        ("shop-hook", "", "10s"),
    ]
    assert "secret-path" not in fullcycle("receivers", "list").output
    shown = json.loads(fullcycle("receivers", "show", "ops-pager", "--json").output)
    assert shown["kind"] == "pagerduty" and "0123456789" not in shown["secret"]

    file.write_text("- name: shop-hook\n  kind: webhook\n  url: ftp://nowhere\n")
    refused = fullcycle("receivers", "apply", str(file))
    assert refused.exit_code == 1 and "receiver 'shop-hook'" in refused.output
    assert "url" in refused.output
    file.write_text("receivers: [one, two]\n")
    assert "each a mapping with a name" in fullcycle("receivers", "apply", str(file)).output

    deleted = fullcycle("receivers", "delete", "shop-hook")
    assert deleted.exit_code == 0, deleted.output
    remaining = json.loads(fullcycle("receivers", "list", "--json").output)
    assert [r["name"] for r in remaining] == ["ops-pager"]
