"""What the ingest benchmarks in bench/ share: the server under test, the load, the figures.

The load generator runs in worker processes (asyncio tasks with one httpx.AsyncClient and one
connection each), sending request bodies built once beforehand, so that the client costs as little
CPU as it can; that CPU is measured and reported, since on a small machine client and server share
the cores. All traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import httpx

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
VENV_BIN = Path(sys.executable).parent


# --- the machine and processes --------------------------------------------------------------


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kib = int(line.split()[1])
    return (
        f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {model}, "
        f"{memory_kib / 1024 / 1024:.0f} GiB RAM, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def process_tree(pid: int) -> list[int]:
    """`pid` and its children (fullcycle's ingest decoding workers), those alive now."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return [pid, *children]


def _own_cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def _own_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _sum_over_tree(pid: int, measure: Callable[[int], float]) -> float:
    total = 0.0
    for member in process_tree(pid):
        try:
            total += measure(member)
        except OSError:
            if member == pid:
                raise
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children, all threads included (/proc)."""
    return _sum_over_tree(pid, _own_cpu_seconds)


def _thread_cpu_seconds(pid: int) -> dict[tuple[int, str], tuple[str, float]]:
    """(process, thread id) -> (thread name, user + system CPU seconds) for every thread."""
    threads: dict[tuple[int, str], tuple[str, float]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        threads[(pid, task.name)] = (name, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
    return threads


def cpu_by_part(pid: int) -> dict[str, float]:
    """CPU seconds so far of the parts of a fullcycle server: its worker processes (ingest
    decoding), ClickHouse's merges (threads named MergeMutate), ClickHouse's other threads
    (inserts, queries) and the server's Python threads (HTTP, write-ahead log, flusher).
    Threads that ended are not counted; the differences of two calls are what matters."""
    parts: dict[str, float] = dict.fromkeys(CPU_PARTS, 0.0)
    for member in process_tree(pid):
        try:
            threads = _thread_cpu_seconds(member)
        except OSError:
            continue
        for (process, _), (name, seconds) in threads.items():
            parts[_part_of(process == pid, name)] += seconds
    return parts


CPU_PARTS = ("decoding workers", "ClickHouse merges", "ClickHouse other", "server Python")


def _part_of(in_server: bool, thread_name: str) -> str:
    if not in_server:
        return "decoding workers"
    if thread_name.startswith("MergeMutate"):
        return "ClickHouse merges"
    # Python threads keep the interpreter's name; ClickHouse names its own threads.
    return "server Python" if thread_name.startswith("python") else "ClickHouse other"


def load_average() -> float:
    """The 1-minute load average (the machine is shared: it says how much else ran)."""
    return os.getloadavg()[0]


def rss_kib(pid: int) -> int:
    """VmRSS of a process and its children."""
    return int(_sum_over_tree(pid, _own_rss_kib))


class RssSampler:
    """Samples a process's VmRSS every `interval` seconds in a thread; keeps the maximum."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid = pid
        self.interval = interval
        self.max_kib = 0
        self.last_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.last_kib = rss_kib(self.pid)
            except OSError:
                return
            self.max_kib = max(self.max_kib, self.last_kib)
            self._stop.wait(self.interval)


def wait_http(url: str, timeout: float, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


class FullcycleServer:
    """`fullcycle up` on a free port with a fresh data directory and an admin ingest token."""

    def __init__(self, data_dir: Path, token: str) -> None:
        self.data_dir = data_dir
        self.token = token
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / "fullcycle-server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.stop_seconds = 0.0
        self.cpu_seconds_at_exit = 0.0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        env = {
            **os.environ,
            "FULLCYCLE_ADMIN_TOKEN": self.token,
            "FULLCYCLE_LOG_LEVEL": "WARNING",
        }
        command = [sys.executable, "-m", "fullcycle", "up"]
        command += ["--data-dir", str(self.data_dir), "--port", str(self.port)]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                command, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        wait_http(f"{self.url}/healthz", 120, self.process)

    def stop(self) -> int:
        """SIGTERM, then wait: the server stores everything acknowledged before it exits."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        # wait4, not Popen.wait: its rusage is the server's CPU over its whole life, its decoding
        # workers' included (they end before it), so the final flush is counted too.
        _, wait_status, usage = os.wait4(self.process.pid, 0)
        self.process.returncode = os.waitstatus_to_exitcode(wait_status)
        self.cpu_seconds_at_exit = usage.ru_utime + usage.ru_stime
        self.stop_seconds = time.monotonic() - started
        return self.process.returncode

    def wal_backlog_bytes(self) -> int:
        """Bytes in the write-ahead log past the flusher's checkpoint: acknowledged, not yet in
        ClickHouse (read from the files, as TelemetryStore.backlog_bytes computes it)."""
        wal = self.data_dir / "wal"
        checkpoint = wal / "checkpoint.json"
        segments = sorted(wal.glob("*.wal"))
        if not segments:
            return 0
        if checkpoint.exists():
            flushed_segment, flushed_offset = json.loads(checkpoint.read_text())["flushed"]
        else:
            flushed_segment, flushed_offset = int(segments[0].stem), 0
        total = 0
        for segment in segments:
            number = int(segment.stem)
            if number >= flushed_segment:
                size = segment.stat().st_size
                total += size - flushed_offset if number == flushed_segment else size
        return total


def stored_counts(
    data_dir: Path, queries: dict[str, str], parameters: dict[str, object] | None = None
) -> dict[str, int]:
    """Run count queries (bound `{name:Type}` parameters) against a stopped server's store."""
    from fullcycle.telemetry.store import StoreOptions, TelemetryStore

    store = TelemetryStore(StoreOptions(data_dir=data_dir))
    store.open()
    try:
        return {name: int(store.query(sql, parameters)[0][0]) for name, sql in queries.items()}
    finally:
        store.close()


def temporary_directory(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


def remove_directory(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


# --- one-core baselines -----------------------------------------------------------------------


def rate_on_one_core(
    work: Callable[[bytes], object], bodies: Sequence[bytes], units: int, seconds: float
) -> float:
    """Units per second of `work` over the bodies, round and round, for about `seconds`, after
    one untimed call (first calls pay for lazy initialisation, e.g. pyarrow's time zones)."""
    work(bodies[0])
    done = 0
    started = time.perf_counter()
    deadline = started + seconds
    index = 0
    while True:
        work(bodies[index % len(bodies)])
        index += 1
        done += units
        if time.perf_counter() >= deadline:
            break
    return done / (time.perf_counter() - started)


# --- the load ---------------------------------------------------------------------------------


@dataclass
class LoadResult:
    seconds: float
    requests: int
    acknowledged_units: int
    statuses: Counter[str]
    latencies: list[float]
    completions: list[tuple[float, int]]  # (seconds since start, units) of each 2xx
    client_cpu_seconds: float
    server_cpu_seconds: float = 0.0
    server_cpu_at_start: float = 0.0  # the server's CPU seconds (workers included) at the start
    server_max_rss_kib: int = 0
    server_end_rss_kib: int = 0
    server_cpu_by_part: dict[str, float] = field(default_factory=dict)
    load_average_at_start: float = 0.0
    load_average_at_end: float = 0.0
    backlog_bytes_at_end: int = 0
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.acknowledged_units / self.seconds if self.seconds else 0.0

    def rate_between(self, start: float, end: float) -> float:
        units = sum(u for t, u in self.completions if start <= t < end)
        return units / (end - start)

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _client_task(
    url: str,
    headers: dict[str, str],
    bodies: Sequence[tuple[bytes, int]],
    first: int,
    step: int,
    start_at: float,
    deadline: float,
    out: list[tuple[float, float, int, int]],
) -> None:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        index = first
        while (now := time.monotonic()) < deadline:
            body, units = bodies[index % len(bodies)]
            index += step
            try:
                response = await client.post(url, content=body, headers=headers)
                status = response.status_code
            except httpx.HTTPError:
                status = -1
            out.append((now - start_at, time.monotonic() - start_at, status, units))


def _worker(
    url: str,
    headers: dict[str, str],
    bodies: Sequence[tuple[bytes, int]],
    tasks: Sequence[int],
    step: int,
    start_at: float,
    seconds: float,
) -> tuple[list[tuple[float, float, int, int]], float]:
    async def main() -> list[tuple[float, float, int, int]]:
        out: list[tuple[float, float, int, int]] = []
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        deadline = start_at + seconds
        await asyncio.gather(
            *(_client_task(url, headers, bodies, t, step, start_at, deadline, out) for t in tasks)
        )
        return out

    cpu_before = sum(os.times()[:2])
    out = asyncio.run(main())
    return out, sum(os.times()[:2]) - cpu_before


def run_load(
    url: str,
    headers: dict[str, str],
    bodies: Sequence[tuple[bytes, int]],
    *,
    clients: int,
    processes: int,
    seconds: float,
    server_pid: int,
    on_end: Callable[[LoadResult], None] | None = None,
    is_fullcycle: bool = True,
) -> LoadResult:
    """`clients` concurrent senders, spread over `processes` worker processes, for `seconds`
    (requests in flight at the end are waited for and counted). CPU and RSS of `server_pid` are
    measured over the same window, and for fullcycle (`is_fullcycle`) its CPU by part."""
    processes = max(1, min(processes, clients))
    groups = [list(range(p, clients, processes)) for p in range(processes)]
    with (
        ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool,
        RssSampler(server_pid) as rss,
    ):
        # Spawned workers import their modules first; the clock starts once they all can have.
        start_at = time.monotonic() + 2.0 + 1.0 * processes
        futures = [
            pool.submit(_worker, url, headers, bodies, group, clients, start_at, seconds)
            for group in groups
        ]
        time.sleep(max(0.0, start_at - time.monotonic()))
        server_cpu_before = cpu_seconds(server_pid)
        parts_before = cpu_by_part(server_pid)
        load_at_start = load_average()
        results = [future.result() for future in futures]
        server_cpu = cpu_seconds(server_pid) - server_cpu_before
        parts_after = cpu_by_part(server_pid)
    records = [row for rows, _ in results for row in rows]
    ok = [row for row in records if 200 <= row[2] < 300]
    last = max((row[1] for row in records), default=seconds)
    result = LoadResult(
        seconds=last,
        requests=len(records),
        acknowledged_units=sum(row[3] for row in ok),
        statuses=Counter(str(row[2]) for row in records),
        latencies=[row[1] - row[0] for row in ok],
        completions=[(row[1], row[3]) for row in ok],
        client_cpu_seconds=sum(cpu for _, cpu in results),
        server_cpu_seconds=server_cpu,
        server_cpu_at_start=server_cpu_before,
        server_max_rss_kib=rss.max_kib,
        server_end_rss_kib=rss.last_kib,
        server_cpu_by_part={
            part: parts_after[part] - parts_before.get(part, 0.0) for part in CPU_PARTS
        }
        if is_fullcycle
        else {},
        load_average_at_start=load_at_start,
        load_average_at_end=load_average(),
    )
    if on_end is not None:
        on_end(result)
    return result


def describe_load(name: str, unit: str, result: LoadResult) -> list[str]:
    half = result.seconds / 2
    lines = [
        f"{name}: {result.acknowledged_units:,} {unit} acknowledged in {result.requests:,} "
        f"requests over {result.seconds:.1f} s (statuses {dict(result.statuses)})",
        f"  rate: {result.rate:,.0f} {unit}/s sustained "
        f"(second half of the run: {result.rate_between(half, result.seconds):,.0f} {unit}/s)",
        f"  time to acknowledge: p50 {result.percentile(0.5) * 1000:.1f} ms, "
        f"p99 {result.percentile(0.99) * 1000:.1f} ms, "
        f"max {max(result.latencies, default=0) * 1000:.1f} ms",
        f"  server CPU: {result.server_cpu_seconds:.1f} s "
        f"= {result.server_cpu_seconds / result.seconds:.2f} cores; client CPU: "
        f"{result.client_cpu_seconds:.1f} s = {result.client_cpu_seconds / result.seconds:.2f} "
        f"cores",
    ]
    if result.server_cpu_by_part:
        lines.append(
            "  server CPU by part (cores): "
            + ", ".join(
                f"{part} {seconds / result.seconds:.2f}"
                for part, seconds in result.server_cpu_by_part.items()
            )
        )
    lines.append(
        f"  1-minute load average: {result.load_average_at_start:.1f} at the start, "
        f"{result.load_average_at_end:.1f} at the end (2 cores)"
    )
    if result.server_max_rss_kib:
        lines.append(
            f"  server RSS: max {result.server_max_rss_kib / 1024:,.0f} MiB, "
            f"at the end {result.server_end_rss_kib / 1024:,.0f} MiB"
        )
    return lines


# --- profiling ----------------------------------------------------------------------------------


def find_py_spy(explicit: str | None) -> str | None:
    candidates = [explicit] if explicit else []
    candidates += [str(VENV_BIN / "py-spy"), shutil.which("py-spy"), "/tmp/pyspy-venv/bin/py-spy"]  # noqa: S108
    return next((c for c in candidates if c and Path(c).exists()), None)


def start_profile(py_spy: str, pid: int, seconds: int, output: Path) -> subprocess.Popen[bytes]:
    command = [py_spy, "record", "--nonblocking", "--format", "raw", "-r", "50"]
    command += ["-d", str(seconds), "-p", str(pid), "-o", str(output)]
    return subprocess.Popen(  # noqa: S603 - py-spy found above, fixed arguments
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def top_of_profile(path: Path, top: int = 15) -> list[str]:
    """Self and inclusive time per function from py-spy's collapsed stacks."""
    if not path.exists():
        return ["  (no profile written; py-spy needs ptrace permission)"]
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [_short_frame(frame) for frame in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"  {total} samples of non-idle threads; self time (the frame on top of the stack):"]
    lines += [f"    {100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    lines.append(
        "  inclusive time (the frame anywhere on the stack), fullcycle and storage frames:"
    )
    inclusive = Counter({f: n for f, n in inclusive.items() if f.endswith(INTERESTING)})
    lines += [
        f"    {100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(top * 2)
    ]
    return lines


INTERESTING = tuple(
    f"{name})"
    for name in (
        "wal.py",
        "flusher.py",
        "group_commit.py",
        "payloads.py",
        "batches.py",
        "pipeline.py",
        "otlp_logs.py",
        "otlp_common.py",
        "remote_write.py",
        "services.py",
        "routes.py",
        "sqlitelike.py",
        "chdb_backend.py",
    )
)


def _short_frame(frame: str) -> str:
    # py-spy raw frames look like "function (path/to/file.py:123)"
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path, _, _line = where.rpartition(":")
    for marker in ("site-packages/", "src/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})" if path else name
