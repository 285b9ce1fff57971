"""Pipedrive's official OpenAPI specs, read once per process: operations, token costs, schemas.

The specs live beside the project (`<repo>/../shared/pipedrive-openapi/{v1,v2}.yaml`) and are
never copied into it; `PIPEDRIVE_OPENAPI_DIR` points elsewhere when needed.
"""

from __future__ import annotations

import copy
import functools
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

OPENAPI_DIR_ENV = "PIPEDRIVE_OPENAPI_DIR"
_REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OPENAPI_DIR = _REPO_ROOT.parent / "shared" / "pipedrive-openapi"

#: URL prefixes and the spec each one is served from (v1 answers under both prefixes).
API_PREFIXES: tuple[tuple[str, str], ...] = (("/api/v2", "v2"), ("/api/v1", "v1"), ("/v1", "v1"))

#: Item properties the spec types as non-nullable but the live API answers with `null` (a deal
#: without a person, an open deal's `won_time`, an activity without a deal...). The emulator
#: produces such nulls, so conformance checks (and the tap's schemas) must allow them. Dotted
#: names reach into nested objects and arrays' items.
NULLABLE_IN_PRACTICE: Mapping[tuple[str, str], frozenset[str]] = {
    ("v2", "/deals"): frozenset(
        {"person_id", "org_id", "won_time", "lost_time", "stage_change_time", "expected_close_date"}
    ),
    ("v2", "/deals/archived"): frozenset(
        {"person_id", "org_id", "won_time", "lost_time", "stage_change_time", "expected_close_date"}
    ),
    ("v2", "/projects"): frozenset({"description", "start_date", "end_date"}),
    ("v2", "/projects/archived"): frozenset({"description", "start_date", "end_date"}),
    ("v1", "/callLogs"): frozenset({"person_id", "org_id", "deal_id", "lead_id", "note"}),
    ("v1", "/files"): frozenset(
        {"deal_id", "person_id", "org_id", "product_id", "activity_id", "lead_id", "project_id"}
    ),
    ("v2", "/persons"): frozenset(
        {"org_id", "picture_id", "postal_address", "notes", "birthday", "job_title"}
    ),
    ("v2", "/organizations"): frozenset({"address"}),
    ("v2", "/activities"): frozenset(
        {
            "deal_id",
            "lead_id",
            "person_id",
            "org_id",
            "project_id",
            "due_date",
            "due_time",
            "duration",
            "marked_as_done_time",
            "location",
            "conference_meeting_client",
            "conference_meeting_url",
            "conference_meeting_id",
            "public_description",
            "note",
            "priority",
            "attendees.person_id",
            "attendees.user_id",
        }
    ),
    ("v1", "/notes"): frozenset(
        {
            "deal",
            "deal_id",
            "lead_id",
            "org_id",
            "organization",
            "person",
            "person_id",
            "project_id",
            "project",
            "task_id",
            "task",
            "last_update_user_id",
        }
    ),
}

_OPENAPI_ONLY_KEYS = frozenset(
    {"nullable", "example", "examples", "discriminator", "xml", "externalDocs", "deprecated"}
)


def openapi_dir() -> Path:
    """Return the directory holding `v1.yaml` and `v2.yaml`."""
    override = os.environ.get(OPENAPI_DIR_ENV)
    return Path(override) if override else DEFAULT_OPENAPI_DIR


def split_api_path(path: str) -> tuple[str, str] | None:
    """Split a request path into (spec version, path inside that spec), or None if no API."""
    for prefix, version in API_PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return version, path[len(prefix) :] or "/"
    return None


@dataclass(frozen=True)
class Operation:
    """One operation of a spec: where it lives, what it costs, what it accepts."""

    version: str
    method: str
    template: str
    cost: int
    parameters: frozenset[str]
    definition: Mapping[str, Any]

    def parameter_enum(self, name: str) -> tuple[Any, ...]:
        """Return the values the spec allows for a query parameter (empty: unrestricted)."""
        for parameter in self.definition.get("parameters", ()):
            if parameter.get("in") == "query" and parameter.get("name") == name:
                return tuple(parameter.get("schema", {}).get("enum", ()))
        return ()

    def response_schema(self, status: str = "200") -> dict[str, Any]:
        """Return the OpenAPI schema of this operation's JSON response for `status`."""
        content = self.definition["responses"][status]["content"]["application/json"]
        return copy.deepcopy(content["schema"])


class Spec:
    """Both specs, indexed by version and path template."""

    def __init__(self, documents: Mapping[str, Mapping[str, Any]]) -> None:
        self._operations: dict[tuple[str, str, str], Operation] = {}
        # Templates grouped by segment count; matching only compares paths of equal length.
        self._templates: dict[tuple[str, int], list[tuple[str, ...]]] = {}
        for version, document in documents.items():
            for template, item in document["paths"].items():
                segments = path_segments(template)
                self._templates.setdefault((version, len(segments)), []).append(segments)
                for method, definition in item.items():
                    if not isinstance(definition, dict) or "responses" not in definition:
                        continue
                    params = frozenset(
                        p["name"]
                        for p in definition.get("parameters", ())
                        if p.get("in") == "query"
                    )
                    self._operations[(version, method.upper(), template)] = Operation(
                        version=version,
                        method=method.upper(),
                        template=template,
                        cost=int(definition.get("x-token-cost", 0)),
                        parameters=params,
                        definition=definition,
                    )

    def get(self, version: str, method: str, template: str) -> Operation:
        """Return the operation declared at exactly this template; KeyError if none."""
        return self._operations[(version, method.upper(), template)]

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one Spec per process, never freed anyway
    def operation(self, method: str, path: str) -> Operation:
        """Return the operation serving a path (`/api/v2/deals/7/flow`); KeyError if none."""
        split = split_api_path(path.split("?", 1)[0])
        if split is None:
            raise KeyError(path)
        version, inner = split
        segments = path_segments(inner)
        best: tuple[int, str] | None = None
        for candidate in self._templates.get((version, len(segments)), ()):
            literal = 0
            for want, got in zip(candidate, segments, strict=True):
                if want.startswith("{"):
                    continue
                if want != got:
                    break
                literal += 1
            else:
                template = "/" + "/".join(candidate)
                # The most literal template wins: `/deals/archived` beats `/deals/{id}`.
                if (version, method.upper(), template) in self._operations and (
                    best is None or literal > best[0]
                ):
                    best = (literal, template)
        if best is None:
            raise KeyError(f"{method} {path}")
        return self._operations[(version, method.upper(), best[1])]


def path_segments(path: str) -> tuple[str, ...]:
    """Return a path's non-empty segments."""
    return tuple(part for part in path.strip("/").split("/") if part)


_lock = threading.Lock()
_spec: Spec | None = None


def load() -> Spec:
    """Return the process-wide Spec, parsing the YAML files on first use."""
    global _spec  # noqa: PLW0603 - a module-level cache is the point: the files are 1-2 MB
    with _lock:
        if _spec is None:
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            documents = {}
            for version in ("v1", "v2"):
                with (openapi_dir() / f"{version}.yaml").open(encoding="utf-8") as stream:
                    documents[version] = yaml.load(stream, Loader=loader)
            _spec = Spec(documents)
        return _spec


def token_cost(method: str, path: str) -> int:
    """Return the `x-token-cost` of the operation serving `method path`; KeyError if none."""
    return load().operation(method, path).cost


def response_schema(method: str, path: str, status: str = "200") -> dict[str, Any]:
    """Return the OpenAPI schema of an operation's JSON response, as the spec states it."""
    return load().operation(method, path).response_schema(status)


def response_json_schema(method: str, path: str) -> dict[str, Any]:
    """Return the 200 response schema as JSON Schema, widened where the live API answers null.

    Widened: the item properties listed in `NULLABLE_IN_PRACTICE` and v2's `next_cursor`,
    which the spec's prose (not its schema) says is null on the last page.
    """
    operation = load().operation(method, path)
    schema = operation.response_schema()
    nullable = NULLABLE_IN_PRACTICE.get((operation.version, operation.template), frozenset())
    for part in _parts(schema):
        properties = part.get("properties", {})
        items = properties.get("data", {}).get("items")
        if items is not None:
            for dotted in nullable:
                _widen(items, dotted.split("."))
        cursor = properties.get("additional_data", {}).get("properties", {}).get("next_cursor")
        if cursor is not None:
            cursor["nullable"] = True
    converted: dict[str, Any] = to_json_schema(schema)
    return converted


def _widen(schema: dict[str, Any], names: list[str]) -> None:
    """Mark the property at `names` (through objects and arrays' items) nullable."""
    for part in _parts(schema):
        target = part.get("properties", {}).get(names[0])
        if target is None:
            continue
        if len(names) == 1:
            target["nullable"] = True
        else:
            _widen(target.get("items", target), names[1:])


def _parts(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """Return a schema and, recursively, the members of its `allOf`."""
    parts = [schema]
    for member in schema.get("allOf", ()):
        parts.extend(_parts(member))
    return parts


def to_json_schema(schema: Any) -> Any:
    """Convert an OpenAPI 3.0 schema to JSON Schema (draft 7): `nullable` and friends."""
    if isinstance(schema, list):
        return [to_json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _OPENAPI_ONLY_KEYS or key.startswith("x-"):
            continue
        if key in ("properties", "patternProperties", "definitions"):
            converted[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
            converted[key] = to_json_schema(value)
        else:
            converted[key] = value
    if schema.get("nullable"):
        if "type" in converted and not any(k in converted for k in ("allOf", "anyOf", "oneOf")):
            converted["type"] = [converted["type"], "null"]
            if "enum" in converted:
                converted["enum"] = [*converted["enum"], None]
        else:
            converted = {"anyOf": [converted, {"type": "null"}]}
    return converted
