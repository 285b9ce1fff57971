"""Change history read per updated item: the base of `dealflow` and the changelogs, and dealflow.

Each item's history comes whole on every call; only the changes from where the last run stopped
are emitted (see `ItemHistoryStream`). The same flow reads give `deal_stage_history`.
"""

from __future__ import annotations

import functools
import json
import typing as t

from pipedrive_api.errors import NotFoundError
from pipedrive_api.times import to_rfc3339
from tap_pipedrive import schemas
from tap_pipedrive.client import PipedriveStream
from tap_pipedrive.lists import V1Stream
from tap_pipedrive.streams.deals import DealChildStream, _list_of

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


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
    """A changed field's value as text: a string as it is, any other value as its JSON."""
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


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
