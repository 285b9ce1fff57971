"""Write `tests/emulator/operations.json`: what the emulator needs of Pipedrive's OpenAPI specs.

The specs are Pipedrive's text and stay outside the repository; the emulator serves from this
digest of them (every operation's method, path template, `x-token-cost`, and query parameters
with their enums and maximum `limit`). Reads `$PIPEDRIVE_OPENAPI_DIR/{v1,v2}.yaml`, else
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


def operations(documents: t.Mapping[str, t.Mapping[str, t.Any]]) -> dict[str, t.Any]:
    """Every operation of both specs, keyed by version, then `METHOD /template`."""
    index: dict[str, t.Any] = {}
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
                found[f"{method.upper()} {template}"] = {
                    "cost": int(definition.get("x-token-cost", 0)),
                    "query": dict(sorted(query.items())),
                }
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
