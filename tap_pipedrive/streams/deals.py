"""Deals, and what hangs off them: products and installments (change history: `flow.py`).

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

from pipedrive_api import endpoints
from pipedrive_api.errors import NotFoundError, RunStoppingError, TokenLimitReached
from pipedrive_api.times import to_rfc3339
from tap_pipedrive import schemas
from tap_pipedrive.client import STREAM_ERRORS, PipedriveStream
from tap_pipedrive.lists import V2Stream

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


class UpdatedItemsChild(PipedriveStream):
    """A child stream read for the parent items updated since a watermark, never as a table.

    Its watermark over the parent list is its state (a replication key, where there is one,
    too), one for the stream rather than one per batch; a read holds the rows of the updated
    items only, so it never sends ACTIVATE_VERSION.
    """

    state_partitioning_keys: t.ClassVar[list[str]] = []
    is_sorted = False
    windowed = False

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        # Said in the catalog: read for the items updated since the watermark.
        self.forced_replication_method = REPLICATION_INCREMENTAL

    @property
    def emit_activate_version_messages(self) -> bool:
        """Never: a read holds the rows of the updated items only, not the whole table."""
        return False

    def _increment_stream_state(
        self, latest_record: dict[str, t.Any], *, context: Context | None = None
    ) -> None:
        """The watermark is the state; a replication key, where there is one, too."""
        if self.replication_key:
            super()._increment_stream_state(latest_record, context=context)


class DealChildStream(UpdatedItemsChild):
    """A stream read per batch of updated deals, with its own watermark over the deals lists."""

    parent_stream_type: type[BatchingStream] = DealsStream

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
