"""Deletions reach the entities' own streams (tombstones), and the deletion sweep
(`deletion_sweep_days`) retires deletions older than the month `/v1/recents` keeps."""

from __future__ import annotations

import datetime
import json
import random
import signal
import subprocess

import pytest

from tap_pipedrive import sweep
from tests.conftest import TOKEN, a_moment_ago, config_for, moment, rfc3339
from tests.emulator import Emulator
from tests.singer_run import (
    cli_files,
    discover,
    failure_line,
    json_file,
    parse_messages,
    records,
    run_cli,
    select,
    started_cli,
    states,
    sync,
)

ENTITIES = ("persons", "organizations", "activities", "products", "notes")
STREAMS = [*ENTITIES, "deleted_records", "deals", "leads"]
TWO = ["persons", "deleted_records"]
SWEEP = {"deletion_sweep_days": 0}
#: Paths of the sweep's id lists (the regular reads of these lists are sorted: `sort_by`, `sort`).
LISTS = {
    "/api/v2/persons", "/api/v2/organizations", "/api/v2/activities", "/api/v2/products",
    "/v1/notes",
}  # fmt: skip


def long_ago(emu: Emulator) -> datetime.datetime:
    """Beyond the month `/v1/recents` keeps."""
    return a_moment_ago(emu, 45 * 86_400)


def delete_first(emu: Emulator, per_entity: int, when: datetime.datetime) -> dict[str, set[int]]:
    gone = {entity: set(sorted(emu.ids(entity))[:per_entity]) for entity in ENTITIES}
    for entity, ids in gone.items():
        emu.delete(entity, ids, when=when)
    return gone


def tombstones(result, stream: str) -> dict[int, str]:
    return {r["id"]: r["_sdc_deleted_at"] for r in result.records(stream) if "_sdc_deleted_at" in r}


def sweep_lists(emu: Emulator) -> list[str]:
    """The sweep's calls: the five lists read unsorted."""
    return [r.path for r in emu.requests if r.path in LISTS and is_sweep_call(r.query)]


def is_sweep_call(query: dict) -> bool:
    return "sort_by" not in query and "sort" not in query


@pytest.fixture
def emu():
    with Emulator(seed=5, scale=150, api_token=TOKEN) as emu:
        yield emu


def test_a_sweep_retires_deletions_older_than_the_month(emu):
    first = sync(config_for(emu, **SWEEP), streams=STREAMS)
    gone = delete_first(emu, 3, long_ago(emu))
    second = sync(config_for(emu, **SWEEP), state=first.final_state, streams=STREAMS)
    swept = second.final_state["bookmarks"]["deleted_records"]["last_sweep"]
    for entity in ENTITIES:
        assert tombstones(second, entity) == dict.fromkeys(gone[entity], swept)
    assert {
        (r["entity"], r["id"], r["deleted_time"]) for r in second.records("deleted_records")
    } == {(entity, i, None) for entity, ids in gone.items() for i in ids}


def test_a_deletion_recents_lists_reaches_the_entitys_stream_with_its_time(emu):
    first = sync(config_for(emu), streams=STREAMS)
    when = a_moment_ago(emu)
    gone = delete_first(emu, 2, when)
    second = sync(config_for(emu), state=first.final_state, streams=STREAMS)
    stamp = rfc3339(when)
    for entity in ENTITIES:
        assert tombstones(second, entity) == dict.fromkeys(gone[entity], stamp)


def test_a_tombstone_is_sent_under_a_schema_of_its_two_columns_then_the_full_schema(emu):
    first = sync(config_for(emu), streams=["persons", "deleted_records"])
    emu.delete("persons", [4], when=a_moment_ago(emu))
    second = sync(config_for(emu), state=first.final_state, streams=["persons", "deleted_records"])
    persons = [m for m in second.messages if m.get("stream") == "persons"]
    at = next(i for i, m in enumerate(persons) if "_sdc_deleted_at" in m.get("record", {}))
    assert persons[at - 1]["type"] == "SCHEMA"
    assert set(persons[at - 1]["schema"]["properties"]) == {"id", "_sdc_deleted_at"}
    assert persons[at - 1]["key_properties"] == ["id"]
    assert persons[at + 1]["type"] == "SCHEMA"
    assert persons[at + 1]["schema"] == first.schema("persons")["schema"]


def test_no_tombstone_reaches_an_entity_stream_that_is_not_selected(emu):
    first = sync(config_for(emu, **SWEEP), streams=TWO)
    delete_first(emu, 2, long_ago(emu))
    second = sync(config_for(emu, **SWEEP), state=first.final_state, streams=TWO)
    assert {m["stream"] for m in second.messages if m["type"] in ("RECORD", "SCHEMA")} == {
        "persons", "deleted_records",
    }  # fmt: skip
    assert sweep_lists(emu) == ["/api/v2/persons", "/api/v2/persons"]


def test_archived_deals_and_leads_are_not_swept(emu):
    first = sync(config_for(emu, **SWEEP), streams=STREAMS)
    emu.archive("deals", sorted(emu.ids("deals"))[:2], when=long_ago(emu))
    emu.archive("leads", sorted(emu.ids("leads"))[:2], when=long_ago(emu))
    emu.clear_log()
    second = sync(config_for(emu, **SWEEP), state=first.final_state, streams=STREAMS)
    assert second.records("deleted_records") == []
    assert [r for r in second.records("deals") if "_sdc_deleted_at" in r] == []
    assert [r for r in second.records("leads") if "_sdc_deleted_at" in r] == []
    unsorted = [r.path for r in emu.requests if is_sweep_call(r.query)]
    assert [path for path in unsorted if path.startswith(("/api/v2/deals", "/v1/leads"))] == []


def test_without_the_setting_there_is_no_sweep_and_no_ids_in_the_state(emu):
    first = sync(config_for(emu), streams=STREAMS)
    delete_first(emu, 2, long_ago(emu))
    emu.clear_log()
    second = sync(config_for(emu), state=first.final_state, streams=STREAMS)
    assert sweep_lists(emu) == []
    assert second.records("deleted_records") == []
    assert not any("deletion_sweep" in s for s in second.final_state["bookmarks"].values())


def test_a_sweep_not_yet_due_lists_nothing(emu):
    first = sync(config_for(emu, deletion_sweep_days=7), streams=STREAMS)
    delete_first(emu, 2, long_ago(emu))
    emu.clear_log()
    second = sync(config_for(emu, deletion_sweep_days=7), state=first.final_state, streams=STREAMS)
    assert sweep_lists(emu) == []
    assert second.records("deleted_records") == []


def test_a_sweep_stopped_by_the_token_limit_retires_nothing_and_keeps_the_state(emu):
    first = sync(config_for(emu, **SWEEP), streams=STREAMS)
    delete_first(emu, 3, long_ago(emu))
    catalog = select(discover(config_for(emu)), STREAMS)
    # What the regular reads and recents cost, on a twin account: then one sweep call fits.
    with Emulator(seed=5, scale=150, api_token=TOKEN) as twin:
        delete_first(twin, 3, long_ago(twin))
        sync(config_for(twin, **SWEEP), state=first.final_state, catalog=catalog)
        calls = [(r.path in LISTS and is_sweep_call(r.query), r.cost) for r in twin.requests]
        regular = sum(cost for _, cost in calls[: [swept for swept, _ in calls].index(True)])
    emu.clear_log()
    stopped = sync(
        config_for(emu, **SWEEP, max_tokens_per_run=regular + 10),
        state=first.final_state,
        catalog=catalog,
    )
    assert sweep_lists(emu) == ["/api/v2/persons"]
    assert stopped.records("deleted_records") == []
    for entity in ENTITIES:
        assert tombstones(stopped, entity) == {}
    before, after = first.final_state["bookmarks"], stopped.final_state["bookmarks"]
    assert after["deleted_records"]["last_sweep"] == before["deleted_records"]["last_sweep"]
    for entity in ENTITIES:
        assert after[entity]["deletion_sweep"]["ids"] == before[entity]["deletion_sweep"]["ids"]


def test_a_sweep_killed_half_way_retires_nothing_and_the_next_one_does(emu, tmp_path):
    first = sync(config_for(emu, **SWEEP), streams=STREAMS)
    gone = delete_first(emu, 3, long_ago(emu))
    args = cli_files(tmp_path, emu, STREAMS, state=first.final_state, **SWEEP)
    with started_cli(*args, stderr=subprocess.DEVNULL) as tap:

        def kill_at_the_third_sweep_list(entry) -> None:
            if entry.path in LISTS and is_sweep_call(entry.query):
                kill_at_the_third_sweep_list.seen += 1  # type: ignore[attr-defined]
                if kill_at_the_third_sweep_list.seen == 3:  # type: ignore[attr-defined]
                    tap.send_signal(signal.SIGKILL)

        kill_at_the_third_sweep_list.seen = 0  # type: ignore[attr-defined]
        emu.on_request(kill_at_the_third_sweep_list)
        out, _ = tap.communicate(timeout=120)
    emu.on_request(None)
    assert tap.returncode == -signal.SIGKILL
    killed = [m for m in parse_messages(out)]
    assert records(killed, "deleted_records") == []
    assert [m for m in killed if "_sdc_deleted_at" in m.get("record", {})] == []
    last = next(m["value"] for m in reversed(killed) if m["type"] == "STATE")
    before, after = first.final_state["bookmarks"], last["bookmarks"]
    assert after["deleted_records"]["last_sweep"] == before["deleted_records"]["last_sweep"]
    for entity in ENTITIES:
        assert after[entity]["deletion_sweep"]["ids"] == before[entity]["deletion_sweep"]["ids"]
    again = sync(config_for(emu, **SWEEP), state=last, streams=STREAMS)
    for entity in ENTITIES:
        assert set(tombstones(again, entity)) == gone[entity]


def test_ids_sent_since_the_last_sweep_are_retired_too(emu):
    first = sync(config_for(emu, deletion_sweep_days=7), streams=TWO)
    # No sweep yet (7 days), but the ids sent are kept: a sweep later retires the deleted ones.
    emu.delete("persons", [7, 9], when=long_ago(emu))
    state = json.loads(json.dumps(first.final_state))
    state["bookmarks"]["deleted_records"]["last_sweep"] = "2020-01-01T00:00:00Z"
    second = sync(config_for(emu, deletion_sweep_days=7), state=state, streams=TWO)
    assert set(tombstones(second, "persons")) == {7, 9}


@pytest.mark.slow
def test_the_state_after_a_sweep_over_200k_persons_stays_small(caplog):
    with Emulator(seed=3, scale=100, api_token=TOKEN) as big:
        big.add("persons", 200_000 - len(big.all_ids("persons")))
        every = sorted(big.all_ids("persons"))
        # One in ten deleted long ago, at random: ids with holes, as an old account's.
        big.delete("persons", random.Random(23).sample(every, 20_000), when=long_ago(big))
        listed = big.ids("persons")
        # The newest update_time: that of the last person by the emulator's update_time order
        # (the one `sort_by=update_time` lists last), not the newest of 180k records built.
        persons = big.data.table("persons")
        newest = moment(persons.record(persons.index("update_time")[-1][1])["update_time"])
        # The persons were loaded before: this run reads none of them, the sweep lists them all.
        after = rfc3339(newest + datetime.timedelta(seconds=1))
        state = {"bookmarks": {"persons": {"replication_key": "update_time",
                                           "replication_key_value": after}}}  # fmt: skip
        big.clear_log()
        with caplog.at_level("INFO"):
            result = sync(config_for(big, **SWEEP), state=state, streams=TWO)
        calls = [r for r in big.requests if r.path in LISTS and is_sweep_call(r.query)]
    size = len(json.dumps(result.final_state))
    print(f"state after a sweep over {len(listed)} persons: {size} bytes")
    assert len(every) == 200_000
    assert len(listed) == 180_000
    assert (len(calls), sum(r.cost for r in calls)) == (360, 3_600)
    assert "Deletion sweep: listed 180000 persons in 360 requests (3600 tokens)" in caplog.text
    assert size < 64 * 1024


def test_a_negative_deletion_sweep_days_is_refused_in_one_line(tmp_path):
    config = json_file(
        tmp_path / "config.json", {"api_token": "some-token", "deletion_sweep_days": -1}
    )
    result = run_cli("--config", config)
    assert failure_line(result, 1).split(" | ")[-1] == (
        "Invalid config: `deletion_sweep_days` must be 0 (every run) or more, not -1."
    )


def test_the_setting_without_deleted_records_selected_warns_and_lists_nothing(emu, caplog):
    with caplog.at_level("WARNING"):
        sync(config_for(emu, **SWEEP), streams=["persons"])
    assert sweep_lists(emu) == []
    assert (
        "`deletion_sweep_days` is set but `deleted_records` is not selected: no sweep runs. "
        "Select `deleted_records` to sweep." in caplog.messages
    )


def test_a_million_ids_with_one_in_ten_deleted_keep_under_200_kib_of_state():
    rng = random.Random(7)
    ids = [i for i in range(1, 1_111_112) if rng.random() >= 0.1]
    assert len(sweep.encode(ids)) < 200 * 1024
    assert sweep.decode(sweep.encode(ids)) == set(ids)


def test_the_ids_a_read_sent_are_one_chunk_in_its_last_state_and_one_per_page_before():
    with Emulator(seed=5, scale=1200, api_token=TOKEN) as larger:
        # 1,200 activities: three pages, a STATE message after each of the first two.
        result = sync(config_for(larger, deletion_sweep_days=7), streams=["activities"])
    chunks = [
        len(state["bookmarks"]["activities"]["deletion_sweep"]["seen"])
        for state in result.states
        if "deletion_sweep" in state["bookmarks"].get("activities", {})
    ]
    assert chunks[:2] == [1, 2]
    assert chunks[-1] == 1


def test_the_sweeps_calls_are_in_the_run_summary_and_its_own_line(emu, caplog):
    catalog = select(discover(config_for(emu)), STREAMS)
    emu.clear_log()
    with caplog.at_level("INFO"):
        sync(config_for(emu, **SWEEP), catalog=catalog)
    swept = [r for r in emu.requests if r.path in LISTS and is_sweep_call(r.query)]
    total = sum(r.cost for r in emu.requests)
    assert f"Run spent {total} tokens in {len(emu.requests)} requests" in caplog.messages
    # 75 persons, 30 organizations, 150 activities, 20 products, 75 notes: a page each.
    assert [r.path for r in swept] == [
        "/api/v2/persons", "/api/v2/organizations", "/api/v2/activities", "/api/v2/products",
        "/v1/notes",
    ]  # fmt: skip
    assert (
        "Deletion sweep: listed 75 persons, 30 organizations, 150 activities, 20 products, "
        "75 notes in 5 requests (60 tokens); retired 0 ids." in caplog.messages
    )


def test_a_sweep_that_fails_retires_nothing_and_fails_the_run_in_one_line(emu, tmp_path):
    first = sync(config_for(emu, **SWEEP), streams=STREAMS)
    delete_first(emu, 3, long_ago(emu))
    # The regular read of organizations is one call; the sweep's is the next.
    emu.inject("/api/v2/organizations", "status", status=400, after=1)
    args = cli_files(tmp_path, emu, STREAMS, state=first.final_state, **SWEEP)
    result = run_cli(*args)
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    assert "Traceback" not in stderr
    errors = [line.split(" | ")[-1] for line in stderr.splitlines() if "| ERROR" in line]
    assert errors[-1] == (
        "1 stream(s) failed; the others synced, every stream's state was written, and the next "
        "run resumes them. 'deleted_records': Pipedrive answered 400 Bad Request for "
        "/api/v2/organizations: Bad request; Please check developers.pipedrive.com for more "
        "information about Pipedrive API."
    )
    messages = parse_messages(result.stdout)
    assert [m for m in messages if "_sdc_deleted_at" in m.get("record", {})] == []
    last = states(messages)[-1]["bookmarks"]
    before = first.final_state["bookmarks"]
    assert last["deleted_records"]["last_sweep"] == before["deleted_records"]["last_sweep"]
    # The recents read before the sweep was whole: its bookmark moved on.
    assert (
        last["deleted_records"]["replication_key_value"]
        >= before["deleted_records"]["replication_key_value"]
    )
    for entity in ENTITIES:
        assert last[entity]["deletion_sweep"]["ids"] == before[entity]["deletion_sweep"]["ids"]
