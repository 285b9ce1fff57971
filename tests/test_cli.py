"""Bad input: a clear message naming the problem, a non-zero exit, no traceback, no stdout.

Every distinct failure path runs once through the real command line: exit 1 (2 for a file the
command line cannot read) and one line on stderr, the last, naming what to fix. The config is
checked by one function before any command runs: its reasons are each checked in this process,
and the command line's path for them once per command (`--discover`, `--test`, sync).
"""

from __future__ import annotations

import datetime

import click
import pytest

from pipedrive_api.errors import ConfigError
from tap_pipedrive.tap import TapPipedrive, _json_file, failure_message
from tests.conftest import TOKEN, closed_port, config_for, moment
from tests.emulator import Emulator
from tests.singer_run import (
    cli_files,
    failure_line,
    json_file,
    parse_messages,
    records,
    run_cli,
)

SECRET = "s3cr3t-token-value"  # searched for in outputs
#: An address nothing is asked at: the config is refused before any request.
NOWHERE = "http://127.0.0.1:9"


def with_settings(config: dict, settings: dict, **names: str) -> dict:
    """`config` with `settings` set (None: removed; strings formatted with `names`)."""
    config = dict(config)
    for name, value in settings.items():
        if value is None:
            del config[name]
        else:
            config[name] = value.format(**names) if isinstance(value, str) else value
    return config


# --- the config: every reason in this process, the command line's path in each command ---------

#: name -> (config beyond a URL and the token, phrases of the line).
CONFIG_FAILURES = {
    "no credentials": (
        {"api_token": None},
        ["Invalid config", "No credentials", "`api_token`", "`client_id`"],
    ),
    "start_date not a date": ({"start_date": "yesterday"}, ["`start_date`", "'yesterday'"]),
    "start_date ambiguous": (
        {"start_date": "01/02/2024"},
        ["`start_date` '01/02/2024' is ambiguous", "2024-01-02 or 2024-02-01"],
    ),
    "custom_field_names unknown": (
        {"custom_field_names": "label"},
        ["'label' is not one of ['key', 'name']", "custom_field_names"],
    ),
    "every reason at once": (
        {"custom_field_names": "label", "start_date": "yesterday", "api_token": None},
        ["'label' is not one of", "'yesterday'", "No credentials"],
    ),
    "api_url with /api/v2": (
        {"api_url": "{url}/api/v2"},
        ["`api_url` is the API root without its path", "/api/v2'"],
    ),
    "plain http to a remote host": (
        {"api_url": "http://example.com", "api_token": SECRET},
        ["must be an https:// URL"],
    ),
    "a secret of the wrong type": ({"api_token": 987654321}, ["api_token"]),
}


@pytest.mark.parametrize("failure", CONFIG_FAILURES)
def test_a_config_failure_is_one_line_naming_every_reason(failure):
    settings, phrases = CONFIG_FAILURES[failure]
    config = with_settings({"api_token": TOKEN, "api_url": NOWHERE}, settings, url=NOWHERE)
    with pytest.raises(ConfigError) as raised:
        TapPipedrive(config=config)
    line = failure_message(raised.value)
    assert line is not None
    assert "\n" not in line
    for phrase in phrases:
        assert phrase in line
    assert SECRET not in line
    assert "987654321" not in line


def test_a_valid_config_is_accepted(emulator):
    # The counterpart of the cases above: a config with nothing wrong (the tap, built, discovers).
    config = config_for(emulator)
    tap = TapPipedrive(config=config)
    assert {name: tap.config[name] for name in config} == config


#: Every reason at once, and a secret of the wrong type that the line must not echo.
BAD_CONFIG = {"custom_field_names": "label", "start_date": "yesterday", "api_token": 987654321}
COMMANDS = {"discover": ["--discover"], "test": ["--test"], "sync": []}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_bad_config_is_one_line_and_exit_1_in_every_command(tmp_path, command):
    config = json_file(tmp_path / "config.json", {"api_url": NOWHERE, **BAD_CONFIG})
    result = run_cli("--config", config, *COMMANDS[command])
    phrases = ["Invalid config", "in config['api_token']", "'label' is not one of", "'yesterday'"]
    failure_line(result, 1, *phrases)
    assert "987654321" not in result.stderr.decode()


# --- the API's refusals and failures: each its own path, once through the command line ---------

#: name -> (command, config beyond the emulator's URL and token, fault to inject, phrases).
#: The commands take turns: each meets these failures in the same first request (discovery's).
API_FAILURES = {
    "token refused (401)": (
        "discover",
        {"api_token": SECRET},
        None,
        ["Pipedrive refused the credentials (401)", "`api_token`"],
    ),
    "blocked by the firewall (403)": (
        "test",
        {},
        ("html_403", {"times": -1}),
        ["403", "an HTML page instead of JSON", "blocked the client"],
    ),
    "daily budget spent": (
        "sync",
        {},
        ("budget_429", {}),
        ["daily token budget", "refills at midnight"],
    ),
    "not found (404)": (
        "discover",
        {},
        ("not_found", {"times": -1}),
        ["404", "Check `api_url` / `company_domain`"],
    ),
    "retries exhausted": (
        "test",
        {"retry_patience_seconds": 1},
        ("burst_429", {"times": -1, "headers": {"Retry-After": "0"}}),
        ["429", "still failing after every retry", "run again later"],
    ),
    "token limit below what discovery reads": (
        "sync",
        {"max_tokens_per_run": 5},
        None,
        ["Discovery needs more tokens than max_tokens_per_run (5) allows", "Raise or unset"],
    ),
    "connection refused": (
        "discover",
        {"api_url": "http://127.0.0.1:{closed}"},
        None,
        ["Cannot connect to http://127.0.0.1:", "Connection refused", "`api_url`"],
    ),
}


@pytest.mark.parametrize("failure", API_FAILURES)
def test_an_api_failure_is_one_line_and_exit_1(tmp_path, failure):
    command, settings, fault, phrases = API_FAILURES[failure]
    with Emulator(seed=3, scale=20, api_token=TOKEN) as emu:
        if fault is not None:
            emu.inject("", fault[0], **fault[1])
        config = with_settings(
            {"api_token": TOKEN, "api_url": emu.url}, settings, closed=str(closed_port())
        )
        path = json_file(tmp_path / "config.json", config)
        result = run_cli("--config", path, *COMMANDS[command], quick_retries=True)
    failure_line(result, 1, *phrases)
    assert SECRET not in result.stderr.decode()


@pytest.mark.parametrize(("command", "after"), [("test", 0), ("sync", 1)])
def test_a_failure_inside_a_stream_is_one_line_after_the_state_so_far(tmp_path, command, after):
    with Emulator(seed=3, scale=1200, api_token=TOKEN) as emu:
        files = cli_files(tmp_path, emu, ["persons"])
        emu.inject("/api/v2/persons", "budget_429", after=after)  # the second page, in sync
        result = run_cli(*files, *COMMANDS[command], quick_retries=True)
        persons = emu.ids("persons")
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    lines = stderr.splitlines()
    assert [line for line in lines if "ERROR" in line] == [lines[-1]]
    assert "daily token budget" in lines[-1]
    if command == "sync":
        messages = parse_messages(result.stdout)
        read = records(messages, "persons")
        assert len({r["id"] for r in read}) == 500  # the first page, the one read
        assert {r["id"] for r in read} < persons
        assert messages[-1]["type"] == "STATE"
        state = messages[-1]["value"]["bookmarks"]["persons"]
        assert state["replication_key_value"] == max(r["update_time"] for r in read)


# --- files the command line cannot read: exit 2, click's one `Error:` line ----------------------


def test_a_config_file_that_is_not_json(tmp_path):
    config = json_file(tmp_path / "config.json", "{api_token: x")
    failure_line(run_cli("--config", config), 2, "config.json", "is not valid JSON")


def test_a_missing_config_file(tmp_path):
    failure_line(run_cli("--config", str(tmp_path / "nope.json")), 2, "nope.json", "No such file")


def test_a_state_file_that_is_not_json(tmp_path):
    config = json_file(tmp_path / "config.json", {"api_token": SECRET, "api_url": NOWHERE})
    broken = json_file(tmp_path / "file.json", '{"bookmarks": ')
    line = failure_line(run_cli("--config", config, "--state", broken), 2, "is not valid JSON")
    assert line.startswith("Error: --state '")


@pytest.mark.parametrize("option", ["--state", "--catalog"])
def test_a_state_or_catalog_file_that_is_not_json_is_named(tmp_path, option):
    # The same check as the command line's run above, for each option.
    broken = json_file(tmp_path / "file.json", '{"bookmarks": ')
    with open(broken, encoding="utf-8") as handle, pytest.raises(click.UsageError) as raised:
        _json_file(handle, option, "streams" if option == "--catalog" else None)
    assert raised.value.message.startswith(f"{option} {broken!r} is not valid JSON: ")


def test_a_catalog_without_streams(tmp_path):
    config = json_file(tmp_path / "config.json", {"api_token": SECRET, "api_url": NOWHERE})
    catalog = json_file(tmp_path / "catalog.json", {"bookmarks": {}})
    failure_line(run_cli("--config", config, "--catalog", catalog), 2, "'streams'")


# --- start_date in the forms users paste ----------------------------------------------------------


@pytest.fixture(scope="module")
def persons_day(emulator):
    """Midnight UTC after a person's update in the two hours before it, so that reading a form
    an hour or a day off changes the records; a day after the 12th, so that its slashed forms
    are unambiguous."""
    times = sorted(moment(r["update_time"]) for r in emulator.records("persons"))
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
def test_start_date_forms_users_paste_mean_midnight_utc_of_that_day(emulator, persons_day, form):
    # One reading of the setting for every form: checked here; what it reads, once below.
    tap = TapPipedrive(config=config_for(emulator, start_date=START_DATE_FORMS[form](persons_day)))
    assert tap.config["start_date"] == persons_day.strftime("%Y-%m-%dT00:00:00Z")


def test_a_pasted_start_date_reads_from_midnight_utc_of_that_day(tmp_path, emulator, persons_day):
    start_date = START_DATE_FORMS["DD/MM/YYYY"](persons_day)
    result = run_cli(*cli_files(tmp_path, emulator, ["persons"], start_date=start_date))
    assert result.returncode == 0, result.stderr.decode()
    expected = emulator.ids("persons", updated_since=persons_day)
    assert {r["id"] for r in records(parse_messages(result.stdout), "persons")} == expected
    assert expected < emulator.ids("persons")
