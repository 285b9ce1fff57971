"""A catalog selects streams and columns; the shape of each column is the tap's.

A catalog can declare other shapes than the records have: the legacy singer-io tap's declares
`deals.org_id` an object where this tap emits the id, and a catalog pinned before a custom field
changed type in Pipedrive still has the old type. Sent as is, such a SCHEMA is contradicted by
every record (a target then crashes or loads wrong types). So the SCHEMA sent keeps the catalog's
columns with the tap's shapes, and each difference is named in a warning.
"""

from __future__ import annotations

import logging
import typing as t

from tap_pipedrive.custom_fields import CustomField, CustomFieldMapper

Schema = dict[str, t.Any]

#: Keywords that describe a property without constraining its values (singer-python's old
#: catalogs also keep `inclusion` and `selected` in the schema).
_ANNOTATIONS = frozenset({"description", "title", "examples", "default", "inclusion", "selected"})


def shape(schema: t.Any) -> t.Any:
    """A property's schema without annotations, its `type` as a sorted list: what it allows."""
    if isinstance(schema, dict):
        found = {}
        for key, value in schema.items():
            if key == "type":
                found[key] = sorted([value] if isinstance(value, str) else value)
            elif key not in _ANNOTATIONS:
                found[key] = shape(value)
        return found
    if isinstance(schema, list):
        return [shape(item) for item in schema]
    return schema


def type_label(schema: Schema) -> str:
    """A property's type in words: `string`, `number`, `string (date)`, `integer or string`."""
    declared = schema.get("type", [])
    kinds = [declared] if isinstance(declared, str) else declared
    label = " or ".join(kind for kind in kinds if kind != "null") or "any"
    return f"{label} ({schema['format']})" if "format" in schema else label


def reconcile(
    stream: str,
    catalog: Schema,
    live: Schema,
    *,
    selected: t.Callable[[str], bool],
    custom_fields: CustomFieldMapper | None,
    logger: logging.Logger,
) -> Schema:
    """The catalog's properties in the tap's (`live`) shapes, warning of each difference.

    Properties the tap no longer has (a custom field deleted since discovery) keep the
    catalog's shape: no record carries them. A custom field that changed type gets one warning
    naming it and both types; other properties one warning per stream listing them.
    """
    mine = live["properties"]
    properties = {name: mine.get(name, prop) for name, prop in catalog["properties"].items()}
    changed = sorted(
        name
        for name, prop in catalog["properties"].items()
        if name in mine and selected(name) and shape(prop) != shape(mine[name])
    )
    field_of = custom_fields.field_of if custom_fields is not None else {}
    retyped: dict[str, tuple[CustomField, str]] = {}
    for name in changed:
        if name in field_of:
            retyped.setdefault(field_of[name].code, (field_of[name], name))
    for field, column in retyped.values():
        logger.warning(
            "Stream '%s': custom field '%s' (%s) changed type since the catalog was "
            "discovered, from %s to %s (Pipedrive type `%s`): the SCHEMA sent has the new type. "
            "Run discovery again (`--discover`) to update the catalog.",
            stream,
            field.name,
            column,
            type_label(catalog["properties"][column]),
            type_label(mine[column]),
            field.field_type,
        )
    others = [name for name in changed if name not in field_of]
    if others:
        logger.warning(
            "Stream '%s': the catalog declares other shapes than the tap's for %d propert%s, so "
            "the tap's are sent (the records have them): %s.",
            stream,
            len(others),
            "y" if len(others) == 1 else "ies",
            ", ".join(others),
        )
    return {**live, "properties": properties}
