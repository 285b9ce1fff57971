"""What the emulator holds and what it was asked: the tests' expected values, never the tap's."""

from __future__ import annotations

import re
import typing as t

if t.TYPE_CHECKING:
    from tests.emulator import Emulator
    from tests.singer_run import SyncResult

FLOW = re.compile(r"^/v1/deals/(\d+)/flow$")


def changes(emulator: Emulator, deal_ids: t.Iterable[int]) -> list[dict[str, t.Any]]:
    """The emulator's dealChange items of these deals (every field), with RFC 3339 times."""
    return [
        {**item["data"], "deal_id": deal, "log_time": item["timestamp"].replace(" ", "T") + "Z"}
        for deal in deal_ids
        for item in emulator.flow(deal)
        if item["object"] == "dealChange"
    ]


def flow_ids(emulator: Emulator, deal_ids: t.Iterable[int], since: str = "") -> set[int]:
    """The ids of the changes of these deals made at or after `since`."""
    return {c["id"] for c in changes(emulator, deal_ids) if c["log_time"] >= since}


def flow_calls(asked: Emulator | SyncResult, *, ok: bool = False) -> list[int]:
    """The deals whose flow was asked, in arrival order (only those answered 200 if `ok`).

    `asked`: an emulator (its whole log), or one run's own requests (`sync(..., log=emulator)`).
    """
    return [
        int(match.group(1))
        for r in asked.requests
        if (match := FLOW.match(r.path)) and (r.status == 200 or not ok)
    ]
