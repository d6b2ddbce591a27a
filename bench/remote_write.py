"""Prometheus remote_write into fullcycle and into VictoriaMetrics, the same requests, one run.

    .venv/bin/python bench/remote_write.py                 # 60 s each, 4 concurrent clients
    .venv/bin/python bench/remote_write.py --seconds 10    # a quick run

Sends pre-built snappy-compressed WriteRequests (500 series x 4 samples) to `fullcycle up` and
then, with the same load, to VictoriaMetrics (/usr/bin/victoria-metrics), one after the other on
the same machine; checks that each stored what it acknowledged. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import random
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import benchlib
import cramjam
import httpx

from fullcycle.ingest.prometheus_proto import WriteRequest
from fullcycle.ingest.remote_write import decode_remote_write
from fullcycle.ingest.services import normalise_services
from fullcycle.telemetry.payloads import encode_batches

VICTORIA_METRICS = "/usr/bin/victoria-metrics"
GROUPS = 8  # distinct sets of series the bodies cycle through
JOBS = ("checkout", "payments", "frontend", "inventory", "auth", "search")
METRICS = (
    ("http_requests_total", ("method", "route", "status")),
    ("http_request_duration_seconds_bucket", ("method", "route", "le")),
    ("process_cpu_seconds_total", ()),
    ("process_resident_memory_bytes", ()),
    ("node_cpu_seconds_total", ("cpu", "mode")),
    ("go_goroutines", ()),
    ("db_client_connections_usage", ("pool", "state")),
)
LABEL_VALUES = {
    "method": ("GET", "POST", "PUT", "DELETE"),
    "route": ("/api/orders/{id}", "/api/cart", "/api/users/{id}", "/healthz", "/api/search"),
    "status": ("200", "201", "404", "500"),
    "le": ("0.005", "0.01", "0.05", "0.1", "0.5", "1", "5", "+Inf"),
    "cpu": tuple(str(n) for n in range(8)),
    "mode": ("user", "system", "idle", "iowait"),
    "pool": ("primary", "replica"),
    "state": ("used", "idle"),
}


def _series_labels(rng: random.Random, group: int, index: int) -> list[tuple[str, str]]:
    metric, extra = METRICS[index % len(METRICS)]
    job = JOBS[(group + index) % len(JOBS)]
    labels = {
        "__name__": metric,
        "job": job,
        "instance": f"10.0.{group}.{index % 64}:9100",
        "namespace": "prod",
        "pod": f"{job}-5c8d7-{group:02d}{index:03d}",
    }
    for name in extra:
        labels[name] = rng.choice(LABEL_VALUES[name])
    return sorted(labels.items())


def build_bodies(count: int, series: int, samples: int, seed: int = 11) -> list[bytes]:
    """`count` snappy-compressed WriteRequests; body k carries the series of group k % GROUPS
    with timestamps of its own, 15 s apart, ending about now."""
    rng = random.Random(seed)  # noqa: S311 - test data
    labels = [[_series_labels(rng, g, i) for i in range(series)] for g in range(GROUPS)]
    rounds = (count + GROUPS - 1) // GROUPS
    newest_ms = int(time.time() * 1000)
    bodies = []
    for k in range(count):
        group, round_ = k % GROUPS, k // GROUPS
        request = WriteRequest()
        for series_labels in labels[group]:
            timeseries = request.timeseries.add()
            for name, value in series_labels:
                timeseries.labels.add(name=name, value=value)
            for j in range(samples):
                step = (rounds - round_) * samples - j
                timeseries.samples.add(
                    value=rng.random() * 1000, timestamp=newest_ms - step * 15_000
                )
        bodies.append(cramjam.snappy.compress_raw(request.SerializeToString()).read())
    return bodies


# --- baselines on one core ----------------------------------------------------------------------


def parse_only(body: bytes) -> object:
    return WriteRequest.FromString(bytes(cramjam.snappy.decompress_raw(body)))


def parse_and_extract(body: bytes) -> object:
    rows = []
    for series in parse_only(body).timeseries:  # type: ignore[attr-defined]
        labels = {label.name: label.value for label in series.labels}
        rows.extend((labels, sample.timestamp, sample.value) for sample in series.samples)
    return rows


def fullcycle_decode(body: bytes) -> object:
    return decode_remote_write(body)


def fullcycle_request_cpu_path(body: bytes) -> object:
    decoded = decode_remote_write(body)
    normalise_services(decoded.batches, None)
    return encode_batches(list(decoded.batches))


BASELINES = (
    ("snappy + WriteRequest FromString (lazy parse only)", parse_only),
    ("snappy + FromString + fields into Python values", parse_and_extract),
    ("fullcycle decode_remote_write", fullcycle_decode),
    ("fullcycle decode_remote_write + services + WAL record encoding", fullcycle_request_cpu_path),
)


# --- VictoriaMetrics ----------------------------------------------------------------------------


class VictoriaMetrics:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = benchlib.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / "victoria-metrics.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        command = [
            VICTORIA_METRICS,
            f"-storageDataPath={self.data_dir}",
            f"-httpListenAddr=127.0.0.1:{self.port}",
            "-retentionPeriod=1y",
        ]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - fixed binary and arguments
                command, stdout=log, stderr=subprocess.STDOUT
            )
        benchlib.wait_http(f"{self.url}/health", 60, self.process)

    def stored(self) -> dict[str, float]:
        httpx.get(f"{self.url}/internal/force_flush", timeout=60).raise_for_status()
        time.sleep(1)
        metrics = httpx.get(f"{self.url}/metrics", timeout=60).text
        found: dict[str, float] = {}
        for line in metrics.splitlines():
            match = re.match(
                r"^(vm_rows_added_to_storage_total|vm_rows\{[^}]*storage/[^}]*\}|"
                r"vm_rows_inserted_total\{[^}]*promremotewrite[^}]*\}) (\S+)$",
                line,
            )
            if match:
                found[match.group(1)] = float(match.group(2))
        reply = httpx.get(f"{self.url}/api/v1/series/count", timeout=60).json()
        found["series (/api/v1/series/count)"] = float(reply["data"][0])
        return found

    def stop(self) -> int:
        assert self.process is not None
        self.process.terminate()
        return self.process.wait(timeout=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="load per target (default 60)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (default 4)")
    parser.add_argument(
        "--processes", type=int, default=2, help="client worker processes (default 2)"
    )
    parser.add_argument("--series", type=int, default=500, help="series per request")
    parser.add_argument("--samples", type=int, default=4, help="samples per series")
    parser.add_argument("--bodies", type=int, default=32, help="distinct request bodies to cycle")
    parser.add_argument("--baseline-seconds", type=float, default=3, help="per baseline")
    parser.add_argument("--skip-victoria-metrics", action="store_true")
    parser.add_argument(
        "--profile", type=int, default=0, help="py-spy the fullcycle server this many seconds"
    )
    parser.add_argument("--py-spy", default=None, help="the py-spy binary (default: search)")
    parser.add_argument("--keep", action="store_true", help="keep the data directories")
    args = parser.parse_args()

    print(f"machine: {benchlib.machine()}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    per_body = args.series * args.samples
    started = time.perf_counter()
    bodies = build_bodies(args.bodies, args.series, args.samples)
    sizes = [len(b) for b in bodies]
    raw = len(cramjam.snappy.decompress_raw(bodies[0]))
    print(
        f"built {len(bodies)} request bodies of {args.series} series x {args.samples} samples in "
        f"{time.perf_counter() - started:.1f} s: {sum(sizes) / len(sizes) / 1024:.0f} KiB each "
        f"snappy-compressed ({raw / 1024:.0f} KiB raw); "
        f"{min(args.bodies, GROUPS) * args.series} distinct series"
    )

    print("\nbaselines, one core, same bodies:")
    baselines = {}
    for name, work in BASELINES:
        rate = benchlib.rate_on_one_core(work, bodies, per_body, args.baseline_seconds)
        baselines[name] = rate
        print(f"  {rate:>12,.0f} samples/s  {name}")

    load = [(body, per_body) for body in bodies]
    root = benchlib.temporary_directory("fullcycle-bench-rw-")
    ok = True

    # fullcycle
    server = benchlib.FullcycleServer(root / "fullcycle", secrets.token_urlsafe(24))
    server.start()
    print(f"\nfullcycle: pid {server.pid}, {server.url}")
    headers = {
        "Authorization": f"Bearer {server.token}",
        "Content-Type": "application/x-protobuf",
        "Content-Encoding": "snappy",
        "X-Prometheus-Remote-Write-Version": "0.1.0",
    }
    profiler = None
    profile_path = root / "profile.txt"
    if args.profile:
        py_spy = benchlib.find_py_spy(args.py_spy)
        if py_spy is not None:
            profiler = benchlib.start_profile(
                py_spy, server.pid, min(args.profile, int(args.seconds)), profile_path
            )

    def at_end(result: benchlib.LoadResult) -> None:
        result.backlog_bytes_at_end = server.wal_backlog_bytes()

    try:
        fullcycle = benchlib.run_load(
            f"{server.url}/api/v1/write",
            headers,
            load,
            clients=args.clients,
            processes=args.processes,
            seconds=args.seconds,
            server_pid=server.pid,
            on_end=at_end,
        )
    finally:
        if profiler is not None:
            profiler.wait(timeout=120)
        status = server.stop()
    print()
    for line in benchlib.describe_load("fullcycle remote_write", "samples", fullcycle):
        print(line)
    print(
        f"  write-ahead log not yet in ClickHouse when the load stopped: "
        f"{fullcycle.backlog_bytes_at_end / 1024 / 1024:,.1f} MiB; server stop (final flush) "
        f"took {server.stop_seconds:.1f} s, exit status {status}"
    )
    counts = benchlib.stored_counts(
        server.data_dir,
        {
            "stored": "SELECT count() FROM fullcycle.samples",
            "series": "SELECT uniqExact(metric, toString(labels)) FROM fullcycle.samples",
        },
    )
    equal = counts["stored"] == fullcycle.acknowledged_units
    ok = ok and equal and status == 0
    print(
        f"  after the run: acknowledged {fullcycle.acknowledged_units:,}, stored "
        f"{counts['stored']:,} ({'equal' if equal else 'MISMATCH'}), series {counts['series']:,}"
    )

    victoria = None
    if not args.skip_victoria_metrics:
        vm = VictoriaMetrics(root / "victoria-metrics")
        vm.start()
        print(f"\nVictoriaMetrics: pid {vm.pid}, {vm.url}")
        try:
            victoria = benchlib.run_load(
                f"{vm.url}/api/v1/write",
                headers,
                load,
                clients=args.clients,
                processes=args.processes,
                seconds=args.seconds,
                server_pid=vm.pid,
                is_fullcycle=False,
            )
            stored = vm.stored()
        finally:
            vm_status = vm.stop()
        print()
        for line in benchlib.describe_load("VictoriaMetrics remote_write", "samples", victoria):
            print(line)
        added = stored.get("vm_rows_added_to_storage_total")
        vm_equal = added == victoria.acknowledged_units
        ok = ok and vm_equal
        print(
            f"  after the run (force_flush): acknowledged {victoria.acknowledged_units:,}; "
            + ", ".join(f"{name} {value:,.0f}" for name, value in stored.items())
            + f" -> rows added to storage {'equal' if vm_equal else 'MISMATCH'}; "
            f"exit status {vm_status}"
        )

    print("\nratios:")
    for name, rate in baselines.items():
        print(f"  {fullcycle.rate / rate:6.2f}  fullcycle end to end vs {name}")
    if victoria is not None:
        print(
            f"  {fullcycle.rate / victoria.rate:6.3f}  fullcycle / VictoriaMetrics "
            f"({fullcycle.rate:,.0f} vs {victoria.rate:,.0f} samples/s)"
        )
        fc_eff = fullcycle.acknowledged_units / max(fullcycle.server_cpu_seconds, 1e-9)
        vm_eff = victoria.acknowledged_units / max(victoria.server_cpu_seconds, 1e-9)
        print(
            f"  {fc_eff / vm_eff:6.3f}  per server CPU-second ({fc_eff:,.0f} vs {vm_eff:,.0f} "
            f"samples per CPU-second)"
        )

    if profiler is not None:
        print(f"\nprofile of the fullcycle server (py-spy, {args.profile} s during the load):")
        for line in benchlib.top_of_profile(profile_path):
            print(line)

    if args.keep:
        print(f"\nkept {root}")
    else:
        benchlib.remove_directory(root)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
