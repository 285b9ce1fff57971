"""Concurrent reads (`max_concurrency`): the same output, state and resumes as sequential ones."""

from __future__ import annotations

import functools
import itertools
import threading

import pytest

from pipedrive_api.session import PacedSession
from tests.conftest import TOKEN, config_for
from tests.emulator import Emulator
from tests.singer_run import (
    cli_files,
    discover,
    ids,
    killed_run,
    record_of,
    select,
    states,
    sync,
)

PERSONS = "/api/v2/persons"


@pytest.fixture(scope="module")
def emu():
    # 4,000 persons: 8 pages, which a concurrent backfill reads in time windows.
    with Emulator(seed=5, scale=8000, api_token=TOKEN) as emulator:
        yield emulator


def persons_windows(emu: Emulator) -> set[tuple[str | None, str | None]]:
    """The (updated_since, updated_until) ranges the persons reads asked for."""
    return {
        (r.query.get("updated_since"), r.query.get("updated_until"))
        for r in emu.requests
        if r.path == PERSONS
    }


#: Every answer takes at least 100 ms (Pipedrive's first pages take 100-300 ms) by the clock
#: `requests` times answers with, each reading of it 100 ms later, whatever this machine's speed:
#: a backfill is read in windows. Run in the tap's process (`killed_run(before=...)`).
SLOW_ANSWERS = (
    "import functools, itertools, requests.sessions; "
    "requests.sessions.preferred_clock = functools.partial(next, itertools.count(step=0.1))"
)


def slow_answers(emu: Emulator, monkeypatch) -> None:
    """`SLOW_ANSWERS` in this process, and an empty request log."""
    emu.clear_log()
    ticks = itertools.count(step=0.1)
    monkeypatch.setattr("requests.sessions.preferred_clock", functools.partial(next, ticks))


def test_a_backfill_read_in_windows_emits_what_a_sequential_read_emits(emu, monkeypatch):
    slow_answers(emu, monkeypatch)
    sequential = sync(config_for(emu, max_concurrency=1), streams=["persons"])
    assert len(persons_windows(emu)) == 1
    slow_answers(emu, monkeypatch)
    concurrent = sync(config_for(emu), streams=["persons"])
    assert len(persons_windows(emu)) > 2  # the first page's range, then windows
    assert concurrent.records("persons") == sequential.records("persons")
    assert concurrent.final_state == sequential.final_state


def test_windows_cost_at_most_one_request_each_beyond_the_pages(emu, monkeypatch):
    slow_answers(emu, monkeypatch)
    sync(config_for(emu), streams=["persons"])
    windows = len(persons_windows(emu)) - 1
    pages = -(-len(emu.ids("persons")) // 500)
    assert pages < len([r for r in emu.requests if r.path == PERSONS]) <= pages + windows


def test_a_fast_server_is_read_without_windows_at_the_minimum_of_calls(emu, monkeypatch):
    # Every answer takes no time by the clock requests times them with, whatever the load on
    # this machine (the first page once took 44-92 ms here, beyond a fast server's 50).
    monkeypatch.setattr("requests.sessions.preferred_clock", lambda: 0.0)
    emu.clear_log()
    sync(config_for(emu), streams=["persons"])
    assert len(persons_windows(emu)) == 1
    pages = -(-len(emu.ids("persons")) // 500)
    assert len([r for r in emu.requests if r.path == PERSONS]) == pages


@pytest.mark.parametrize("records", [700, 2100, 3500])
def test_a_run_killed_during_a_window_read_resumes_without_loss(tmp_path, emu, records):
    catalog = select(discover(config_for(emu)), ["persons"])
    files = cli_files(tmp_path, emu, catalog=catalog)
    emu.clear_log()
    messages = killed_run(files, record_of("persons"), records, before=[SLOW_ANSWERS])
    assert len(persons_windows(emu)) > 2  # killed while windows were being read
    seen = ids(messages, "persons")
    last = max(i for i, m in enumerate(messages) if m["type"] == "STATE")
    covered = {m["record"]["id"] for m in messages[:last] if m["type"] == "RECORD"}
    state = messages[last]["value"]
    mark = state["bookmarks"]["persons"]["replication_key_value"]
    resumed = sync(config_for(emu), state=state, catalog=catalog)
    assert seen | resumed.ids("persons") == emu.ids("persons")
    # What the last STATE covers is read again only in the bookmark's own second.
    again = [r for r in resumed.records("persons") if r["id"] in covered]
    assert {r["update_time"] for r in again} <= {mark}


def test_a_run_killed_during_a_concurrent_dealflow_batch_resumes_without_loss(tmp_path):
    with Emulator(seed=8, scale=300, api_token=TOKEN) as small:
        streams = ["deals", "dealflow"]
        catalog = select(discover(config_for(small)), streams)
        files = cli_files(tmp_path, small, catalog=catalog)
        full = sync(config_for(small), catalog=catalog)
        flow = full.records("dealflow")
        # Halfway through the second batch of 100 deals.
        deals = list(dict.fromkeys(r["deal_id"] for r in flow))
        cut = next(i for i, r in enumerate(flow) if r["deal_id"] == deals[150])
        messages = killed_run(files, record_of("dealflow"), cut)
        state = states(messages)[-1]
        resumed = sync(config_for(small), state=state, catalog=catalog)
        for stream in streams:
            assert ids(messages, stream) | resumed.ids(stream) == full.ids(stream), stream


def test_a_429_holds_every_threads_next_request(emu):
    emu.inject(PERSONS, "burst_429", headers={"retry-after": "3"})
    now, waits = [0.0], []

    def sleep(seconds: float) -> None:  # a clock that moves only when someone waits
        waits.append(seconds)
        now[0] += seconds

    session = PacedSession(4, clock=lambda: now[0], sleep=sleep)
    session.headers["x-api-token"] = TOKEN
    assert session.get(emu.url + PERSONS).status_code == 429
    answers = []
    other = threading.Thread(target=lambda: answers.append(session.get(emu.url + PERSONS)))
    other.start()
    other.join()
    assert waits == [3.0]
    assert answers[0].status_code == 200
