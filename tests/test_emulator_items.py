"""The emulator's per-item endpoints: participants, mail messages, discounts, variations."""

from __future__ import annotations

import jsonschema
import pytest

from tests.emulator import Emulator, spec
from tests.emulator.item_handlers import ITEM_ROUTES
from tests.test_emulator import call

PATHS = {
    "/deals/{id}/participants": "/v1/deals/{}/participants",
    "/deals/{id}/mailMessages": "/v1/deals/{}/mailMessages",
    "/deals/{id}/discounts": "/api/v2/deals/{}/discounts",
    "/products/{id}/variations": "/api/v2/products/{}/variations",
}


@pytest.fixture(scope="module")
def emu():
    with Emulator(seed=7, scale=300) as emulator:
        yield emulator


def rows_of(emu: Emulator, template: str, item: int) -> list:
    extras = emu.data.extras
    with emu.data.lock:
        return {
            "/deals/{id}/participants": extras.participants,
            "/deals/{id}/mailMessages": extras.mail_messages,
            "/deals/{id}/discounts": extras.discounts,
            "/products/{id}/variations": extras.variations,
        }[template](item)


def an_item_with_rows(emu: Emulator, template: str, at_least: int = 1) -> int:
    """The first live deal (or product) with that many rows."""
    entity = "products" if "products" in template else "deals"
    items = sorted(emu.ids(entity))
    return next(i for i in items if len(rows_of(emu, template, i)) >= at_least)


@pytest.mark.usefixtures("openapi")
@pytest.mark.parametrize("route", ITEM_ROUTES, ids=lambda r: f"{r.version}{r.template}")
def test_responses_conform_to_the_specs_200_schema(emu, route):
    path = PATHS[route.template].format(an_item_with_rows(emu, route.template))
    params = {"include_body": 1} if "mail" in path else {}
    status, _, body = call(emu, path, params)
    assert status == 200
    validator = jsonschema.Draft7Validator(spec.response_json_schema("GET", path))
    assert [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)] == []
    assert body["data"]
    record = body["data"][0].get("data", body["data"][0])  # mail: the message in the item
    record["id"] = ["wrong"]  # the check has teeth
    assert not validator.is_valid(body)


@pytest.mark.parametrize("route", ITEM_ROUTES, ids=lambda r: f"{r.version}{r.template}")
def test_each_call_costs_the_specs_token_cost(route):
    with Emulator(seed=3, scale=40) as emu:
        path = PATHS[route.template].format(min(emu.ids("deals")))
        assert call(emu, path)[0] == 200
        assert [r.cost for r in emu.requests] == [spec.token_cost("GET", path)]
    costs = {
        "/deals/{id}/participants": 10,
        "/deals/{id}/mailMessages": 20,
        "/deals/{id}/discounts": 10,
        "/products/{id}/variations": 10,
    }
    assert spec.token_cost("GET", path) == costs[route.template]


@pytest.mark.parametrize("template", ["/deals/{id}/participants", "/deals/{id}/mailMessages"])
def test_v1_lists_page_by_offset(emu, template):
    item = an_item_with_rows(emu, template, at_least=2)
    expected = [r.get("data", r)["id"] for r in rows_of(emu, template, item)]
    seen, start = [], 0
    while True:
        status, _, body = call(emu, PATHS[template].format(item), {"start": start, "limit": 1})
        assert status == 200
        seen += [r.get("data", r)["id"] for r in body["data"]]
        if not body["additional_data"]["more_items_in_collection"]:
            break
        start += 1
    assert seen == expected


def test_variations_page_by_cursor(emu):
    template = "/products/{id}/variations"
    product = an_item_with_rows(emu, template, at_least=2)
    seen, cursor = [], None
    while True:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        status, _, body = call(emu, PATHS[template].format(product), params)
        assert status == 200
        seen += [r["id"] for r in body["data"]]
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            break
    assert seen == [r["id"] for r in rows_of(emu, template, product)]


def test_mail_bodies_only_with_include_body(emu):
    deal = an_item_with_rows(emu, "/deals/{id}/mailMessages")
    _, _, without = call(emu, f"/v1/deals/{deal}/mailMessages")
    _, _, with_body = call(emu, f"/v1/deals/{deal}/mailMessages", {"include_body": 1})
    assert all("body" not in item["data"] for item in without["data"])
    assert all(item["data"]["body"] for item in with_body["data"])


@pytest.mark.parametrize("template", [t for t in PATHS if t.startswith("/deals")])
def test_a_deleted_deal_answers_404_for_free(template):
    with Emulator(seed=3, scale=40) as emu:
        deal = min(emu.ids("deals"))
        emu.delete("deals", [deal])
        status, _, body = call(emu, PATHS[template].format(deal))
        assert (status, body["success"], body["error"]) == (404, False, "Deal not found")
        assert [r.cost for r in emu.requests] == [0]


def test_a_removed_product_answers_404():
    with Emulator(seed=3, scale=40) as emu:
        product = min(emu.ids("products"))
        emu.delete("products", [product])
        status, _, body = call(emu, PATHS["/products/{id}/variations"].format(product))
        assert (status, body["error"]) == (404, "Product not found")


def test_the_data_is_the_same_for_the_same_seed():
    with Emulator(seed=9, scale=40) as first, Emulator(seed=9, scale=40) as second:
        for template in PATHS:
            for item in range(1, 21):
                assert rows_of(first, template, item) == rows_of(second, template, item)
