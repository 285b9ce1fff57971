"""Write `tests/emulator/operations.json`: what the emulator needs of Pipedrive's OpenAPI specs.

The specs are Pipedrive's text and stay outside the repository; the emulator serves from this
digest of them (every operation's method, path template, `x-token-cost`, and query parameters
with their enums and maximum `limit`; for the emulated writes, the request body's JSON Schema
without its prose). Reads `$PIPEDRIVE_OPENAPI_DIR/{v1,v2}.yaml`, else
`../shared/pipedrive-openapi/`. `python scripts/spec_operations.py` rewrites the file;
`--check` only says whether it is current (tests/test_emulator.py runs that check).
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


def render(index: t.Mapping[str, t.Mapping[str, t.Any]]) -> str:
    """The file's text: one line per operation, so a spec update shows as a readable diff."""
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
    """Write the file, or with `--check` compare it; exit 1 when it is stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check the file is current")
    args = parser.parse_args()
    try:
        text = render(operations(spec.documents()))
    except spec.SpecUnavailable as error:
        print(error, file=sys.stderr)
        return 1
    if args.check:
        if spec.OPERATIONS_FILE.read_text(encoding="utf-8") != text:
            print(f"{spec.OPERATIONS_FILE} is stale: run `python {__file__}`", file=sys.stderr)
            return 1
        return 0
    spec.OPERATIONS_FILE.write_text(text, encoding="utf-8")
    print(f"wrote {spec.OPERATIONS_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
