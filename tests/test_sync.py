"""A full sync and an incremental rerun emit exactly the emulator's records, stream by stream."""

from __future__ import annotations

import logging
import math

import pytest
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.streams import Stream

from tap_pipedrive.client import PipedriveStream
from tests.conftest import TOKEN, a_moment_ago, config_for
from tests.expected import expected_ids
from tests.singer_run import SyncResult, bookmarks, discover, select, sync
from tests.streams import BY_DEFAULT, LISTED_INCREMENTAL
from tests.streams import STREAMS as DOCUMENTED

# The streams off by default have tests of their own: deleted_records tests/test_deletions.py,
# person_changes and organization_changes tests/test_history.py, deal_mail_messages
# tests/test_deal_extras.py.
# dealflow: tests/test_deal_children.py; the assignments (two-column keys):
# tests/test_per_parent.py; deal_stage_history: tests/test_history.py.
SKIPPED = {"dealflow", "role_assignments", "permission_set_assignments", "deal_stage_history"}
STREAMS = [name for name in BY_DEFAULT if name not in SKIPPED]
INCREMENTAL = set(LISTED_INCREMENTAL)


def bookmark_second(result: SyncResult, stream: str) -> set:
    """Ids of the records that share a final bookmark's second (re-read by design)."""
    marks = bookmarks(result.final_state, stream)
    return {
        r["id"]
        for r in result.records(stream)
        if r["update_time"] == marks[r.get("is_archived") if None not in marks else None]
    }


def test_discovered_catalog_is_the_documented_stream_table(emulator):
    entries = discover(config_for(emulator))["streams"]
    found = {}
    for entry in entries:
        stream = next(m["metadata"] for m in entry["metadata"] if m["breadcrumb"] == [])
        found[entry["tap_stream_id"]] = (
            tuple(entry["key_properties"]),
            entry.get("replication_key"),
            entry["replication_method"],
            stream["selected-by-default"],
        )
    assert len(found) == len(entries)
    assert found == {
        name: (
            row.key,
            row.replication_key,
            "INCREMENTAL" if row.incremental else "FULL_TABLE",
            row.by_default,
        )
        for name, row in DOCUMENTED.items()
    }


@pytest.fixture(scope="module")
def full_sync(emulator) -> SyncResult:
    """The default streams; `.requests`: its own (later tests add to the shared log)."""
    return sync(config_for(emulator), log=emulator)


@pytest.fixture(scope="module")
def rerun(full_sync, emulator) -> SyncResult:
    """One run of every default stream from the full sync's final state."""
    return sync(config_for(emulator), state=full_sync.final_state)


@pytest.mark.parametrize("stream", STREAMS)
def test_full_sync_emits_exactly_the_emulators_ids(full_sync, emulator, stream):
    key = DOCUMENTED[stream].key[0]
    assert full_sync.ids(stream, key) == expected_ids(emulator, stream)
    assert full_sync.ids(stream, key)


@pytest.mark.parametrize("stream", STREAMS)
def test_each_record_is_emitted_once(full_sync, stream):
    key = DOCUMENTED[stream].key[0]
    ids = [record[key] for record in full_sync.records(stream)]
    assert len(ids) == len(set(ids))


def test_deals_pages_cross_several_500_record_pages(full_sync, emulator):
    deal_pages = [r for r in full_sync.requests if r.path == "/api/v2/deals"]
    total = len(emulator.ids("deals", include_deleted=True))
    assert total > 1000
    assert len(deal_pages) == math.ceil(total / 500)
    assert {r.query["limit"] for r in deal_pages} == {"500"}


def test_every_request_asks_for_the_endpoints_maximum_page(full_sync):
    maximum = {"/v1/callLogs": "50", "/v1/files": "100"}
    assert full_sync.requests
    for request in full_sync.requests:
        if "limit" in request.query:
            assert request.query["limit"] == maximum.get(request.path, "500"), request.path


def test_timestamps_leave_the_tap_as_rfc3339_utc(full_sync):
    note = full_sync.records("notes")[0]
    assert note["update_time"].endswith("Z")
    assert note["update_time"][10] == "T"


@pytest.mark.parametrize("stream", sorted(INCREMENTAL))
def test_final_state_bookmarks_the_newest_update_time(full_sync, stream):
    newest: dict = {}
    partitioned = "partitions" in full_sync.final_state["bookmarks"][stream]
    for record in full_sync.records(stream):
        part = record["is_archived"] if partitioned else None
        newest[part] = max(newest.get(part, ""), record["update_time"])
    assert bookmarks(full_sync.final_state, stream) == newest


@pytest.mark.parametrize("stream", sorted(INCREMENTAL))
def test_rerun_from_final_state_emits_only_the_bookmark_second(full_sync, rerun, stream):
    assert rerun.ids(stream) == bookmark_second(full_sync, stream)


@pytest.mark.parametrize("stream", ["deals", "persons", "notes", "products", "leads"])
def test_rerun_emits_records_updated_between_runs(fresh_emulator, stream):
    entity = stream
    first = sync(config_for(fresh_emulator), streams=[stream])
    touched = set(sorted(fresh_emulator.ids(entity))[:7])
    # A second in the past: a record updated in the very second a run starts belongs to the next.
    moment = a_moment_ago(fresh_emulator)
    fresh_emulator.touch(entity, touched, when=moment)
    second = sync(config_for(fresh_emulator), state=first.final_state, streams=[stream])
    assert second.ids(stream) == touched | bookmark_second(first, stream)


def test_the_token_travels_only_in_the_header(full_sync):
    assert full_sync.requests
    assert all(r.headers.get("x-api-token") == TOKEN for r in full_sync.requests)
    assert not any(TOKEN in f"{r.path}?{r.query}" for r in full_sync.requests)


def test_the_token_never_appears_in_the_output(full_sync):
    assert TOKEN not in repr(full_sync.messages)


def test_a_field_the_schema_lacks_is_dropped_with_one_warning(emulator, caplog):
    catalog = select(discover(config_for(emulator)), ["persons"])
    entry = next(s for s in catalog["streams"] if s["tap_stream_id"] == "persons")
    # As if Pipedrive had added `job_title` after this tap's schema was written.
    del entry["schema"]["properties"]["job_title"]
    entry["metadata"] = [
        m for m in entry["metadata"] if m["breadcrumb"] != ["properties", "job_title"]
    ]
    with caplog.at_level(logging.WARNING):
        result = sync(config_for(emulator), catalog=catalog)
    assert result.ids("persons") == set(emulator.all_ids("persons"))
    assert all("job_title" not in record for record in result.records("persons"))
    warnings = [m for m in caplog.messages if "job_title" in m]
    assert len(warnings) == 1
    assert "schema does not have" in warnings[0]


def test_a_deselected_column_is_not_emitted(emulator):
    catalog = select(discover(config_for(emulator)), ["persons"])
    entry = next(s for s in catalog["streams"] if s["tap_stream_id"] == "persons")
    for item in entry["metadata"]:
        if item["breadcrumb"] == ["properties", "emails"]:
            item["metadata"]["selected"] = False
    result = sync(config_for(emulator), catalog=catalog)
    assert all("emails" not in record for record in result.records("persons"))
    assert all("name" in record for record in result.records("persons"))
    assert "emails" not in result.schema("persons")["schema"]["properties"]


def test_records_equal_what_the_sdks_own_conformance_would_emit(full_sync, emulator, monkeypatch):
    # The tap replaces the SDK's per-value conformance and deselection walk (a private SDK
    # method) for speed: on the emulator's data both must emit the very same records. Ours are
    # the full sync's (the shared emulator's data does not change).
    streams = ["deals", "persons", "activities", "notes", "leads", "projects", "dealflow"]
    ours = full_sync
    monkeypatch.setattr(
        PipedriveStream, "_generate_record_messages", Stream._generate_record_messages
    )
    monkeypatch.setattr(PipedriveStream, "TYPE_CONFORMANCE_LEVEL", TypeConformanceLevel.RECURSIVE)
    sdks = sync(config_for(emulator), streams=streams)
    for stream in streams:
        assert ours.records(stream) == sdks.records(stream), stream
