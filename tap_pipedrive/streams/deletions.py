"""Deleted persons, organizations, activities, products and notes, from `/v1/recents`.

Their list endpoints never show deleted records (deals do: `is_deleted`, for 30 days). The only
API that reports them is `GET /v1/recents?since_timestamp=...`: every change since a time, oldest
first, as `{item, id, data}`; a deleted record's `data` has `active_flag: false` (or is `null`).
Leads are not among its item types: their deletions cannot be captured.
"""

from __future__ import annotations

import datetime
import email.utils
import typing as t

from singer_sdk import typing as th
from singer_sdk.pagination import BaseAPIPaginator

from tap_pipedrive.client import V1Stream, format_instant, payload, to_rfc3339

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context

#: Recents item types -> the streams of their records.
ENTITIES = {
    "person": "persons",
    "organization": "organizations",
    "activity": "activities",
    "product": "products",
    "note": "notes",
}

#: How far back `/v1/recents` reaches: one month since 2024-12-01 (30 days stays inside it).
HISTORY = datetime.timedelta(days=30)
#: Minutes re-read behind the bookmark unless `deleted_records_lookback_minutes` says otherwise.
DEFAULT_LOOKBACK_MINUTES = 5

DELETED_RECORDS = th.PropertiesList(
    th.Property(
        "entity",
        th.StringType,
        required=True,
        description="The stream of the deleted record: persons, organizations, activities, "
        "products or notes",
    ),
    th.Property("id", th.IntegerType, required=True, description="The deleted record's id"),
    th.Property(
        "deleted_time",
        th.DateTimeType,
        description="When it was deleted (its last `update_time`)",
    ),
).to_dict()

#: A recents page: `since_timestamp` (RFC 3339) and `start`.
Page = tuple[str, int]


def _second_before(moment: str) -> str:
    return format_instant(_instant(moment) - datetime.timedelta(seconds=1))


class RecentsPaginator(BaseAPIPaginator[Page]):
    """Recents pages, each asked from one second before the newest change read so far.

    Offsets alone would skip a change whenever a record listed on an earlier page is updated
    during the read (it moves to the end and the rest shift back by one). A page asked from the
    newest second read (less one, so a boundary inside a second loses nothing whether
    `since_timestamp` counts as inclusive or, as the docs say, "after") cannot skip one; changes
    read already are dropped. Offsets remain only for a page that all falls in two seconds.
    """

    def __init__(self, since: str, until: str, clock: str | None = None) -> None:
        super().__init__((since, 0))
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
        self.server_time = _server_time(response) or self.server_time
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

    def get_next(self, response: requests.Response) -> Page | None:
        """From the newest second read, or the next offset; none past the read's upper bound."""
        if self.clock >= self.until:
            return None  # oldest first: the rest is the next run's
        since, start = self.current_value
        anchor = _second_before(self.clock)
        if anchor > since:
            self._seen = {key for key in self._seen if key[2] is None or key[2] >= anchor}
            return anchor, 0
        return since, start + self._page_size


class DeletedRecordsStream(V1Stream):
    """Deletions of persons, organizations, activities, products and notes (not of leads).

    Off by default: it costs 20 tokens a call and reads every change, not only deletions. A
    deletion is a change whose `data` has `active_flag: false` or is `null` (then timed as the
    change before it); `deleted_time` is its `update_time`. Pipedrive keeps one month of
    changes, so the read starts at most 30 days back, with a warning when the bookmark is older:
    deletions before that are lost. The bookmark moves to the newest change read, deletion or
    not; when the window had no change at all, to where the read ended by Pipedrive's clock (the
    `Date` header), so a quiet account does not read the month again on every run. Each run
    starts `deleted_records_lookback_minutes` (5) before the bookmark: a deletion stamped just
    before the previous read ended but committed after it is read, and deletions read again are
    the same rows.
    """

    name = "deleted_records"
    path = "/v1/recents"
    primary_keys = ("entity", "id")
    replication_key = "deleted_time"
    base_schema = DELETED_RECORDS
    token_cost = 20
    selected_by_default = False
    extra_params = {"items": ",".join(ENTITIES)}
    # Its paginator pages on from what `parse_response` read: no page can be asked ahead.
    prefetch = False

    _paginator: RecentsPaginator | None = None

    # A run re-reads the margin behind its bookmark (`deleted_records_lookback_minutes`): the
    # records come out older than the bookmark, which is set at the end of the read.
    check_sorted = False

    @property
    def lookback(self) -> datetime.timedelta:
        """How far behind its bookmark a run starts (`deleted_records_lookback_minutes`).

        Deletions stamped before a read ended but committed after it are read by the next run.
        """
        minutes = self.config.get("deleted_records_lookback_minutes")
        return datetime.timedelta(minutes=DEFAULT_LOOKBACK_MINUTES if minutes is None else minutes)

    def starting_bookmark(self, context: Context | None) -> str | None:
        """The bookmark less the look-back margin, else `start_date`; at most 30 days back.

        Without either, 30 days back.
        """
        floor = format_instant(datetime.datetime.now(datetime.timezone.utc) - HISTORY)
        bookmark = super().starting_bookmark(context)
        has_state = bool(self.get_context_state(context).get("replication_key_value"))
        if bookmark is not None and bookmark < floor:
            if has_state:
                self.logger.warning(
                    "Stream '%s': the last run's bookmark %s is more than a month old, and "
                    "Pipedrive's /v1/recents keeps one month: deletions between %s and %s may "
                    "be missed. Run this stream at least once a month.",
                    self.name,
                    bookmark,
                    bookmark,
                    floor,
                )
            else:
                self.logger.warning(
                    "Stream '%s': first run: deletions are read from %s, not from `start_date` "
                    "%s, because Pipedrive's /v1/recents keeps only one month; deletions before "
                    "then are not captured.",
                    self.name,
                    floor,
                    bookmark,
                )
        if bookmark is not None and has_state:
            bookmark = format_instant(_instant(bookmark) - self.lookback)
        return max(bookmark or floor, floor)

    def incremental_params(self, context: Context | None) -> dict[str, str]:
        """`since_timestamp` in v1's `YYYY-MM-DD HH:MM:SS` (UTC); recents has no sort or bound."""
        return {"since_timestamp": _v1_time(t.cast("str", self.lower_bound))}

    def get_new_paginator(self) -> RecentsPaginator:  # not offsets, not `TimePaginator`
        """Pages from the bookmark to the read's frozen upper bound."""
        # From a second before the bookmark: the docs say recents lists changes "after" it.
        bookmark = t.cast("str", self.lower_bound)
        self._paginator = RecentsPaginator(_second_before(bookmark), self.upper_bound, bookmark)
        return self._paginator

    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        """The page's `since_timestamp` and `start`."""
        params = super().get_url_params(context, None)
        since, params["start"] = next_page_token
        params["since_timestamp"] = _v1_time(since)
        return params

    def parse_response(self, response: requests.Response) -> t.Iterable[dict[str, t.Any]]:
        """The page's deletions of the five entities."""
        assert self._paginator is not None
        for entry, when in self._paginator.read(response):
            entity, data = ENTITIES.get(str(entry.get("item"))), entry.get("data")
            if entity and (data is None or data.get("active_flag") is False):
                yield {"entity": entity, "id": entry.get("id"), "deleted_time": when}

    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """The deletions; then the bookmark moves to the newest change read.

        With no change at all, to the time Pipedrive answered the read's last page (by its own
        clock, the `Date` header; never past the read's upper bound): the window was read whole
        up to then. This machine's clock is not Pipedrive's: a bookmark taken from it would skip
        the deletions Pipedrive stamps in between.
        """
        self._paginator = None
        state = self.get_context_state(context)
        previous = state.get("replication_key_value") or ""
        yield from super().get_records(context)
        if self._paginator is None or self.incomplete:
            return
        read_up_to = min(self.upper_bound, self._paginator.server_time or self.upper_bound)
        newest = max(previous, self._paginator.newest or read_up_to)
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = newest


def _instant(moment: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(moment.replace("Z", "+00:00"))


def _server_time(response: requests.Response) -> str | None:
    """The `Date` header of an answer as RFC 3339 UTC (None if absent or not a date)."""
    try:
        return format_instant(email.utils.parsedate_to_datetime(response.headers["Date"]))
    except (KeyError, TypeError, ValueError):
        return None


def _v1_time(moment: str) -> str:
    """RFC 3339 UTC (`2025-03-04T05:06:07Z`) as v1's `2025-03-04 05:06:07`."""
    return f"{moment[:10]} {moment[11:19]}"
