"""Write `tests/emulator/operations.json` and `tap_pipedrive/spec_lists.json` from the specs.

The specs are Pipedrive's text and stay outside the repository; the emulator serves from this
digest of them (every operation's method, path template, `x-token-cost`, and query parameters
with their enums and maximum `limit`; for the emulated writes, the request body's JSON Schema
without its prose). `tap_pipedrive/spec_lists.json` is what `custom_streams` needs: every GET list
of both specs with its token cost, query parameters and record shape (top-level properties, each
nullable; nested values untyped). Reads `$PIPEDRIVE_OPENAPI_DIR/{v1,v2}.yaml`, else
`../shared/pipedrive-openapi/`. `python scripts/spec_operations.py` rewrites the file;
`--check` only says whether they are current (tests/test_emulator.py runs that check).
"""

from __future__ import annotations

import argparse
import json
import sys
import typing as t
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.emulator import spec  # noqa: E402 - the repository root must be importable first
from tests.emulator.writes import WRITE_ROUTES  # noqa: E402

#: Schema keys that only document (Pipedrive's prose): left out of the digest.
_PROSE = frozenset({"description", "title", "example", "examples"})

VERSIONS = ("v1", "v2")
LISTS_FILE = ROOT / "tap_pipedrive" / "spec_lists.json"
HEADER = "Generated from Pipedrive's OpenAPI specs by scripts/spec_operations.py: do not edit."


def max_limit(parameter: t.Mapping[str, t.Any]) -> int | None:
    """The largest `limit` a parameter allows, or None where the spec states none.

    The schema's `maximum`, else the description's "The upper limit is N." (call logs).
    """
    maximum = parameter.get("schema", {}).get("maximum")
    if isinstance(maximum, int):
        return maximum
    words = str(parameter.get("description", "")).rstrip(".").split()
    if "upper" in words and words[-1].isdigit():
        return int(words[-1])
    return None


def query_parameter(parameter: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """What the emulator checks of one query parameter: its enum, and `limit`'s maximum."""
    entry: dict[str, t.Any] = {}
    enum = parameter.get("schema", {}).get("enum")
    if enum:
        entry["enum"] = list(enum)
    if parameter["name"] == "limit" and (maximum := max_limit(parameter)) is not None:
        entry["maximum"] = maximum
    return entry


def body_schema(definition: t.Mapping[str, t.Any]) -> t.Any:
    """The JSON request body's schema as JSON Schema, without its prose."""
    schema = definition["requestBody"]["content"]["application/json"]["schema"]
    return _without_prose(spec.to_json_schema(schema))


def _without_prose(schema: t.Any) -> t.Any:
    if isinstance(schema, list):
        return [_without_prose(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    return {
        key: ({name: _without_prose(sub) for name, sub in value.items()} if key == "properties"
              else _without_prose(value))
        for key, value in schema.items()
        if key not in _PROSE or key == "properties"
    }  # fmt: skip


def operations(documents: t.Mapping[str, t.Mapping[str, t.Any]]) -> dict[str, t.Any]:
    """Every operation of both specs, keyed by version, then `METHOD /template`."""
    index: dict[str, t.Any] = {}
    # The request bodies the emulator validates (its write endpoints).
    written = {
        (r.version, r.method, r.template)
        for r in WRITE_ROUTES
        if r.method in ("POST", "PATCH", "PUT")
    }
    for version in VERSIONS:
        found: dict[str, t.Any] = {}
        for template, item in documents[version]["paths"].items():
            for method, definition in item.items():
                if not isinstance(definition, dict) or "responses" not in definition:
                    continue
                query = {
                    p["name"]: query_parameter(p)
                    for p in definition.get("parameters", ())
                    if p.get("in") == "query"
                }
                entry: dict[str, t.Any] = {
                    "cost": int(definition.get("x-token-cost", 0)),
                    "query": dict(sorted(query.items())),
                }
                if (version, method.upper(), template) in written:
                    entry["body"] = body_schema(definition)
                found[f"{method.upper()} {template}"] = entry
        index[version] = dict(sorted(found.items(), key=lambda kv: kv[0].split(" ", 1)[::-1]))
    return index


def record_shape(schema: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """A list item's shape for a stream: its top-level properties (allOf merged), each nullable."""
    properties: dict[str, t.Any] = {}
    for part in [schema, *schema.get("allOf", ())]:
        for name, sub in part.get("properties", {}).items():
            properties[name] = _column(sub)
    return {"type": "object", "properties": dict(sorted(properties.items()))}


def _column(schema: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    kind = schema.get("type")
    if "allOf" in schema or kind == "object":
        return {"type": ["object", "null"]}
    if kind in ("string", "integer", "number", "boolean", "array"):
        column: dict[str, t.Any] = {"type": [kind, "null"]}
        if kind == "string" and schema.get("format") == "date-time":
            column["format"] = "date-time"
        return column
    return {}  # a union or an untyped value: anything


def lists(documents: t.Mapping[str, t.Mapping[str, t.Any]]) -> dict[str, t.Any]:
    """Every GET list of both specs: cost, query parameters, and the record shape.

    A list is an operation whose 200 answer's `data` is an array (`records`), or an object
    whose array properties hold the records (`nested`: the entry's `records_key`).
    """
    index: dict[str, t.Any] = {}
    for version in VERSIONS:
        found: dict[str, t.Any] = {}
        for template, item in documents[version]["paths"].items():
            definition = item.get("get")
            if not isinstance(definition, dict):
                continue
            content = definition.get("responses", {}).get("200", {}).get("content", {})
            answer = content.get("application/json", {}).get("schema", {})
            data = {}
            for part in [answer, *answer.get("allOf", ())]:
                data = part.get("properties", {}).get("data", data)
            entry: dict[str, t.Any] = {
                "cost": int(definition.get("x-token-cost", 0)),
                "query": sorted(
                    p["name"] for p in definition.get("parameters", ()) if p.get("in") == "query"
                ),
            }
            if data.get("type") == "array":
                entry["records"] = record_shape(data.get("items", {}))
            else:
                nested = {
                    name: record_shape(sub.get("items", {}))
                    for part in [data, *data.get("allOf", ())]
                    for name, sub in part.get("properties", {}).items()
                    if sub.get("type") == "array"
                }
                if not nested:
                    continue
                entry["nested"] = nested
            found[template] = entry
        index[version] = dict(sorted(found.items()))
    return index


def render(index: t.Mapping[str, t.Mapping[str, t.Any]]) -> str:
    """A generated file's text: one line per entry, so a spec update shows as a readable diff."""
    lines = ["{", f'  "generated_by": {json.dumps(HEADER)},']
    for number, version in enumerate(VERSIONS):
        lines.append(f'  "{version}": {{')
        entries = list(index[version].items())
        for position, (key, operation) in enumerate(entries):
            comma = "," if position < len(entries) - 1 else ""
            lines.append(f"    {json.dumps(key)}: {json.dumps(operation)}{comma}")
        lines.append("  }," if number < len(VERSIONS) - 1 else "  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> int:
    """Write the files, or with `--check` compare them; exit 1 when one is stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check the file is current")
    args = parser.parse_args()
    try:
        documents = spec.documents()
    except spec.SpecUnavailable as error:
        print(error, file=sys.stderr)
        return 1
    files = {
        spec.OPERATIONS_FILE: render(operations(documents)),
        LISTS_FILE: render(lists(documents)),
    }
    stale = [path for path, text in files.items() if path.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"{path} is stale: run `python {__file__}`", file=sys.stderr)
        return 1 if stale else 0
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
