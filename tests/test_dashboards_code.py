"""Dashboards as code: YAML applied and exported unchanged (API and CLI), checked with errors
that name the place, evaluated with template variables, and a KPI panel comparing now with the
same time last week."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from fullcycle.cli.main import app as cli
from tests.conftest import ADMIN_TOKEN, LiveServer, token_for
from tests.test_promql_api import _write_request

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

WEEK_S = 7 * 24 * 3600

SHOP = """\
# Orders and revenue of the shop, today against last week.
name: shop-business
title: Shop business
variables:
  service: shop
rows:
  - title: Business
    panels:
      - title: Revenue
        type: kpi
        unit: currency
        queries:
          - expr: sum(revenue_euros_total{job="$service"})
      - title: Orders per minute
        type: timeseries
        unit: count
        thresholds: [{value: 100, color: red}]
        queries:
          - expr: sum by (job) (rate(orders_total{job="$service"}[5m])) * 60
            legend: "{{job}}"
      - title: Orders by region
        type: table
        queries:
          - expr: orders_total{job="$service"}
"""


def _samples(client: TestClient) -> None:
    """Revenue now and a week ago (+25 %), and orders every 15 s for the last 20 minutes."""
    now_s = int(time.time()) // 60 * 60
    times = range(now_s - 1200, now_s + 1, 15)
    series = []
    for job in ("shop", "outlet"):
        series.append(
            (
                {"__name__": "revenue_euros_total", "job": job},
                [((now_s - WEEK_S) * 1000, 800.0), (now_s * 1000, 1000.0)],
            )
        )
        series.append(
            (
                {"__name__": "orders_total", "job": job, "region": "eu"},
                [(t * 1000, float(i * 30)) for i, t in enumerate(times)],
            )
        )
    response = client.post(
        "/api/v1/write",
        content=_write_request(series),
        headers={"content-type": "application/x-protobuf", "content-encoding": "snappy"},
    )
    assert response.status_code == 204, response.text
    client.app.state.telemetry.flush()  # type: ignore[attr-defined]


def test_apply_get_and_list_keep_the_yaml_as_written(admin: TestClient) -> None:
    created = admin.put("/api/v1/dashboards/shop-business", json={"yaml": SHOP})
    assert created.status_code == 201, created.text
    assert created.json()["title"] == "Shop business"
    assert admin.get("/api/v1/dashboards/shop-business").json()["yaml"] == SHOP
    changed = SHOP.replace("title: Shop business", "title: Shop money")
    updated = admin.put("/api/v1/dashboards/shop-business", json={"yaml": changed})
    assert updated.status_code == 200
    listed = admin.get("/api/v1/dashboards").json()
    assert [(d["name"], d["title"], d["updated_by"]) for d in listed] == [
        ("shop-business", "Shop money", "admin")
    ]
    audit = admin.get("/api/v1/audit").json()
    actions = [event["action"] for event in audit]
    assert "dashboard.create" in actions and "dashboard.update" in actions


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("name: [unclosed", "not valid YAML"),
        ("- a list", "a YAML mapping"),
        (SHOP.replace("type: kpi", "type: pie"), "rows[0].panels[0].type"),
        (SHOP.replace("unit: currency", "unit: furlongs"), "rows[0].panels[0].unit"),
        (SHOP.replace("sum(revenue", "sum(rate(revenue"), "rows[0].panels[0].queries[0].expr"),
        (SHOP.replace("rows:", "rowz:"), "rowz"),
        (SHOP.replace("name: shop-business", "name: other"), "saved as 'shop-business'"),
    ],
)
def test_bad_yaml_is_refused_naming_the_place(admin: TestClient, source: str, words: str) -> None:
    response = admin.put("/api/v1/dashboards/shop-business", json={"yaml": source})
    assert response.status_code == 422, response.text
    assert words in response.json()["detail"]
    assert admin.get("/api/v1/dashboards").json() == []


def test_saving_needs_the_deploy_right(admin: TestClient) -> None:
    reader = token_for(admin, "reader", ["read"], can_deploy=False)
    response = admin.put(
        "/api/v1/dashboards/shop-business",
        json={"yaml": SHOP},
        headers={"Authorization": f"Bearer {reader}"},
    )
    assert response.status_code == 403


def test_panels_are_evaluated_with_variables_and_a_week_over_week_kpi(admin: TestClient) -> None:
    _samples(admin)
    assert admin.put("/api/v1/dashboards/shop-business", json={"yaml": SHOP}).status_code == 201
    data = admin.get("/api/v1/dashboards/shop-business/data", params={"range": "15m"}).json()
    panels = {panel["title"]: panel for panel in data["panels"]}
    assert data["variables"] == {"service": "shop"}
    revenue = panels["Revenue"]
    assert revenue["type"] == "kpi"
    assert revenue["values"][0]["value"] == 1000.0
    assert revenue["values"][0]["last_week"] == 800.0
    assert revenue["values"][0]["change"] == pytest.approx(0.25)
    orders = panels["Orders per minute"]
    assert orders["queries"] == ['sum by (job) (rate(orders_total{job="shop"}[5m])) * 60']
    assert [s["name"] for s in orders["series"]] == ["shop"]
    # 30 orders every 15 s; Prometheus' extrapolation gives exactly that inside the data.
    assert max(v for v in orders["series"][0]["values"] if v is not None) == pytest.approx(120.0)
    assert orders["thresholds"] == [{"value": 100.0, "color": "red"}]
    assert panels["Orders by region"]["values"][0]["labels"]["region"] == "eu"

    other = admin.get(
        "/api/v1/dashboards/shop-business/data", params={"range": "15m", "var-service": "outlet"}
    ).json()
    assert other["panels"][1]["series"][0]["name"] == "outlet"


def test_preview_evaluates_unsaved_yaml(admin: TestClient) -> None:
    _samples(admin)
    response = admin.post("/api/v1/dashboards/preview", json={"yaml": SHOP, "range": "15m"})
    assert response.status_code == 200, response.text
    assert response.json()["panels"][0]["values"][0]["value"] == 1000.0
    assert admin.get("/api/v1/dashboards").json() == []
    bad = admin.post("/api/v1/dashboards/preview", json={"yaml": "name: x\nrows: []"})
    assert bad.status_code == 422


def test_cli_apply_and_export_round_trip(live_server: LiveServer, tmp_path: Path) -> None:
    source = tmp_path / "shop.yaml"
    source.write_text(SHOP)
    runner = CliRunner()
    options = ["--url", live_server.url, "--token", ADMIN_TOKEN]
    applied = runner.invoke(cli, [*options, "dashboards", "apply", str(source)])
    assert applied.exit_code == 0, applied.output
    assert "shop-business: created" in applied.output
    again = runner.invoke(cli, [*options, "dashboards", "apply", str(source)])
    assert "shop-business: updated" in again.output
    exported = runner.invoke(cli, [*options, "dashboards", "export", "shop-business"])
    assert exported.exit_code == 0
    assert exported.output == SHOP
    listed = runner.invoke(cli, [*options, "dashboards", "list", "--json"])
    assert '"shop-business"' in listed.output
    broken = tmp_path / "broken.yaml"
    broken.write_text(SHOP.replace("type: kpi", "type: pie"))
    refused = runner.invoke(cli, [*options, "dashboards", "apply", str(broken)])
    assert refused.exit_code == 1
    assert "rows[0].panels[0].type" in refused.output


def test_cli_errors_name_the_file(
    live_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dashboards").mkdir()
    good, unknown_field, binary = (tmp_path / name for name in ("a.yaml", "b.yaml", "c.yaml"))
    good.write_text(SHOP)
    unknown_field.write_text(SHOP.replace("name: shop-business", "name: other\nowner: me"))
    binary.write_bytes(b"\xff\xfe\x00name")
    runner = CliRunner()
    options = ["--url", live_server.url, "--token", ADMIN_TOKEN]

    refused = runner.invoke(cli, [*options, "dashboards", "apply", str(good), str(unknown_field)])
    unreadable = runner.invoke(cli, [*options, "dashboards", "apply", str(binary)])
    directory = runner.invoke(cli, [*options, "dashboards", "apply", "dashboards"])
    exported = runner.invoke(
        cli, [*options, "dashboards", "export", "shop-business", "-o", str(tmp_path / "no" / "x")]
    )

    assert refused.exit_code == 1
    assert "shop-business: created" in refused.stdout
    assert f"{unknown_field}: owner: Extra inputs are not permitted" in refused.stderr
    assert unreadable.exit_code == 1
    assert f"{binary}: not UTF-8 text" in unreadable.stderr
    assert directory.exit_code == 2
    assert "file 'dashboards' is a directory" in directory.output
    assert exported.exit_code == 1
    assert "cannot write there: No such file or directory" in exported.stderr
