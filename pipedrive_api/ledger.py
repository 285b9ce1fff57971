"""The tokens a run spends, against `max_tokens_per_run`."""

from __future__ import annotations

import threading
import typing as t

from pipedrive_api.errors import TokenLimitReached

if t.TYPE_CHECKING:
    import logging


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
