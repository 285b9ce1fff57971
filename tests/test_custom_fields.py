"""Custom field definitions become typed columns; record values are flattened into them."""

from __future__ import annotations

import pytest

from tap_pipedrive.custom_fields import (
    OBJECT_TYPES,
    SCALAR_TYPES,
    CustomField,
    CustomFieldMapper,
    column_names,
    slug,
)

CODE_A = "a" * 40
CODE_B = "b" * 40
CODE_C = "c" * 40


def field(code: str, name: str, field_type: str, options=None) -> CustomField:
    return CustomField(code=code, name=name, field_type=field_type, options=options or {})


def test_v2_definitions_of_standard_fields_are_not_custom():
    row = {"field_code": "title", "field_name": "Title", "field_type": "varchar"}
    assert CustomField.from_definition({**row, "is_custom_field": False}) is None


def test_v2_definition_keeps_code_name_type_and_options():
    row = {
        "field_code": CODE_A,
        "field_name": "Deal source",
        "field_type": "enum",
        "is_custom_field": True,
        "options": [{"id": 1, "label": "Web"}, {"id": 2, "label": "Phone"}],
    }
    assert CustomField.from_definition(row) == field(
        CODE_A, "Deal source", "enum", {1: "Web", 2: "Phone"}
    )


def test_v1_definition_is_custom_when_its_key_is_a_field_hash():
    assert CustomField.from_definition({"key": "content", "name": "Content"}) is None
    assert CustomField.from_definition(
        {"key": CODE_B, "name": "Mood", "field_type": "varchar"}
    ) == field(CODE_B, "Mood", "varchar")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Lead Source", "lead_source"),
        ("Lead source!", "lead_source"),
        ("Größe (cm)", "grosse_cm"),
        ("Zoë's  budget", "zoe_s_budget"),
        ("株式会社", ""),
    ],
)
def test_slug_is_snake_case_ascii(name, expected):
    assert slug(name) == expected


def test_key_mode_names_columns_by_field_code():
    fields = [field(CODE_A, "Lead Source", "varchar"), field(CODE_B, "Budget", "double")]
    assert column_names(fields, "key", reserved={"title"}) == {CODE_A: CODE_A, CODE_B: CODE_B}


def test_name_mode_uses_the_slug_when_unique():
    fields = [field(CODE_A, "Budget", "double")]
    assert column_names(fields, "name", reserved={"title"}) == {CODE_A: "budget"}


def test_name_mode_suffixes_every_field_of_a_colliding_slug_with_its_code():
    fields = [field(CODE_A, "Lead Source", "varchar"), field(CODE_B, "Lead source!", "varchar")]
    assert column_names(fields, "name", reserved=()) == {
        CODE_A: "lead_source_aaaaaaaa",
        CODE_B: "lead_source_bbbbbbbb",
    }


def test_name_mode_suffixes_a_slug_that_is_a_standard_column():
    fields = [field(CODE_A, "Title", "varchar")]
    assert column_names(fields, "name", reserved={"title"}) == {CODE_A: "title_aaaaaaaa"}


def test_name_mode_falls_back_to_the_code_for_an_empty_slug():
    fields = [field(CODE_C, "株式会社", "varchar")]
    assert column_names(fields, "name", reserved=()) == {CODE_C: "cccccccc"}


@pytest.mark.parametrize("field_type", sorted(SCALAR_TYPES))
def test_scalar_types_become_one_nullable_column_with_their_value(field_type):
    mapper = CustomFieldMapper([field(CODE_A, "X", field_type)])
    assert list(mapper.properties) == [CODE_A]
    schema = mapper.properties[CODE_A]
    assert schema == {**SCALAR_TYPES[field_type], "description": f"X (custom field {CODE_A})"}
    assert "type" not in schema or "null" in schema["type"]
    record: dict = {}
    mapper.flatten(record, {CODE_A: 42})
    assert record == {CODE_A: 42}


def test_scalar_schemas_are_precise():
    assert SCALAR_TYPES["double"]["type"] == ["number", "null"]
    assert SCALAR_TYPES["int"]["type"] == ["integer", "null"]
    assert SCALAR_TYPES["date"]["format"] == "date"
    assert SCALAR_TYPES["set"]["items"] == {"type": "integer"}
    assert SCALAR_TYPES["enum"]["type"] == ["integer", "null"]


def test_monetary_splits_into_value_and_currency_columns():
    mapper = CustomFieldMapper([field(CODE_A, "Budget", "monetary")])
    record: dict = {}
    mapper.flatten(record, {CODE_A: {"value": 1500.5, "currency": "EUR"}})
    assert record == {CODE_A: 1500.5, f"{CODE_A}_currency": "EUR"}
    assert mapper.properties[CODE_A]["type"] == ["number", "null"]


def test_daterange_splits_into_start_and_until_dates():
    mapper = CustomFieldMapper([field(CODE_A, "Trip", "daterange")], mode="name")
    record: dict = {}
    mapper.flatten(record, {CODE_A: {"value": "2025-01-02", "until": "2025-01-09"}})
    assert record == {"trip": "2025-01-02", "trip_until": "2025-01-09"}
    assert mapper.properties["trip_until"]["format"] == "date"


def test_timerange_keeps_its_timezone():
    mapper = CustomFieldMapper([field(CODE_A, "Slot", "timerange")], mode="name")
    record: dict = {}
    value = {"value": "09:00:00", "until": "10:30:00", "timezone_name": "Europe/Tallinn"}
    mapper.flatten(record, {CODE_A: value})
    assert record == {
        "slot": "09:00:00",
        "slot_until": "10:30:00",
        "slot_timezone_name": "Europe/Tallinn",
    }


def test_address_splits_into_its_parts():
    mapper = CustomFieldMapper([field(CODE_A, "Site", "address")], mode="name")
    record: dict = {}
    mapper.flatten(record, {CODE_A: {"value": "1 Main St, Springfield", "locality": "Springfield"}})
    assert record["site"] == "1 Main St, Springfield"
    assert record["site_locality"] == "Springfield"
    assert record["site_route"] is None
    assert set(record) == {"site"} | {
        f"site_{part}" for part in OBJECT_TYPES["address"] if part != "value"
    }


def test_a_null_object_value_nulls_every_part():
    mapper = CustomFieldMapper([field(CODE_A, "Budget", "monetary")])
    record: dict = {}
    mapper.flatten(record, {CODE_A: None})
    assert record == {CODE_A: None, f"{CODE_A}_currency": None}


def test_a_missing_value_is_emitted_as_null():
    mapper = CustomFieldMapper([field(CODE_A, "Budget", "double")])
    record: dict = {}
    mapper.flatten(record, None)
    assert record == {CODE_A: None}


def test_option_labels_replace_single_option_ids():
    mapper = CustomFieldMapper(
        [field(CODE_A, "Source", "enum", {1: "Web", 2: "Phone"})], labels=True
    )
    record: dict = {}
    mapper.flatten(record, {CODE_A: 2})
    assert record == {CODE_A: "Phone"}
    assert mapper.properties[CODE_A]["type"] == ["string", "null"]


def test_option_labels_replace_multiple_option_ids():
    mapper = CustomFieldMapper([field(CODE_A, "Tags", "set", {1: "Hot", 2: "VIP"})], labels=True)
    record: dict = {}
    mapper.flatten(record, {CODE_A: [2, 1]})
    assert record == {CODE_A: ["VIP", "Hot"]}
    assert mapper.properties[CODE_A]["items"] == {"type": "string"}


def test_an_option_id_without_a_definition_keeps_its_id_as_text():
    mapper = CustomFieldMapper([field(CODE_A, "Source", "enum", {1: "Web"})], labels=True)
    record: dict = {}
    mapper.flatten(record, {CODE_A: 99})
    assert record == {CODE_A: "99"}


def test_without_labels_option_ids_stay_integers():
    mapper = CustomFieldMapper([field(CODE_A, "Source", "enum", {1: "Web"})])
    record: dict = {}
    mapper.flatten(record, {CODE_A: 1})
    assert record == {CODE_A: 1}


def test_an_unknown_field_type_accepts_any_json_value():
    mapper = CustomFieldMapper([field(CODE_A, "Future", "hologram")])
    assert mapper.properties[CODE_A] == {
        "type": ["object", "array", "string", "number", "boolean", "null"],
        "description": f"Future (custom field {CODE_A})",
    }


def test_subfields_of_a_definition_define_the_parts_and_their_types():
    row = {
        "field_code": CODE_A,
        "field_name": "Call at",
        "field_type": "time",
        "is_custom_field": True,
        "subfields": [
            {"field_code": "value", "field_name": "Call at", "field_type": "time"},
            {"field_code": "timezone_name", "field_name": "Timezone", "field_type": "varchar"},
        ],
    }
    mapper = CustomFieldMapper([CustomField.from_definition(row)], mode="name")
    record: dict = {}
    mapper.flatten(record, {CODE_A: {"value": "12:15:00", "timezone_name": "Europe/Tallinn"}})
    assert record == {"call_at": "12:15:00", "call_at_timezone_name": "Europe/Tallinn"}
    assert mapper.properties["call_at"]["format"] == "time"
    assert mapper.properties["call_at_timezone_name"]["type"] == ["string", "null"]
