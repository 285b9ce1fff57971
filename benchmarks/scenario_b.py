"""Scenario b: the core lists and the deal children, latency-bound; its speed-up over 1."""

from __future__ import annotations

import argparse

from common import CHILD_STREAMS, STREAMS
from rounds import Case, ScaleResult


def case(args: argparse.Namespace) -> Case:
    """Scenario b's case: `--b-scale` deals at `--b-latency-ms`, every `--b-concurrency`."""
    return Case("b", STREAMS + CHILD_STREAMS, args.b_scale, args.b_latency_ms,
                tuple(args.b_concurrency), args.b_runs or args.runs, args.b_side_by_side,
                args.b_burst_limit)  # fmt: skip


def speedup(result: ScaleResult, results: list[ScaleResult]) -> float | None:
    """Median wall time at concurrency 1 over this row's, for the same case."""
    sequential = [r for r in results if r.case == result.case and r.concurrency == 1]
    if not sequential or result.concurrency == 1:
        return None
    return sequential[0].median(lambda r: r.tap.wall_s) / result.median(lambda r: r.tap.wall_s)
