"""The emulator's write endpoints: validation as v2 does it, PATCH semantics, DELETE, costs."""

from __future__ import annotations

import typing as t

import pytest
import requests

from tests.conftest import TOKEN
from tests.emulator import Emulator
from tests.emulator.spec import token_cost

HEADERS = {"x-api-token": TOKEN}


@pytest.fixture
def emu() -> t.Iterator[Emulator]:
    with Emulator(seed=3, scale=60, api_token=TOKEN) as emulator:
        yield emulator


def call(emu: Emulator, method: str, path: str, body: t.Any = None) -> requests.Response:
    return requests.request(method, emu.url + path, json=body, headers=HEADERS, timeout=10)


def custom(emu: Emulator, entity: str, kind: str) -> t.Any:
    return next(d for d in emu.data.custom_fields(entity) if d.type == kind)


def test_post_creates_an_item_listed_with_the_next_id_and_the_given_fields(emu):
    before = emu.all_ids("organizations")
    answer = call(emu, "POST", "/api/v2/organizations", {"name": "Acme", "website": "https://a"})
    created = answer.json()["data"]
    assert answer.status_code == 200
    assert created["id"] == max(before) + 1
    assert emu.ids("organizations") == before | {created["id"]}
    listed = next(r for r in emu.records("organizations") if r["id"] == created["id"])
    assert (listed["name"], listed["website"], listed["address"]) == ("Acme", "https://a", None)
    assert listed["add_time"] == listed["update_time"] is not None


def test_missing_required_field_is_a_400_envelope_and_creates_nothing(emu):
    before = emu.all_ids("deals")
    answer = call(emu, "POST", "/api/v2/deals", {"value": 10})
    assert answer.status_code == 400
    assert answer.json() == {
        "success": False,
        "error": "Validation failed: body: 'title' is a required property",
        "error_info": "Please check developers.pipedrive.com for more information about "
        "Pipedrive API.",
        "data": None,
        "additional_data": None,
        "code": "ERR_SCHEMA_VALIDATION_FAILED",
    }
    assert emu.all_ids("deals") == before


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"name": 5}, "Validation failed: name: 5 is not of type 'string'"),
        ({"name": "x", "colour": "red"}, "Validation failed: colour: is not allowed"),
        (
            {"name": "x", "marketing_status": "spam"},
            "Validation failed: marketing_status: 'spam' is not one of "
            "['no_consent', 'unsubscribed', 'subscribed', 'archived']",
        ),
    ],
    ids=["type", "unknown-field", "enum"],
)
def test_persons_body_is_validated_against_the_spec(emu, body, error):
    answer = call(emu, "POST", "/api/v2/persons", body)
    assert (answer.status_code, answer.json()["error"]) == (400, error)


def test_custom_field_option_must_be_one_of_the_fields_options(emu):
    field = custom(emu, "organizations", "enum")
    body = {"name": "x", "custom_fields": {field.code: 1}}
    answer = call(emu, "POST", "/api/v2/organizations", body)
    assert answer.status_code == 400
    assert answer.json()["error"] == (
        f"Validation failed: custom_fields.{field.code}: invalid value for a enum field"
    )


def test_patch_changes_only_the_given_fields(emu):
    before = next(r for r in emu.records("persons") if r["id"] == 5)
    field = custom(emu, "persons", "varchar")
    body = {"job_title": "CTO", "custom_fields": {field.code: "@new"}}
    assert call(emu, "PATCH", "/api/v2/persons/5", body).status_code == 200
    after = next(r for r in emu.records("persons") if r["id"] == 5)
    expected = {**before, "job_title": "CTO"}
    expected["custom_fields"] = {**before["custom_fields"], field.code: "@new"}
    assert {k: v for k, v in after.items() if k != "update_time"} == {
        k: v for k, v in expected.items() if k != "update_time"
    }
    assert after["update_time"] > before["update_time"]


def test_deleted_item_leaves_its_list_and_answers_404_after(emu):
    assert call(emu, "DELETE", "/api/v2/products/3").json() == {"success": True, "data": {"id": 3}}
    assert 3 not in emu.ids("products")
    assert call(emu, "PATCH", "/api/v2/products/3", {"name": "x"}).status_code == 404


def test_deleted_deal_is_marked_deleted(emu):
    call(emu, "DELETE", "/api/v2/deals/4")
    assert 4 in emu.ids("deals", include_deleted=True) - emu.ids("deals")


def test_notes_are_updated_with_put_and_leads_with_patch(emu):
    note = call(emu, "POST", "/v1/notes", {"content": "hi", "deal_id": 1}).json()["data"]
    lead = call(emu, "POST", "/v1/leads", {"title": "L"}).json()["data"]
    assert call(emu, "PUT", f"/v1/notes/{note['id']}", {"content": "ho"}).status_code == 200
    assert call(emu, "PATCH", f"/v1/leads/{lead['id']}", {"title": "L2"}).status_code == 200
    notes = {r["id"]: r["content"] for r in emu.records("notes")}
    leads = {r["id"]: r["title"] for r in emu.records("leads")}
    assert (notes[note["id"]], leads[lead["id"]]) == ("ho", "L2")


def test_writes_cost_their_operations_token_cost(emu):
    call(emu, "POST", "/api/v2/activities", {"subject": "Call"})
    call(emu, "PATCH", "/api/v2/activities/1", {"done": True})
    call(emu, "DELETE", "/api/v2/activities/2")
    assert [entry.cost for entry in emu.requests] == [
        token_cost("POST", "/api/v2/activities"),
        token_cost("PATCH", "/api/v2/activities/1"),
        token_cost("DELETE", "/api/v2/activities/2"),
    ]


def test_writes_meet_injected_faults_like_reads(emu):
    emu.inject("/api/v2/organizations", "status", status=503)
    assert call(emu, "POST", "/api/v2/organizations", {"name": "x"}).status_code == 503
    assert call(emu, "POST", "/api/v2/organizations", {"name": "x"}).status_code == 200


def test_a_product_category_is_set_by_option_id_and_listed_by_label(emu):
    field = next(d for d in emu.data.fields.v2["products"] if d.code == "category")
    option = field.options[0]
    created = call(emu, "POST", "/api/v2/products", {"name": "P", "category": int(option.id)})
    assert item_category(emu, created.json()["data"]["id"]) == option.label


def test_an_unknown_category_creates_nothing(emu):
    before = emu.all_ids("products")
    answer = call(emu, "POST", "/api/v2/products", {"name": "P", "category": 99})
    assert (answer.status_code, answer.json()["error"]) == (
        400,
        "Validation failed: category: unknown option 99",
    )
    assert emu.all_ids("products") == before


def item_category(emu: Emulator, product_id: int) -> str:
    return next(r["category"] for r in emu.records("products") if r["id"] == product_id)


@pytest.mark.parametrize(
    ("path", "body", "error"),
    [
        (
            "/api/v2/persons",
            {"name": "P", "org_id": 999},
            "org_id: organization 999 does not exist",
        ),
        ("/api/v2/deals", {"title": "D", "person_id": 999}, "person_id: person 999 does not exist"),
        ("/v1/notes", {"content": "N", "deal_id": 999}, "deal_id: deal 999 does not exist"),
        (
            "/v1/leads",
            {"title": "L", "organization_id": 999},
            "organization_id: organization 999 does not exist",
        ),
    ],
)
def test_a_link_to_an_item_that_does_not_exist_is_a_400_and_creates_nothing(emu, path, body, error):
    entity = path.rsplit("/", 1)[-1]
    before = emu.all_ids(entity)
    answer = call(emu, "POST", path, body)
    assert (answer.status_code, answer.json()["error"]) == (400, f"Validation failed: {error}")
    assert emu.all_ids(entity) == before


def test_a_link_to_an_item_that_exists_is_written(emu):
    org, person = emu.records("organizations")[0]["id"], emu.records("persons")[0]["id"]
    answer = call(emu, "POST", "/api/v2/deals", {"title": "D", "org_id": org, "person_id": person})
    assert answer.status_code == 200
    assert (answer.json()["data"]["org_id"], answer.json()["data"]["person_id"]) == (org, person)


def test_a_write_whose_answer_is_dropped_after_commit_is_done(emu):
    emu.inject("/api/v2/organizations", "drop_after_commit")
    with pytest.raises(requests.exceptions.ConnectionError):
        call(emu, "POST", "/api/v2/organizations", {"name": "Committed"})
    assert [r["name"] for r in emu.records("organizations")].count("Committed") == 1
    assert [(r.method, r.status) for r in emu.requests] == [("POST", 200)]


def test_a_write_answered_late_after_commit_is_done_before_the_answer(emu):
    emu.inject("/api/v2/organizations", "slow_after_commit", delay=2)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(
            emu.url + "/api/v2/organizations", json={"name": "Late"}, headers=HEADERS, timeout=0.5
        )
    assert [r["name"] for r in emu.records("organizations")].count("Late") == 1


def test_duplicate_copies_an_items_fields_under_new_ids(emu):
    person = emu.records("persons")[0]
    twins = emu.duplicate("persons", person["id"], 2)
    assert twins == [max(emu.all_ids("persons")) - 1, max(emu.all_ids("persons"))]
    copies = [r for r in emu.records("persons") if r["id"] in twins]
    assert [(r["name"], r["emails"]) for r in copies] == [(person["name"], person["emails"])] * 2
