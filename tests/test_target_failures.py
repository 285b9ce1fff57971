"""target-pipedrive when things go wrong: rejects, a spent budget, 429s and 5xx mid-run."""

from __future__ import annotations

import pytest

from tests.conftest import OAUTH, TOKEN, oauth_emulator
from tests.emulator import Emulator
from tests.target_run import messages, rejects, run_cli, target_config, write, writes

PERSONS = "/api/v2/persons"


#: Retry waits of milliseconds (tests.conftest): the schedule, not the clock, is under test.
pytestmark = pytest.mark.usefixtures("quick_retries")


def error_lines(stderr: str) -> list[str]:
    """The messages of the ERROR lines of a run's log."""
    return [line.split(" | ")[-1] for line in stderr.splitlines() if "| ERROR" in line]


def titles(emu: Emulator) -> list[str]:
    return sorted(r["title"] for r in emu.records("deals") if r["title"].startswith("WH "))


DEALS = [
    {"title": "WH one", "value": 10},
    {"value": 20},  # no title: v2 requires one
    {"title": "WH three", "status": "maybe"},  # not a deal status
    {"title": "WH four", "value": 40},
]


def test_rejected_records_go_to_the_rejects_file_and_the_run_fails(emu, tmp_path):
    result = run_cli(target_config(emu, tmp_path), messages("deals", DEALS), tmp_path)
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        f"2 record(s) rejected (2 refused by Pipedrive, 0 refused here), written with the "
        f"reasons to {tmp_path / 'rejects.jsonl'} (set `allow_rejects` to accept rejects)."
    ]
    assert "Traceback" not in result.stderr
    assert rejects(tmp_path / "rejects.jsonl") == [
        {
            "stream": "deals",
            "reason": "Pipedrive answered 400 Bad Request for /api/v2/deals: Validation failed: "
            "body: 'title' is a required property; Please check developers.pipedrive.com for "
            "more information about Pipedrive API.",
            "record": {"value": 20},
        },
        {
            "stream": "deals",
            "reason": "Pipedrive answered 400 Bad Request for /api/v2/deals: Validation failed: "
            "status: must be one of open, won, lost; Please check developers.pipedrive.com for "
            "more information about Pipedrive API.",
            "record": {"title": "WH three", "status": "maybe"},
        },
    ]
    assert titles(emu) == ["WH four", "WH one"]


def test_rejects_are_not_retried(emu, tmp_path):
    run_cli(target_config(emu, tmp_path), messages("deals", DEALS), tmp_path)
    assert [status for _, _, status in writes(emu)] == [200, 400, 400, 200]


def test_allow_rejects_lets_the_run_succeed(emu, tmp_path):
    config = target_config(emu, tmp_path, allow_rejects=True)
    result = run_cli(config, messages("deals", DEALS), tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(rejects(tmp_path / "rejects.jsonl")) == 2


def test_an_unknown_option_label_is_rejected_without_a_request(emu, tmp_path):
    config = target_config(emu, tmp_path, allow_rejects=True)
    write(config, messages("organizations", [{"name": "X", "industry_segment": "Mining"}]))
    assert writes(emu) == []
    (line,) = rejects(tmp_path / "rejects.jsonl")
    assert line["reason"] == (
        "column 'industry_segment': 'Mining' is not an option of 'Industry segment' "
        "('Manufacturing', 'Finance', 'Healthcare', 'Public sector')"
    )


def test_the_summary_counts_each_stream(emu, tmp_path):
    result = run_cli(target_config(emu, tmp_path), messages("deals", DEALS), tmp_path)
    summary = [
        line.split(" | ")[-1] for line in result.stderr.splitlines() if "Stream 'deals':" in line
    ]
    # 1 definitions read (10 tokens) and 4 writes of 5 tokens (a 400 is charged too).
    assert summary[-1] == (
        "Stream 'deals': created 2, updated 0, deleted 0, skipped 0, refused by Pipedrive 2, "
        "refused here 0; 5 requests, 30 tokens"
    )
    assert sum(r.cost for r in emu.requests) == 30


def test_the_token_is_in_no_log_and_no_reject(emu, tmp_path):
    result = run_cli(target_config(emu, tmp_path), messages("deals", DEALS), tmp_path)
    assert TOKEN not in result.stderr + result.stdout
    assert TOKEN not in (tmp_path / "rejects.jsonl").read_text()


CONTACTS = [{"name": f"Contact {i}", "email": f"c{i}@warehouse.example"} for i in range(6)]
BY_EMAIL = {"contacts": {"entity": "persons", "match_key": "email"}}


def contacts(emu: Emulator) -> list[str]:
    return sorted(
        e["value"]
        for r in emu.records("persons")
        for e in r["emails"]
        if "@warehouse" in e["value"]
    )


def test_a_spent_budget_stops_after_the_records_sent_and_a_rerun_duplicates_nothing(emu, tmp_path):
    # The budget runs out at the 5th persons request: the index read, then 3 creates.
    emu.inject(PERSONS, "budget_429", after=4)
    config = target_config(emu, tmp_path, streams=BY_EMAIL)
    first = run_cli(config, messages("contacts", CONTACTS), tmp_path)
    assert first.returncode == 1
    assert error_lines(first.stderr) == [
        "Stopped: Pipedrive's daily token budget is spent, after 3 record(s) were written. "
        "Run again after the reset (midnight in the company's time zone): upserts match "
        "what was written, so nothing is created twice."
    ]
    assert contacts(emu) == [f"c{i}@warehouse.example" for i in range(3)]
    emu.reset_budget()
    emu.clear_log()
    second = run_cli(config, messages("contacts", CONTACTS), tmp_path)
    assert second.returncode == 0, second.stderr
    assert contacts(emu) == [f"c{i}@warehouse.example" for i in range(6)]
    # The three written before the stop are matched and unchanged: only the rest is sent.
    assert [method for method, _, _ in writes(emu)] == ["POST"] * 3


def test_a_429_mid_run_is_waited_out_and_nothing_is_written_twice(emu, tmp_path):
    emu.inject(PERSONS, "burst_429", after=1, headers={"Retry-After": "0"})
    write(target_config(emu, tmp_path), messages("persons", CONTACTS[:3]))
    assert [status for _, _, status in writes(emu)] == [200, 429, 200, 200]
    assert contacts(emu) == [f"c{i}@warehouse.example" for i in range(3)]


def test_a_5xx_mid_run_is_retried_and_nothing_is_written_twice(emu, tmp_path):
    emu.inject(PERSONS, "status", status=503, after=1, times=2)
    write(target_config(emu, tmp_path), messages("persons", CONTACTS[:3]))
    assert [status for _, _, status in writes(emu)] == [200, 503, 503, 200, 200]
    assert contacts(emu) == [f"c{i}@warehouse.example" for i in range(3)]


def test_a_stream_mapped_to_no_entity_fails_with_one_line_and_writes_nothing(emu, tmp_path):
    result = run_cli(
        target_config(emu, tmp_path), messages("crm_companies", [{"name": "x"}]), tmp_path
    )
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        "Stream 'crm_companies' maps to no Pipedrive entity: name it after one (activities, "
        "deals, leads, notes, organizations, persons, products) or map it in the `streams` "
        "setting."
    ]
    assert "Traceback" not in result.stderr
    assert writes(emu) == []


def test_writes_authenticate_with_oauth_and_log_no_secret(tmp_path):
    with oauth_emulator(seed=5, scale=40) as emu:
        config = {
            **OAUTH,
            "oauth_url": f"{emu.url}/oauth/token",
            "rejects_file": str(tmp_path / "rejects.jsonl"),
        }
        result = run_cli(config, messages("organizations", [{"name": "Via OAuth"}]), tmp_path)
        assert result.returncode == 0, result.stderr
        (post,) = [r for r in emu.requests if r.method == "POST" and r.path.startswith("/api")]
        assert post.headers["authorization"].startswith("Bearer ")
        assert "x-api-token" not in post.headers
        for secret in (OAUTH["client_secret"], OAUTH["refresh_token"], *emu.issued_secrets()):
            assert secret not in result.stderr + result.stdout


def test_no_credentials_fail_with_one_line_naming_the_settings(tmp_path, emu):
    config = {"api_url": emu.url}
    result = run_cli(config, messages("organizations", [{"name": "x"}]), tmp_path)
    assert result.returncode == 1
    assert "No credentials: set `api_token` (TARGET_PIPEDRIVE_API_TOKEN)" in result.stderr
    assert "Traceback" not in result.stderr
    assert writes(emu) == []


def test_an_id_that_is_gone_is_rejected_with_the_404(emu, tmp_path):
    config = target_config(emu, tmp_path, allow_rejects=True)
    write(config, messages("organizations", [{"id": 999, "name": "Ghost"}]))
    assert writes(emu) == [("PATCH", "/api/v2/organizations/999", 404)]
    (line,) = rejects(tmp_path / "rejects.jsonl")
    assert line["reason"] == (
        "Pipedrive answered 404 Not Found for /api/v2/organizations/999: Organization not found; "
        "Please check developers.pipedrive.com for more information about Pipedrive API."
    )


def test_a_match_key_that_names_no_field_fails_with_one_line(emu, tmp_path):
    streams = {"companies": {"entity": "organizations", "match_key": "VAT number"}}
    config = target_config(emu, tmp_path, streams=streams)
    result = run_cli(config, messages("companies", [{"name": "x"}]), tmp_path)
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        "Stream 'companies': match_key 'VAT number' is neither a custom field of organizations "
        "nor one of its natural keys (name)."
    ]
    assert "Traceback" not in result.stderr
    assert writes(emu) == []


def test_a_5xx_on_every_try_stops_with_one_line_after_the_records_written(emu, tmp_path):
    emu.inject(PERSONS, "status", status=503, after=1, times=-1)
    # No patience: the first 503 outlasts it, whatever the clock (the retries themselves are
    # test_a_5xx_mid_run_is_retried_...'s; a patience of seconds here waited them out for real).
    config = target_config(emu, tmp_path, retry_patience_seconds=0)
    result = run_cli(config, messages("persons", CONTACTS[:3]), tmp_path)
    assert result.returncode == 1
    line = result.stderr.splitlines()[-1]
    assert "| ERROR    | target-pipedrive " in line
    assert "Pipedrive answered 503 Service Unavailable for /api/v2/persons" in line
    assert line.endswith("still failing after every retry: run again later (the next run resumes "
                         "from the last state emitted).")  # fmt: skip
    assert "Traceback" not in result.stderr
    assert contacts(emu) == ["c0@warehouse.example"]
    assert [status for _, _, status in writes(emu)] == [200, 503]
