"""The match index, called directly: keys compared trimmed and case-folded, shared keys refused."""

from __future__ import annotations

import pytest

from target_pipedrive.matching import AmbiguousMatch, MatchIndex, normal, usable_key_value


def test_a_key_is_compared_as_trimmed_case_folded_text():
    assert normal("  Ada@Example.COM ") == "ada@example.com"
    assert normal("STRASSE") == normal("straße")
    assert normal(42) == "42"


@pytest.mark.parametrize("value", ["ada@example.com", 0, 7, 1.5, " x "])
def test_text_and_numbers_can_name_an_item(value):
    assert usable_key_value(value)


@pytest.mark.parametrize("value", [None, "", "   ", True, False, [1], {"a": 1}])
def test_empty_text_booleans_and_containers_cannot_name_an_item(value):
    assert not usable_key_value(value)


def test_an_indexed_key_finds_its_item_whatever_its_case():
    index = MatchIndex("email")
    ada = {"id": 3, "email": "Ada@example.com"}
    index.add(ada["email"], ada)
    assert index.find(" ADA@EXAMPLE.COM") is ada
    assert index.find("bob@example.com") is None


def test_an_item_listed_twice_is_one_match():
    index = MatchIndex("email")
    index.add("ada@example.com", {"id": 3})
    index.add("ADA@example.com", {"id": 3, "again": True})
    assert index.find("ada@example.com") == {"id": 3, "again": True}


def test_a_key_several_items_share_is_refused_naming_them_in_id_order():
    index = MatchIndex("email")
    for item_id in (12, 3):
        index.add("ada@example.com", {"id": item_id})
    with pytest.raises(AmbiguousMatch) as raised:
        index.find("Ada@example.com")
    assert str(raised.value) == (
        "match_key 'email' value 'Ada@example.com' matches 2 items (ids 3, 12): none was "
        "written; make the value unique in Pipedrive, or give the record an `id`."
    )


def test_an_item_written_by_the_run_is_found_by_its_key():
    index = MatchIndex("name")
    acme = {"id": 8, "name": "Acme"}
    index.remember("ACME ", acme)
    assert index.find("acme") is acme


def test_remembering_a_key_others_hold_makes_it_ambiguous():
    index = MatchIndex("name")
    index.add("Acme", {"id": 1})
    index.remember("Acme", {"id": 2})
    with pytest.raises(AmbiguousMatch):
        index.find("Acme")


def test_a_forgotten_item_matches_no_key():
    index = MatchIndex("name")
    index.add("Acme", {"id": 1})
    index.add("Acme Ltd", {"id": 1})
    index.add("Acme", {"id": 2})
    index.add("Globex", {"id": 3})
    index.forget(1)
    assert index.find("Acme") == {"id": 2}
    assert index.find("Acme Ltd") is None
    assert index.find("Globex") == {"id": 3}


CODE = "a" * 40


def test_an_items_keys_are_its_custom_fields_value_by_code():
    assert MatchIndex("Company key", CODE).keys_of({"custom_fields": {CODE: "CO-1"}}) == ["CO-1"]
    assert MatchIndex("k", CODE).keys_of({"custom_fields": {CODE: {"value": 7}}}) == [7]
    assert MatchIndex("k", CODE).keys_of({"custom_fields": {CODE: None}}) == []
    assert MatchIndex("k", CODE).keys_of({"custom_fields": None, "k": "x"}) == []


def test_a_persons_keys_by_email_are_every_email_it_holds():
    person = {"emails": [{"value": "a@x.example"}, {"value": ""}, "b@x.example", {"value": "c@x"}]}
    assert MatchIndex("email").keys_of(person) == ["a@x.example", "c@x"]
    assert MatchIndex("email").keys_of({"emails": None}) == []


def test_an_items_key_by_a_field_is_its_value():
    assert MatchIndex("name").keys_of({"name": "Acme"}) == ["Acme"]
    assert MatchIndex("name").keys_of({"name": None}) == []
    assert MatchIndex("name").keys_of({}) == []


def test_every_item_holding_a_key_is_listed_by_id():
    index = MatchIndex("name")
    for item_id in (9, 2, 5):
        index.add("Acme", {"id": item_id})
    assert index.items(" ACME") == [{"id": 2}, {"id": 5}, {"id": 9}]
    assert index.items("Globex") == []


def test_an_item_put_again_is_found_by_its_new_key_only():
    index = MatchIndex("name")
    index.put({"id": 4, "name": "Acme"})
    index.put({"id": 4, "name": "Globex"})
    assert index.items("Acme") == []
    assert index.items("globex") == [{"id": 4, "name": "Globex"}]
