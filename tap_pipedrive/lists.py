"""The two kinds of Pipedrive list, and field definitions: how a stream asks for its pages."""

from __future__ import annotations

import typing as t

from pipedrive_api.pagination import CursorPaging, OffsetPaging, TimePaging
from tap_pipedrive.client import PipedriveStream
from tap_pipedrive.http import Paginator

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


class V2Stream(PipedriveStream):
    """An `/api/v2` list: cursor pages, server-side `updated_since`/`updated_until` and sort."""

    token_cost = 10
    #: Whether the endpoint takes `updated_until` (products does not).
    has_updated_until: t.ClassVar[bool] = True

    def get_new_paginator(self) -> Paginator:
        """v2 cursor pagination."""
        return Paginator(CursorPaging())

    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        """Add the cursor of the next page."""
        params = super().get_url_params(context, next_page_token)
        params.update(CursorPaging().params(next_page_token))
        return params

    def incremental_params(self, context: Context | None) -> dict[str, str]:
        """Ascending `update_time` from the bookmark (inclusive) to the frozen bound (exclusive).

        A time window of a concurrent backfill (`window` in the context) narrows both.
        """
        params = {"sort_by": "update_time", "sort_direction": "asc"}
        since, until = (context or {}).get("window") or (self.lower_bound, self.upper_bound)
        if since:
            params["updated_since"] = since
        if self.has_updated_until:
            params["updated_until"] = until
        return params

    def request_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """Pages in `update_time` order; a long backfill concurrently, in time windows."""
        if self.max_concurrency == 1 or not (
            self.replication_key and self.windowed and self.has_updated_until
        ):
            return super().request_records(context)
        return self.windowed_records(context)


class V1Stream(PipedriveStream):
    """A `/v1` list: offset pages (`start`/`limit`), `updated_since` where the endpoint has it."""

    def _reads_by_time(self, context: Context | None) -> bool:
        """Whether this read filters on `updated_since` (so pages can be asked by time)."""
        archived = bool(context and context.get("is_archived"))
        return bool(self.replication_key and self.windowed and not archived)

    def get_new_paginator(self) -> Paginator:
        """Pages by time for incremental reads, else plain offsets."""
        if self._reads_by_time(self.context):
            return Paginator(TimePaging(self.lower_bound, t.cast("str", self.replication_key)))
        return Paginator(OffsetPaging())

    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        """Add the page's offset (and, read by time, its `updated_since`)."""
        params = super().get_url_params(context, next_page_token)
        if isinstance(next_page_token, tuple):
            params.update(TimePaging(None, "").params(next_page_token))
        else:
            params.update(OffsetPaging().params(next_page_token))
        return params

    def incremental_params(self, context: Context | None) -> dict[str, str]:
        """`updated_since` (inclusive; not on archives), ascending by the replication key."""
        params = {"sort": f"{self.replication_key} ASC, id ASC"}
        if self.lower_bound and self._reads_by_time(context):
            params["updated_since"] = self.lower_bound
        return params

    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """Forget the records of the last second seen, for this read."""
        self._second: tuple[str | None, set[t.Any]] = (None, set())
        return super().get_records(context)

    def post_process(
        self, row: dict[str, t.Any], context: Context | None = None
    ) -> dict[str, t.Any] | None:
        """Drop a record that a page asked by time read again (its second's records repeat)."""
        record = super().post_process(row, context)
        if record is None or not self._reads_by_time(context):
            return record
        second, keys = self._second
        value = record.get(t.cast("str", self.replication_key))
        key = tuple(record.get(name) for name in self.primary_keys)
        if value == second:
            if key in keys:
                return None
            keys.add(key)
        elif value is not None and (second is None or value > second):
            self._second = (value, {key})
        return record
