"""Bad input: a clear message naming the problem, a non-zero exit, no traceback, no stdout.

Every expected failure is tried in every command (`--discover`, `--test`, sync) through the
real command line: exit 1 and one line on stderr, the last, naming what to fix.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import TOKEN, closed_port
from tests.emulator import Emulator
from tests.singer_run import QUICK_RETRIES, discover, parse_messages, run_cli, select

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


# --- every expected failure, in every command ---------------------------------------------------

COMMANDS = {"discover": ["--discover"], "test": ["--test"], "sync": []}


#: name -> (config beyond the emulator's URL and token, fault to inject, phrases of the line).
FAILURES = {
    "no credentials": (
        {"api_token": None},
        None,
        ["Invalid config", "No credentials", "`api_token`", "`client_id`"],
    ),
    "start_date not a date": ({"start_date": "yesterday"}, None, ["`start_date`", "'yesterday'"]),
    "start_date ambiguous": (
        {"start_date": "01/02/2024"},
        None,
        ["`start_date` '01/02/2024' is ambiguous", "2024-01-02 or 2024-02-01"],
    ),
    "custom_field_names unknown": (
        {"custom_field_names": "label"},
        None,
        ["'label' is not one of ['key', 'name']", "custom_field_names"],
    ),
    "every reason at once": (
        {"custom_field_names": "label", "start_date": "yesterday", "api_token": None},
        None,
        ["'label' is not one of", "'yesterday'", "No credentials"],
    ),
    "api_url with /api/v2": (
        {"api_url": "{url}/api/v2"},
        None,
        ["`api_url` is the API root without its path", "/api/v2'"],
    ),
    "token refused (401)": (
        {"api_token": SECRET},
        None,
        ["Pipedrive refused the credentials (401)", "`api_token`"],
    ),
    "blocked by the firewall (403)": (
        {},
        ("html_403", {"times": -1}),
        ["403", "an HTML page instead of JSON", "blocked the client"],
    ),
    "daily budget spent": ({}, ("budget_429", {}), ["daily token budget", "refills at midnight"]),
    "not found (404)": (
        {},
        ("not_found", {"times": -1}),
        ["404", "Check `api_url` / `company_domain`"],
    ),
    "retries exhausted": (
        {"retry_patience_seconds": 1},
        ("burst_429", {"times": -1, "headers": {"Retry-After": "0"}}),
        ["429", "still failing after every retry", "run again later"],
    ),
    "token limit below what discovery reads": (
        {"max_tokens_per_run": 5},
        None,
        ["Discovery needs more tokens than max_tokens_per_run (5) allows", "Raise or unset"],
    ),
    "connection refused": (
        {"api_url": "http://127.0.0.1:{closed}"},
        None,
        ["Cannot connect to http://127.0.0.1:", "Connection refused", "`api_url`"],
    ),
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("failure", FAILURES)
def test_an_expected_failure_is_one_line_and_exit_1(tmp_path, failure, command):
    settings, fault, phrases = FAILURES[failure]
    with Emulator(seed=3, scale=20, api_token=TOKEN) as emu:
        if fault is not None:
            emu.inject("", fault[0], **fault[1])
        config = {"api_token": TOKEN, "api_url": emu.url}
        for name, value in settings.items():
            if value is None:
                del config[name]
            else:
                config[name] = (
                    value.format(url=emu.url, closed=closed_port())
                    if isinstance(value, str)
                    else value
                )
        env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_PIPEDRIVE_")}
        result = subprocess.run(
            [sys.executable, "-c", QUICK_RETRIES, "--config", write(tmp_path, "c.json", config),
             *COMMANDS[command]],
            capture_output=True, env=env, timeout=120, check=False,
        )  # fmt: skip
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    assert result.stdout == b""
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    errors = [line for line in lines if "ERROR" in line]
    assert errors == [lines[-1]], stderr
    for phrase in phrases:
        assert phrase in lines[-1]
    assert SECRET not in stderr


@pytest.mark.parametrize(("command", "after"), [("test", 0), ("sync", 1)])
def test_a_failure_inside_a_stream_is_one_line_after_the_state_so_far(tmp_path, command, after):
    with Emulator(seed=3, scale=1200, api_token=TOKEN) as emu:
        config = {"api_token": TOKEN, "api_url": emu.url}
        catalog = write(tmp_path, "catalog.json", select(discover(config), ["persons"]))
        emu.inject("/api/v2/persons", "budget_429", after=after)  # the second page, in sync
        result = subprocess.run(
            [sys.executable, "-c", QUICK_RETRIES, "--config", write(tmp_path, "c.json", config),
             "--catalog", catalog, *COMMANDS[command]],
            capture_output=True, timeout=120, check=False,
        )  # fmt: skip
        persons = emu.ids("persons")
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    lines = stderr.splitlines()
    assert [line for line in lines if "ERROR" in line] == [lines[-1]]
    assert "daily token budget" in lines[-1]
    if command == "sync":
        messages = parse_messages(result.stdout)
        records = [m["record"] for m in messages if m["type"] == "RECORD"]
        assert len({r["id"] for r in records}) == 500  # the first page, the one read
        assert {r["id"] for r in records} < persons
        assert messages[-1]["type"] == "STATE"
        state = messages[-1]["value"]["bookmarks"]["persons"]
        assert state["replication_key_value"] == max(r["update_time"] for r in records)


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


def test_the_emulator_token_is_accepted(tmp_path, emulator):
    # The counterpart of the test above: the same command with the right token runs.
    config = write(tmp_path, "config.json", {"api_token": TOKEN, "api_url": emulator.url})
    result = run("--config", config, "--discover")
    assert result.returncode == 0, result.stderr.decode()
    assert "streams" in json.loads(result.stdout)


# --- start_date in the forms users paste ----------------------------------------------------------


@pytest.fixture(scope="module")
def persons_day(emulator):
    """Midnight UTC after a person's update in the two hours before it, so that reading a form
    an hour or a day off changes the records; a day after the 12th, so that its slashed forms
    are unambiguous."""
    times = sorted(
        datetime.datetime.fromisoformat(r["update_time"].replace("Z", "+00:00"))
        for r in emulator.records("persons")
    )
    days = [
        (moment + datetime.timedelta(days=1)).replace(hour=0, minute=0, second=0)
        for moment in times
        if moment.hour >= 22 and (moment + datetime.timedelta(days=1)).day > 12
    ]
    return days[len(days) // 2]


#: start_date as users write it, for a day (midnight UTC).
START_DATE_FORMS = {
    "ISO date": lambda day: day.strftime("%Y-%m-%d"),
    "RFC 3339 UTC": lambda day: day.strftime("%Y-%m-%dT%H:%M:%SZ"),
    # The evening before in UTC-2: the offset counts, not the written date.
    "offset": lambda day: (day - datetime.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S-02:00"),
    "MM/DD/YYYY": lambda day: day.strftime("%m/%d/%Y"),
    "DD/MM/YYYY": lambda day: day.strftime("%d/%m/%Y"),
}


@pytest.mark.parametrize("form", START_DATE_FORMS)
def test_start_date_forms_users_paste_mean_midnight_utc_of_that_day(
    tmp_path, emulator, persons_day, form
):
    start_date = START_DATE_FORMS[form](persons_day)
    config = {"api_token": TOKEN, "api_url": emulator.url, "start_date": start_date}
    catalog = select(discover(config), ["persons"])
    result = run(
        "--config", write(tmp_path, "config.json", config),
        "--catalog", write(tmp_path, "catalog.json", catalog),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    records = [m["record"] for m in parse_messages(result.stdout) if m["type"] == "RECORD"]
    expected = emulator.ids("persons", updated_since=persons_day)
    assert {r["id"] for r in records} == expected
    assert expected < emulator.ids("persons")
