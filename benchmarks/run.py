"""Benchmark a full sync of tap-pipedrive against the local Pipedrive emulator.

Usage, from the repository root, with the project's virtualenv:

    .venv/bin/python benchmarks/run.py [--scales 20000 200000] [--runs 3] [--latency-ms 0]
    .venv/bin/python benchmarks/run.py --profile --scales 20000

For each scale (number of deals; persons, organizations, activities and notes grow with it) the
emulator runs in its own process. The tap then syncs deals, persons, organizations, activities
and notes (`tap-pipedrive --config cfg.json --catalog catalog.json > /dev/null`), and a "floor"
pages the same endpoints with the same query parameters in a minimal `requests` loop, writing
each record as a Singer RECORD line to /dev/null. After `--warmup` untimed tap runs, tap and
floor alternate, `--runs` times each; the medians are printed as a markdown table and written to
`benchmarks/RESULTS.md` (its hand-written text after the marker line is kept).

Measured per run:

* records: the items the emulator served on those five streams' lists (counted by the floor,
  and checked against the tap's own `record_count` metrics);
* wall time, CPU time and peak RSS of the tap process (the rusage of that one process, reaped
  with `os.wait4` by a small launcher process; see `measure`);
* HTTP requests and tokens, from the emulator's request log (`--verbose`) during the tap's run,
  each request priced at its operation's `x-token-cost` from the spec, against the minimum:
  `ceil(records / 500)` calls per list (the live and the archived deals lists count apart) plus
  one call per `*Fields` endpoint the tap reads.

`--profile` instead runs the tap once per scale under pyinstrument (if installed; else cProfile)
and writes the top entries by self and by cumulative time to `benchmarks/profile-<scale>.txt`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import importlib
import importlib.util
import json
import math
import os
import platform
import pstats
import re
import selectors
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import typing as t
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS_DIR = REPO_ROOT / "benchmarks"
#: The streams the benchmark syncs.
STREAMS = ("deals", "persons", "organizations", "activities", "notes")
#: Pipedrive's largest page: the minimum number of list calls is ceil(records / PAGE_SIZE).
PAGE_SIZE = 500
#: The token the emulator accepts (a throwaway value, not a secret).
API_TOKEN = "benchmark-token"
SEED = 1
#: Upper bounds, so that no loop or wait can run forever.
MAX_PAGES = 100_000
READY_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 15.0
#: Lines kept of the profile tables and of pyinstrument's call tree.
PROFILE_TOP = 25
PROFILE_TREE_LINES = 120
#: Text after this line of RESULTS.md is hand-written and kept when the script rewrites it.
KEEP_MARKER = "<!-- Text below this line is kept when benchmarks/run.py rewrites this file. -->"
REQUEST_LINE = re.compile(r'"([A-Z]+) (\S+) HTTP/[0-9.]+" (\d{3}) ')
VERSION_PREFIXES = ("/api/v2/", "/api/v1/", "/v1/")


# --- processes --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Measured:
    """What one child process cost: wall and CPU seconds, peak RSS, exit status."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    returncode: int


def measure(
    command: list[str], *, stdout: t.IO[t.Any], stderr: t.IO[t.Any], timeout: float
) -> Measured:
    """Run a command to completion through a small launcher process; return the command's cost.

    Why a launcher: Linux carries the RSS high-water mark of the process that forked a child
    into the child's `ru_maxrss` across `exec`, so a command started straight from this process
    would report at least this process's own RSS (tens of MB once the spec is parsed). The
    launcher (`python -S benchmarks/run.py --launch ...`, stdlib only) is small; it starts the
    command and reaps it with `os.wait4`, which returns that one child's rusage. The whole
    process group is killed if it outlives `timeout`.
    """
    with tempfile.TemporaryDirectory(prefix="tap-pipedrive-measure-") as tmp:
        report = Path(tmp) / "rusage.json"
        launcher = [sys.executable, "-S", str(Path(__file__).resolve()), "--launch", str(report)]
        process = subprocess.Popen(
            [*launcher, *command], stdout=stdout, stderr=stderr, cwd=REPO_ROOT,
            start_new_session=True,
        )  # fmt: skip
        killer = threading.Timer(timeout, kill_group, [process.pid])
        killer.start()
        try:
            process.wait()
        finally:
            killer.cancel()
            if process.returncode is None:
                kill_group(process.pid)
                process.wait()
        if not report.exists():
            msg = f"no measurement for {shlex.join(command)} (exit {process.returncode})"
            raise RuntimeError(msg)
        return Measured(**json.loads(report.read_text()))


def kill_group(pid: int) -> None:
    """SIGKILL a process group (the launcher and the command it runs), if still there."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def launch(report: Path, command: list[str]) -> int:
    """The launcher's process: run `command`, write its wall time and own rusage to `report`."""
    started = time.perf_counter()
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes vs KiB
    measured = Measured(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / scale,
        returncode=process.returncode,
    )
    report.write_text(json.dumps(dataclasses.asdict(measured)))
    return 0


@dataclasses.dataclass(frozen=True)
class LoggedRequest:
    """One request line of the emulator's `--verbose` log."""

    method: str
    path: str
    query: dict[str, str]
    status: int


def parse_request_log(text: str) -> list[LoggedRequest]:
    """Parse the emulator's request log lines (`127.0.0.1 - "GET /path?q HTTP/1.1" 200 -`)."""
    found = []
    for line in text.splitlines():
        match = REQUEST_LINE.search(line)
        if match is None:
            continue
        method, target, status = match.groups()
        parts = urlsplit(target)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        found.append(LoggedRequest(method, parts.path, query, int(status)))
    return found


class EmulatorProcess:
    """The emulator (`python -m tests.emulator`) in its own process, request log in a file."""

    def __init__(self, scale: int, latency_ms: float, log_path: Path) -> None:
        self.scale = scale
        self.latency_ms = latency_ms
        self.log_path = log_path
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: t.IO[bytes] | None = None

    def __enter__(self) -> EmulatorProcess:
        command = [
            sys.executable, "-m", "tests.emulator", "--port", "0", "--seed", str(SEED),
            "--scale", str(self.scale), "--token", API_TOKEN,
            "--latency-ms", str(self.latency_ms), "--verbose",
        ]  # fmt: skip
        self._log_file = self.log_path.open("wb")
        self._process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self._log_file, cwd=REPO_ROOT
        )
        try:
            self.url = self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _wait_until_ready(self) -> str:
        """Read stdout until `READY <url>`; fail if the emulator exits or takes too long."""
        assert self._process is not None
        assert self._process.stdout is not None
        stream = self._process.stdout
        deadline = time.monotonic() + READY_TIMEOUT_S
        buffer = b""
        with selectors.DefaultSelector() as selector:
            selector.register(stream, selectors.EVENT_READ)
            for _ in range(100_000):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    break
                chunk = os.read(stream.fileno(), 4096)
                if not chunk:
                    break
                buffer += chunk
                for line in buffer.decode(errors="replace").splitlines():
                    if line.startswith("READY "):
                        return line.split(maxsplit=1)[1].strip()
        log = self.log_path.read_text(errors="replace")[-2000:]
        msg = f"the emulator (scale {self.scale}) did not print READY; its stderr ends:\n{log}"
        raise RuntimeError(msg)

    def stop(self) -> None:
        """Terminate the emulator (SIGTERM, then SIGKILL) and close its files."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.stdout is not None:
                process.stdout.close()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def log_position(self) -> int:
        """Return the current end of the request log (to read only what follows)."""
        return self.log_path.stat().st_size

    def requests_since(self, position: int) -> list[LoggedRequest]:
        """Return the requests logged after `position`."""
        with self.log_path.open("rb") as log:
            log.seek(position)
            return parse_request_log(log.read().decode(errors="replace"))

    def cpu_seconds(self) -> float | None:
        """Return the emulator's CPU time so far (Linux /proc only; None elsewhere)."""
        if self._process is None:
            return None
        try:
            stat = Path(f"/proc/{self._process.pid}/stat").read_text()
        except OSError:
            return None
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the tap ----------------------------------------------------------------------------------


def tap_executable() -> str:
    """Return the `tap-pipedrive` console script of this interpreter's environment."""
    beside = Path(sys.executable).parent / "tap-pipedrive"
    if beside.exists():
        return str(beside)
    found = shutil.which("tap-pipedrive")
    if found is None:
        raise RuntimeError("tap-pipedrive is not installed: run with the project's virtualenv")
    return found


def discover_catalog(tap: str, config: Path, timeout: float) -> dict[str, t.Any]:
    """Run `tap-pipedrive --discover` and select exactly STREAMS (top-level metadata)."""
    result = subprocess.run(
        [tap, "--config", str(config), "--discover"],
        capture_output=True,
        cwd=REPO_ROOT,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        tail = result.stderr.decode(errors="replace")[-3000:]
        raise RuntimeError(f"discovery failed ({result.returncode}):\n{tail}")
    catalog: dict[str, t.Any] = json.loads(result.stdout)
    names = {entry["tap_stream_id"] for entry in catalog["streams"]}
    missing = set(STREAMS) - names
    if missing:
        raise RuntimeError(f"the catalog lacks the stream(s) {sorted(missing)}")
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in STREAMS
    return catalog


def tap_metrics(stderr_text: str) -> tuple[dict[str, int], int]:
    """Sum the SDK's `record_count` (per stream) and `http_request_count` METRIC lines."""
    records: dict[str, int] = {}
    requests_count = 0
    for line in stderr_text.splitlines():
        if "METRIC: " not in line:
            continue
        try:
            point = json.loads(line.split("METRIC: ", 1)[1])
        except ValueError:
            continue
        if point.get("type") != "counter":
            continue
        if point.get("metric") == "record_count":
            stream = point.get("tags", {}).get("stream", "?")
            records[stream] = records.get(stream, 0) + int(point["value"])
        elif point.get("metric") == "http_request_count":
            requests_count += int(point["value"])
    return records, requests_count


# --- the floor --------------------------------------------------------------------------------


def stream_of(path: str) -> str | None:
    """Return which benchmarked stream a list path serves (`/api/v2/deals/archived`: deals)."""
    for prefix in VERSION_PREFIXES:
        if path.startswith(prefix):
            entity = path[len(prefix) :].split("/", 1)[0]
            return entity if entity in STREAMS else None
    return None


def is_fields_path(path: str) -> bool:
    """Tell whether a path is a field-definitions list (`/api/v2/dealFields`, `/v1/noteFields`)."""
    return path.rstrip("/").endswith("Fields")


def floor_plan(tap_requests: list[LoggedRequest]) -> list[dict[str, t.Any]]:
    """Return the endpoints the floor pages: every list and `*Fields` path the tap read.

    Each keeps the query of the tap's first request to it, without the page position
    (`cursor`, `start`), so the floor asks for exactly what the tap asked for.
    """
    plan: dict[str, dict[str, t.Any]] = {}
    for request in tap_requests:
        if request.path in plan or not (stream_of(request.path) or is_fields_path(request.path)):
            continue
        params = {k: v for k, v in request.query.items() if k not in ("cursor", "start")}
        plan[request.path] = {
            "path": request.path,
            "params": params,
            "paging": "cursor" if request.path.startswith("/api/v2/") else "offset",
            "stream": stream_of(request.path),
        }
    return list(plan.values())


def floor_sync(base_url: str, endpoints: list[dict[str, t.Any]], out: t.TextIO) -> dict[str, int]:
    """Page every endpoint, write its records as Singer RECORD lines; return items per path."""
    # Imported here: only the floor needs it, and the launcher runs without site-packages.
    import requests  # noqa: PLC0415

    session = requests.Session()
    session.headers["x-api-token"] = API_TOKEN
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    dumps, write = json.dumps, out.write
    counts: dict[str, int] = {}
    for endpoint in endpoints:
        params = dict(endpoint["params"])
        if "updated_until" in params:  # the tap's frozen upper bound is the start of its run
            params["updated_until"] = now
        stream, items = endpoint["stream"], 0
        for _ in range(MAX_PAGES):
            response = session.get(base_url + endpoint["path"], params=params, timeout=120)
            response.raise_for_status()
            body = response.json()
            data = body.get("data") or []
            items += len(data)
            if stream is not None:
                for record in data:
                    write(dumps({"type": "RECORD", "stream": stream, "record": record}) + "\n")
            additional = body.get("additional_data") or {}
            if endpoint["paging"] == "cursor":
                cursor = additional.get("next_cursor")
                if not cursor:
                    break
                params["cursor"] = cursor
            else:
                pagination = additional.get("pagination") or {}
                if not pagination.get("more_items_in_collection"):
                    break
                params["start"] = pagination["next_start"]
        else:
            raise RuntimeError(f"{endpoint['path']}: more than {MAX_PAGES} pages")
        counts[endpoint["path"]] = items
    out.flush()
    return counts


def floor_worker(plan_path: Path) -> int:
    """The floor's process: read the plan, sync to stdout, write the counts to the report."""
    plan = json.loads(plan_path.read_text())
    counts = floor_sync(plan["base_url"], plan["endpoints"], sys.stdout)
    Path(plan["report"]).write_text(json.dumps(counts))
    return 0


# --- one scale --------------------------------------------------------------------------------


@dataclasses.dataclass
class RunResult:
    """One tap run and the floor run after it."""

    tap: Measured
    floor: Measured
    records: int
    records_by_stream: dict[str, int]
    tap_records: dict[str, int]
    tap_metric_requests: int
    requests: int
    tokens: int
    min_requests: int
    min_tokens: int
    emulator_cpu_s: float | None
    other_paths: list[str]


@dataclasses.dataclass
class ScaleResult:
    """Every run at one scale, and their medians."""

    scale: int
    runs: list[RunResult]
    warnings: list[str]

    def median(self, value: t.Callable[[RunResult], float | None]) -> float:
        """Return the median of a per-run value (NaN if unknown)."""
        values = [v for v in map(value, self.runs) if v is not None]
        return statistics.median(values) if values else math.nan

    @property
    def records(self) -> int:
        """Records per run (the emulator's data does not change between runs)."""
        return int(self.median(lambda r: r.records))


def token_pricer() -> t.Callable[[str, str], int]:
    """Return `tests.emulator.spec.token_cost` (importing the emulator from the repo root)."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    spec = importlib.import_module("tests.emulator.spec")
    return t.cast("t.Callable[[str, str], int]", spec.token_cost)


def charged(request: LoggedRequest, price: t.Callable[[str, str], int]) -> int:
    """Return what the emulator charged: the spec's cost for 2xx and 400, else nothing."""
    if 200 <= request.status < 300 or request.status == 400:
        return price(request.method, request.path)
    return 0


def minimum_cost(counts: dict[str, int], price: t.Callable[[str, str], int]) -> tuple[int, int]:
    """Return the fewest (requests, tokens) that read these items: full pages only."""
    calls = tokens = 0
    for path, items in counts.items():
        pages = max(1, math.ceil(items / PAGE_SIZE))
        calls += pages
        tokens += pages * price("GET", path)
    return calls, tokens


@dataclasses.dataclass(frozen=True)
class TapRun:
    """One tap run: its cost, the requests the emulator logged, the tap's own metrics."""

    measured: Measured
    logged: list[LoggedRequest]
    records: dict[str, int]
    metric_requests: int
    emulator_cpu_s: float | None


def run_tap(
    tap: str, emulator: EmulatorProcess, work: Path, files: tuple[Path, Path], timeout: float
) -> TapRun:
    """Run `tap-pipedrive --config cfg.json --catalog catalog.json > /dev/null`; measure it."""
    config, catalog = files
    tap_log = work / "tap.stderr"
    position = emulator.log_position()
    cpu_before = emulator.cpu_seconds()
    with open(os.devnull, "wb") as devnull, tap_log.open("wb") as stderr:
        measured = measure(
            [tap, "--config", str(config), "--catalog", str(catalog)],
            stdout=devnull,
            stderr=stderr,
            timeout=timeout,
        )
    cpu_after = emulator.cpu_seconds()
    stderr_text = tap_log.read_text(errors="replace")
    if measured.returncode != 0:
        raise RuntimeError(f"the tap exited {measured.returncode}:\n{stderr_text[-3000:]}")
    records, metric_requests = tap_metrics(stderr_text)
    return TapRun(
        measured=measured,
        logged=emulator.requests_since(position),
        records=records,
        metric_requests=metric_requests,
        emulator_cpu_s=(
            cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
        ),
    )


def run_floor(
    emulator: EmulatorProcess, work: Path, plan: list[dict[str, t.Any]], timeout: float
) -> tuple[Measured, dict[str, int]]:
    """Run the floor over the plan's endpoints; return its cost and the items per path."""
    report = work / "floor-counts.json"
    plan_file = work / "floor-plan.json"
    plan_file.write_text(
        json.dumps({"base_url": emulator.url, "endpoints": plan, "report": str(report)})
    )
    floor_log = work / "floor.stderr"
    with open(os.devnull, "wb") as devnull, floor_log.open("wb") as stderr:
        measured = measure(
            [sys.executable, str(Path(__file__).resolve()), "--floor-worker", str(plan_file)],
            stdout=devnull,
            stderr=stderr,
            timeout=timeout,
        )
    if measured.returncode != 0:
        tail = floor_log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"the floor exited {measured.returncode}:\n{tail}")
    counts: dict[str, int] = json.loads(report.read_text())
    return measured, counts


def combine(
    tap_run: TapRun,
    floor: tuple[Measured, dict[str, int]],
    plan: list[dict[str, t.Any]],
    price: t.Callable[[str, str], int],
) -> RunResult:
    """Put a tap run and the floor run after it together, with the minimum cost."""
    floor_run, counts = floor
    min_requests, min_tokens = minimum_cost(counts, price)
    planned = {endpoint["path"] for endpoint in plan}
    logged = tap_run.logged
    return RunResult(
        tap=tap_run.measured,
        floor=floor_run,
        records=sum(n for path, n in counts.items() if stream_of(path)),
        records_by_stream=per_stream(counts),
        tap_records=tap_run.records,
        tap_metric_requests=tap_run.metric_requests,
        requests=len(logged),
        tokens=sum(charged(request, price) for request in logged),
        min_requests=min_requests,
        min_tokens=min_tokens,
        emulator_cpu_s=tap_run.emulator_cpu_s,
        other_paths=sorted({r.path for r in logged} - planned),
    )


def check_run(run: RunResult) -> list[str]:
    """Return what looks wrong in a run: record or request counts that disagree."""
    problems = []
    counts_by_stream = run.records_by_stream
    if run.tap_records != counts_by_stream:
        problems.append(
            f"the tap's record_count metrics {run.tap_records} differ from what the emulator "
            f"served {counts_by_stream}"
        )
    if run.tap_metric_requests != run.requests:
        problems.append(
            f"the tap's http_request_count metrics ({run.tap_metric_requests}) differ from the "
            f"emulator's request log ({run.requests})"
        )
    if run.other_paths:
        problems.append(f"the tap also read {', '.join(run.other_paths)}")
    return problems


def benchmark_scale(
    scale: int, args: argparse.Namespace, price: t.Callable[[str, str], int]
) -> ScaleResult:
    """Start an emulator at `scale`, discover, warm up, then alternate tap and floor runs.

    The warm-up tap runs are not timed: they fill the emulator's caches and give the floor its
    endpoints and query parameters (from the request log of the first tap run).
    """
    tap = tap_executable()
    warnings: list[str] = []
    runs: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="tap-pipedrive-bench-") as tmp:
        work = Path(tmp)
        with EmulatorProcess(scale, args.latency_ms, work / "emulator.log") as emulator:
            files = prepare(tap, emulator, work, args.timeout)
            plan = None
            for index in range(args.warmup):
                warmup = run_tap(tap, emulator, work, files, args.timeout)
                plan = plan or floor_plan(warmup.logged)
                print(
                    f"  scale {scale} warm-up {index + 1}/{args.warmup}: "
                    f"tap {warmup.measured.wall_s:.1f}s",
                    file=sys.stderr,
                    flush=True,
                )
            for index in range(args.runs):
                tap_run = run_tap(tap, emulator, work, files, args.timeout)
                plan = plan or floor_plan(tap_run.logged)
                run = combine(tap_run, run_floor(emulator, work, plan, args.timeout), plan, price)
                runs.append(run)
                for problem in check_run(run):
                    if problem not in warnings:
                        warnings.append(problem)
                print(
                    f"  scale {scale} run {index + 1}/{args.runs}: tap {run.tap.wall_s:.1f}s "
                    f"({run.records / run.tap.wall_s:,.0f} rec/s, {run.tap.peak_rss_mb:.0f} MB), "
                    f"floor {run.floor.wall_s:.1f}s ({run.records / run.floor.wall_s:,.0f} rec/s)",
                    file=sys.stderr,
                    flush=True,
                )
    return ScaleResult(scale, runs, warnings)


def per_stream(counts: dict[str, int]) -> dict[str, int]:
    """Sum the items of each stream's paths (live and archived deals together)."""
    totals: dict[str, int] = {}
    for path, items in counts.items():
        stream = stream_of(path)
        if stream is not None:
            totals[stream] = totals.get(stream, 0) + items
    return totals


def prepare(tap: str, emulator: EmulatorProcess, work: Path, timeout: float) -> tuple[Path, Path]:
    """Write cfg.json and catalog.json (discovered, STREAMS selected) into `work`."""
    config = work / "cfg.json"
    config.write_text(json.dumps({"api_token": API_TOKEN, "api_url": emulator.url}))
    catalog = work / "catalog.json"
    catalog.write_text(json.dumps(discover_catalog(tap, config, timeout)))
    return config, catalog


# --- reporting --------------------------------------------------------------------------------


def results_table(results: list[ScaleResult]) -> str:
    """Return the markdown table of medians, one row per scale."""
    lines = [
        "| deals (scale) | records | tap wall s | tap rec/s | floor rec/s | ratio "
        "| requests (tap / min) | tokens (tap / min) | tap peak RSS MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        tap_rate = result.median(lambda r: r.records / r.tap.wall_s)
        floor_rate = result.median(lambda r: r.records / r.floor.wall_s)
        lines.append(
            f"| {result.scale:,} | {result.records:,} "
            f"| {result.median(lambda r: r.tap.wall_s):.2f} | {tap_rate:,.0f} "
            f"| {floor_rate:,.0f} | {tap_rate / floor_rate:.0%} "
            f"| {result.median(lambda r: r.requests):,.0f} / "
            f"{result.median(lambda r: r.min_requests):,.0f} "
            f"| {result.median(lambda r: r.tokens):,.0f} / "
            f"{result.median(lambda r: r.min_tokens):,.0f} "
            f"| {result.median(lambda r: r.tap.peak_rss_mb):.0f} |"
        )
    return "\n".join(lines)


def detail_table(results: list[ScaleResult]) -> str:
    """Return the markdown table of where the time goes (medians) and each run's wall times."""
    lines = [
        "| deals (scale) | tap CPU s | tap CPU µs/record | emulator CPU s during tap run "
        "| floor wall s | floor CPU s | floor CPU µs/record | floor peak RSS MB "
        "| tap wall s, each run | floor wall s, each run |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for result in results:
        records = max(result.records, 1)
        tap_cpu = result.median(lambda r: r.tap.cpu_s)
        floor_cpu = result.median(lambda r: r.floor.cpu_s)
        lines.append(
            f"| {result.scale:,} | {tap_cpu:.2f} | {tap_cpu / records * 1e6:.0f} "
            f"| {result.median(lambda r: r.emulator_cpu_s):.2f} "
            f"| {result.median(lambda r: r.floor.wall_s):.2f} "
            f"| {floor_cpu:.2f} | {floor_cpu / records * 1e6:.0f} "
            f"| {result.median(lambda r: r.floor.peak_rss_mb):.0f} "
            f"| {', '.join(f'{r.tap.wall_s:.2f}' for r in result.runs)} "
            f"| {', '.join(f'{r.floor.wall_s:.2f}' for r in result.runs)} |"
        )
    return "\n".join(lines)


def target_notes(results: list[ScaleResult]) -> list[str]:
    """Return one line per target: throughput ratio, peak RSS, memory growth with scale."""
    notes = []
    for result in results:
        tap_rate = result.median(lambda r: r.records / r.tap.wall_s)
        floor_rate = result.median(lambda r: r.records / r.floor.wall_s)
        ratio = tap_rate / floor_rate
        rss = result.median(lambda r: r.tap.peak_rss_mb)
        notes.append(
            f"Scale {result.scale:,}: throughput {ratio:.0%} of the floor "
            f"({'meets' if ratio >= 0.5 else 'misses'} the 50% target); peak RSS {rss:.0f} MB "
            f"({'meets' if rss < 200 else 'misses'} the 200 MB target)."
        )
    if len(results) >= 2:
        small, large = results[0], results[-1]
        growth = large.median(lambda r: r.tap.peak_rss_mb) / small.median(
            lambda r: r.tap.peak_rss_mb
        )
        factor = large.records / small.records
        notes.append(
            f"Memory from {small.scale:,} to {large.scale:,} deals ({factor:.1f}x the records): "
            f"{growth - 1:+.0%} peak RSS ({'meets' if growth - 1 < 0.2 else 'misses'} the "
            "< 20% target)."
        )
    return notes


def machine() -> str:
    """Describe the machine: cores, Python, platform."""
    return (
        f"{os.cpu_count()} cores (os.cpu_count()), Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.platform()}"
    )


def render_results(
    results: list[ScaleResult], args: argparse.Namespace, command: str, kept: str
) -> str:
    """Return the whole RESULTS.md: command, machine, date, tables, notes, kept text."""
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    warnings = [f"Scale {r.scale:,}: {w}." for r in results for w in r.warnings]
    notes = [*target_notes(results), *warnings]
    method = [
        f"Medians of {args.runs} run(s) per scale, after {args.warmup} untimed warm-up tap "
        f"run(s); tap and floor runs alternate on the same emulator process (seed {SEED}, "
        f"`--latency-ms {args.latency_ms:g}`), which uses one of the cores.",
        "records: the items the emulator served on the lists of deals (live and archived), "
        "persons, organizations, activities and notes, as counted by the floor; the tap's "
        "`record_count` metrics are checked against them.",
        "tap: `tap-pipedrive --config cfg.json --catalog catalog.json > /dev/null`, the catalog "
        "being `--discover`'s with only those five streams selected. Wall time from start to "
        "exit (interpreter start-up and imports included); CPU and peak RSS from that "
        "process's own rusage (`os.wait4` in a small launcher process: Linux counts the "
        "forking process's RSS in a child's `ru_maxrss`, so a reading below ~20 MB would be "
        "the launcher's).",
        "floor: a `requests` loop over the same endpoints with the same query parameters as the "
        "tap's requests (limit=500, v2 `next_cursor`, v1 `next_start`), writing each record as "
        "`json.dumps` of a Singer RECORD message to /dev/null, in its own process too.",
        "requests and tokens: the emulator's request log during the tap's run, each request "
        "priced at its operation's `x-token-cost` (`tests.emulator.spec.token_cost`). Minimum: "
        f"ceil(items / {PAGE_SIZE}) calls per list (live and archived deals apart) plus one "
        "call per `*Fields` endpoint the tap reads, at the same prices.",
    ]
    parts = [
        "# Benchmark results",
        "",
        "Full sync of deals, persons, organizations, activities and notes against the local "
        "emulator (`tests/emulator`), compared with a minimal `requests` loop (the floor). "
        "Written by `benchmarks/run.py`.",
        "",
        f"- Command: `{command}`",
        f"- Machine: {machine()}",
        f"- Date: {today}",
        "",
        "## Results (medians)",
        "",
        results_table(results),
        "",
        "Targets: tap throughput >= 50% of the floor's; peak RSS < 200 MB; 10x the records "
        "costs < 20% more memory.",
        "",
        "### Where the time goes (medians)",
        "",
        detail_table(results),
        "",
        "## Notes",
        "",
        *(f"- {note}" for note in notes),
        "",
        "### Method",
        "",
        *(f"- {line}" for line in method),
        "",
        KEEP_MARKER,
    ]
    return "\n".join(parts) + "\n" + kept


def write_results(path: Path, content_without_kept: t.Callable[[str], str]) -> None:
    """Rewrite RESULTS.md, keeping whatever follows KEEP_MARKER in the existing file."""
    kept = ""
    if path.exists():
        existing = path.read_text()
        if KEEP_MARKER in existing:
            kept = existing.split(KEEP_MARKER, 1)[1].lstrip("\n")
    path.write_text(content_without_kept(kept))


# --- profiling --------------------------------------------------------------------------------


def profile_scale(scale: int, args: argparse.Namespace) -> Path:
    """Run the tap once under pyinstrument (else cProfile); write benchmarks/profile-<scale>.txt."""
    tap = tap_executable()
    has_pyinstrument = importlib.util.find_spec("pyinstrument") is not None
    output = BENCHMARKS_DIR / f"profile-{scale}.txt"
    with tempfile.TemporaryDirectory(prefix="tap-pipedrive-profile-") as tmp:
        work = Path(tmp)
        with EmulatorProcess(scale, args.latency_ms, work / "emulator.log") as emulator:
            config, catalog = prepare(tap, emulator, work, args.timeout)
            tap_args = [
                "-m", "tap_pipedrive.tap", "--config", str(config), "--catalog", str(catalog),
            ]  # fmt: skip
            stats_file = work / "tap.pstats"
            session = work / "tap.pyisession"
            if has_pyinstrument:
                profiler = "pyinstrument (statistical sampling, 1 ms)"
                command = [sys.executable, "-m", "pyinstrument", "-i", "0.001", "-r", "pyisession",
                           "-o", str(session), *tap_args]  # fmt: skip
            else:
                profiler = "cProfile (deterministic: inflates the cost of small, frequent calls)"
                command = [sys.executable, "-m", "cProfile", "-o", str(stats_file), *tap_args]
            with open(os.devnull, "wb") as devnull, (work / "tap.stderr").open("wb") as stderr:
                run = measure(command, stdout=devnull, stderr=stderr, timeout=args.timeout)
            if run.returncode != 0:
                tail = (work / "tap.stderr").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"the profiled tap exited {run.returncode}:\n{tail}")
            records, _ = tap_metrics((work / "tap.stderr").read_text(errors="replace"))
        tree = ""
        if has_pyinstrument:
            tree = pyinstrument_render(session, stats_file, args.timeout)
        header = [
            f"Profile of one full sync of {', '.join(STREAMS)} at scale {scale:,} deals "
            f"({sum(records.values()):,} records), stdout to /dev/null.",
            f"Profiler: {profiler}. Wall time under the profiler: {run.wall_s:.2f} s "
            f"(CPU {run.cpu_s:.2f} s).",
            f"Machine: {machine()}. Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d}.",
            "",
        ]
        sections = [
            "\n".join(header),
            pstats_top(stats_file, "tottime", "self time"),
            pstats_top(stats_file, "cumtime", "cumulative time"),
        ]
        if tree:
            sections.append(
                f"=== pyinstrument call tree (nodes >= 1% of the run; first {PROFILE_TREE_LINES} "
                "lines) ===\n" + tree
            )
        output.write_text("\n\n".join(sections) + "\n")
    return output


def pyinstrument_render(session: Path, stats_file: Path, timeout: float) -> str:
    """Convert a pyinstrument session to pstats (into `stats_file`); return its call tree.

    The tree shows library frames (the SDK's included: that is where the time goes), without
    nodes under 1% of the run.
    """
    subprocess.run(
        [sys.executable, "-m", "pyinstrument", f"--load={session}", "-r", "pstats",
         "-o", str(stats_file)],
        check=True, timeout=timeout, cwd=REPO_ROOT, capture_output=True,
    )  # fmt: skip
    loaded = importlib.import_module("pyinstrument.session").Session.load(str(session))
    renderer = importlib.import_module("pyinstrument.renderers").ConsoleRenderer(
        unicode=True, color=False, processor_options={"filter_threshold": 0.01}
    )
    group = importlib.import_module("pyinstrument.processors").group_library_frames_processor
    if group in renderer.processors:
        renderer.processors.remove(group)
    lines = renderer.render(loaded).strip("\n").splitlines()
    return "\n".join(lines[:PROFILE_TREE_LINES])


def short_path(filename: str) -> str:
    """Shorten a source path to its package-relative form (`singer_sdk/helpers/_typing.py`)."""
    for marker in ("site-packages/", f"{REPO_ROOT}/", f"{sysconfig.get_paths()['stdlib']}/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def pstats_top(stats_file: Path, key: str, title: str) -> str:
    """Return the top PROFILE_TOP functions of a pstats file by `key` (`tottime`, `cumtime`).

    With pyinstrument's samples the call counts are unknown (shown as `-`).
    """
    stats = pstats.Stats(str(stats_file))
    rows = []
    for (filename, line, name), (_, calls, self_s, cumulative_s, _) in stats.stats.items():
        where = name if filename == "~" else f"{name}  {short_path(filename)}:{line}"
        rows.append((self_s, cumulative_s, calls, where))
    total = sum(row[0] for row in rows) or 1.0
    index = 0 if key == "tottime" else 1
    rows.sort(key=lambda row: row[index], reverse=True)
    lines = [
        f"=== top {PROFILE_TOP} by {title} (of {total:.2f} s profiled) ===",
        f"{'self s':>8} {'self %':>7} {'cum s':>8} {'cum %':>7} {'calls':>9}  function",
    ]
    for self_s, cumulative_s, calls, where in rows[:PROFILE_TOP]:
        count = f"{calls:,}" if calls > 0 else "-"
        lines.append(
            f"{self_s:8.3f} {self_s / total:7.1%} {cumulative_s:8.3f} "
            f"{cumulative_s / total:7.1%} {count:>9}  {where}"
        )
    return "\n".join(lines)


# --- command line -----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description="Benchmark tap-pipedrive's full sync against the local emulator.",
    )
    parser.add_argument(
        "--scales", type=int, nargs="+", default=[20_000, 200_000], help="numbers of deals"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per scale (medians reported)")
    parser.add_argument(
        "--warmup", type=int, default=1, help="untimed tap runs per scale before the timed ones"
    )
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="emulator latency per request"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead of benchmarking, profile one tap run per scale into "
        "benchmarks/profile-<scale>.txt",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=BENCHMARKS_DIR / "RESULTS.md",
        help="markdown file to write (default: benchmarks/RESULTS.md)",
    )
    parser.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds before a run is killed"
    )
    parser.add_argument("--floor-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--launch", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be at least 1, --warmup at least 0")
    if any(scale < 1 for scale in args.scales):
        parser.error("--scales must be positive")
    return args


def stop_on_signal(signum: int, frame: object) -> None:
    """Turn a termination signal into KeyboardInterrupt, so that clean-up code runs."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    """Benchmark (or profile) every scale; print the table and write RESULTS.md."""
    args = parse_args(argv)
    if args.launch:
        return launch(Path(args.launch[0]), args.launch[1:])
    if args.floor_worker is not None:
        return floor_worker(args.floor_worker)
    # SIGTERM (and SIGINT, which a shell's background jobs ignore) unwind through the `finally`
    # blocks, which stop the emulator and kill a running tap or floor.
    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGINT, stop_on_signal)
    if args.profile:
        for scale in args.scales:
            print(f"profiling scale {scale:,}...", file=sys.stderr, flush=True)
            print(f"wrote {profile_scale(scale, args).relative_to(REPO_ROOT)}")
        return 0
    price = token_pricer()
    results = []
    for scale in args.scales:
        print(f"benchmarking scale {scale:,}...", file=sys.stderr, flush=True)
        results.append(benchmark_scale(scale, args, price))
    command = shlex.join(
        ["python", "benchmarks/run.py", *(argv if argv is not None else sys.argv[1:])]
    )
    print(results_table(results))
    print()
    print(detail_table(results))
    print()
    for note in target_notes(results):
        print(f"- {note}")
    for result in results:
        for warning in result.warnings:
            print(f"- WARNING (scale {result.scale:,}): {warning}")
    write_results(args.results, lambda kept: render_results(results, args, command, kept))
    print(f"\nwrote {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
