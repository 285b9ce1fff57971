"""What a write sends: nulls kept or dropped, and only what differs from the stored item.

Text is compared ignoring case, so a value equal to the stored one but for its case is not
written, and the item keeps its case (`p1@example.com` is not rewritten `P1@EXAMPLE.COM`).
"""

from __future__ import annotations

import typing as t


def without_nulls(body: dict[str, t.Any]) -> dict[str, t.Any]:
    """The body without null fields (and null custom fields): a NULL column changes nothing."""
    kept = {key: value for key, value in body.items() if value is not None}
    custom = kept.get("custom_fields")
    if isinstance(custom, dict):
        custom = {code: value for code, value in custom.items() if value is not None}
        if custom:
            kept["custom_fields"] = custom
        else:
            del kept["custom_fields"]
    return kept


def same(given: t.Any, current: t.Any) -> bool:
    """Whether a body value is what the item has already.

    Text ignores case and surrounding blanks; of an object, only the parts given count.
    """
    if isinstance(given, dict) and isinstance(current, dict):
        return all(same(value, current.get(key)) for key, value in given.items())
    if isinstance(given, list) and isinstance(current, list):
        return len(given) == len(current) and all(map(same, given, current))
    if isinstance(given, str) and isinstance(current, str):
        return given.strip().casefold() == current.strip().casefold()
    return bool(given == current) and isinstance(given, bool) == isinstance(current, bool)


def changes(body: dict[str, t.Any], current: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The part of an update body that differs from the stored item (custom fields by code)."""
    changed = {key: value for key, value in body.items() if key != "custom_fields"}
    changed = {key: value for key, value in changed.items() if not same(value, current.get(key))}
    custom = body.get("custom_fields")
    if isinstance(custom, dict):
        stored = current.get("custom_fields") or {}
        custom = {
            code: value for code, value in custom.items() if not same(value, _value(stored, code))
        }
        if custom:
            changed["custom_fields"] = custom
    return changed


def holds(item: t.Mapping[str, t.Any], body: t.Mapping[str, t.Any]) -> bool:
    """Whether an item holds every field of a body (the item a lost create answer made)."""
    return not changes(dict(body), item)


def _value(stored: t.Mapping[str, t.Any], code: str) -> t.Any:
    value = stored.get(code)
    # A one-value field's stored shape may be `{"value": ...}`; an object's is the object.
    if isinstance(value, dict) and set(value) == {"value"}:
        return value["value"]
    return value
