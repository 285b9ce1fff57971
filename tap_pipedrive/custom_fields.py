"""Custom fields: Pipedrive's field definitions become schema columns, and records are flattened.

v2 records nest custom values under `custom_fields: {<40-hex field_code>: value}`. The tap emits
each custom field as top-level columns, typed from its definition's `field_type`:

- scalars (text, numbers, dates, ids, options) become one column;
- objects (monetary, daterange, timerange, address, and any field whose definition lists
  `subfields`) become one column for their `value` and one `<column>_<part>` column per other part
  (`_currency`, `_until`, `_timezone_name`, `_route`, ...), the names the v1 API and the legacy
  extractors used;
- single options (`enum`) are the option id, multiple options (`set`) a list of ids; with
  `option_labels` they are the option label(s) instead.

Columns are named by field code (`custom_field_names: key`, the default and the legacy naming), or
by a snake_case slug of the field's name (`name`); see `column_names` for collisions.
"""

from __future__ import annotations

import dataclasses
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

#: Object-valued types: the schema of each part; `value` is the main column.
OBJECT_TYPES: dict[str, dict[str, Schema]] = {
    "monetary": {"value": _NUMBER, "currency": _STRING},
    "daterange": {"value": _DATE, "until": _DATE},
    "timerange": {"value": _TIME, "until": _TIME, "timezone_name": _STRING},
    "address": {"value": _STRING, **dict.fromkeys(_ADDRESS_PARTS, _STRING)},
}

_LABEL_TYPES: dict[str, Schema] = {
    "enum": _STRING,
    "set": {"type": ["array", "null"], "items": {"type": "string"}},
}

_HEX_CODE = re.compile(r"[0-9a-f]{40}")


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
        """The schema of each part of an object value (`value` first), None for a scalar."""
        if self.parts:
            parts = {part: SCALAR_TYPES.get(kind, _ANY) for part, kind in self.parts}
            return {"value": parts.pop("value", _ANY), **parts}
        return OBJECT_TYPES.get(self.field_type)


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
    ) -> None:
        names = column_names(fields, mode, reserved)
        self.properties: dict[str, Schema] = {}
        # Precomputed for the hot path: one-column fields copied in one `update`, then the
        # fields that need work: (code, [(part, column)], option labels or None).
        direct: list[tuple[str, str]] = []
        self._plan: list[tuple[str, list[tuple[str | None, str]], dict[t.Any, str] | None]] = []
        for field in fields:
            column = names[field.code]
            description = {"description": f"{field.name} (custom field {field.code})"}
            parts = field.part_schemas()
            if parts is not None:
                names_by_part = {
                    part: column if part == "value" else f"{column}_{part}" for part in parts
                }
                for part, name in names_by_part.items():
                    self.properties[name] = {**parts[part], **description}
                self._plan.append((field.code, list(names_by_part.items()), None))
                continue
            use_labels = labels and field.field_type in _LABEL_TYPES
            schema = (_LABEL_TYPES if use_labels else SCALAR_TYPES).get(field.field_type, _ANY)
            self.properties[column] = {**schema, **description}
            if use_labels:
                self._plan.append((field.code, [(None, column)], field.options))
            else:
                direct.append((field.code, column))
        self._direct_codes = tuple(code for code, _ in direct)
        self._direct_columns = tuple(column for _, column in direct)

    @property
    def columns(self) -> set[str]:
        """Every column this mapper fills."""
        return set(self.properties)

    def flatten(self, record: dict[str, t.Any], values: t.Mapping[str, t.Any] | None) -> None:
        """Set the custom-field columns of `record` from its custom values (by field code)."""
        values = values or {}
        record.update(zip(self._direct_columns, map(values.get, self._direct_codes), strict=True))
        for code, columns, options in self._plan:
            value = values.get(code)
            if options is not None and value is not None:
                value = _label(value, options)
            if len(columns) == 1 and columns[0][0] is None:
                record[columns[0][1]] = value
                continue
            if isinstance(value, dict):
                parts = value
            else:  # v1 (leads) splits objects into `<code>` and `<code>_<part>` keys
                parts = {part: values.get(f"{code}_{part}") for part, _ in columns}
                parts["value"] = value
            for part, column in columns:
                record[column] = parts.get(t.cast("str", part))


def _label(value: t.Any, options: t.Mapping[t.Any, str]) -> t.Any:
    """The label(s) of option id(s); an id without a known option is kept as its string."""
    if isinstance(value, list):
        return [options.get(item, str(item)) for item in value]
    if isinstance(value, dict):  # the API's own `include_option_labels` shape
        return value.get("label")
    return options.get(value, str(value))
