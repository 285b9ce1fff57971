"""Full-table streams end each complete read with ACTIVATE_VERSION; deal children never send it.

A target retires the rows of older versions when ACTIVATE_VERSION arrives, so it must come after
the read's records, and only after a read that covered the whole table.
"""

from __future__ import annotations

import pytest

from tests.conftest import TOKEN, config_for
from tests.emulator import Emulator
from tests.singer_run import cli_files, discover, ids, parse_messages, run_cli, sync

DEAL_CHILDREN = ("deal_products", "deal_installments", "dealflow")


def activations(result, stream: str) -> list[int]:
    return [
        m["version"]
        for m in result.messages
        if m["type"] == "ACTIVATE_VERSION" and m["stream"] == stream
    ]


@pytest.fixture(scope="module")
def default_run(emulator):
    return sync(config_for(emulator), streams=["users", "stages", "deals", *DEAL_CHILDREN])


@pytest.mark.parametrize("stream", ["users", "stages"])
def test_a_full_table_stream_activates_the_version_of_its_records(default_run, stream):
    (version,) = activations(default_run, stream)
    records = [m for m in default_run.messages if m["type"] == "RECORD" and m["stream"] == stream]
    assert records
    assert {m["version"] for m in records} == {version}


@pytest.mark.parametrize("stream", ["users", "stages"])
def test_activate_version_comes_after_every_record_of_the_read(default_run, stream):
    kinds = [
        m["type"]
        for m in default_run.messages
        if m.get("stream") == stream and m["type"] in {"RECORD", "ACTIVATE_VERSION"}
    ]
    assert kinds[-1] == "ACTIVATE_VERSION"
    assert kinds.count("ACTIVATE_VERSION") == 1
    assert kinds.count("RECORD") == len(default_run.records(stream))


def run_goals_and_stages(emu: Emulator, tmp_path, **config) -> tuple[int, list[dict]]:
    """`tap-pipedrive` over goals (read in two calls: active, then inactive goals) and stages.

    Its exit code and messages; the emulator's log holds the run's requests alone.
    """
    files = cli_files(tmp_path, emu, ["goals", "stages"], **config)
    emu.clear_log()
    result = run_cli(*files)
    return result.returncode, parse_messages(result.stdout)


def activated(messages: list[dict]) -> set[str]:
    return {m["stream"] for m in messages if m["type"] == "ACTIVATE_VERSION"}


def test_a_refused_full_table_read_is_not_activated(tmp_path):
    with Emulator(seed=7, scale=200, api_token=TOKEN, gated={"/v1/goals": 402}) as emu:
        code, messages = run_goals_and_stages(emu, tmp_path)
    assert code == 0
    assert activated(messages) == {"stages"}


def test_a_full_table_read_that_failed_half_way_is_not_activated(tmp_path):
    with Emulator(seed=7, scale=200, api_token=TOKEN) as emu:
        emu.inject("/v1/goals", "status", status=400, after=1)  # the inactive goals' call
        code, messages = run_goals_and_stages(emu, tmp_path)
        goals_calls = [r.status for r in emu.requests if r.path == "/v1/goals/find"]
        active = {goal["id"] for goal in emu.records("goals") if goal["is_active"]}
    assert goals_calls == [200, 400]
    assert code == 1
    assert ids(messages, "goals") == active
    assert activated(messages) == {"stages"}


def test_a_full_table_read_stopped_by_the_token_limit_is_not_activated(tmp_path):
    with Emulator(seed=7, scale=200, api_token=TOKEN) as emu:
        _, complete = run_goals_and_stages(emu, tmp_path)
        calls = [(r.path, r.cost) for r in emu.requests]
        # A limit that every call up to the first goals call fits, and the second one does not.
        first_goals_call = [path for path, _ in calls].index("/v1/goals/find")
        limit = sum(cost for _, cost in calls[: first_goals_call + 1])
        code, messages = run_goals_and_stages(emu, tmp_path, max_tokens_per_run=limit)
        goals_calls = [r.status for r in emu.requests if r.path == "/v1/goals/find"]
        active = {goal["id"] for goal in emu.records("goals") if goal["is_active"]}
    assert activated(complete) == {"goals", "stages"}
    assert goals_calls == [200]
    assert code == 0
    assert ids(messages, "goals") == active
    assert activated(messages) == set()  # stages, read after goals, was stopped too


@pytest.mark.parametrize("stream", ["deals", *DEAL_CHILDREN])
def test_incremental_streams_and_deal_children_send_no_activate_version(default_run, stream):
    assert default_run.records(stream)
    assert activations(default_run, stream) == []


def test_false_turns_activate_version_off(emulator):
    result = sync(
        config_for(emulator, emit_activate_version_messages=False), streams=["users", "stages"]
    )
    assert result.records("users")
    assert [m for m in result.messages if m["type"] == "ACTIVATE_VERSION"] == []


@pytest.mark.parametrize("stream", DEAL_CHILDREN)
def test_deal_children_are_incremental_in_the_catalog(emulator, stream):
    entry = next(
        e for e in discover(config_for(emulator))["streams"] if e["tap_stream_id"] == stream
    )
    (root,) = [m["metadata"] for m in entry["metadata"] if m["breadcrumb"] == []]
    assert root["forced-replication-method"] == "INCREMENTAL"
    expected_key = {"deal_products": "update_time", "dealflow": "log_time"}.get(stream)
    assert root.get("replication-key") == expected_key
