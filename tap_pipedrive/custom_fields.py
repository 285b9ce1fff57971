"""Custom fields: Pipedrive's field definitions become schema columns, and records are flattened.

v2 records nest custom values under `custom_fields: {<40-hex field_code>: value}`. The tap emits
each custom field as top-level columns, typed from its definition's `field_type`:

- scalars (text, numbers, dates, ids, options) become one column;
- objects become one column for their `value` and one `<column>_<part>` column per other part,
  the names the v1 API, the legacy tap and Stitch use. The parts come from the field TYPE
  (`OBJECT_TYPES`: monetary `_currency`; daterange `_until`; time `_timezone_id`,
  `_timezone_name`; timerange all three; address `_route`, `_locality`, ...), because the spec
  lists `subfields` for address and monetary only; `subfields` may add parts, never remove any;
- a value never lands in a column whose type cannot hold it: an object sent for a one-column
  field keeps its `value`, and parts the tap does not know are dropped, with one warning per
  field;
- single options (`enum`) are the option id, multiple options (`set`) a list of ids; with
  `option_labels` they are the option label(s) instead.

Columns are named by field code (`custom_field_names: key`, the default and the legacy naming), or
by a snake_case slug of the field's name (`name`); see `column_names` for collisions.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import typing as t
import unicodedata

Schema = dict[str, t.Any]

_STRING: Schema = {"type": ["string", "null"]}
_INTEGER: Schema = {"type": ["integer", "null"]}
_NUMBER: Schema = {"type": ["number", "null"]}
_BOOLEAN: Schema = {"type": ["boolean", "null"]}
_DATE: Schema = {"type": ["string", "null"], "format": "date"}
_TIME: Schema = {"type": ["string", "null"], "format": "time"}
#: Any JSON value (a `json` field, or a field type this tap does not know yet).
_ANY: Schema = {"type": ["object", "array", "string", "number", "boolean", "null"]}

#: The JSON schema of a one-column custom field, by `field_type`.
SCALAR_TYPES: dict[str, Schema] = {
    "varchar": _STRING,
    "varchar_auto": _STRING,
    "varchar_options": _STRING,
    "text": _STRING,
    "phone": _STRING,
    "picture": _INTEGER,  # the id of the picture file
    "status": _STRING,
    "billing_frequency": _STRING,
    "int": _INTEGER,
    "double": _NUMBER,
    "boolean": _BOOLEAN,
    "date": _DATE,
    "time": _TIME,
    "enum": _INTEGER,
    "set": {"type": ["array", "null"], "items": {"type": "integer"}},
    "user": _INTEGER,
    "people": _INTEGER,
    "org": _INTEGER,
    "deal": _INTEGER,
    "project": _INTEGER,
    "stage": _INTEGER,
    "activity": _INTEGER,
    "visible_to": _INTEGER,
    "price_list": _INTEGER,
    "projects_board": _INTEGER,
    "projects_phase": _INTEGER,
    "lead": _STRING,  # lead ids are UUIDs
    "deals": {"type": ["array", "null"], "items": {"type": "integer"}},
    "json": _ANY,
}

_ADDRESS_PARTS = (
    "subpremise", "street_number", "route", "sublocality", "locality", "admin_area_level_1",
    "admin_area_level_2", "country", "postal_code", "formatted_address",
)  # fmt: skip

#: Object-valued types: the schema of each part of their value; `value` is the main column. A
#: definition's `subfields` are the spec's only description of parts, and it lists them for
#: address and monetary alone, so the shapes of the v2 objects are known here, by type.
OBJECT_TYPES: dict[str, dict[str, Schema]] = {
    "monetary": {"value": _NUMBER, "currency": _STRING},
    "daterange": {"value": _DATE, "until": _DATE},
    "time": {"value": _TIME, "timezone_id": _INTEGER, "timezone_name": _STRING},
    "timerange": {
        "value": _TIME, "until": _TIME, "timezone_id": _INTEGER, "timezone_name": _STRING,
    },
    "address": {"value": _STRING, **dict.fromkeys(_ADDRESS_PARTS, _STRING)},
}  # fmt: skip

_LABEL_TYPES: dict[str, Schema] = {
    "enum": _STRING,
    "set": {"type": ["array", "null"], "items": {"type": "string"}},
}

_HEX_CODE = re.compile(r"[0-9a-f]{40}")
_LOGGER = logging.getLogger("tap-pipedrive")


@dataclasses.dataclass(frozen=True)
class CustomField:
    """One custom field definition, normalized from the v2 or the v1 shape."""

    code: str
    name: str
    field_type: str
    options: dict[t.Any, str]
    #: (part, field_type) of an object value, from the definition's `subfields`.
    parts: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_definition(cls, row: t.Mapping[str, t.Any]) -> CustomField | None:
        """A custom field from a v2 (`field_code`) or v1 (`key`) definition; None if standard."""
        if "field_code" in row:
            if not row.get("is_custom_field"):
                return None
            code, name = row["field_code"], row.get("field_name") or ""
        else:
            code, name = row.get("key") or "", row.get("name") or ""
            if not _HEX_CODE.fullmatch(code):
                return None
        options = {option["id"]: option.get("label") for option in row.get("options") or []}
        parts = tuple(
            (sub.get("field_code") or sub.get("key") or "", sub.get("field_type") or "")
            for sub in row.get("subfields") or []
        )
        return cls(code, name, row.get("field_type") or "", options, parts)

    def part_schemas(self) -> dict[str, Schema] | None:
        """The schema of each part of an object value (`value` first), None for a scalar.

        The type's known parts, plus any part the definition's `subfields` add.
        """
        known = OBJECT_TYPES.get(self.field_type)
        if not self.parts:
            return known
        parts = dict(known or {"value": SCALAR_TYPES.get(self.field_type, _ANY)})
        for part, kind in self.parts:
            parts.setdefault(part, SCALAR_TYPES.get(kind, _ANY))
        return parts


def slug(name: str) -> str:
    """snake_case ASCII of a field name: accents dropped, other characters folded to `_`."""
    ascii_name = unicodedata.normalize("NFKD", name.replace("ß", "ss")).encode("ascii", "ignore")
    return re.sub(r"[^a-z0-9]+", "_", ascii_name.decode().lower()).strip("_")


def column_names(
    fields: t.Sequence[CustomField], mode: str, reserved: t.Collection[str]
) -> dict[str, str]:
    """Map each field code to its column name.

    `key`: the field code itself. `name`: the slug of the field name; a slug that is empty,
    starts with a digit, is a standard column (`reserved`) or is shared by several custom fields
    gets the first 8 characters of the field code appended (`lead_source_1a2b3c4d`), for every
    field involved, so that adding a field never moves data from one column to another.
    """
    if mode == "key":
        return {field.code: field.code for field in fields}
    slugs = {field.code: slug(field.name) for field in fields}
    counts: dict[str, int] = {}
    for value in slugs.values():
        counts[value] = counts.get(value, 0) + 1
    names = {}
    for code, value in slugs.items():
        clash = not value or value[0].isdigit() or value in reserved or counts[value] > 1
        names[code] = f"{value}_{code[:8]}".lstrip("_") if clash else value
    return names


class CustomFieldMapper:
    """The custom-field columns of one stream: their schema, and how to fill them from a record."""

    def __init__(
        self,
        fields: t.Sequence[CustomField],
        *,
        mode: str = "key",
        labels: bool = False,
        reserved: t.Collection[str] = (),
        logger: logging.Logger = _LOGGER,
    ) -> None:
        names = column_names(fields, mode, reserved)
        #: Field code -> column name.
        self.names = names
        self.properties: dict[str, Schema] = {}
        #: The field each column comes from.
        self.field_of: dict[str, CustomField] = {}
        self._logger = logger
        self._warned: set[str] = set()
        # Precomputed for the hot path: one-column fields copied in one `update` (those that
        # can hold any JSON apart), then the object-valued fields and the option labels.
        direct: list[tuple[str, str]] = []
        self._any: list[tuple[str, str]] = []
        self._objects: list[_Object] = []
        self._labels: list[tuple[str, str, dict[t.Any, str]]] = []
        for field in fields:
            column = names[field.code]
            description = {"description": f"{field.name} (custom field {field.code})"}
            parts = field.part_schemas()
            if parts is not None:
                columns = {
                    part: column if part == "value" else f"{column}_{part}" for part in parts
                }
                for part, name in columns.items():
                    self.properties[name] = {**parts[part], **description}
                    self.field_of[name] = field
                self._objects.append(_Object(field, columns))
                continue
            use_labels = labels and field.field_type in _LABEL_TYPES
            schema = (_LABEL_TYPES if use_labels else SCALAR_TYPES).get(field.field_type, _ANY)
            self.properties[column] = {**schema, **description}
            self.field_of[column] = field
            if use_labels:
                self._labels.append((field.code, column, field.options))
            elif schema is _ANY:
                self._any.append((field.code, column))
            else:
                direct.append((field.code, column))
        self._direct_codes = tuple(code for code, _ in direct)
        self._direct_columns = tuple(column for _, column in direct)
        self._fields = {field.code: field for field in fields}

    @property
    def columns(self) -> set[str]:
        """Every column this mapper fills."""
        return set(self.properties)

    def flatten(self, record: dict[str, t.Any], values: t.Mapping[str, t.Any] | None) -> None:
        """Set the custom-field columns of `record` from its custom values (by field code)."""
        values = values or {}
        scalars = list(map(values.get, self._direct_codes))
        if dict in set(map(type, scalars)):  # an object where a scalar belongs: keep its value
            codes = self._direct_codes
            scalars = [self._scalar(c, v) for c, v in zip(codes, scalars, strict=True)]
        record.update(zip(self._direct_columns, scalars, strict=True))
        for code, column in self._any:
            record[column] = values.get(code)
        for code, column, options in self._labels:
            value = values.get(code)
            if type(value) is dict and "value" in value:
                value = self._scalar(code, value)
            record[column] = None if value is None else _label(value, options)
        for item in self._objects:
            value = values.get(item.code)
            if type(value) is dict:
                if not value.keys() <= item.parts:
                    self._warn(item.field, value.keys() - item.parts)
                for part, column in item.columns:
                    record[column] = value.get(part)
            else:  # v1 (leads) splits objects into `<code>` and `<code>_<part>` keys
                for key, column in item.split:
                    record[column] = values.get(key)

    def _scalar(self, code: str, value: t.Any) -> t.Any:
        """The `value` of an object sent for a one-column field; its other keys are dropped."""
        if type(value) is not dict:
            return value
        if value.keys() - {"value"}:
            self._warn(self._fields[code], value.keys() - {"value"})
        return value.get("value")

    def _warn(self, field: CustomField, keys: t.AbstractSet[str]) -> None:
        if field.code in self._warned:
            return
        self._warned.add(field.code)
        self._logger.warning(
            "Custom field %r (%s, type %s) has value part(s) the tap does not know, not "
            "emitted: %s",
            field.name,
            field.code,
            field.field_type,
            ", ".join(sorted(keys)),
        )


class _Object:
    """An object-valued field: its (part, column) pairs, and its v1 split keys' columns."""

    __slots__ = ("code", "columns", "field", "parts", "split")

    def __init__(self, field: CustomField, columns: dict[str, str]) -> None:
        self.field = field
        self.code = field.code
        self.columns = tuple(columns.items())
        self.parts = frozenset(columns)
        self.split = tuple(
            (field.code if part == "value" else f"{field.code}_{part}", column)
            for part, column in columns.items()
        )


def _label(value: t.Any, options: t.Mapping[t.Any, str]) -> t.Any:
    """The label(s) of option id(s); an id without a known option is kept as its string."""
    if isinstance(value, list):
        return [options.get(item, str(item)) for item in value]
    if isinstance(value, dict):  # the API's own `include_option_labels` shape
        return value.get("label")
    return options.get(value, str(value))
