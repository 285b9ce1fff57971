"""Failures on purpose: plan gates and scheduled faults, for the tap's error-handling tests.

A fault schedule (`Emulator.inject`) picks requests by path prefix and turns their answers into
one of these kinds:

- "status": `status` (500 by default) with Pipedrive's JSON error envelope.
- "not_found": 404 with the envelope.
- "burst_429": 429 with the burst headers at zero (`x-ratelimit-remaining: 0`,
  `x-ratelimit-reset`); `headers` adds e.g. `Retry-After`, which Pipedrive does not promise.
- "budget_429": 429 with `x-daily-ratelimit-token-remaining: 0`; the daily budget is then
  spent for real, so every later request is refused too until `Emulator.reset_budget()`.
- "budget_429_body": 429 whose error message says the daily budget is spent (`BUDGET_MESSAGE`)
  but without the `x-daily-ratelimit-token-*` headers, which Pipedrive does not document and
  sometimes leaves out; the budget is spent for real, as with "budget_429".
- "null_body": 200 with the body `null` (seen on `/deals/{id}/flow`).
- "not_json": 200 with a body that is not JSON.
- "html_403": 403 with Cloudflare's HTML block page (`text/html`), as clients that keep
  sending after a 429 get.
- "drop": the connection closes with no answer at all.
- "truncate": the headers promise more body than is sent before the connection closes.
- "slow": the answer is the normal one, `delay` seconds late (for client timeouts).
- "hold": the answer is the normal one, held back until the test calls `Emulator.release()`
  (a client that cannot finish before the test lets it: no race with a clock; at most
  `HOLD_LIMIT_SECONDS`, so that a client that never gives up fails its test, not hangs it).
- "slow_after_commit": the request is served (a write is committed), then its answer leaves
  `delay` seconds late: a client that timed out does not know the write was done.
- "drop_after_commit": the request is served (a write is committed), then the connection
  closes with no answer.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from tests.emulator.handlers import error_body

FAULTS = frozenset({
    "status", "not_found", "burst_429", "budget_429", "budget_429_body", "null_body", "not_json",
    "html_403", "drop", "truncate", "slow", "hold", "slow_after_commit", "drop_after_commit",
})  # fmt: skip
#: Faults that serve the request first, then break its answer.
AFTER_COMMIT = frozenset({"slow_after_commit", "drop_after_commit"})

JSON = "application/json; charset=utf-8"

#: Error messages by status, as Pipedrive words them where known.
MESSAGES: Mapping[int, str] = {
    400: "Bad request",
    401: "unauthorized access",
    402: "Required suites missing",
    403: "You do not have permission to access this resource",
    404: "Not found",
    410: "Gone",
    429: "Request over limit",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable: Pipedrive is under maintenance",
    504: "Gateway timeout",
}

#: The error message of a 429 once the daily budget is spent, as reported from a live account.
BUDGET_MESSAGE = "Daily API token budget exceeded"

CLOUDFLARE_PAGE = """<!DOCTYPE html>
<html lang="en-US"><head><title>Attention Required! | Cloudflare</title></head>
<body><div id="cf-wrapper"><h1>Sorry, you have been blocked</h1>
<h2>You are unable to access pipedrive.com</h2>
<p>This website is using a security service to protect itself from online attacks.</p>
<p>Cloudflare Ray ID: <strong>8c1f2e3d4a5b6c7d</strong></p></div></body></html>
"""


def error_envelope(status: int, message: str | None = None) -> dict[str, Any]:
    """Return the JSON error envelope for a status (with `errorCode`, as live errors carry)."""
    return error_body(message or MESSAGES.get(status, "Error"), errorCode=status)


def json_bytes(body: Any) -> bytes:
    """Serialise a body the way every answer is serialised."""
    # msgspec, for pages that embed records encoded once (`Dataset.encoded`): same compact,
    # UTF-8 output as `json.dumps(..., ensure_ascii=False, separators=(",", ":"))`.
    return msgspec.json.encode(body)


@dataclass
class Fault:
    """One schedule: which requests (path prefix, after/times), what happens to them."""

    prefix: str
    kind: str
    times: int = 1
    after: int = 0
    status: int | None = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    seen: int = 0
    fired: int = 0

    @property
    def spent(self) -> bool:
        """Tell whether the schedule has applied all its `times` (never, for times=-1)."""
        return 0 <= self.times <= self.fired


class FaultPlan:
    """The schedules in force, thread-safe.

    Each schedule counts the requests matching its prefix on its own. A request gets the fault
    of the first (earliest injected) schedule past its `after` and not yet spent; only that one
    uses up one of its `times`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Schedule a fault; ValueError for an unknown kind or impossible numbers."""
        if fault.kind not in FAULTS:
            raise ValueError(f"unknown fault {fault.kind!r}; known: {sorted(FAULTS)}")
        if fault.times == 0 or fault.times < -1 or fault.after < 0:
            raise ValueError("times must be -1 or positive, after 0 or more")
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        """Drop every schedule."""
        with self._lock:
            self._faults.clear()

    def take(self, path: str) -> Fault | None:
        """Count a request against the schedules; return the fault it gets, if any."""
        with self._lock:
            chosen = None
            for fault in self._faults:
                if fault.spent or not path.startswith(fault.prefix):
                    continue
                fault.seen += 1
                if chosen is None and fault.seen > fault.after:
                    chosen = fault
            if chosen is not None:
                chosen.fired += 1
            return chosen


def gate_status(gates: Mapping[str, int], path: str) -> int | None:
    """Return the status of the longest gated prefix of `path`, if any."""
    matches = [prefix for prefix in gates if path.startswith(prefix)]
    return gates[max(matches, key=len)] if matches else None
