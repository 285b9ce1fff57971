"""Concurrent reads that keep the sequential guarantees: order, bookmarks, rate limits, tokens.

A read's pages are produced by a thread of their own, a few pages ahead of the stream that
turns them into records (so the network overlaps the work); several reads (time windows of one
backfill, the per-deal calls of a batch) run at once, but their pages are handed over in the
order the reads were asked for, so the output is what a sequential run would write. Every
request goes through one `PacedSession`, which bounds the requests in flight and pauses every
thread when the rate limit says so.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
import typing as t

import requests
from requests.adapters import HTTPAdapter

from tap_pipedrive.ratelimit import budget_exhausted, retry_wait

T = t.TypeVar("T")

#: Seconds a producer blocked on a full buffer waits before checking whether it was abandoned.
_ABANDON_CHECK_SECONDS = 0.1


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


class _Ahead(t.Generic[T]):
    """Iterates a source in a thread of its own, at most `depth` items ahead of its consumer."""

    def __init__(self, source: t.Iterator[T], depth: int) -> None:
        self._buffer: queue.Queue[tuple[bool, t.Any]] = queue.Queue(maxsize=depth)
        self._abandoned = threading.Event()
        threading.Thread(target=self._produce, args=(source,), daemon=True).start()

    def _produce(self, source: t.Iterator[T]) -> None:
        try:
            for item in source:
                if not self._put((True, item)):
                    return
        except BaseException as error:  # handed to the consumer, where it is raised
            self._put((False, error))
            return
        self._put((False, None))

    def _put(self, entry: tuple[bool, t.Any]) -> bool:
        while not self._abandoned.is_set():
            try:
                self._buffer.put(entry, timeout=_ABANDON_CHECK_SECONDS)
            except queue.Full:
                continue
            return True
        return False

    def __iter__(self) -> t.Iterator[T]:
        try:
            while True:
                is_item, value = self._buffer.get()
                if is_item:
                    yield value
                elif value is None:
                    return
                else:
                    raise value
        finally:
            self.close()

    def close(self) -> None:
        """Stop producing (after the request in flight, if any)."""
        self._abandoned.set()


def ahead(source: t.Iterator[T], depth: int = 1) -> t.Iterator[T]:
    """`source`'s items, produced by a thread of their own up to `depth` items ahead."""
    return iter(_Ahead(source, depth))


def in_order(
    sources: t.Iterable[t.Iterator[T]], lookahead: int, depth: int = 1
) -> t.Iterator[t.Iterator[T]]:
    """Each source's items as an iterator, in the sources' order, up to `lookahead` running.

    A source starts as soon as one of the `lookahead` before it has been handed over whole, so
    the sources run concurrently while their items come out as a sequential run would give them.
    A source's failure is raised where its items are read.
    """
    pending = iter(sources)
    started: collections.deque[_Ahead[T]] = collections.deque()
    try:
        for source in pending:
            started.append(_Ahead(source, depth))
            if len(started) >= lookahead:
                break
        while started:
            current = started.popleft()
            yield iter(current)
            current.close()
            following = next(pending, None)
            if following is not None:
                started.append(_Ahead(following, depth))
    finally:
        for reader in started:
            reader.close()
