"""A long sync reports progress per stream at a steady interval, and a summary at the end."""

from __future__ import annotations

import logging

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
    pages = len([r for r in emulator.requests if r.path == "/api/v2/persons"])
    assert [r.requests for r in lines] == list(range(1, pages + 1))
    assert [r.tokens for r in lines] == [10 * n for n in range(1, pages + 1)]
    assert lines[-1].records <= len(emulator.all_ids("persons"))
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
