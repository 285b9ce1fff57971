"""Record columns -> request bodies: custom fields by name or code, option labels, v2 shapes.

A custom field's column is recognised under both names the tap can give it (`custom_field_names:
key` or `name`, see `tap_pipedrive.custom_fields.column_names`): the field code, or the snake_case
of its name. Object values (monetary, date and time ranges, time, address) are put back together
from their `<column>` and `<column>_<part>` columns, or taken as they are when the column already
holds the v2 object. Option fields take option ids or labels (a multiple-option column may be a
list or a comma-separated string).
"""

from __future__ import annotations

import datetime
import decimal
import typing as t

from tap_pipedrive.custom_fields import CustomField, column_names


class Unwritable(ValueError):
    """A value that cannot be written (an unknown option label): the record is rejected."""


def jsonable(value: t.Any) -> t.Any:
    """A value as JSON sends it: dates and times ISO 8601, date-times RFC 3339 UTC."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return value.isoformat(timespec="seconds") + "Z"
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [jsonable(item) for item in value]
    return value


class CustomFieldWriter:
    """The custom-field columns of one entity, and how to turn them into `custom_fields`."""

    def __init__(self, fields: t.Sequence[CustomField], reserved: t.Collection[str]) -> None:
        self.fields = list(fields)
        #: column -> (field, part): `value` for a one-column field or an object's main column.
        self._columns: dict[str, tuple[CustomField, str]] = {}
        for mode in ("key", "name"):
            names = column_names(self.fields, mode, reserved)
            for field in self.fields:
                column = names[field.code]
                for part in field.part_schemas() or ("value",):
                    name = column if part == "value" else f"{column}_{part}"
                    self._columns[name] = (field, part)

    @property
    def columns(self) -> set[str]:
        """Every column name a custom field is recognised by."""
        return set(self._columns)

    def field(self, key: str) -> CustomField | None:
        """The field named by a setting: its code, its name, or one of its column names."""
        for field in self.fields:
            if key in (field.code, field.name):
                return field
        found = self._columns.get(key)
        return found[0] if found else None

    def value_of(self, record: t.Mapping[str, t.Any], field: CustomField) -> t.Any:
        """The record's value of a field's main column (under whichever name it has)."""
        for column, (candidate, part) in self._columns.items():
            if candidate is field and part == "value" and record.get(column) is not None:
                value = record[column]
                return value.get("value") if isinstance(value, dict) else value
        return None

    def custom_fields(self, record: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        """The record's custom values by field code, in the v2 shapes.

        Raises Unwritable when a value names an option the field does not have.
        """
        values: dict[str, t.Any] = {}
        objects: dict[str, dict[str, t.Any]] = {}
        for column, raw in record.items():
            found = self._columns.get(column)
            if found is None:
                continue
            field, part = found
            value = jsonable(raw)
            if field.part_schemas() is None:
                values[field.code] = _options(field, column, value)
            elif part == "value" and isinstance(value, dict):
                objects.setdefault(field.code, {}).update(value)
            else:
                objects.setdefault(field.code, {})[part] = value
        for code, parts in objects.items():
            if "value" not in parts:  # only a part's column: the field's own column is absent
                continue
            given = {part: value for part, value in parts.items() if value is not None}
            values[code] = given if given.get("value") is not None else None
        return values


def _options(field: CustomField, column: str, value: t.Any) -> t.Any:
    """Option labels (or ids) -> option ids, for single- and multiple-option fields."""
    if value is None or field.field_type not in ("enum", "set"):
        return value
    if field.field_type == "enum":
        return _option_id(field, column, value)
    items = value if isinstance(value, list) else [p.strip() for p in str(value).split(",")]
    return [_option_id(field, column, item) for item in items if item != ""]


def _option_id(field: CustomField, column: str, value: t.Any) -> t.Any:
    if value in field.options and not isinstance(value, bool):
        return value
    text = str(value).strip()
    for option_id, label in field.options.items():
        if label == text or str(option_id) == text:
            return option_id
    folded = text.casefold()
    for option_id, label in field.options.items():
        if (label or "").casefold() == folded:
            return option_id
    labels = ", ".join(repr(label) for label in field.options.values())
    msg = f"column {column!r}: {value!r} is not an option of {field.name!r} ({labels})"
    raise Unwritable(msg)


def compact(value: t.Any) -> t.Any:
    """A field value without the null members of its nested objects.

    Pipedrive reads an absent member as "not given", while a null one fails validation where
    the type is not nullable (an attendee's `user_id`).
    """
    if isinstance(value, dict):
        return {key: compact(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [compact(item) for item in value]
    return value


def option_id(options: t.Mapping[t.Any, str], value: str) -> t.Any:
    """A standard option field's label -> its option id (numeric ids as numbers).

    A value that is no label is sent as it is, for Pipedrive to judge.
    """
    found: t.Any = next((oid for oid, label in options.items() if label == value), value)
    if isinstance(found, str) and found.isdigit():
        return int(found)
    return found
