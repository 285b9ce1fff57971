"""Bad input: a clear message naming the problem, a non-zero exit, no traceback, no stdout."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import TOKEN
from tests.singer_run import run_cli

SECRET = "s3cr3t-token-value"  # searched for in outputs


def write(tmp_path, name: str, content) -> str:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def run(*args: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_PIPEDRIVE_")}
    return run_cli(*args, env=env)


def assert_clean_failure(result, exit_code: int, *phrases: str) -> str:
    stderr = result.stderr.decode()
    assert result.returncode == exit_code, stderr
    assert result.stdout == b""
    assert "Traceback" not in stderr
    for phrase in phrases:
        assert phrase in stderr
    return stderr


def test_no_credentials_names_the_settings(tmp_path):
    config = write(tmp_path, "config.json", {"api_url": "http://127.0.0.1:9"})
    assert_clean_failure(run("--config", config), 1, "No credentials", "api_token", "client_id")


def test_a_start_date_that_is_not_a_date(tmp_path):
    config = write(tmp_path, "config.json", {"api_token": SECRET, "start_date": "last tuesday"})
    assert_clean_failure(run("--config", config), 1, "`start_date`", "'last tuesday'")


def test_an_unknown_setting_value(tmp_path):
    config = write(tmp_path, "config.json", {"api_token": SECRET, "custom_field_names": "hash"})
    assert_clean_failure(run("--config", config), 1, "custom_field_names")


def test_plain_http_to_a_remote_host_is_refused(tmp_path):
    config = write(tmp_path, "config.json", {"api_token": SECRET, "api_url": "http://example.com"})
    assert_clean_failure(run("--config", config), 1, "must be an https:// URL")


def test_a_config_file_that_is_not_json(tmp_path):
    config = write(tmp_path, "config.json", "{api_token: x")
    assert_clean_failure(run("--config", config), 2, "config.json", "is not valid JSON")


def test_a_missing_config_file(tmp_path):
    assert_clean_failure(
        run("--config", str(tmp_path / "nope.json")), 2, "nope.json", "No such file"
    )


@pytest.mark.parametrize("option", ["--state", "--catalog"])
def test_a_state_or_catalog_file_that_is_not_json(tmp_path, option):
    config = write(tmp_path, "config.json", {"api_token": SECRET, "api_url": "http://127.0.0.1:9"})
    broken = write(tmp_path, "file.json", '{"bookmarks": ')
    assert_clean_failure(run("--config", config, option, broken), 2, option, "is not valid JSON")


def test_a_catalog_without_streams(tmp_path):
    config = write(tmp_path, "config.json", {"api_token": SECRET, "api_url": "http://127.0.0.1:9"})
    catalog = write(tmp_path, "catalog.json", {"bookmarks": {}})
    assert_clean_failure(run("--config", config, "--catalog", catalog), 2, "'streams'")


def test_a_secret_of_the_wrong_type_is_not_echoed(tmp_path):
    config = write(tmp_path, "config.json", {"api_token": 987654321})
    stderr = assert_clean_failure(run("--config", config), 1, "api_token")
    assert "987654321" not in stderr


def test_a_refused_token_is_fatal_and_names_the_setting(tmp_path, emulator):
    config = write(tmp_path, "config.json", {"api_token": SECRET, "api_url": emulator.url})
    stderr = assert_clean_failure(run("--config", config), 1, "refused the credentials (401)")
    assert "`api_token`" in stderr
    assert SECRET not in stderr


def test_the_emulator_token_is_accepted(tmp_path, emulator):
    # The counterpart of the test above: the same command with the right token runs.
    config = write(tmp_path, "config.json", {"api_token": TOKEN, "api_url": emulator.url})
    result = run("--config", config, "--discover")
    assert result.returncode == 0, result.stderr.decode()
    assert "streams" in json.loads(result.stdout)
