"""What the API lists per deal or per product, one call each: participants, mail, discounts,
product variations (`/v1/deals/{id}/participants`, `/v1/deals/{id}/mailMessages`,
`/api/v2/deals/{id}/discounts`, `/api/v2/products/{id}/variations`).

Each item's rows are a function of (seed, item id), drawn when asked; rows added by a test
(`add_participant`, `add_mail_message`, `add_discount`) come after them. `item_handlers`
serves them.
"""

from __future__ import annotations

import random
import uuid
from typing import TYPE_CHECKING, Any

from tests.emulator.data import CURRENCY_CODES, NOTE_PHRASES, SUBJECTS, rfc3339, v1_time
from tests.emulator.fields import between, pick

if TYPE_CHECKING:
    from tests.emulator.dataset import Dataset

#: Row ids are item id * STRIDE + k, so they follow item ids and never collide.
STRIDE = 8
#: Added rows count from here (k is below STRIDE for generated ones).
ADDED = 5


class DealExtras:
    """Participants, mail messages and discounts of every deal; variations of every product."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        #: Rows added through `add_*`, per kind and item id.
        self.added: dict[str, dict[int, list[dict[str, Any]]]] = {
            "participants": {},
            "mail": {},
            "discounts": {},
        }

    # --- lookups: every row of one item, in id order ---
    def participants(self, deal_id: int) -> list[dict[str, Any]]:
        """The participants of a deal (0 to 3 generated, then the added ones)."""
        rng = self._rng("participants", deal_id)
        rows = [self._participant(deal_id, deal_id * STRIDE + k, rng) for k in range(_count(rng))]
        return rows + self.added["participants"].get(deal_id, [])

    def mail_messages(self, deal_id: int, include_body: bool = False) -> list[dict[str, Any]]:
        """A deal's mail messages as list items (`{object, timestamp, data}`), oldest first."""
        rng = self._rng("mail", deal_id)
        rows = [self._mail(deal_id, deal_id * STRIDE + k, rng) for k in range(_count(rng))]
        rows += self.added["mail"].get(deal_id, [])
        items = []
        for row in rows:
            data = dict(row)
            if not include_body:
                data.pop("body")
            # The item's own timestamp is v1's `YYYY-MM-DD HH:MM:SS`, as the spec's example has it.
            stamp = data["timestamp"].replace("T", " ").removesuffix("Z")
            items.append({"object": "mailMessage", "timestamp": stamp, "data": data})
        return items

    def discounts(self, deal_id: int) -> list[dict[str, Any]]:
        """A deal's additional discounts (about a quarter of deals have one or two)."""
        rng = self._rng("discounts", deal_id)
        count = between(rng, 1, 2) if rng.random() < 0.25 else 0
        rows = [self._discount(deal_id, rng) for _ in range(count)]
        return rows + self.added["discounts"].get(deal_id, [])

    def variations(self, product_id: int) -> list[dict[str, Any]]:
        """A product's variations (about 40% of products have 1 to 4)."""
        rng = self._rng("variations", product_id)
        count = between(rng, 1, 4) if rng.random() < 0.4 else 0
        name = self.dataset.products.label(product_id)
        rows = []
        for k in range(count):
            variation = product_id * STRIDE + k
            prices = [
                {
                    "product_variation_id": variation,
                    "price": round(5 + rng.random() * 500, 2),
                    "currency": currency,
                    "cost": round(rng.random() * 100, 2),
                    "direct_cost": round(rng.random() * 50, 2),
                    "notes": pick(rng, ("", "Rabatt", "Volume tier 🚀")),
                }
                for currency in sorted(set(rng.sample(CURRENCY_CODES, between(rng, 1, 2))))
            ]
            size = pick(rng, ("S", "M", "L", "XL", "Größe 42", "大"))
            rows.append(
                {
                    "id": variation,
                    "name": f"{name} {size}",
                    "product_id": product_id,
                    "prices": prices,
                }
            )
        return rows

    def rows(self, stream: str) -> list[dict[str, Any]]:
        """Every row a stream of the tap reads: of each deal not deleted, of each product."""
        ds = self.dataset
        with ds.lock:
            if stream == "product_variations":
                products = ds.products
                return [v for p in products.ids() for v in self.variations(p)]
            deals = [d for d in ds.deals.ids() if not ds.deals.cols["deleted"][d - 1]]
            if stream == "deal_mail_messages":
                return [item["data"] for d in deals for item in self.mail_messages(d)]
            per_deal = {"deal_participants": self.participants, "deal_discounts": self.discounts}
            return [row for d in deals for row in per_deal[stream](d)]

    # --- edits (callers hold the dataset's lock) ---
    def add_participant(self, deal_id: int, person_id: int, when: int) -> int:
        """Add a person to a deal's participants at `when`; return the participant's id."""
        rows = self.added["participants"].setdefault(deal_id, [])
        rid = deal_id * STRIDE + ADDED + len(rows)
        row = self._participant(deal_id, rid, self._rng("participants", rid), person_id, when)
        rows.append(row)
        return rid

    def add_mail_message(self, deal_id: int, when: int) -> int:
        """Link a new mail message to a deal at `when`; return its id."""
        rows = self.added["mail"].setdefault(deal_id, [])
        rid = deal_id * STRIDE + ADDED + len(rows)
        rows.append(self._mail(deal_id, rid, self._rng("mail", rid), when))
        return rid

    def add_discount(self, deal_id: int, when: int) -> str:
        """Add a discount to a deal at `when`; return its id."""
        row = self._discount(deal_id, self._rng("discounts", -deal_id * 1000 - 1), when)
        self.added["discounts"].setdefault(deal_id, []).append(row)
        return str(row["id"])

    # --- rows ---
    def _rng(self, kind: str, item: int) -> random.Random:
        return random.Random(f"{self.dataset.seed}:{kind}:{item}")

    def _deal_moment(self, deal_id: int, rng: random.Random) -> int:
        deals = self.dataset.deals
        added, updated = deals.cols["add_time"][deal_id - 1], deals.cols["update_time"][deal_id - 1]
        return added + int((updated - added) * rng.random())

    def _participant(
        self,
        deal_id: int,
        rid: int,
        rng: random.Random,
        person_id: int | None = None,
        when: int | None = None,
    ) -> dict[str, Any]:
        ds = self.dataset
        persons = ds.persons
        person_id = person_id or between(rng, 1, len(persons))
        person = persons.record(person_id)
        added = v1_time(when if when is not None else self._deal_moment(deal_id, rng))
        user_id = pick(rng, ds.user_ids)
        # The spec's example: the user who added the participant, as an object.
        user = {"id": user_id, "name": ds.users.label(user_id), "email": ds.users.email(user_id),
                "has_pic": 0, "pic_hash": None, "active_flag": True, "value": user_id}  # fmt: skip
        return {
            "id": rid,
            "person_id": {
                "active_flag": True,
                "name": person["name"],
                "email": person["emails"],
                "phone": person["phones"],
                "owner_id": person["owner_id"],
                "value": person_id,
            },
            "add_time": added,
            "active_flag": True,
            "related_item_data": {"deal_id": deal_id, "title": ds.deals.label(deal_id)},
            "person": {
                "id": person_id,
                "name": person["name"],
                "email": person["emails"],
                "phone": person["phones"],
                "active_flag": True,
            },
            "added_by_user_id": user,
            "related_item_type": "deal",
            "related_item_id": deal_id,
        }

    def _mail(
        self, deal_id: int, rid: int, rng: random.Random, when: int | None = None
    ) -> dict[str, Any]:
        ds = self.dataset
        moment = when if when is not None else self._deal_moment(deal_id, rng)
        person = between(rng, 1, len(ds.persons))
        customer = ds.persons.record(person)
        address = (customer["emails"] or [{"value": f"person{person}@example.com"}])[0]["value"]
        owner = ds.deals.cols["owner_id"][deal_id - 1]
        them = {
            "id": rid * 4 + 1,
            "email_address": address,
            "name": customer["name"],
            "linked_person_id": person,
            "linked_person_name": customer["name"],
            "mail_message_party_id": rid * 4 + 1,
        }
        us = {
            "id": rid * 4 + 2,
            "email_address": ds.users.email(owner),
            "name": ds.users.label(owner),
            "mail_message_party_id": rid * 4 + 2,
        }
        incoming = rng.random() < 0.5
        stamp = rfc3339(moment)
        flag = lambda share: int(rng.random() < share)  # noqa: E731 - 0/1 as the API sends them
        return {
            "id": rid,
            "from": [them if incoming else us],
            "to": [us if incoming else them],
            "cc": [],
            "bcc": [],
            "body_url": f"https://api.pipedrive.example/v1/mailbox/mailMessages/{rid}/body",
            "body": f"<p>{pick(rng, NOTE_PHRASES)}</p>",
            "account_id": f"acct{owner}",
            "user_id": owner,
            "mail_thread_id": rid,
            "subject": f"Re: {pick(rng, SUBJECTS)}",
            "snippet": pick(rng, NOTE_PHRASES),
            "mail_tracking_status": pick(rng, ("opened", "not opened", None)),
            "mail_link_tracking_enabled_flag": flag(0.3),
            "read_flag": flag(0.8),
            "draft": "",
            "draft_flag": 0,
            "synced_flag": 1,
            "deleted_flag": 0,
            "has_body_flag": 1,
            "sent_flag": int(not incoming),
            "sent_from_pipedrive_flag": int(not incoming and rng.random() < 0.5),
            "smart_bcc_flag": flag(0.1),
            "message_time": stamp,
            "add_time": stamp,
            "update_time": stamp,
            "has_attachments_flag": flag(0.3),
            "has_inline_attachments_flag": 0,
            "has_real_attachments_flag": flag(0.2),
            "nylas_id": f"nylas{rid:08x}",
            "s3_bucket": "pipedrive-mail-emulated",
            "s3_bucket_path": f"mail/{owner}/{rid}/body",
            "external_deleted_flag": False,
            "mua_message_id": f"{rid:x}@mailer.example",
            "template_id": pick(rng, (1, 2, 3)),
            "timestamp": stamp,
            "item_type": "mailMessage",
            "company_id": 1,
        }

    def _discount(
        self, deal_id: int, rng: random.Random, when: int | None = None
    ) -> dict[str, Any]:
        ds = self.dataset
        moment = when if when is not None else self._deal_moment(deal_id, rng)
        kind = pick(rng, ("percentage", "amount"))
        user = pick(rng, ds.user_ids)
        return {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "type": kind,
            "amount": float(pick(rng, (5, 10, 15))) if kind == "percentage" else 250.0,
            "description": pick(rng, ("Loyalty", "Early bird", "Mengenrabatt", "割引")),
            "deal_id": deal_id,
            "created_at": rfc3339(moment),
            "created_by": user,
            "updated_at": rfc3339(moment),
            "updated_by": user,
        }


def _count(rng: random.Random) -> int:
    """Rows of one deal: none for about half of them, else 1 to 3."""
    return pick(rng, (0, 0, 1, 1, 2, 3))
