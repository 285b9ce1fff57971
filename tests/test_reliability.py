"""Never lose data silently: refusals, broken streams, outages, bad state, interrupted runs.

Each case runs the way a user meets it (the command line where it is a user-facing path) and
checks that the run either loses nothing, or exits non-zero and the next run recovers everything.
"""

from __future__ import annotations

import datetime
import logging
import signal
import threading

import pytest
import requests

from pipedrive_api.ratelimit import BurstThrottle, retry_waits
from tap_pipedrive.summary import SyncFailedError
from tests.conftest import (
    TOKEN,
    config_for,
    oauth_config,
    oauth_emulator,
    on_the_clock_of,
)
from tests.emulator import DATASET_NOW, Emulator
from tests.expected import flow_ids
from tests.singer_run import (
    cli_files,
    discover,
    ids,
    parse_messages,
    run_cli,
    select,
    started_cli,
    states,
    sync,
)

PERSONS = "/api/v2/persons"
FLOW_PREFIX = "/v1/deals/"


#: Retry waits of milliseconds (tests.conftest): the schedule, not the clock, is under test.
pytestmark = pytest.mark.usefixtures("quick_retries")


# Refusals are not proof of a plan limit


def test_a_403_after_dealflow_answered_fails_the_run_and_the_next_run_recovers_it(
    fresh_emulator, tmp_path
):
    fresh_emulator.inject(FLOW_PREFIX, "status", status=403, after=4)
    result = run_cli(*cli_files(tmp_path, fresh_emulator, ["deals", "dealflow"]))
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr[-2000:]
    assert "'dealflow'" in stderr.splitlines()[-1]
    assert "403" in stderr.splitlines()[-1]
    assert "Traceback" not in stderr
    messages = parse_messages(result.stdout)
    assert ids(messages, "deals") == fresh_emulator.all_ids("deals")
    resumed = sync(
        config_for(fresh_emulator), state=states(messages)[-1], streams=["deals", "dealflow"]
    )
    assert ids(messages, "dealflow") | resumed.ids("dealflow") == flow_ids(
        fresh_emulator, [d["id"] for d in fresh_emulator.records("deals") if not d["is_deleted"]]
    )


def test_a_child_refused_from_its_first_call_is_backfilled_once_the_plan_allows_it():
    gated = {"/api/v2/deals/installments": 402}
    with Emulator(seed=12, scale=600, api_token=TOKEN, gated=gated) as emu:
        streams = ["deals", "deal_installments"]
        first = sync(config_for(emu), streams=streams)
        assert not first.records("deal_installments")
        assert first.final_state["bookmarks"]["deal_installments"]["refused"]
        still = sync(config_for(emu), state=first.final_state, streams=streams)
        assert not still.records("deal_installments")
        emu.gate("/api/v2/deals/installments", None)
        allowed = sync(config_for(emu), state=still.final_state, streams=streams)
        live = {d["id"] for d in emu.records("deals") if not d["is_deleted"]}
        expected = {r["id"] for r in emu.records("deal_installments") if r["deal_id"] in live}
        assert allowed.ids("deal_installments") == expected
        assert "refused" not in allowed.final_state["bookmarks"]["deal_installments"]


def test_definitions_refused_from_the_start_are_backfilled_by_the_next_run_that_has_them():
    with Emulator(seed=13, scale=300, api_token=TOKEN) as emu:
        catalog = select(discover(config_for(emu)), ["deals"])
        codes = {f["field_code"] for f in emu.records("deal_fields") if f["is_custom_field"]}
        emu.gate("/api/v2/dealFields", 403)
        without = sync(config_for(emu), catalog=catalog)
        assert all(not codes & record.keys() for record in without.records("deals"))
        emu.gate("/api/v2/dealFields", None)
        later = sync(config_for(emu), state=without.final_state, catalog=catalog)
        assert later.ids("deals") == emu.all_ids("deals")
        assert all(codes & record.keys() for record in later.records("deals"))


def test_definitions_failing_after_retries_fail_their_streams_not_drop_columns(
    monkeypatch, documented_retries
):
    with Emulator(seed=11, scale=1200, api_token=TOKEN, now=DATASET_NOW) as emu:
        catalog = select(discover(config_for(emu)), ["persons", "organizations"])
        on_the_clock_of(monkeypatch, emu)
        emu.clear_log()
        emu.inject("/api/v2/personFields", "status", status=500, times=-1)
        config = config_for(emu, retry_patience_seconds=10)
        with pytest.raises(SyncFailedError, match=r"'persons': .*500") as failure:
            sync(config, catalog=catalog)
        assert "'organizations'" not in str(failure.value)
        # Retried for the patience (tests/test_faults.py: five tries in 10 s), then given up.
        fields = [r.status for r in emu.requests if r.path == "/api/v2/personFields"]
        assert fields == [500] * 5
        assert emu.now() - DATASET_NOW == datetime.timedelta(seconds=10)


# One broken stream does not stop the others


def test_a_broken_stream_does_not_stop_the_others_and_the_next_run_recovers_it(
    fresh_emulator, tmp_path
):
    fresh_emulator.inject(PERSONS, "not_found", after=1)
    streams = ["persons", "organizations", "notes"]
    result = run_cli(*cli_files(tmp_path, fresh_emulator, streams))
    stderr = result.stderr.decode()
    assert result.returncode == 1
    assert "Traceback" not in stderr
    summary = stderr.splitlines()[-1]
    assert "1 stream(s) failed" in summary
    assert "'persons'" in summary
    assert "404" in summary
    messages = parse_messages(result.stdout)
    for stream in ("organizations", "notes"):
        assert ids(messages, stream) == fresh_emulator.all_ids(stream), stream
    state = states(messages)[-1]
    assert {"organizations", "notes", "persons"} <= state["bookmarks"].keys()
    resumed = sync(config_for(fresh_emulator), state=state, streams=streams)
    assert ids(messages, "persons") | resumed.ids("persons") == fresh_emulator.all_ids("persons")


def test_a_401_still_stops_the_run_at_once(fresh_emulator, tmp_path):
    files = cli_files(tmp_path, fresh_emulator, ["persons", "organizations"], api_token="wrong")
    fresh_emulator.clear_log()
    result = run_cli(*files)
    assert result.returncode == 1
    assert "401" in result.stderr.decode().splitlines()[-1]
    assert len(fresh_emulator.requests) == 1


# Backoff that outlasts a short outage


class Fault(Exception):
    def __init__(self, status: int, headers: dict[str, str]) -> None:
        super().__init__(status)
        self.response = requests.Response()
        self.response.status_code = status
        self.response.headers.update(headers)


def waits(faults: list[Fault]) -> list[float]:
    generator = retry_waits(1.0, 60.0, jitter=lambda: 0.0)
    next(generator)
    return [generator.send(fault) for fault in faults]


def test_server_errors_wait_exponentially_whatever_the_burst_headers_say():
    outage = [Fault(503, {"x-ratelimit-reset": "1"})] * 9
    assert waits(outage) == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_a_429_waits_what_its_headers_name():
    assert waits([Fault(429, {"Retry-After": "7"}), Fault(429, {"x-ratelimit-reset": "2"})]) == [
        7,
        2,
    ]


def test_jitter_shortens_a_wait_by_at_most_a_quarter():
    generator = retry_waits(1.0, 60.0, jitter=lambda: 0.999)
    next(generator)
    assert [round(generator.send(Fault(500, {})), 2) for _ in range(3)] == [0.75, 1.5, 3.0]


# State is validated when loaded


def test_a_malformed_bookmark_stops_the_run_before_any_output(emulator, tmp_path):
    state = {"bookmarks": {"persons": {"replication_key_value": 1700000000}}}
    result = run_cli(*cli_files(tmp_path, emulator, ["deals", "persons"], state=state))
    assert result.returncode == 1
    assert result.stdout == b""
    line = result.stderr.decode().splitlines()[-1]
    assert "'persons'" in line
    assert "replication_key_value" in line


def test_a_malformed_watermark_stops_the_run_before_any_output(emulator, tmp_path):
    state = {"bookmarks": {"dealflow": {"deals_updated_since": {"live": "yesterday"}}}}
    result = run_cli(*cli_files(tmp_path, emulator, ["deals", "dealflow"], state=state))
    assert result.returncode == 1
    assert result.stdout == b""
    line = result.stderr.decode().splitlines()[-1]
    assert "'dealflow'" in line
    assert "deals_updated_since.live" in line


def test_a_future_bookmark_warns_and_is_not_written_back(tmp_path):
    future = {"replication_key": "update_time", "replication_key_value": "2999-01-01T00:00:00Z"}
    state = {"bookmarks": {"persons": future}}
    # Pipedrive's clock stands at 2026-07-01T00:00:00Z (DATASET_NOW) during the run.
    with Emulator(seed=2, scale=50, api_token=TOKEN, now=DATASET_NOW) as emu:
        result = run_cli(*cli_files(tmp_path, emu, ["persons"], state=state))
    stderr = result.stderr.decode()
    assert result.returncode == 0, stderr[-2000:]
    assert "stream 'persons'" in stderr
    assert "in the future" in stderr
    bookmark = states(parse_messages(result.stdout))[-1]["bookmarks"]["persons"]
    # Brought back to Pipedrive's clock, not this machine's.
    assert bookmark["replication_key_value"] == "2026-07-01T00:00:00Z"


# Interrupted runs are not successes


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_an_interrupted_run_flushes_its_state_and_exits_non_zero(tmp_path, signum, code):
    with Emulator(seed=6, scale=1500, api_token=TOKEN) as emu:  # persons take two pages
        args = cli_files(tmp_path, emu, ["persons"])
        first_page = threading.Event()
        emu.on_request(lambda entry: entry.path == PERSONS and first_page.set())
        emu.inject(PERSONS, "hold", after=1)  # the second page waits for the signal
        with started_cli(*args) as process:
            assert first_page.wait(60)
            process.send_signal(signum)
            stdout, stderr = process.communicate(timeout=60)
        emu.release()
        assert process.returncode == code, stderr.decode()[-2000:]
        messages = parse_messages(stdout)
        assert messages[-1]["type"] == "STATE"
        resumed = sync(config_for(emu), state=messages[-1]["value"], streams=["persons"])
        assert ids(messages, "persons") | resumed.ids("persons") == emu.all_ids("persons")


# Smaller ones


class Answer(requests.Response):
    def __init__(self, remaining: int) -> None:
        super().__init__()
        self.status_code = 200
        self.headers.update({"x-ratelimit-remaining": str(remaining), "x-ratelimit-reset": "2"})


def test_the_burst_throttle_uses_the_last_request_of_the_window():
    pauses: list[float] = []
    throttle = BurstThrottle(sleep=pauses.append)
    throttle(Answer(1))
    assert pauses == []
    throttle(Answer(0))
    assert pauses == [2.0]


def test_pausing_at_zero_left_in_a_two_request_window_meets_no_429(monkeypatch):
    with Emulator(seed=2, scale=1500, api_token=TOKEN, burst_limit=2, now=DATASET_NOW) as emu:
        on_the_clock_of(monkeypatch, emu)
        result = sync(config_for(emu), streams=["persons"])
        assert result.ids("persons") == emu.all_ids("persons")
        assert all(r.status != 429 for r in emu.requests)
        # Every second request used the window up: the tap waited its 2 seconds out.
        waited = (emu.now() - DATASET_NOW).total_seconds()
        assert waited == 2 * (len(emu.requests) // 2), (waited, len(emu.requests))


def oauth_run(emu: Emulator, **extra) -> set:
    catalog = select(discover(config_for(emu)), ["persons"])
    emu.clear_log()
    config = {**oauth_config(emu), **extra}
    return sync(config, catalog=catalog).ids("persons")


def test_a_short_lived_access_token_is_not_refreshed_before_every_request():
    with oauth_emulator(access_token_ttl=30) as emu:
        assert oauth_run(emu) == emu.all_ids("persons")
        assert len([r for r in emu.requests if r.path == "/oauth/token"]) == 1
        assert len([r for r in emu.requests if r.path == PERSONS]) == 2


def test_a_rotated_refresh_token_is_kept_for_the_next_run(tmp_path):
    token_file = tmp_path / "refresh_token"
    with oauth_emulator(rotate_refresh_tokens=True) as emu:
        assert oauth_run(emu, refresh_token_file=str(token_file)) == emu.all_ids("persons")
        assert token_file.read_text() == emu.issued_secrets()[-1]
        assert token_file.stat().st_mode & 0o077 == 0
        # The configured refresh token is spent: the next run works from the file.
        assert oauth_run(emu, refresh_token_file=str(token_file)) == emu.all_ids("persons")


def test_a_rotated_refresh_token_is_announced_without_its_value(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    token_file = tmp_path / "refresh_token"
    with oauth_emulator(rotate_refresh_tokens=True) as emu:
        oauth_run(emu, refresh_token_file=str(token_file))
        rotated = emu.issued_secrets()[-1]
    lines = [r.getMessage() for r in caplog.records if "rotated" in r.getMessage()]
    assert lines == [
        f"Pipedrive rotated the OAuth refresh token; the new one is in {token_file}, "
        "where the next run reads it."
    ]
    assert rotated not in caplog.text
