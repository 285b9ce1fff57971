"""The `deleted_records` stream reports deletions of persons, organizations, activities, products
and notes from `/v1/recents`, exactly, incrementally, and only when it is selected."""

from __future__ import annotations

import datetime
import json
import logging
import re
import urllib.parse
import urllib.request

import requests

from tap_pipedrive.streams.deletions import DeletedRecordsStream
from tap_pipedrive.tap import TapPipedrive
from tests.conftest import TOKEN, a_moment_ago, config_for, moment, rfc3339
from tests.emulator import DATASET_NOW, Emulator, spec
from tests.singer_run import bookmark, discover, select, sync

#: The tap asks recents from a second before its bookmark (the API lists changes after it).
SECOND = datetime.timedelta(seconds=1)
DAY = datetime.timedelta(days=1)
STREAM = "deleted_records"
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
#: Stream name -> emulator entity of the five entities whose deletions the stream reports.
ENTITIES = ("persons", "organizations", "activities", "products", "notes")
#: The documented default of `deleted_records_lookback_minutes`.
LOOKBACK = datetime.timedelta(minutes=5)
#: Tests of the bookmark's own second turn the look-back margin off.
NO_MARGIN = {"deleted_records_lookback_minutes": 0}


def v1(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def deleted(result) -> set[tuple[str, int]]:
    return {(r["entity"], r["id"]) for r in result.records(STREAM)}


def recents_requests(emu: Emulator) -> list:
    return [r for r in emu.requests if r.path == "/v1/recents"]


def delete_some_of_each(emu: Emulator, when: datetime.datetime, per_entity: int = 3) -> set:
    """Delete the first few records of each of the five entities at `when`."""
    gone = set()
    for entity in ENTITIES:
        ids = sorted(emu.ids(entity))[:per_entity]
        emu.delete(entity, ids, when=when)
        gone |= {(entity, i) for i in ids}
    return gone


def test_deletions_of_each_entity_are_captured_exactly(fresh_emulator):
    gone = delete_some_of_each(fresh_emulator, a_moment_ago(fresh_emulator))
    result = sync(config_for(fresh_emulator), streams=[STREAM])
    assert deleted(result) == gone
    assert len(result.records(STREAM)) == len(gone)


def test_updates_are_not_emitted_as_deletions(fresh_emulator):
    when = a_moment_ago(fresh_emulator)
    touched = {entity: sorted(fresh_emulator.ids(entity))[-2:] for entity in ENTITIES}
    for entity, ids in touched.items():
        fresh_emulator.touch(entity, ids, when=when)
    gone = delete_some_of_each(fresh_emulator, when, per_entity=1)
    result = sync(config_for(fresh_emulator), streams=[STREAM])
    assert deleted(result) == gone
    # The updates were there to read: recents listed all ten of them.
    query = urllib.parse.urlencode({"since_timestamp": v1(when)})
    request = urllib.request.Request(
        f"{fresh_emulator.url}/v1/recents?{query}", headers={"x-api-token": TOKEN}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        listed = json.loads(response.read())["data"]
    assert sum(entry["data"]["active_flag"] for entry in listed) == 10


def test_a_second_run_emits_only_later_deletions_and_those_of_the_bookmark_second(fresh_emulator):
    mark = a_moment_ago(fresh_emulator, 7)
    persons = sorted(fresh_emulator.ids("persons"))
    fresh_emulator.delete("persons", persons[:2], when=mark - datetime.timedelta(seconds=2))
    fresh_emulator.delete("notes", [1, 2], when=mark)
    first = sync(config_for(fresh_emulator, **NO_MARGIN), streams=[STREAM])
    assert bookmark(first.final_state, STREAM) == rfc3339(mark)
    # Later: one deletion after the bookmark, one landing late in the bookmark's second.
    fresh_emulator.delete("products", [3], when=mark + datetime.timedelta(seconds=2))
    fresh_emulator.delete("activities", [4], when=mark)
    second = sync(
        config_for(fresh_emulator, **NO_MARGIN), state=first.final_state, streams=[STREAM]
    )
    assert deleted(second) == {("notes", 1), ("notes", 2), ("products", 3), ("activities", 4)}


def test_the_bookmark_moves_past_updates_read_after_the_last_deletion(fresh_emulator):
    updated = a_moment_ago(fresh_emulator, 6)
    fresh_emulator.delete("persons", [1], when=updated - datetime.timedelta(seconds=3))
    fresh_emulator.touch("organizations", [2], when=updated)
    first = sync(config_for(fresh_emulator, **NO_MARGIN), streams=[STREAM])
    assert deleted(first) == {("persons", 1)}
    assert bookmark(first.final_state, STREAM) == rfc3339(updated)
    fresh_emulator.clear_log()
    second = sync(
        config_for(fresh_emulator, **NO_MARGIN), state=first.final_state, streams=[STREAM]
    )
    assert deleted(second) == set()
    assert [r.query["since_timestamp"] for r in recents_requests(fresh_emulator)] == [
        v1(updated - SECOND)
    ]


def test_deletions_stamped_just_before_the_last_read_ended_are_read_by_the_next_run(
    fresh_emulator,
):
    # Committed after the first read, stamped two seconds before its end (a slow commit).
    first = sync(config_for(fresh_emulator), streams=[STREAM])
    assert deleted(first) == set()
    end = moment(bookmark(first.final_state, STREAM))
    gone = delete_some_of_each(fresh_emulator, end - 2 * SECOND)
    second = sync(config_for(fresh_emulator), state=first.final_state, streams=[STREAM])
    assert deleted(second) == gone
    assert len(gone) == 15


def test_deletions_made_after_a_read_are_not_lost_to_a_pipedrive_clock_behind_this_one():
    # Pipedrive's clock two minutes behind this machine's (standing, moved by the test); no
    # look-back margin to hide it. Ended by this machine's clock, the first read's window
    # would pass the deletions made after it.
    behind = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - 120 * SECOND
    with Emulator(seed=11, scale=200, api_token=TOKEN, now=behind) as emu:
        first = sync(config_for(emu, **NO_MARGIN), streams=[STREAM])
        assert deleted(first) == set()
        gone = delete_some_of_each(emu, emu.advance(1))
        emu.advance(1)
        second = sync(config_for(emu, **NO_MARGIN), state=first.final_state, streams=[STREAM])
    assert deleted(second) == gone
    assert len(gone) == 15


def test_deletions_read_again_inside_the_margin_keep_the_bookmark(fresh_emulator):
    mark = a_moment_ago(fresh_emulator, 30)
    fresh_emulator.delete("notes", [1], when=mark - 60 * SECOND)
    fresh_emulator.delete("notes", [2], when=mark)
    first = sync(config_for(fresh_emulator), streams=[STREAM])
    assert bookmark(first.final_state, STREAM) == rfc3339(mark)
    second = sync(config_for(fresh_emulator), state=first.final_state, streams=[STREAM])
    assert deleted(second) == {("notes", 1), ("notes", 2)}
    assert bookmark(second.final_state, STREAM) == rfc3339(mark)


def test_a_read_the_token_limit_stops_before_its_first_call_keeps_the_bookmark(fresh_emulator):
    since = rfc3339(a_moment_ago(fresh_emulator, 3600))
    state = {"bookmarks": {STREAM: {"replication_key": "deleted_time",
                                    "replication_key_value": since}}}  # fmt: skip
    catalog = select(discover(config_for(fresh_emulator)), [STREAM])
    result = sync(config_for(fresh_emulator, max_tokens_per_run=1), state=state, catalog=catalog)
    assert recents_requests(fresh_emulator) == []
    assert bookmark(result.final_state, STREAM) == since


def test_the_stream_is_not_selected_by_default_in_discovery(emulator):
    catalog = discover(config_for(emulator))
    roots = {
        entry["tap_stream_id"]: next(m for m in entry["metadata"] if m["breadcrumb"] == [])
        for entry in catalog["streams"]
    }
    assert roots[STREAM]["metadata"]["selected-by-default"] is False
    assert roots[STREAM]["metadata"]["selected"] is False
    assert roots["persons"]["metadata"]["selected"] is True


def test_no_recents_request_is_made_when_the_stream_is_not_selected():
    with Emulator(seed=11, scale=60, api_token=TOKEN) as emu:
        delete_some_of_each(emu, a_moment_ago(emu), per_entity=1)
        result = sync(config_for(emu), catalog=discover(config_for(emu)))
        assert "persons" in result.streams()
        assert STREAM not in result.streams()
        assert recents_requests(emu) == []
        assert any(r.path == "/api/v2/persons" for r in emu.requests)


def test_bookmark_and_deleted_time_are_rfc3339_utc(fresh_emulator):
    when = a_moment_ago(fresh_emulator)
    fresh_emulator.delete("notes", [1], when=when)
    result = sync(config_for(fresh_emulator), streams=[STREAM])
    assert [r["deleted_time"] for r in result.records(STREAM)] == [rfc3339(when)]
    assert RFC3339.fullmatch(bookmark(result.final_state, STREAM))
    assert result.final_state["bookmarks"][STREAM]["replication_key"] == "deleted_time"


def test_recents_is_asked_for_the_five_entities_since_the_bookmark_in_v1_format(fresh_emulator):
    since = a_moment_ago(fresh_emulator, 3600)
    state = {"bookmarks": {STREAM: {"replication_key": "deleted_time",
                                    "replication_key_value": rfc3339(since)}}}  # fmt: skip
    sync(config_for(fresh_emulator), state=state, streams=[STREAM])
    [request] = recents_requests(fresh_emulator)
    assert request.query == {
        # The look-back margin, and a second: recents lists changes "after" the time.
        "since_timestamp": v1(since - LOOKBACK - SECOND),
        "items": "person,organization,activity,product,note",
        "limit": "500",
        "start": "0",
    }


def test_start_date_within_the_month_is_where_the_first_run_starts(fresh_emulator):
    start = a_moment_ago(fresh_emulator, 86_400)
    sync(config_for(fresh_emulator, start_date=rfc3339(start)), streams=[STREAM])
    assert [r.query["since_timestamp"] for r in recents_requests(fresh_emulator)] == [
        v1(start - SECOND)
    ]


def test_a_bookmark_older_than_a_month_starts_30_days_back_with_a_warning(fresh_emulator, caplog):
    old = rfc3339(a_moment_ago(fresh_emulator, 40 * 86_400))
    state = {"bookmarks": {STREAM: {"replication_key": "deleted_time",
                                    "replication_key_value": old}}}  # fmt: skip
    fresh_emulator.delete("persons", [5], when=a_moment_ago(fresh_emulator))
    before = a_moment_ago(fresh_emulator, 30 * 86_400)
    with caplog.at_level(logging.WARNING):
        result = sync(config_for(fresh_emulator), state=state, streams=[STREAM])
    after = a_moment_ago(fresh_emulator, 30 * 86_400 - 5)
    assert deleted(result) == {("persons", 5)}
    [request] = recents_requests(fresh_emulator)
    assert v1(before - SECOND) <= request.query["since_timestamp"] <= v1(after)
    assert any(old in m and "may be missed" in m for m in caplog.messages)


def test_a_start_date_older_than_a_month_warns_that_the_first_run_reads_one_month(
    fresh_emulator, caplog
):
    start_date = "2024-01-01T00:00:00Z"
    with caplog.at_level(logging.WARNING):
        sync(config_for(fresh_emulator, start_date=start_date), streams=[STREAM])
    [warning] = [
        r.message for r in caplog.records if r.levelno >= logging.WARNING and STREAM in r.message
    ]
    assert "first run" in warning
    assert f"not from `start_date` {start_date}" in warning
    assert "keeps only one month" in warning


def test_the_bookmark_moves_to_the_reads_end_when_the_window_had_no_change(caplog):
    # Pipedrive's clock two months after the generated changes: the month this window reads
    # has none.
    with Emulator(seed=11, scale=200, api_token=TOKEN, start=DATASET_NOW + 60 * DAY) as emu:
        before = rfc3339(a_moment_ago(emu, 0))
        first = sync(config_for(emu, start_date="2024-01-01"), streams=[STREAM])
        after = rfc3339(a_moment_ago(emu, 0))
        assert deleted(first) == set()
        mark = bookmark(first.final_state, STREAM)
        assert before <= mark <= after
        emu.clear_log()
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            second = sync(
                config_for(emu, start_date="2024-01-01"),
                state=first.final_state,
                streams=[STREAM],
            )
        assert deleted(second) == set()
        since = moment(mark) - LOOKBACK - SECOND
        assert [r.query["since_timestamp"] for r in recents_requests(emu)] == [v1(since)]
        assert not [
            r for r in caplog.records if r.levelno >= logging.WARNING and STREAM in r.message
        ]


def test_without_state_or_start_date_the_read_starts_30_days_back(fresh_emulator, caplog):
    before = a_moment_ago(fresh_emulator, 30 * 86_400)
    with caplog.at_level(logging.WARNING):
        sync(config_for(fresh_emulator), streams=[STREAM])
    after = a_moment_ago(fresh_emulator, 30 * 86_400 - 5)
    [request] = recents_requests(fresh_emulator)
    assert v1(before - SECOND) <= request.query["since_timestamp"] <= v1(after)
    assert not any("may be missed" in m for m in caplog.messages)


def test_a_deletion_is_not_skipped_when_an_earlier_listed_record_is_updated_mid_read(
    fresh_emulator,
):
    # 520 changes, one a second; the 501st (the first of the second page) is a deletion.
    start = a_moment_ago(fresh_emulator, 900)
    activities = sorted(fresh_emulator.ids("activities"))
    for i in range(520):
        when = start + datetime.timedelta(seconds=i)
        if i == 500:
            fresh_emulator.delete("persons", [7], when=when)
        else:
            fresh_emulator.touch("activities", [activities[i]], when=when)

    def update_a_listed_record(entry):
        if entry.path == "/v1/recents":
            fresh_emulator.on_request(None)
            fresh_emulator.touch("activities", [activities[0]])  # moves to the end of the list

    fresh_emulator.on_request(update_a_listed_record)
    result = sync(config_for(fresh_emulator), streams=[STREAM])
    assert deleted(result) == {("persons", 7)}
    assert len(recents_requests(fresh_emulator)) == 2


def test_deletions_over_several_pages_within_one_second_are_each_emitted_once(fresh_emulator):
    when = a_moment_ago(fresh_emulator, 9)
    activities = sorted(fresh_emulator.ids("activities"))
    fresh_emulator.delete("activities", activities[:700], when=when)
    fresh_emulator.delete("activities", activities[700:800], when=when + datetime.timedelta(0, 1))
    result = sync(config_for(fresh_emulator), streams=[STREAM])
    assert deleted(result) == {("activities", i) for i in activities[:800]}
    assert len(result.records(STREAM)) == 800


def test_a_change_without_data_is_a_deletion_timed_as_the_change_before_it(emulator):
    tap = TapPipedrive(config=config_for(emulator))
    stream = tap.streams[STREAM]
    stream.lower_bound, stream.upper_bound = "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"
    stream.get_new_paginator()
    page = {
        "success": True,
        "data": [
            {"item": "note", "id": 1, "data": None},
            {"item": "person", "id": 2, "data": {"id": 2, "update_time": "2026-11-01 10:00:00",
                                                 "active_flag": True}},
            {"item": "product", "id": 3, "data": None},
            {"item": "deal", "id": 4, "data": None},
        ],
        "additional_data": {"pagination": {"start": 0, "limit": 500,
                                           "more_items_in_collection": False}},
    }  # fmt: skip
    response = requests.Response()
    response.status_code, response._content = 200, json.dumps(page).encode()
    assert list(stream.parse_response(response)) == [
        {"entity": "notes", "id": 1, "deleted_time": "2026-11-01T00:00:00Z"},
        {"entity": "products", "id": 3, "deleted_time": "2026-11-01T10:00:00Z"},
    ]


def test_token_cost_is_the_specs():
    assert DeletedRecordsStream.token_cost == spec.load().operation("GET", "/v1/recents").cost
    assert DeletedRecordsStream.token_cost == 20
