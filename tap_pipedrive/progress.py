"""Progress of a long sync: per stream, at a steady interval, and a summary at the end.

Lines carry their numbers as structured fields too (`extra`), which the SDK's JSON log format
and Meltano's log parsing pick up.
"""

from __future__ import annotations

import dataclasses
import logging
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
