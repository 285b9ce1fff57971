"""Incremental replication never loses a record: boundaries, runs in flight, kills, old states."""

from __future__ import annotations

import datetime

import pytest

from tests.conftest import TOKEN, config_for, on_the_clock_of
from tests.emulator import DATASET_NOW, Emulator
from tests.singer_run import (
    bookmark,
    cli_files,
    discover,
    ids,
    is_state,
    killed_run,
    select,
    states,
    sync,
)

UTC = datetime.timezone.utc
# Stream -> emulator entity, for the plain incremental lists.
INCREMENTAL = {"persons": "persons", "organizations": "organizations", "notes": "notes"}


@pytest.mark.parametrize("stream", sorted(INCREMENTAL))
def test_records_sharing_the_bookmark_second_are_read_again_not_lost(fresh_emulator, stream):
    entity = INCREMENTAL[stream]
    first = sync(config_for(fresh_emulator), streams=[stream])
    # Two more records land in the bookmark's very second after the run.
    moment = datetime.datetime.fromisoformat(
        bookmark(first.final_state, stream).replace("Z", "+00:00")
    )
    late = set(sorted(fresh_emulator.ids(entity))[:2])
    fresh_emulator.touch(entity, late, when=moment)
    second = sync(config_for(fresh_emulator), state=first.final_state, streams=[stream])
    same_second = {
        r["id"]
        for r in first.records(stream)
        if r["update_time"] == bookmark(first.final_state, stream)
    }
    assert second.ids(stream) == same_second | late


def test_a_shared_second_straddling_a_page_boundary_is_emitted_whole(emulator):
    result = sync(config_for(emulator), streams=["persons"])
    records = result.records("persons")
    # The emulator plants a cluster of one second across positions 490-520 of the sorted list.
    boundary = records[499]["update_time"]
    assert records[500]["update_time"] == boundary
    cluster = {r["id"] for r in records if r["update_time"] == boundary}
    expected = {r["id"] for r in emulator.records("persons") if r["update_time"] == boundary}
    assert cluster == expected
    assert len(cluster) > 2


def test_records_updated_during_a_run_are_left_to_the_next_run(monkeypatch):
    with Emulator(seed=11, scale=1200, api_token=TOKEN, now=DATASET_NOW) as emu:
        on_the_clock_of(monkeypatch, emu)
        ids = sorted(emu.ids("persons"))
        moved = {ids[0], ids[-1]}

        def update_after_the_first_page(entry):
            if entry.path == "/api/v2/persons" and "cursor" not in entry.query:
                emu.on_request(None)
                # The read goes on two seconds; the update lands in the first, past its start.
                emu.advance(2)
                emu.touch("persons", moved, when=DATASET_NOW + datetime.timedelta(seconds=1))

        emu.on_request(update_after_the_first_page)
        first = sync(config_for(emu), streams=["persons"])
        touched_at = "2026-07-01T00:00:01Z"
        assert {r["update_time"] for r in emu.records("persons") if r["id"] in moved} == {
            touched_at
        }
        assert all(r["update_time"] < touched_at for r in first.records("persons"))
        # The read's window ends at the emulator's now (the tap follows its clock, not this one).
        until = {r.query["updated_until"] for r in emu.requests if r.path == "/api/v2/persons"}
        assert until == {"2026-07-01T00:00:00Z"}
        second = sync(config_for(emu), state=first.final_state, streams=["persons"])
        assert moved <= second.ids("persons")
        assert first.ids("persons") | second.ids("persons") == emu.ids("persons")


def test_upper_bound_is_frozen_at_the_start_of_the_read(fresh_emulator):
    sync(config_for(fresh_emulator), streams=["persons"])
    pages = [r for r in fresh_emulator.requests if r.path == "/api/v2/persons"]
    assert len(pages) > 1
    assert len({r.query["updated_until"] for r in pages}) == 1


def test_a_state_message_follows_every_page(fresh_emulator):
    result = sync(config_for(fresh_emulator), streams=["persons"])
    pages = [r for r in fresh_emulator.requests if r.path == "/api/v2/persons"]
    records_seen = 0
    states_after_records = 0
    for message in result.messages:
        if message["type"] == "RECORD":
            records_seen += 1
        elif message["type"] == "STATE" and records_seen:
            states_after_records += 1
            records_seen = 0
    assert states_after_records >= len(pages)


def test_start_date_applies_only_without_a_bookmark(emulator):
    start = "2026-01-01T00:00:00Z"
    first = sync(config_for(emulator, start_date=start), streams=["persons"])
    assert min(r["update_time"] for r in first.records("persons")) >= start
    expected = {r["id"] for r in emulator.records("persons") if r["update_time"] >= start}
    assert first.ids("persons") == expected
    later_start = "2020-01-01T00:00:00Z"  # a later run with an earlier start_date keeps the state
    second = sync(
        config_for(emulator, start_date=later_start), state=first.final_state, streams=["persons"]
    )
    assert min(r["update_time"] for r in second.records("persons")) == bookmark(
        first.final_state, "persons"
    )


@pytest.mark.parametrize(
    "old_value",
    [
        "2026-03-01T10:00:00+00:00",
        "2026-03-01 10:00:00",
        "2026-03-01T10:00:00.000Z",
        "2026-03-01T12:00:00+02:00",
    ],
)
def test_a_state_written_in_another_timestamp_format_still_works(emulator, old_value):
    state = {
        "bookmarks": {
            "persons": {"replication_key": "update_time", "replication_key_value": old_value}
        }
    }
    result = sync(config_for(emulator), state=state, streams=["persons"])
    expected = {
        r["id"] for r in emulator.records("persons") if r["update_time"] >= "2026-03-01T10:00:00Z"
    }
    assert result.ids("persons") == expected
    assert bookmark(result.final_state, "persons").endswith("Z")


@pytest.mark.parametrize("stream", ["persons", "notes"])
def test_a_run_killed_after_any_page_resumes_without_loss(tmp_path, stream):
    with Emulator(seed=5, scale=2400, api_token=TOKEN) as emu:
        entity = INCREMENTAL[stream]
        catalog = select(discover(config_for(emu)), [stream])
        files = cli_files(tmp_path, emu, catalog=catalog)
        full = sync(config_for(emu), catalog=catalog)
        pages = len([r for r in emu.requests if r.path.endswith(f"/{stream}")])
        assert pages >= 3
        for kill_point in range(2, pages + 1):  # the first STATE comes before any record
            messages = killed_run(files, is_state, kill_point)
            seen = ids(messages, stream)
            state = states(messages)[-1]
            resumed = sync(config_for(emu), state=state, catalog=catalog)
            assert seen | resumed.ids(stream) == full.ids(stream) == emu.ids(entity), kill_point


def kill_points(messages: list[dict]) -> list[int]:
    """Which STATEs (1-based) to kill a run after: every one until a stream's turn comes again
    after another's (the first batch boundary), the middle one of each stream's, and the last.

    Where a resume can lose records: as each stream starts, where the parent's next batch is
    handed over (a watermark moved before its batch is read: found only there), midway, at
    the end. Later batches run the same code as the first, so they get no run each.
    """
    streams: list[str | None] = []
    stream = None
    for message in messages:
        if message["type"] == "RECORD":
            stream = message["stream"]
        elif message["type"] == "STATE":
            streams.append(stream)
    points = {len(streams)}
    for number, (before, name) in enumerate(zip([None, *streams[:-1]], streams, strict=True), 1):
        points.add(number)
        if name != before and name in streams[: number - 1]:
            break
    for name in set(streams) - {None}:
        numbers = [n for n, s in enumerate(streams, 1) if s == name]
        points.add(numbers[len(numbers) // 2])
    return sorted(points)


def test_a_run_killed_while_deal_children_are_read_resumes_without_loss(tmp_path):
    # 300 deals: three batches of 100 for the children, so batch boundaries in the middle.
    with Emulator(seed=8, scale=300, api_token=TOKEN) as emu:
        streams = ["deals", "deal_products", "dealflow"]
        catalog = select(discover(config_for(emu)), streams)
        files = cli_files(tmp_path, emu, catalog=catalog)
        full = sync(config_for(emu), catalog=catalog)
        for kill_point in kill_points(full.messages):
            messages = killed_run(files, is_state, kill_point)
            state = states(messages)[-1]
            resumed = sync(config_for(emu), state=state, catalog=catalog)
            for stream in streams:
                seen = ids(messages, stream)
                assert seen | resumed.ids(stream) == full.ids(stream), (stream, kill_point)


@pytest.mark.parametrize("stream", ["notes", "leads"])
def test_a_record_updated_during_a_v1_read_shifts_no_other_record_out(stream):
    # v1 pages by offset: a record read on page 1 and updated meanwhile moves to the end, and
    # every later record moves up one place. Pages asked by time skip none of them.
    with Emulator(seed=9, scale=4000, api_token=TOKEN) as emu:  # leads and notes: 2+ pages
        first_page = sorted(
            emu.records(stream), key=lambda r: (to_second(r["update_time"]), str(r["id"]))
        )[:10]
        moved = first_page[3]["id"]
        path = f"/v1/{stream}"

        def update_after_the_first_page(entry):
            if entry.path == path and entry.query.get("start", "0") == "0":
                emu.on_request(None)
                emu.touch(stream, [moved])

        emu.on_request(update_after_the_first_page)
        result = sync(config_for(emu), streams=[stream])
        pages = [r for r in emu.requests if r.path == path]
        assert len(pages) >= 2
        assert result.ids(stream) == set(emu.all_ids(stream))
        assert len(result.records(stream)) == len(result.ids(stream))


def to_second(value: str) -> str:
    return value[:19]
