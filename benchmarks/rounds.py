"""One case (a scenario at one scale): its emulator(s), warm-up, timed rounds, per-run results."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import importlib
import json
import math
import os
import statistics
import sys
import tempfile
import typing as t
from pathlib import Path

from common import (
    API_TOKEN,
    REPO_ROOT,
    RUN_SCRIPT,
    EmulatorProcess,
    LoggedRequest,
    Measured,
    discover_catalog,
    measure,
    tap_executable,
    tap_metrics,
    together,
)
from floor import floor_plan, stream_of


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
            [sys.executable, str(RUN_SCRIPT), "--floor-worker", str(plan_file)],
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
