"""The match index: which Pipedrive item a record's match key names.

Keys are compared trimmed and case-folded (an email or a name matches whatever its case). A
key several items share matches none of them: the record is refused with their ids, since
picking one (the lowest id, say) would overwrite an item chosen by accident.
"""

from __future__ import annotations

import typing as t


class AmbiguousMatch(ValueError):
    """A match key value several items share: the record is refused, naming them."""


class IncompleteIndex(RuntimeError):
    """The read of the items to match against failed or stopped short: no write may follow."""


def normal(value: t.Any) -> str:
    """A match key as compared: text, trimmed, case-folded."""
    return str(value).strip().casefold()


def usable_key_value(value: t.Any) -> bool:
    """Whether a record's match key value can name an item: a non-empty text or a number."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return False
    return normal(value) != ""


def item_keys(item: t.Mapping[str, t.Any], key: str, code: str | None) -> list[t.Any]:
    """The values an item holds for a key: a custom field's (by `code`), every email, a field's."""
    if code is not None:
        value = (item.get("custom_fields") or {}).get(code)
        if isinstance(value, dict):
            value = value.get("value")
        return [] if value is None else [value]
    if key == "email":
        emails = item.get("emails") or []
        return [e["value"] for e in emails if isinstance(e, dict) and e.get("value")]
    value = item.get(key)
    return [] if value is None else [value]


class MatchIndex:
    """Match key -> the items holding it, built from one complete read of an entity's list."""

    def __init__(self, match_key: str, code: str | None = None) -> None:
        self.match_key = match_key
        #: The custom field the key is, if it is one.
        self.code = code
        self._items: dict[str, dict[t.Any, dict[str, t.Any]]] = {}

    def keys_of(self, item: t.Mapping[str, t.Any]) -> list[t.Any]:
        """The key values an item holds."""
        return item_keys(item, self.match_key, self.code)

    def items(self, key: t.Any) -> list[dict[str, t.Any]]:
        """Every item holding the key, by id."""
        found = self._items.get(normal(key)) or {}
        return [found[i] for i in sorted(found)]  # an entity's ids are all numbers, or all text

    def add(self, key: t.Any, item: dict[str, t.Any]) -> None:
        """Index an item under one of its keys (an item listed twice counts once)."""
        self._items.setdefault(normal(key), {})[item["id"]] = item

    def find(self, key: t.Any) -> dict[str, t.Any] | None:
        """The one item holding the key, None if none does; AmbiguousMatch if several do."""
        items = self._items.get(normal(key)) or {}
        if len(items) > 1:
            ids = ", ".join(str(i) for i in sorted(items))
            msg = (
                f"match_key {self.match_key!r} value {key!r} matches {len(items)} items "
                f"(ids {ids}): none was written; make the value unique in Pipedrive, or give "
                "the record an `id`."
            )
            raise AmbiguousMatch(msg)
        return next(iter(items.values()), None)

    def remember(self, key: t.Any, item: dict[str, t.Any]) -> None:
        """An item this run wrote now holds the key (it alone, unless others already did)."""
        items = self._items.setdefault(normal(key), {})
        items[item["id"]] = item

    def put(self, item: dict[str, t.Any]) -> None:
        """An item this run wrote, under the keys it holds now (no longer under its old ones)."""
        self.forget(item["id"])
        for key in self.keys_of(item):
            self.add(key, item)

    def forget(self, item_id: t.Any) -> None:
        """A deleted item no longer matches."""
        for items in self._items.values():
            items.pop(item_id, None)
