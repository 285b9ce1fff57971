"""The run's one HTTP session: keep-alive connections, bounded concurrency, one shared pause."""

from __future__ import annotations

import threading
import time
import typing as t

import requests
from requests.adapters import HTTPAdapter

from pipedrive_api.ratelimit import budget_exhausted, retry_wait


class PacedSession(requests.Session):
    """The run's one HTTP session: at most `max_concurrency` requests in flight, one pause.

    `pause` holds every thread's next request, not just the caller's: it is the burst
    throttle's sleep (which counts the requests on their way with `others_in_flight`), and a
    429 pauses every worker for the wait its headers name.
    """

    def __init__(
        self,
        max_concurrency: int,
        clock: t.Callable[[], float] = time.monotonic,
        sleep: t.Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        self._clock = clock
        self._sleep = sleep
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._lock = threading.Lock()
        self._resume_at = 0.0
        self._in_flight = 0
        # urllib3 keeps 10 connections per host by default; one per concurrent request.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(10, max_concurrency))
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def pause(self, seconds: float) -> None:
        """Hold every thread's next request for `seconds` from now; wait them out here too."""
        self._hold(seconds)
        self._wait()

    def send(self, request: requests.PreparedRequest, **kwargs: t.Any) -> requests.Response:
        """Send once a slot is free and no pause holds; pause everyone if the answer says so."""
        with self._slots:
            self._wait()
            with self._lock:
                self._in_flight += 1
            try:
                response = super().send(request, **kwargs)
            finally:
                with self._lock:
                    self._in_flight -= 1
            if response.status_code == 429 and not budget_exhausted(response):
                self._hold(retry_wait(response) or 1.0)
            return response

    def others_in_flight(self) -> int:
        """Requests on their way besides the caller's (a response hook's: it is still counted)."""
        with self._lock:
            return max(self._in_flight - 1, 0)

    def _hold(self, seconds: float) -> None:
        with self._lock:
            self._resume_at = max(self._resume_at, self._clock() + seconds)

    def _wait(self) -> None:
        while True:
            with self._lock:
                delay = self._resume_at - self._clock()
            if delay <= 0:
                return
            self._sleep(delay)
