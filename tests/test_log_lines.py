"""One line means one line: what the tap logs when a request fails, recovers, or its output closes.

Through the real command line, against the emulator's scheduled faults; the exact lines on
stderr (level and message, without the time and logger columns) and the exit code.
"""

from __future__ import annotations

import logging
import types

from tests.conftest import TOKEN, closed_port, config_for
from tests.emulator import Emulator
from tests.singer_run import (
    cli_files,
    failure_line,
    json_file,
    parse_messages,
    run_cli,
    started_cli,
    sync,
)

PERSONS = "/api/v2/persons"


def log_lines(stderr: bytes, *levels: str) -> list[str]:
    """The messages of the log lines at these levels, in order."""
    lines = []
    for line in stderr.decode().splitlines():
        parts = line.split(" | ", 3)
        if len(parts) == 4 and parts[1].strip() in levels:
            lines.append(parts[3])
    return lines


def test_a_refused_connection_is_one_error_line(tmp_path):
    port = closed_port()
    config = {"api_token": TOKEN, "api_url": f"http://127.0.0.1:{port}"}
    result = run_cli("--config", json_file(tmp_path / "config.json", config), timeout=60)
    failure_line(result, 1)  # exit 1, no output, no traceback, the last line the one error
    # At once: no retry, whose WARNING line would be here.
    assert log_lines(result.stderr, "ERROR", "WARNING", "CRITICAL") == [
        f"Cannot connect to http://127.0.0.1:{port} (Connection refused): check the `api_url` / "
        "`company_domain` settings."
    ]


def test_a_server_error_that_recovers_is_one_warning_in_words(tmp_path):
    with Emulator(seed=3, scale=20, api_token=TOKEN) as emu:
        emu.inject(PERSONS, "status", status=503)
        result = run_cli(*cli_files(tmp_path, emu, ["persons"]), quick_retries=True)
        persons = emu.all_ids("persons")
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert log_lines(result.stderr, "ERROR", "WARNING", "CRITICAL") == [
        "Pipedrive answered 503 Service Unavailable for /api/v2/persons: Service unavailable: "
        "Pipedrive is under maintenance; Please check developers.pipedrive.com for more "
        "information about Pipedrive API.; retrying in 0.0s (attempt 2)"
    ]
    records = [m["record"] for m in parse_messages(result.stdout) if m["type"] == "RECORD"]
    assert {r["id"] for r in records} == persons


def test_a_dropped_connection_that_recovers_is_one_warning_without_the_query(tmp_path):
    with Emulator(seed=3, scale=20, api_token=TOKEN) as emu:
        emu.inject(PERSONS, "drop")
        result = run_cli(*cli_files(tmp_path, emu, ["persons"]), quick_retries=True)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert log_lines(result.stderr, "ERROR", "WARNING", "CRITICAL") == [
        "The connection failed for /api/v2/persons; retrying in 0.0s (attempt 2)"
    ]


def test_a_429_saying_the_daily_budget_is_spent_stops_at_once_without_the_header(tmp_path):
    with Emulator(seed=3, scale=20, api_token=TOKEN) as emu:
        emu.inject(PERSONS, "budget_429_body")
        result = run_cli(*cli_files(tmp_path, emu, ["persons"]))
        calls = [r for r in emu.requests if r.path == PERSONS]
    assert result.returncode == 1
    assert log_lines(result.stderr, "ERROR", "WARNING", "CRITICAL") == [
        "Pipedrive's daily token budget for this company is spent (429 for /api/v2/persons). It "
        "refills at midnight in the company's time zone; the state reached so far was emitted, "
        "and the next run resumes from it."
    ]
    assert len(calls) == 1  # not retried
    assert b"Traceback" not in result.stderr


def test_a_closed_output_is_one_line_and_exit_1(tmp_path):
    with (
        Emulator(seed=3, scale=20, api_token=TOKEN) as emu,
        started_cli(*cli_files(tmp_path, emu, ["activities", "persons"])) as process,
    ):
        assert process.stdout is not None
        process.stdout.close()  # as `| head` does once it has its lines: nothing more is read
        _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1
    assert log_lines(stderr, "ERROR", "WARNING", "CRITICAL") == [
        "The output was closed before the run finished (broken pipe): whatever read the tap's "
        "output stopped reading, so the run stopped. The next run resumes from the last state "
        "that reader kept."
    ]
    assert b"Traceback" not in stderr
    assert b"Exception ignored" not in stderr


def test_metrics_log_level_warning_leaves_no_metric_lines_and_keeps_the_summary(tmp_path):
    with Emulator(seed=3, scale=20, api_token=TOKEN) as emu:
        result = run_cli(*cli_files(tmp_path, emu, ["persons"], metrics_log_level="WARNING"))
        persons = len(emu.all_ids("persons"))
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert b"METRIC" not in result.stderr
    assert f"Stream 'persons' done: {persons} records, 1 requests, 10 tokens," in (
        result.stderr.decode()
    )


def test_each_stream_reports_its_own_duration(monkeypatch, caplog):
    """Time passes only while the emulator answers `pipelines` (a fake clock, 100 s a call)."""
    now = [0.0]
    monkeypatch.setattr(
        "tap_pipedrive.progress.time", types.SimpleNamespace(monotonic=lambda: now[0])
    )
    with Emulator(seed=3, scale=20, api_token=TOKEN) as emu:

        def tick(entry) -> None:
            if entry.path == "/api/v2/pipelines":
                now[0] += 100.0

        emu.on_request(tick)
        with caplog.at_level(logging.INFO):
            sync(config_for(emu, max_concurrency=1), streams=["persons", "pipelines", "users"])
    done = {
        r.stream: r.elapsed_seconds for r in caplog.records if getattr(r, "phase", "") == "done"
    }
    assert done == {"person_fields": 0.0, "persons": 0.0, "pipelines": 100.0, "users": 0.0}
