"""The write endpoints: POST creates, PATCH (PUT for v1 notes) updates, DELETE deletes.

Bodies are validated against the operation's request schema in the spec (required fields,
types, enums; v2 refuses unknown fields, v1 ignores them), and custom-field values against the
field's type and options, with Pipedrive's 400 envelope for the first problem found. A `null`
clears an optional field, as the live API allows. What a write sets is kept in `Table.written`,
over the generated record, so every list shows it; the time of the write is the record's
`update_time` (and `add_time` of a created one). A body's `org_id`, `organization_id`,
`person_id` and `deal_id` must name an item that exists (400 otherwise). A deleted item is gone
from its list (deals get `is_deleted`), and listed by `/v1/recents` like any deletion.

Spec data read at run time: each write operation's `requestBody` JSON schema and its
`x-token-cost` (charged by the server like any other operation).
"""

from __future__ import annotations

import copy
import datetime
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema

from tests.emulator.data import NULL, Table
from tests.emulator.dataset import Dataset
from tests.emulator.fields import FieldDef
from tests.emulator.handlers import ApiError, Request, Route
from tests.emulator.spec import Operation, load

#: Keys a write never sets: the row's own columns give them (ids, times, deletion, archive).
ROW_KEYS = frozenset({"id", "add_time", "update_time", "is_deleted", "is_archived", "archive_time"})
#: Columns kept in step with a written value, so list filters (`org_id=...`) see it.
_SYNCED_SKIP = frozenset({"status", "deleted", "archived", "archive_time", "due_date"})
#: What a created item holds where the body is silent (the rest is null or empty).
_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    "deals": {"status": "open", "value": 0, "currency": "EUR", "pipeline_id": 1, "stage_id": 1},
    "activities": {"done": False, "busy": False, "type": "call"},
    "notes": {"active_flag": True},
    "leads": {"was_seen": False, "source_name": "API", "origin": "API"},
}
_DEAL_STATUSES = ("open", "won", "lost")
#: Body fields naming another item, by the entity they name: that item must exist.
_LINKS: Mapping[str, str] = {
    "org_id": "organizations",
    "organization_id": "organizations",
    "person_id": "persons",
    "deal_id": "deals",
}
_SINGULAR = {"activities": "activity"}
#: Standard option fields a body sets by option id but records show by label (the spec types
#: a product's `category` as a number in bodies, the emulator's lists show the label).
_SHOWN_AS_LABEL = frozenset({("products", "category")})
#: Custom field types whose value is one JSON scalar, by the Python types allowed.
_SCALARS: Mapping[str, tuple[type, ...]] = {
    **dict.fromkeys(
        ("varchar", "varchar_auto", "varchar_options", "text", "phone", "status", "lead",
         "billing_frequency", "date"),
        (str,),
    ),
    **dict.fromkeys(
        ("int", "user", "people", "org", "deal", "project", "stage", "activity", "visible_to",
         "picture", "price_list", "projects_board", "projects_phase"),
        (int,),
    ),
    "double": (int, float),
    "boolean": (bool,),
}  # fmt: skip


def _invalid(message: str) -> ApiError:
    return ApiError(400, f"Validation failed: {message}", code="ERR_SCHEMA_VALIDATION_FAILED")


def _now(data: Dataset, table: Table) -> int:
    """The time of a write, in the table's unit: the emulated Pipedrive's clock."""
    return data.clock_ns() * table.unit // 1_000_000_000


def _body_schema(operation: Operation) -> tuple[dict[str, Any], frozenset[str]]:
    """The request body's JSON schema and the names of its top-level properties."""
    return body_schema(operation.version, operation.method, operation.template)


@functools.cache
def body_schema(version: str, method: str, template: str) -> tuple[dict[str, Any], frozenset[str]]:
    """An operation's request body schema (operations.json) and its top-level property names."""
    body = load().get(version, method, template).body
    assert body is not None, f"operations.json has no request body for {method} {template}"
    schema: dict[str, Any] = copy.deepcopy(dict(body))
    names: set[str] = set()
    parts = [schema]
    while parts:
        part = parts.pop()
        names.update(part.get("properties", {}))
        parts.extend(part.get("allOf", ()))
    return schema, frozenset(names)


def read_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, validated against its operation's request schema."""
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        raise _invalid("the request body is not JSON") from None
    if not isinstance(body, dict):
        raise _invalid("the request body must be a JSON object")
    schema, names = _body_schema(request.operation)
    if request.operation.version == "v2":
        unknown = sorted(set(body) - names)
        if unknown:
            raise _invalid(f"{unknown[0]}: is not allowed")
    else:
        body = {key: value for key, value in body.items() if key in names}
    given = {key: value for key, value in body.items() if value is not None}
    error = jsonschema.exceptions.best_match(jsonschema.Draft7Validator(schema).iter_errors(given))
    if error is not None:
        where = ".".join(map(str, error.absolute_path)) or "body"
        raise _invalid(f"{where}: {error.message}")
    return body


def check_custom_fields(definitions: list[FieldDef], values: Any) -> None:
    """Refuse unknown field codes and values that do not fit their field's type or options."""
    if values is None:
        return
    if not isinstance(values, dict):
        raise _invalid("custom_fields: must be an object")
    by_code = {d.code: d for d in definitions}
    for code, value in values.items():
        definition = by_code.get(code)
        if definition is None:
            raise _invalid(f"custom_fields.{code}: unknown custom field")
        if value is not None and not _fits(definition, value):
            raise _invalid(f"custom_fields.{code}: invalid value for a {definition.type} field")


def _fits(definition: FieldDef, value: Any) -> bool:
    kind = definition.type
    options = {option.id for option in definition.options or ()}
    if kind == "enum":
        return value in options and not isinstance(value, bool)
    if kind == "set":
        return isinstance(value, list) and all(v in options for v in value)
    if kind == "deals":
        return isinstance(value, list) and all(_is_int(v) for v in value)
    if kind == "date":
        return isinstance(value, str) and _is_date(value)
    parts = definition.subfields
    if parts is not None:
        known = {code: part for code, _, part in parts}
        return (
            isinstance(value, dict)
            and value.get("value") is not None
            and set(value) <= set(known)
            and all(_part_fits(known[k], v) for k, v in value.items())
        )
    allowed = _SCALARS.get(kind)
    if allowed is None:  # json and types not emulated: anything goes
        return True
    if int in allowed and float not in allowed:
        return _is_int(value)
    return isinstance(value, allowed) and (bool in allowed or not isinstance(value, bool))


def _part_fits(kind: str, value: Any) -> bool:
    if value is None:
        return True
    if kind == "double":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "date":
        return isinstance(value, str) and _is_date(value)
    return isinstance(value, str)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_date(text: str) -> bool:
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def _singular(entity: str) -> str:
    return _SINGULAR.get(entity, entity[:-1])


def _live(data: Dataset, entity: str, public: Any, *, deleted: bool = False) -> int | None:
    """The row of an item that exists (and is not deleted, unless `deleted`), else None."""
    table = data.table(entity)
    try:
        row = table.row_id(public)
    except KeyError:
        return None
    if not table.exists(row):
        return None
    if not deleted and "deleted" in table.cols and table.get(row, "deleted"):
        return None
    return row


@dataclass(frozen=True)
class _Write:
    """What the three kinds of write share: the entity, its table, its custom fields."""

    entity: str

    def custom(self, data: Dataset) -> list[FieldDef]:
        return data.custom_fields(self.entity)

    def validated(self, data: Dataset, request: Request) -> dict[str, Any]:
        """The body, checked whole before anything changes, its values as records show them."""
        body = read_body(request)
        check_custom_fields(self.custom(data), body.get("custom_fields"))
        status = body.get("status")
        if self.entity == "deals" and status is not None and status not in _DEAL_STATUSES:
            raise _invalid(f"status: must be one of {', '.join(_DEAL_STATUSES)}")
        for key, entity in _LINKS.items():
            linked = body.get(key)
            # A deleted deal is still there (`is_deleted`) and may be linked; a gone item not.
            if linked is not None and _live(data, entity, linked, deleted=True) is None:
                raise _invalid(f"{key}: {_singular(entity)} {linked} does not exist")
        return {key: self.shown(data, key, value) for key, value in body.items()}

    def shown(self, data: Dataset, key: str, value: Any) -> Any:
        """A body value as records show it: some options by label, v1 0/1 flags as booleans."""
        if (self.entity, key) in _SHOWN_AS_LABEL and value is not None:
            definition = next(d for d in data.fields.v2[self.entity] if d.code == key)
            labels = {str(option): label for option, label in definition.labels().items()}
            if str(value) not in labels:
                raise _invalid(f"{key}: unknown option {value!r}")
            return labels[str(value)]
        if key.startswith("pinned_to_") and value in (0, 1):
            return bool(value)
        return value

    def row(self, data: Dataset, request: Request) -> int:
        """The row of the path's id; 404 if there is none (or it was deleted)."""
        raw = request.path_params.get("id", "")
        row = _live(data, self.entity, int(raw) if raw.isdigit() else raw)
        if row is None:
            raise ApiError(404, f"{_singular(self.entity).capitalize()} not found")
        return row

    def apply(self, data: Dataset, row: int, body: Mapping[str, Any]) -> None:
        """Set the given fields (custom fields merged into the current ones); now updated."""
        table = data.table(self.entity)
        overlay = table.written.setdefault(row, {})
        for key, value in body.items():
            if key in ROW_KEYS:
                continue
            if key == "custom_fields":
                current = table.record(row).get("custom_fields") or {}
                overlay[key] = {**current, **(value or {})}
            else:
                overlay[key] = value
        position = row - table.id_base - 1
        for key, value in body.items():
            column = table.cols.get(key)
            if column is None or key in _SYNCED_SKIP or not (value is None or _is_int(value)):
                continue
            column[position] = NULL if value is None else value
        if self.entity == "deals" and body.get("status") is not None:
            table.cols["status"][position] = _DEAL_STATUSES.index(body["status"])
        table.cols["update_time"][position] = _now(data, table)
        if body.get("is_archived") and "archived" in table.cols:
            table.archive([row], _now(data, table))
        table._changed()  # the lists' indexes must see the new update_time


@dataclass(frozen=True)
class Create(_Write):
    """POST: a new item with the next id, added and updated now; the body's fields set."""

    def __call__(self, data: Dataset, request: Request) -> dict[str, Any]:
        body = self.validated(data, request)
        table = data.table(self.entity)
        row = table.add(1, _now(data, table))[0]
        generated = table.record(row)
        blank: dict[str, Any] = {
            key: [] if isinstance(value, list) else None
            for key, value in generated.items()
            if key not in ROW_KEYS
        }
        if "custom_fields" in generated:
            blank["custom_fields"] = {d.code: None for d in self.custom(data)}
        blank.update((k, v) for k, v in _DEFAULTS.get(self.entity, {}).items() if k in blank)
        if "owner_id" in blank:
            blank["owner_id"] = data.user_ids[0]
        table.written[row] = blank
        self.apply(data, row, body)
        return {"success": True, "data": table.record(row)}


@dataclass(frozen=True)
class Update(_Write):
    """PATCH (v1 notes: PUT): only the given fields change."""

    def __call__(self, data: Dataset, request: Request) -> dict[str, Any]:
        row = self.row(data, request)
        self.apply(data, row, self.validated(data, request))
        return {"success": True, "data": data.table(self.entity).record(row)}


@dataclass(frozen=True)
class Delete(_Write):
    """DELETE: the item leaves its list (a deal is marked deleted) and `/recents` lists it."""

    def __call__(self, data: Dataset, request: Request) -> dict[str, Any]:
        row = self.row(data, request)
        table = data.table(self.entity)
        public = table.public_id(row)
        data.delete(self.entity, [public], _now(data, table))
        return {"success": True, "data": True if self.entity == "notes" else {"id": public}}


def _routes(version: str, entity: str, update: str = "PATCH") -> tuple[Route, ...]:
    return (
        Route(version, f"/{entity}", Create(entity), "POST"),
        Route(version, f"/{entity}/{{id}}", Update(entity), update),
        Route(version, f"/{entity}/{{id}}", Delete(entity), "DELETE"),
    )


#: Every emulated write operation.
WRITE_ROUTES: tuple[Route, ...] = (
    *(
        route
        for entity in ("organizations", "persons", "deals", "activities", "products")
        for route in _routes("v2", entity)
    ),
    *_routes("v1", "notes", update="PUT"),
    *_routes("v1", "leads"),
)
