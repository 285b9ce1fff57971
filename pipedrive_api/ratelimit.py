"""Pipedrive's rate limits: a burst window per token, and a daily token budget per company.

Every response carries the burst window (`x-ratelimit-remaining`, `x-ratelimit-reset` seconds);
the tap pauses when the window is used up instead of running into 429s. A 429 is retried after
the wait the headers name (`Retry-After`, else `x-ratelimit-reset`). A 429 with the daily budget
at zero (`x-daily-ratelimit-token-remaining: 0`, or, without that header, an error message naming
the daily budget) is not retried: the budget refills at midnight, so the run stops cleanly with
its state, and the next scheduled run resumes. Every other transient fault (5xx, timeouts,
dropped connections) waits exponentially longer, with jitter: Pipedrive sends the burst headers
on every answer, and a 1-second reset says nothing about when an outage ends.
"""

from __future__ import annotations

import logging
import random
import re
import time
import typing as t

if t.TYPE_CHECKING:
    import requests

logger = logging.getLogger("tap-pipedrive")

#: Pause when the burst window has this many requests left or fewer (a request costs one).
LOW_WATER = 0
#: Never wait longer than this for a header-named reset (a burst window is 2 seconds).
MAX_HEADER_WAIT = 60.0


def _number(response: requests.Response, header: str) -> float | None:
    value = response.headers.get(header)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def budget_exhausted(response: requests.Response) -> bool:
    """Whether a 429 means the company's daily token budget is spent (not a burst).

    The daily headers are undocumented and sometimes missing: without them, the error message
    tells (`Daily API token budget exceeded`; a burst's is `Request over limit`).
    """
    if response.status_code != 429:
        return False
    remaining = _number(response, "x-daily-ratelimit-token-remaining")
    if remaining is not None:
        return remaining <= 0
    return bool(DAILY_BUDGET_MESSAGE.search(_error_text(response)))


#: Words of a 429's error message that name the daily budget rather than the burst window.
DAILY_BUDGET_MESSAGE = re.compile(r"\b(daily|budget)\b", re.IGNORECASE)


def _error_text(response: requests.Response) -> str:
    """The `error` and `error_info` of a JSON error envelope ("" for any other body)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    return " ".join(str(body.get(key) or "") for key in ("error", "error_info"))


def retry_wait(response: requests.Response) -> float | None:
    """The wait a 429 names (`Retry-After`, else the burst window's reset), bounded."""
    if response.status_code != 429:
        return None
    for header in ("retry-after", "x-ratelimit-reset"):
        seconds = _number(response, header)
        if seconds is not None:
            return min(max(seconds, 0.0), MAX_HEADER_WAIT)
    return None


def retry_waits(
    base: float, cap: float, jitter: t.Callable[[], float] = random.random
) -> t.Generator[float, t.Any, None]:
    """Seconds to wait before each retry; `send` it each failure (a `backoff` wait generator).

    A 429 waits what its headers name; any other fault `base`, doubling per fault, capped at
    `cap`, less up to a quarter (`jitter()` in [0, 1)) so parallel taps do not retry in step.
    """
    error = yield  # type: ignore[misc]  # primed by `backoff`, then sent each exception
    wait = base
    while True:
        response = getattr(error, "response", None)
        named = retry_wait(response) if response is not None else None
        if named is not None:
            error = yield named
        else:
            error = yield min(wait, cap) * (1 - jitter() / 4)
            wait *= 2


class BurstThrottle:
    """Pauses after a response that leaves the burst window no room for the next request.

    The next request is this thread's, and those of the other threads already on their way
    (`in_flight`), which the window must also have room for.
    """

    def __init__(
        self,
        sleep: t.Callable[[float], None] = time.sleep,
        in_flight: t.Callable[[], int] = lambda: 0,
    ) -> None:
        self._sleep = sleep
        self._in_flight = in_flight

    def __call__(self, response: requests.Response, *args: t.Any, **kwargs: t.Any) -> None:
        """A `requests` response hook."""
        remaining = _number(response, "x-ratelimit-remaining")
        if remaining is None or response.status_code == 429:
            return
        if remaining > LOW_WATER + self._in_flight():
            return
        wait = min(_number(response, "x-ratelimit-reset") or 1.0, MAX_HEADER_WAIT)
        logger.info("Burst window used (%d left): pausing %.1fs", remaining, wait)
        self._sleep(wait)
