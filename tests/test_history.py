"""Field history of persons and organizations, and the stays of deals in their stages."""

from __future__ import annotations

import datetime
import itertools
import json

import pytest

from tests.conftest import TOKEN, a_moment_ago, config_for, moment, rfc3339
from tests.emulator import Emulator
from tests.expected import (
    CHANGELOGS,
    change_rows,
    changelog,
    deleted_stay,
    documented_key,
    expected_stays,
    flow_calls,
    rfc,
    stage_changes,
)
from tests.singer_run import (
    SyncResult,
    cli_files,
    discover,
    killed_run,
    record_of,
    select,
    sync,
)

UTC = datetime.timezone.utc


def emitted_changes(result: SyncResult, stream: str) -> set[tuple]:
    _, key = CHANGELOGS[stream]
    return {
        (r[key], r["time"], r["field_key"], r["old_value"], r["new_value"])
        for r in result.records(stream)
    }


def changelog_calls(emulator: Emulator | SyncResult, entity: str) -> list[int]:
    return [
        int(r.path.split("/")[3])
        for r in emulator.requests
        if r.path.startswith(f"/v1/{entity}/") and r.path.endswith("/changelog")
    ]


def emitted_stays(result: SyncResult, deal_id: int | None = None) -> list[tuple]:
    """The stays emitted (of one deal), in the order emitted."""
    return [
        (
            r["deal_id"],
            r["stage_id"],
            r["pipeline_id"],
            r["entered_at"],
            r["left_at"],
            r["seconds_in_stage"],
        )
        for r in result.records("deal_stage_history")
        if deal_id is None or r["deal_id"] == deal_id
    ]


# --- one run of the three streams on the shared emulator ---------------------------------


@pytest.fixture(scope="module")
def history_sync(emulator) -> SyncResult:
    return sync(
        config_for(emulator),
        streams=["person_changes", "organization_changes", "deal_stage_history"],
        log=emulator,
    )


@pytest.fixture(scope="module")
def deals(emulator) -> dict[int, dict]:
    return {d["id"]: d for d in emulator.records("deals")}


@pytest.mark.parametrize("stream", sorted(CHANGELOGS))
def test_a_changelog_stream_holds_every_change_of_every_item(history_sync, emulator, stream):
    rows = history_sync.records(stream)
    assert emitted_changes(history_sync, stream) == change_rows(emulator, stream)
    assert len(rows) == len({r["id"] for r in rows}) == len(change_rows(emulator, stream))


@pytest.mark.parametrize("stream", sorted(CHANGELOGS))
def test_a_changelog_is_read_once_per_item(history_sync, emulator, stream):
    entity, _ = CHANGELOGS[stream]
    calls = changelog_calls(history_sync, entity)
    assert sorted(calls) == sorted(emulator.ids(entity))


def test_each_field_of_a_bulk_update_has_its_own_key(history_sync, emulator):
    person, bulk = next(
        (pid, [c for c in changelog(emulator, "persons", pid) if c["is_bulk_update_flag"]])
        for pid in sorted(emulator.ids("persons"))
        if sum(c["is_bulk_update_flag"] for c in changelog(emulator, "persons", pid)) >= 2
    )
    second = bulk[0]["time"]
    fields = {c["field_key"] for c in bulk if c["time"] == second}
    assert len(fields) >= 2
    rows = [
        r
        for r in history_sync.records("person_changes")
        if r["person_id"] == person and r["time"] == rfc(second) and r["is_bulk_update_flag"]
    ]
    assert {r["field_key"] for r in rows} == fields
    assert len({r["id"] for r in rows}) == len(rows) == len(fields)


def test_a_change_key_is_the_hash_the_readme_describes(history_sync):
    rows = history_sync.records("organization_changes")
    assert rows
    for row in rows:
        parts = (row["org_id"], row["time"], row["field_key"], row["old_value"], row["new_value"])
        assert row["id"] == documented_key(*parts)


def test_changelog_values_are_strings_and_lists_json(history_sync):
    rows = history_sync.records("person_changes")
    lists = [r for r in rows if r["field_key"] == "label_ids"]
    assert lists
    assert all(json.loads(r["new_value"]) for r in lists)
    assert all(isinstance(r["old_value"], (str, type(None))) for r in rows)


def test_history_streams_other_than_stays_are_off_by_default(emulator):
    roots = {
        entry["tap_stream_id"]: next(m for m in entry["metadata"] if m["breadcrumb"] == [])
        for entry in discover(config_for(emulator))["streams"]
    }
    assert roots["person_changes"]["metadata"]["selected-by-default"] is False
    assert roots["organization_changes"]["metadata"]["selected-by-default"] is False
    assert roots["deal_stage_history"]["metadata"]["selected-by-default"] is True


def test_field_names_are_the_entitys_column_names_with_custom_field_names_name(
    history_sync, emulator
):
    config = config_for(emulator, custom_field_names="name")
    result = sync(config, streams=["organization_changes"])
    catalog = {e["tap_stream_id"]: e for e in discover(config)["streams"]}
    # The organizations column of each custom field, as discovery names it.
    columns = {
        prop["description"].rsplit("(custom field ", 1)[1].rstrip(")"): name
        for name, prop in catalog["organizations"]["schema"]["properties"].items()
        if "(custom field " in prop.get("description", "")
    }
    rows = result.records("organization_changes")
    custom = [r for r in rows if r["field_key"] in columns]
    standard = [r for r in rows if r["field_key"] not in columns]
    assert custom
    assert standard
    assert all(r["field_name"] == columns[r["field_key"]] != r["field_key"] for r in custom)
    assert all(r["field_name"] == r["field_key"] for r in standard)
    assert all(r["field_name"] is None for r in history_sync.records("organization_changes"))


# --- deal stage history --------------------------------------------------------------------


def test_stage_history_selected_alone_emits_only_stays_from_one_flow_call_a_deal(
    history_sync, emulator, deals
):
    assert "dealflow" not in history_sync.streams()
    assert "deals" not in history_sync.streams()
    alive = sorted(d for d, deal in deals.items() if not deal["is_deleted"])
    assert sorted(flow_calls(history_sync)) == alive


def test_stays_are_computed_from_the_emulators_stage_moves(history_sync, emulator, deals):
    expected = []
    for deal_id, deal in deals.items():
        if deal["is_deleted"]:
            expected.append(deleted_stay(deal))
        else:
            expected += expected_stays(deal, stage_changes(emulator, deal_id))
    assert sorted(emitted_stays(history_sync)) == sorted(expected)


def _first_deal(emulator, deals, condition) -> int:
    return next(
        deal_id
        for deal_id in sorted(deals)
        if not deals[deal_id]["is_deleted"] and condition(stage_changes(emulator, deal_id))
    )


def test_a_deal_moved_back_stays_again_in_the_earlier_stage(history_sync, emulator, deals):
    def moved_back(changes: list[dict]) -> bool:
        moves = [c for c in changes if c["field_key"] == "stage_id"]
        return any(
            m["new_value"] < m["old_value"]
            and (m["new_value"] - 1) // 5 == (m["old_value"] - 1) // 5
            for m in moves
        )

    deal_id = _first_deal(emulator, deals, moved_back)
    stays = emitted_stays(history_sync, deal_id)
    assert stays == expected_stays(deals[deal_id], stage_changes(emulator, deal_id))
    stages = [s[1] for s in stays]
    assert any(later < earlier for earlier, later in itertools.pairwise(stages))


def test_a_deal_that_changed_pipeline_has_stays_in_both(history_sync, emulator, deals):
    def switched(changes: list[dict]) -> bool:
        return any(c["field_key"] == "pipeline_id" for c in changes)

    deal_id = _first_deal(emulator, deals, switched)
    stays = emitted_stays(history_sync, deal_id)
    switch = next(c for c in stage_changes(emulator, deal_id) if c["field_key"] == "pipeline_id")
    assert stays == expected_stays(deals[deal_id], stage_changes(emulator, deal_id))
    assert stays[0][2] == switch["old_value"]
    assert stays[-1][2] == deals[deal_id]["pipeline_id"] == switch["new_value"]


def test_a_deal_won_on_the_second_it_moved_spent_no_time_in_its_last_stage(
    history_sync, emulator, deals
):
    def won_on_move(changes: list[dict]) -> bool:
        moves = [c["time"] for c in changes if c["field_key"] == "stage_id"]
        wins = [
            c["time"] for c in changes if c["field_key"] == "status" and c["new_value"] == "won"
        ]
        return bool(moves and wins and moves[-1] == wins[-1])

    deal_id = _first_deal(emulator, deals, won_on_move)
    deal = deals[deal_id]
    stays = emitted_stays(history_sync, deal_id)
    assert stays[-1] == (
        deal_id, deal["stage_id"], deal["pipeline_id"], deal["won_time"], deal["won_time"], 0,
    )  # fmt: skip
    assert stays[-2][4] == deal["won_time"]


def test_stage_history_adds_no_call_to_dealflow(emulator, deals):
    emulator.clear_log()
    both = sync(config_for(emulator), streams=["dealflow", "deal_stage_history"])
    alive = sorted(d for d, deal in deals.items() if not deal["is_deleted"])
    assert sorted(flow_calls(emulator)) == alive
    assert both.records("dealflow")
    assert both.records("deal_stage_history")


# --- mutations, interruptions ---------------------------------------------------------------


def test_a_deal_read_again_resends_its_last_stay_with_left_at_once_it_ends(fresh_emulator):
    streams = ["deal_stage_history"]
    first = sync(config_for(fresh_emulator), streams=streams)
    records = {d["id"]: d for d in fresh_emulator.records("deals")}
    open_deals = sorted(
        d for d, deal in records.items()
        if deal["status"] == "open" and not deal["is_deleted"] and not deal["is_archived"]
    )  # fmt: skip
    moved, won = open_deals[0], open_deals[1]
    before = {d: emitted_stays(first, d)[-1] for d in (moved, won)}
    assert before[moved][4] is None
    assert before[won][4] is None
    at = a_moment_ago(fresh_emulator, 30)
    stage = records[moved]["stage_id"] % 15 + 1  # the next stage id: another pipeline from 5, 10
    with fresh_emulator.data.lock:
        fresh_emulator.data.stage_moves.move(moved, stage, int(at.timestamp()))
        fresh_emulator.data.stage_moves.close(won, "won", int(at.timestamp()) + 10)
    second = sync(config_for(fresh_emulator), state=first.final_state, streams=streams)
    left_at = rfc3339(at)
    later = rfc3339(at + datetime.timedelta(seconds=10))
    old = before[moved]
    new_pipeline = (stage - 1) // 5 + 1
    seconds = int((at - moment(old[3])).total_seconds())
    assert (*old[:4], left_at, seconds) in emitted_stays(second, moved)
    assert (moved, stage, new_pipeline, left_at, None, None) in emitted_stays(second, moved)
    old = before[won]
    seconds = int((moment(later) - moment(old[3])).total_seconds())
    assert emitted_stays(second, won)[-1] == (*old[:4], later, seconds)


def test_a_deleted_deals_last_stay_ends_at_its_deletion(fresh_emulator):
    first = sync(config_for(fresh_emulator), streams=["deal_stage_history"])
    records = {d["id"]: d for d in fresh_emulator.records("deals")}
    deal_id = next(
        d for d in sorted(records)
        if records[d]["status"] == "open" and not records[d]["is_deleted"]
        and not records[d]["is_archived"]
    )  # fmt: skip
    last = emitted_stays(first, deal_id)[-1]
    at = a_moment_ago(fresh_emulator, 30)
    fresh_emulator.delete("deals", [deal_id], when=at)
    fresh_emulator.clear_log()
    second = sync(
        config_for(fresh_emulator), state=first.final_state, streams=["deal_stage_history"]
    )
    left_at = rfc3339(at)
    seconds = int((at - moment(last[3])).total_seconds())
    assert emitted_stays(second, deal_id) == [(*last[:4], left_at, seconds)]
    assert deal_id not in flow_calls(fresh_emulator)


def test_after_a_change_the_next_runs_read_only_the_new_changes(fresh_emulator):
    stream, config = "person_changes", config_for(fresh_emulator)
    first = sync(config, streams=[stream])
    persons = sorted(fresh_emulator.ids("persons"))
    newest = max(p["update_time"] for p in fresh_emulator.records("persons"))
    at_boundary = {p["id"] for p in fresh_emulator.records("persons") if p["update_time"] == newest}
    one, two = persons[0], persons[1]
    fresh_emulator.touch("persons", [one], when=a_moment_ago(fresh_emulator, 60))
    fresh_emulator.clear_log()
    second = sync(config, state=first.final_state, streams=[stream])
    assert sorted(changelog_calls(fresh_emulator, "persons")) == sorted({one} | at_boundary)
    touch_one = (one, *_newest_change(fresh_emulator, one))
    assert touch_one in emitted_changes(second, stream)
    fresh_emulator.touch("persons", [two], when=a_moment_ago(fresh_emulator, 30))
    fresh_emulator.clear_log()
    third = sync(config, state=second.final_state, streams=[stream])
    # `one` shares the bookmark's second: read again, with the change of the previous window.
    assert sorted(changelog_calls(fresh_emulator, "persons")) == sorted({one, two})
    assert emitted_changes(third, stream) == {
        touch_one,
        (two, *_newest_change(fresh_emulator, two)),
    }


def _newest_change(emulator: Emulator, person: int) -> tuple:
    change = changelog(emulator, "persons", person)[0]
    assert change["field_key"] == "name"
    return (rfc(change["time"]), "name", change["old_value"], change["new_value"])


def test_a_changelog_run_killed_in_the_middle_resumes_without_loss(tmp_path):
    stream = "person_changes"
    with Emulator(seed=5, scale=1200, api_token=TOKEN) as emu:
        catalog = select(discover(config_for(emu)), [stream])
        files = cli_files(tmp_path, emu, catalog=catalog)
        expected = change_rows(emu, stream)
        half = len(expected) // 2
        messages = killed_run(files, record_of(stream), half)
        killed = SyncResult(messages)
        assert len(killed.records(stream)) == half
        state = killed.final_state
        assert state["bookmarks"][stream]["items_updated_since"]["live"]
        emu.clear_log()
        resumed = sync(config_for(emu), state=state, catalog=catalog)
        assert emitted_changes(killed, stream) | emitted_changes(resumed, stream) == expected
        # Resumed from the last batch the killed run finished, not from the start.
        assert len(changelog_calls(emu, "persons")) < len(emu.ids("persons"))


# --- failures and the token budget ----------------------------------------------------------


def test_a_person_whose_changelog_answers_404_twice_stays_due_for_the_next_run(
    fresh_emulator, caplog
):
    stream = "person_changes"
    person = sorted(fresh_emulator.ids("persons"))[3]
    fresh_emulator.inject(f"/v1/persons/{person}/changelog", "not_found", times=2)
    first = sync(config_for(fresh_emulator), streams=[stream])
    assert f"1 person(s) answered 404 twice and stay due for the next run: {person}" in caplog.text
    assert {c for c in emitted_changes(first, stream) if c[0] == person} == set()
    second = sync(config_for(fresh_emulator), state=first.final_state, streams=[stream])
    expected = change_rows(fresh_emulator, stream)
    assert emitted_changes(first, stream) | emitted_changes(second, stream) == expected


def test_a_refused_changelog_is_skipped_and_does_not_pin_the_list(tmp_path):
    with Emulator(seed=12, scale=600, api_token=TOKEN, gated={"/v1/persons/": 402}) as emu:
        streams = ["persons", "person_changes"]
        # Sequential: calls read ahead concurrently would still be answered after it returned.
        first = sync(config_for(emu, max_concurrency=1), streams=streams)
        assert not first.records("person_changes")
        assert "refused" in first.final_state["bookmarks"]["person_changes"]
        emu.clear_log()
        second = sync(config_for(emu), state=first.final_state, streams=streams)
        newest = max(r["update_time"] for r in first.records("persons"))
        boundary = {r["id"] for r in first.records("persons") if r["update_time"] == newest}
        assert second.ids("persons") == boundary
        # Asked once about the person it was refused on, then skipped again.
        assert len(changelog_calls(emu, "persons")) == 1


def test_a_budget_stop_in_a_changelog_is_finished_by_the_next_run(fresh_emulator):
    stream = "organization_changes"
    fresh_emulator.clear_log()
    sync(config_for(fresh_emulator), streams=[stream])
    costs = [(r.path, r.cost) for r in fresh_emulator.requests]
    calls = [k for k, (path, _) in enumerate(costs) if path.endswith("/changelog")]
    limit = sum(cost for _, cost in costs[: calls[len(calls) // 2]])
    config = config_for(fresh_emulator, max_tokens_per_run=limit)
    first = sync(config, streams=[stream])
    assert 0 < len(emitted_changes(first, stream)) < len(change_rows(fresh_emulator, stream))
    second = sync(config_for(fresh_emulator), state=first.final_state, streams=[stream])
    expected = change_rows(fresh_emulator, stream)
    assert emitted_changes(first, stream) | emitted_changes(second, stream) == expected
