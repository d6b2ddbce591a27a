"""Evaluating 1,000 alert rules every 15 s: the time of one evaluation cycle, and the delay from
data arriving to the notification going out.

    .venv/bin/python bench/alert_rules.py                 # 1,000 rules, 5 cycles, 3 delays
    .venv/bin/python bench/alert_rules.py --rules 200 --cycles 2 --delays 1   # quick
    .venv/bin/python bench/alert_rules.py --metrics 1000   # every rule on a metric of its own

Runs the real app in process (SQLite control plane, embedded chDB store) with one metric rule
per series (`bench_queue{shard="i"} > 100`, interval 15s). Samples come in through remote_write.
With `--metrics N` the series are spread over N metric names (`bench_queue_0` ...): rules on
the same metric are evaluated with one query (alerting/shared_selectors.py), so N = --rules
measures rules that cannot share a query.

- cycle: the evaluator takes all due rules, evaluates them through the PromQL engine and writes
  their states; the clock is moved 15 s per cycle. Baseline in the same run: the same 1,000
  expressions through `metrics.engine.instant_query` alone (what evaluation cannot avoid);
  the ratio is cycle / baseline.
- delay: with the server's background work running on the real clock, one series goes over
  its threshold; the time from the remote_write request to a local webhook receiver getting
  the Alertmanager payload. It is bounded by the rule interval (15 s) plus a tick (1 s).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cramjam
from fastapi.testclient import TestClient

from fullcycle.alerting.evaluation import store_log_counter
from fullcycle.alerting.evaluator import RuleEvaluator
from fullcycle.app import create_app
from fullcycle.deploy.metric_queries import EngineQueries
from fullcycle.ingest.prometheus_proto import WriteRequest
from fullcycle.metrics.engine import instant_query
from fullcycle.settings import Settings

TOKEN = "bench-admin-token-0123456789abcdef"


METRICS = 1  # how many metric names the series are spread over (--metrics)


def metric_of(shard: int) -> str:
    return "bench_queue" if METRICS == 1 else f"bench_queue_{shard % METRICS}"


def expression(shard: int) -> str:
    return f'{metric_of(shard)}{{shard="{shard}"}} > 100'


def rule_file(rules: int) -> str:
    lines = ["groups:", "  - name: bench", "    service: bench", "    interval: 15s", "    rules:"]
    for shard in range(rules):
        lines += [f"      - alert: Queue{shard}", f"        expr: '{expression(shard)}'"]
    return "\n".join(lines) + "\n"


def write(client: TestClient, values: dict[int, float], at: datetime) -> None:
    request = WriteRequest()
    for shard, value in values.items():
        series = request.timeseries.add()
        labels = (("__name__", metric_of(shard)), ("job", "bench"), ("shard", str(shard)))
        for name, label in labels:
            series.labels.add(name=name, value=label)
        series.samples.add(timestamp=int(at.timestamp() * 1000), value=value)
    body = bytes(cramjam.snappy.compress_raw(request.SerializeToString()))
    headers = {"content-type": "application/x-protobuf", "content-encoding": "snappy"}
    response = client.post("/api/v1/write", content=body, headers=headers)
    assert response.status_code == 204, response.text
    client.app.state.telemetry.flush()  # type: ignore[attr-defined]


class Hook:
    """A local webhook receiver noting when each alert's firing payload arrived."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                for alert in body["alerts"]:
                    hook.arrivals.setdefault(alert["labels"]["alertname"], time.perf_counter())
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def setup(client: TestClient, rules: int, receiver_url: str | None) -> None:
    client.headers["Authorization"] = f"Bearer {TOKEN}"
    service = {"name": "bench", "owners": ["team-bench"]}
    assert client.post("/api/v1/services", json=service).status_code == 201
    if receiver_url:
        receiver = {"name": "hook", "kind": "webhook", "url": receiver_url}
        assert client.post("/api/v1/alert-receivers", json=receiver).status_code == 201
    applied = client.put("/api/v1/rules", json={"source": rule_file(rules), "name": "bench"})
    assert applied.status_code == 200, applied.text


def measure_cycles(settings: Settings, rules: int, cycles: int) -> tuple[list[float], float]:
    with TestClient(create_app(dataclasses.replace(settings, background_work=False))) as client:
        setup(client, rules, None)
        start = datetime.now(UTC) + timedelta(seconds=5)
        for cycle in range(cycles):
            at = start + timedelta(seconds=15 * cycle)
            write(client, {s: (500.0 if s % 10 == 0 else 50.0) for s in range(rules)}, at)
        store = client.app.state.telemetry  # type: ignore[attr-defined]
        began = time.perf_counter()
        for shard in range(rules):
            instant_query(store, expression(shard), start)
        baseline = time.perf_counter() - began
        clock_now = [start]
        evaluator = RuleEvaluator(
            client.app.state.database,  # type: ignore[attr-defined]
            "bench",
            metrics=EngineQueries(store),
            count_logs=store_log_counter(store),
            clock=lambda: clock_now[0],
        )
        timings = []
        for cycle in range(cycles):
            clock_now[0] = start + timedelta(seconds=15 * cycle)
            began = time.perf_counter()
            evaluated = evaluator.evaluate_due_once()
            timings.append(time.perf_counter() - began)
            assert evaluated == rules, (cycle, evaluated)
        firing = client.get("/api/v1/alerts", params={"state": "firing", "limit": 1000}).json()
        assert len(firing) == len(range(0, rules, 10)), len(firing)
    return timings, baseline


def measure_delays(settings: Settings, rules: int, delays: int) -> list[float]:
    hook = Hook()
    with TestClient(create_app(settings)) as client:
        setup(client, rules, hook.url)
        write(client, dict.fromkeys(range(rules), 50.0), datetime.now(UTC))
        results = []
        for shard in range(delays):
            time.sleep(3.7)  # land at different phases of the 15 s interval
            sent = time.perf_counter()
            write(client, {shard: 500.0}, datetime.now(UTC))
            deadline = sent + 60
            while f"Queue{shard}" not in hook.arrivals and time.perf_counter() < deadline:
                time.sleep(0.02)
            results.append(hook.arrivals.get(f"Queue{shard}", float("nan")) - sent)
    hook.server.shutdown()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--delays", type=int, default=3)
    parser.add_argument("--metrics", type=int, default=1)
    args = parser.parse_args()
    global METRICS
    METRICS = args.metrics
    with tempfile.TemporaryDirectory(prefix="fullcycle-bench-alerts-") as directory:
        base = Path(directory)
        settings = Settings(
            data_dir=base / "cycles",
            database_url=f"sqlite:///{base / 'cycles.db'}",
            admin_token=TOKEN,
            port=0,
        )
        timings, baseline = measure_cycles(settings, args.rules, args.cycles)
        delay_settings = dataclasses.replace(
            settings, data_dir=base / "delays", database_url=f"sqlite:///{base / 'delays.db'}"
        )
        delays = measure_delays(delay_settings, args.rules, args.delays)
    print(
        f"rules: {args.rules} over {args.metrics} metric name(s), interval 15 s, "
        f"python {sys.version.split()[0]}"
    )
    print(
        f"evaluation cycle: median {statistics.median(timings):.2f} s, "
        f"max {max(timings):.2f} s over {len(timings)} cycles "
        f"({args.rules / statistics.median(timings):.0f} rules/s)"
    )
    print(f"baseline (the same expressions through instant_query alone): {baseline:.2f} s")
    print(f"ratio cycle / baseline: {statistics.median(timings) / baseline:.2f}")
    print(
        "data -> notification delay: "
        + ", ".join(f"{delay:.1f} s" for delay in delays)
        + f" (median {statistics.median(delays):.1f} s; bound: interval 15 s + tick 1 s)"
    )


if __name__ == "__main__":
    main()
