"""PromQL dashboard benchmark: fullcycle's engine over the embedded store next to VictoriaMetrics
answering the same queries over the same samples, in the same run.

The data is a service's metrics scraped every 15 s, as the Prometheus client libraries name them
(requests by code, a latency histogram, CPU, memory, up), spread over instances until there are
`--series` series. The dashboard is the 8 panels of the automatic service dashboard (requests per
second, error ratio, p50/p95/p99 latency, CPU, memory, instances up), each a range query with
the step the dashboard page uses. Every query runs `--repeat` times on each side; the figures are
p50/p95 per panel and for the whole dashboard (the 8 panels one after another).

fullcycle is called in-process (`fullcycle.metrics.engine.range_query`); VictoriaMetrics over
HTTP on 127.0.0.1 (which adds about a millisecond per query).

    .venv/bin/python bench/promql.py                 # 200 series, 6 h; windows 1 h and 6 h
    .venv/bin/python bench/promql.py --full          # the issue's size: 1,000 series, 7 days;
                                                     # windows 24 h and 7 d
    .venv/bin/python bench/promql.py --full --keep /tmp/promql-full   # load once, keep the data;
                                                     # a later run with the same DIR reuses it
    .venv/bin/python bench/promql.py --full --keep /tmp/promql-full --at-once   # also the
                                                     # dashboard with its 8 panels in flight at once

`--at-once` also measures the whole dashboard as a browser or Grafana loads it, every panel's
query in flight at the same time, on both sides alike: fullcycle's 8 queries in 8 threads of
this process, VictoriaMetrics' as 8 HTTP requests at once over 8 connections; the figure is
the time until the last answer.

The last row, "service page", is the service's automatic dashboard as its page asks for it:
one call of `service_dashboard` (the same 8 queries, a panel's queries evaluated together so
that the latency panel's p50, p95 and p99 read their bucket rates once, plus the look-up of
which metrics the service has, its log volume and its markers), against VictoriaMetrics
answering the 8 queries one after another (the "dashboard" row's figure).

After each window's table, a line gives the CPU time fullcycle's process (all its threads,
Python and chDB) spent per dashboard: on a shared machine it moves less with the other work
than the wall time does, so it compares two versions run one after the other.

With `--keep DIR` the data directories and the data's end time are kept in DIR; a later run with
the same DIR, series and hours skips the loading (which takes minutes for the full size).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from benchlib import free_port, machine

from fullcycle.metrics.engine import range_query
from fullcycle.metrics.panel_data import TimeRange
from fullcycle.metrics.service_dashboard import service_dashboard
from fullcycle.telemetry.batches import SampleBatch
from fullcycle.telemetry.store import StoreOptions, TelemetryStore

VICTORIA_METRICS = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"
SCRAPE_SECONDS = 15
BUCKETS = ("0.05", "0.1", "0.25", "0.5", "1", "+Inf")
SERIES_PER_INSTANCE = 2 + len(BUCKETS) + 2 + 3  # requests, buckets, sum/count, cpu/mem/up
JOB = 'job="bench"'
PANELS = {
    "requests/s": f"sum(rate(http_requests_total{{{JOB}}}[5m]))",
    "error ratio": f'sum(rate(http_requests_total{{{JOB},code=~"5.."}}[5m]))'
    f" / sum(rate(http_requests_total{{{JOB}}}[5m]))",
    **{
        f"p{q}": f"histogram_quantile(0.{q}, sum by (le)"
        f" (rate(http_request_duration_seconds_bucket{{{JOB}}}[5m])))"
        for q in (50, 95, 99)
    },
    "cpu": f"sum(rate(process_cpu_seconds_total{{{JOB}}}[5m]))",
    "memory": f"sum(process_resident_memory_bytes{{{JOB}}})",
    "up": f"sum(up{{{JOB}}})",
}

Series = tuple[dict[str, str], np.ndarray]  # labels with __name__, values per scrape


def generate(series_count: int, scrapes: int, seed: int = 7) -> Iterator[Series]:
    """The metrics of `series_count // SERIES_PER_INSTANCE` instances."""
    rng = np.random.default_rng(seed)
    for number in range(max(1, series_count // SERIES_PER_INSTANCE)):
        base = {"job": "bench", "instance": f"bench-{number}:8080"}
        requests = rng.poisson(40, scrapes)
        errors = rng.binomial(requests, 0.02)
        yield (
            {"__name__": "http_requests_total", **base, "code": "200"},
            np.cumsum(requests - errors).astype(float),
        )
        yield (
            {"__name__": "http_requests_total", **base, "code": "500"},
            np.cumsum(errors).astype(float),
        )
        shares = (0.3, 0.6, 0.85, 0.95, 0.99, 1.0)
        for bound, share in zip(BUCKETS, shares, strict=True):
            labels = {"__name__": "http_request_duration_seconds_bucket", **base, "le": bound}
            yield labels, np.cumsum(np.floor(requests * share)).astype(float)
        yield {"__name__": "http_request_duration_seconds_sum", **base}, np.cumsum(requests * 0.12)
        yield (
            {"__name__": "http_request_duration_seconds_count", **base},
            np.cumsum(requests).astype(float),
        )
        yield (
            {"__name__": "process_cpu_seconds_total", **base},
            np.cumsum(rng.uniform(0.5, 2.0, scrapes)),
        )
        yield (
            {"__name__": "process_resident_memory_bytes", **base},
            2e8 + np.cumsum(rng.normal(0, 1e5, scrapes)),
        )
        yield {"__name__": "up", **base}, np.ones(scrapes)


def load_fullcycle(store: TelemetryStore, data: list[Series], times_ms: np.ndarray) -> None:
    batch = SampleBatch()
    for labels, values in data:
        metric = labels["__name__"]
        rest = {k: v for k, v in labels.items() if k != "__name__"}
        for timestamp, value in zip(times_ms.tolist(), values.tolist(), strict=True):
            batch.add(metric=metric, labels=rest, timestamp_ms=timestamp, value=value)
        if len(batch) >= 500_000:
            asyncio.run(store.append([batch]))
            batch = SampleBatch()
    asyncio.run(store.append([batch]))
    store.flush()


def load_victoria(url: str, data: list[Series], times_ms: np.ndarray) -> None:
    timestamps = times_ms.tolist()
    lines = []
    for labels, values in data:
        lines.append(
            json.dumps({"metric": labels, "values": values.tolist(), "timestamps": timestamps})
        )
        if len(lines) >= 50:
            httpx.post(f"{url}/api/v1/import", content="\n".join(lines), timeout=600)
            lines = []
    if lines:
        httpx.post(f"{url}/api/v1/import", content="\n".join(lines), timeout=600)
    httpx.get(f"{url}/internal/force_flush", timeout=60)


def start_victoria(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - a fixed binary with arguments made here
        [
            VICTORIA_METRICS,
            f"-storageDataPath={data_dir}",
            f"-httpListenAddr=127.0.0.1:{port}",
            "-retentionPeriod=100y",
            "-search.latencyOffset=0s",
            "-search.disableCache",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("victoria-metrics did not start")


def open_data(
    work: Path, series: int, hours: float
) -> tuple[TelemetryStore, subprocess.Popen[bytes], str, int]:
    """The store and VictoriaMetrics holding the data, loaded now or kept in `work` by an
    earlier run with the same size; and the data's end (unix seconds)."""
    meta_path = work / "data.json"
    wanted = {"series": series, "hours": hours}
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    loaded = {k: meta.get(k) for k in wanted} == wanted
    if not loaded:
        shutil.rmtree(work / "fullcycle", ignore_errors=True)
        shutil.rmtree(work / "victoria", ignore_errors=True)
    store = TelemetryStore(StoreOptions(data_dir=work / "fullcycle", durable=False))
    store.open()
    victoria, url = start_victoria(work / "victoria")
    if loaded:
        print(f"data: kept in {work}, {series} series over {hours} h")
        return store, victoria, url, int(meta["end"])
    end_s = int(time.time()) // 60 * 60
    scrapes = int(hours * 3600 / SCRAPE_SECONDS)
    times_ms = (end_s - SCRAPE_SECONDS * np.arange(scrapes)[::-1]) * 1000
    data = list(generate(series, scrapes))
    print(f"data: {len(data)} series x {scrapes} scrapes = {len(data) * scrapes:,} samples")
    print(f"load fullcycle: {timed(lambda: load_fullcycle(store, data, times_ms)) / 1000:.1f} s")
    print(f"load VictoriaMetrics: {timed(lambda: load_victoria(url, data, times_ms)) / 1000:.1f} s")
    meta_path.write_text(json.dumps({**wanted, "end": end_s}))
    return store, victoria, url, end_s


def range_parameters(window: TimeRange) -> dict[str, float]:
    """The window as `/api/v1/query_range` takes it (besides the query)."""
    return {
        "start": window.start.timestamp(),
        "end": window.end.timestamp(),
        "step": window.step.total_seconds(),
    }


def check_answers(store: TelemetryStore, victoria: str, window: TimeRange) -> None:
    """Each panel's answer next to VictoriaMetrics': the largest relative difference of a
    value (VictoriaMetrics extrapolates rates differently, so they differ by a few per cent)."""
    params = range_parameters(window)
    for panel, expr in PANELS.items():
        ours = range_query(store, expr, window.start, window.end, window.step).series
        theirs = httpx.get(
            f"{victoria}/api/v1/query_range", params={**params, "query": expr}, timeout=120
        ).json()["data"]["result"]
        mine = {t: v for s in ours for t, v in s.points}
        other = {float(t): float(v) for s in theirs for t, v in s["values"]}
        common = sorted(set(mine) & set(other))
        worst = max(
            (abs(mine[t] - other[t]) / max(abs(other[t]), 1e-12) for t in common), default=0.0
        )
        print(
            f"  {panel:<12} points: fullcycle {len(mine)}, VM {len(other)};"
            f" largest relative difference {worst:.2%}"
        )


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def measure(
    store: TelemetryStore,
    victoria: str,
    window: TimeRange,
    repeat: int,
    cpu_ms: list[float] | None = None,
) -> dict[str, tuple[list[float], list[float]]]:
    """Milliseconds per panel query, fullcycle and VictoriaMetrics, `repeat` times each; with
    `cpu_ms`, also the CPU time this process (all its threads: Python and chDB) spent on each
    dashboard's 8 fullcycle queries, which other sessions' load stretches less than the wall
    time."""
    timings: dict[str, tuple[list[float], list[float]]] = {p: ([], []) for p in PANELS}
    params = range_parameters(window)
    with httpx.Client(timeout=120) as http:
        for _ in range(repeat):
            spent = 0.0
            for panel, expr in PANELS.items():
                cpu_before = time.process_time()
                ours = timed(
                    lambda e=expr: range_query(store, e, window.start, window.end, window.step)
                )
                spent += (time.process_time() - cpu_before) * 1000
                theirs = timed(
                    lambda e=expr: http.get(
                        f"{victoria}/api/v1/query_range", params={**params, "query": e}
                    ).raise_for_status()
                )
                timings[panel][0].append(ours)
                timings[panel][1].append(theirs)
            if cpu_ms is not None:
                cpu_ms.append(spent)
    return timings


def measure_at_once(
    store: TelemetryStore, victoria: str, window: TimeRange, repeat: int
) -> tuple[list[float], list[float]]:
    """Milliseconds until every panel is answered with all 8 queries sent at once, fullcycle
    and VictoriaMetrics, `repeat` times each."""
    params = range_parameters(window)
    ours: list[float] = []
    theirs: list[float] = []
    limits = httpx.Limits(max_connections=len(PANELS))
    with ThreadPoolExecutor(len(PANELS)) as pool, httpx.Client(timeout=120, limits=limits) as http:

        def ask_fullcycle(expr: str) -> None:
            range_query(store, expr, window.start, window.end, window.step)

        def ask_victoria(expr: str) -> None:
            http.get(
                f"{victoria}/api/v1/query_range", params={**params, "query": expr}
            ).raise_for_status()

        for _ in range(repeat):
            ours.append(timed(lambda: list(pool.map(ask_fullcycle, PANELS.values()))))
            theirs.append(timed(lambda: list(pool.map(ask_victoria, PANELS.values()))))
    return ours, theirs


def measure_service_page(
    store: TelemetryStore, victoria: str, window: TimeRange, repeat: int
) -> tuple[list[float], list[float]]:
    """Milliseconds for the service's dashboard as its page gets it, one request
    (`service_dashboard`: the panels' queries, a panel's queries evaluated together, the
    series look-up, the log volume and the markers), against VictoriaMetrics answering the 8
    panel queries one after another, `repeat` times each."""
    panels = service_dashboard(store, JOB.split('"')[1], window)["panels"]
    drawn = {panel["title"]: len(panel["series"]) for panel in panels}
    print(f"the service page's panels (series): {drawn}")
    params = range_parameters(window)
    ours: list[float] = []
    theirs: list[float] = []
    with httpx.Client(timeout=120) as http:
        for _ in range(repeat):
            ours.append(timed(lambda: service_dashboard(store, JOB.split('"')[1], window)))
            theirs.append(
                sum(
                    timed(
                        lambda e=expr: http.get(
                            f"{victoria}/api/v1/query_range", params={**params, "query": e}
                        ).raise_for_status()
                    )
                    for expr in PANELS.values()
                )
            )
    return ours, theirs


def report_total(label: str, ours: list[float], theirs: list[float]) -> None:
    print(
        f"{label:<12} {percentile(ours, 50):>11.1f} ms {percentile(ours, 95):>5.1f} ms"
        f" {percentile(theirs, 50):>5.1f} ms {percentile(theirs, 95):>5.1f} ms"
        f" {percentile(ours, 50) / percentile(theirs, 50):>9.1f}x"
    )


def report(label: str, timings: dict[str, tuple[list[float], list[float]]]) -> None:
    print(f"\n{label}")
    print(
        f"{'panel':<12} {'fullcycle p50':>14} {'p95':>8} {'VM p50':>8} {'p95':>8} {'ratio p50':>10}"
    )
    for panel, (ours, theirs) in timings.items():
        print(
            f"{panel:<12} {percentile(ours, 50):>11.1f} ms {percentile(ours, 95):>5.1f} ms"
            f" {percentile(theirs, 50):>5.1f} ms {percentile(theirs, 95):>5.1f} ms"
            f" {percentile(ours, 50) / percentile(theirs, 50):>9.1f}x"
        )
    ours_total = [sum(run) for run in zip(*(t[0] for t in timings.values()), strict=True)]
    theirs_total = [sum(run) for run in zip(*(t[1] for t in timings.values()), strict=True)]
    print(
        f"{'dashboard':<12} {percentile(ours_total, 50):>11.1f} ms"
        f" {percentile(ours_total, 95):>5.1f} ms {percentile(theirs_total, 50):>5.1f} ms"
        f" {percentile(theirs_total, 95):>5.1f} ms"
        f" {percentile(ours_total, 50) / percentile(theirs_total, 50):>9.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="1,000 series over 7 days")
    parser.add_argument("--series", type=int, help="series (default 200; 1,000 with --full)")
    parser.add_argument("--hours", type=float, help="hours of data (default 6; 168 with --full)")
    parser.add_argument("--repeat", type=int, default=7, help="runs of each query (default 7)")
    parser.add_argument(
        "--keep", type=Path, metavar="DIR", help="keep the data in DIR (reused when it is there)"
    )
    parser.add_argument("--only", choices=("short", "long"), help="measure one window only")
    parser.add_argument("--check", action="store_true", help="compare answers with VM first")
    parser.add_argument(
        "--at-once", action="store_true", help="also the dashboard with all panels at once"
    )
    args = parser.parse_args()
    series = args.series or (1000 if args.full else 200)
    hours = args.hours or (168.0 if args.full else 6.0)
    short, long = (
        (timedelta(hours=24), timedelta(days=7))
        if args.full
        else (timedelta(hours=1), timedelta(hours=hours))
    )
    windows = {"short": (short,), "long": (long,)}.get(args.only or "", (short, long))
    if not Path(VICTORIA_METRICS).exists():
        sys.exit(f"{VICTORIA_METRICS} is missing (apt-get install victoria-metrics)")

    print(f"machine: {machine()}")
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-promql-"))
    work.mkdir(parents=True, exist_ok=True)
    store, victoria, url, end_s = open_data(work, series, hours)
    try:
        end = datetime.fromtimestamp(end_s, UTC)
        for duration in windows:
            window = TimeRange.ending(end, duration)
            if args.check:
                check_answers(store, url, window)
            measure(store, url, window, 1)  # warm both caches of the files
            label = (
                f"window {duration}, step {window.step.total_seconds():.0f} s, {args.repeat} runs"
            )
            print(f"load average before: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
            cpu_ms: list[float] = []
            report(label, measure(store, url, window, args.repeat, cpu_ms))
            print(
                f"fullcycle CPU per dashboard (this process, all threads): p50 "
                f"{percentile(cpu_ms, 50):.1f} ms, p95 {percentile(cpu_ms, 95):.1f} ms"
            )
            if args.at_once:
                print(f"load average: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
                report_total("at once", *measure_at_once(store, url, window, args.repeat))
            report_total("service page", *measure_service_page(store, url, window, args.repeat))
    finally:
        store.close()
        victoria.terminate()
        victoria.wait(timeout=30)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
