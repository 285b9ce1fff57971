"""Field history of persons and organizations: `/v1/{persons,organizations}/{id}/changelog`.

A generated record has up to five changes between its creation and its (generated) last update,
about a third of them with a bulk update: two to four fields changed on one second
(`is_bulk_update_flag`). Values are strings or null, as the spec has them. A `touch` adds the
change of the record's name (organizations and persons alike) at the touch time. Items come
newest first; tests/emulator/history_routes.py serves them.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tests.emulator.data import v1_time
from tests.emulator.fields import between, pick, value_generator

if TYPE_CHECKING:
    from tests.emulator.dataset import Dataset

#: Entities with a changelog -> their standard fields a generated change may be about.
STANDARD_FIELDS = {
    "persons": ("name", "email", "phone", "owner_id", "org_id", "label_ids"),
    "organizations": ("name", "address", "owner_id", "label_ids"),
}
SOURCES = ("app", "app", "api", "mobile", "import")
USER_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/125.0"


def _text(value: Any) -> str | None:
    """A value as the changelog shows it: a string (JSON for lists and objects), or null."""
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else json.dumps(value)


@dataclass(frozen=True)
class FieldChange:
    """One changelog item."""

    when: int
    field_key: str
    old_value: str | None
    new_value: str | None
    actor_user_id: int
    change_source: str
    bulk: bool

    def item(self) -> dict[str, Any]:
        """The change as the endpoint shows it."""
        return {
            "field_key": self.field_key,
            "old_value": self.old_value,
            "new_value": self.new_value,
            "actor_user_id": self.actor_user_id,
            "time": v1_time(self.when),
            "change_source": self.change_source,
            "change_source_user_agent": USER_AGENT if self.change_source == "app" else None,
            "is_bulk_update_flag": self.bulk,
        }


class Changelogs:
    """The changelogs of persons and organizations."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        # Generated changes fall before the records' first update time: later touches must not
        # move them.
        self._span = {
            entity: {
                rid: (table.cols["add_time"][rid - 1], table.cols["update_time"][rid - 1])
                for rid in table.ids()
            }
            for entity in STANDARD_FIELDS
            for table in [getattr(dataset, entity)]
        }
        self._touches: dict[tuple[str, int], list[FieldChange]] = {}

    def changes(self, entity: str, record_id: int) -> list[FieldChange]:
        """A record's changes, newest first (a bulk update's fields in the order made)."""
        result = self._generated(entity, record_id) + self._touches.get((entity, record_id), [])
        return sorted(result, key=lambda c: c.when, reverse=True)

    def record_touch(self, entity: str, ids: list[int], when: int, names: dict[int, str]) -> None:
        """The name change of each touched record (`names` holds the old names)."""
        if entity not in STANDARD_FIELDS:
            return
        table = self.dataset.table(entity)
        for rid in ids:
            change = FieldChange(
                when, "name", names[rid], table.label(rid), table.cols["owner_id"][rid - 1],
                "api", False,
            )  # fmt: skip
            self._touches.setdefault((entity, rid), []).append(change)

    def _generated(self, entity: str, record_id: int) -> list[FieldChange]:
        span = self._span[entity].get(record_id)
        if span is None:
            return []
        added, updated = span
        rng = random.Random(f"{self.dataset.seed}:changelog:{entity}:{record_id}")
        keys = list(STANDARD_FIELDS[entity])
        draws = {d.code: value_generator(d, self.dataset.refs) for d in self._custom(entity)}
        keys += draws
        result = []
        for _ in range(pick(rng, (0, 1, 2, 3, 5))):
            when = added + int((updated - added) * rng.random())
            bulk = rng.random() < 0.3
            fields = rng.sample(keys, between(rng, 2, 4)) if bulk else [pick(rng, keys)]
            source, actor = pick(rng, SOURCES), pick(rng, self.dataset.user_ids)
            for key in fields:
                draw = draws.get(key)
                values = [draw(rng), draw(rng)] if draw else _standard(key, rng)
                result.append(
                    FieldChange(when, key, _text(values[0]), _text(values[1]), actor, source, bulk)
                )
        return result

    def _custom(self, entity: str) -> list[Any]:
        return [d for d in self.dataset.custom_fields(entity) if d.type != "address"][:6]


def _standard(key: str, rng: random.Random) -> list[Any]:
    if key == "label_ids":
        return [[between(rng, 1, 5)], [between(rng, 1, 5), between(rng, 6, 9)]]
    if key.endswith("_id"):
        return [between(rng, 1, 50), between(rng, 1, 50)]
    word = pick(rng, ("Müller", "O'Brien", "Zoë", "李", "Smith", "Acme GmbH"))
    return [None if rng.random() < 0.3 else f"old {word}", f"{word} {between(rng, 1, 99)}"]
