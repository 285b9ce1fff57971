"""Custom field definitions become typed columns; record values are flattened into them."""

from __future__ import annotations

import logging

import pytest

from tap_pipedrive.custom_fields import (
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


def defined(field_type: str, subfields: list[tuple[str, str]] | None) -> CustomField:
    """A custom field "Slot" from a v2 definition, with or without `subfields`."""
    row = {
        "field_code": CODE_A,
        "field_name": "Slot",
        "field_type": field_type,
        "is_custom_field": True,
        "options": None,
        "subfields": (
            [{"field_code": c, "field_name": c, "field_type": k} for c, k in subfields]
            if subfields is not None
            else None
        ),
    }
    found = CustomField.from_definition(row)
    assert found is not None
    return found


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


#: The JSON type of each one-column field type, from the spec's description of the values.
SCALARS = {
    "varchar": ["string", "null"], "varchar_auto": ["string", "null"],
    "varchar_options": ["string", "null"], "text": ["string", "null"], "phone": ["string", "null"],
    "status": ["string", "null"], "billing_frequency": ["string", "null"],
    "lead": ["string", "null"], "int": ["integer", "null"], "picture": ["integer", "null"],
    "enum": ["integer", "null"], "user": ["integer", "null"], "people": ["integer", "null"],
    "org": ["integer", "null"], "deal": ["integer", "null"], "project": ["integer", "null"],
    "stage": ["integer", "null"], "activity": ["integer", "null"],
    "visible_to": ["integer", "null"], "price_list": ["integer", "null"],
    "projects_board": ["integer", "null"], "projects_phase": ["integer", "null"],
    "double": ["number", "null"], "boolean": ["boolean", "null"], "date": ["string", "null"],
    "set": ["array", "null"], "deals": ["array", "null"],
}  # fmt: skip


@pytest.mark.parametrize("field_type", sorted(SCALARS))
def test_scalar_types_become_one_nullable_column_with_their_value(field_type):
    mapper = CustomFieldMapper([field(CODE_A, "X", field_type)])
    assert list(mapper.properties) == [CODE_A]
    assert mapper.properties[CODE_A]["type"] == SCALARS[field_type]
    assert mapper.properties[CODE_A]["description"] == f"X (custom field {CODE_A})"
    record: dict = {}
    mapper.flatten(record, {CODE_A: 42})
    assert record == {CODE_A: 42}


def test_scalar_schemas_are_precise():
    mapper = CustomFieldMapper(
        [field(CODE_A, "Day", "date"), field(CODE_B, "Tags", "set", {1: "Hot"})]
    )
    assert mapper.properties[CODE_A]["format"] == "date"
    assert mapper.properties[CODE_B]["items"] == {"type": "integer"}
    record: dict = {}
    mapper.flatten(record, None)
    assert record == {CODE_A: None, CODE_B: None}


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


ADDRESS_PARTS = (
    "street_number", "route", "subpremise", "sublocality", "locality", "admin_area_level_1",
    "admin_area_level_2", "country", "postal_code", "formatted_address",
)  # fmt: skip
ADDRESS = {
    "value": "Narva mnt 10, 10117 Tallinn, Estonia", "street_number": "10", "route": "Narva mnt",
    "subpremise": "4", "sublocality": "Kesklinn", "locality": "Tallinn",
    "admin_area_level_1": "Harju maakond", "admin_area_level_2": "Tallinn", "country": "Estonia",
    "postal_code": "10117", "formatted_address": "Narva mnt 10, 10117 Tallinn, Estonia",
}  # fmt: skip
#: Per object type: the v2 value, the columns it fills (name mode, field "Slot"), their JSON
#: type and format, and the `subfields` the spec lists (address, monetary) or, for the others,
#: a plausible list (the spec gives their definitions none; a future one might).
OBJECTS = {
    "monetary": (
        {"value": 1500.5, "currency": "EUR"},
        {"slot": 1500.5, "slot_currency": "EUR"},
        {"slot": ("number", None), "slot_currency": ("string", None)},
        [("value", "double"), ("currency", "varchar")],
    ),
    "daterange": (
        {"value": "2025-01-02", "until": "2025-01-09"},
        {"slot": "2025-01-02", "slot_until": "2025-01-09"},
        {"slot": ("string", "date"), "slot_until": ("string", "date")},
        [("value", "date"), ("until", "date")],
    ),
    "time": (
        {"value": "12:15:00", "timezone_id": 22, "timezone_name": "Europe/Tallinn"},
        {"slot": "12:15:00", "slot_timezone_id": 22, "slot_timezone_name": "Europe/Tallinn"},
        {
            "slot": ("string", "time"),
            "slot_timezone_id": ("integer", None),
            "slot_timezone_name": ("string", None),
        },
        [("value", "time"), ("timezone_name", "varchar")],
    ),
    "timerange": (
        {"value": "09:00:00", "until": "10:30:00", "timezone_id": 22, "timezone_name": "UTC"},
        {
            "slot": "09:00:00",
            "slot_until": "10:30:00",
            "slot_timezone_id": 22,
            "slot_timezone_name": "UTC",
        },
        {
            "slot": ("string", "time"),
            "slot_until": ("string", "time"),
            "slot_timezone_id": ("integer", None),
            "slot_timezone_name": ("string", None),
        },
        [("value", "time"), ("until", "time"), ("timezone_name", "varchar")],
    ),
    "address": (
        ADDRESS,
        {"slot": ADDRESS["value"], **{f"slot_{p}": ADDRESS[p] for p in ADDRESS_PARTS}},
        {"slot": ("string", None), **{f"slot_{p}": ("string", None) for p in ADDRESS_PARTS}},
        [("value", "varchar"), *((p, "varchar") for p in ADDRESS_PARTS)],
    ),
}


def column_types(mapper: CustomFieldMapper) -> dict[str, tuple[str, str | None]]:
    """Each column's non-null JSON type and its format."""
    return {
        name: (next(k for k in schema["type"] if k != "null"), schema.get("format"))
        for name, schema in mapper.properties.items()
    }


@pytest.mark.parametrize("with_subfields", [False, True], ids=["no_subfields", "subfields"])
@pytest.mark.parametrize("field_type", sorted(OBJECTS))
def test_an_object_type_splits_into_typed_part_columns(field_type, with_subfields):
    value, columns, types, subfields = OBJECTS[field_type]
    mapper = CustomFieldMapper(
        [defined(field_type, subfields if with_subfields else None)], mode="name"
    )
    assert column_types(mapper) == types
    record: dict = {}
    mapper.flatten(record, {CODE_A: value})
    assert record == columns


def test_subfields_add_parts_the_type_does_not_know():
    mapper = CustomFieldMapper(
        [defined("monetary", [("value", "double"), ("currency", "varchar"), ("rate", "double")])],
        mode="name",
    )
    assert column_types(mapper) == {
        "slot": ("number", None),
        "slot_currency": ("string", None),
        "slot_rate": ("number", None),
    }
    record: dict = {}
    mapper.flatten(record, {CODE_A: {"value": 3.5, "currency": "USD", "rate": 1.1}})
    assert record == {"slot": 3.5, "slot_currency": "USD", "slot_rate": 1.1}


def test_an_object_for_a_scalar_field_keeps_its_value_and_warns_once(caplog):
    mapper = CustomFieldMapper([defined("varchar", None)], mode="name")
    first: dict = {}
    second: dict = {}
    with caplog.at_level(logging.WARNING):
        mapper.flatten(first, {CODE_A: {"value": "Hi", "lang": "en"}})
        mapper.flatten(second, {CODE_A: {"value": "Ho", "lang": "et"}})
    assert first == {"slot": "Hi"}
    assert second == {"slot": "Ho"}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "'Slot'" in warnings[0]
    assert CODE_A in warnings[0]
    assert "lang" in warnings[0]


def test_unknown_parts_of_an_object_are_dropped_with_one_warning(caplog):
    mapper = CustomFieldMapper([defined("daterange", None)], mode="name")
    record: dict = {}
    with caplog.at_level(logging.WARNING):
        mapper.flatten(record, {CODE_A: {"value": "2025-01-02", "until": None, "mood": "ok"}})
        mapper.flatten(record, {CODE_A: {"value": "2025-01-03", "until": None, "mood": "ok"}})
    assert record == {"slot": "2025-01-03", "slot_until": None}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "'Slot'" in warnings[0]
    assert "mood" in warnings[0]


def test_the_v1_split_shape_fills_the_same_columns():
    mapper = CustomFieldMapper([defined("timerange", None)], mode="name")
    record: dict = {}
    mapper.flatten(
        record,
        {
            CODE_A: "09:00:00",
            f"{CODE_A}_until": "10:30:00",
            f"{CODE_A}_timezone_id": 58,
            f"{CODE_A}_timezone_name": "Europe/Berlin",
        },
    )
    assert record == {
        "slot": "09:00:00",
        "slot_until": "10:30:00",
        "slot_timezone_id": 58,
        "slot_timezone_name": "Europe/Berlin",
    }
