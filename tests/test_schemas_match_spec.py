"""The stream schemas say what Pipedrive's official OpenAPI specs say its endpoints return.

For each stream: every property of the 200 response's record item (and every `include_fields`
value and every key of the spec's example records) is in our schema, with a compatible type,
recursively through nested objects. The specs are read from `../shared/pipedrive-openapi/`
beside the project, or from `$PIPEDRIVE_OPENAPI_DIR` (tests/conftest.py's `openapi` fixture).
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

import jsonschema
import pytest

from tap_pipedrive import schemas
from tap_pipedrive.streams import assignments, boards, deal_extras, history

Node = dict[str, t.Any]


@dataclass(frozen=True)
class Stream:
    name: str
    schema: Node
    key: str | tuple[str, ...]
    endpoints: tuple[str, ...]  # "v2 /deals": the spec file and the GET path


STREAMS = (
    Stream("deals", schemas.DEALS, "id", ("v2 /deals", "v2 /deals/archived")),
    Stream("persons", schemas.PERSONS, "id", ("v2 /persons",)),
    Stream("organizations", schemas.ORGANIZATIONS, "id", ("v2 /organizations",)),
    Stream("activities", schemas.ACTIVITIES, "id", ("v2 /activities",)),
    Stream("products", schemas.PRODUCTS, "id", ("v2 /products",)),
    Stream("pipelines", schemas.PIPELINES, "id", ("v2 /pipelines",)),
    Stream("stages", schemas.STAGES, "id", ("v2 /stages",)),
    Stream("notes", schemas.NOTES, "id", ("v1 /notes",)),
    Stream("users", schemas.USERS, "id", ("v1 /users",)),
    Stream("currency", schemas.CURRENCY, "id", ("v1 /currencies",)),
    Stream("activity_types", schemas.ACTIVITY_TYPES, "id", ("v1 /activityTypes",)),
    Stream(
        "fields",
        schemas.FIELDS,
        "field_code",
        tuple(
            f"v2 /{entity}Fields"
            for entity in ("deal", "person", "organization", "product", "activity", "project")
        ),
    ),
    Stream("v1_fields", schemas.V1_FIELDS, "key", ("v1 /leadFields", "v1 /noteFields")),
    Stream("deal_products", schemas.DEAL_PRODUCTS, "id", ("v2 /deals/products",)),
    Stream("deal_installments", schemas.DEAL_INSTALLMENTS, "id", ("v2 /deals/installments",)),
    Stream("dealflow", schemas.DEALFLOW, "id", ("v1 /deals/{id}/flow",)),
    Stream("deal_discounts", deal_extras.DEAL_DISCOUNTS, "id", ("v2 /deals/{id}/discounts",)),
    Stream(
        "product_variations",
        deal_extras.PRODUCT_VARIATIONS,
        "id",
        ("v2 /products/{id}/variations",),
    ),
    Stream("files", schemas.FILES, "id", ("v1 /files",)),
    Stream("filters", schemas.FILTERS, "id", ("v1 /filters",)),
    Stream("leads", schemas.LEADS, "id", ("v1 /leads", "v1 /leads/archived")),
    Stream("lead_labels", schemas.LEAD_LABELS, "id", ("v1 /leadLabels",)),
    Stream("lead_sources", schemas.LEAD_SOURCES, "name", ("v1 /leadSources",)),
    Stream("call_logs", schemas.CALL_LOGS, "id", ("v1 /callLogs",)),
    Stream("goals", schemas.GOALS, "id", ("v1 /goals/find",)),
    Stream("roles", schemas.ROLES, "id", ("v1 /roles",)),
    Stream("permission_sets", schemas.PERMISSION_SETS, "id", ("v1 /permissionSets",)),
    Stream("projects", schemas.PROJECTS, "id", ("v2 /projects", "v2 /projects/archived")),
    Stream("tasks", schemas.TASKS, "id", ("v2 /tasks",)),
    Stream("boards", boards.BOARDS, "id", ("v2 /boards",)),
    Stream("phases", boards.PHASES, "id", ("v2 /phases",)),
    Stream(
        "role_assignments",
        assignments.ROLE_ASSIGNMENTS,
        ("role_id", "user_id"),
        ("v1 /roles/{id}/assignments",),
    ),
    Stream(
        "permission_set_assignments",
        assignments.PERMISSION_SET_ASSIGNMENTS,
        ("permission_set_id", "user_id"),
        ("v1 /permissionSets/{id}/assignments",),
    ),
    Stream("person_changes", history.PERSON_CHANGES, "id", ("v1 /persons/{id}/changelog",)),
    Stream(
        "organization_changes",
        history.ORGANIZATION_CHANGES,
        "id",
        ("v1 /organizations/{id}/changelog",),
    ),
)

# Spec properties the tap deliberately does not emit as they are: (stream, dotted path) -> why.
NOT_EMITTED_AS_IS = {
    # v2 nests custom fields under one key; the custom-fields module flattens them into columns
    # of their own, built from the field definitions.
    **{
        (stream, "custom_fields"): "flattened into one column per custom field"
        for stream in ("deals", "persons", "organizations", "products", "projects")
    },
    # dealflow rows are dealChange items only (`items=dealChange`), their `data` the row.
    ("dealflow", "timestamp"): "emitted as `log_time`",
    ("dealflow", "object"): "always dealChange: the stream asks for `items=dealChange` only",
    ("dealflow", "data"): "a dealChange's fields are the row's columns",
    # The organizations example carries an `org_id` that no schema of the spec declares (an
    # organization has no parent organization): a slip in the example, not a field.
    ("organizations", "org_id"): "only in the spec's example, with no meaning",
}

# Where our type deliberately differs from the spec's: (stream, dotted path) -> why.
TYPE_DIFFERENCES = {
    ("products", "visible_to"): "the spec says number; the values are the integers 1, 3, 5, 7",
    ("goals", "expected_outcome.target"): "the spec says integer; a `sum` goal's target is money",
}


# Formats the spec declares that our schema must declare too (it declares more: the spec leaves
# most v2 timestamps as bare strings).
CHECKED_FORMATS = {"date", "date-time", "uuid"}


@pytest.fixture(scope="session")
def specs(openapi: dict[str, Node]) -> dict[str, Node]:
    """Both specs, parsed once per session (skipped, or failed in CI, where they are missing)."""
    return openapi


def _deref(spec: Node, node: Node) -> Node:
    while "$ref" in node:
        target: t.Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _flatten(spec: Node, node: Node) -> Node:
    """Resolve `$ref`, merge `allOf`, and union the variants of `oneOf`/`anyOf`."""
    node = _deref(spec, node)
    parts = [_flatten(spec, sub) for sub in node.get("allOf", [])]
    variants = [_flatten(spec, sub) for sub in node.get("oneOf", []) + node.get("anyOf", [])]
    if not parts and not variants:
        return node
    merged: Node = {k: v for k, v in node.items() if k not in ("allOf", "oneOf", "anyOf")}
    properties: Node = dict(merged.get("properties", {}))
    types: set[str] = set(_types(merged))
    for sub in parts + variants:
        properties.update(sub.get("properties", {}))
        types |= _types(sub)
        for key in ("items", "format"):
            if key in sub:
                merged.setdefault(key, sub[key])
    if properties:
        merged["properties"] = properties
        types.add("object")
    if types:
        merged["type"] = sorted(types)
    return merged


def _types(node: Node) -> set[str]:
    declared = node.get("type", [])
    return {declared} if isinstance(declared, str) else set(declared)


def _operation(specs: dict[str, Node], endpoint: str) -> tuple[Node, Node]:
    version, path = endpoint.split(" ")
    spec = specs[version]
    return spec, spec["paths"][path]["get"]


def _records_schema(spec: Node, operation: Node) -> Node:
    """The item schema of the 200 response's `data` (goals nest theirs in `data.goals`)."""
    response = _deref(spec, operation["responses"]["200"])["content"]["application/json"]
    data = _flatten(spec, _flatten(spec, response["schema"])["properties"]["data"])
    if "array" not in _types(data):
        (data,) = (_flatten(spec, p) for p in data["properties"].values())
    return _flatten(spec, data["items"])


def _example_records(spec: Node, operation: Node) -> list[Node]:
    response = _deref(spec, operation["responses"]["200"])["content"]["application/json"]
    data = response.get("example", {}).get("data")
    if isinstance(data, dict):
        data = data.get("goals", [data])
    return [record for record in data or [] if isinstance(record, dict)]


def _include_fields(spec: Node, operation: Node) -> set[str]:
    """Every name the `include_fields` parameter accepts (the *Fields ones list combinations)."""
    for parameter in (_deref(spec, p) for p in operation.get("parameters", [])):
        if parameter["name"] == "include_fields":
            return {name for combo in parameter["schema"]["enum"] for name in combo.split(",")}
    return set()


def _differences(
    stream: str, spec: Node, expected: Node, ours: Node, prefix: str = ""
) -> tuple[list[str], list[str]]:
    """Spec properties missing from our schema, and type mismatches, recursively."""
    missing, mismatched = [], []
    our_properties = ours.get("properties", {})
    for name, node in expected.get("properties", {}).items():
        path = f"{prefix}{name}"
        if (stream, path) in NOT_EMITTED_AS_IS:
            continue
        if name not in our_properties:
            missing.append(path)
            continue
        theirs, mine = _flatten(spec, node), our_properties[name]
        spec_types, our_types = _types(theirs), _types(mine) - {"null"}
        if not spec_types <= our_types and (stream, path) not in TYPE_DIFFERENCES:
            mismatched.append(f"{path}: spec {sorted(spec_types)}, ours {sorted(our_types)}")
        if theirs.get("format") in CHECKED_FORMATS and theirs["format"] != mine.get("format"):
            mismatched.append(f"{path}: spec format {theirs['format']}, ours {mine.get('format')}")
        if "items" in theirs and "items" in mine:
            theirs, mine = _flatten(spec, theirs["items"]), mine["items"]
        more_missing, more_mismatched = _differences(stream, spec, theirs, mine, f"{path}.")
        missing += more_missing
        mismatched += more_mismatched
    return missing, mismatched


@pytest.mark.parametrize("stream", STREAMS, ids=[s.name for s in STREAMS])
def test_schema_has_every_spec_property_with_its_type(
    stream: Stream, specs: dict[str, Node]
) -> None:
    for endpoint in stream.endpoints:
        spec, operation = _operation(specs, endpoint)
        # `include_fields` names count as properties (new dict: the parsed spec is shared).
        properties: Node = {name: {} for name in _include_fields(spec, operation)}
        properties |= _records_schema(spec, operation)["properties"]
        missing, mismatched = _differences(
            stream.name, spec, {"properties": properties}, stream.schema
        )
        assert not missing, f"{endpoint}: properties missing from our schema: {missing}"
        assert not mismatched, f"{endpoint}: types differ: {mismatched}"


@pytest.mark.parametrize("stream", STREAMS, ids=[s.name for s in STREAMS])
def test_schema_has_every_key_of_the_spec_examples(stream: Stream, specs: dict[str, Node]) -> None:
    # The examples show fields the response schemas forget (deals' `creator_user_id`, ...).
    for endpoint in stream.endpoints:
        spec, operation = _operation(specs, endpoint)
        keys = {key for record in _example_records(spec, operation) for key in record}
        missing = sorted(
            key
            for key in keys - stream.schema["properties"].keys()
            if (stream.name, key) not in NOT_EMITTED_AS_IS
        )
        assert not missing, f"{endpoint}: example keys missing from our schema: {missing}"


def test_dealflow_promotes_every_field_of_a_deal_change(specs: dict[str, Node]) -> None:
    spec, operation = _operation(specs, "v1 /deals/{id}/flow")
    (change,) = (
        r["data"] for r in _example_records(spec, operation) if r["object"] == "dealChange"
    )
    missing = sorted(change.keys() - schemas.DEALFLOW["properties"].keys())
    assert not missing, f"dealChange fields without a column: {missing}"


@pytest.mark.parametrize("stream", STREAMS, ids=[s.name for s in STREAMS])
def test_every_property_is_nullable_except_the_primary_key(stream: Stream) -> None:
    properties = stream.schema["properties"]
    keys = [stream.key] if isinstance(stream.key, str) else list(stream.key)
    assert stream.schema.get("required") == keys
    assert all("null" not in _types(properties[key]) for key in keys)
    not_nullable = [
        name for name, node in properties.items() if name not in keys and "null" not in _types(node)
    ]
    assert not not_nullable, f"not nullable: {not_nullable}"


@pytest.mark.parametrize("stream", STREAMS, ids=[s.name for s in STREAMS])
def test_schema_is_valid_json_schema(stream: Stream) -> None:
    jsonschema.Draft202012Validator.check_schema(stream.schema)
