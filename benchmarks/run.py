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
`benchmarks/RESULTS.md` (its hand-written text after the marker line is kept). Scenario b
(`--scenarios b`: the deal children too, at `--b-latency-ms` per call) is latency-bound;
`--b-side-by-side` runs each of its rounds at once, every run against its own emulator process.

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
import concurrent.futures
import contextlib
import dataclasses
import datetime
import functools
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

K = t.TypeVar("K")
R = t.TypeVar("R")
REPO_ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS_DIR = REPO_ROOT / "benchmarks"
#: The streams the benchmark syncs: scenario (a) the core lists, (b) those and deal children.
STREAMS = ("deals", "persons", "organizations", "activities", "notes")
CHILD_STREAMS = ("deal_products", "dealflow")
#: List paths of the child streams (`/api/v2/deals/products`, `/v1/deals/{id}/flow`).
CHILD_PATHS = (
    (re.compile(r"^/api/v2/deals/products$"), "deal_products"),
    (re.compile(r"^/v1/deals/\d+/flow$"), "dealflow"),
)
#: Query parameters that do not make a read different from the read they continue: page
#: positions, and the time bounds of concurrent windows (the floor reads the whole range once).
PAGE_PARAMS = ("cursor", "start", "updated_since", "updated_until")
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
        RUNNING.add(process.pid)
        try:
            process.wait()
        finally:
            killer.cancel()
            RUNNING.discard(process.pid)
            if process.returncode is None:
                kill_group(process.pid)
                process.wait()
        if not report.exists():
            msg = f"no measurement for {shlex.join(command)} (exit {process.returncode})"
            raise RuntimeError(msg)
        return Measured(**json.loads(report.read_text()))


#: Process groups of the measured commands running now (killed if the benchmark is stopped).
RUNNING: set[int] = set()


def together(jobs: dict[K, t.Callable[[], R]], side_by_side: bool) -> dict[K, R]:
    """Run the jobs one after the other, or side by side in threads; return their results.

    Side by side, the first failure (or a stop signal) kills every measured command still
    running, so that no job outlives the benchmark.
    """
    if not side_by_side:
        return {key: job() for key, job in jobs.items()}
    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        futures = {key: pool.submit(job) for key, job in jobs.items()}
        try:
            return {key: future.result() for key, future in futures.items()}
        except BaseException:
            for pid in list(RUNNING):
                kill_group(pid)
            raise


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

    def __init__(
        self, scale: int, latency_ms: float, log_path: Path, burst_limit: int | None = None
    ) -> None:
        self.scale = scale
        self.latency_ms = latency_ms
        self.burst_limit = burst_limit
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
        if self.burst_limit is not None:
            command += ["--burst-limit", str(self.burst_limit)]
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


def discover_catalog(
    tap: str, config: Path, timeout: float, streams: tuple[str, ...]
) -> dict[str, t.Any]:
    """Run `tap-pipedrive --discover` and select exactly `streams` (top-level metadata)."""
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
    missing = set(streams) - names
    if missing:
        raise RuntimeError(f"the catalog lacks the stream(s) {sorted(missing)}")
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in streams
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
    for pattern, child in CHILD_PATHS:
        if pattern.match(path):
            return child
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

    Each read (a path and its query without PAGE_PARAMS: the deal ids of a batch of deal
    products count) keeps the query of the tap's first request to it, without the page
    position, so the floor asks for exactly what the tap asked for, in one sequential read.
    """
    plan: dict[tuple[str, str], dict[str, t.Any]] = {}
    for request in tap_requests:
        if not (stream_of(request.path) or is_fields_path(request.path)):
            continue
        key = (request.path, json.dumps(
            sorted((k, v) for k, v in request.query.items() if k not in PAGE_PARAMS)
        ))  # fmt: skip
        if key in plan:
            continue
        params = {k: v for k, v in request.query.items() if k not in ("cursor", "start")}
        plan[key] = {
            "path": request.path,
            "params": params,
            "paging": "cursor" if request.path.startswith("/api/v2/") else "offset",
            "stream": stream_of(request.path),
            "limit": int(params.get("limit") or 100),
        }
    return list(plan.values())


def floor_sync(
    base_url: str, endpoints: list[dict[str, t.Any]], out: t.TextIO
) -> list[dict[str, t.Any]]:
    """Page every endpoint, write its records as Singer RECORD lines; return items per read."""
    # Imported here: only the floor needs it, and the launcher runs without site-packages.
    import requests  # noqa: PLC0415

    session = requests.Session()
    session.headers["x-api-token"] = API_TOKEN
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    dumps, write = json.dumps, out.write
    counts: list[dict[str, t.Any]] = []
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
                # Deal flow puts the pagination keys in `additional_data`, without next_start.
                pagination = additional.get("pagination") or additional
                if not pagination.get("more_items_in_collection"):
                    break
                params["start"] = pagination.get(
                    "next_start", int(pagination.get("start") or 0) + int(pagination["limit"])
                )
        else:
            raise RuntimeError(f"{endpoint['path']}: more than {MAX_PAGES} pages")
        counts.append({"path": endpoint["path"], "items": items, "limit": endpoint["limit"]})
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
    #: The tap's requests answered 429 (each retried, and counted in `requests`).
    throttled: int


@dataclasses.dataclass(frozen=True)
class Case:
    """What one row of results measures: streams, scale, emulator latency, tap concurrency."""

    scenario: str
    streams: tuple[str, ...]
    scale: int
    latency_ms: float
    #: `max_concurrency` settings to run the tap with (None: the tap's default).
    concurrencies: tuple[int | None, ...]
    #: Timed rounds (medians are reported).
    runs: int
    #: Whether a round's runs go at the same time, each against its own emulator process.
    side_by_side: bool = False
    #: The emulator's burst limit (requests per token per 2 s); None: its default, 1,000.
    burst_limit: int | None = None


def concurrency_label(value: int | None) -> str:
    """How a `max_concurrency` value reads in the tables."""
    return "default" if value is None else str(value)


@dataclasses.dataclass
class ScaleResult:
    """Every run of one case at one tap concurrency, and their medians."""

    case: Case
    concurrency: int | None
    runs: list[RunResult]
    warnings: list[str]

    @property
    def scale(self) -> int:
        """The case's number of deals."""
        return self.case.scale

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


def minimum_cost(
    counts: list[dict[str, t.Any]], price: t.Callable[[str, str], int]
) -> tuple[int, int]:
    """Return the fewest (requests, tokens) that read these items: full pages only."""
    calls = tokens = 0
    for read in counts:
        pages = max(1, math.ceil(read["items"] / read["limit"]))
        calls += pages
        tokens += pages * price("GET", read["path"])
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
) -> tuple[Measured, list[dict[str, t.Any]]]:
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
    counts: list[dict[str, t.Any]] = json.loads(report.read_text())
    return measured, counts


def combine(
    tap_run: TapRun,
    floor: tuple[Measured, list[dict[str, t.Any]]],
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
        records=sum(read["items"] for read in counts if stream_of(read["path"])),
        records_by_stream=per_stream(counts),
        tap_records=tap_run.records,
        tap_metric_requests=tap_run.metric_requests,
        requests=len(logged),
        tokens=sum(charged(request, price) for request in logged),
        min_requests=min_requests,
        min_tokens=min_tokens,
        emulator_cpu_s=tap_run.emulator_cpu_s,
        other_paths=sorted({r.path for r in logged} - planned),
        throttled=sum(1 for request in logged if request.status == 429),
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


#: The lane of a case's floor runs, beside one lane per tap concurrency.
FLOOR = "floor"
Lane = int | None | str


def lane_label(lane: Lane) -> str:
    """How a lane reads in file names and progress lines."""
    return lane if isinstance(lane, str) else f"tap-{concurrency_label(lane)}"


def benchmark_case(
    case: Case, args: argparse.Namespace, price: t.Callable[[str, str], int]
) -> list[ScaleResult]:
    """Start the emulator(s) for the case, discover, warm up, then time rounds of runs.

    Each round is one tap run per concurrency and one floor run, which every tap run of that
    round is compared with. By default they run one after the other against one emulator
    process. With `--side-by-side` they run at the same time, each against its own emulator
    process (same seed, same data): for latency-bound cases, whose sequential runs would
    otherwise add up to hours while using a few per cent of a core. The untimed warm-up tap
    runs, at the last concurrency listed, fill the emulators' caches and give the floor its
    reads (from the request log of a warm-up, or else of the first tap run).
    """
    tap = tap_executable()
    results = {c: ScaleResult(case, c, [], []) for c in case.concurrencies}
    label = f"{case.scenario} {case.scale}"
    lanes: list[Lane] = [*case.concurrencies, FLOOR]
    side_by_side = case.side_by_side
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tap-pipedrive-bench-")))

        def emulator(name: str) -> EmulatorProcess:
            log = work / f"emulator-{name}.log"
            return stack.enter_context(
                EmulatorProcess(case.scale, case.latency_ms, log, case.burst_limit)
            )

        if side_by_side:
            emulators = {lane: emulator(lane_label(lane)) for lane in lanes}
        else:
            emulators = dict.fromkeys(lanes, emulator("shared"))
        dirs = {lane: work / lane_label(lane) for lane in lanes}
        files = {}
        for lane in lanes:
            dirs[lane].mkdir()
            files[lane] = prepare(tap, emulators[lane], dirs[lane], args.timeout, case)

        def tap_job(lane: Lane, concurrency: int | None) -> t.Callable[[], TapRun]:
            files_of = files[lane][concurrency]
            return functools.partial(
                run_tap, tap, emulators[lane], dirs[lane], files_of, args.timeout
            )

        def floor_job(plan: list[dict[str, t.Any]]) -> t.Callable[[], t.Any]:
            return functools.partial(run_floor, emulators[FLOOR], dirs[FLOOR], plan, args.timeout)

        warm = case.concurrencies[-1]
        plan = None
        for index in range(args.warmup):
            # One emulator needs one warm-up run; side by side, each emulator needs its own.
            warming = lanes if side_by_side else [FLOOR]
            warmups = together({lane: tap_job(lane, warm) for lane in warming}, side_by_side)
            plan = plan or floor_plan(warmups[FLOOR].logged)
            print(
                f"  {label} warm-up {index + 1}/{args.warmup} at max_concurrency "
                f"{concurrency_label(warm)}: tap {warmups[FLOOR].measured.wall_s:.1f}s",
                file=sys.stderr,
                flush=True,
            )
        for index in range(case.runs):
            jobs: dict[Lane, t.Callable[[], t.Any]] = {c: tap_job(c, c) for c in case.concurrencies}
            if plan is not None:
                jobs[FLOOR] = floor_job(plan)
            done = together(jobs, side_by_side)
            if plan is None:
                plan = floor_plan(done[case.concurrencies[0]].logged)
                done[FLOOR] = floor_job(plan)()
            floor = done[FLOOR]
            for concurrency in case.concurrencies:
                run = combine(done[concurrency], floor, plan, price)
                result = results[concurrency]
                result.runs.append(run)
                for problem in check_run(run):
                    if problem not in result.warnings:
                        result.warnings.append(problem)
                print(
                    f"  {label} run {index + 1}/{case.runs} max_concurrency "
                    f"{concurrency_label(concurrency)}: tap {run.tap.wall_s:.1f}s "
                    f"({run.records / run.tap.wall_s:,.0f} rec/s, "
                    f"{run.tap.peak_rss_mb:.0f} MB, {run.requests} requests), "
                    f"floor {run.floor.wall_s:.1f}s ({run.records / run.floor.wall_s:,.0f} "
                    "rec/s)",
                    file=sys.stderr,
                    flush=True,
                )
    return list(results.values())


def per_stream(counts: list[dict[str, t.Any]]) -> dict[str, int]:
    """Sum the items of each stream's reads (live and archived deals together)."""
    totals: dict[str, int] = {}
    for read in counts:
        stream = stream_of(read["path"])
        if stream is not None:
            totals[stream] = totals.get(stream, 0) + read["items"]
    return totals


def prepare(
    tap: str, emulator: EmulatorProcess, work: Path, timeout: float, case: Case
) -> dict[int | None, tuple[Path, Path]]:
    """Write a config per concurrency and catalog.json (discovered, the case's streams)."""
    configs = {}
    for concurrency in case.concurrencies:
        config = work / f"cfg-{concurrency_label(concurrency)}.json"
        settings: dict[str, t.Any] = {"api_token": API_TOKEN, "api_url": emulator.url}
        if concurrency is not None:
            settings["max_concurrency"] = concurrency
        config.write_text(json.dumps(settings))
        configs[concurrency] = config
    catalog = work / "catalog.json"
    first = configs[case.concurrencies[0]]
    catalog.write_text(json.dumps(discover_catalog(tap, first, timeout, case.streams)))
    return {concurrency: (config, catalog) for concurrency, config in configs.items()}


# --- reporting --------------------------------------------------------------------------------


def case_label(result: ScaleResult) -> str:
    """The first columns of a row: scenario, deals, latency, concurrency."""
    case = result.case
    return (
        f"| {case.scenario} | {case.scale:,} | {case.latency_ms:g} "
        f"| {concurrency_label(result.concurrency)}"
    )


def speedup(result: ScaleResult, results: list[ScaleResult]) -> float | None:
    """Median wall time at concurrency 1 over this row's, for the same case."""
    sequential = [r for r in results if r.case == result.case and r.concurrency == 1]
    if not sequential or result.concurrency == 1:
        return None
    return sequential[0].median(lambda r: r.tap.wall_s) / result.median(lambda r: r.tap.wall_s)


def results_table(results: list[ScaleResult]) -> str:
    """Return the markdown table of medians, one row per case and concurrency."""
    lines = [
        "| scenario | deals | latency ms | max_concurrency | records | tap wall s | tap rec/s "
        "| floor rec/s | ratio | requests (tap / min) | 429 answers | tokens (tap / min) "
        "| tap peak RSS MB | speed-up vs 1 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        tap_rate = result.median(lambda r: r.records / r.tap.wall_s)
        floor_rate = result.median(lambda r: r.records / r.floor.wall_s)
        faster = speedup(result, results)
        lines.append(
            f"{case_label(result)} | {result.records:,} "
            f"| {result.median(lambda r: r.tap.wall_s):.2f} | {tap_rate:,.0f} "
            f"| {floor_rate:,.0f} | {tap_rate / floor_rate:.2f}x "
            f"| {result.median(lambda r: r.requests):,.0f} / "
            f"{result.median(lambda r: r.min_requests):,.0f} "
            f"| {result.median(lambda r: r.throttled):,.0f} "
            f"| {result.median(lambda r: r.tokens):,.0f} / "
            f"{result.median(lambda r: r.min_tokens):,.0f} "
            f"| {result.median(lambda r: r.tap.peak_rss_mb):.0f} "
            f"| {'' if faster is None else f'{faster:.1f}x'} |"
        )
    return "\n".join(lines)


def detail_table(results: list[ScaleResult]) -> str:
    """Return the markdown table of where the time goes (medians) and each run's wall times."""
    lines = [
        "| scenario | deals | latency ms | max_concurrency | tap CPU s | tap CPU µs/record "
        "| emulator CPU s during tap run | floor wall s | floor CPU s | floor CPU µs/record "
        "| tap wall s, each run | floor wall s, each run |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for result in results:
        records = max(result.records, 1)
        tap_cpu = result.median(lambda r: r.tap.cpu_s)
        floor_cpu = result.median(lambda r: r.floor.cpu_s)
        lines.append(
            f"{case_label(result)} | {tap_cpu:.2f} | {tap_cpu / records * 1e6:.0f} "
            f"| {result.median(lambda r: r.emulator_cpu_s):.2f} "
            f"| {result.median(lambda r: r.floor.wall_s):.2f} "
            f"| {floor_cpu:.2f} | {floor_cpu / records * 1e6:.0f} "
            f"| {', '.join(f'{r.tap.wall_s:.2f}' for r in result.runs)} "
            f"| {', '.join(f'{r.floor.wall_s:.2f}' for r in result.runs)} |"
        )
    return "\n".join(lines)


def target_notes(results: list[ScaleResult]) -> list[str]:
    """Return one line per target: throughput ratio, cost, peak RSS, speed-up, memory growth."""
    notes = []
    for result in results:
        tap_rate = result.median(lambda r: r.records / r.tap.wall_s)
        floor_rate = result.median(lambda r: r.records / r.floor.wall_s)
        ratio = tap_rate / floor_rate
        rss = result.median(lambda r: r.tap.peak_rss_mb)
        extra = result.median(lambda r: r.requests - r.min_requests)
        line = (
            f"{case_label(result)[2:].replace(' | ', ', ')}: throughput {ratio:.2f}x the floor; "
            f"{extra:+.0f} requests over the minimum; peak RSS {rss:.0f} MB "
            f"({'meets' if rss < 200 else 'misses'} the 200 MB target)"
        )
        faster = speedup(result, results)
        if faster is not None:
            line += f"; {faster:.1f}x faster than max_concurrency 1"
        notes.append(line + ".")
    core = [r for r in results if r.case.scenario == "a"]
    if len({r.scale for r in core}) >= 2:
        small, large = core[0], core[-1]
        growth = large.median(lambda r: r.tap.peak_rss_mb) / small.median(
            lambda r: r.tap.peak_rss_mb
        )
        factor = large.records / small.records
        notes.append(
            f"Memory from {small.scale:,} to {large.scale:,} deals ({factor:.1f}x the records): "
            f"{growth - 1:+.0%} peak RSS."
        )
    return notes


def machine() -> str:
    """Describe the machine: cores, Python, platform, load average at the end of the run."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores (os.cpu_count()), Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.platform()}; load average "
        f"{load} (1, 5, 15 min) when the run ended"
    )


def render_results(
    results: list[ScaleResult], args: argparse.Namespace, command: str, kept: str
) -> str:
    """Return the whole RESULTS.md: command, machine, date, tables, notes, kept text."""
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    warnings = [
        f"{case_label(r)[2:].replace(' | ', ', ')}: {w}." for r in results for w in r.warnings
    ]
    notes = [*target_notes(results), *warnings]
    method = [
        *(
            f"Scenario {case.scenario} at {case.scale:,} deals: medians of {case.runs} run(s), "
            f"after {args.warmup} untimed warm-up tap run(s) at the last max_concurrency listed; "
            "each run is one tap run per max_concurrency and one floor run, "
            + (
                "all at the same time (`--b-side-by-side`), each against its own emulator "
                f"process (seed {SEED}, the same data)"
                if case.side_by_side
                else f"one after the other, on the same emulator process (seed {SEED})"
            )
            + f"; emulator burst limit {case.burst_limit or 1000:,} requests per 2 s."
            for case in dict.fromkeys(r.case for r in results)
        ),
        "The emulator serves each record from a cache of its encoded JSON.",
        "Scenario a: the core lists (deals, persons, organizations, activities, notes). "
        "Scenario b: those plus deal_products and dealflow (one call per deal).",
        "records: the items the emulator served on the selected streams' lists, as counted by "
        "the floor; the tap's `record_count` metrics are checked against them.",
        "tap: `tap-pipedrive --config cfg.json --catalog catalog.json > /dev/null`, the catalog "
        "being `--discover`'s with only the scenario's streams selected, the config setting "
        "`max_concurrency` (unset: the default). Wall time from start to exit (start-up "
        "included); CPU and peak RSS from that process's own rusage (`os.wait4` in a small "
        "launcher process).",
        "floor: a sequential `requests` loop over the same reads with the same query parameters "
        "as the tap's (limit=500, v2 `next_cursor`, v1 `next_start`; the whole time range where "
        "the tap split it into windows), writing each record as `json.dumps` of a Singer RECORD "
        "message to /dev/null, in its own process too.",
        "requests and tokens: the emulator's request log during the tap's run, each request "
        "priced at its operation's `x-token-cost` (`tests.emulator.spec.token_cost`). Minimum: "
        "ceil(items / limit) calls per read (each list, each batch of deal products, each "
        "deal's flow) plus one call per `*Fields` endpoint the tap reads, at the same prices.",
    ]
    parts = [
        "# Benchmark results",
        "",
        "Syncs against the local emulator (`tests/emulator`), compared with a minimal "
        "`requests` loop (the floor). Written by `benchmarks/run.py`.",
        "",
        f"- Command: `{command}`",
        f"- Machine: {machine()}",
        f"- Date: {today}",
        "",
        "## Results (medians)",
        "",
        results_table(results),
        "",
        "Targets: (a) tap >= 0.8x the floor's records/s, requests and tokens at the minimum, "
        "peak RSS < 200 MB and flat with scale; (b) >= 4x faster than max_concurrency 1.",
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
            case = Case("a", STREAMS, scale, args.latency_ms, (args.a_concurrency[0],), 1)
            config, catalog = prepare(tap, emulator, work, args.timeout, case)[
                case.concurrencies[0]
            ]
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
        "--latency-ms", type=float, default=0.0, help="emulator latency per request (scenario a)"
    )
    parser.add_argument(
        "--scenarios",
        nargs="+",
        choices=["a", "b"],
        default=["a", "b"],
        help="a: core lists at --scales; b: core lists, deal_products and dealflow at --b-scale",
    )
    parser.add_argument(
        "--a-concurrency",
        type=concurrency_value,
        nargs="+",
        default=[None],
        help="max_concurrency values for scenario a ('default': the tap's)",
    )
    parser.add_argument(
        "--b-concurrency",
        type=concurrency_value,
        nargs="+",
        default=[1, None],
        help="max_concurrency values for scenario b; speed-ups are against 1",
    )
    parser.add_argument("--b-scale", type=int, default=20_000, help="deals in scenario b")
    parser.add_argument(
        "--b-latency-ms", type=float, default=150.0, help="emulator latency in scenario b"
    )
    parser.add_argument("--b-runs", type=int, help="runs of scenario b (default: --runs)")
    parser.add_argument(
        "--b-burst-limit",
        type=int,
        help="the emulator's burst limit in scenario b, requests per 2 s (Pipedrive's API-token "
        "plans: 20, 40, 100, 120); default: the emulator's 1,000, which the tap never reaches",
    )
    parser.add_argument(
        "--b-side-by-side",
        action="store_true",
        help="run each round of scenario b (latency-bound) at once: the tap at every "
        "concurrency and the floor, each against its own emulator process",
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
    if args.b_runs is not None and args.b_runs < 1:
        parser.error("--b-runs must be at least 1")
    if args.b_side_by_side and args.warmup < 1:
        parser.error("--b-side-by-side needs --warmup >= 1: the floor's reads come from a warm-up")
    if any(scale < 1 for scale in args.scales):
        parser.error("--scales must be positive")
    return args


def concurrency_value(text: str) -> int | None:
    """Parse a `max_concurrency` value: a positive integer, or `default`."""
    if text == "default":
        return None
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("max_concurrency must be at least 1")
    return value


def cases(args: argparse.Namespace) -> list[Case]:
    """The cases the command line asks for, in order."""
    found = []
    if "a" in args.scenarios:
        concurrencies = tuple(args.a_concurrency)
        found += [
            Case("a", STREAMS, s, args.latency_ms, concurrencies, args.runs) for s in args.scales
        ]
    if "b" in args.scenarios:
        found.append(
            Case("b", STREAMS + CHILD_STREAMS, args.b_scale, args.b_latency_ms,
                 tuple(args.b_concurrency), args.b_runs or args.runs, args.b_side_by_side,
                 args.b_burst_limit)
        )  # fmt: skip
    return found


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
    for case in cases(args):
        print(
            f"benchmarking scenario {case.scenario} at {case.scale:,} deals...",
            file=sys.stderr,
            flush=True,
        )
        results += benchmark_case(case, args, price)
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
            print(f"- WARNING ({case_label(result)[2:]}): {warning}")
    write_results(args.results, lambda kept: render_results(results, args, command, kept))
    print(f"\nwrote {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
