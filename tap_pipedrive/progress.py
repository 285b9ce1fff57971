"""Progress of a long sync: per stream, at a steady interval, and a summary at the end.

Lines carry their numbers as structured fields too (`extra`), which the SDK's JSON log format
and Meltano's log parsing pick up.
"""

from __future__ import annotations

import dataclasses
import logging
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
