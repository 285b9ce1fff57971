"""Progress of a long sync: per stream, at a steady interval, and a summary at the end.

Lines carry their numbers as structured fields too (`extra`), which the SDK's JSON log format
and Meltano's log parsing pick up.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import typing as t

#: Seconds between two progress lines of one stream.
INTERVAL_SECONDS = 30.0


@dataclasses.dataclass
class Progress:
    """What one stream has done so far in this run.

    Its duration runs from the start of its own read to its latest answer or record: streams
    are read one after another, so each shows its own time, not the run's. A per-deal stream
    (`dealflow`, `deal_products`) is read between the pages of `deals`, so their spans overlap.
    Field definitions read before their stream's turn (for the entities' schemas) are counted
    in its requests, not in its duration.
    """

    stream: str
    logger: logging.Logger
    records: int = 0
    requests: int = 0
    tokens: int = 0
    #: Seconds from any fixed point; `time.monotonic` unless given (tests drive a fake one).
    clock: t.Callable[[], float] | None = None
    started: float | None = None
    latest: float | None = None
    last_logged: float = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.last_logged = self.now()

    def now(self) -> float:
        """The clock's time."""
        return self.clock() if self.clock else time.monotonic()

    def begin(self) -> None:
        """The stream's read starts (for a per-deal stream, its first deal's)."""
        if self.started is None:
            self.started = self.latest = self.now()

    def request(self, tokens: int) -> None:
        """Count one answered request; log progress when the interval has passed."""
        self.requests += 1
        self.tokens += tokens
        now = self.latest = self.now()
        if now - self.last_logged >= INTERVAL_SECONDS:
            self.last_logged = now
            self.log("progress")

    def record(self) -> None:
        """Count one record emitted."""
        self.records += 1
        self.latest = self.now()

    @property
    def duration(self) -> float:
        """Seconds from the start of the read to the latest answer or record (0 before)."""
        if self.started is None or self.latest is None:
            return 0.0
        return max(self.latest - self.started, 0.0)

    def log(self, event: str) -> None:
        """One line: records, requests, tokens and the stream's duration so far."""
        elapsed = self.duration
        self.logger.info(
            "Stream '%s' %s: %d records, %d requests, %d tokens, %.1fs",
            self.stream,
            event,
            self.records,
            self.requests,
            self.tokens,
            elapsed,
            extra={
                "stream": self.stream,
                "phase": event,
                "records": self.records,
                "requests": self.requests,
                "tokens": self.tokens,
                "elapsed_seconds": round(elapsed, 1),
            },
        )


class TokenLimitReached(Exception):
    """The next request would spend more than `max_tokens_per_run`: the run stops cleanly."""

    def __init__(self, limit: int | None, spent: int, stream: str, tokens: int) -> None:
        self.limit, self.spent, self.stream, self.tokens = limit, spent, stream, tokens
        super().__init__(
            f"Stopped before spending more than max_tokens_per_run ({limit or 0:,}): "
            f"{spent:,} tokens spent, next call of stream '{stream}' costs {tokens}; the "
            "state is saved and the next run resumes from it."
        )


class TokenLedger:
    """The tokens this run has committed to, against `max_tokens_per_run` (None: no limit).

    A request reserves its cost before it is sent, so concurrent requests together never pass
    the limit; a request Pipedrive does not charge for (it failed) gives its tokens back.
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.spent = 0
        self.stopped = False
        self._lock = threading.Lock()

    def reserve(self, tokens: int, stream: str) -> None:
        """Commit `tokens`, or raise TokenLimitReached if that would pass the limit."""
        with self._lock:
            # Once stopped, nothing more is spent, even where a cheaper call would still fit.
            if self.stopped or (self.limit is not None and self.spent + tokens > self.limit):
                raise TokenLimitReached(self.limit, self.spent, stream, tokens)
            self.spent += tokens

    def stop(self, reached: TokenLimitReached, logger: logging.Logger) -> None:
        """Say once in the run where the limit stopped it (later streams stop silently)."""
        with self._lock:
            first, self.stopped = not self.stopped, True
        if first:
            logger.warning("%s", reached)

    def refund(self, tokens: int) -> None:
        """Give back what an uncharged request reserved."""
        with self._lock:
            self.spent -= tokens
