"""Deals, and what hangs off them: products, installments and change history (dealflow).

The deals list is read once per run, whoever needs it. The child streams are driven by the deals
updated since their own watermark: the deals stream hands them its records in ascending
`update_time`, in batches of up to 100 deals (`{"is_archived": ..., "deals": [[id,
update_time, is_deleted], ...]}`), and each child keeps, per deals list (live, archived), the
newest deal `update_time` it has fully processed (`deals_updated_since` in its state). The deals
list is read from the oldest bookmark among the selected consumers, so a child selected later, or
one that lagged behind an interrupted run, catches up; deals then re-emits the deals between that
bookmark and its own (duplicates that upserts absorb, never gaps).
"""

from __future__ import annotations

import typing as t

from tap_pipedrive import schemas
from tap_pipedrive.client import (
    NotFoundError,
    PipedriveStream,
    V1Stream,
    V2Stream,
    datetime_fields,
    normalize_times,
    to_rfc3339,
)

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

#: Deals per child request (the `deal_ids` limit of the batched endpoints).
BATCH = 100

DEAL_INCLUDE_FIELDS = (
    "next_activity_id", "last_activity_id", "first_won_time", "products_count", "files_count",
    "notes_count", "followers_count", "email_messages_count", "activities_count",
    "done_activities_count", "undone_activities_count", "participants_count",
    "last_incoming_mail_time", "last_outgoing_mail_time", "smart_bcc_email", "source_lead_id",
)  # fmt: skip


class DealsStream(V2Stream):
    """Deals: open, won, lost, deleted in the last 30 days (`is_deleted`), and archived."""

    name = "deals"
    path = "/api/v2/deals"
    primary_keys = ("id",)
    replication_key = "update_time"
    base_schema = schemas.DEALS
    fields_stream = "deal_fields"
    archived_token_cost = 20
    extra_params = {
        "status": "open,won,lost,deleted",
        "include_fields": ",".join(DEAL_INCLUDE_FIELDS),
    }
    # The read may start below this stream's own bookmark, for a lagging child: the bookmark
    # then climbs again from there. The server sorts; the window filter keeps the bounds.
    check_sorted = False

    def starting_bookmark(self, context: Context | None) -> str | None:
        """The oldest bookmark among the selected consumers of the deals list."""
        marks = [super().starting_bookmark(context)] if self.selected else []
        marks += [
            t.cast("DealChildStream", child).watermark(context)
            for child in self.child_streams
            if child.selected and not t.cast("DealChildStream", child).access_denied
        ]
        return None if None in marks else min(t.cast("list[str]", marks), default=None)

    def read(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """The deals; the last, partial batch goes to the child streams at the end."""
        self._batch: list[list[t.Any]] = []
        self._feeds_children = self.has_selected_descendents
        yield from super().read(context)
        if self._batch:
            self._sync_children(self._child_context(context))

    def generate_child_contexts(
        self, record: dict[str, t.Any], context: Context | None
    ) -> t.Iterable[Context | None]:
        """Hand the child streams a batch of deals once it is full.

        The batch is synced here rather than yielded: the SDK would skip a yielded context when
        a stream map filters out the deal that happens to complete the batch.
        """
        if self._feeds_children:
            self._batch.append(
                [record["id"], record["update_time"], bool(record.get("is_deleted"))]
            )
            if len(self._batch) == BATCH:
                self._sync_children(self._child_context(context))
        yield from ()

    def _child_context(self, context: Context | None) -> dict[str, t.Any]:
        batch, self._batch = self._batch, []
        return {"is_archived": bool(context and context.get("is_archived")), "deals": batch}


class DealChildStream(PipedriveStream):
    """A stream read per batch of updated deals, with its own watermark over the deals lists."""

    parent_stream_type = DealsStream
    # One state for the stream, not one per batch of deals.
    state_partitioning_keys: t.ClassVar[list[str]] = []
    is_sorted = False
    windowed = False

    def incremental_params(self, context: Context | None) -> dict[str, str]:
        """None: the deals batch is the filter."""
        return {}

    def watermark(self, context: Context | None) -> str | None:
        """The newest deal `update_time` this stream has processed on that deals list."""
        marks = self.stream_state.get("deals_updated_since") or {}
        return marks.get(_list_of(context)) or self._start_date()

    def _start_date(self) -> str | None:
        start = self.config.get("start_date")
        return to_rfc3339(start) if start else None

    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """Read the batch's deals updated since the watermark, then advance the watermark."""
        assert context is not None
        since = self.watermark(context)
        # A deleted deal's children are gone with it (its flow answers 404); it still counts
        # towards the watermark.
        deals = [d for d in context["deals"] if not d[2] and (since is None or d[1] >= since)]
        if deals:
            yield from super().get_records({**context, "deals": deals})
        if self._tap.token_ledger.stopped:  # type: ignore[attr-defined]
            return  # `max_tokens_per_run` cut this batch (or an earlier one) short: read it again
        # Also when Pipedrive refuses the stream (402/403): a refused stream must not pin the
        # deals read to its old watermark run after run. (Reset its state to backfill it once
        # the plan has the feature.)
        marks = self.stream_state.setdefault("deals_updated_since", {})
        marks[_list_of(context)] = context["deals"][-1][1]


def _list_of(context: Context | None) -> str:
    return "archived" if context and context.get("is_archived") else "live"


class BatchedDealChildStream(DealChildStream, V2Stream):
    """A v2 list taking `deal_ids` (up to 100 a call): one call per batch of deals."""

    def get_url(self, context: Context | None) -> str:
        """The list, never its archive (the batch's `is_archived` is about the deals)."""
        return "".join([self.url_base, self.path])

    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        """The batch's deal ids."""
        params = super().get_url_params(context, next_page_token)
        assert context is not None
        params["deal_ids"] = ",".join(str(deal[0]) for deal in context["deals"])
        return params


class DealProductsStream(BatchedDealChildStream):
    """Products attached to deals."""

    name = "deal_products"
    path = "/api/v2/deals/products"
    primary_keys = ("id",)
    replication_key = "update_time"
    base_schema = schemas.DEAL_PRODUCTS


class DealInstallmentsStream(BatchedDealChildStream):
    """Installments of deals (billing plans; Growth and above)."""

    name = "deal_installments"
    path = "/api/v2/deals/installments"
    primary_keys = ("id",)
    base_schema = schemas.DEAL_INSTALLMENTS


#: dealChange fields that become columns of dealflow.
_DEAL_CHANGE_COLUMNS = (
    "item_id", "user_id", "field_key", "is_bulk_update_flag", "change_source",
    "change_source_user_agent",
)  # fmt: skip


#: Flow item types typed as a stream's records -> their date-time fields (v1 format in the flow).
_TYPED_ITEMS = {
    kind: datetime_fields(schemas.DEALFLOW["properties"][kind]) for kind in ("note", "file")
}


class DealFlowStream(DealChildStream, V1Stream):
    """Deal change history: one `/v1/deals/{deal_id}/flow` read per updated deal (40 tokens)."""

    name = "dealflow"
    path = "/v1/deals/{deal_id}/flow"
    primary_keys = ("id",)
    replication_key = "log_time"
    base_schema = schemas.DEALFLOW
    token_cost = 40
    extra_params = {"all_changes": "1"}

    def read(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """Each deal's flow; a deal deleted meanwhile (404/410) is skipped with a warning."""
        assert context is not None
        for deal, items in self.reads([{"deal_id": d[0]} for d in context["deals"]]):
            deal_id = deal["deal_id"]
            try:
                for item in items:
                    item["deal_id"] = deal_id
                    yield item
            except NotFoundError as error:
                self.logger.warning("Stream '%s': deal %s skipped: %s", self.name, deal_id, error)

    def post_process(
        self, row: dict[str, t.Any], context: Context | None = None
    ) -> dict[str, t.Any] | None:
        """One flat record per flow item; a dealChange's fields become columns."""
        kind, data = row.get("object"), row.get("data") or {}
        record: dict[str, t.Any] = {
            "id": f"{kind}:{data.get('id')}",
            "deal_id": row["deal_id"],
            "object": kind,
            "log_time": row.get("timestamp"),
        }
        if kind == "dealChange":
            record.update({column: data.get(column) for column in _DEAL_CHANGE_COLUMNS})
            for column in ("old_value", "new_value"):
                value = data.get(column)
                record[column] = None if value is None else str(value)
            # The API sends `[]` for "no additional data".
            record["additional_data"] = data.get("additional_data") or None
        elif kind in _TYPED_ITEMS:
            record[kind] = normalize_times(data, _TYPED_ITEMS[kind])
        else:
            record["data"] = data
        return super().post_process(record, context)
