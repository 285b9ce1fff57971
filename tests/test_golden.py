"""Golden records: a refactor keeps every message, request and write exactly as it was.

The demo's two tap runs (a full sync, then an incremental one from its state) and one
target-pipedrive run are compared with files recorded under tests/golden/: every Singer message
but `time_extracted`, the emulator's request log (method, path, sorted query, status), and for
the target its writes, the items they left, its rejects file, summary lines and exit code.
Values that depend on a clock (the run's `now`: window bounds and signposts on the emulated
Pipedrive's clock, ACTIVATE_VERSION's version on this machine's) are replaced by placeholders;
the emulator stamps the target's writes with a fixed time.

The request log is recorded at `max_concurrency: 1`: concurrent reads may split a backfill into
time windows depending on how fast the emulator answers. The messages must be the same at the
default concurrency too.

Re-record (after a deliberate change of behaviour): `GOLDEN_RECORD=1 pytest tests/test_golden.py`.
"""

from __future__ import annotations

import datetime
import gzip
import json
import logging
import os
import pathlib
import re
import time
import typing as t

import pytest

from tests.conftest import TOKEN, config_for
from tests.emulator import Emulator
from tests.singer_run import sync
from tests.target_run import messages, run_cli, target_config

GOLDEN = pathlib.Path(__file__).parent / "golden"
RECORDING = os.environ.get("GOLDEN_RECORD") == "1"
#: The demo's data set (`scripts/demo.py` uses seed 1), at the suite's usual scale.
SEED, SCALE = 1, 1200
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?")
#: Slack around a run's start and end for what it stamped with `now`.
_SLACK_SECONDS = 5.0


class Clock:
    """The span of runs whose `now` is normalised away: by this machine's clock (ACTIVATE_VERSION's
    version), and by the emulated Pipedrive's, if given (the tap's window bounds follow it)."""

    def __init__(self, emu: Emulator | None = None) -> None:
        self.clocks = [time.time] + ([] if emu is None else [lambda: emu.now().timestamp()])
        self.spans = [[clock(), clock()] for clock in self.clocks]

    def stop(self) -> None:
        for span, clock in zip(self.spans, self.clocks, strict=True):
            span[1] = clock()

    def covers(self, seconds: float) -> bool:
        return any(
            start - _SLACK_SECONDS <= seconds <= end + _SLACK_SECONDS for start, end in self.spans
        )


def normalise(value: t.Any, clock: Clock) -> t.Any:
    """`value` with every timestamp of the runs' `now` replaced by a placeholder."""
    if isinstance(value, dict):
        return {key: normalise(item, clock) for key, item in value.items()}
    if isinstance(value, list):
        return [normalise(item, clock) for item in value]
    if isinstance(value, str) and _TIMESTAMP.fullmatch(value):
        text = value.replace(" ", "T").replace("Z", "+00:00")
        moment = datetime.datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.timezone.utc)
        return "<now>" if clock.covers(moment.timestamp()) else value
    if isinstance(value, int) and not isinstance(value, bool):
        if clock.covers(value):  # ACTIVATE_VERSION's version, in seconds
            return "<now-s>"
        if clock.covers(value / 1000):
            return "<now-ms>"
    return value


def message_lines(messages_: list[dict[str, t.Any]], clock: Clock) -> list[dict[str, t.Any]]:
    """Messages without `time_extracted`, their clock values normalised."""
    kept = [{k: v for k, v in m.items() if k != "time_extracted"} for m in messages_]
    return t.cast("list[dict[str, t.Any]]", normalise(kept, clock))


def request_log(emu: Emulator, clock: Clock) -> list[list[t.Any]]:
    """The emulator's requests: method, path, sorted query, status."""
    log = [[r.method, r.path, sorted(map(list, r.query.items())), r.status] for r in emu.requests]
    return t.cast("list[list[t.Any]]", normalise(log, clock))


def check(name: str, actual: list[t.Any]) -> None:
    """Compare with (or record) tests/golden/<name>.jsonl.gz, one JSON value a line."""
    path = GOLDEN / f"{name}.jsonl.gz"
    lines = [json.dumps(item, sort_keys=True) for item in actual]
    if RECORDING:
        GOLDEN.mkdir(exist_ok=True)
        # mtime=0: the same content gives the same bytes, so a re-recording changes no file.
        with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as handle:
            handle.write("".join(line + "\n" for line in lines).encode())
        return
    expected = gzip.decompress(path.read_bytes()).decode().splitlines()
    for number, (want, got) in enumerate(zip(expected, lines, strict=False), 1):
        assert got == want, f"{name}, line {number} differs"
    assert len(lines) == len(expected), f"{name}: {len(lines)} lines, recorded {len(expected)}"


class _Lines(logging.Handler):
    """Collects the messages of the log lines that summarise a run."""

    def __init__(self, pattern: str) -> None:
        super().__init__()
        self.pattern = re.compile(pattern)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if self.pattern.match(message):
            self.lines.append(message)


def tap_runs(
    emu: Emulator, **settings: t.Any
) -> tuple[list[dict[str, t.Any]], list[dict[str, t.Any]], list[list[t.Any]], list[str]]:
    """The full sync's and the incremental sync's messages, the requests, the run totals."""
    clock = Clock(emu)
    config = config_for(emu, **settings)
    summary = _Lines(r"Run spent ")
    logger = logging.getLogger("tap-pipedrive")
    level = logger.level
    logger.addHandler(summary)
    logger.setLevel(logging.INFO)
    try:
        emu.clear_log()
        full = sync(config)
        incremental = sync(config, state=full.final_state)
    finally:
        logger.removeHandler(summary)
        logger.setLevel(level)
    clock.stop()
    return (
        message_lines(full.messages, clock),
        message_lines(incremental.messages, clock),
        request_log(emu, clock),
        summary.lines,
    )


@pytest.fixture(scope="module")
def demo_emulator() -> t.Iterator[Emulator]:
    """The demo's data; the tap only reads it."""
    with Emulator(seed=SEED, scale=SCALE, api_token=TOKEN) as emu:
        yield emu


@pytest.fixture(scope="module")
def sequential(
    demo_emulator: Emulator,
) -> tuple[list[dict[str, t.Any]], list[dict[str, t.Any]], list[list[t.Any]], list[str]]:
    return tap_runs(demo_emulator, max_concurrency=1)


def test_the_full_sync_writes_the_recorded_messages(sequential):
    check("tap_full_messages", sequential[0])


def test_the_incremental_sync_writes_the_recorded_messages(sequential):
    check("tap_incremental_messages", sequential[1])


def test_both_syncs_send_the_recorded_requests(sequential):
    check("tap_requests", sequential[2])


def test_both_syncs_report_the_recorded_run_totals(sequential):
    check("tap_run_totals", sequential[3])


def test_concurrent_reads_write_the_recorded_messages(demo_emulator):
    if RECORDING:
        pytest.skip("compares with the messages the sequential runs record")
    full, incremental, _, _ = tap_runs(demo_emulator)
    check("tap_full_messages", full)
    check("tap_incremental_messages", incremental)


#: The time the emulator gives the target's writes: 2026-07-01T00:00:00Z.
WRITE_CLOCK = datetime.datetime(2026, 7, 1, tzinfo=datetime.timezone.utc)
#: One target run touching each way a record can go: created, matched and updated, matched and
#: unchanged, updated by id, deleted, skipped, rejected by Pipedrive and by the target itself.
TARGET_STREAMS = {
    "contacts": {"entity": "persons", "match_key": "email"},
    "companies": {"entity": "organizations", "match_key": "Tax ID"},
}


def target_input(emu: Emulator) -> list[dict[str, t.Any]]:
    person = next(r for r in emu.records("persons") if r["emails"])
    org_ids = sorted(emu.ids("organizations"))
    note = sorted(emu.ids("notes"))[0]
    lead = sorted(emu.ids("leads"), key=str)[0]
    return [
        *messages(
            "contacts",
            [
                {"name": "New Person", "email": "new.person@warehouse.example"},
                {"email": person["emails"][0]["value"].upper(), "job_title": "Chief Matcher"},
                {"name": "New Person", "email": "new.person@warehouse.example"},
            ],
        ),
        *messages(
            "companies",
            [
                {"name": "First", "tax_id": "WH-1", "industry_segment": "Finance"},
                {"name": "Second", "tax_id": "WH-1"},
                {"name": "Bad", "industry_segment": "Mining"},
                {"id": org_ids[0], "_sdc_deleted_at": "2026-01-01T00:00:00Z"},
            ],
        ),
        *messages(
            "deals",
            [
                {"title": "WH one", "value": 10},
                {"value": 20},
                {"id": 1, "title": "Renamed from the warehouse"},
            ],
        ),
        *messages("notes", [{"id": note, "content": "<p>Edited</p>", "pinned_to_deal_flag": True}]),
        *messages("leads", [{"id": lead, "title": "Warm lead, renamed"}]),
    ]


def test_a_target_run_writes_rejects_and_sums_up_as_recorded(tmp_path, monkeypatch):
    # The emulator stamps written items with a fixed `now` (its clock, not the target's).
    with Emulator(seed=5, scale=40, api_token=TOKEN, now=WRITE_CLOCK) as emu:
        stdin = target_input(emu)
        before = {e: emu.all_ids(e) for e in ("persons", "organizations", "deals", "notes")}
        # Items created by the run, or written to by id (the last part of a write's path).
        clock = Clock()
        config = target_config(emu, tmp_path, streams=TARGET_STREAMS, hard_delete=True)
        result = run_cli(config, stdin, tmp_path)
        clock.stop()
        requests = request_log(emu, clock)
        touched = {path.rsplit("/", 1)[-1] for method, path, *_ in requests if method != "GET"}
        items = [
            [entity, record]
            for entity in ("persons", "organizations", "deals", "notes", "leads")
            for record in emu.records(entity)
            if str(record["id"]) in touched
            or record["id"] not in before.get(entity, {record["id"]})
        ]
        rejects_file = tmp_path / "rejects.jsonl"
        rejected = [json.loads(line) for line in rejects_file.read_text().splitlines()]
    summary = [
        line.split(" | ")[-1].replace(str(rejects_file), "<rejects>")
        for line in result.stderr.splitlines()
        if "| ERROR" in line or re.search(r"Stream '\w+': (created|record rejected)", line)
    ]
    check("target_requests", requests)
    check("target_items", normalise(items, clock))
    check("target_rejects", rejected)
    check("target_summary", [result.returncode, *summary, result.stdout])
