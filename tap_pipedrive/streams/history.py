"""History: persons' and organizations' field changes, and deals' stays in their stages.

`person_changes` and `organization_changes` read `/v1/{persons,organizations}/{id}/changelog`
(20 tokens a call, cursor pages of 500) for the persons and organizations updated since their
watermark, as dealflow reads the flow of the updated deals (see `ItemHistoryStream`).

`deal_stage_history` costs no call: it is made of the stage, pipeline and status changes of the
flows dealflow reads (selected alone, the flow is read but only the stays are emitted).
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import typing as t

from singer_sdk import typing as th

from pipedrive_api.pagination import CursorPaging
from pipedrive_api.times import to_rfc3339
from tap_pipedrive.client import PipedriveStream
from tap_pipedrive.http import Paginator
from tap_pipedrive.streams.crm import OrganizationsStream, PersonsStream
from tap_pipedrive.streams.deals import DealsStream, UpdatedItemsChild
from tap_pipedrive.streams.flow import DealFlowStream, ItemHistoryStream, change_text

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


def _changes_schema(item_key: str, item: str) -> dict[str, t.Any]:
    return th.PropertiesList(
        th.Property(
            "id",
            th.StringType,
            required=True,
            description="Key of the change: the first 32 hex digits of the SHA-256 of the JSON "
            f"array [{item_key}, time, field_key, old_value, new_value]",
        ),
        th.Property(item_key, th.IntegerType, description=f"The {item} changed"),
        th.Property("time", th.DateTimeType, description="When the change was made"),
        th.Property("field_key", th.StringType, description="The key of the field changed"),
        th.Property(
            "field_name",
            th.StringType,
            description="With `custom_field_names: name`: the field's column name (a custom "
            "field's readable name, a standard field's key); null otherwise",
        ),
        th.Property("old_value", th.StringType, description="The value before (lists as JSON)"),
        th.Property("new_value", th.StringType, description="The value after (lists as JSON)"),
        th.Property("actor_user_id", th.IntegerType, description="The user who made it"),
        th.Property("change_source", th.StringType, description="app, mobile, api, ..."),
        th.Property("change_source_user_agent", th.StringType, description="Its user agent"),
        th.Property(
            "is_bulk_update_flag", th.BooleanType, description="Whether made by a bulk update"
        ),
    ).to_dict()


PERSON_CHANGES = _changes_schema("person_id", "person")
ORGANIZATION_CHANGES = _changes_schema("org_id", "organization")

DEAL_STAGE_HISTORY = th.PropertiesList(
    th.Property("deal_id", th.IntegerType, required=True, description="The deal"),
    th.Property("stage_id", th.IntegerType, required=True, description="The stage it was in"),
    th.Property(
        "entered_at", th.DateTimeType, required=True, description="When it entered the stage"
    ),
    th.Property("pipeline_id", th.IntegerType, description="The stage's pipeline"),
    th.Property(
        "left_at",
        th.DateTimeType,
        description="When it left the stage, or was won, lost or deleted there; null while there",
    ),
    th.Property(
        "seconds_in_stage", th.IntegerType, description="left_at - entered_at; null while there"
    ),
).to_dict()


def change_key(*parts: t.Any) -> str:
    """A change's key: the first 32 hex digits of the SHA-256 of its parts as a JSON array.

    A bulk update changes several fields of an item on one second: `field_key` (and the values)
    keep them apart; the same change read again gets the same key.
    """
    text = json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class ChangelogStream(ItemHistoryStream):
    """A `/v1/{entity}/{id}/changelog` per updated item: its field changes, newest first."""

    primary_keys = ("id",)
    replication_key = "time"
    token_cost = 20
    selected_by_default = False
    watermark_key = "items_updated_since"

    def get_new_paginator(self) -> Paginator:
        """Cursor pages (`additional_data.next_cursor`)."""
        return Paginator(CursorPaging())

    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        """The page size and the cursor of the next page."""
        params: dict[str, t.Any] = {"limit": self.page_size}
        if next_page_token:
            params["cursor"] = next_page_token
        return params

    @functools.cached_property
    def field_names(self) -> dict[str, str] | None:
        """Custom field code -> column name with `custom_field_names: name`, else None."""
        if self.config.get("custom_field_names", "key") != "name":
            return None
        streams = self._tap.streams.values()
        parent = next(s for s in streams if isinstance(s, self.parent_stream_type))
        mapper = t.cast("PipedriveStream", parent).custom_fields
        return mapper.names if mapper is not None else {}

    def field_name(self, key: str | None) -> str | None:
        """A field's column name (a standard field's is its key), where names are asked for."""
        names = self.field_names
        return None if names is None or key is None else names.get(key, key)

    def post_process(
        self, row: dict[str, t.Any], context: Context | None = None
    ) -> dict[str, t.Any] | None:
        """A change in the window as one row, keyed by a hash of what it changed."""
        moment = to_rfc3339(row.get("time"))
        if moment is None or not self.in_window(moment, context):
            return None
        item_id, key = row[self.parent_key], row.get("field_key")
        old, new = change_text(row.get("old_value")), change_text(row.get("new_value"))
        record = {
            "id": change_key(item_id, moment, key, old, new),
            self.parent_key: item_id,
            "time": moment,
            "field_key": key,
            "field_name": self.field_name(key),
            "old_value": old,
            "new_value": new,
            "actor_user_id": row.get("actor_user_id"),
            "change_source": row.get("change_source"),
            "change_source_user_agent": row.get("change_source_user_agent"),
            "is_bulk_update_flag": row.get("is_bulk_update_flag"),
        }
        return super().post_process(record, context)


class PersonChangesStream(ChangelogStream):
    """Person field changes (off by default: 20 tokens per person updated)."""

    name = "person_changes"
    path = "/v1/persons/{person_id}/changelog"
    parent_stream_type = PersonsStream
    parent_key = "person_id"
    item_label = "person"
    base_schema = PERSON_CHANGES


class OrganizationChangesStream(ChangelogStream):
    """Organization field changes (off by default: 20 tokens per organization updated)."""

    name = "organization_changes"
    path = "/v1/organizations/{org_id}/changelog"
    parent_stream_type = OrganizationsStream
    parent_key = "org_id"
    item_label = "organization"
    base_schema = ORGANIZATION_CHANGES


#: Within one second: a pipeline change comes with its stage move, the move before a close.
_ORDER = {"pipeline_id": 0, "stage_id": 1, "status": 2}
CLOSED = ("won", "lost")


def _int(value: t.Any) -> int | None:
    return None if value is None or value == "" else int(value)


def _stay(
    deal_id: int, stage: int | None, pipeline: int | None, entered: str, left: str | None
) -> dict[str, t.Any]:
    if left is not None:
        left = max(left, entered)  # a move recorded before its deal's creation: no time there
    return {
        "deal_id": deal_id,
        "stage_id": stage,
        "entered_at": entered,
        "pipeline_id": pipeline,
        "left_at": left,
        "seconds_in_stage": None if left is None else _seconds_between(entered, left),
    }


def _seconds_between(start: str, end: str) -> int:
    parse = datetime.datetime.fromisoformat
    delta = parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))
    return int(delta.total_seconds())


def _close_time(deal: dict[str, t.Any]) -> str | None:
    """When the deal record says it was won or lost, if it is."""
    status = deal.get("status")
    return deal.get("won_time") if status == "won" else deal.get("lost_time")


def deal_stays(
    deal_id: int, deal: dict[str, t.Any], changes: list[dict[str, t.Any]]
) -> list[dict[str, t.Any]]:
    """A deal's stays, from its `add_time` and its stage, pipeline and status changes.

    A stay starts at the deal's creation (in the stage its first move left, or its current
    one) or at a move; it ends at the next move or when the deal was won or lost there (the
    close still in force: one undone by a reopening ends nothing). Moved after its close, the
    deal spends no time in the stage.
    """
    ordered = sorted(changes, key=lambda c: (c["time"], _ORDER[c["field_key"]], c["id"] or 0))
    moves = [c for c in ordered if c["field_key"] == "stage_id"]
    switches = [c for c in ordered if c["field_key"] == "pipeline_id"]
    statuses = [c for c in ordered if c["field_key"] == "status"]
    pipeline = _int(switches[0]["old_value"]) if switches else deal.get("pipeline_id")
    stage = _int(moves[0]["old_value"]) if moves else deal.get("stage_id")
    stays: list[tuple[int | None, int | None, str]] = [(stage, pipeline, deal["add_time"])]
    for change in ordered:
        if change["field_key"] == "pipeline_id":
            pipeline = _int(change["new_value"])
        elif change["field_key"] == "stage_id":
            stays.append((_int(change["new_value"]), pipeline, change["time"]))
    if statuses:
        last = statuses[-1]
        close = last["time"] if last["new_value"] in CLOSED else None
    else:
        close = _close_time(deal)
    rows = []
    for k, (stage, pipeline, entered) in enumerate(stays):
        end = stays[k + 1][2] if k + 1 < len(stays) else None
        left = end if end is not None and (close is None or end <= close) else close
        rows.append(_stay(deal_id, stage, pipeline, entered, left))
    # Back in a stage within the second it left it: one stay there from that second, the later.
    kept = {(row["stage_id"], row["entered_at"]): row for row in rows}
    return [row for row in rows if kept[(row["stage_id"], row["entered_at"])] is row]


def deleted_deal_stay(deal_id: int, deleted_at: str, record: dict[str, t.Any]) -> dict[str, t.Any]:
    """A deleted deal's last stay, from the deal alone (its flow is gone): ended on deletion."""
    entered = record.get("stage_change_time") or record["add_time"]
    left = _close_time(record) or deleted_at
    return _stay(deal_id, record.get("stage_id"), record.get("pipeline_id"), entered, left)


class DealStageHistoryStream(UpdatedItemsChild):
    """One row per stay of a deal in a stage, from the flows dealflow reads (no call of its own).

    Keyed by (`deal_id`, `stage_id`, `entered_at`): a stay is where and since when a deal was,
    which no later change alters; the last stay is sent again, with `left_at`, once it ends.
    """

    name = "deal_stage_history"
    parent_stream_type = DealFlowStream
    primary_keys = ("deal_id", "stage_id", "entered_at")
    base_schema = DEAL_STAGE_HISTORY
    token_cost = 0

    def log_sync_costs(self) -> None:
        """Also the summary of a read that made no call (the stays' calls are dealflow's)."""
        if not self._sync_costs and self.progress.records:
            self.progress.log("done")
        super().log_sync_costs()

    def read(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """The stays of the batch's deals read whole, and of its deleted deals."""
        assert context is not None
        flow = t.cast("DealFlowStream", self._tap.streams[DealFlowStream.name])
        deals = t.cast("DealsStream", self._tap.streams[DealsStream.name])
        for deal_id, updated, deleted, *_ in context["deals"]:
            record = deals.stage_fields[deal_id]
            if deleted:
                yield deleted_deal_stay(deal_id, updated, record)
            else:
                changes = list(flow.stage_changes.get(deal_id, {}).values())
                yield from deal_stays(deal_id, record, changes)
