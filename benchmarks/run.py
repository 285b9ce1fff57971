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
  with `os.wait4` by a small launcher process; see `common.measure`);
* HTTP requests and tokens, from the emulator's request log (`--verbose`) during the tap's run,
  each request priced at its operation's `x-token-cost` from the spec, against the minimum:
  `ceil(records / 500)` calls per list (the live and the archived deals lists count apart) plus
  one call per `*Fields` endpoint the tap reads.

`--profile` instead runs the tap once per scale under pyinstrument (if installed; else cProfile)
and writes the top entries by self and by cumulative time to `benchmarks/profile-<scale>.txt`.

This file is the entry point: the command line, and the launcher and floor processes, which are
this script run again. The rest, all stdlib at import time (the launcher runs with `python -S`):

* `common.py`: what every part shares: constants, measured processes, the emulator, the tap;
* `floor.py`: the floor;
* `rounds.py`: one case (a scenario at one scale): its emulators, warm-up and timed rounds;
* `report.py`: the tables, the notes and RESULTS.md;
* `scenario_a.py`: scenario a's cases, its memory note, and `--profile`;
* `scenario_b.py`: scenario b's case and its speed-up over `max_concurrency` 1.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
from pathlib import Path

import scenario_a
import scenario_b
from common import BENCHMARKS_DIR, REPO_ROOT, launch
from floor import floor_worker
from report import (
    case_label,
    detail_table,
    render_results,
    results_table,
    target_notes,
    write_results,
)
from rounds import Case, benchmark_case, token_pricer

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
        found += scenario_a.cases(args)
    if "b" in args.scenarios:
        found.append(scenario_b.case(args))
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
            print(f"wrote {scenario_a.profile_scale(scale, args).relative_to(REPO_ROOT)}")
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
