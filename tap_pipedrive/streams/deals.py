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
import json
import typing as t

from singer_sdk.singerlib.catalog import REPLICATION_INCREMENTAL

from pipedrive_api import endpoints
from pipedrive_api.errors import NotFoundError, RunStoppingError, TokenLimitReached
from pipedrive_api.times import to_rfc3339
from tap_pipedrive import schemas
from tap_pipedrive.client import STREAM_ERRORS, PipedriveStream
from tap_pipedrive.lists import V1Stream, V2Stream

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

#: Deals per child request (the `deal_ids` limit of the batched endpoints).
BATCH = 100


class BatchingStream(V2Stream):
    """A v2 list handing its records to per-item child streams, in batches (see above).

    Deals are the first such list; persons and organizations feed their changelogs the same
    way (the batch is under `deals` in the context whatever the list).
    """

    # The read may start below this stream's own bookmark, for a lagging child: the bookmark
    # then climbs again from there. The server sorts; the window filter keeps the bounds.
    check_sorted = False

    def starting_bookmark(self, context: Context | None) -> str | None:
        """The oldest bookmark among the selected consumers of the list."""
        marks = [super().starting_bookmark(context)] if self.selected else []
        children = t.cast("list[DealChildStream]", self.child_streams)
        marks += [
            child.watermark(context)
            for child in children
            if (child.selected or child.has_selected_descendents)
            and not child.failure
            and child.has_access()
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
            self._batch.append(self.batch_item(record))
            if len(self._batch) == BATCH:
                self._sync_children(self._child_context(context))
        yield from ()

    def batch_item(self, record: dict[str, t.Any]) -> list[t.Any]:
        """What the child streams learn of a record: `[id, update_time, is_deleted]`."""
        return [record["id"], record["update_time"], bool(record.get("is_deleted"))]

    def _child_context(self, context: Context | None) -> dict[str, t.Any]:
        batch, self._batch = self._batch, []
        return {
            "is_archived": bool(context and context.get("is_archived")),
            "deals": batch,
            # The end of the list read's window: dealflow keeps the changes before it.
            "until": self.upper_bound,
        }


#: What a deal's stage history needs of the deal itself (see history.py).
STAGE_FIELDS = (
    "add_time", "pipeline_id", "stage_id", "stage_change_time", "status", "won_time", "lost_time",
)  # fmt: skip


class DealsStream(BatchingStream):
    """Deals: open, won, lost, deleted in the last 30 days (`is_deleted`), and archived."""

    name = "deals"
    path = endpoints.DEALS.path
    primary_keys = ("id",)
    replication_key = "update_time"
    base_schema = schemas.DEALS
    fields_stream = "deal_fields"
    archived_token_cost = 20
    extra_params = dict(endpoints.DEALS.params)

    def batch_item(self, record: dict[str, t.Any]) -> list[t.Any]:
        """Also keep the deal's stage and close aside (for the batch), for `deal_stage_history`.

        Aside, not in the batch: the SDK logs each child's context with its metrics.
        """
        if not self._batch:
            self.stage_fields.clear()
        self.stage_fields[record["id"]] = {key: record.get(key) for key in STAGE_FIELDS}
        return super().batch_item(record)

    @functools.cached_property
    def stage_fields(self) -> dict[int, dict[str, t.Any]]:
        """The `STAGE_FIELDS` of each deal of the current batch."""
        return {}


class DealChildStream(PipedriveStream):
    """A stream read per batch of updated deals, with its own watermark over the deals lists."""

    parent_stream_type: type[BatchingStream] = DealsStream
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

    #: The state key of the watermark.
    watermark_key: t.ClassVar[str] = "deals_updated_since"

    def watermark(self, context: Context | None) -> str | None:
        """The newest deal `update_time` processed on that deals list, for every consumer."""
        marks = [
            (stream.stream_state.get(self.watermark_key) or {}).get(_list_of(context))
            or self._start_date()
            for stream in self.watermark_holders()
        ]
        return None if None in marks else min(t.cast("list[str]", marks), default=None)

    def watermark_holders(self) -> list[PipedriveStream]:
        """The streams whose state holds this read's watermark: this one."""
        return [self]

    def _start_date(self) -> str | None:
        start = self.config.get("start_date")
        return to_rfc3339(start) if start else None

    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """Read the batch's deals updated since the watermark, then advance the watermark."""
        assert context is not None
        since = self.watermark(context)
        # A deleted deal's children are gone with it (its flow answers 404); it still counts
        # towards the watermark.
        due = [d for d in context["deals"] if since is None or d[1] >= since]
        deals = self.deals_to_read(context)
        if deals:
            if self._first_deal is None:
                self._first_deal = deals[0][0]
            yield from super().get_records({**context, "deals": deals})
        self.batch_done(context, due)
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
        if self.client.ledger.stopped:
            return  # `max_tokens_per_run` cut this batch (or an earlier one) short: read it again
        # Not past a deal that could not be read (it stays due for the next run).
        key = _list_of(context)
        for stream in self.watermark_holders():
            marks = stream.stream_state.setdefault(self.watermark_key, {})
            marks[key] = self.due.get(key) or context["deals"][-1][1]

    def batch_done(self, context: Context, due: list[list[t.Any]]) -> None:
        """After a batch's reads, before the watermark moves past it: nothing here."""

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


class ItemHistoryStream(DealChildStream, V1Stream):
    """An item's whole history read per updated item, emitted from where the last run stopped.

    The history is the item's whole history on every call: only the changes in the window
    [`changes_since`, the list read's upper bound) are emitted. `changes_since` is the list
    watermark at the start of the previous run (else `start_date`), not the replication-key
    bookmark: an item updated while that run read the list, or left due after a failed call, is
    read only now, and its changes older than the bookmark were never emitted. So the only
    repeats are changes of the previous run's window on items updated again. A change after the
    upper bound has updated its item after it too, so the next run reads that item again.
    """

    #: The path parameter and record column naming the item (`deal_id`).
    parent_key: t.ClassVar[str] = "deal_id"
    #: What the item is, for the log (`deal`).
    item_label: t.ClassVar[str] = "deal"

    def read(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """Each item's history; an item answering 404/410 twice stays due for the next run."""
        assert context is not None
        key = self.parent_key
        for item, rows in self.reads([{key: d[0]} for d in context["deals"]]):
            item_id = item[key]
            try:
                for row in rows:
                    row[key] = item_id
                    yield row
            except NotFoundError:
                # Once more, on its own: a one-off 404 is not a deleted item.
                yield from self._read_again(item_id, context)
            else:
                self.completed.append(item_id)

    def _read_again(self, item_id: int, context: Context) -> t.Iterable[dict[str, t.Any]]:
        """An item's history after a 404; a second 404 leaves the item due for the next run."""
        try:
            for row in self.request_records({self.parent_key: item_id}):
                row[self.parent_key] = item_id
                yield row
            self.completed.append(item_id)
        except NotFoundError as error:
            # Deleted meanwhile, or a fault: the next run (which sees deletions) decides.
            updated = next(d[1] for d in context["deals"] if d[0] == item_id)
            self.missed.append(item_id)
            self.due.setdefault(_list_of(context), updated)
            self.logger.warning(
                "Stream '%s': %s %s not read, it stays due for the next run: %s",
                self.name,
                self.item_label,
                item_id,
                error,
            )

    @functools.cached_property
    def completed(self) -> list[int]:
        """The items of the current batch whose history was read whole."""
        return []

    def batch_done(self, context: Context, due: list[list[t.Any]]) -> None:
        """Start the next batch's list of items read."""
        self.completed.clear()

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
        """Per list, the oldest change time this run emits."""
        return {}

    def in_window(self, moment: str, context: Context | None) -> bool:
        """Whether a change at `moment` is this run's to emit."""
        assert context is not None
        since = self.changes_since.get(_list_of(context))
        return not (since and moment < since) and moment < context["until"]

    def probe_context(self, deal_id: int) -> dict[str, t.Any]:
        """The context of one history call."""
        return {self.parent_key: deal_id}

    @functools.cached_property
    def missed(self) -> list[int]:
        """The items whose history this run could not read."""
        return []

    def log_sync_costs(self) -> None:
        """Also count the items this run could not read."""
        if self.missed:
            self.logger.warning(
                "Stream '%s': %d %s(s) answered 404 twice and stay due for the next run: %s",
                self.name,
                len(self.missed),
                self.item_label,
                ", ".join(map(str, self.missed)),
            )
        super().log_sync_costs()


def change_text(value: t.Any) -> str | None:
    """A changed field's value as text: strings and numbers as they are, lists and objects JSON."""
    if value is None:
        return None
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


#: The dealChanges a deal's stage history is made of.
STAGE_CHANGES = frozenset({"stage_id", "pipeline_id", "status"})


class DealFlowStream(ItemHistoryStream):
    """Deal field changes: one `/v1/deals/{deal_id}/flow` read per updated deal (40 tokens).

    The same reads give `deal_stage_history` (a child stream: selected alone, the flow is read
    but only the stays are emitted) each deal's stage, pipeline and status changes.
    """

    name = "dealflow"
    path = "/v1/deals/{deal_id}/flow"
    primary_keys = ("id",)
    replication_key = "log_time"
    base_schema = schemas.DEALFLOW
    token_cost = 40
    extra_params = {"all_changes": "1", "items": "dealChange"}

    def watermark_holders(self) -> list[PipedriveStream]:
        """Whichever of dealflow and `deal_stage_history` are selected: the flow serves both."""
        children = t.cast("list[PipedriveStream]", self.child_streams)
        holders: list[PipedriveStream] = [self] if self.selected else []
        holders += [child for child in children if child.selected]
        return holders or [self]

    def read(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """The flows; the stage history's changes are kept aside, whatever the window."""
        keep = self.has_selected_descendents
        for row in super().read(context):
            data = row.get("data") or {}
            if (
                keep
                and row.get("object") == "dealChange"
                and data.get("field_key") in STAGE_CHANGES
            ):
                change = {
                    name: data.get(name) for name in ("id", "field_key", "old_value", "new_value")
                }
                change["time"] = to_rfc3339(row.get("timestamp"))
                self.stage_changes.setdefault(row["deal_id"], {})[change["id"]] = change
            yield row

    def generate_child_contexts(
        self, record: dict[str, t.Any], context: Context | None
    ) -> t.Iterable[Context | None]:
        """None per change: `deal_stage_history` gets a batch at a time (`batch_done`)."""
        return ()

    @functools.cached_property
    def stage_changes(self) -> dict[int, dict[t.Any, dict[str, t.Any]]]:
        """Per deal of the batch, its stage, pipeline and status changes by id."""
        return {}

    def batch_done(self, context: Context, due: list[list[t.Any]]) -> None:
        """Hand `deal_stage_history` the deals read whole, and the deleted ones."""
        if self.has_selected_descendents:
            read = set(self.completed)
            deals = [d for d in due if d[2] or d[0] in read]
            if deals:
                self._sync_children({"is_archived": context.get("is_archived"), "deals": deals})
            self.stage_changes.clear()
        super().batch_done(context, due)

    def post_process(
        self, row: dict[str, t.Any], context: Context | None = None
    ) -> dict[str, t.Any] | None:
        """A dealChange in the window as one flat record; anything else is not a change."""
        data = row.get("data")
        log_time = to_rfc3339(row.get("timestamp"))
        if row.get("object") != "dealChange" or not data or log_time is None:
            return None
        if not self.in_window(log_time, context):
            return None
        record = {column: data.get(column) for column in _DEAL_CHANGE_COLUMNS}
        record["deal_id"] = row["deal_id"]
        record["log_time"] = log_time
        for column in ("old_value", "new_value"):
            record[column] = change_text(data.get(column))
        # The API sends `[]` for "no additional data".
        record["additional_data"] = data.get("additional_data") or None
        return super().post_process(record, context)
