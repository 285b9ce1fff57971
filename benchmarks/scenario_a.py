"""Scenario a: the core lists at each of `--scales`; and `--profile`, which profiles it."""

from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.util
import os
import pstats
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from common import (
    BENCHMARKS_DIR,
    REPO_ROOT,
    STREAMS,
    EmulatorProcess,
    machine,
    measure,
    tap_executable,
    tap_metrics,
)
from rounds import Case, ScaleResult, prepare

#: Lines kept of the profile tables and of pyinstrument's call tree.
PROFILE_TOP = 25
PROFILE_TREE_LINES = 120


def cases(args: argparse.Namespace) -> list[Case]:
    """Scenario a's cases: one per `--scales`, at `--latency-ms`, every `--a-concurrency`."""
    concurrencies = tuple(args.a_concurrency)
    return [Case("a", STREAMS, s, args.latency_ms, concurrencies, args.runs) for s in args.scales]


def memory_growth(results: list[ScaleResult]) -> str | None:
    """The note on scenario a's peak RSS from its smallest to its largest scale, if two."""
    core = [r for r in results if r.case.scenario == "a"]
    if len({r.scale for r in core}) >= 2:
        small, large = core[0], core[-1]
        growth = large.median(lambda r: r.tap.peak_rss_mb) / small.median(
            lambda r: r.tap.peak_rss_mb
        )
        factor = large.records / small.records
        return (
            f"Memory from {small.scale:,} to {large.scale:,} deals ({factor:.1f}x the records): "
            f"{growth - 1:+.0%} peak RSS."
        )
    return None


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
