"""Refusals, the custom-field backfill, time windows, the end of the run: stream concerns in
modules of their own."""

from __future__ import annotations

import logging

import pytest

from pipedrive_api.errors import AccessDeniedError
from tap_pipedrive import backfill, refusals
from tap_pipedrive.reads import windows
from tap_pipedrive.summary import SyncFailedError, end_run

LOGGER = logging.getLogger("test")


class Stream:
    def __init__(self, name, failure=None, costs=None):
        self.name, self.failure, self._sync_costs = name, failure, costs or {}


def test_the_run_summary_names_every_failed_stream():
    streams = [Stream("a", costs={"requests": 2, "tokens": 20}), Stream("b", "500 for /x")]
    with pytest.raises(SyncFailedError) as failed:
        end_run(streams, LOGGER)
    assert str(failed.value) == (
        "1 stream(s) failed; the others synced, every stream's state was written, and the next "
        "run resumes them. 'b': 500 for /x"
    )


def test_only_a_refused_first_call_skips_a_stream():
    refused = AccessDeniedError("403 for /x")
    assert refusals.is_refusal(refused, answered_before=False)
    assert not refusals.is_refusal(refused, answered_before=True)
    state = {}
    assert refusals.skip("files", state, refused, LOGGER) == "403 for /x"
    assert state == {"refused": "403 for /x"}
    tap_state = {"bookmarks": {"files": state}}
    refusals.answered("files", tap_state)
    assert tap_state == {"bookmarks": {"files": {}}}


def test_the_backfill_reads_again_from_where_custom_columns_went_missing():
    state = {"replication_key_value": "2024-05-01T00:00:00Z"}
    bookmark = "2024-05-01T00:00:00Z"
    assert backfill.start("deals", state, bookmark, "403 for /dealFields", LOGGER) == bookmark
    assert state[backfill.ABSENT_SINCE] == bookmark
    later = "2024-06-01T00:00:00Z"
    assert backfill.start("deals", state, later, None, LOGGER) == bookmark
    assert state == {"replication_key_value": bookmark}


def test_a_backfill_is_cut_into_windows_of_similar_size():
    rows = [{"update_time": "2024-01-01T00:00:00Z"}, {"update_time": "2024-01-01T00:16:40Z"}]
    # Two records per 1,000 s at 2 a page: 2,000 s to the bound are two pages, under the four
    # pages a window is sized for, so no windows; 16,000 s are 16 pages: four windows.
    assert windows(rows, "2024-01-01T00:50:00Z", 8, 2) == []
    assert windows(rows, "2024-01-01T04:43:20Z", 8, 2) == [
        ("2024-01-01T00:16:40Z", "2024-01-01T01:23:20Z"),
        ("2024-01-01T01:23:20Z", "2024-01-01T02:30:00Z"),
        ("2024-01-01T02:30:00Z", "2024-01-01T03:36:40Z"),
        ("2024-01-01T03:36:40Z", "2024-01-01T04:43:20Z"),
    ]
