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
