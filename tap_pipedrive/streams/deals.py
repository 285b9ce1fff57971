"""Deals, and what hangs off them: products, installments and change history (dealflow).

The deals list is read once per run, whoever needs it. The child streams are driven by the deals
updated since their own watermark: the deals stream hands them its records in ascending
`update_time`, in batches of up to 100 deals (`{"is_archived": ..., "deals": [[id,
update_time, is_deleted], ...]}`), and each child keeps, per deals list (live, archived), the
newest deal `update_time` it has fully processed (`deals_updated_since` in its state). The deals
list is read from the oldest bookmark among the selected consumers, so a child selected later, or
one that lagged behind an interrupted or failed run, catches up; deals then re-emits the deals
between that bookmark and its own (duplicates that upserts absorb, never gaps).

A child whose endpoint refused its first call (402/403: not on this plan) is skipped, keeps its
watermark and is marked `refused` in its state, so it does not hold back the deals read. Each
later run first asks its endpoint once, about the deal it was refused on: when it answers, the
deals read starts from the child's old watermark again, and the child catches up.
"""

from __future__ import annotations

import functools
import typing as t

from singer_sdk.singerlib.catalog import REPLICATION_INCREMENTAL

from tap_pipedrive import schemas
from tap_pipedrive.client import (
    STREAM_ERRORS,
    NotFoundError,
    PipedriveStream,
    RunStoppingError,
    V1Stream,
    V2Stream,
    to_rfc3339,
)
from tap_pipedrive.progress import TokenLimitReached

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
        children = t.cast("list[DealChildStream]", self.child_streams)
        marks += [
            child.watermark(context)
            for child in children
            if child.selected and not child.failure and child.has_access()
        ]
        return None if None in marks else min(t.cast("list[str]", marks), default=None)

    def read(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """The deals; the last, partial batch goes to the child streams at the end.

        First, the children read the deals that `max_tokens_per_run` left undone in an earlier
        run (`pending` in their state), without listing them again. When the limit stops the
        list, the deals it did list still reach the children, which keep them as pending.
        """
        self._batch: list[list[t.Any]] = []
        self._feeds_children = self.has_selected_descendents
        children = t.cast("list[DealChildStream]", self.child_streams)
        if self._feeds_children:
            for child in children:
                if child.selected and child.has_pending(context):
                    child.sync(context=self._child_context(context))
        try:
            yield from super().read(context)
        except TokenLimitReached:
            batch = self._child_context(context)
            for child in children:
                if batch["deals"] and child.selected and child.keeps_pending:
                    child.sync(context=batch)
            raise
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
        return {
            "is_archived": bool(context and context.get("is_archived")),
            "deals": batch,
            # The end of the deals read's window: dealflow keeps the changes before it.
            "until": self.upper_bound,
        }


class DealChildStream(PipedriveStream):
    """A stream read per batch of updated deals, with its own watermark over the deals lists."""

    parent_stream_type = DealsStream
    # One state for the stream, not one per batch of deals.
    state_partitioning_keys: t.ClassVar[list[str]] = []
    is_sorted = False
    windowed = False

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        # Said in the catalog: these streams are read for the deals updated since their
        # watermark (`deals_updated_since`), never as a full table.
        self.forced_replication_method = REPLICATION_INCREMENTAL

    @property
    def emit_activate_version_messages(self) -> bool:
        """Never: a read holds the rows of the updated deals only, not the whole table."""
        return False

    def _increment_stream_state(
        self, latest_record: dict[str, t.Any], *, context: Context | None = None
    ) -> None:
        """The deals watermark is the state; a replication key, where there is one, too."""
        if self.replication_key:
            super()._increment_stream_state(latest_record, context=context)

    def incremental_params(self, context: Context | None) -> dict[str, str]:
        """None: the deals batch is the filter."""
        return {}

    def has_access(self) -> bool:
        """Whether to read this run: not refused, or refused before but answering again now."""
        refused = self.stream_state.get("refused")
        if self.access_denied or not refused:
            return not self.access_denied
        deal_id = self.stream_state.get("refused_deal_id")
        if deal_id is not None:
            try:
                for _ in self.request_records(self.probe_context(deal_id)):
                    break
            except NotFoundError:
                pass  # the deal is gone; the endpoint itself answers
            except RunStoppingError:
                raise
            except STREAM_ERRORS as error:
                self.stop(error)
                return False
        self.stream_state.pop("refused", None)
        self.stream_state.pop("refused_deal_id", None)
        return True

    def probe_context(self, deal_id: int) -> dict[str, t.Any]:
        """The context of one call about one deal."""
        return {"is_archived": False, "deals": [[deal_id, None, False]]}

    def stop(self, error: Exception) -> None:
        """Also keep, for a refused stream, the deal to ask about in the next run."""
        super().stop(error)
        if self.access_denied and self._first_deal is not None:
            self.stream_state["refused_deal_id"] = self._first_deal

    _first_deal: int | None = None

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
        deals = self.deals_to_read(context)
        if deals:
            if self._first_deal is None:
                self._first_deal = deals[0][0]
            yield from super().get_records({**context, "deals": deals})
        if self.access_denied or self.failure:
            return  # what was not read stays due
        self.advance(context, deals)

    def deals_to_read(self, context: Context) -> list[list[t.Any]]:
        """The batch's deals updated since the watermark.

        A deleted deal's children are gone with it (its flow answers 404); it still counts
        towards the watermark.
        """
        since = self.watermark(context)
        return [d for d in context["deals"] if not d[2] and (since is None or d[1] >= since)]

    #: Whether deals it could not read are kept for the next run (`pending`, DealItemStream).
    keeps_pending: t.ClassVar[bool] = False

    def has_pending(self, context: Context | None) -> bool:
        """Whether deals an earlier run left undone wait to be read first (DealItemStream)."""
        return False

    def advance(self, context: Context, deals: list[list[t.Any]]) -> None:
        """Move the watermark past the batch, once its deals were read."""
        if self._tap.token_ledger.stopped:  # type: ignore[attr-defined]
            return  # `max_tokens_per_run` cut this batch (or an earlier one) short: read it again
        # Not past a deal that could not be read (it stays due for the next run).
        marks = self.stream_state.setdefault("deals_updated_since", {})
        key = _list_of(context)
        marks[key] = self.due.get(key) or context["deals"][-1][1]

    @functools.cached_property
    def due(self) -> dict[str, str]:
        """Per deals list, the oldest `update_time` of a deal this run could not read."""
        return {}


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
    "id", "item_id", "user_id", "field_key", "is_bulk_update_flag", "change_source",
    "change_source_user_agent",
)  # fmt: skip


class DealFlowStream(DealChildStream, V1Stream):
    """Deal field changes: one `/v1/deals/{deal_id}/flow` read per updated deal (40 tokens).

    The flow is a deal's whole history on every call: only the changes in the window
    [`changes_since`, the deals read's upper bound) are emitted. `changes_since` is the deals
    watermark at the start of the previous run (else `start_date`), not the `log_time`
    bookmark: a deal updated while that run read the deals list, or left due after a failed
    call, is read only now, and its changes older than the bookmark were never emitted. So the
    only repeats are changes of the previous run's window on deals updated again. A change after
    the upper bound has updated its deal after it too, so the next run reads that deal again.
    """

    name = "dealflow"
    path = "/v1/deals/{deal_id}/flow"
    primary_keys = ("id",)
    replication_key = "log_time"
    base_schema = schemas.DEALFLOW
    token_cost = 40
    extra_params = {"all_changes": "1", "items": "dealChange"}

    def read(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """Each deal's flow; a deal answering 404/410 twice stays due for the next run."""
        assert context is not None
        for deal, items in self.reads([{"deal_id": d[0]} for d in context["deals"]]):
            deal_id = deal["deal_id"]
            try:
                for item in items:
                    item["deal_id"] = deal_id
                    yield item
            except NotFoundError:
                # Once more, on its own: a one-off 404 is not a deleted deal.
                yield from self._read_again(deal_id, context)

    def _read_again(self, deal_id: int, context: Context) -> t.Iterable[dict[str, t.Any]]:
        """A deal's flow after a 404; a second 404 leaves the deal due for the next run."""
        try:
            for item in self.request_records({"deal_id": deal_id}):
                item["deal_id"] = deal_id
                yield item
        except NotFoundError as error:
            # Deleted meanwhile, or a fault: the next run (which sees deletions) decides.
            updated = next(d[1] for d in context["deals"] if d[0] == deal_id)
            self.missed.append(deal_id)
            self.due.setdefault(_list_of(context), updated)
            self.logger.warning(
                "Stream '%s': deal %s not read, it stays due for the next run: %s",
                self.name,
                deal_id,
                error,
            )

    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """On a list's first batch of the run, take its filter and leave this run's for the next."""
        key = _list_of(context)
        if key not in self.changes_since:
            self.changes_since[key] = (
                self.stream_state.get("changes_since", {}).get(key) or self._start_date()
            )
            if (start := self.watermark(context)) is not None:
                self.stream_state.setdefault("changes_since", {})[key] = start
        yield from super().get_records(context)

    @functools.cached_property
    def changes_since(self) -> dict[str, str | None]:
        """Per deals list, the oldest change time this run emits."""
        return {}

    def probe_context(self, deal_id: int) -> dict[str, t.Any]:
        """The context of one flow call."""
        return {"deal_id": deal_id}

    @functools.cached_property
    def missed(self) -> list[int]:
        """The deals whose flow this run could not read."""
        return []

    def log_sync_costs(self) -> None:
        """Also count the deals this run could not read."""
        if self.missed:
            self.logger.warning(
                "Stream '%s': %d deal(s) answered 404 twice and stay due for the next run: %s",
                self.name,
                len(self.missed),
                ", ".join(map(str, self.missed)),
            )
        super().log_sync_costs()

    def post_process(
        self, row: dict[str, t.Any], context: Context | None = None
    ) -> dict[str, t.Any] | None:
        """A dealChange in the window as one flat record; anything else is not a change."""
        data = row.get("data")
        log_time = to_rfc3339(row.get("timestamp"))
        if row.get("object") != "dealChange" or not data or log_time is None:
            return None
        assert context is not None
        since = self.changes_since.get(_list_of(context))
        if (since and log_time < since) or log_time >= context["until"]:
            return None
        record = {column: data.get(column) for column in _DEAL_CHANGE_COLUMNS}
        record["deal_id"] = row["deal_id"]
        record["log_time"] = log_time
        for column in ("old_value", "new_value"):
            value = data.get(column)
            record[column] = None if value is None else str(value)
        # The API sends `[]` for "no additional data".
        record["additional_data"] = data.get("additional_data") or None
        return super().post_process(record, context)
