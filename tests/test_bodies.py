"""What a write sends, called directly: nulls dropped, and only what differs from the item."""

from __future__ import annotations

import pytest

from target_pipedrive.bodies import changes, holds, same, without_nulls

EMAIL = [{"value": "ada@example.com", "primary": True}]


def test_null_fields_and_null_custom_fields_are_dropped():
    body = {"name": "Ada", "org_id": None, "custom_fields": {"aa": None, "bb": 2}}
    assert without_nulls(body) == {"name": "Ada", "custom_fields": {"bb": 2}}


def test_custom_fields_that_are_all_null_are_dropped_whole():
    assert without_nulls({"name": "Ada", "custom_fields": {"aa": None}}) == {"name": "Ada"}


@pytest.mark.parametrize(
    ("given", "current"),
    [
        ("Ada@Example.com ", "ada@example.com"),
        (" ADA", "ada"),
        (3, 3),
        (3, 3.0),
        (None, None),
        (True, True),
        ({"value": "x"}, {"value": "X", "primary": True}),
        (EMAIL, [{"value": "ADA@example.com", "primary": True, "label": "work"}]),
        ([], []),
    ],
)
def test_a_value_equal_but_for_case_blanks_or_unsent_parts_is_the_same(given, current):
    assert same(given, current)


@pytest.mark.parametrize(
    ("given", "current"),
    [
        ("Ada", "Adam"),
        (True, 1),
        (1, True),
        (False, 0),
        (0, False),
        ("1", 1),
        (3, None),
        (None, "x"),
        ({"value": "x"}, {"value": "y"}),
        ({"value": "x"}, "x"),
        (EMAIL, []),
        (EMAIL, [*EMAIL, *EMAIL]),
        (["a", "b"], ["a", "c"]),
        (["a"], "a"),
    ],
)
def test_a_value_that_differs_is_not_the_same(given, current):
    assert not same(given, current)


def test_only_the_fields_that_differ_are_sent():
    body = {"name": "ADA", "email": EMAIL, "org_id": 5, "owner_id": 1}
    current = {"id": 9, "name": "ada", "email": EMAIL, "org_id": 6, "owner_id": True}
    assert changes(body, current) == {"org_id": 5, "owner_id": 1}


def test_custom_fields_are_compared_by_code():
    body = {"custom_fields": {"aa": "Web", "bb": 2, "cc": 3}}
    current = {"custom_fields": {"aa": "web", "bb": 3, "dd": 4}}
    assert changes(body, current) == {"custom_fields": {"bb": 2, "cc": 3}}


def test_unchanged_custom_fields_send_nothing():
    body = {"name": "Ada", "custom_fields": {"aa": 1}}
    assert changes(body, {"name": "Ada", "custom_fields": {"aa": 1}}) == {}


def test_an_item_without_custom_fields_gets_every_custom_field():
    assert changes({"custom_fields": {"aa": 1}}, {"custom_fields": None}) == {
        "custom_fields": {"aa": 1}
    }


def test_a_one_value_fields_stored_value_object_is_its_value():
    body = {"custom_fields": {"aa": 5, "bb": 5}}
    current = {"custom_fields": {"aa": {"value": 5}, "bb": {"value": 5, "currency": "EUR"}}}
    assert changes(body, current) == {"custom_fields": {"bb": 5}}


def test_an_object_custom_field_is_compared_by_the_parts_given():
    body = {"custom_fields": {"aa": {"value": 5, "currency": "eur"}}}
    current = {"custom_fields": {"aa": {"value": 5, "currency": "EUR", "label": "x"}}}
    assert changes(body, current) == {}


def test_custom_fields_that_are_no_object_are_left_out_of_the_changes():
    assert changes({"name": "Ada", "custom_fields": None}, {"name": "Ada"}) == {}


def test_an_item_holds_a_body_whose_every_field_it_has():
    item = {"id": 4, "name": "ada", "email": EMAIL, "custom_fields": {"aa": {"value": 1}}}
    assert holds(item, {"name": "Ada", "custom_fields": {"aa": 1}})
    assert not holds(item, {"name": "Ada", "custom_fields": {"aa": 2}})
    assert not holds(item, {"name": "Bob"})
