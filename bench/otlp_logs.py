"""OTLP/HTTP logs into fullcycle end to end, next to decode-only baselines from the same run.

    .venv/bin/python bench/otlp_logs.py                 # 60 s, 4 concurrent clients
    .venv/bin/python bench/otlp_logs.py --seconds 10    # a quick run

Starts `fullcycle up` on a free port with a fresh data directory, sends pre-built
ExportLogsServiceRequest bodies of 1,000 records each from concurrent clients for `--seconds`,
then stops the server and checks that the store holds, and a hasToken search finds, exactly what
was acknowledged. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import random
import secrets
import sys
import time
from functools import partial
from pathlib import Path

import benchlib
import httpx
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from fullcycle.ingest.decode_pool import Body, prepare_write
from fullcycle.ingest.otlp import decode_logs, decode_logs_for_wal
from fullcycle.ingest.services import normalise_services
from fullcycle.telemetry.payloads import encode_batches

SERVICES = ("checkout", "payments", "frontend", "inventory", "auth", "search")
ROUTES = ("/api/orders/{id}", "/api/cart", "/api/users/{id}", "/healthz", "/api/search", "/login")
# severity number, text, weight
SEVERITIES = ((5, "DEBUG", 15), (9, "INFO", 70), (13, "WARN", 10), (17, "ERROR", 5))
MESSAGES = (
    "{token} {method} {route} completed status={status} duration_ms={ms} user={user}",
    "{token} cache miss for key order:{n} in region eu-west-1, falling back to the primary store",
    "{token} payment authorisation {status} for order {n} amount={ms}.00 EUR via provider stripe",
    "{token} retrying upstream call to inventory-svc (attempt {attempt} of 3): connection reset",
    "{token} user {user} signed in from 10.{attempt}.{n_small}.17 using password+totp, session ok",
)


def _text(value: str) -> AnyValue:
    return AnyValue(string_value=value)


def build_bodies(count: int, records: int, token: str, seed: int = 7) -> list[bytes]:
    """`count` distinct requests of `records` log records each, over 3 resources (services)."""
    rng = random.Random(seed)  # noqa: S311 - test data
    now_ns = time.time_ns()
    bodies = []
    weights = [w for *_, w in SEVERITIES]
    for _ in range(count):
        request = ExportLogsServiceRequest()
        services = rng.sample(SERVICES, 3)
        per_resource = [records // 3 + (1 if i < records % 3 else 0) for i in range(3)]
        for service, n_records in zip(services, per_resource, strict=True):
            resource = Resource(
                attributes=[
                    KeyValue(key="service.name", value=_text(service)),
                    KeyValue(key="deployment.environment", value=_text("production")),
                    KeyValue(key="host.name", value=_text(f"node-{rng.randrange(8)}")),
                    KeyValue(key="service.version", value=_text("2.14.1")),
                    KeyValue(
                        key="k8s.pod.name", value=_text(f"{service}-7d9f-{rng.randrange(99)}")
                    ),
                ]
            )
            scope_logs = ScopeLogs()
            scope_logs.scope.name = f"com.example.{service}"
            for _ in range(n_records):
                scope_logs.log_records.append(_record(rng, token, now_ns, weights))
            request.resource_logs.append(ResourceLogs(resource=resource, scope_logs=[scope_logs]))
        bodies.append(request.SerializeToString())
    return bodies


def _record(rng: random.Random, token: str, now_ns: int, weights: list[int]) -> LogRecord:
    number, text, _ = rng.choices(SEVERITIES, weights)[0]
    method = rng.choice(("GET", "POST", "PUT"))
    route = rng.choice(ROUTES)
    status = rng.choice((200, 200, 200, 201, 404, 500))
    ms = rng.randrange(1, 900)
    user = f"u-{rng.randrange(100_000)}"
    message = rng.choice(MESSAGES).format(
        token=token,
        method=method,
        route=route,
        status=status,
        ms=ms,
        user=user,
        n=rng.randrange(10**9),
        n_small=rng.randrange(256),
        attempt=rng.randrange(1, 4),
    )
    attributes = [
        KeyValue(key="http.method", value=_text(method)),
        KeyValue(key="http.route", value=_text(route)),
        KeyValue(key="http.status_code", value=AnyValue(int_value=status)),
        KeyValue(key="duration_ms", value=AnyValue(double_value=ms + rng.random())),
        KeyValue(key="user.id", value=_text(user)),
        KeyValue(key="thread.name", value=_text(f"worker-{rng.randrange(16)}")),
        KeyValue(key="code.function", value=_text("handle_request")),
        KeyValue(key="retry", value=AnyValue(bool_value=rng.random() < 0.1)),
    ][: rng.randrange(5, 9)]
    time_ns = now_ns - rng.randrange(60 * 10**9)
    record = LogRecord(
        time_unix_nano=time_ns,
        observed_time_unix_nano=time_ns + rng.randrange(10**8),
        severity_number=number,  # type: ignore[arg-type]
        severity_text=text,
        body=_text(message),
        attributes=attributes,
    )
    if rng.random() < 0.9:
        record.trace_id = rng.randbytes(16)
        record.span_id = rng.randbytes(8)
    return record


# --- baselines on one core ----------------------------------------------------------------------


def parse_only(body: bytes) -> object:
    return ExportLogsServiceRequest.FromString(body)


def _any_value(value: AnyValue) -> object:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def parse_and_extract(body: bytes) -> object:
    """The plain opentelemetry-proto way: parse, then every field into Python values."""
    rows = []
    for resource_logs in ExportLogsServiceRequest.FromString(body).resource_logs:
        resource = {kv.key: _any_value(kv.value) for kv in resource_logs.resource.attributes}
        for scope_logs in resource_logs.scope_logs:
            scope = scope_logs.scope.name
            for r in scope_logs.log_records:
                rows.append(
                    (
                        r.time_unix_nano,
                        r.observed_time_unix_nano,
                        r.severity_number,
                        r.severity_text,
                        _any_value(r.body),
                        r.trace_id.hex(),
                        r.span_id.hex(),
                        scope,
                        resource,
                        {kv.key: _any_value(kv.value) for kv in r.attributes},
                    )
                )
    return rows


def fullcycle_decode(body: bytes) -> object:
    return decode_logs(body, content_type="application/x-protobuf")


def fullcycle_request_cpu_path(body: bytes) -> object:
    """What the server does with a request on its CPU besides HTTP and the disk: decode, map the
    services, encode the write-ahead-log record (Arrow IPC)."""
    decoded = decode_logs(body, content_type="application/x-protobuf")
    normalise_services(decoded.batches, None)
    return encode_batches(list(decoded.batches))


def fullcycle_kept_protobuf_path(body: bytes) -> object:
    """What the server does with a protobuf request since it keeps it as protobuf: parse and
    check every record, find the services, write the WAL record (ClickHouse decodes the records
    at flush: telemetry/protobuf_logs.py)."""
    decode = partial(decode_logs_for_wal, content_type="application/x-protobuf")
    return prepare_write(decode, Body(body, None, 1 << 30), None).record(body)


BASELINES = (
    ("opentelemetry-proto FromString (lazy parse only)", parse_only),
    ("opentelemetry-proto FromString + fields into Python values", parse_and_extract),
    ("fullcycle decode_logs", fullcycle_decode),
    (
        "fullcycle, protobuf kept: check + services + WAL record (the server's path)",
        fullcycle_kept_protobuf_path,
    ),
    # The Python path (JSON requests; protobuf ones before they were kept as protobuf), last:
    # the reference of the per-CPU-second ratio in docs/benchmarks.md.
    ("fullcycle decode_logs + services + WAL record encoding", fullcycle_request_cpu_path),
)


def searchable_records(server: benchlib.FullcycleServer, token: str) -> int:
    """How many of the run's records a user can find right now: the search API's exact total
    for the token every record carries."""
    answer = httpx.get(
        f"{server.url}/api/v1/logs/search",
        params={"q": token, "from": "now-1d", "to": "now+1h", "limit": 1},
        headers={"Authorization": f"Bearer {server.token}"},
        timeout=120,
    )
    answer.raise_for_status()
    return int(answer.json()["total"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="load duration (default 60)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (default 4)")
    parser.add_argument(
        "--processes", type=int, default=2, help="client worker processes (default 2)"
    )
    parser.add_argument("--records", type=int, default=1000, help="records per request")
    parser.add_argument("--bodies", type=int, default=16, help="distinct request bodies to cycle")
    parser.add_argument("--baseline-seconds", type=float, default=3, help="per baseline")
    parser.add_argument(
        "--profile", type=int, default=0, help="py-spy the server for this many seconds"
    )
    parser.add_argument("--py-spy", default=None, help="the py-spy binary (default: search)")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    args = parser.parse_args()

    print(f"machine: {benchlib.machine()}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    token = "fcbench" + secrets.token_hex(4)
    started = time.perf_counter()
    bodies = build_bodies(args.bodies, args.records, token)
    sizes = [len(b) for b in bodies]
    print(
        f"built {len(bodies)} request bodies of {args.records} records in "
        f"{time.perf_counter() - started:.1f} s: {sum(sizes) / len(sizes) / 1024:.0f} KiB each, "
        f"{sum(sizes) / len(sizes) / args.records:.0f} bytes/record on the wire; search token "
        f"{token}"
    )

    print(f"\nbaselines, one core, same bodies (load average {benchlib.load_average():.1f}):")
    baselines = {}
    for name, work in BASELINES:
        rate = benchlib.rate_on_one_core(work, bodies, args.records, args.baseline_seconds)
        baselines[name] = rate
        print(f"  {rate:>12,.0f} records/s  {name}")

    root = benchlib.temporary_directory("fullcycle-bench-otlp-")
    server = benchlib.FullcycleServer(root / "data", secrets.token_urlsafe(24))
    server.start()
    print(f"\nserver: pid {server.pid}, {server.url}, data dir {server.data_dir}")
    headers = {
        "Authorization": f"Bearer {server.token}",
        "Content-Type": "application/x-protobuf",
    }
    profile_path = root / "profile.txt"
    profiler = None
    if args.profile:
        py_spy = benchlib.find_py_spy(args.py_spy)
        if py_spy is None:
            print("py-spy not found; no profile")
        else:
            profiler = benchlib.start_profile(
                py_spy, server.pid, min(args.profile, int(args.seconds)), profile_path
            )

    def at_end(result: benchlib.LoadResult) -> None:
        result.backlog_bytes_at_end = server.wal_backlog_bytes()
        result.extra["searchable"] = searchable_records(server, token)

    try:
        result = benchlib.run_load(
            f"{server.url}/v1/logs",
            headers,
            [(body, args.records) for body in bodies],
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
    for line in benchlib.describe_load("fullcycle OTLP logs", "records", result):
        print(line)
    print(
        f"  write-ahead log not yet in ClickHouse when the load stopped: "
        f"{result.backlog_bytes_at_end / 1024 / 1024:,.1f} MiB; server stop (final flush) took "
        f"{server.stop_seconds:.1f} s, exit status {status}"
    )
    searchable = int(str(result.extra["searchable"]))
    stored_rate = searchable / result.seconds
    drained_rate = result.acknowledged_units / (result.seconds + server.stop_seconds)
    print(
        f"  searchable when the load stopped (the search API's total): {searchable:,} ="
        f" {stored_rate:,.0f} records/s stored during the run; acknowledged over the run and"
        f" the final flush: {drained_rate:,.0f} records/s"
    )
    if result.server_cpu_seconds:
        per_core = result.acknowledged_units / result.server_cpu_seconds
        print(f"  server efficiency: {per_core:,.0f} records per server CPU-second")
    whole_cpu = server.cpu_seconds_at_exit - result.server_cpu_at_start
    if whole_cpu > 0:
        print(
            f"  server CPU from the start of the load to its exit (final flush included):"
            f" {whole_cpu:.1f} s = {whole_cpu / result.acknowledged_units * 1e6:.2f} µs per record"
            f" = {result.acknowledged_units / whole_cpu:,.0f} records per server CPU-second"
        )

    counts = benchlib.stored_counts(
        server.data_dir,
        {
            "stored": "SELECT count() FROM fullcycle.logs",
            "found by hasToken": (
                "SELECT count() FROM fullcycle.logs WHERE hasToken(body, {token:String})"
            ),
        },
        {"token": token},
    )
    acknowledged = result.acknowledged_units
    ok = all(n == acknowledged for n in counts.values())
    print(
        f"  after the run: acknowledged {acknowledged:,}, "
        + ", ".join(f"{name} {n:,}" for name, n in counts.items())
        + (" -> equal" if ok else " -> MISMATCH")
    )

    print("\nratios (server end to end / one-core baseline):")
    for name, rate in baselines.items():
        print(f"  {result.rate / rate:6.2f}  vs {name}")
    if result.server_cpu_seconds:
        cpu_path = baselines[BASELINES[-1][0]]
        print(
            f"  {per_core / cpu_path:6.2f}  records per server CPU-second vs {BASELINES[-1][0]}"
            " (less sensitive to what else runs on the machine)"
        )
    print(
        f"  goal 100,000 records/s stored and searchable: {stored_rate / 100_000:.0%} of it"
        f" (acknowledged: {result.rate / 100_000:.0%})"
    )

    if profiler is not None:
        print(f"\nprofile of the server (py-spy, {args.profile} s during the load):")
        for line in benchlib.top_of_profile(profile_path):
            print(line)

    if not args.keep:
        benchlib.remove_directory(root)
    else:
        print(f"\nkept {root}")
    return 0 if ok and status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
