"""target-pipedrive against the emulator: creates, updates, matches, appends, deletes."""

from __future__ import annotations

import pytest

from tests.emulator import Emulator
from tests.target_run import item, messages, run_cli, target_config, write, writes

ENTITIES = ("organizations", "persons", "deals", "activities", "notes", "products", "leads")
PATHS = {
    "organizations": "/api/v2/organizations",
    "persons": "/api/v2/persons",
    "deals": "/api/v2/deals",
    "activities": "/api/v2/activities",
    "products": "/api/v2/products",
    "notes": "/v1/notes",
    "leads": "/v1/leads",
}
#: One new record per entity, in the columns a warehouse table would have.
NEW = {
    "organizations": {"name": "Acme Ltd", "website": "https://acme.example"},
    "persons": {"name": "Ada Lovelace", "job_title": "CTO"},
    "deals": {"title": "Big deal", "value": 1200.5, "currency": "USD"},
    "activities": {"subject": "Kick-off", "type": "meeting", "due_date": "2026-01-02"},
    "notes": {"content": "<p>Hello</p>", "deal_id": 1},
    "products": {"name": "Widget", "code": "W-1"},
    "leads": {"title": "Warm lead", "person_id": 1},
}
#: The field an update test changes.
LABEL = {
    "organizations": "name",
    "persons": "name",
    "deals": "title",
    "activities": "subject",
    "notes": "content",
    "products": "name",
    "leads": "title",
}


def custom_code(emu: Emulator, entity: str, name: str) -> str:
    return next(d.code for d in emu.data.custom_fields(entity) if d.name == name)


@pytest.mark.parametrize("entity", ENTITIES)
def test_a_new_record_creates_one_item_with_its_fields(emu, tmp_path, entity):
    before = emu.all_ids(entity)
    write(target_config(emu, tmp_path), messages(entity, [NEW[entity]]))
    (created,) = emu.all_ids(entity) - before
    assert {k: item(emu, entity, created)[k] for k in NEW[entity]} == NEW[entity]
    assert writes(emu) == [("POST", PATHS[entity], 200)]


@pytest.mark.parametrize("entity", ENTITIES)
def test_a_record_with_an_id_updates_that_item_only(emu, tmp_path, entity):
    target = sorted(emu.ids(entity), key=str)[0]
    others = [r for r in emu.records(entity) if r["id"] != target]
    record = {"id": target, LABEL[entity]: "Changed from the warehouse"}
    write(target_config(emu, tmp_path), messages(entity, [record]))
    assert item(emu, entity, target)[LABEL[entity]] == "Changed from the warehouse"
    method = "PUT" if entity == "notes" else "PATCH"
    assert writes(emu) == [(method, f"{PATHS[entity]}/{target}", 200)]
    assert [r for r in emu.records(entity) if r["id"] != target] == others


def test_persons_match_on_email(emu, tmp_path):
    person = next(r for r in emu.records("persons") if r["emails"])
    email = person["emails"][0]["value"].upper()  # emails match whatever their case
    config = target_config(
        emu, tmp_path, streams={"contacts": {"entity": "persons", "match_key": "email"}}
    )
    write(config, messages("contacts", [{"email": email, "job_title": "Chief Matcher"}]))
    assert writes(emu) == [("PATCH", f"/api/v2/persons/{person['id']}", 200)]
    assert item(emu, "persons", person["id"])["job_title"] == "Chief Matcher"


def test_organizations_match_on_name(emu, tmp_path):
    org = emu.records("organizations")[2]
    config = target_config(
        emu, tmp_path, streams={"companies": {"entity": "organizations", "match_key": "name"}}
    )
    write(config, messages("companies", [{"name": org["name"], "website": "https://new.example"}]))
    assert writes(emu) == [("PATCH", f"/api/v2/organizations/{org['id']}", 200)]


@pytest.mark.parametrize("by", ["name", "code"])
def test_a_custom_field_holding_the_warehouse_id_matches(emu, tmp_path, by):
    code = custom_code(emu, "organizations", "Tax ID")
    key, column = ("Tax ID", "tax_id") if by == "name" else (code, code)
    config = target_config(
        emu, tmp_path, streams={"companies": {"entity": "organizations", "match_key": key}}
    )
    write(config, messages("companies", [{"name": "First", column: "WH-1"}]))
    (created,) = [entry for entry in emu.requests if entry.method == "POST"]
    emu.clear_log()
    write(config, messages("companies", [{"name": "Second", column: "WH-1"}]))
    matched = [r for r in emu.records("organizations") if r["custom_fields"][code] == "WH-1"]
    assert [r["name"] for r in matched] == ["Second"]
    assert writes(emu) == [("PATCH", f"/api/v2/organizations/{matched[0]['id']}", 200)]
    assert created.status == 200


def test_upserting_the_same_input_twice_creates_nothing_and_sends_nothing(emu, tmp_path):
    config = target_config(
        emu, tmp_path, streams={"contacts": {"entity": "persons", "match_key": "email"}}
    )
    rows = [{"name": f"P{i}", "email": f"p{i}@warehouse.example"} for i in range(3)]
    write(config, messages("contacts", rows))
    after_first = emu.all_ids("persons")
    emu.clear_log()
    write(config, messages("contacts", rows))
    assert emu.all_ids("persons") == after_first
    assert writes(emu) == []


def test_a_changed_row_matched_by_key_is_patched_with_its_change(emu, tmp_path):
    config = target_config(
        emu, tmp_path, streams={"contacts": {"entity": "persons", "match_key": "email"}}
    )
    rows = [{"name": f"P{i}", "email": f"p{i}@warehouse.example"} for i in range(3)]
    write(config, messages("contacts", rows))
    emu.clear_log()
    rows[1]["name"] = "P1 renamed"
    write(config, messages("contacts", rows))
    (patch,) = writes(emu)
    renamed = [r for r in emu.records("persons") if r["name"] == "P1 renamed"]
    assert [patch] == [("PATCH", f"/api/v2/persons/{renamed[0]['id']}", 200)]


def test_append_only_creates_even_a_matching_record(emu, tmp_path):
    org = emu.records("organizations")[0]
    before = emu.all_ids("organizations")
    config = target_config(emu, tmp_path, load_method="append-only")
    write(config, messages("organizations", [{"id": org["id"], "name": org["name"]}]))
    assert len(emu.all_ids("organizations") - before) == 1
    assert writes(emu) == [("POST", "/api/v2/organizations", 200)]


def test_a_deleted_record_is_skipped_and_counted_without_hard_delete(emu, tmp_path):
    record = {"id": 3, "name": "Gone", "_sdc_deleted_at": "2026-01-01T00:00:00Z"}
    target = write(target_config(emu, tmp_path), messages("products", [record]))
    assert 3 in emu.ids("products")
    assert writes(emu) == []
    assert target.tally("products").skipped == 1


def test_a_deleted_record_deletes_its_item_with_hard_delete(emu, tmp_path):
    record = {"id": 3, "name": "Gone", "_sdc_deleted_at": "2026-01-01T00:00:00Z"}
    target = write(target_config(emu, tmp_path, hard_delete=True), messages("products", [record]))
    assert 3 not in emu.ids("products")
    assert writes(emu) == [("DELETE", "/api/v2/products/3", 200)]
    assert target.tally("products").deleted == 1


def test_unknown_columns_are_reported_once_per_stream_and_not_sent(emu, tmp_path, caplog):
    rows = [{"name": f"Org {i}", "favourite_colour": "teal"} for i in range(3)]
    write(target_config(emu, tmp_path), messages("organizations", rows))
    reports = [r.getMessage() for r in caplog.records if "not written" in r.getMessage()]
    assert reports == [
        "Stream 'organizations': column(s) not written (not writable fields of "
        "organizations): favourite_colour"
    ]
    created = [r for r in emu.records("organizations") if r["name"].startswith("Org ")]
    assert len(created) == 3


def test_requests_name_the_target_in_their_user_agent(emu, tmp_path):
    write(target_config(emu, tmp_path), messages("organizations", [NEW["organizations"]]))
    agents = {r.headers["user-agent"].split("/")[0] for r in emu.requests}
    assert agents == {"target-pipedrive"}


def test_a_record_is_judged_by_pipedrive_not_by_its_streams_schema(emu, tmp_path, caplog):
    schema = {"type": "object", "properties": {"name": {"type": "integer"}}}
    stream = [
        {"type": "SCHEMA", "stream": "organizations", "schema": schema, "key_properties": []},
        {"type": "RECORD", "stream": "organizations", "record": {"name": "Acme Ltd"}},
    ]
    write(target_config(emu, tmp_path), stream)
    assert writes(emu) == [("POST", "/api/v2/organizations", 200)]
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_the_targets_log_holds_no_line_of_the_tap(emu, tmp_path):
    # The target writes through the API layer: no tap (and so none of its streams' lines).
    config = target_config(emu, tmp_path, streams={"contacts": {"entity": "persons"}})
    result = run_cli(config, messages("contacts", [{"name": "Ada Lovelace"}]), tmp_path)
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if "tap-pipedrive" in line] == []
    assert [(m, p) for m, p, _ in writes(emu)] == [("POST", "/api/v2/persons")]
