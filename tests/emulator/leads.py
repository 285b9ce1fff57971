"""Leads (v1 shape): UUID ids, millisecond timestamps, deal custom fields as top-level keys."""

from __future__ import annotations

import functools
import random
from typing import Any, ClassVar

from tests.emulator.data import NULL, Table, archived_flags, iso_date, iso_millis, mix
from tests.emulator.fields import V1_FIELD_TYPES, between, pick

SOURCES = ("Manually created", "Web forms", "Prospector", "Leadbooster", "Live chat", "API")
ORIGINS = ("ManuallyCreated", "WebForms", "Prospector", "LeadBooster", "LiveChat", "API")


def uuid_from(salt: int, number: int) -> str:
    """Return a version-4-looking UUID that is a pure function of (salt, number)."""
    high, low = mix(salt, number), mix(~salt, number)
    raw = f"{high:016x}{low:016x}"
    return f"{raw[:8]}-{raw[8:12]}-4{raw[13:16]}-a{raw[17:20]}-{raw[20:]}"


def v1_custom_values(values: dict[str, Any], types: dict[str, str]) -> dict[str, Any]:
    """Flatten v2 `custom_fields` values into v1 top-level keys, as leads carry them.

    The leadFields description in the v1 spec: a monetary field `k` holds the amount and
    `k_currency` the currency; a date or time range holds its start in `k` and its end in
    `k_until`; a time or time range its time zone in `k_timezone_id` and `k_timezone_name` (as
    v1 deals do). Other types keep their v2 shapes (the spec says no more). Unset values are
    left out ("it won't appear in the response").
    """
    flat: dict[str, Any] = {}
    for code, value in values.items():
        kind = types.get(code)
        if value is None or kind is None:
            continue
        if kind == "monetary":
            flat[code], flat[f"{code}_currency"] = value["value"], value["currency"]
        elif kind in ("daterange", "timerange", "time"):
            flat.update(
                {code if part == "value" else f"{code}_{part}": v for part, v in value.items()}
            )
        else:
            flat[code] = value
    return flat


class Leads(Table):
    """Leads: about 10% archived (listed only by `/leads/archived`).

    Rows have integer ids inside the emulator; the API shows each as a UUID string
    (`public_id`). Times are kept in milliseconds because leads show them, and records sharing
    a second share its milliseconds too, so bookmarks meet the same clusters as elsewhere.
    """

    entity = "leads"
    unit = 1000
    columns = ("owner_id", "creator_id", "person_id", "organization_id", "archived")
    sortable: ClassVar[dict[str, str]] = {
        "id": "public_id",
        "title": "label",
        "owner_id": "owner_id",
        "creator_id": "creator_id",
        "add_time": "add_time",
        "update_time": "update_time",
    }
    ARCHIVED_SHARE = 0.10

    def generate(self, n: int, now: int | None) -> dict[str, list[int]]:
        refs = self.dataset.refs
        archived = archived_flags(self, n, now, self.ARCHIVED_SHARE)
        if now is None:
            columns = self._times(n, None, apart=[p for p in range(n) if archived[p]])
            for name in ("add_time", "update_time"):
                columns[name] = [s * 1000 + mix(self.salt, s) % 1000 for s in columns[name]]
        else:
            columns = {"add_time": [now] * n, "update_time": [now] * n}
        person = self._refs(n, refs.persons, 0.3)
        org = self._refs(n, refs.orgs, 0.4)
        for p in range(n):
            if person[p] == NULL and org[p] == NULL:
                person[p] = 1 + p % refs.persons
        columns.update(
            owner_id=self._users(n),
            creator_id=self._users(n),
            person_id=person,
            organization_id=org,
            archived=archived,
        )
        return columns

    def public_id(self, record_id: int) -> str:
        return uuid_from(self.salt, record_id)

    def sort_key(self, record_id: int, field: str) -> Any:
        if self.sortable[field] == "public_id":
            return self.public_id(record_id)
        return super().sort_key(record_id, field)

    def label(self, record_id: int) -> str:
        ds = self.dataset
        person, org = self.get(record_id, "person_id"), self.get(record_id, "organization_id")
        who = ds.organizations.label(org) if org is not None else ds.persons.label(person or 1)
        return self._edited(record_id, f"{who} lead")

    def build(self, record_id: int, rng: random.Random) -> dict[str, Any]:
        ds = self.dataset
        pos = self._pos(record_id)
        added, updated = self._stamp(record_id)
        source = int(rng.random() * len(SOURCES))
        valued = rng.random() < 0.7
        labels = ds.lead_labels.ids()
        record: dict[str, Any] = {
            "id": self.public_id(record_id),
            "title": self.label(record_id),
            "owner_id": self.cols["owner_id"][pos],
            "creator_id": self.cols["creator_id"][pos],
            "label_ids": [
                ds.lead_labels.public_id(i) for i in rng.sample(labels, between(rng, 0, 2))
            ],
            "person_id": self.get(record_id, "person_id"),
            "organization_id": self.get(record_id, "organization_id"),
            "source_name": SOURCES[source],
            "origin": ORIGINS[source],
            "origin_id": None,
            "channel": pick(rng, (None, None, 1, 2)),
            "channel_id": pick(rng, (None, None, "Jun23 Billboards")),
            "source_deal_id": between(rng, 1, ds.refs.deals) if rng.random() < 0.1 else None,
            "is_archived": bool(self.cols["archived"][pos]),
            "was_seen": rng.random() < 0.6,
            "value": {
                "amount": between(rng, 100, 99_999)
                if rng.random() < 0.5
                else round(rng.random() * 10**5, 2),
                "currency": pick(rng, ("EUR", "USD", "GBP", "JPY", "SEK")),
            }
            if valued
            else None,
            "expected_close_date": iso_date(added // 1000 + between(rng, 7, 120) * 86_400)
            if rng.random() < 0.5
            else None,
            "next_activity_id": between(rng, 1, ds.refs.activities) if rng.random() < 0.3 else None,
            "add_time": iso_millis(added),
            "update_time": iso_millis(updated),
            "visible_to": pick(rng, ("1", "3", "3", "7")),
            "cc_email": f"acme+lead{record_id}@pipedrivemail.com",
        }
        record.update(v1_custom_values(self._custom_fields(record_id), self._types))
        return record

    def _custom_fields(self, record_id: int) -> dict[str, Any]:
        # Leads have no fields of their own: they draw from the deals' pool of values.
        rows = self.dataset.custom_rows("deals")
        if not rows:
            return {}
        row, mutable = rows[mix(~self.salt, record_id) % len(rows)]
        values = dict(row)
        for key in mutable:  # pooled values are shared between records
            values[key] = values[key].copy()
        return values

    @functools.cached_property
    def _types(self) -> dict[str, str]:
        return {
            d.code: d.type for d in self.dataset.custom_fields("deals") if d.type in V1_FIELD_TYPES
        }
