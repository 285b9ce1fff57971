"""Per-item streams, one call per deal or product read this run, with their schemas.

Participants, mail messages and discounts are read per deal; variations per product.

They cost tokens for every item read again, so they run after the lists, under
`max_tokens_per_run`. When the limit stops one, the items it did not read are kept in its state
(`pending`: their ids, per deals list) and read first by the next run, before the list is read
and without listing them again; the watermark moves past them meanwhile.
"""

from __future__ import annotations

import functools
import typing as t

import singer_sdk.typing as th

from pipedrive_api.errors import NotFoundError
from pipedrive_api.times import to_rfc3339
from tap_pipedrive.lists import V1Stream, V2Stream
from tap_pipedrive.schemas import CONTACT_LIST
from tap_pipedrive.streams.crm import ProductsStream
from tap_pipedrive.streams.deals import DealChildStream, UpdatedItemsChild, _list_of

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

# --------------------------------------------------------------------------------------------
# Schemas
# --------------------------------------------------------------------------------------------

DEAL_PARTICIPANTS = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True, description="The participation's id"),
    th.Property("deal_id", th.IntegerType),
    th.Property("person_id", th.IntegerType, description="The participating person"),
    th.Property("person_name", th.StringType),
    th.Property("person_email", CONTACT_LIST, description="The person's email addresses"),
    th.Property("add_time", th.DateTimeType, description="When the person was added"),
    th.Property("active_flag", th.BooleanType),
    th.Property("added_by_user_id", th.IntegerType, description="The user who added them"),
    th.Property("related_item_type", th.StringType, description="Always `deal` here"),
    th.Property("related_item_id", th.IntegerType, description="The deal's id"),
).to_dict()

MAIL_PARTY = th.ArrayType(
    th.ObjectType(
        th.Property("id", th.IntegerType),
        th.Property("email_address", th.StringType),
        th.Property("name", th.StringType),
        th.Property("linked_person_id", th.IntegerType),
        th.Property("linked_person_name", th.StringType),
        th.Property("mail_message_party_id", th.IntegerType),
    )
)

#: Mail message flags Pipedrive sends as 0/1: booleans here.
MAIL_FLAGS = (
    "mail_link_tracking_enabled_flag", "read_flag", "draft_flag", "synced_flag", "deleted_flag",
    "has_body_flag", "sent_flag", "sent_from_pipedrive_flag", "smart_bcc_flag",
    "has_attachments_flag", "has_inline_attachments_flag", "has_real_attachments_flag",
)  # fmt: skip

DEAL_MAIL_MESSAGES = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True, description="The mail message's id"),
    th.Property("deal_id", th.IntegerType),
    th.Property("from", MAIL_PARTY),
    th.Property("to", MAIL_PARTY),
    th.Property("cc", MAIL_PARTY),
    th.Property("bcc", MAIL_PARTY),
    th.Property("subject", th.StringType),
    th.Property("snippet", th.StringType, description="The start of the body, as text"),
    th.Property("body", th.StringType, description="Only with `mail_include_body`"),
    th.Property("body_url", th.StringType),
    th.Property("message_time", th.DateTimeType, description="When it was sent or received"),
    th.Property("add_time", th.DateTimeType),
    th.Property("update_time", th.DateTimeType),
    th.Property("timestamp", th.DateTimeType),
    th.Property("user_id", th.IntegerType, description="The user whose mailbox holds it"),
    th.Property("mail_thread_id", th.IntegerType),
    th.Property("account_id", th.StringType, description="The connected mail account"),
    th.Property("mail_tracking_status", th.StringType, description="`opened`, `not opened`"),
    *(th.Property(flag, th.BooleanType) for flag in MAIL_FLAGS),
    th.Property("draft", th.StringType),
    th.Property("external_deleted_flag", th.BooleanType),
    th.Property("nylas_id", th.StringType),
    th.Property("s3_bucket", th.StringType),
    th.Property("s3_bucket_path", th.StringType),
    th.Property("mua_message_id", th.StringType),
    th.Property("template_id", th.IntegerType),
    th.Property("item_type", th.StringType),
    th.Property("company_id", th.IntegerType),
).to_dict()

DEAL_DISCOUNTS = th.PropertiesList(
    th.Property("id", th.StringType, required=True, description="The discount's id (a UUID)"),
    th.Property("deal_id", th.IntegerType),
    th.Property("type", th.StringType, description="`percentage` or `amount`"),
    th.Property("amount", th.NumberType),
    th.Property("description", th.StringType, description="The discount's name"),
    th.Property("created_at", th.DateTimeType),
    th.Property("created_by", th.IntegerType),
    th.Property("updated_at", th.DateTimeType),
    th.Property("updated_by", th.IntegerType),
).to_dict()

PRODUCT_VARIATIONS = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True),
    th.Property("product_id", th.IntegerType),
    th.Property("name", th.StringType),
    th.Property(
        "prices",
        th.ArrayType(
            th.ObjectType(
                th.Property("product_variation_id", th.IntegerType),
                th.Property("currency", th.StringType),
                th.Property("price", th.NumberType),
                th.Property("cost", th.NumberType),
                th.Property("direct_cost", th.NumberType),
                th.Property("notes", th.StringType),
            )
        ),
    ),
).to_dict()

# --------------------------------------------------------------------------------------------
# Streams
# --------------------------------------------------------------------------------------------


class DealItemStream(DealChildStream):
    """One call per deal (`{deal_id}` in the path) for the batch's deals, plus those pending.

    `pending` (in the state, per deals list) holds the ids of the deals `max_tokens_per_run`
    left undone: the next run reads them first, before the deals list, and the watermark moves
    past the batches anyway, so the list is not read again for them. A deal answering 404 twice
    is deleted, or a fault: it stays pending once; read from pending, it is taken as gone.
    """

    keeps_pending = True

    def has_pending(self, context: Context | None) -> bool:
        """Whether this deals list has deals left undone by an earlier run."""
        return _list_of(context) not in self._started and bool(self._pending_of(context))

    def _pending_of(self, context: Context | None) -> list[int]:
        return list((self.stream_state.get("pending") or {}).get(_list_of(context), []))

    @functools.cached_property
    def _started(self) -> set[str]:
        """The deals lists whose pending deals this run has taken on."""
        return set()

    @functools.cached_property
    def _undone(self) -> dict[str, list[int]]:
        """Per deals list, the deals of this run not read yet (pending for the next run)."""
        return {}

    @functools.cached_property
    def _done(self) -> set[int]:
        """The deals whose rows this run has read whole."""
        return set()

    def deals_to_read(self, context: Context) -> list[list[t.Any]]:
        """The pending deals first (on a list's first batch of the run), then the batch's."""
        key = _list_of(context)
        pending = [] if key in self._started else self._pending_of(context)
        self._started.add(key)
        self._from_pending = frozenset(pending)
        listed = super().deals_to_read(context)
        fresh = [d for d in listed if d[0] not in self._from_pending]
        return [[deal, None, False] for deal in pending] + fresh

    def advance(self, context: Context, deals: list[list[t.Any]]) -> None:
        """Keep the deals not read as pending; move the watermark past the batch."""
        key = _list_of(context)
        undone = self._undone.setdefault(key, [])
        undone += [d[0] for d in deals if d[0] not in self._done]
        pending = self.stream_state.setdefault("pending", {})
        pending[key] = undone
        if not undone:
            del pending[key]
        if not pending:
            del self.stream_state["pending"]
        if context["deals"]:
            marks = self.stream_state.setdefault("deals_updated_since", {})
            marks[key] = context["deals"][-1][1]

    def probe_context(self, deal_id: int) -> dict[str, t.Any]:
        """The context of one call about one deal."""
        return {"deal_id": deal_id}

    def read(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """Each deal's rows, with `deal_id`; a deal is done once all its pages are read."""
        assert context is not None
        for deal, rows in self.reads([{"deal_id": d[0]} for d in context["deals"]]):
            deal_id = deal["deal_id"]
            try:
                for row in rows:
                    yield self.with_deal(row, deal_id)
            except NotFoundError as error:
                # Once more, on its own: a one-off 404 is not a deleted deal.
                try:
                    for row in self.request_records(deal):
                        yield self.with_deal(row, deal_id)
                except NotFoundError:
                    self._not_found(deal_id, error)
                    continue
            self._done.add(deal_id)

    def _not_found(self, deal_id: int, error: Exception) -> None:
        """A deal answering 404 twice: pending for the next run, or gone if it was pending."""
        if deal_id in self._from_pending:
            self._done.add(deal_id)
            self.logger.warning(
                "Stream '%s': deal %s is gone (404 again), its rows are not read: %s",
                self.name,
                deal_id,
                error,
            )
        else:
            self.logger.warning(
                "Stream '%s': deal %s not read, it is read first in the next run: %s",
                self.name,
                deal_id,
                error,
            )

    #: The deals of this batch that came from `pending`.
    _from_pending: frozenset[int] = frozenset()

    @staticmethod
    def with_deal(row: dict[str, t.Any], deal_id: int) -> dict[str, t.Any]:
        """The row with the deal it was read for."""
        row["deal_id"] = deal_id
        return row


class DealParticipantsStream(DealItemStream, V1Stream):
    """The persons taking part in each deal read this run."""

    name = "deal_participants"
    path = "/v1/deals/{deal_id}/participants"
    primary_keys = ("id",)
    base_schema = DEAL_PARTICIPANTS
    token_cost = 10

    def post_process(
        self, row: dict[str, t.Any], context: Context | None = None
    ) -> dict[str, t.Any] | None:
        """Flatten the person (`person_id.value`, name, emails) and the adding user to ids."""
        person = row.pop("person_id", None) or {}
        added_by = row.get("added_by_user_id")
        if isinstance(added_by, dict):
            added_by = added_by.get("id", added_by.get("value"))
        row.update(
            person_id=person.get("value"),
            person_name=person.get("name"),
            person_email=person.get("email"),
            added_by_user_id=added_by,
        )
        for nested in ("person", "related_item_data"):
            row.pop(nested, None)
        return super().post_process(row, context)


class DealMailMessagesStream(DealItemStream, V1Stream):
    """The mail messages linked to each deal read this run (off by default: people's mail)."""

    name = "deal_mail_messages"
    path = "/v1/deals/{deal_id}/mailMessages"
    primary_keys = ("id",)
    base_schema = DEAL_MAIL_MESSAGES
    token_cost = 20
    selected_by_default = False

    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        """Ask for the bodies only where `mail_include_body` says so."""
        params = super().get_url_params(context, next_page_token)
        if self.config.get("mail_include_body"):
            params["include_body"] = 1
        return params

    def post_process(
        self, row: dict[str, t.Any], context: Context | None = None
    ) -> dict[str, t.Any] | None:
        """The message itself (the item's `data`), its 0/1 flags as booleans."""
        message = row.get("data")
        if row.get("object") != "mailMessage" or not isinstance(message, dict):
            return None
        message["deal_id"] = row["deal_id"]
        for flag in MAIL_FLAGS:
            if message.get(flag) is not None:
                message[flag] = bool(message[flag])
        return super().post_process(message, context)


class DealDiscountsStream(DealItemStream, V2Stream):
    """The additional discounts of each deal read this run."""

    name = "deal_discounts"
    path = "/api/v2/deals/{deal_id}/discounts"
    primary_keys = ("id",)
    base_schema = DEAL_DISCOUNTS
    token_cost = 10

    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        """None: the endpoint answers every discount at once and takes no parameter."""
        return {}


class ProductVariationsStream(UpdatedItemsChild, V2Stream):
    """The variations of each product read this run: one call per product.

    Its own watermark (`products_updated_since`) holds the products list back, as the deal
    children's do the deals list. The list's read starts at a bookmark second (inclusive), so
    every run that reads products meets at least one: the products `max_tokens_per_run` (or a
    failure) left undone in an earlier run (`pending` in the state) are read first then.
    """

    name = "product_variations"
    path = "/api/v2/products/{product_id}/variations"
    primary_keys = ("id",)
    base_schema = PRODUCT_VARIATIONS
    parent_stream_type = ProductsStream
    token_cost = 10

    _started = False

    def watermark(self) -> str | None:
        """The newest product `update_time` whose variations were read (or left pending)."""
        mark = self.stream_state.get("products_updated_since") or self.config.get("start_date")
        return to_rfc3339(mark) if mark else None

    @functools.cached_property
    def _undone(self) -> list[int]:
        """The products of this run not read yet (pending for the next run)."""
        return []

    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """The pending products' variations first (on the run's first product), then this one's.

        The watermark then moves to the product's `update_time`. A refused stream keeps its
        watermark (and its pending products): the products list is read from there again, so
        the variations are caught up once the plan allows them.
        """
        assert context is not None
        pending = [] if self._started else list(self.stream_state.get("pending", []))
        self._started = True
        todo = list(dict.fromkeys([*pending, context["product_id"]]))
        for position, product in enumerate(todo):
            self._from_pending = product in pending
            yield from super().get_records({"product_id": product})
            if self.access_denied:
                self._undone.extend(p for p in todo[position:] if p in pending)
                break
            if self.failure or self.client.ledger.stopped:
                self._undone.append(product)
        self.stream_state.pop("pending", None)
        if self._undone:
            self.stream_state["pending"] = list(self._undone)
        updated = context.get("update_time")
        if updated and not self.access_denied and updated > (self.watermark() or ""):
            self.stream_state["products_updated_since"] = updated

    _from_pending = False

    def read(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """A product's variations; a product answering 404 twice is gone, and so are they."""
        try:
            yield from self.request_records(context)
        except NotFoundError:
            try:  # once more: a one-off 404 is not a deleted product
                yield from self.request_records(context)
            except NotFoundError as error:
                self.logger.warning(
                    "Stream '%s': product %s is gone (404), its variations are not read: %s",
                    self.name,
                    (context or {}).get("product_id"),
                    error,
                )
