"""hub/target-pipedrive.yml and meltano.yml's loader agree with `target-pipedrive --about`.

The same checks as tests/test_hub_definition.py makes for the tap: every setting with its label,
description, kind and options, `sensitive` exactly for secrets, and valid for Meltano.
"""

from __future__ import annotations

import importlib.metadata
import typing as t
from pathlib import Path

import jsonschema
import pytest

from tap_pipedrive.tap import OAUTH_SETTINGS, SECRET_SETTINGS
from tests.test_hub_definition import (
    HUB_ONLY,
    SETTING_KEYS,
    about_of,
    by_name,
    expected_kind,
    leaf_settings,
    meltano_plugin,
    meltano_schema,  # noqa: F401 - a fixture
    yaml_file,
)

ROOT = Path(__file__).resolve().parents[1]
HUB_FILE = ROOT / "hub" / "target-pipedrive.yml"


@pytest.fixture(scope="module")
def about() -> dict[str, t.Any]:
    return about_of("target_pipedrive.target")


@pytest.fixture(scope="module")
def hub() -> dict[str, t.Any]:
    return yaml_file(HUB_FILE)


@pytest.fixture(scope="module")
def loader() -> dict[str, t.Any]:
    return meltano_plugin("loaders", "target-pipedrive")


@pytest.fixture(scope="module")
def target_settings(about) -> dict[str, dict[str, t.Any]]:
    return dict(leaf_settings(about["settings"]["properties"]))


def test_identity(hub, about):
    distribution = importlib.metadata.distribution("tap-pipedrive")
    assert hub["name"] == about["name"] == "target-pipedrive"
    assert hub["namespace"] == "target_pipedrive"
    assert (ROOT / hub["namespace"] / "__init__.py").exists()
    scripts = {e.name for e in distribution.entry_points if e.group == "console_scripts"}
    assert hub["executable"] in scripts
    tap_hub = yaml_file(ROOT / "hub" / "tap-pipedrive.yml")
    assert (hub["pip_url"], hub["repo"], hub["variant"]) == (
        tap_hub["pip_url"],
        tap_hub["repo"],
        tap_hub["variant"],
    )


def test_capabilities_are_the_targets(hub, about):
    assert hub["capabilities"] == about["capabilities"]


def test_every_setting_of_the_target_and_no_other(hub, target_settings):
    assert [s["name"] for s in hub["settings"]] == list(target_settings)
    for setting in hub["settings"]:
        assert set(setting) <= SETTING_KEYS, setting["name"]


def test_labels_and_descriptions_are_the_targets(hub, target_settings):
    settings = by_name(hub["settings"])
    for name, schema in target_settings.items():
        # The SDK's `load_method` has no title: the Hub shows its name in title case.
        title = schema.get("title") or name.replace("_", " ").title()
        assert settings[name]["label"] == title, name
        assert settings[name]["description"] == schema.get("description", ""), name


def test_kinds_and_options_match_the_json_schema(hub, target_settings):
    kinds = {s["name"]: s["kind"] for s in hub["settings"]}
    assert kinds == {name: expected_kind(schema) for name, schema in target_settings.items()}
    for name, setting in by_name(hub["settings"]).items():
        enum = target_settings[name].get("enum") or []
        assert [o["value"] for o in setting.get("options", [])] == enum, name


def test_secrets_and_only_secrets_are_sensitive(hub, target_settings):
    sensitive = {s["name"] for s in hub["settings"] if s.get("sensitive")}
    secrets = {name for name, schema in target_settings.items() if schema.get("secret")}
    assert sensitive == secrets == set(SECRET_SETTINGS)


def test_settings_group_validation_is_a_token_or_oauth(hub):
    assert hub["settings_group_validation"] == [["api_token"], list(OAUTH_SETTINGS)]


def test_meltano_yml_loader_is_the_hub_definition_installed_from_here(hub, loader):
    assert loader["settings"] == hub["settings"]
    for key in ("namespace", "label", "executable", "capabilities", "settings_group_validation"):
        assert loader[key] == hub[key], key
    assert loader["pip_url"] == "-e ."
    assert "variant" not in loader


def test_hub_definition_is_a_valid_meltano_loader(meltano_schema, hub):  # noqa: F811
    plugin = {key: value for key, value in hub.items() if key not in HUB_ONLY}
    jsonschema.validate({"plugins": {"loaders": [plugin]}}, meltano_schema)
