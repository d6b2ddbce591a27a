"""Anomaly alert rules over really ingested data: a shop's revenue counter with a daily rhythm
(two weeks of history), a normal day that must not page, then an outage at 08:00 that must.
Each series' detector state is kept in the control plane and fed only the steps it has not
seen, also across a restart of the server; the notification reaches a real HTTP receiver."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from fullcycle.alerting.rules.file import RuleFileError, parse_rule_file
from fullcycle.anomaly.models import AnomalyDetectorState
from fullcycle.app import create_app
from fullcycle.cli.main import app
from fullcycle.deploy.metric_queries import EngineQueries, SeriesPoints
from fullcycle.settings import Settings
from fullcycle.telemetry.payloads import encode_batches
from fullcycle.telemetry.remote import BATCHES_CONTENT_TYPE, BATCHES_PATH
from fullcycle.telemetry.store import TelemetryStore
from tests.conftest import ADMIN_TOKEN
from tests.revenue_series import revenue_counter
from tests.test_alert_evaluation import Alerting, Receiver, add_receiver
from tests.test_alert_rules import add_service

# The normal day and the outage day are ahead of the real time, so that the rule applied now
# is due whenever the test's clock reaches them.
NORMAL_DAY = (datetime.now(UTC) + timedelta(days=1)).replace(
    hour=0, minute=0, second=0, microsecond=0
)
OUTAGE_DAY = NORMAL_DAY + timedelta(days=1)
OUTAGE = (OUTAGE_DAY + timedelta(hours=8), OUTAGE_DAY + timedelta(hours=9))
STEP = timedelta(minutes=5)
RULES = """\
groups:
  - name: shop-business
    service: shop
    interval: 5m
    rules:
      - alert: RevenueBelowExpected
        kind: anomaly
        expr: sum(increase(shop_revenue_eur_total[5m]))
        metric_kind: money
        sensitivity: medium
        direction: below
        step: 5m
        history: 14d
        for: 5m
        labels: {severity: critical}
        annotations:
          summary: "revenue {{ $value }} below expected {{ $expected }}"
          description: "band {{ $lower }} to {{ $upper }}"
"""


class RecordingQueries(EngineQueries):
    """The real PromQL engine, noting which steps each range query asked for."""

    def __init__(self, store: TelemetryStore) -> None:
        super().__init__(store)
        self.ranges: list[tuple[datetime, datetime]] = []

    def range(
        self, expr: str, start: datetime, end: datetime, step: timedelta
    ) -> list[SeriesPoints]:
        self.ranges.append((start, end))
        return super().range(expr, start, end, step)


class Clock:
    def __init__(self) -> None:
        self.now = NORMAL_DAY

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def quiet_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, background_work=False)


def open_app(settings: Settings) -> TestClient:
    client = TestClient(create_app(settings))
    client.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    return client


def ingest_shop(
    client: TestClient,
    opened: datetime = NORMAL_DAY - timedelta(days=15),
    until: datetime = OUTAGE_DAY + timedelta(hours=12),
) -> None:
    """The shop's revenue counter from its opening `opened` to `until`, with the OUTAGE."""
    batch = revenue_counter(opened, until, OUTAGE)
    response = client.post(
        BATCHES_PATH,
        content=encode_batches([batch]),
        headers={"Content-Type": BATCHES_CONTENT_TYPE},
    )
    assert response.status_code == 200, response.text
    client.app.state.telemetry.flush()  # type: ignore[attr-defined]


def alerting_of(
    client: TestClient, clock: Clock, instance: str
) -> tuple[Alerting, RecordingQueries]:
    alerting = Alerting(client, clock, instance)  # type: ignore[arg-type]
    queries = RecordingQueries(alerting.store)
    alerting.evaluator.metrics = queries
    return alerting, queries


def detector_rows(client: TestClient) -> list[AnomalyDetectorState]:
    with client.app.state.database.session() as db:  # type: ignore[attr-defined]
        rows = list(db.scalars(select(AnomalyDetectorState)))
        db.expunge_all()
    return rows


def run_until(alerting: Alerting, clock: Clock, until: datetime) -> None:
    """Evaluate every 5 minutes (a minute after each step) up to `until`."""
    while clock.now + STEP <= until:
        clock.now += STEP
        alerting.tick()


def states(client: TestClient) -> list[tuple[str, str]]:
    return [(a["name"], a["state"]) for a in client.get("/api/v1/alerts").json()]


def test_an_anomaly_rule_learns_once_keeps_its_state_across_a_restart_and_pages_on_an_outage(
    quiet_settings: Settings,
) -> None:
    clock = Clock()
    clock.now = NORMAL_DAY + timedelta(minutes=1)
    with Receiver() as receiver:
        with open_app(quiet_settings) as first:
            add_service(first)
            ingest_shop(first)
            add_receiver(first, receiver.url)
            applied = first.put("/api/v1/rules", json={"source": RULES, "name": "shop.yaml"})
            assert applied.status_code == 200, applied.text
            alerting, queries = alerting_of(first, clock, "before-restart")

            alerting.tick()  # the first evaluation learns two weeks, once
            (learnt,) = detector_rows(first)
            assert learnt.last_timestamp == NORMAL_DAY.timestamp()
            assert 5_000 < len(learnt.state) < 50_000  # bounded, whatever the history
            ((start, end),) = queries.ranges
            assert end - start == timedelta(days=14)

            # a normal day, evaluated every 5 minutes: nothing pages
            run_until(alerting, clock, NORMAL_DAY + timedelta(days=1, hours=6, minutes=1))
            assert states(first) == []
            later = queries.ranges[1:]
            assert all(end - start < timedelta(minutes=10) for start, end in later)
            (before_restart,) = detector_rows(first)

        with open_app(quiet_settings) as second:  # the server restarts
            alerting, queries = alerting_of(second, clock, "after-restart")
            clock.now += STEP
            alerting.tick()
            ((start, _end),) = queries.ranges
            assert start.timestamp() == before_restart.last_timestamp + STEP.total_seconds()
            (after_restart,) = detector_rows(second)
            assert after_restart.id == before_restart.id
            assert after_restart.last_timestamp == before_restart.last_timestamp + 300

            run_until(alerting, clock, OUTAGE[0] + timedelta(minutes=1))
            assert states(second) == []
            run_until(alerting, clock, OUTAGE[0] + timedelta(minutes=40))
            assert states(second) == [("RevenueBelowExpected", "firing")]
            (alert,) = second.get("/api/v1/alerts").json()
            page = second.get(f"/alerts/{alert['id']}")
            assert "Expected band" in page.text

    (fired,) = receiver.bodies
    assert fired["status"] == "firing"
    notified = fired["alerts"][0]
    assert notified["labels"]["alertname"] == "RevenueBelowExpected"
    assert notified["labels"]["severity"] == "critical"
    summary = notified["annotations"]["summary"]
    value, expected = (float(word) for word in summary.split()[1:5:3])
    assert value == 0
    assert 200 < expected < 450, summary  # about 4,000 EUR an hour, per 5 minutes
    assert notified["annotations"]["description"].startswith("band ")
    assert "$lower" not in notified["annotations"]["description"]
    fired_at = datetime.fromisoformat(notified["startsAt"].replace("Z", "+00:00"))
    active_at = datetime.fromisoformat(alert["active_at"])
    # the first 5-minute step without sales is evidence enough: active at the evaluation
    # that reads it, a few minutes after the step ends
    assert OUTAGE[0] < active_at <= OUTAGE[0] + timedelta(minutes=10), active_at
    assert fired_at - active_at == timedelta(minutes=5)  # `for: 5m` on top of the detector


def test_a_series_younger_than_the_history_is_learnt_from_its_first_value(
    quiet_settings: Settings,
) -> None:
    """A shop that opened nine days ago: a rule learning 14 days and one learning 10 days
    learn the same, from its opening (the days before it are not days without sales)."""
    rules = RULES + RULES.split("    rules:\n")[1].replace(
        "RevenueBelowExpected", "RevenueBelowExpected10d"
    ).replace("history: 14d", "history: 10d")
    clock = Clock()
    clock.now = NORMAL_DAY + timedelta(minutes=1)
    with open_app(quiet_settings) as client:
        add_service(client)
        ingest_shop(client, opened=NORMAL_DAY - timedelta(days=9), until=NORMAL_DAY)
        applied = client.put("/api/v1/rules", json={"source": rules, "name": "shop.yaml"})
        assert applied.status_code == 200, applied.text
        alerting, _queries = alerting_of(client, clock, "young")

        alerting.tick()

        fourteen_days, ten_days = sorted(detector_rows(client), key=lambda row: row.rule_id)
    assert fourteen_days.rule_id != ten_days.rule_id
    assert fourteen_days.last_timestamp == ten_days.last_timestamp == NORMAL_DAY.timestamp()
    assert fourteen_days.state == ten_days.state


def test_rules_check_names_the_line_and_field_of_a_bad_anomaly_rule(tmp_path: Path) -> None:
    file = tmp_path / "business.rules.yaml"
    file.write_text(
        RULES.replace("metric_kind: money", "metric_kind: euros").replace(
            "direction: below", "direction: down"
        )
    )
    result = CliRunner().invoke(app, ["rules", "check", str(file)])
    assert result.exit_code == 1
    assert f"{file}:9: groups[0].rules[0].metric_kind: Input should be 'money'" in result.output
    assert f"{file}:11: groups[0].rules[0].direction: Input should be 'above'" in result.output
    file.write_text(RULES)
    assert CliRunner().invoke(app, ["rules", "check", str(file)]).exit_code == 0
    too_long = RULES.replace("step: 5m", "step: 1s")
    with pytest.raises(RuleFileError) as caught:
        parse_rule_file(too_long)
    (problem,) = caught.value.problems
    assert str(problem).startswith("line 13: groups[0].rules[0].history: 1,209,600 steps")


def test_anomaly_fields_on_a_metric_rule_are_refused() -> None:
    source = RULES.replace("kind: anomaly", "kind: metric")
    with pytest.raises(RuleFileError) as caught:
        parse_rule_file(source)
    (problem,) = caught.value.problems
    assert "only for `kind: anomaly` rules" in str(problem)
