"""Progress of a long sync: per stream, at a steady interval, and a summary at the end.

Lines carry their numbers as structured fields too (`extra`), which the SDK's JSON log format
and Meltano's log parsing pick up.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time

#: Seconds between two progress lines of one stream.
INTERVAL_SECONDS = 30.0


@dataclasses.dataclass
class Progress:
    """What one stream has done so far in this run."""

    stream: str
    logger: logging.Logger
    records: int = 0
    requests: int = 0
    tokens: int = 0
    started: float = dataclasses.field(default_factory=time.monotonic)
    last_logged: float = dataclasses.field(default_factory=time.monotonic)

    def request(self, tokens: int) -> None:
        """Count one answered request; log progress when the interval has passed."""
        self.requests += 1
        self.tokens += tokens
        now = time.monotonic()
        if now - self.last_logged >= INTERVAL_SECONDS:
            self.last_logged = now
            self.log("progress")

    def log(self, event: str) -> None:
        """One line: records, requests, tokens and elapsed time."""
        elapsed = time.monotonic() - self.started
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
                msg = (
                    f"Stopped before spending more than max_tokens_per_run ({self.limit:,}): "
                    f"{self.spent:,} tokens spent, next call of stream '{stream}' costs "
                    f"{tokens}; the state is saved and the next run resumes from it."
                )
                raise TokenLimitReached(msg)
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
