"""Reads that overlap the network with the work: the next page prefetched, time windows at once.

With `max_concurrency` > 1 a read's next page is in flight while this one is turned into
records, per-parent reads (one per deal) run several at once, and a long incremental v2 backfill
is cut into time windows read concurrently. Records still come out in the order, and with the
state, of a sequential read (see `tap_pipedrive.concurrency`).
"""

from __future__ import annotations

import itertools
import math
import typing as t

from singer_sdk.pagination import SinglePagePaginator

from pipedrive_api.pagination import CursorPaging, is_empty
from pipedrive_api.times import format_instant, instant
from tap_pipedrive import concurrency
from tap_pipedrive.http import HTTPStream

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context
    from singer_sdk.pagination import BaseAPIPaginator

#: Pages a time window of a concurrent backfill is sized for (from the first page's density).
WINDOW_PAGES = 4
#: Windows pay off when a page takes longer to arrive than to turn into records (about 30 ms
#: for 500 records): below this wait, prefetching the next page already keeps the tap busy, and
#: windows would only cost their extra calls.
WINDOW_MIN_WAIT_SECONDS = 0.05


def windows(
    rows: list[dict[str, t.Any]], upper_bound: str, count_limit: int, page_size: int
) -> list[tuple[str, str]]:
    """Cut [newest second of the first page, upper bound) into windows of similar size.

    Sized from the first page's density: about `WINDOW_PAGES` pages each (a window's last
    page is rarely full: each costs about one call more), at most `count_limit` of them.
    """
    oldest, newest = rows[0].get("update_time"), rows[-1].get("update_time")
    if not oldest or not newest:
        return []
    start = instant(newest)
    span = max((start - instant(oldest)).total_seconds(), 1.0)
    rest = (instant(upper_bound) - start).total_seconds()
    pages = rest / span * len(rows) / page_size
    count = min(count_limit, math.ceil(pages / WINDOW_PAGES))
    if count < 2:
        return []
    step = (instant(upper_bound) - start) / count
    bounds = [format_instant(start + step * i) for i in range(count)] + [upper_bound]
    return [(low, high) for low, high in itertools.pairwise(bounds) if low < high]


class ReadingStream(HTTPStream):
    """A stream whose reads prefetch, run per parent at once, and split backfills in windows."""

    #: Whether the next page may be asked before this one is parsed (not when the paginator
    #: depends on what parsing found).
    prefetch: t.ClassVar[bool] = True
    #: The endpoint's maximum `limit` (500 for almost all).
    page_size: t.ClassVar[int] = 500
    #: The exclusive end of this run's incremental window (frozen at the stream's first read).
    upper_bound: str

    @property
    def max_concurrency(self) -> int:
        """Requests the run may have in flight at once (1: every read sequential)."""
        return self.client.max_concurrency

    def request_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """The SDK's sequential pages; concurrently, with the next page read ahead.

        The next page is in flight while this one is turned into records.
        """
        if self.max_concurrency == 1 or not self.prefetch:
            return super().request_records(context)
        return self.records_of(concurrency.ahead(self.responses(context)), context)

    def reads(
        self, contexts: t.Sequence[dict[str, t.Any]]
    ) -> t.Iterator[tuple[dict[str, t.Any], t.Iterable[dict[str, t.Any]]]]:
        """Each context's records, in the contexts' order; up to `max_concurrency` read at once.

        For per-parent calls (one read per deal): a context's failure is raised while its own
        records are read, as it would be sequentially.
        """
        if self.max_concurrency == 1:
            for context in contexts:
                yield context, self.request_records(context)
            return
        sources = [self.responses(context) for context in contexts]
        readers = concurrency.in_order(sources, lookahead=2 * self.max_concurrency)
        for context, responses in zip(contexts, readers, strict=True):
            yield context, self.records_of(responses, context)

    def responses(
        self, context: Context | None, paginator: BaseAPIPaginator[t.Any] | None = None
    ) -> t.Generator[requests.Response, None, None]:
        """The answered pages of one read (retried as configured), without parsing them.

        The SDK's `request_records` loop, split so that a thread can fetch while the stream's
        own thread counts the calls and turns the pages into records (`records_of`).
        """
        paginator = paginator or self.get_new_paginator() or SinglePagePaginator()
        send = self.request_decorator(self._request)

        def pages() -> t.Generator[requests.Response, None, None]:
            while not paginator.finished:
                response = send(self._prepare_request(context=context, page=paginator), context)
                yield response
                if is_empty(response) and not paginator.continue_if_empty(response):
                    return  # as the SDK does: an empty page ends the read
                paginator.advance(response)

        return pages()

    def records_of(
        self, responses: t.Iterable[requests.Response], context: Context | None
    ) -> t.Iterator[dict[str, t.Any]]:
        """The records of answered pages, counting each call as the SDK's own loop does."""
        with self.get_http_request_counter() as counter:
            counter.with_context(context)
            for response in responses:
                counter.increment()
                self.update_sync_costs(response.request, response, context)
                yield from self.parse_response(response)

    def windowed_records(self, context: Context | None) -> t.Iterator[dict[str, t.Any]]:
        """Pages in `update_time` order; a long incremental read is split into time windows.

        The first page is read alone. If more follow and the server is slow to answer, the rest
        of the range, from that page's newest second, is cut into windows read concurrently and
        handed over in window order: records still come out sorted, and the bookmark only moves
        forward. The first window repeats the first page's newest second, whose records already
        emitted are dropped. A fast server is read page after page (the next page prefetched),
        at the minimum number of calls.
        """
        pages = self.responses(context)
        first = next(pages)
        rows = list(self.parse_response(first))
        slow = first.elapsed.total_seconds() >= WINDOW_MIN_WAIT_SECONDS
        more = rows and CursorPaging().next_token(first, None)
        cuts = (
            windows(rows, self.upper_bound, self.max_concurrency, self.page_size)
            if slow and more
            else []
        )
        if len(cuts) < 2:
            yield from self.records_of(itertools.chain([first], concurrency.ahead(pages)), context)
            return
        pages.close()
        yield from self.records_of([first], context)
        newest = rows[-1]["update_time"]
        emitted = {row["id"] for row in rows if row["update_time"] == newest}
        contexts = [{**(context or {}), "window": window} for window in cuts]
        readers = concurrency.in_order(
            [self.responses(window) for window in contexts],
            lookahead=self.max_concurrency,
            depth=WINDOW_PAGES,  # a window can be read whole while earlier ones are emitted
        )
        for record in self.records_of(itertools.chain.from_iterable(readers), context):
            if record["update_time"] != newest or record["id"] not in emitted:
                yield record
