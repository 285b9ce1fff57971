"""The daily token budget: cheap lists first, and a per-run limit that stops cleanly."""

from __future__ import annotations

import json

import pytest
import requests

from pipedrive_api.ratelimit import budget_exhausted
from tests.conftest import TOKEN, config_for
from tests.emulator import Emulator
from tests.expected import FLOW, flow_calls
from tests.singer_run import (
    cli_files,
    discover,
    failure_line,
    ids,
    json_file,
    parse_messages,
    run_cli,
    select,
    states,
)

LISTS = ("/api/v2/persons", "/api/v2/organizations")


@pytest.fixture
def emu():
    with Emulator(seed=5, scale=60, api_token=TOKEN) as emulator:
        yield emulator


def write_inputs(emu: Emulator, tmp_path, **settings):
    catalog = select(discover(config_for(emu)), ["dealflow", "persons", "organizations"])
    # The per-deal stream first in the catalog: the order must not depend on it.
    catalog["streams"].sort(key=lambda entry: entry["tap_stream_id"] != "dealflow")
    files = cli_files(tmp_path, emu, catalog=catalog, **settings)
    emu.clear_log()  # discovery's requests are not the run's
    return files.config, files.catalog


def test_list_streams_run_before_the_per_deal_calls(emu, tmp_path):
    config, catalog = write_inputs(emu, tmp_path)
    result = run_cli("--config", config, "--catalog", catalog)
    assert result.returncode == 0, result.stderr.decode()
    paths = [r.path for r in emu.requests]
    last_list = max(i for i, path in enumerate(paths) if path in LISTS)
    first_flow = min(i for i, path in enumerate(paths) if FLOW.match(path))
    assert last_list < first_flow


def test_max_tokens_per_run_stops_cleanly_and_the_next_run_resumes(emu, tmp_path):
    limit = 1000
    config, catalog = write_inputs(emu, tmp_path, max_tokens_per_run=limit)
    result = run_cli("--config", config, "--catalog", catalog)
    stderr = result.stderr.decode()
    assert result.returncode == 0, stderr
    assert "Traceback" not in stderr
    spent = emu.tokens_spent
    assert limit - 40 < spent <= limit  # 40: a deal flow call, the dearest here
    assert stderr.count("max_tokens_per_run") == 1
    assert f"{spent:,} tokens spent" in stderr
    assert f"Run spent {spent} tokens" in stderr
    messages = parse_messages(result.stdout)
    assert ids(messages, "persons") == emu.ids("persons")
    first = set(flow_calls(emu, ok=True))
    assert 0 < len(first) < len(emu.ids("deals") | emu.ids("deals", archived=True))
    state = states(messages)[-1]

    state_file = json_file(tmp_path / "state.json", state)
    config, catalog = write_inputs(emu, tmp_path)
    resumed = run_cli("--config", config, "--catalog", catalog, "--state", state_file)
    assert resumed.returncode == 0, resumed.stderr.decode()
    assert first | set(flow_calls(emu, ok=True)) == emu.ids("deals") | emu.ids(
        "deals", archived=True
    )


def test_max_tokens_per_run_below_one_is_refused(tmp_path):
    config = json_file(
        tmp_path / "config.json", {"api_token": "some-token", "max_tokens_per_run": 0}
    )
    failure_line(run_cli("--config", config), 1, "`max_tokens_per_run` must be at least 1")


def answer_429(message: str, **headers: str) -> requests.Response:
    response = requests.Response()
    response.status_code = 429
    response.headers.update(headers)
    response._content = json.dumps({"success": False, "error": message}).encode()
    return response


def test_a_429_naming_the_daily_budget_is_a_spent_budget_without_the_header():
    assert budget_exhausted(answer_429("Daily API token budget exceeded"))


def test_a_burst_429_without_the_daily_header_is_not_a_spent_budget():
    assert not budget_exhausted(answer_429("Request over limit", **{"x-ratelimit-reset": "2"}))


def test_the_daily_header_decides_where_it_is_sent():
    spent = {"x-daily-ratelimit-token-remaining": "0"}
    assert budget_exhausted(answer_429("Request over limit", **spent))
