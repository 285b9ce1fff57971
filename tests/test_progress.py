"""A long sync reports progress per stream at a steady interval, and a summary at the end."""

from __future__ import annotations

import logging

from tap_pipedrive.progress import Progress
from tests.conftest import config_for
from tests.singer_run import sync


def progress_lines(caplog, event: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "phase", None) == event]


def test_progress_lines_carry_records_requests_tokens_and_time(emulator, caplog, monkeypatch):
    monkeypatch.setattr("tap_pipedrive.progress.INTERVAL_SECONDS", 0.0)
    emulator.clear_log()
    with caplog.at_level(logging.INFO):
        sync(config_for(emulator), streams=["persons"])
    lines = [r for r in progress_lines(caplog, "progress") if r.stream == "persons"]
    asked = [r for r in emulator.requests if r.path == "/api/v2/persons"]
    pages, limit, total = len(asked), int(asked[0].query["limit"]), len(emulator.all_ids("persons"))
    assert pages > 1
    assert [r.requests for r in lines] == list(range(1, pages + 1))
    assert [r.tokens for r in lines] == [10 * n for n in range(1, pages + 1)]
    # A line is written as a page is asked for: it counts the records of the pages before.
    assert [r.records for r in lines] == [min(n * limit, total) for n in range(pages)]
    assert all(r.elapsed_seconds >= 0 for r in lines)


def test_no_progress_line_before_the_interval_has_passed(emulator, caplog):
    with caplog.at_level(logging.INFO):
        sync(config_for(emulator), streams=["persons"])
    assert not progress_lines(caplog, "progress")


def test_each_stream_ends_with_a_summary(emulator, caplog):
    with caplog.at_level(logging.INFO):
        sync(config_for(emulator), streams=["persons", "notes"])
    done = {r.stream: r for r in progress_lines(caplog, "done")}
    assert done["persons"].records == len(emulator.all_ids("persons"))
    assert done["notes"].records == len(emulator.all_ids("notes"))


def test_a_streams_duration_runs_from_its_read_to_its_last_record_not_to_the_end_of_the_run(
    caplog,
):
    now = [0.0]
    progress = Progress("persons", logging.getLogger("tap-pipedrive.persons"), clock=lambda: now[0])
    now[0] = 5.0  # the streams before it
    progress.begin()
    now[0] = 7.0
    progress.request(10)
    now[0] = 8.0
    progress.record()
    now[0] = 50.0  # the streams after it, until the run's summary
    with caplog.at_level(logging.INFO):
        progress.log("done")
    assert [(r.getMessage(), r.elapsed_seconds) for r in caplog.records] == [
        ("Stream 'persons' done: 1 records, 1 requests, 10 tokens, 3.0s", 3.0)
    ]


def test_requests_before_a_streams_read_are_counted_but_not_timed():
    # Field definitions are read for the entities' schemas before their own stream's turn.
    now = [1.0]
    progress = Progress("person_fields", logging.getLogger("test"), clock=lambda: now[0])
    progress.request(10)
    now[0] = 30.0
    progress.begin()
    now[0] = 30.5
    progress.record()
    assert (progress.requests, progress.duration) == (1, 0.5)
