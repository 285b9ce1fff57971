"""The markdown tables, the notes, and RESULTS.md."""

from __future__ import annotations

import argparse
import datetime
import typing as t
from pathlib import Path

from common import SEED, machine
from rounds import ScaleResult, concurrency_label
from scenario_a import memory_growth
from scenario_b import speedup

KEEP_MARKER = "<!-- Text below this line is kept when benchmarks/run.py rewrites this file. -->"


def case_label(result: ScaleResult) -> str:
    """The first columns of a row: scenario, deals, latency, concurrency."""
    case = result.case
    return (
        f"| {case.scenario} | {case.scale:,} | {case.latency_ms:g} "
        f"| {concurrency_label(result.concurrency)}"
    )


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
    growth = memory_growth(results)
    if growth is not None:
        notes.append(growth)
    return notes


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
