"""Concurrent reads that keep the sequential guarantees: order, bookmarks, rate limits, tokens.

A read's pages are produced by a thread of their own, a few pages ahead of the stream that
turns them into records (so the network overlaps the work); several reads (time windows of one
backfill, the per-deal calls of a batch) run at once, but their pages are handed over in the
order the reads were asked for, so the output is what a sequential run would write. Every
request goes through the run's one `pipedrive_api.session.PacedSession`, which bounds the
requests in flight and pauses every thread when the rate limit says so.
"""

from __future__ import annotations

import collections
import queue
import threading
import typing as t

T = t.TypeVar("T")

#: Seconds a producer blocked on a full buffer waits before checking whether it was abandoned.
_ABANDON_CHECK_SECONDS = 0.1


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
