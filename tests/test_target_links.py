"""target-pipedrive links items across objects: warehouse keys become Pipedrive ids.

Every test runs the `target-pipedrive` command line; expected ids come from the emulator's data
(read before the run), its stored items and its log of what was written.
"""

from __future__ import annotations

import json
import typing as t

import pytest

from tests.conftest import TOKEN
from tests.emulator import Emulator
from tests.target_run import item, messages, rejects, run_cli, target_config, writes
from tests.test_target_failures import error_lines

ORGS = "/api/v2/organizations"
PERSONS = "/api/v2/persons"
DEALS = "/api/v2/deals"
BY_TAX_ID = {"entity": "organizations", "match_key": "Tax ID"}
BY_NAME = {"entity": "organizations", "match_key": "name"}
BY_EMAIL = {"entity": "persons", "match_key": "email"}
#: Organizations by their warehouse key (a text custom field), as a warehouse would load them.
COMPANIES = {"entity": "organizations", "match_key": "Tax ID"}


@pytest.fixture
def emu() -> t.Iterator[Emulator]:
    with Emulator(seed=5, scale=40, api_token=TOKEN) as emulator:
        yield emulator


def contacts(**links: dict[str, t.Any]) -> dict[str, t.Any]:
    """A `contacts` stream of persons matched by email, with these links."""
    return {"entity": "persons", "match_key": "email", "links": links}


def code_of(emu: Emulator, entity: str, name: str) -> str:
    return next(d.code for d in emu.data.custom_fields(entity) if d.name == name)


def with_tax_id(emu: Emulator, org_id: int, value: str) -> int:
    """A copy of an organization holding `value` in its Tax ID; its id (the log is cleared)."""
    custom = {**item(emu, "organizations", org_id)["custom_fields"]}
    custom[code_of(emu, "organizations", "Tax ID")] = value
    (copy,) = emu.duplicate("organizations", org_id, 1, custom_fields=custom)
    emu.clear_log()
    return copy


def by_email(emu: Emulator, email: str) -> dict[str, t.Any]:
    (person,) = [r for r in emu.records("persons") if email in [e["value"] for e in r["emails"]]]
    return person


def new_items(emu: Emulator, entity: str, before: set[t.Any]) -> list[dict[str, t.Any]]:
    return [r for r in emu.records(entity) if r["id"] not in before]


def reasons(tmp_path) -> list[str]:
    return [line["reason"] for line in rejects(tmp_path / "rejects.jsonl")]


def unique_deal(emu: Emulator) -> dict[str, t.Any]:
    """A listed deal (not archived) no other deal shares the title of."""
    titles = [r["title"] for r in emu.records("deals")]
    listed = [r for r in emu.records("deals") if not r["is_archived"]]
    return next(r for r in listed if titles.count(r["title"]) == 1)


# --- the link column becomes the linking field ---


def test_a_persons_company_key_becomes_the_org_id_of_the_org_holding_it(emu, tmp_path):
    org_id = with_tax_id(emu, 2, "WH-17")
    config = target_config(emu, tmp_path, streams={"contacts": contacts(company_key=BY_TAX_ID)})
    row = {"name": "Linked Person", "email": "linked@warehouse.example", "company_key": "wh-17"}
    result = run_cli(config, messages("contacts", [row]), tmp_path)
    assert result.returncode == 0, result.stderr
    assert by_email(emu, "linked@warehouse.example")["org_id"] == org_id
    assert writes(emu) == [("POST", PERSONS, 200)]


def test_a_persons_company_name_becomes_its_org_id(emu, tmp_path):
    person = by_email(emu, "marek.silva3@example.com")
    hooli = item(emu, "organizations", 5)
    assert (person["org_id"], hooli["name"]) == (7, "Hooli LLC")
    config = target_config(emu, tmp_path, streams={"contacts": contacts(company=BY_NAME)})
    row = {"email": "marek.silva3@example.com", "company": "HOOLI LLC"}
    result = run_cli(config, messages("contacts", [row]), tmp_path)
    assert result.returncode == 0, result.stderr
    assert writes(emu) == [("PATCH", f"{PERSONS}/{person['id']}", 200)]
    assert item(emu, "persons", person["id"])["org_id"] == 5


def test_a_deal_links_to_its_person_by_email_and_its_org_by_name(emu, tmp_path):
    before = emu.all_ids("deals")
    links = {"contact_email": BY_EMAIL, "company": BY_NAME}
    config = target_config(emu, tmp_path, streams={"deals": {"links": links}})
    row = {
        "title": "WH linked deal",
        "contact_email": "zoe.tanaka6@example.com",
        "company": "Umbrella Inc.",
    }
    result = run_cli(config, messages("deals", [row]), tmp_path)
    assert result.returncode == 0, result.stderr
    (deal,) = new_items(emu, "deals", before)
    assert (deal["title"], deal["person_id"], deal["org_id"]) == ("WH linked deal", 6, 4)


@pytest.mark.parametrize(
    ("stream", "row"),
    [("activities", {"subject": "WH call"}), ("notes", {"content": "<p>WH note</p>"})],
)
def test_activities_and_notes_link_to_a_deal_by_its_title(emu, tmp_path, stream, row):
    deal = unique_deal(emu)
    before = emu.all_ids(stream)
    links = {"deal_key": {"entity": "deals", "match_key": "title"}}
    config = target_config(emu, tmp_path, streams={stream: {"links": links}})
    result = run_cli(config, messages(stream, [{**row, "deal_key": deal["title"]}]), tmp_path)
    assert result.returncode == 0, result.stderr
    (created,) = new_items(emu, stream, before)
    assert created["deal_id"] == deal["id"]


def test_a_leads_company_becomes_its_organization_id(emu, tmp_path):
    before = emu.all_ids("leads")
    config = target_config(emu, tmp_path, streams={"leads": {"links": {"company": BY_NAME}}})
    result = run_cli(
        config, messages("leads", [{"title": "WH lead", "company": "Tyrell SA"}]), tmp_path
    )
    assert result.returncode == 0, result.stderr
    (lead,) = new_items(emu, "leads", before)
    assert (lead["title"], lead["organization_id"]) == ("WH lead", 2)


def test_a_null_link_value_leaves_the_link_as_it_is(emu, tmp_path):
    person = by_email(emu, "marek.silva3@example.com")
    config = target_config(emu, tmp_path, streams={"contacts": contacts(company=BY_NAME)})
    row = {"email": "marek.silva3@example.com", "company": None, "job_title": "Unlinked"}
    result = run_cli(config, messages("contacts", [row]), tmp_path)
    assert result.returncode == 0, result.stderr
    assert writes(emu) == [("PATCH", f"{PERSONS}/{person['id']}", 200)]
    after = item(emu, "persons", person["id"])
    assert (after["job_title"], after["org_id"]) == ("Unlinked", person["org_id"])


# --- parents first ---


def test_a_parent_stream_arriving_after_its_child_is_written_first(emu, tmp_path):
    orgs, deals = emu.all_ids("organizations"), emu.all_ids("deals")
    streams = {"companies": BY_NAME, "deals": {"links": {"company": BY_NAME}}}
    stream = [
        *messages("deals", [{"title": "WH fresh deal", "company": "Fresh Co"}]),
        *messages("companies", [{"name": "Fresh Co"}]),
    ]
    result = run_cli(target_config(emu, tmp_path, streams=streams), stream, tmp_path)
    assert result.returncode == 0, result.stderr
    assert writes(emu) == [("POST", ORGS, 200), ("POST", DEALS, 200)]
    (org,), (deal,) = new_items(emu, "organizations", orgs), new_items(emu, "deals", deals)
    assert deal["org_id"] == org["id"]


def test_a_link_finds_an_item_created_earlier_in_the_run_without_reading_again(emu, tmp_path):
    orgs = emu.all_ids("organizations")
    streams = {"companies": COMPANIES, "contacts": contacts(company_key=BY_TAX_ID)}
    stream = [
        *messages("companies", [{"name": "Brand New Co", "tax_id": "WH-NEW"}]),
        *messages(
            "contacts",
            [{"name": "New Hire", "email": "hire@warehouse.example", "company_key": "WH-NEW"}],
        ),
    ]
    result = run_cli(target_config(emu, tmp_path, streams=streams), stream, tmp_path)
    assert result.returncode == 0, result.stderr
    (org,) = new_items(emu, "organizations", orgs)
    assert by_email(emu, "hire@warehouse.example")["org_id"] == org["id"]
    # One read of the organizations (the companies' match index, the contacts' links).
    assert [r.method for r in emu.requests if r.path == ORGS] == ["GET", "POST"]


# --- links that resolve to no item, or to several ---


def test_a_link_value_no_item_holds_rejects_the_record(emu, tmp_path):
    config = target_config(emu, tmp_path, streams={"contacts": contacts(company=BY_NAME)})
    rows = [{"email": "orphan@warehouse.example", "company": "Nowhere Ltd"}]
    result = run_cli(config, messages("contacts", rows), tmp_path)
    assert result.returncode == 1
    assert reasons(tmp_path) == [
        "link 'company' value 'Nowhere Ltd' matches no organizations by 'name': the record "
        "was not written (on_missing_link: reject)."
    ]
    assert writes(emu) == []


def test_skip_link_writes_a_record_whose_link_finds_nothing_without_that_field(emu, tmp_path):
    streams = {"contacts": {**contacts(company=BY_NAME), "on_missing_link": "skip_link"}}
    rows = [{"name": "Half Linked", "email": "half@warehouse.example", "company": "Nowhere Ltd"}]
    result = run_cli(
        target_config(emu, tmp_path, streams=streams), messages("contacts", rows), tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert writes(emu) == [("POST", PERSONS, 200)]
    person = by_email(emu, "half@warehouse.example")
    assert (person["name"], person["org_id"]) == ("Half Linked", None)


def test_a_link_value_several_items_hold_is_a_reject_naming_them(emu, tmp_path):
    (twin,) = emu.duplicate("organizations", 5, 1)
    emu.clear_log()
    streams = {"contacts": {**contacts(company=BY_NAME), "on_missing_link": "skip_link"}}
    rows = [{"email": "twin@warehouse.example", "company": "Hooli LLC"}]
    result = run_cli(
        target_config(emu, tmp_path, streams=streams), messages("contacts", rows), tmp_path
    )
    assert result.returncode == 1
    assert reasons(tmp_path) == [
        f"link 'company' value 'Hooli LLC' matches 2 organizations by 'name' (ids 5, {twin}): "
        "the record was not written; make the value unique in Pipedrive."
    ]
    assert writes(emu) == []


# --- settings ---


@pytest.mark.parametrize(
    ("streams", "line"),
    [
        (
            {"contacts": contacts(company={"entity": "organizations", "matchkey": "name"})},
            "Unknown setting `matchkey` in `streams.contacts.links.company` (did you mean "
            "`match_key`?).",
        ),
        (
            {"contacts": contacts(company={"entity": "organisations", "match_key": "name"})},
            "`streams.contacts.links.company`: `entity` 'organisations' is no Pipedrive entity "
            "(did you mean `organizations`?).",
        ),
        (
            {"companies": {"entity": "organizations", "links": {"boss": BY_EMAIL}}},
            "`streams.companies.links.boss`: organizations have no field linking them to "
            "persons: name the field receiving the id with `field`.",
        ),
    ],
    ids=["unknown-key", "unknown-entity", "no-linking-field"],
)
def test_a_link_setting_that_cannot_work_is_a_config_error_before_any_request(
    emu, tmp_path, streams, line
):
    config = target_config(emu, tmp_path, streams=streams)
    result = run_cli(config, messages("contacts", [{"email": "x@warehouse.example"}]), tmp_path)
    assert result.returncode == 1
    assert error_lines(result.stderr) == [f"Invalid config: {line}"]
    assert emu.requests == []


def test_a_link_match_key_the_linked_entity_lacks_stops_the_stream_before_any_write(emu, tmp_path):
    link = {"entity": "organizations", "match_key": "Company key"}  # no such field here
    config = target_config(emu, tmp_path, streams={"contacts": contacts(company=link)})
    rows = [{"email": "k@warehouse.example", "company": "K-1"}]
    result = run_cli(config, messages("contacts", rows), tmp_path)
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        "Stream 'contacts': link 'company': match_key 'Company key' is neither a field nor a "
        "custom field of organizations."
    ]
    assert "Traceback" not in result.stderr
    assert writes(emu) == []


# --- the index links read ---


def test_a_link_index_read_that_fails_stops_the_stream_before_any_write(emu, tmp_path):
    emu.inject(ORGS, "status", status=403)
    config = target_config(emu, tmp_path, streams={"contacts": contacts(company=BY_NAME)})
    rows = [{"email": f"c{i}@warehouse.example", "company": None} for i in range(2)]
    result = run_cli(config, messages("contacts", rows), tmp_path)
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        "Stream 'contacts': stopped before writing any record: the list of organizations to "
        "link to could not be read in full (Pipedrive answered 403 Forbidden for "
        "/api/v2/organizations: You do not have permission to access this resource; Please "
        "check developers.pipedrive.com for more information about Pipedrive API.). Nothing "
        "was created in place of an item that could not be looked up; run again later."
    ]
    assert writes(emu) == []


def test_a_stop_while_held_records_are_written_emits_only_the_state_before_them(emu, tmp_path):
    # The persons list (the match index) is the 1st request on the prefix; the 2nd POST is 3rd.
    emu.inject(PERSONS, "budget_429", after=2)
    config = target_config(emu, tmp_path, streams={"contacts": contacts(company=BY_NAME)})
    schema, first, second = messages(
        "contacts",
        [{"email": f"held{i}@warehouse.example", "company": "Tyrell SA"} for i in range(2)],
    )
    stream = [
        {"type": "STATE", "value": {"before": 1}},
        schema,
        first,
        {"type": "STATE", "value": {"after": 1}},
        second,
        {"type": "STATE", "value": {"after": 2}},
    ]
    result = run_cli(config, stream, tmp_path)
    assert result.returncode == 1
    assert [json.loads(line) for line in result.stdout.splitlines()] == [{"before": 1}]
    assert [(m, s) for m, _, s in writes(emu)] == [("POST", 200), ("POST", 429)]


# --- reruns ---

WAREHOUSE_STREAMS = {
    "companies": COMPANIES,
    "contacts": contacts(company_key=BY_TAX_ID),
    # Deals by their warehouse key, held in a text custom field.
    "deals": {
        "match_key": "Competitor",
        "links": {"contact_email": BY_EMAIL, "company_key": BY_TAX_ID},
    },
}


def warehouse(deal_company: str = "WH-A") -> list[dict[str, t.Any]]:
    """Three tables as a warehouse holds them: children first, keyed by the warehouse's ids."""
    return [
        *messages(
            "deals",
            [
                {
                    "title": "Deal A",
                    "competitor": "D-1",
                    "contact_email": "a@wh.example",
                    "company_key": deal_company,
                },
                {
                    "title": "Deal B",
                    "competitor": "D-2",
                    "contact_email": "b@wh.example",
                    "company_key": "WH-B",
                },
            ],
        ),
        *messages(
            "contacts",
            [
                {"name": "Anna", "email": "a@wh.example", "company_key": "WH-A"},
                {"name": "Ben", "email": "b@wh.example", "company_key": "WH-B"},
            ],
        ),
        *messages(
            "companies",
            [{"name": "Alpha WH", "tax_id": "WH-A"}, {"name": "Beta WH", "tax_id": "WH-B"}],
        ),
    ]


def test_a_rerun_of_linked_streams_writes_nothing(emu, tmp_path):
    config = target_config(emu, tmp_path, streams=WAREHOUSE_STREAMS)
    assert run_cli(config, warehouse(), tmp_path).returncode == 0
    assert sorted(m for m, _, _ in writes(emu)) == ["POST"] * 6
    emu.clear_log()
    result = run_cli(config, warehouse(), tmp_path)
    assert result.returncode == 0, result.stderr
    assert writes(emu) == []


def test_changing_one_deals_company_sends_one_patch_with_the_new_org_id(emu, tmp_path):
    orgs, deals = emu.all_ids("organizations"), emu.all_ids("deals")
    config = target_config(emu, tmp_path, streams=WAREHOUSE_STREAMS)
    assert run_cli(config, warehouse(), tmp_path).returncode == 0
    beta = next(o["id"] for o in new_items(emu, "organizations", orgs) if o["name"] == "Beta WH")
    deal_a = next(d for d in new_items(emu, "deals", deals) if d["title"] == "Deal A")
    emu.clear_log()
    result = run_cli(config, warehouse(deal_company="WH-B"), tmp_path)
    assert result.returncode == 0, result.stderr
    assert writes(emu) == [("PATCH", f"{DEALS}/{deal_a['id']}", 200)]
    assert item(emu, "deals", deal_a["id"])["org_id"] == beta
