"""How Pipedrive's lists page: v2 cursors, v1 offsets, v1 pages asked by time.

A `Paging` says where a read starts (`start`), which token follows an answered page
(`next_token`, None at the end) and the query parameters of a token (`params`). `Pages` steps a
`Paging` through a read as singer-sdk's paginators do (an empty page ends it, a repeated token
is a loop), so the tap's streams and any other reader page alike.
"""

from __future__ import annotations

import datetime
import typing as t

from pipedrive_api.responses import envelope, payload, server_time
from pipedrive_api.times import format_instant, instant, to_rfc3339, v1_time

if t.TYPE_CHECKING:
    import requests


class Paging:
    """A list's pagination: no pages beyond the first."""

    #: The first page's token.
    start: t.Any = None

    def next_token(self, response: requests.Response, current: t.Any) -> t.Any:
        """The token of the page after `response` (asked with `current`), or None at the end."""
        return None

    def params(self, token: t.Any) -> dict[str, t.Any]:
        """The query parameters asking for the page of `token`."""
        return {}

    def continue_if_empty(self, response: requests.Response) -> bool:
        """Whether an empty page may still be followed by others."""
        return False

    def has_more(self, response: requests.Response) -> bool:
        """Whether pages follow `response` at all (else `next_token` is not asked)."""
        return True


class CursorPaging(Paging):
    """v2 pagination: an opaque `cursor`, from `additional_data.next_cursor` (null at the end)."""

    def next_token(self, response: requests.Response, current: t.Any) -> str | None:
        """Return the next cursor, or None on the last page."""
        body = envelope(response)
        return t.cast(
            "str | None", ((body.additional_data if body else None) or {}).get("next_cursor")
        )

    def params(self, token: t.Any) -> dict[str, t.Any]:
        """`cursor`, after the first page."""
        return {"cursor": token} if token else {}


def next_offset(response: requests.Response) -> int | None:
    """The `start` of the next v1 page, or None when the collection has no more items.

    Most lists nest `{start, limit, more_items_in_collection, next_start}` under
    `additional_data.pagination`; leads and deal flow put it in `additional_data` itself,
    without `next_start`.
    """
    body = envelope(response)
    additional = (body.additional_data if body else None) or {}
    pagination = additional.get("pagination") or additional
    if not pagination.get("more_items_in_collection"):
        return None
    next_start = pagination.get("next_start")
    if next_start is None:
        next_start = int(pagination.get("start") or 0) + int(pagination["limit"])
    return int(next_start)


class OffsetPaging(Paging):
    """v1 pagination: `start`, from `additional_data.pagination.next_start`."""

    start = 0

    def next_token(self, response: requests.Response, current: t.Any) -> int | None:
        """Return the next offset, or None at the end."""
        return next_offset(response)

    def params(self, token: t.Any) -> dict[str, t.Any]:
        """`start` (0 for the first page)."""
        return {"start": token or 0}


class TimePaging(Paging):
    """Incremental v1 pages asked by time: (`updated_since`, `start`).

    Offsets alone skip a record whenever one already read is updated during the read: it moves
    to the end and the rest shift back by one. So each page is asked from the newest second read
    so far (the reader drops the records of that second it has already emitted); offsets remain
    only while a whole page falls in one second.
    """

    def __init__(self, since: str | None, key: str) -> None:
        self.start = (since, 0)
        self._key = key

    def next_token(
        self, response: requests.Response, current: t.Any
    ) -> tuple[str | None, int] | None:
        """From the newest second of this page, or the next offset within the same second."""
        offset = next_offset(response)
        if offset is None:
            return None
        rows = (payload(response) or {}).get("data") or []
        newest = max((to_rfc3339(r.get(self._key)) or "" for r in rows), default="")
        since, _ = current
        if newest and (since is None or newest > since):
            return newest, 0
        return since, offset

    def params(self, token: t.Any) -> dict[str, t.Any]:
        """`start`, and `updated_since` when the read has one."""
        since, start = token
        return {"start": start, **({"updated_since": since} if since else {})}


#: A `/v1/recents` page: `since_timestamp` (RFC 3339) and `start`.
Page = tuple[str, int]


def second_before(moment: str) -> str:
    """One second before an RFC 3339 UTC instant."""
    return format_instant(instant(moment) - datetime.timedelta(seconds=1))


class RecentsPaging(Paging):
    """Recents pages, each asked from one second before the newest change read so far.

    Offsets alone would skip a change whenever a record listed on an earlier page is updated
    during the read (it moves to the end and the rest shift back by one). A page asked from the
    newest second read (less one, so a boundary inside a second loses nothing whether
    `since_timestamp` counts as inclusive or, as the docs say, "after") cannot skip one; changes
    read already are dropped. Offsets remain only for a page that all falls in two seconds.
    """

    def __init__(self, since: str, until: str, clock: str | None = None) -> None:
        self.start = (since, 0)
        self.until = until
        #: The newest change time read (from the bookmark); a change without a time
        #: (`data: null`) is given it.
        self.clock = clock or since
        #: The newest change time read before `until`: where the next run can start.
        self.newest: str | None = None
        #: Pipedrive's clock (the `Date` header) when it answered the last page.
        self.server_time: str | None = None
        self._seen: set[tuple[t.Any, t.Any, str | None]] = set()
        self._page_size = 0

    def read(self, response: requests.Response) -> list[tuple[dict[str, t.Any], str]]:
        """The page's changes not read before, each with its time (RFC 3339)."""
        entries = (payload(response) or {}).get("data") or []
        self._page_size = len(entries)
        self.server_time = server_time(response) or self.server_time
        changes = []
        for entry in entries:
            data = entry.get("data")
            stamp = to_rfc3339(data.get("update_time")) if isinstance(data, dict) else None
            key = (entry.get("item"), entry.get("id"), stamp)
            if key in self._seen:
                continue
            self._seen.add(key)
            when = stamp or self.clock
            self.clock = max(self.clock, when)
            if when < self.until:
                self.newest = max(self.newest or when, when)
            changes.append((entry, when))
        return changes

    def has_more(self, response: requests.Response) -> bool:
        """Whether `additional_data.pagination` says more changes follow."""
        additional = (payload(response) or {}).get("additional_data") or {}
        return bool((additional.get("pagination") or {}).get("more_items_in_collection"))

    def continue_if_empty(self, response: requests.Response) -> bool:
        """A page without deletions (or of changes read already) is not the end of the list."""
        return self.has_more(response)

    def next_token(self, response: requests.Response, current: t.Any) -> Page | None:
        """From the newest second read, or the next offset; none past the read's upper bound."""
        if self.clock >= self.until:
            return None  # oldest first: the rest is the next run's
        since, start = current
        anchor = second_before(self.clock)
        if anchor > since:
            self._seen = {key for key in self._seen if key[2] is None or key[2] >= anchor}
            return anchor, 0
        return since, start + self._page_size

    def params(self, token: t.Any) -> dict[str, t.Any]:
        """`since_timestamp` (v1's `YYYY-MM-DD HH:MM:SS`, UTC) and `start`."""
        since, start = token
        return {"start": start, "since_timestamp": v1_time(since)}


class Pages:
    """Steps a `Paging` through one read, as singer-sdk's paginators do."""

    def __init__(self, paging: Paging) -> None:
        self.paging = paging
        self.current_value: t.Any = paging.start
        self.finished = False
        self.count = 0

    def advance(self, response: requests.Response) -> None:
        """Move to the page after `response`; finished when there is none."""
        self.count += 1
        if not self.paging.has_more(response):
            self.finished = True
            return
        new_value = self.paging.next_token(response, self.current_value)
        if new_value and new_value == self.current_value:
            msg = (
                f"Loop detected in pagination. Pagination token {new_value} is identical to "
                "prior token."
            )
            raise RuntimeError(msg)
        if not new_value:
            self.finished = True
        else:
            self.current_value = new_value


def is_empty(response: requests.Response) -> bool:
    """Whether an answer holds no records (an empty page ends a read)."""
    body = envelope(response)
    return body is None or bytes(body.data) in {b"[]", b"null"}
