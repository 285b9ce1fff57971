"""Throttling, server faults, gated endpoints, OAuth and secrets: keep working, lose nothing."""

from __future__ import annotations

import datetime
import json
import logging

import pytest

from pipedrive_api.errors import PipedriveAPIError
from tap_pipedrive.summary import SyncFailedError
from tests.conftest import (
    OAUTH,
    TOKEN,
    config_for,
    oauth_config,
    oauth_emulator,
    on_the_clock_of,
)
from tests.emulator import DATASET_NOW, Emulator
from tests.expected import flow_ids
from tests.singer_run import cli_files, discover, json_file, parse_messages, run_cli, select, sync

PERSONS = "/api/v2/persons"


#: Retry waits of milliseconds (tests.conftest): the schedule, not the clock, is under test.
pytestmark = pytest.mark.usefixtures("quick_retries")


@pytest.fixture(scope="module")
def clean(emulator):
    return sync(config_for(emulator), streams=["persons"]).ids("persons")


def persons_with_fault(emu: Emulator, fault: str, **options) -> set:
    """Sync persons with a fault on the second page; check the fault fired `times` times."""
    emu.inject(PERSONS, fault, after=1, **options)
    ids = sync(config_for(emu), streams=["persons"]).ids("persons")
    # Each firing asks for the same page again: one request more than the distinct pages.
    pages = [r.query.get("cursor") for r in emu.requests if r.path == PERSONS]
    assert len(pages) == len(set(pages)) + options.get("times", 1)
    return ids


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried(fresh_emulator, status):
    assert persons_with_fault(fresh_emulator, "status", status=status, times=3) == set(
        fresh_emulator.all_ids("persons")
    )


@pytest.mark.parametrize("fault", ["drop", "truncate", "null_body", "not_json"])
def test_broken_answers_are_retried(fresh_emulator, fault):
    assert persons_with_fault(fresh_emulator, fault, times=2) == set(
        fresh_emulator.all_ids("persons")
    )


def test_a_timeout_of_request_timeout_seconds_is_retried(fresh_emulator, caplog):
    # Not through persons_with_fault: the held answer is logged only once it is released.
    config = config_for(fresh_emulator, request_timeout_seconds=0.5)
    fresh_emulator.inject(PERSONS, "hold", after=1)  # never answered in time: no race
    ids = sync(config, streams=["persons"]).ids("persons")
    fresh_emulator.release()
    assert ids == set(fresh_emulator.all_ids("persons"))
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert retries == ["No answer in time for /api/v2/persons; retrying in 0.0s (attempt 2)"]


def test_a_burst_429_waits_and_retries(fresh_emulator):
    ids = persons_with_fault(fresh_emulator, "burst_429", times=2, headers={"Retry-After": "0"})
    assert ids == set(fresh_emulator.all_ids("persons"))
    statuses = [r.status for r in fresh_emulator.requests if r.path == PERSONS]
    assert statuses.count(429) == 2


def test_a_fault_that_outlasts_the_retry_patience_fails_the_stream(monkeypatch, documented_retries):
    with Emulator(seed=5, scale=40, api_token=TOKEN, now=DATASET_NOW) as emu:
        on_the_clock_of(monkeypatch, emu)
        emu.inject(PERSONS, "status", status=503, times=-1)
        with pytest.raises(SyncFailedError, match=r"'persons': .*503"):
            sync(config_for(emu, retry_patience_seconds=10), streams=["persons"])
        # Waits of about 1, 2 and 4 s, then the rest of the 10 s (the next wait, about 8 s, is
        # cut to it): five tries, the last one 10 s after the first, and no more.
        assert [r.status for r in emu.requests if r.path == PERSONS] == [503] * 5
        assert emu.now() - DATASET_NOW == datetime.timedelta(seconds=10)


def test_an_outage_longer_than_eight_tries_is_waited_out(fresh_emulator):
    fresh_emulator.inject(PERSONS, "status", status=503, times=12)
    result = sync(config_for(fresh_emulator), streams=["persons"])
    assert result.ids("persons") == set(fresh_emulator.all_ids("persons"))
    statuses = [r.status for r in fresh_emulator.requests if r.path == PERSONS]
    assert statuses[:13] == [503] * 12 + [200]


def test_a_client_error_is_not_retried_and_carries_pipedrives_message(fresh_emulator):
    fresh_emulator.inject(PERSONS, "status", status=400)
    with pytest.raises(PipedriveAPIError, match=r"400 .*Bad request"):
        sync(config_for(fresh_emulator), streams=["persons"])
    assert len([r for r in fresh_emulator.requests if r.path == PERSONS]) == 1


def test_an_html_block_page_gets_a_clear_message_not_the_html(fresh_emulator):
    fresh_emulator.inject(PERSONS, "html_403")
    with pytest.raises(PipedriveAPIError) as error:
        sync(config_for(fresh_emulator), streams=["persons"])
    assert "blocked the client" in str(error.value)
    assert "<html" not in str(error.value).lower()


def test_a_mixed_fault_schedule_loses_nothing(fresh_emulator):
    # What a run without faults emits: every deal, person and note, the flows of the deals
    # not deleted.
    everything = {s: set(fresh_emulator.all_ids(s)) for s in ("deals", "persons", "notes")}
    deals = [d["id"] for d in fresh_emulator.records("deals") if not d["is_deleted"]]
    everything["dealflow"] = flow_ids(fresh_emulator, deals)
    fresh_emulator.inject("/api/v2/deals", "status", status=502, after=1)
    fresh_emulator.inject(PERSONS, "drop", after=0)
    fresh_emulator.inject("/v1/notes", "burst_429", after=1, headers={"Retry-After": "0"})
    fresh_emulator.inject("/v1/deals/", "null_body", after=5, times=2)
    fresh_emulator.inject("/api/v2/personFields", "truncate")
    faulty = sync(config_for(fresh_emulator), streams=["deals", "persons", "notes", "dealflow"])
    for stream in ("deals", "persons", "notes", "dealflow"):
        assert faulty.ids(stream) == everything[stream], stream
    # Every fault fired: the drop is logged as status 0; null_body and truncate answer 200.
    failed = sorted((r.path, r.status) for r in fresh_emulator.requests if r.status != 200)
    assert failed == [("/api/v2/deals", 502), (PERSONS, 0), ("/v1/notes", 429)]


def test_an_exhausted_budget_stops_with_the_state_and_a_later_run_resumes(fresh_emulator, tmp_path):
    fresh_emulator.inject(PERSONS, "budget_429", after=1)
    files = cli_files(tmp_path, fresh_emulator, ["persons"])
    fresh_emulator.reset_budget()
    result = run_cli(*files)
    stderr = result.stderr.decode()
    assert result.returncode == 1
    assert "daily token budget" in stderr
    assert "Traceback" not in stderr
    messages = parse_messages(result.stdout)
    seen = {m["record"]["id"] for m in messages if m["type"] == "RECORD"}
    state = [m["value"] for m in messages if m["type"] == "STATE"][-1]
    first_page = int(next(r for r in fresh_emulator.requests if r.path == PERSONS).query["limit"])
    assert first_page < len(fresh_emulator.all_ids("persons"))
    assert len(seen) == first_page
    assert [r.status for r in fresh_emulator.requests if r.path == PERSONS][-1] == 429
    assert state["bookmarks"]["persons"]["replication_key_value"]
    fresh_emulator.reset_budget()
    resumed = sync(config_for(fresh_emulator), state=state, streams=["persons"])
    assert seen | resumed.ids("persons") == set(fresh_emulator.all_ids("persons"))


def test_the_burst_window_is_respected_before_it_runs_out(monkeypatch):
    with Emulator(seed=2, scale=3000, api_token=TOKEN, burst_limit=5, now=DATASET_NOW) as emu:
        on_the_clock_of(monkeypatch, emu)
        result = sync(config_for(emu), streams=["persons", "organizations"])
        assert result.ids("persons") == set(emu.all_ids("persons"))
        assert result.ids("organizations") == set(emu.all_ids("organizations"))
        assert all(r.status != 429 for r in emu.requests)
        assert emu.now() > DATASET_NOW  # the window was used up, and waited out


def test_gated_streams_are_skipped_and_the_others_sync(tmp_path):
    gates = {"/v1/goals": 402, "/v1/permissionSets": 403}
    with Emulator(seed=4, scale=300, api_token=TOKEN, gated=gates) as emu:
        result = run_cli("--config", json_file(tmp_path / "config.json", config_for(emu)))
        stderr = result.stderr.decode()
        assert result.returncode == 0, stderr
        assert stderr.count("Stream 'goals' skipped") == 1
        assert stderr.count("Stream 'permission_sets' skipped") == 1
        assert "Required suites missing" in stderr
        messages = [json.loads(line) for line in result.stdout.splitlines()]
        records = {m["stream"] for m in messages if m["type"] == "RECORD"}
        assert not records & {"goals", "permission_sets"}
        persons = {
            m["record"]["id"]
            for m in messages
            if m.get("stream") == "persons" and m["type"] == "RECORD"
        }
        assert persons == set(emu.all_ids("persons"))
        assert messages[-1]["type"] == "STATE"


def oauth_sync(emu: Emulator, config: dict, stream: str):
    """Sync one stream with OAuth (its catalog discovered with the API token), from a clean log."""
    catalog = select(discover(config_for(emu)), [stream])
    emu.clear_log()
    return sync(config, catalog=catalog)


def test_oauth_uses_the_api_domain_and_a_bearer_token():
    with oauth_emulator() as emu:
        result = oauth_sync(emu, oauth_config(emu), "persons")
        assert result.ids("persons") == set(emu.all_ids("persons"))
        api = [r for r in emu.requests if r.path == PERSONS]
        assert all(r.headers["authorization"].startswith("Bearer ") for r in api)
        assert all("x-api-token" not in r.headers for r in api)
        assert len([r for r in emu.requests if r.path == "/oauth/token"]) == 1


def test_an_expired_access_token_is_refreshed_once_and_the_read_goes_on():
    with oauth_emulator(rotate_refresh_tokens=True) as emu:

        def expire_after_first_page(entry):
            if entry.path == PERSONS:
                emu.on_request(None)
                emu.expire_access_tokens()

        emu.on_request(expire_after_first_page)
        result = oauth_sync(emu, oauth_config(emu), "persons")
        assert result.ids("persons") == set(emu.all_ids("persons"))
        assert len([r for r in emu.requests if r.path == "/oauth/token"]) == 2


def test_a_refused_refresh_token_is_a_clear_error():
    with oauth_emulator() as emu:
        config = {**oauth_config(emu), "refresh_token": "rt-revoked"}
        with pytest.raises(Exception, match="refused the refresh"):
            oauth_sync(emu, config, "persons")


def test_no_secret_appears_anywhere_at_debug_level(tmp_path):
    with oauth_emulator(rotate_refresh_tokens=True) as emu:
        config = json_file(tmp_path / "config.json", {**oauth_config(emu), "api_token": None})
        env = {"TAP_PIPEDRIVE_LOG_LEVEL": "DEBUG", "LOGLEVEL": "DEBUG", "PATH": "/usr/bin:/bin"}
        result = run_cli("--config", config, env=env)
        output = result.stdout.decode() + result.stderr.decode()
        assert result.returncode == 0, result.stderr.decode()[-2000:]
        assert "DEBUG" in output
        secrets = [OAUTH["client_secret"], OAUTH["refresh_token"], *emu.issued_secrets()]
        for secret in secrets:
            assert secret not in output


def test_no_api_token_appears_anywhere_at_debug_level(tmp_path, emulator, caplog):
    caplog.set_level(logging.DEBUG)
    config = json_file(tmp_path / "config.json", config_for(emulator))
    env = {"TAP_PIPEDRIVE_LOG_LEVEL": "DEBUG", "LOGLEVEL": "DEBUG", "PATH": "/usr/bin:/bin"}
    result = run_cli("--config", config, env=env)
    output = result.stdout.decode() + result.stderr.decode()
    assert result.returncode == 0
    assert "DEBUG" in output
    assert TOKEN not in output


def test_tokens_spent_are_logged_per_stream_and_in_total(tmp_path, emulator):
    files = cli_files(tmp_path, emulator, ["persons", "notes"])
    emulator.clear_log()
    result = run_cli(*files)
    stderr = result.stderr.decode()
    spent = {
        path: sum(r.cost for r in emulator.requests if r.path == path)
        for path in (PERSONS, "/v1/notes")
    }
    requests = {path: len([r for r in emulator.requests if r.path == path]) for path in spent}
    for stream, path in (("persons", PERSONS), ("notes", "/v1/notes")):
        records = len(emulator.all_ids(stream))
        summary = f"{records} records, {requests[path]} requests, {spent[path]} tokens"
        assert f"Stream '{stream}' done: {summary}" in stderr
    assert (
        f"Run spent {emulator.tokens_spent} tokens in {len(emulator.requests)} requests" in stderr
    )
