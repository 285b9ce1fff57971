"""What hangs off a deal: its products and installments (v2 lists) and its flow (v1 history)."""

from __future__ import annotations

import functools
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from tests.emulator.data import (
    CURRENCY_CODES,
    DAY,
    NOTE_PHRASES,
    SUBJECTS,
    Table,
    iso_date,
    rfc3339,
    v1_time,
)
from tests.emulator.fields import Generator, between, pick, value_generator

if TYPE_CHECKING:
    from tests.emulator.dataset import Dataset


class DealChildren(Table):
    """Rows attached to a share of the deals, laid out deal by deal so ids follow deal ids."""

    #: Share of deals with rows, and how many rows such a deal has.
    share: ClassVar[float] = 0.4
    per_deal: ClassVar[tuple[int, int]] = (1, 4)

    def __init__(self, dataset: Dataset, deals: int) -> None:
        rng = random.Random(f"{dataset.seed}:{self.entity}:layout")
        self.layout: list[int] = []
        for deal in range(1, deals + 1):
            if rng.random() < self.share:
                self.layout += [deal] * between(rng, *self.per_deal)
        super().__init__(dataset, len(self.layout))

    def of(self, deal_ids: Iterable[int]) -> list[int]:
        """Return the ids of the rows of these deals, ascending."""
        wanted = set(deal_ids)
        column, base = self.cols["deal_id"], self.id_base + 1
        return [rid for rid in self.ids() if column[rid - base] in wanted]


class DealProducts(DealChildren):
    """Products attached to deals (about 40% of deals have 1-4)."""

    entity = "dealProducts"
    columns = ("deal_id", "product_id", "order_nr")
    sortable: ClassVar[dict[str, str]] = {
        "id": "id",
        "deal_id": "deal_id",
        "add_time": "add_time",
        "update_time": "update_time",
        "order_nr": "order_nr",
    }

    def generate(self, n: int, now: int | None) -> dict[str, list[int]]:
        deals = self.dataset.deals
        rnd = self.rng.random
        layout = self.layout[len(self) : len(self) + n]
        added: list[int] = []
        updated: list[int] = []
        order: list[int] = []
        for p, deal in enumerate(layout):
            # Attached some time in the deal's life, edited at most when the deal last was.
            deal_add, deal_update = (
                deals.cols["add_time"][deal - 1],
                deals.cols["update_time"][deal - 1],
            )
            add = deal_add + int((deal_update - deal_add) * rnd() ** 2)
            added.append(add)
            updated.append(add + int((deal_update - add) * rnd()))
            order.append(1 if p == 0 or layout[p - 1] != deal else order[-1] + 1)
        return {
            "add_time": added,
            "update_time": updated,
            "deal_id": layout,
            "product_id": self._refs(n, self.dataset.refs.products),
            "order_nr": order,
        }

    def label(self, record_id: int) -> str:
        return self.dataset.products.label(self.cols["product_id"][self._pos(record_id)])

    def build(self, record_id: int, rng: random.Random) -> dict[str, Any]:
        pos = self._pos(record_id)
        added, updated = self._stamp(record_id)
        quantity = pick(rng, (1, 1, 2, 5, 10, 0.5))
        price = round(10 + rng.random() * 2000, 2)
        discount = pick(rng, (0, 0, 5, 10))
        discount_type = pick(rng, ("percentage", "amount"))
        gross = price * quantity
        net = gross * (1 - discount / 100) if discount_type == "percentage" else gross - discount
        recurring = rng.random() < 0.3
        return {
            "id": record_id,
            "sum": round(net, 2),
            "tax": pick(rng, (0, 9, 20, 24)),
            "deal_id": self.cols["deal_id"][pos],
            "name": self.label(record_id),
            "product_id": self.cols["product_id"][pos],
            "product_variation_id": None,
            "order_nr": self.cols["order_nr"][pos],
            "add_time": rfc3339(added),
            "update_time": rfc3339(updated),
            "comments": pick(rng, ("", "", "Rabatt für Mehrjahresvertrag", "Pilot pricing 🚀")),
            "currency": pick(rng, CURRENCY_CODES),
            "discount": discount,
            "discount_type": discount_type,
            "quantity": quantity,
            "item_price": price,
            "tax_method": pick(rng, ("exclusive", "inclusive", "none")),
            "is_enabled": rng.random() < 0.95,
            "billing_frequency": pick(rng, ("monthly", "annually")) if recurring else "one-time",
            "billing_frequency_cycles": pick(rng, (None, 12)) if recurring else None,
            "billing_start_date": iso_date(added + 30 * DAY) if recurring else None,
        }


class Installments(DealChildren):
    """Installments of deals (about 10% of deals have 2-6); they carry no timestamps."""

    entity = "dealInstallments"
    timestamps = False
    share = 0.1
    per_deal = (2, 6)
    columns = ("deal_id", "billing_date")
    sortable: ClassVar[dict[str, str]] = {
        "id": "id",
        "billing_date": "billing_date",
        "deal_id": "deal_id",
    }

    def generate(self, n: int, now: int | None) -> dict[str, list[int]]:
        deals = self.dataset.deals
        layout = self.layout[len(self) : len(self) + n]
        dates: list[int] = []
        for p, deal in enumerate(layout):
            first = deals.cols["add_time"][deal - 1] // DAY + 30
            dates.append(first if p == 0 or layout[p - 1] != deal else dates[-1] + 30)
        return {"deal_id": layout, "billing_date": dates}

    def build(self, record_id: int, rng: random.Random) -> dict[str, Any]:
        pos = self._pos(record_id)
        return {
            "id": record_id,
            "amount": round(50 + rng.random() * 5000, 2),
            "billing_date": iso_date(self.cols["billing_date"][pos] * DAY),
            "description": pick(rng, ("Setup fee", "Monthly instalment", "Lieferung", "前払い")),
            "deal_id": self.cols["deal_id"][pos],
        }


# --- the deal flow --------------------------------------------------------------------------

#: Standard deal fields a generated `dealChange` may be about; `touch` changes the title.
CHANGED_FIELDS = ("value", "user_id", "expected_close_date", "probability")
#: Stage, pipeline and status changes follow the deal's story (tests/emulator/stage_moves.py).
STANDARD_KEYS = frozenset({*CHANGED_FIELDS, "title", "stage_id", "pipeline_id", "status"})
#: Custom field types whose changes the flow shows (with `all_changes=1`).
CUSTOM_CHANGE_TYPES = frozenset({"varchar", "text", "int", "double", "enum", "date"})
#: Custom field types whose values are booleans, lists and objects: every other deal gets one
#: change of one of them (slot TYPED_SLOT), so the flow carries every JSON type. The flow's
#: `old_value` / `new_value` are untyped in the spec (its example has numbers).
TYPED_CHANGE_TYPES = ("boolean", "set", "monetary")
TYPED_SLOT = 6
#: dealChange ids of generated changes are deal_id * ID_STRIDE + k; touches count from here.
ID_STRIDE = 16
TOUCH_IDS = 10**9
USER_AGENT = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 Chrome/126.0"


@dataclass(frozen=True)
class Change:
    """One `dealChange`: a field's old and new value, when, by whom, from where."""

    id: int
    deal_id: int
    when: int
    field_key: str
    old_value: Any
    new_value: Any
    user_id: int
    source: str = "api"
    user_agent: str = "tap-pipedrive-tests"

    def item(self) -> dict[str, Any]:
        """Return the change as a flow item."""
        return _item(
            "dealChange",
            v1_time(self.when),
            {
                "id": self.id,
                "item_id": self.deal_id,
                "user_id": self.user_id,
                "field_key": self.field_key,
                "old_value": self.old_value,
                "new_value": self.new_value,
                "is_bulk_update_flag": None,
                "log_time": v1_time(self.when),
                "change_source": self.source,
                "change_source_user_agent": self.user_agent,
                "additional_data": [],
            },
        )


class DealFlow:
    """Every deal's flow: field changes, and its activities, notes, files and mail messages.

    Items are `{object, timestamp, data}` with v1 timestamps, newest first (the order of the
    deal's timeline in the app). Generated items are a function of the deal and the seed; each
    `touch` of a deal adds a `dealChange` of its title at the touch time.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.changes: dict[int, list[Change]] = {}
        self._next_id = TOUCH_IDS
        self._links: dict[str, tuple[int, dict[int, list[int]]]] = {}

    def record_touch(self, deal_ids: Iterable[int], when: int, titles: dict[int, str]) -> None:
        """Add a title dealChange at `when` to each deal; `titles` holds the old titles."""
        deals = self.dataset.deals
        for deal in deal_ids:
            owner = deals.cols["owner_id"][deal - 1]
            change = Change(
                self._next_id, deal, when, "title", titles[deal], deals.label(deal), owner
            )
            self._next_id += 1
            self.changes.setdefault(deal, []).append(change)

    def items(self, deal_id: int, all_changes: bool = True) -> list[dict[str, Any]]:
        """Return a deal's flow items, newest first; custom-field changes only if `all_changes`."""
        ds = self.dataset
        rng = random.Random(f"{ds.seed}:flow:{deal_id}")
        changes = self._generated_changes(deal_id, rng) + self._typed_change(deal_id)
        changes += self.changes.get(deal_id, [])
        changes += ds.stage_moves.changes(deal_id)
        result = [c.item() for c in changes if all_changes or c.field_key in STANDARD_KEYS]
        result += [
            _item("activity", a["add_time"], a)
            for a in map(self._activity, self._linked("activities", deal_id))
        ]
        result += [
            _item("note", note["add_time"], note)
            for note in (ds.notes.record(i) for i in self._linked("notes", deal_id))
        ]
        result += [
            _item("file", f["add_time"], f)
            for f in (ds.files.record(i) for i in self._linked("files", deal_id))
        ]
        result += self._mail(deal_id, rng)
        result.sort(key=lambda i: (i["timestamp"], i["object"], i["data"]["id"]), reverse=True)
        return result

    @functools.cached_property
    def _custom_draws(self) -> list[tuple[str, Generator]]:
        """Return (code, value generator) of the custom fields whose changes are generated."""
        ds = self.dataset
        return [
            (d.code, value_generator(d, ds.refs))
            for d in ds.custom_fields("deals")
            if d.type in CUSTOM_CHANGE_TYPES
        ]

    @functools.cached_property
    def _typed_draws(self) -> list[tuple[str, Generator]]:
        """Return (code, value generator) of the custom fields of `TYPED_CHANGE_TYPES`."""
        ds = self.dataset
        return [
            (d.code, value_generator(d, ds.refs))
            for d in ds.custom_fields("deals")
            if d.type in TYPED_CHANGE_TYPES
        ]

    def _typed_change(self, deal_id: int) -> list[Change]:
        """Every other deal's change of a boolean, set or monetary field (its own random
        stream: the other changes stay as they were)."""
        if deal_id % 2 or not self._typed_draws:
            return []
        deals = self.dataset.deals
        added, updated = deals.cols["add_time"][deal_id - 1], deals.cols["update_time"][deal_id - 1]
        rng = random.Random(f"{self.dataset.seed}:flow-typed:{deal_id}")
        key, draw = pick(rng, self._typed_draws)
        when = added + int((updated - added) * rng.random())
        source = pick(rng, ("app", "api", "mobile"))
        owner = deals.cols["owner_id"][deal_id - 1]
        old, new = draw(rng), draw(rng)
        return [
            Change(
                deal_id * ID_STRIDE + TYPED_SLOT, deal_id, when, key, old, new, owner, source,
                USER_AGENT,
            )
        ]  # fmt: skip

    def _generated_changes(self, deal_id: int, rng: random.Random) -> list[Change]:
        ds = self.dataset
        deals = ds.deals
        added, updated = deals.cols["add_time"][deal_id - 1], deals.cols["update_time"][deal_id - 1]
        owner = deals.cols["owner_id"][deal_id - 1]
        custom = self._custom_draws
        changes = []
        for k in range(between(rng, 1, 6)):
            when = added + int((updated - added) * rng.random())
            if custom and rng.random() < 0.35:
                key, draw = pick(rng, custom)
                values = [draw(rng), draw(rng)]
            else:
                key = pick(rng, CHANGED_FIELDS)
                values = _standard_values(key, rng, ds)
            source = pick(rng, ("app", "app", "api", "mobile"))
            changes.append(
                Change(
                    deal_id * ID_STRIDE + k,
                    deal_id,
                    when,
                    key,
                    values[0],
                    values[1],
                    owner,
                    source,
                    USER_AGENT,
                )
            )
        return changes

    def _activity(self, activity_id: int) -> dict[str, Any]:
        """Return an activity as the flow shows it (v1 names and timestamps)."""
        record = self.dataset.activities.record(activity_id)
        return {
            "id": record["id"],
            "user_id": record["owner_id"],
            "done": record["done"],
            "type": record["type"],
            "subject": record["subject"],
            "due_date": record["due_date"],
            "due_time": (record["due_time"] or "")[:5],
            "duration": (record["duration"] or "")[:5],
            "busy_flag": record["busy"],
            "add_time": _v1(record["add_time"]),
            "update_time": _v1(record["update_time"]),
            "marked_as_done_time": _v1(record["marked_as_done_time"]) or "",
            "public_description": record["public_description"],
            "location": (record["location"] or {}).get("value"),
            "org_id": record["org_id"],
            "person_id": record["person_id"],
            "deal_id": record["deal_id"],
            "lead_id": record["lead_id"],
            "project_id": record["project_id"],
            "active_flag": True,
            "note": record["note"],
            "created_by_user_id": record["creator_user_id"],
            "assigned_to_user_id": record["owner_id"],
        }

    def _mail(self, deal_id: int, rng: random.Random) -> list[dict[str, Any]]:
        deals = self.dataset.deals
        added, updated = deals.cols["add_time"][deal_id - 1], deals.cols["update_time"][deal_id - 1]
        items = []
        for k in range(pick(rng, (0, 0, 1, 2))):
            when = v1_time(added + int((updated - added) * rng.random()))
            items.append(
                _item(
                    "mailMessage",
                    when,
                    {
                        "id": deal_id * 4 + k,
                        "subject": f"Re: {pick(rng, SUBJECTS)}",
                        "snippet": pick(rng, NOTE_PHRASES),
                        "from": [{"id": 1, "email_address": "zoe@customer.example", "name": "Zoë"}],
                        "to": [{"id": 2, "email_address": "sales@acme.example", "name": "Sales"}],
                        "has_attachments_flag": rng.random() < 0.3,
                        "deal_id": deal_id,
                        "add_time": when,
                        "update_time": when,
                    },
                )
            )
        return items

    def _linked(self, entity: str, deal_id: int) -> list[int]:
        """Return the ids of an entity's records linked to a deal (an index per table version)."""
        table = self.dataset.table(entity)
        cached = self._links.get(entity)
        if cached is None or cached[0] != table.version:
            index: dict[int, list[int]] = {}
            column, base = table.cols["deal_id"], table.id_base + 1
            for rid in table.ids():
                index.setdefault(column[rid - base], []).append(rid)
            cached = (table.version, index)
            self._links[entity] = cached
        return cached[1].get(deal_id, [])


def _item(kind: str, timestamp: str | None, data: dict[str, Any]) -> dict[str, Any]:
    return {"object": kind, "timestamp": timestamp, "data": data}


def _v1(rfc: str | None) -> str | None:
    """Turn a v2 `2025-03-04T05:06:07Z` into v1's `2025-03-04 05:06:07`."""
    return rfc[:19].replace("T", " ") if rfc else None


def _standard_values(key: str, rng: random.Random, ds: Dataset) -> list[Any]:
    """Return (old, new) values of a standard deal field."""
    if key == "value":
        return [between(rng, 0, 5000), between(rng, 5000, 90_000)]
    if key == "user_id":
        return [pick(rng, ds.user_ids), pick(rng, ds.user_ids)]
    if key == "expected_close_date":
        return [None, iso_date(between(rng, 19_500, 20_600) * DAY)]
    return [None, 5 * between(rng, 1, 20)]
