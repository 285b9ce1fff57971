"""Custom fields at their edges: sparse definitions, parts of scalar types, labels of objects.

Found by mutation testing (`make mutation`): each test pins one behaviour the tests of
tests/test_custom_fields.py left open.
"""

from __future__ import annotations

import logging

from tap_pipedrive.custom_fields import CustomField, CustomFieldMapper, column_names
from tests.test_custom_fields import CODE_A, CODE_B, column_types, defined, field

ANY_JSON = ["object", "array", "string", "number", "boolean", "null"]


def test_a_v2_definition_without_a_name_or_type_has_empty_ones():
    row = {"field_code": CODE_A, "is_custom_field": True, "field_name": None}
    assert CustomField.from_definition(row) == field(CODE_A, "", "")


def test_a_v1_definition_without_a_name_has_an_empty_one():
    assert CustomField.from_definition({"key": CODE_B, "field_type": "int"}) == field(
        CODE_B, "", "int"
    )


def test_v1_subfields_are_read_by_their_key():
    row = {"key": CODE_B, "name": "Budget", "field_type": "monetary"}
    subfields = [{"key": "currency", "field_type": "varchar"}, {"key": "rate", "field_type": "x"}]
    found = CustomField.from_definition({**row, "subfields": subfields})
    assert found is not None
    assert found.parts == (("currency", "varchar"), ("rate", "x"))


def test_subfields_of_a_scalar_type_add_columns_beside_its_typed_value():
    mapper = CustomFieldMapper([defined("varchar", [("lang", "varchar")])], mode="name")
    assert column_types(mapper) == {"slot": ("string", None), "slot_lang": ("string", None)}


def test_a_subfield_of_an_unknown_type_takes_any_json_value():
    mapper = CustomFieldMapper([defined("monetary", [("extra", "hologram")])], mode="name")
    assert mapper.properties["slot_extra"]["type"] == ANY_JSON


def test_name_mode_suffixes_a_slug_that_starts_with_a_digit():
    fields = [field(CODE_A, "2nd choice", "varchar"), field(CODE_B, "7", "varchar")]
    assert column_names(fields, "name", reserved=()) == {
        CODE_A: "2nd_choice_aaaaaaaa",
        CODE_B: "7_bbbbbbbb",
    }


def test_the_mapper_names_each_fields_column_by_its_code():
    mapper = CustomFieldMapper(
        [field(CODE_A, "Budget", "monetary"), field(CODE_B, "Mood", "varchar")], mode="name"
    )
    assert mapper.names == {CODE_A: "budget", CODE_B: "mood"}


def test_the_mapper_knows_the_field_of_every_column():
    budget, mood = field(CODE_A, "Budget", "monetary"), field(CODE_B, "Mood", "varchar")
    mapper = CustomFieldMapper([budget, mood], mode="name")
    assert mapper.field_of == {"budget": budget, "budget_currency": budget, "mood": mood}


def test_fields_after_an_object_field_get_their_columns():
    mapper = CustomFieldMapper(
        [field(CODE_A, "Budget", "monetary"), field(CODE_B, "Mood", "varchar")], mode="name"
    )
    record: dict = {}
    mapper.flatten(record, {CODE_A: {"value": 5, "currency": "EUR"}, CODE_B: "ok"})
    assert record == {"budget": 5, "budget_currency": "EUR", "mood": "ok"}


def test_a_field_of_an_unknown_type_copies_its_value_as_is():
    mapper = CustomFieldMapper([field(CODE_A, "Future", "hologram")], mode="name")
    record: dict = {}
    mapper.flatten(record, {CODE_A: [{"x": 1}, True]})
    assert record == {"future": [{"x": 1}, True]}


def test_a_value_object_for_a_labelled_option_field_is_labelled():
    mapper = CustomFieldMapper(
        [field(CODE_A, "Source", "enum", {1: "Web", 2: "Phone"})], mode="name", labels=True
    )
    record: dict = {}
    mapper.flatten(record, {CODE_A: {"value": 2}})
    assert record == {"source": "Phone"}


def test_an_option_object_with_its_label_gives_that_label():
    mapper = CustomFieldMapper(
        [field(CODE_A, "Source", "enum", {2: "Phone"})], mode="name", labels=True
    )
    record: dict = {}
    mapper.flatten(record, {CODE_A: {"id": 2, "label": "Telephone"}})
    assert record == {"source": "Telephone"}


def test_a_missing_labelled_option_is_null():
    mapper = CustomFieldMapper([field(CODE_A, "Source", "enum", {1: "Web"})], labels=True)
    record: dict = {}
    mapper.flatten(record, {})
    assert record == {CODE_A: None}


def test_an_unknown_id_among_multiple_options_keeps_its_id_as_text():
    mapper = CustomFieldMapper([field(CODE_A, "Tags", "set", {1: "Hot"})], labels=True)
    record: dict = {}
    mapper.flatten(record, {CODE_A: [1, 99]})
    assert record == {CODE_A: ["Hot", "99"]}


def test_an_object_with_every_known_part_warns_of_nothing(caplog):
    mapper = CustomFieldMapper([field(CODE_A, "Budget", "monetary")])
    with caplog.at_level(logging.WARNING):
        mapper.flatten({}, {CODE_A: {"value": 5, "currency": "EUR"}})
    assert caplog.records == []


def test_a_value_object_for_a_scalar_field_warns_of_nothing(caplog):
    mapper = CustomFieldMapper([field(CODE_A, "Mood", "varchar")])
    record: dict = {}
    with caplog.at_level(logging.WARNING):
        mapper.flatten(record, {CODE_A: {"value": "ok"}})
    assert record == {CODE_A: "ok"}
    assert caplog.records == []


def test_the_warning_of_unknown_parts_names_field_type_and_parts(caplog):
    mapper = CustomFieldMapper([field(CODE_A, "Mood", "varchar")])
    with caplog.at_level(logging.WARNING):
        mapper.flatten({}, {CODE_A: {"value": "ok", "lang": "en", "alt": "x"}})
    assert [r.getMessage() for r in caplog.records] == [
        f"Custom field 'Mood' ({CODE_A}, type varchar) has value part(s) the tap does not "
        "know, not emitted: alt, lang"
    ]


def test_subfields_of_an_unknown_type_add_columns_beside_its_any_json_value():
    mapper = CustomFieldMapper([defined("hologram", [("lang", "varchar")])], mode="name")
    assert mapper.properties["slot"]["type"] == ANY_JSON
    assert mapper.properties["slot_lang"]["type"] == ["string", "null"]


def test_a_labelled_option_object_with_unknown_parts_warns_naming_the_field(caplog):
    mapper = CustomFieldMapper([field(CODE_A, "Source", "enum", {2: "Phone"})], labels=True)
    record: dict = {}
    with caplog.at_level(logging.WARNING):
        mapper.flatten(record, {CODE_A: {"value": 2, "extra": 1}})
    assert record == {CODE_A: "Phone"}
    assert [r.getMessage() for r in caplog.records] == [
        f"Custom field 'Source' ({CODE_A}, type enum) has value part(s) the tap does not "
        "know, not emitted: extra"
    ]
