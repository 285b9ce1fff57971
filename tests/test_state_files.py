"""What other tools hand the tap: the legacy tap's and Meltano's state, configs with typos,
another tap's catalog. Each through the real command line: the run is right, or one line.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import TOKEN, config_for, moment
from tests.emulator import Emulator
from tests.singer_run import discover, failure_line, json_file, parse_messages, run_cli, select

LEGACY_STREAMS = ["deals", "persons", "users", "deal_products", "dealflow"]
#: A `start_date` after the legacy bookmarks below: they win over it, as any state does.
START_DATE = "2026-01-01T00:00:00Z"
FLOW = re.compile(r"/v1/deals/(\d+)/flow")


def quantile(emu: Emulator, entity: str, fraction: float) -> str:
    """An `update_time` of the emulator's data, `fraction` of the way through."""
    times = sorted(r["update_time"] for r in emu.records(entity))
    return times[int(len(times) * fraction)]


def lines_with(stderr: bytes, phrase: str) -> list[str]:
    return [line.split(" | ")[-1] for line in stderr.decode().splitlines() if phrase in line]


@pytest.fixture(scope="module")
def legacy_run(tmp_path_factory):
    """A run handed the legacy tap 2.1.0's final STATE, with a `start_date` after it."""
    tmp = tmp_path_factory.mktemp("legacy")
    with Emulator(seed=7, scale=1200, api_token=TOKEN) as emu:
        deals_mark, persons_mark = quantile(emu, "deals", 0.75), quantile(emu, "persons", 0.75)
        state = {
            "currently_syncing": None,
            "bookmarks": {
                "deals": {"update_time": deals_mark},
                "persons": {"update_time": persons_mark},
                "users": {"modified": "2025-12-09T20:38:14Z"},
                "dealflow": {"log_time": deals_mark, "deal_update_time": deals_mark},
                "deal_products": {"deal_update_time": deals_mark},
                "product_variations": {"update_time": deals_mark},
                # Carried over from a run before 1.1, which had this stream.
                "delete_logs": {"update_time": deals_mark},
            },
        }
        catalog = select(discover(config_for(emu)), LEGACY_STREAMS)
        emu.clear_log()
        result = run_cli(
            "--config", json_file(tmp / "config.json", config_for(emu, start_date=START_DATE)),
            "--catalog", json_file(tmp / "catalog.json", catalog),
            "--state", json_file(tmp / "state.json", state),
        )  # fmt: skip
        flows = {int(m[1]) for r in emu.requests if (m := FLOW.fullmatch(r.path))}
        yield emu, deals_mark, persons_mark, result, flows


def test_a_legacy_state_resumes_each_stream_from_its_legacy_bookmark(legacy_run):
    emu, deals_mark, persons_mark, result, _ = legacy_run
    assert result.returncode == 0, result.stderr.decode()
    messages = parse_messages(result.stdout)
    deals = {m["record"]["id"] for m in messages if m.get("stream") == "deals" and "record" in m}
    persons = {
        m["record"]["id"] for m in messages if m.get("stream") == "persons" and "record" in m
    }
    # The live list from the legacy bookmark; the archive, never read by it, from start_date.
    assert deals == emu.ids(
        "deals", include_deleted=True, updated_since=moment(deals_mark)
    ) | emu.ids("deals", archived=True, updated_since=moment(START_DATE))
    assert persons == emu.ids("persons", updated_since=moment(persons_mark))
    assert deals
    assert persons


def test_a_legacy_state_reads_the_flows_of_the_deals_updated_since_its_deal_bookmark(legacy_run):
    emu, deals_mark, _, _, flows = legacy_run
    live = [
        r for r in emu.records("deals")
        if not r.get("is_archived") and not r.get("is_deleted") and r["update_time"] >= deals_mark
    ]  # fmt: skip
    archived = emu.ids("deals", archived=True, updated_since=moment(START_DATE))
    assert flows == {r["id"] for r in live} | archived


def test_a_legacy_state_ends_as_this_taps_bookmarks(legacy_run):
    emu, deals_mark, _, result, _ = legacy_run
    newest = {
        (entity, archived): max(
            r["update_time"] for r in emu.records(entity) if bool(r.get("is_archived")) == archived
        )
        for entity in ("deals", "persons")
        for archived in (False, True)
        if entity == "deals" or not archived
    }
    assert newest["deals", True] >= START_DATE  # so the archive read has a bookmark too
    bookmarks = parse_messages(result.stdout)[-1]["value"]["bookmarks"]
    assert bookmarks["deals"]["partitions"] == [
        {
            "context": {"is_archived": archived},
            "replication_key": "update_time",
            "replication_key_value": newest["deals", archived],
        }
        for archived in (False, True)
    ]
    assert bookmarks["persons"] == {
        "replication_key": "update_time",
        "replication_key_value": newest["persons", False],
    }
    watermarks = {"live": newest["deals", False], "archived": newest["deals", True]}
    assert bookmarks["deal_products"]["deals_updated_since"] == watermarks
    assert bookmarks["dealflow"]["deals_updated_since"] == watermarks
    # The next run emits the changes since this run's deals watermark at its start.
    assert bookmarks["dealflow"]["changes_since"] == {"live": deals_mark, "archived": START_DATE}
    assert bookmarks["users"] == {}  # a full-table stream's, without the legacy `modified`
    # Not selected in this run: its translated watermark is kept as it was.
    assert bookmarks["product_variations"] == {"products_updated_since": deals_mark}
    assert "delete_logs" not in bookmarks


def test_a_legacy_state_says_what_each_stream_becomes(legacy_run):
    _, mark, persons_mark, result, _ = legacy_run
    assert lines_with(result.stderr, "Legacy state") == [
        f"Legacy state: stream 'deals' resumes from update_time {mark}; its archive, which the "
        "legacy tap did not read, from `start_date` (legacy `update_time`).",
        f"Legacy state: stream 'persons' resumes from update_time {persons_mark} (legacy "
        "`update_time`).",
        "Legacy state: stream 'users' is read in full on every run: its `modified` is not needed.",
        f"Legacy state: stream 'dealflow' resumes from the deals updated since {mark}, their "
        f"changes since {mark} (legacy `log_time`, `deal_update_time`).",
        f"Legacy state: stream 'deal_products' resumes from the deals updated since {mark} "
        "(legacy `deal_update_time`).",
        f"Legacy state: stream 'product_variations' resumes from the products updated since "
        f"{mark} (legacy `update_time`).",
        "Legacy state: stream 'delete_logs' does not exist in this tap: dropped.",
    ]


def persons_run(tmp_path, emu: Emulator, state, **settings):
    """A persons-only run with this state (any JSON) and these settings."""
    catalog = select(discover(config_for(emu)), ["persons"])
    return run_cli(
        "--config", json_file(tmp_path / "config.json", config_for(emu, **settings)),
        "--catalog", json_file(tmp_path / "catalog.json", catalog),
        "--state", json_file(tmp_path / "state.json", state),
    )  # fmt: skip


def persons_read(result) -> set[int]:
    assert result.returncode == 0, result.stderr.decode()
    messages = parse_messages(result.stdout)
    return {m["record"]["id"] for m in messages if m["type"] == "RECORD"}


def test_the_oldest_legacy_state_a_bare_timestamp_per_stream_resumes(tmp_path, emulator):
    mark = quantile(emulator, "persons", 0.5)
    # The legacy tap 1.x wrote pendulum's format.
    legacy = mark.replace("Z", "+00:00")
    result = persons_run(tmp_path, emulator, {"bookmarks": {"persons": legacy}})
    assert persons_read(result) == emulator.ids("persons", updated_since=moment(mark))
    assert lines_with(result.stderr, "Legacy state") == [
        f"Legacy state: stream 'persons' resumes from update_time {mark} (legacy bookmark)."
    ]


def test_meltano_state_get_output_is_unwrapped(tmp_path, emulator):
    mark = quantile(emulator, "persons", 0.5)
    state = {
        "bookmarks": {"persons": {"replication_key": "update_time", "replication_key_value": mark}}
    }
    result = persons_run(tmp_path, emulator, {"singer_state": state})
    assert persons_read(result) == emulator.ids("persons", updated_since=moment(mark))
    assert lines_with(result.stderr, "meltano state get") == [
        "The state is Meltano's (`meltano state get`): using its `singer_state`."
    ]


#: Hand-written or left by a killed run: the bookmark is all that counts.
PERSONS_BOOKMARKS = {
    "without its replication key": lambda mark: {"replication_key_value": mark},
    "with a killed run's markers, malformed": lambda mark: {
        "replication_key": "update_time",
        "replication_key_value": mark,
        "progress_markers": "x",
        "replication_key_signpost": [1],
        "starting_replication_value": 5,
    },
}


@pytest.mark.parametrize("case", PERSONS_BOOKMARKS)
def test_a_bookmark_resumes_whatever_is_beside_it(tmp_path, emulator, case):
    mark = quantile(emulator, "persons", 0.5)
    state = {"bookmarks": {"persons": PERSONS_BOOKMARKS[case](mark)}}
    result = persons_run(tmp_path, emulator, state)
    assert persons_read(result) == emulator.ids("persons", updated_since=moment(mark))


def test_a_bookmark_wins_over_a_later_start_date(tmp_path, emulator):
    mark = quantile(emulator, "persons", 0.5)
    state = {
        "bookmarks": {"persons": {"replication_key": "update_time", "replication_key_value": mark}}
    }
    result = persons_run(tmp_path, emulator, state, start_date="2099-01-01")
    assert persons_read(result) == emulator.ids("persons", updated_since=moment(mark))


#: States no tool writes -> what the one line names.
UNUSABLE_STATES = {
    "a list": ([{"bookmarks": {}}], "is not a JSON object (a Singer state)"),
    "a number": (7, "is not a JSON object (a Singer state)"),
    "null": (None, "is not a JSON object (a Singer state)"),
    "bookmarks a list": (
        {"bookmarks": ["persons"]},
        "The state's `bookmarks` is not a JSON object",
    ),
    "bookmarks a string": (
        {"bookmarks": "persons"},
        "The state's `bookmarks` is not a JSON object",
    ),
    "a stream state a number": (
        {"bookmarks": {"persons": 1700000000}},
        "The state of stream 'persons' is not a JSON object: 1700000000.",
    ),
    "a stream state a list": (
        {"bookmarks": {"persons": ["2024-01-01"]}},
        "The state of stream 'persons' is not a JSON object: ['2024-01-01'].",
    ),
    "a legacy bookmark not a timestamp": (
        {"bookmarks": {"persons": {"update_time": "yesterday"}}},
        "The state of stream 'persons' has a `update_time` that is not a timestamp: 'yesterday'.",
    ),
    "a bare legacy bookmark not a timestamp": (
        {"bookmarks": {"persons": "soon"}},
        "The state of stream 'persons' has a `bookmark` that is not a timestamp: 'soon'.",
    ),
    "a legacy bookmark a number": (
        {"bookmarks": {"deals": {"update_time": 1700000000}}},
        "The state of stream 'deals' has a `update_time` that is not a timestamp: 1700000000.",
    ),
    "partitions a string": (
        {"bookmarks": {"deals": {"partitions": "live"}}},
        "The state of stream 'deals' has `partitions` that are not a list of objects",
    ),
    "partitions without a context": (
        {"bookmarks": {"deals": {"partitions": [{"replication_key_value": "2024-01-01"}]}}},
        "The state of stream 'deals' has `partitions` that are not a list of objects",
    ),
    "partitions of numbers": (
        {"bookmarks": {"deals": {"partitions": [1, 2]}}},
        "The state of stream 'deals' has `partitions` that are not a list of objects",
    ),
    "a watermark a string": (
        {"bookmarks": {"dealflow": {"deals_updated_since": "2024-01-01T00:00:00Z"}}},
        "The state of stream 'dealflow' has a `deals_updated_since` that is not a JSON object",
    ),
    "singer_state a string": (
        {"singer_state": "{}"},
        "The state's `singer_state` is not a JSON object: '{}'.",
    ),
    "an impossible date": (
        {"bookmarks": {"persons": {"replication_key_value": "2024-13-45T00:00:00Z"}}},
        "The state of stream 'persons' has a `replication_key_value` that is not a timestamp: "
        "'2024-13-45T00:00:00Z'.",
    ),
    "a bookmark on another key": (
        {"bookmarks": {"persons": {"replication_key": "add_time", "replication_key_value": "x"}}},
        "The state of stream 'persons' has a bookmark on `add_time`, not on its replication key "
        "`update_time`.",
    ),
    "bookmark a number": (
        {"bookmarks": {"persons": {"replication_key_value": 3}}},
        "The state of stream 'persons' has a `replication_key_value` that is not a timestamp: 3.",
    ),
}


@pytest.mark.parametrize("case", UNUSABLE_STATES)
def test_an_unusable_state_is_one_line_and_exit_1_before_any_api_call(tmp_path, emulator, case):
    state, phrase = UNUSABLE_STATES[case]
    catalog = json_file(
        tmp_path / "catalog.json", select(discover(config_for(emulator)), ["deals"])
    )
    emulator.clear_log()
    result = run_cli(
        "--config", json_file(tmp_path / "config.json", config_for(emulator)),
        "--catalog", catalog,
        "--state", json_file(tmp_path / "state.json", json.dumps(state)),
    )  # fmt: skip
    failure_line(result, 1, phrase)
    assert emulator.requests == []


# --- settings ------------------------------------------------------------------------------------


def pipelines_run(tmp_path, emu: Emulator, config):
    """A pipelines-only run with this config."""
    catalog = select(discover(config_for(emu)), ["pipelines"])
    return run_cli(
        "--config", json_file(tmp_path / "config.json", config),
        "--catalog", json_file(tmp_path / "catalog.json", catalog),
    )  # fmt: skip


def test_a_misspelled_setting_is_named_with_the_closest_one(tmp_path, emulator):
    config = {**config_for(emulator), "startdate": "2024-01-01", "max_concurency": 2}
    result = pipelines_run(tmp_path, emulator, config)
    assert result.returncode == 0, result.stderr.decode()
    assert lines_with(result.stderr, "WARNING") == [
        "Unknown setting `startdate` is ignored: did you mean `start_date`?",
        "Unknown setting `max_concurency` is ignored: did you mean `max_concurrency`?",
    ]


def test_the_sdks_own_settings_are_known(tmp_path, emulator):
    config = {
        **config_for(emulator),
        "stream_maps": {},
        "stream_map_config": {},
        "faker_config": {"seed": 1},
        "flattening_enabled": False,
        "flattening_max_depth": 1,
    }
    result = pipelines_run(tmp_path, emulator, config)
    assert result.returncode == 0, result.stderr.decode()
    assert lines_with(result.stderr, "Unknown setting") == []


def test_a_token_pasted_with_whitespace_around_it_is_accepted(tmp_path, emulator):
    result = pipelines_run(tmp_path, emulator, config_for(emulator, api_token=f" {TOKEN}\n"))
    assert result.returncode == 0, result.stderr.decode()
    records = [m["record"] for m in parse_messages(result.stdout) if m["type"] == "RECORD"]
    assert {r["id"] for r in records} == emulator.ids("pipelines")


# --- catalogs ------------------------------------------------------------------------------------


def foreign_entry(name: str) -> dict:
    """A catalog entry of another tap's stream, selected."""
    return {
        "tap_stream_id": name,
        "stream": name,
        "schema": {"type": "object", "properties": {"id": {"type": "integer"}}},
        "metadata": [{"breadcrumb": [], "metadata": {"selected": True}}],
    }


def test_a_catalog_naming_no_stream_of_this_tap_is_one_line_and_exit_1(tmp_path, emulator):
    catalog = {"streams": [foreign_entry("contacts"), foreign_entry("companies")]}
    emulator.clear_log()
    result = run_cli(
        "--config", json_file(tmp_path / "config.json", config_for(emulator)),
        "--catalog", json_file(tmp_path / "catalog.json", catalog),
    )  # fmt: skip
    assert failure_line(result, 1).split(" | ")[-1] == (
        "The catalog names no stream of this tap (companies, contacts): write one with "
        "`tap-pipedrive --config CONFIG --discover`."
    )
    assert emulator.requests == []


def test_a_catalog_selecting_nothing_warns_once_and_calls_no_api(tmp_path, emulator):
    catalog = select(discover(config_for(emulator)), [])
    emulator.clear_log()
    result = run_cli(
        "--config", json_file(tmp_path / "config.json", config_for(emulator)),
        "--catalog", json_file(tmp_path / "catalog.json", catalog),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b""
    assert lines_with(result.stderr, "WARNING") == [
        "The catalog selects no stream: nothing to read. Select streams with "
        '`"selected": true` in their top-level metadata (or `meltano select`).'
    ]
    assert emulator.requests == []


def test_another_taps_streams_beside_this_taps_are_named_and_ignored(tmp_path, emulator):
    catalog = select(discover(config_for(emulator)), ["pipelines"])
    catalog["streams"].append(foreign_entry("contacts"))
    result = run_cli(
        "--config", json_file(tmp_path / "config.json", config_for(emulator)),
        "--catalog", json_file(tmp_path / "catalog.json", catalog),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    records = [m["record"] for m in parse_messages(result.stdout) if m["type"] == "RECORD"]
    assert {r["id"] for r in records} == emulator.ids("pipelines")
    assert lines_with(result.stderr, "WARNING") == [
        "The catalog's streams contacts are not streams of this tap: ignored."
    ]
