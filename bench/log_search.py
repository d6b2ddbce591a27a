"""Log search in the embedded store next to ripgrep scanning the same lines as a plain file.

    .venv/bin/python bench/log_search.py                      # 1 million lines, 10 runs each
    .venv/bin/python bench/log_search.py --lines 10000000     # the issue's 10 million

Generates realistic lines over the last 24 hours (30 services; web access logs, application
logs with ids, stack traces, a few rare errors), stores them in a fresh embedded store through
`TelemetryStore.append` (the ingest path after decoding) and writes the same lines to a text file,
one per line (a stack trace's frames joined with " | "). Then, for each query, it times what the
API's search does (the exact total and the newest 100 lines, `fullcycle.logs.explorer.search`),
the histogram and the facets over the 24 hours, each next to `rg -c` over the file in the same
run, the two taking turns (page cache warm for both), and prints p50/p95, the ratio and the
1-minute load average when the row was printed (the machine may be shared: the ratio in the
same run is what counts). See docs/benchmarks.md.

The searches are also run over the last 20 and 12 hours (`--cut-hours`): the 24 hours cover
every day (partition) of the store, whose totals are counted from the text index alone, while
any shorter window cuts a day, as a "last 24 hours" does on a store of several days. Their
yardstick is the same `rg -c` over the whole file (rg has no way to start at the window's
first line), so their ratio is that of a scan of every line.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fullcycle.logs import explorer
from fullcycle.logs.explorer import LogRequest
from fullcycle.logs.query import parse
from fullcycle.logs.time_range import histogram_step_seconds
from fullcycle.telemetry import log_queries
from fullcycle.telemetry.batches import LogBatch
from fullcycle.telemetry.log_queries import Window
from fullcycle.telemetry.store import StoreOptions, TelemetryStore

NS = 1_000_000_000
DAY_NS = 86400 * NS
SERVICES = [
    f"{name}-{suffix}" if suffix else name
    for name in (
        "checkout",
        "payments",
        "frontend",
        "inventory",
        "auth",
        "search",
        "shipping",
        "catalog",
        "cart",
        "pricing",
    )
    for suffix in ("", "worker", "api")
]
ROUTES = (
    "/api/orders/{id}",
    "/api/cart/{id}",
    "/api/users/{id}",
    "/healthz",
    "/api/search",
    "/login",
    "/api/products/{id}",
    "/static/app.{id}.js",
)
METHODS = ("GET", "GET", "GET", "POST", "PUT", "DELETE")
STATUSES = (200, 200, 200, 200, 201, 204, 301, 304, 400, 401, 404, 500, 502, 503)
APP_MESSAGES = (
    "user {user} placed order {order} total={amount} EUR items={items}",
    "cache miss for key product:{order} in region eu-west-1, falling back to the primary store",
    "payment authorisation {outcome} for order {order} via provider stripe",
    "retrying upstream call to inventory (attempt {attempt} of 3): connection refused",
    "request {request} timeout after {ms}ms waiting for db-{attempt}",
    "user {user} signed in from 10.{attempt}.{items}.17 session={request}",
    "published event OrderCreated order={order} partition={attempt} offset={amount}",
    "slow query on orders took {ms}ms rows={items}",
)
STACK = (
    "java.lang.IllegalStateException: order {order} is not payable\n"
    "\tat com.shop.payments.PaymentService.charge(PaymentService.java:{items})\n"
    "\tat com.shop.payments.PaymentController.pay(PaymentController.java:88)\n"
    "\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:897)"
)
RARE = "java.lang.OutOfMemoryError: Java heap space while building report {request}"
RARE_RATE = 366 / 10_000_000
RARE_NUMBER = "987654321"
LEVELS = (("DEBUG", 5, 10), ("INFO", 9, 70), ("WARN", 13, 12), ("ERROR", 17, 8))


def make_line(
    rng: random.Random, timestamp_ns: int
) -> tuple[str, str, str, int, str, dict[str, str]]:
    """(service, host, level, severity, body, attributes) of one realistic line."""
    service = rng.choice(SERVICES)
    host = f"{service}-{rng.randrange(4)}"
    level, severity, _ = rng.choices(LEVELS, weights=[w for *_, w in LEVELS])[0]
    ids = {
        "user": str(rng.randrange(100_000)),
        "order": str(rng.randrange(10_000_000)),
        "amount": f"{rng.randrange(1, 900)}.{rng.randrange(100):02d}",
        "items": str(rng.randrange(1, 40)),
        "attempt": str(rng.randrange(1, 4)),
        "ms": str(rng.randrange(1, 5000)),
        "request": f"{rng.getrandbits(64):016x}",
        "outcome": rng.choice(("approved", "declined")),
    }
    attributes: dict[str, str] = {}
    roll = rng.random()
    if roll < RARE_RATE:
        body, level, severity = RARE.format(**ids), "ERROR", 17
    elif roll < 2 * RARE_RATE:
        body = f"reconciliation found order {RARE_NUMBER} twice"
    elif roll < 0.45:
        route = rng.choice(ROUTES).format(id=rng.randrange(100_000))
        status = rng.choice(STATUSES)
        method = rng.choice(METHODS)
        body = (
            f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)} - - "
            f'"{method} {route} HTTP/1.1" {status} {rng.randrange(100, 90_000)} {ids["ms"]}ms'
        )
        attributes = {"http.method": method, "http.status_code": str(status), "http.route": route}
        level, severity = ("ERROR", 17) if status >= 500 else ("INFO", 9)
    elif roll < 0.47:
        body, level, severity = STACK.format(**ids), "ERROR", 17
    else:
        body = rng.choice(APP_MESSAGES).format(**ids)
        attributes = {"user_id": ids["user"], "request_id": ids["request"]}
    return service, host, level, severity, body, attributes


def generate(store: TelemetryStore, text_file: Path, lines: int, end_ns: int) -> None:
    rng = random.Random(20261126)  # noqa: S311 - test data
    batch_size = 100_000
    start_ns = end_ns - DAY_NS
    with text_file.open("w") as out:
        for first in range(0, lines, batch_size):
            batch = LogBatch()
            rows = []
            for index in range(first, min(lines, first + batch_size)):
                timestamp = start_ns + (index * DAY_NS) // lines
                service, host, level, severity, body, attributes = make_line(rng, timestamp)
                batch.add(
                    timestamp_ns=timestamp,
                    body=body,
                    service=service,
                    host=host,
                    severity_text=level,
                    severity_number=severity,
                    attributes=attributes,
                )
                pairs = " ".join(f"{key}={value}" for key, value in attributes.items())
                rows.append(
                    f"{timestamp} {service} {level} {body.replace(chr(10), ' | ')} {pairs}\n"
                )
            out.writelines(rows)
            asyncio.run(store.append([batch]))
            if (first // batch_size) % 10 == 9:
                store.flush()
            print(
                f"\r  generated {min(lines, first + batch_size):,} lines", end="", file=sys.stderr
            )
    store.flush()
    print(file=sys.stderr)


def elapsed(function: Callable[[], object]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def timed_in_turn(
    ours: Callable[[], object], theirs: Callable[[], object], runs: int
) -> tuple[list[float], list[float]]:
    """Seconds per run of each, the two taking turns, so that a change in the machine's load
    falls on both alike."""
    ours()  # warm
    theirs()
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        samples[0].append(elapsed(ours))
        samples[1].append(elapsed(theirs))
    return samples


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def rg(arguments: list[str], text_file: Path) -> Callable[[], object]:
    command = ["rg", "-c", *arguments, str(text_file)]
    return lambda: subprocess.run(command, capture_output=True, check=False)  # noqa: S603


BENCHMARKS: list[tuple[str, str, str, list[str]]] = [
    # name, query, what the API does, rg arguments
    ("rare term", "OutOfMemoryError", "search", ["-i", "-w", "OutOfMemoryError"]),
    ("rare number (index-exact)", RARE_NUMBER, "search", ["-w", RARE_NUMBER]),
    ("common term", "orders", "search", ["-i", "-w", "orders"]),
    ("phrase", '"connection refused"', "search", ["-i", "-F", "connection refused"]),
    ("field + term", "service:checkout timeout", "search", ["-i", r"^\d+ checkout .*\btimeout\b"]),
    (
        "field + rare term",
        "level:error OutOfMemoryError",
        "search",
        ["-i", r"^\d+ \S+ ERROR .*\bOutOfMemoryError\b"],
    ),
    ("histogram 24 h, all lines", "", "histogram", ["-i", "ERROR"]),
    ("histogram 24 h, level:error", "level:error", "histogram", ["ERROR"]),
    ("facets 24 h, level:error", "level:error", "facets", ["ERROR"]),
    # The same without the per-minute rollup (every line read), for the ratio in one run.
    ("histogram 24 h, all lines, no rollup", "", "histogram-lines", ["-i", "ERROR"]),
    ("histogram 24 h, level:error, no rollup", "level:error", "histogram-lines", ["ERROR"]),
    ("facets 24 h, level:error, no rollup", "level:error", "facets-lines", ["ERROR"]),
]


def _with_cut_windows(
    end_ns: int, day: Window, cut_hours: str
) -> list[tuple[str, str, str, list[str], Window]]:
    """The benchmarks over the 24 hours, then the searches over each of the last `cut_hours`
    (windows ending with the newest line, which cut a day of the store)."""
    rows = [(name, text, kind, arguments, day) for name, text, kind, arguments in BENCHMARKS]
    for hours in [int(hours) for hours in cut_hours.split(",") if hours.strip()]:
        window = Window(end_ns + NS - hours * 3600 * NS, end_ns + NS)
        rows += [
            (f"{name}, last {hours} h", text, kind, arguments, window)
            for name, text, kind, arguments in BENCHMARKS
            if kind == "search"
        ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--keep", type=Path, help="use (or fill) this data dir and keep it")
    parser.add_argument("--only", default="", help="run only the queries whose name has this")
    parser.add_argument(
        "--cut-hours",
        default="20,12",
        help="also run the searches over the last N hours, windows that cut a day (comma"
        " separated; empty for none)",
    )
    options = parser.parse_args()
    if shutil.which("rg") is None:
        sys.exit("ripgrep (rg) is needed: apt-get install ripgrep")
    work = options.keep or Path(tempfile.mkdtemp(prefix="fullcycle-bench-logs-"))
    text_file = work / "lines.txt"
    store = TelemetryStore(StoreOptions(data_dir=work / "data", durable=False))
    store.open()
    try:
        end_ns = time.time_ns()
        if not text_file.exists():
            started = time.perf_counter()
            generate(store, text_file, options.lines, end_ns)
            print(
                f"stored {options.lines:,} lines in {time.perf_counter() - started:.0f} s; "
                f"text file {text_file.stat().st_size / 1e6:.0f} MB",
                file=sys.stderr,
            )
        else:  # a kept data dir: its 24 hours end with its newest line
            everything = LogRequest(parse(""), Window(0, end_ns + DAY_NS))
            end_ns = explorer.search(store, everything, 1, None).lines[0].timestamp_ns
        day = Window(end_ns - DAY_NS - NS, end_ns + NS)
        stored = next(table.rows for table in store.table_statistics() if table.name == "logs")
        print(f"{stored:,} lines stored; {options.runs} runs per query; p50 / p95 in ms\n")
        print(
            "| query | matches | fullcycle p50 | p95 | rg -c p50 | p95 | rg p50 / fullcycle p50"
            " | load |"
        )
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, text, kind, rg_arguments, window in _with_cut_windows(
            end_ns, day, options.cut_hours
        ):
            if options.only not in name:
                continue
            request = LogRequest(parse(text), window)
            actions: dict[str, Callable[[], object]] = {
                "search": lambda request=request: explorer.search(store, request, 100, None),
                "histogram": lambda request=request: explorer.histogram(store, request),
                "facets": lambda request=request: explorer.facets(store, request, 10, 8),
                "histogram-lines": lambda request=request: log_queries.histogram(
                    store,
                    request.query,
                    request.window,
                    histogram_step_seconds(request.window),
                    rollups=False,
                ),
                "facets-lines": lambda request=request: log_queries.facets(
                    store,
                    request.query,
                    request.window,
                    10,
                    8,
                    explorer.ATTRIBUTE_SAMPLE,
                    rollups=False,
                ),
            }
            ours, theirs = timed_in_turn(actions[kind], rg(rg_arguments, text_file), options.runs)
            matches = explorer.count_matches(store, request.query, request.window)
            ratio = statistics.median(theirs) / statistics.median(ours)
            print(
                f"| {name}: `{text or '(all)'}` | {matches:,} | "
                f"{percentile(ours, 0.5) * 1000:.0f} | {percentile(ours, 0.95) * 1000:.0f} | "
                f"{percentile(theirs, 0.5) * 1000:.0f} | {percentile(theirs, 0.95) * 1000:.0f} | "
                f"{ratio:.2f}x | {os.getloadavg()[0]:.1f} |",
                flush=True,
            )
    finally:
        store.close()
        if options.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
