"""hub/tap-pipedrive.yml (the Meltano Hub definition) and meltano.yml agree with the tap itself.

The tap's settings, as `tap-pipedrive --about --format=json` prints them, are the source: the
Hub definition lists each of them (objects with fixed properties as their dotted leaves, as the
Hub does) with the same label and description, a kind matching its JSON type and
`sensitive: true` exactly for secrets; meltano.yml's extractor carries the same settings.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import typing as t
from pathlib import Path

import jsonschema
import pytest
import yaml

from tap_pipedrive.tap import OAUTH_SETTINGS, SECRET_SETTINGS

ROOT = Path(__file__).resolve().parents[1]
HUB_FILE = ROOT / "hub" / "tap-pipedrive.yml"
MELTANO_SCHEMA = next(
    (ROOT / ".venv-meltano").glob("lib/python3*/site-packages/meltano/schemas/meltano.schema.json"),
    None,
)
#: Keys of a Hub variant file that only the Hub reads (its hub_metadata schema).
HUB_ONLY = {"maintenance_status", "quality", "domain_url", "keywords", "definition", "next_steps",
            "settings_preamble", "usage", "prereq"}  # fmt: skip
HUB_CAPABILITIES = {"properties", "catalog", "discover", "state", "about", "stream-maps",
                    "schema-flattening", "activate-version", "batch", "test", "log-based",
                    "structured-logging"}  # fmt: skip
SETTING_KEYS = {"name", "label", "kind", "description", "sensitive", "options"}
JSON_TYPE_KIND = {"string": "string", "boolean": "boolean", "integer": "integer",
                  "number": "decimal", "array": "array", "object": "object"}  # fmt: skip


def about_of(module: str) -> dict[str, t.Any]:
    """What `python -m <module> --about --format=json` prints."""
    result = subprocess.run(
        [sys.executable, "-m", module, "--about", "--format=json"],
        capture_output=True,
        check=True,
        timeout=120,
    )
    return t.cast("dict[str, t.Any]", json.loads(result.stdout))


def yaml_file(path: Path) -> dict[str, t.Any]:
    return t.cast("dict[str, t.Any]", yaml.safe_load(path.read_text(encoding="utf-8")))


def meltano_plugin(kind: str, name: str) -> dict[str, t.Any]:
    """meltano.yml's plugin of this kind (`extractors`, `loaders`) and name."""
    return next(p for p in yaml_file(ROOT / "meltano.yml")["plugins"][kind] if p["name"] == name)


@pytest.fixture(scope="module")
def about() -> dict[str, t.Any]:
    return about_of("tap_pipedrive.tap")


@pytest.fixture(scope="module")
def hub() -> dict[str, t.Any]:
    return yaml_file(HUB_FILE)


@pytest.fixture(scope="module")
def extractor() -> dict[str, t.Any]:
    return meltano_plugin("extractors", "tap-pipedrive")


def alternatives(schema: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return [a for a in schema[key] if isinstance(a, dict)]
    return [schema]


def json_types(schema: dict[str, t.Any]) -> list[str]:
    found: list[str] = []
    for alternative in alternatives(schema):
        kind = alternative.get("type", [])
        found += [kind] if isinstance(kind, str) else kind
    return [kind for kind in found if kind != "null"]


def expected_kind(schema: dict[str, t.Any]) -> str:
    """The Meltano setting kind for a JSON schema (a union with a string is a string)."""
    if "enum" in schema:
        return "options"
    if schema.get("format") == "date-time":
        return "date_iso8601"
    types = json_types(schema)
    assert types, schema
    return "string" if "string" in types else JSON_TYPE_KIND[types[0]]


def leaf_settings(properties: dict[str, t.Any], prefix: str = "") -> t.Iterator[tuple[str, dict]]:
    """Settings as the Hub lists them: an object with fixed properties becomes its dotted leaves;
    a free-form object (no properties, or a schema for any key, as `stream_maps`) stays one."""
    for name, schema in properties.items():
        if schema.get("properties") and not isinstance(schema.get("additionalProperties"), dict):
            yield from leaf_settings(schema["properties"], f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", schema


@pytest.fixture(scope="module")
def tap_settings(about) -> dict[str, dict[str, t.Any]]:
    return dict(leaf_settings(about["settings"]["properties"]))


def by_name(settings: list[dict[str, t.Any]]) -> dict[str, dict[str, t.Any]]:
    names = [s["name"] for s in settings]
    assert len(names) == len(set(names)), "a setting is listed twice"
    return {s["name"]: s for s in settings}


# --- the Hub definition against the tap ---


def test_identity(hub, about):
    distribution = importlib.metadata.distribution("tap-pipedrive")
    assert hub["name"] == about["name"] == distribution.metadata["Name"]
    assert hub["namespace"] == "tap_pipedrive" == hub["name"].replace("-", "_")
    assert (ROOT / hub["namespace"] / "__init__.py").exists()
    scripts = {e.name for e in distribution.entry_points if e.group == "console_scripts"}
    assert hub["executable"] in scripts
    assert hub["label"] == "Pipedrive"
    assert hub["description"].strip()
    assert hub["maintenance_status"] in {"active", "beta", "development", "inactive", "unknown"}
    assert "meltano_sdk" in hub["keywords"]


def test_the_readme_installs_from_the_hubs_repo_or_from_a_clone_until_there_is_one(hub):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    installs = re.findall(r"pip install (git\+https://\S+)", readme)
    assert hub["pip_url"] == f"git+{hub['repo']}.git"
    owner = re.fullmatch(r"https://github\.com/([^/]+)/tap-pipedrive", hub["repo"])
    assert owner, hub["repo"]
    if owner.group(1) == "<owner>":  # no public repository yet: no URL that does not exist
        assert installs == []
        assert "install from a clone" in readme
    else:
        assert installs == [hub["pip_url"]]
        assert hub["variant"] == owner.group(1).lower()


def test_capabilities_are_the_taps(hub, about):
    assert sorted(hub["capabilities"]) == sorted(about["capabilities"])
    assert set(hub["capabilities"]) <= HUB_CAPABILITIES


def test_every_setting_of_the_tap_and_no_other(hub, tap_settings):
    assert [s["name"] for s in hub["settings"]] == list(tap_settings)


def test_settings_have_only_known_keys_and_all_of_the_needed_ones(hub):
    for setting in hub["settings"]:
        assert set(setting) <= SETTING_KEYS, setting["name"]
        assert {"name", "label", "kind", "description"} <= set(setting), setting["name"]


def test_labels_and_descriptions_are_the_taps(hub, tap_settings):
    settings = by_name(hub["settings"])
    for name, schema in tap_settings.items():
        assert settings[name]["label"] == schema["title"], name
        assert settings[name]["description"] == schema["description"], name


def test_kinds_match_the_json_types(hub, tap_settings):
    kinds = {s["name"]: s["kind"] for s in hub["settings"]}
    assert kinds == {name: expected_kind(schema) for name, schema in tap_settings.items()}


def test_options_are_the_enums(hub, tap_settings):
    for name, setting in by_name(hub["settings"]).items():
        enum = tap_settings[name].get("enum")
        assert [o["value"] for o in setting.get("options", [])] == (enum or []), name
        assert all(o["label"].strip() for o in setting.get("options", [])), name


def test_secrets_and_only_secrets_are_sensitive(hub, tap_settings):
    sensitive = {s["name"] for s in hub["settings"] if s.get("sensitive")}
    secrets = {name for name, schema in tap_settings.items() if schema.get("secret")}
    assert sensitive == secrets == set(SECRET_SETTINGS)
    assert all(s["sensitive"] is True for s in hub["settings"] if "sensitive" in s)


def test_settings_group_validation_is_a_token_or_oauth(hub, tap_settings):
    assert hub["settings_group_validation"] == [["api_token"], list(OAUTH_SETTINGS)]
    for group in hub["settings_group_validation"]:
        assert set(group) <= set(tap_settings)


# --- meltano.yml against the Hub definition ---


def test_meltano_yml_extractor_is_the_hub_definition_installed_from_here(hub, extractor):
    assert extractor["settings"] == hub["settings"]
    for key in ("namespace", "label", "executable", "capabilities", "settings_group_validation"):
        assert extractor[key] == hub[key], key
    assert extractor["pip_url"] == "-e ."
    assert "variant" not in extractor  # nothing to fetch from the Hub


def test_meltano_yml_config_uses_only_declared_settings(extractor):
    names = {s["name"] for s in extractor["settings"]}
    assert set(extractor.get("config", {})) <= names


# --- both against Meltano's own schema ---


@pytest.fixture(scope="module")
def meltano_schema() -> dict[str, t.Any]:
    if MELTANO_SCHEMA is None:
        reason = "Meltano is not installed in .venv-meltano (run `make meltano`)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return json.loads(MELTANO_SCHEMA.read_text(encoding="utf-8"))


def test_meltano_yml_is_valid(meltano_schema):
    project = yaml_file(ROOT / "meltano.yml")
    jsonschema.validate(project, meltano_schema)


def test_hub_definition_is_a_valid_meltano_extractor(meltano_schema, hub):
    plugin = {key: value for key, value in hub.items() if key not in HUB_ONLY}
    jsonschema.validate({"plugins": {"extractors": [plugin]}}, meltano_schema)
