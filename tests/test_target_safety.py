"""target-pipedrive on a live CRM: never damage an item, never create one twice.

Every test runs the `target-pipedrive` command line; expected ids and values come from the
emulator's data (read before the run) and its log of what was written.
"""

from __future__ import annotations

import typing as t

import pytest

from tests.emulator import Emulator
from tests.singer_run import parse_messages
from tests.target_run import (
    item,
    lines,
    messages,
    rejects,
    run_cli,
    run_cli_text,
    target_config,
    writes,
)
from tests.test_target_failures import error_lines

ORGS = "/api/v2/organizations"
PERSONS = "/api/v2/persons"
BY_NAME = {"companies": {"entity": "organizations", "match_key": "name"}}
BY_EMAIL = {"contacts": {"entity": "persons", "match_key": "email"}}


#: Retry waits of milliseconds (tests.conftest): the schedule, not the clock, is under test.
pytestmark = pytest.mark.usefixtures("quick_retries")


def rejects_line(tmp_path, by_pipedrive: int, here: int) -> str:
    return (
        f"{by_pipedrive + here} record(s) rejected ({by_pipedrive} refused by Pipedrive, {here} "
        f"refused here), written with the reasons to {tmp_path / 'rejects.jsonl'} (set "
        "`allow_rejects` to accept rejects)."
    )


def reasons(tmp_path) -> list[str]:
    return [line["reason"] for line in rejects(tmp_path / "rejects.jsonl")]


def code_of(emu: Emulator, entity: str, name: str) -> str:
    return next(d.code for d in emu.data.custom_fields(entity) if d.name == name)


def with_email(emu: Emulator, email: str) -> list[t.Any]:
    return [
        r["id"]
        for r in emu.records("persons")
        if any(e["value"].casefold() == email.casefold() for e in r["emails"])
    ]


def summary(stderr: str, stream: str) -> str:
    return [
        line.split(" | ")[-1] for line in stderr.splitlines() if f"Stream '{stream}': c" in line
    ][-1]


# --- ambiguous matches ---


def test_a_match_key_value_several_items_hold_is_a_reject_naming_them(emu, tmp_path):
    org = emu.records("organizations")[1]
    twins = emu.duplicate("organizations", org["id"], 2)
    emu.clear_log()
    record = {"name": org["name"].upper(), "website": "https://stark.example"}
    result = run_cli(
        target_config(emu, tmp_path, streams=BY_NAME), messages("companies", [record]), tmp_path
    )
    assert result.returncode == 1
    assert error_lines(result.stderr) == [rejects_line(tmp_path, 0, 1)]
    ids = ", ".join(str(i) for i in [org["id"], *twins])
    assert reasons(tmp_path) == [
        f"match_key 'name' value {record['name']!r} matches 3 items (ids {ids}): none was "
        "written; make the value unique in Pipedrive, or give the record an `id`."
    ]
    assert writes(emu) == []


# --- nulls ---


def test_a_null_column_clears_no_field_by_default(emu, tmp_path):
    org = emu.records("organizations")[0]
    record = {"id": org["id"], "website": "https://new.example", "industry": None}
    result = run_cli(target_config(emu, tmp_path), messages("organizations", [record]), tmp_path)
    assert result.returncode == 0, result.stderr
    assert writes(emu) == [("PATCH", f"{ORGS}/{org['id']}", 200)]
    after = item(emu, "organizations", org["id"])
    assert (after["website"], after["industry"]) == ("https://new.example", org["industry"])


def test_null_values_clear_sends_a_null_column(emu, tmp_path):
    org = emu.records("organizations")[0]
    record = {"id": org["id"], "industry": None}
    config = target_config(emu, tmp_path, null_values="clear")
    result = run_cli(config, messages("organizations", [record]), tmp_path)
    assert result.returncode == 0, result.stderr
    assert org["industry"] is not None
    assert item(emu, "organizations", org["id"])["industry"] is None


def test_an_absent_column_is_never_sent_even_with_null_values_clear(emu, tmp_path):
    person = emu.records("persons")[0]
    # A monetary field: the columns `<code>` (absent here) and `<code>_currency`.
    code = code_of(emu, "persons", "Lifetime value")
    assert person["custom_fields"][code] is not None
    record = {"id": person["id"], f"{code}_currency": "USD", "job_title": "CFO"}
    config = target_config(emu, tmp_path, null_values="clear")
    result = run_cli(config, messages("persons", [record]), tmp_path)
    assert result.returncode == 0, result.stderr
    after = item(emu, "persons", person["id"])
    assert (after["job_title"], after["custom_fields"][code]) == (
        "CFO",
        person["custom_fields"][code],
    )


# --- case ---


def test_a_value_equal_but_for_its_case_is_not_written(emu, tmp_path):
    org = emu.records("organizations")[2]
    record = {"name": org["name"].upper()}
    result = run_cli(
        target_config(emu, tmp_path, streams=BY_NAME), messages("companies", [record]), tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert writes(emu) == []
    assert item(emu, "organizations", org["id"])["name"] == org["name"]


def test_a_stored_email_keeps_its_case_when_another_field_changes(emu, tmp_path):
    person = emu.records("persons")[0]
    email = person["emails"][0]["value"]
    record = {"email": email.upper(), "job_title": "Chief Matcher"}
    result = run_cli(
        target_config(emu, tmp_path, streams=BY_EMAIL), messages("contacts", [record]), tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert writes(emu) == [("PATCH", f"{PERSONS}/{person['id']}", 200)]
    after = item(emu, "persons", person["id"])
    assert (after["job_title"], after["emails"]) == ("Chief Matcher", person["emails"])


def test_an_email_column_holding_one_of_the_stored_emails_sends_none(emu, tmp_path):
    person = emu.records("persons")[0]
    record = {"email": person["emails"][1]["value"], "job_title": "Second Address"}
    result = run_cli(
        target_config(emu, tmp_path, streams=BY_EMAIL), messages("contacts", [record]), tmp_path
    )
    assert result.returncode == 0, result.stderr
    after = item(emu, "persons", person["id"])
    assert (after["job_title"], after["emails"]) == ("Second Address", person["emails"])


# --- writes whose answer is lost ---


def test_a_create_answered_after_the_timeout_is_not_sent_again(emu, tmp_path):
    # The persons list (the match index) is the first request on the prefix, the POST the 2nd.
    emu.inject(PERSONS, "slow_after_commit", after=1, delay=3)
    config = target_config(emu, tmp_path, streams=BY_EMAIL, request_timeout_seconds=1)
    record = {"name": "Slow Commit", "email": "slow@warehouse.example"}
    result = run_cli(config, messages("contacts", [record]), tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(with_email(emu, "slow@warehouse.example")) == 1
    assert writes(emu) == [("POST", PERSONS, 200)]
    assert (
        "Stream 'contacts': no answer to a create of persons: looking for it before trying "
        "again." in result.stderr
    )


def test_a_create_whose_connection_dropped_is_found_by_the_fields_sent(emu, tmp_path):
    emu.inject(ORGS, "drop_after_commit")
    record = {"name": "Dropped Answer GmbH", "website": "https://dropped.example"}
    result = run_cli(target_config(emu, tmp_path), messages("organizations", [record]), tmp_path)
    assert result.returncode == 0, result.stderr
    assert [r["id"] for r in emu.records("organizations") if r["name"] == record["name"]] == [
        max(emu.all_ids("organizations"))
    ]
    assert writes(emu) == [("POST", ORGS, 200)]


def test_a_v1_create_whose_connection_dropped_is_found_by_the_fields_sent(emu, tmp_path):
    emu.inject("/v1/notes", "drop_after_commit")
    record = {"content": "<p>Dropped note</p>", "deal_id": 1}
    result = run_cli(target_config(emu, tmp_path), messages("notes", [record]), tmp_path)
    assert result.returncode == 0, result.stderr
    assert len([r for r in emu.records("notes") if r["content"] == record["content"]]) == 1
    assert writes(emu) == [("POST", "/v1/notes", 200)]


def test_a_delete_whose_answer_was_lost_counts_as_deleted_when_the_retry_finds_it_gone(
    emu, tmp_path
):
    (org_id,) = emu.add("organizations", 1)
    emu.clear_log()
    emu.inject(f"{ORGS}/{org_id}", "drop_after_commit")
    record = {"id": org_id, "_sdc_deleted_at": "2026-01-02T03:04:05Z"}
    config = target_config(emu, tmp_path, hard_delete=True)
    result = run_cli(config, messages("organizations", [record]), tmp_path)
    assert result.returncode == 0, result.stderr
    assert writes(emu) == [("DELETE", f"{ORGS}/{org_id}", 200), ("DELETE", f"{ORGS}/{org_id}", 404)]
    assert org_id not in emu.all_ids("organizations")
    assert rejects(tmp_path / "rejects.jsonl") == []
    assert summary(result.stderr, "organizations").startswith(
        "Stream 'organizations': created 0, updated 0, deleted 1, skipped 0, refused by "
        "Pipedrive 0, refused here 0;"
    )


def test_a_lost_answer_whose_look_up_fails_stops_without_sending_again(emu, tmp_path):
    emu.inject(PERSONS, "drop_after_commit", after=1)  # the POST, after the match index
    emu.inject(PERSONS, "status", status=403, after=2)  # the look-up after it
    record = {"name": "Unknown Outcome", "email": "unknown@warehouse.example"}
    config = target_config(emu, tmp_path, streams=BY_EMAIL)
    result = run_cli(config, messages("contacts", [record]), tmp_path)
    assert result.returncode == 1
    assert error_lines(result.stderr)[-1:] == [
        "POST /api/v2/persons got no answer (ConnectionError), and looking for what it did "
        "failed too (Pipedrive answered 403 Forbidden for /api/v2/persons: You do not have "
        "permission to access this resource; Please check developers.pipedrive.com for more "
        "information about Pipedrive API.): stopped rather than risk writing it twice. Run "
        "again later: upserts match what was written."
    ]
    assert "Traceback" not in result.stderr
    assert len(with_email(emu, "unknown@warehouse.example")) == 1
    assert writes(emu) == [("POST", PERSONS, 200)]


# --- the match index ---


@pytest.mark.parametrize(
    ("fault", "options", "reason"),
    [
        (
            "status",
            {"status": 503, "times": -1},
            "Pipedrive answered 503 Service Unavailable for /api/v2/persons: Service "
            "unavailable: Pipedrive is under maintenance; Please check developers.pipedrive.com "
            "for more information about Pipedrive API.",
        ),
        (
            "status",
            {"status": 403},
            "Pipedrive answered 403 Forbidden for /api/v2/persons: You do not have permission "
            "to access this resource; Please check developers.pipedrive.com for more "
            "information about Pipedrive API.",
        ),
    ],
    ids=["5xx-outlasting-retries", "403"],
)
def test_a_match_index_read_that_fails_stops_the_stream_before_any_write(
    emu, tmp_path, fault, options, reason
):
    emu.inject(PERSONS, fault, **options)
    config = target_config(emu, tmp_path, streams=BY_EMAIL, retry_patience_seconds=1)
    rows = [{"name": f"C{i}", "email": f"c{i}@warehouse.example"} for i in range(3)]
    result = run_cli(config, messages("contacts", rows), tmp_path)
    assert result.returncode == 1
    # The last line; the retries before it log theirs.
    assert error_lines(result.stderr)[-1:] == [
        "Stream 'contacts': stopped before writing any record: the list of persons to match "
        f"against could not be read in full ({reason}). Nothing was created in place of an "
        "item that could not be looked up; run again later."
    ]
    assert "Traceback" not in result.stderr
    assert writes(emu) == []


def test_a_match_index_whose_later_page_is_gone_stops_the_stream_before_any_write(emu, tmp_path):
    emu.duplicate("persons", emu.records("persons")[0]["id"], 500)  # two pages of 500
    emu.clear_log()
    emu.inject(PERSONS, "not_found", after=1)
    config = target_config(emu, tmp_path, streams=BY_EMAIL)
    result = run_cli(config, messages("contacts", [{"email": "new@warehouse.example"}]), tmp_path)
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        "Stream 'contacts': stopped before writing any record: the list of persons to match "
        "against could not be read in full (Pipedrive answered 404 Not Found for "
        "/api/v2/persons: Not found; Please check developers.pipedrive.com for more "
        "information about Pipedrive API.). Nothing was created in place of an item that "
        "could not be looked up; run again later."
    ]
    assert [r.status for r in emu.requests if r.path == PERSONS] == [200, 404]
    assert writes(emu) == []


# --- settings ---


@pytest.mark.parametrize(
    ("settings", "line"),
    [
        (
            {"streams": {"contacts": {"entity": "persons", "matchkey": "email"}}},
            "Unknown setting `matchkey` in `streams.contacts` (did you mean `match_key`?).",
        ),
        ({"null_value": "clear"}, "Unknown setting `null_value` (did you mean `null_values`?)."),
        ({"mode": "append"}, "Unknown setting `mode` (replaced by `load_method`)."),
        (
            {"load_method": "overwrite"},
            "`load_method` is 'overwrite': target-pipedrive writes by `upsert` (the default) "
            "or `append-only`, and never deletes the items an input lacks.",
        ),
    ],
    ids=["in-streams", "top-level", "mode", "overwrite"],
)
def test_a_setting_no_one_reads_is_a_config_error_before_any_request(emu, tmp_path, settings, line):
    config = target_config(emu, tmp_path, **settings)
    result = run_cli(config, messages("contacts", [{"email": "x@warehouse.example"}]), tmp_path)
    assert result.returncode == 1
    assert error_lines(result.stderr) == [f"Invalid config: {line}"]
    assert emu.requests == []


def test_every_config_error_is_said_in_one_line(emu, tmp_path):
    settings = {"null_value": "clear", "load_method": "overwrite"}
    config = target_config(emu, tmp_path, **settings)
    result = run_cli(config, messages("contacts", [{"email": "x@warehouse.example"}]), tmp_path)
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        "Invalid config: `load_method` is 'overwrite': target-pipedrive writes by `upsert` (the "
        "default) or `append-only`, and never deletes the items an input lacks; Unknown setting "
        "`null_value` (did you mean `null_values`?)."
    ]
    assert "Traceback" not in result.stderr
    assert emu.requests == []


def test_a_streams_entry_that_is_no_object_is_one_line_and_no_traceback(emu, tmp_path):
    config = target_config(emu, tmp_path, streams={"contacts": "persons"})
    result = run_cli(config, messages("contacts", [{"email": "x@warehouse.example"}]), tmp_path)
    assert result.returncode == 1
    said = [line for line in result.stderr.splitlines() if "| INFO" not in line]
    assert [line.split(" | ")[-1] for line in said] == [
        "Invalid config: 'persons' is not of type 'object' in config['streams']['contacts']."
    ]
    assert emu.requests == []


# --- bad records ---


def test_a_record_missing_its_key_property_is_a_reject_and_the_others_are_written(emu, tmp_path):
    rows = [{"name": "Key One"}, {"website": "https://nameless.example"}, {"name": "Key Three"}]
    stream = messages("organizations", rows)
    stream[0]["key_properties"] = ["name"]
    result = run_cli(target_config(emu, tmp_path), stream, tmp_path)
    assert result.returncode == 1
    assert error_lines(result.stderr) == [rejects_line(tmp_path, 0, 1)]
    assert reasons(tmp_path) == ["no value for the match key 'name': the record cannot be matched"]
    assert sorted(
        r["name"] for r in emu.records("organizations") if r["name"].startswith("Key ")
    ) == [
        "Key One",
        "Key Three",
    ]


def test_a_null_match_key_is_a_reject_not_a_create(emu, tmp_path):
    rows = [{"name": "No Email", "email": None}]
    result = run_cli(
        target_config(emu, tmp_path, streams=BY_EMAIL), messages("contacts", rows), tmp_path
    )
    assert result.returncode == 1
    assert reasons(tmp_path) == ["no value for the match key 'email': the record cannot be matched"]
    assert [m for m, _, _ in writes(emu)] == []


def test_a_value_of_the_wrong_type_is_a_reject_not_a_traceback(emu, tmp_path):
    rows = [
        {"name": "Typed One"},
        {"name": "Typed Two", "industry_segment": {"label": "Finance"}},
        {"name": "Typed Three"},
    ]
    result = run_cli(target_config(emu, tmp_path), messages("organizations", rows), tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert error_lines(result.stderr) == [rejects_line(tmp_path, 0, 1)]
    (reason,) = reasons(tmp_path)
    assert reason.startswith("a value of the wrong type: ")
    assert [r["name"] for r in emu.records("organizations") if r["name"].startswith("Typed ")] == [
        "Typed One",
        "Typed Three",
    ]


def test_a_record_before_any_schema_of_its_stream_is_a_reject(emu, tmp_path):
    stream = messages("organizations", [{"name": "Schema One"}, {"name": "Schema Two"}])
    orphan = {"type": "RECORD", "stream": "companies", "record": {"name": "Orphan"}}
    stream.insert(2, orphan)
    result = run_cli(target_config(emu, tmp_path), stream, tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert rejects(tmp_path / "rejects.jsonl") == [
        {
            "stream": "companies",
            "reason": "no SCHEMA message for stream 'companies' came before this record",
            "record": {"name": "Orphan"},
        }
    ]
    assert [r["name"] for r in emu.records("organizations") if r["name"].startswith("Schema ")] == [
        "Schema One",
        "Schema Two",
    ]


def test_a_line_that_is_not_json_stops_the_run_after_the_records_before_it(emu, tmp_path):
    schema, first, second, third = messages(
        "organizations", [{"name": "Line One"}, {"name": "Line Two"}, {"name": "Line Three"}]
    )
    state = {"type": "STATE", "value": {"read": 1}}
    text = lines([schema, first, state, second]) + "not json\n" + lines([third])
    result = run_cli_text(target_config(emu, tmp_path), text, tmp_path)
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        "Line 5 of the input is not a Singer message (a JSON object): stopped there, after "
        "writing the records before it."
    ]
    assert "Traceback" not in result.stderr
    assert parse_messages(result.stdout) == [{"read": 1}]
    assert [r["name"] for r in emu.records("organizations") if r["name"].startswith("Line ")] == [
        "Line One",
        "Line Two",
    ]


# --- upserts without a match key ---


def test_the_schemas_key_property_matches_when_it_can(emu, tmp_path):
    person = emu.records("persons")[0]
    stream = messages("persons", [{"email": person["emails"][0]["value"], "job_title": "Keyed"}])
    stream[0]["key_properties"] = ["email"]
    result = run_cli(target_config(emu, tmp_path), stream, tmp_path)
    assert result.returncode == 0, result.stderr
    assert writes(emu) == [("PATCH", f"{PERSONS}/{person['id']}", 200)]


def test_a_schema_key_property_naming_a_custom_field_matches_on_it(emu, tmp_path):
    code = code_of(emu, "organizations", "Tax ID")
    stream = messages("organizations", [{"name": "Keyed GmbH", "tax_id": "WH-77"}])
    stream[0]["key_properties"] = ["tax_id"]
    assert run_cli(target_config(emu, tmp_path), stream, tmp_path).returncode == 0
    emu.clear_log()
    stream[1]["record"] = {"name": "Keyed AG", "tax_id": "WH-77"}
    result = run_cli(target_config(emu, tmp_path), stream, tmp_path)
    assert result.returncode == 0, result.stderr
    (keyed,) = [r for r in emu.records("organizations") if r["custom_fields"][code] == "WH-77"]
    assert keyed["name"] == "Keyed AG"
    assert writes(emu) == [("PATCH", f"{ORGS}/{keyed['id']}", 200)]


def test_a_stream_keyed_on_pipedrive_ids_gets_no_duplicate_warning(emu, tmp_path):
    org = emu.records("organizations")[0]
    stream = messages("organizations", [{"id": org["id"], "website": "https://by-id.example"}])
    stream[0]["key_properties"] = ["id"]
    result = run_cli(target_config(emu, tmp_path), stream, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no match key" not in result.stderr
    assert writes(emu) == [("PATCH", f"{ORGS}/{org['id']}", 200)]


def test_an_upsert_with_no_usable_key_warns_once_at_the_start(emu, tmp_path):
    rows = [{"name": f"Keyless {i}", "warehouse_id": i} for i in range(3)]
    stream = messages("organizations", rows)
    stream[0]["key_properties"] = ["warehouse_id"]
    result = run_cli(target_config(emu, tmp_path), stream, tmp_path)
    assert result.returncode == 0, result.stderr
    warnings = [
        line.split(" | ")[-1] for line in result.stderr.splitlines() if "no match key" in line
    ]
    assert warnings == [
        "Stream 'organizations': upsert with no match key: a record without an `id` is "
        "created, so every rerun creates it again. Set `streams.organizations.match_key` to a "
        "custom field holding the warehouse's id (or `name`)."
    ]


# --- counts and the rejects file ---


def test_the_summary_counts_every_request_and_token_reads_included(emu, tmp_path):
    rows = [{"name": "Counted", "email": "counted@warehouse.example"}]
    result = run_cli(
        target_config(emu, tmp_path, streams=BY_EMAIL), messages("contacts", rows), tmp_path
    )
    assert result.returncode == 0, result.stderr
    requests, tokens = len(emu.requests), sum(r.cost for r in emu.requests)
    assert summary(result.stderr, "contacts") == (
        "Stream 'contacts': created 1, updated 0, deleted 0, skipped 0, refused by Pipedrive 0, "
        f"refused here 0; {requests} requests, {tokens} tokens"
    )


def test_records_refused_here_and_by_pipedrive_are_counted_apart(emu, tmp_path):
    rows = [
        {"name": "Bad label", "industry_segment": "Mining"},
        {"name": "Bad type", "visible_to": "everyone"},
    ]
    result = run_cli(target_config(emu, tmp_path), messages("organizations", rows), tmp_path)
    assert result.returncode == 1
    assert [s for _, _, s in writes(emu)] == [400]
    assert error_lines(result.stderr) == [rejects_line(tmp_path, 1, 1)]


def test_the_rejects_file_holds_only_the_last_runs_rejects(emu, tmp_path):
    rows = [{"name": "Bad label", "industry_segment": "Mining"}]
    config = target_config(emu, tmp_path, allow_rejects=True)
    for _ in range(2):
        assert run_cli(config, messages("organizations", rows), tmp_path).returncode == 0
    assert len(rejects(tmp_path / "rejects.jsonl")) == 1


# --- state ---


def test_a_stop_mid_run_emits_the_state_of_the_records_written_only(emu, tmp_path):
    emu.inject(ORGS, "budget_429", after=2)  # the 3rd create finds the budget spent
    stream = messages("organizations", [{"name": f"Stateful {i}"} for i in range(3)])
    schema, *records = stream
    text = [schema]
    for i, record in enumerate(records):
        text += [record, {"type": "STATE", "value": {"written": i + 1}}]
    result = run_cli(target_config(emu, tmp_path), text, tmp_path)
    assert result.returncode == 1
    assert parse_messages(result.stdout) == [{"written": 2}]
    assert [s for _, _, s in writes(emu)] == [200, 200, 429]
