"""Deleted persons, organizations, activities, products and notes, from `/v1/recents`.

Their list endpoints never show deleted records (deals do: `is_deleted`, for 30 days). The only
API that reports them is `GET /v1/recents?since_timestamp=...`: every change since a time, oldest
first, as `{item, id, data}`; a deleted record's `data` has `active_flag: false` (or is `null`).
Leads are not among its item types: their deletions cannot be captured.
"""

from __future__ import annotations

import datetime
import typing as t

from singer_sdk import typing as th

from pipedrive_api.errors import READ_ERRORS, TokenLimitReached
from pipedrive_api.pagination import RecentsPaging, second_before
from pipedrive_api.times import format_instant, instant, v1_time
from tap_pipedrive import sweep
from tap_pipedrive.http import Paginator
from tap_pipedrive.lists import V1Stream

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

    Each deletion also reaches the entity's own stream as a tombstone, and with
    `deletion_sweep_days` a sweep after the recents read retires older deletions
    (`tap_pipedrive.sweep`); the tap syncs this stream last, so the sweep spends what the
    regular reads left of `max_tokens_per_run`.
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

    _paging: RecentsPaging | None = None

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
        floor = format_instant(instant(self.upper_bound) - HISTORY)  # Pipedrive's month
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
            bookmark = format_instant(instant(bookmark) - self.lookback)
        return max(bookmark or floor, floor)

    def incremental_params(self, context: Context | None) -> dict[str, str]:
        """`since_timestamp` in v1's `YYYY-MM-DD HH:MM:SS` (UTC); recents has no sort or bound."""
        return {"since_timestamp": v1_time(t.cast("str", self.lower_bound))}

    def get_new_paginator(self) -> Paginator:  # not offsets, not `TimePaging`
        """Pages from the bookmark to the read's frozen upper bound."""
        # From a second before the bookmark: the docs say recents lists changes "after" it.
        bookmark = t.cast("str", self.lower_bound)
        self._paging = RecentsPaging(second_before(bookmark), self.upper_bound, bookmark)
        return Paginator(self._paging)

    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        """The page's `since_timestamp` and `start`."""
        params = super().get_url_params(context, None)
        since, params["start"] = next_page_token
        params["since_timestamp"] = v1_time(since)
        return params

    def parse_response(self, response: requests.Response) -> t.Iterable[dict[str, t.Any]]:
        """The page's deletions of the five entities."""
        assert self._paging is not None
        for entry, when in self._paging.read(response):
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
        self._paging = None
        state = self.get_context_state(context)
        previous = state.get("replication_key_value") or ""
        found: dict[str, dict[int, str]] = {}
        for record in super().get_records(context):
            found.setdefault(record["entity"], {})[record["id"]] = record["deleted_time"]
            yield record
        if self._paging is None or self.incomplete:
            return
        read_up_to = min(self.upper_bound, self._paging.server_time or self.upper_bound)
        newest = max(previous, self._paging.newest or read_up_to)
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = newest
        for entity, gone in self.sweep(state).items():
            # When it was deleted is unknown (some time before the sweep): no `deleted_time`.
            for record_id in sorted(set(gone) - set(found.get(entity, {}))):
                yield {"entity": entity, "id": record_id, "deleted_time": None}
            found[entity] = {**gone, **found.get(entity, {})}
        for entity, gone in found.items():
            sweep.write_tombstones(self._tap, entity, gone)

    def _increment_stream_state(
        self, latest_record: dict[str, t.Any], *, context: Context | None = None
    ) -> None:
        """The SDK's bookmark, but not for a sweep's finds (no time; set by `get_records`)."""
        if latest_record.get("deleted_time") is not None:
            super()._increment_stream_state(latest_record, context=context)

    def sweep(self, state: dict[str, t.Any]) -> dict[str, dict[int, str]]:
        """When due, the known ids each selected entity no longer lists (id -> the sweep's time).

        After the regular reads (this stream is synced last). Every entity is listed whole
        before anything is retired or any state changes: a sweep the budget or a failure stops
        retires nothing, and the next run sweeps again.
        """
        started = self.client.now()
        if not sweep.due(self.config, state.get("last_sweep"), instant(started)):
            return {}
        streams = [
            self._tap.streams[name]
            for name in sweep.SWEPT
            if name in self._tap.streams and self._tap.streams[name].selected
        ]
        spent = {"requests": 0, "tokens": 0}

        def paid(tokens: int) -> None:
            spent["requests"] += 1
            spent["tokens"] += tokens
            self.progress.request(tokens)
            self._sync_costs["requests"] = self._sync_costs.get("requests", 0) + 1
            self._sync_costs["tokens"] = self._sync_costs.get("tokens", 0) + tokens

        try:
            listed = {}
            for stream in streams:
                ids = sweep.list_ids(self.client, stream.name, self.name, paid)
                kept, _ = sweep.known(stream.stream_state)
                if kept - ids and not sweep.SWEPT[stream.name].path.startswith("/api/v2/"):
                    # Offsets shift when an item is deleted during the read, hiding another
                    # from it: only an id missing from a second read too is gone.
                    ids |= sweep.list_ids(self.client, stream.name, self.name, paid)
                listed[stream.name] = ids
        except TokenLimitReached as reached:
            self.client.ledger.stop(reached, self.logger)
            self.logger.warning(
                "Deletion sweep stopped by the token limit after %d requests (%d tokens): "
                "nothing retired; the next run sweeps again.",
                spent["requests"],
                spent["tokens"],
            )
            return {}
        except READ_ERRORS as error:
            # The stream fails (the run ends with exit 1, naming it); its bookmark stands.
            self.stop(error)
            return {}
        gone: dict[str, dict[int, str]] = {}
        for stream in streams:
            kept, has_baseline = sweep.known(stream.stream_state)
            ids = listed[stream.name]
            gone[stream.name] = dict.fromkeys(sorted(kept - ids), started)
            remaining = ids & kept if has_baseline else ids
            stream.stream_state[sweep.STATE_KEY] = {"ids": sweep.encode(remaining)}
        state["last_sweep"] = started
        self.logger.info(
            "Deletion sweep: listed %s in %d requests (%d tokens); retired %d ids.",
            ", ".join(f"{len(ids)} {name}" for name, ids in listed.items()) or "nothing",
            spent["requests"],
            spent["tokens"],
            sum(len(ids) for ids in gone.values()),
            extra={"phase": "deletion sweep", **spent},
        )
        return gone
