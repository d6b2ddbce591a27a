"""Time from a faulty release going live to its automatic rollback completing.

    .venv/bin/python bench/rollback.py               # 3 faulty releases, verify every 1 s
    .venv/bin/python bench/rollback.py --rounds 1    # a quick run

Starts `fullcycle up` on a free port with a fresh data directory, registers the sample shop
(examples/shop) with a `process`-target pipeline, deploys two good releases, then deploys faulty
ones while a client buys through the proxy (a new connection per purchase). For each faulty
release it reports, from the deploy records: going live -> verification failed (detection),
-> rollback live, -> rollback verified (completed), and the client's errors. The baseline in the
same run is a manual `rollback` of a good release (start -> completed). See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import benchlib
import httpx

SHOP = Path(__file__).resolve().parent.parent / "examples" / "shop"


def pipeline(port: int, interval: int, bake: int) -> str:
    return f"""service: shop
environments:
  - name: production
    workdir: {SHOP}
    deploy:
      target: process
      command: exec {sys.executable} shop.py
      port: {port}
      keep: 2
    verify:
      bake: {bake}
      interval: {interval}
      health_url: http://127.0.0.1:{port}/healthz/checkout
"""


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def seconds(start: str, end: str) -> float:
    return (at(end) - at(start)).total_seconds()


class Shopper(threading.Thread):
    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.url = f"http://127.0.0.1:{port}/checkout"
        self.outcomes: Counter[str] = Counter()
        self.stopping = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=10, headers={"Connection": "close"}) as client:
            while not self.stopping.is_set():
                try:
                    response = client.post(self.url, json={"product": "mug"})
                    key = f"{response.status_code} {response.headers.get('x-shop-version')}"
                except httpx.TransportError as error:
                    key = f"transport error {type(error).__name__}"
                self.outcomes[key] += 1


class Deploys:
    def __init__(self, url: str, token: str) -> None:
        self.http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def call(self, method: str, path: str, **kwargs: object) -> dict[str, object]:
        response = self.http.request(method, path, **kwargs)  # type: ignore[arg-type]
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
        return dict(response.json())

    def wait(self, deploy_id: object) -> dict[str, object]:
        while True:
            deploy = self.call("GET", f"/api/v1/deploys/{deploy_id}")
            if deploy["status"] in ("succeeded", "failed", "rolled_back", "cancelled"):
                return deploy
            time.sleep(0.05)

    def deploy(self, version: str) -> dict[str, object]:
        started = self.call("POST", "/api/v1/services/shop/deploys", json={"version": version})
        return self.wait(started["id"])


def verify_finished(deploy: dict[str, object]) -> str:
    stages = deploy["stages"]
    assert isinstance(stages, list)
    return str(next(s for s in stages if s["name"] == "verify")["finished_at"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--interval", type=int, default=1, help="verify interval, seconds")
    parser.add_argument("--bake", type=int, default=3, help="bake time, seconds")
    args = parser.parse_args()

    token = "fc_bench_" + secrets.token_hex(16)
    data_dir = benchlib.temporary_directory("fullcycle-rollback-") / "data"
    server = benchlib.FullcycleServer(data_dir, token)
    server.start()
    port = benchlib.free_port()
    api = Deploys(server.url, token)
    try:
        api.call("POST", "/api/v1/services", json={"name": "shop", "owners": ["team-shop"]})
        api.call(
            "PUT", "/api/v1/pipelines", json={"source": pipeline(port, args.interval, args.bake)}
        )
        for version in ("1.0.0", "1.1.0"):
            assert api.deploy(version)["status"] == "succeeded"
        rows = []
        shopper = Shopper(port)
        shopper.start()
        for round_number in range(args.rounds):
            faulty = api.deploy(f"2.0.{round_number}-faulty")
            assert faulty["status"] == "rolled_back", faulty
            rollback = api.wait(faulty["rolled_back_by"])
            live = str(faulty["live_at"])
            rows.append(
                (
                    seconds(live, verify_finished(faulty)),
                    seconds(live, str(rollback["live_at"])),
                    seconds(live, str(rollback["finished_at"])),
                )
            )
        shopper.stopping.set()
        shopper.join()
        manual = []
        for _ in range(args.rounds):
            started = api.call("POST", "/api/v1/services/shop/rollbacks", json={})
            done = api.wait(started["id"])
            manual.append(seconds(str(done["started_at"]), str(done["finished_at"])))
    finally:
        server.stop()
        benchlib.remove_directory(data_dir.parent)

    completed = statistics.median(r[2] for r in rows)
    baseline = statistics.median(manual)
    print(benchlib.machine())
    print(f"verify interval {args.interval} s, bake {args.bake} s, {args.rounds} faulty releases")
    for index, (detected, back_live, done) in enumerate(rows):
        print(
            f"  faulty {index}: live -> verify failed {detected:.2f} s, -> rollback live "
            f"{back_live:.2f} s, -> rollback verified {done:.2f} s"
        )
    print(f"median faulty live -> rollback completed: {completed:.2f} s")
    print(
        f"baseline, manual rollback start -> completed (median): {baseline:.2f} s; "
        f"ratio {completed / baseline:.2f}"
    )
    print(f"client purchases meanwhile: {dict(shopper.outcomes)}")


if __name__ == "__main__":
    main()
