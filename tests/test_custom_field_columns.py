"""Custom fields through a real sync: typed columns in the SCHEMA, values flattened into records."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import config_for
from tests.singer_run import discover, select, sync


def codes(emulator) -> dict[str, dict]:
    """Deal custom field definitions by name."""
    return {f["field_name"]: f for f in emulator.records("dealFields") if f["is_custom_field"]}


@pytest.fixture(scope="module")
def by_key(emulator):
    return sync(config_for(emulator), streams=["deals"])


@pytest.fixture(scope="module")
def by_name(emulator):
    return sync(config_for(emulator, custom_field_names="name"), streams=["deals"])


@pytest.fixture(scope="module")
def with_labels(emulator):
    return sync(
        config_for(emulator, custom_field_names="name", option_labels=True), streams=["deals"]
    )


def raw_deals(emulator) -> dict[int, dict]:
    return {d["id"]: d for d in emulator.records("deals")}


def test_every_custom_field_is_a_column_named_by_its_code(by_key, emulator):
    properties = by_key.schema("deals")["schema"]["properties"]
    assert {f["field_code"] for f in codes(emulator).values()} <= set(properties)
    assert "custom_fields" not in properties


#: The emulator's deal custom fields holding one value (by name), and the object-valued ones
#: with the parts of their v2 values (written from the spec and the emulator's data).
SCALAR_FIELDS = (
    "Contract length (months)", "Win score", "Renewal", "Lead Source", "Lead source!",
    "Notes for finance", "Billing phone", "Delivery method", "Competitor", "Kick-off date",
    "Segment", "Interests", "Parent deal", "Related deals", "Source lead", "Billing organization",
    "Champion", "Implementation project", "Target stage", "Account manager",
    "Follow-up activity", "Integration payload", "Signed contract scan", "Approval status",
    "Partner visibility", "Price list", "Billing frequency", "Delivery board", "Delivery phase",
)  # fmt: skip
OBJECT_FIELDS = {
    "Budget": ("value", "currency"),
    "Contract period": ("value", "until"),
    "Preferred call time": ("value", "timezone_id", "timezone_name"),
    "Support hours": ("value", "until", "timezone_id", "timezone_name"),
    "Delivery address": (
        "value", "street_number", "route", "subpremise", "sublocality", "locality",
        "admin_area_level_1", "admin_area_level_2", "country", "postal_code", "formatted_address",
    ),
}  # fmt: skip
#: (JSON type, format) of each column of the object-valued fields, by part.
OBJECT_COLUMN_TYPES = {
    "Budget": {"value": ("number", None), "currency": ("string", None)},
    "Contract period": {"value": ("string", "date"), "until": ("string", "date")},
    "Preferred call time": {
        "value": ("string", "time"),
        "timezone_id": ("integer", None),
        "timezone_name": ("string", None),
    },
    "Support hours": {
        "value": ("string", "time"),
        "until": ("string", "time"),
        "timezone_id": ("integer", None),
        "timezone_name": ("string", None),
    },
    "Delivery address": {part: ("string", None) for part in OBJECT_FIELDS["Delivery address"]},
}


def column(code: str, part: str) -> str:
    return code if part == "value" else f"{code}_{part}"


def test_the_emulators_definitions_list_subfields_only_for_address_and_monetary(emulator):
    listed = {name for name, f in codes(emulator).items() if f["subfields"] is not None}
    assert listed == {"Budget", "Delivery address"}


def test_key_mode_values_equal_the_apis_for_scalars(by_key, emulator):
    raw = raw_deals(emulator)
    fields = codes(emulator)
    assert set(fields) == {*SCALAR_FIELDS, *OBJECT_FIELDS, "Größe des Kunden (m²) 🚀", "顧客ランク"}
    records = by_key.records("deals")
    assert {r["id"] for r in records} == set(emulator.all_ids("deals"))
    for name in SCALAR_FIELDS:
        code = fields[name]["field_code"]
        assert any(raw[r["id"]]["custom_fields"].get(code) is not None for r in records), name
        for record in records:
            assert record[code] == raw[record["id"]]["custom_fields"].get(code), name


@pytest.mark.parametrize("name", sorted(OBJECT_FIELDS))
def test_object_values_split_into_part_columns(by_key, emulator, name):
    raw = raw_deals(emulator)
    code = codes(emulator)[name]["field_code"]
    seen = 0
    for record in by_key.records("deals"):
        value = raw[record["id"]]["custom_fields"].get(code)
        seen += value is not None
        expected = {column(code, p): (value or {}).get(p) for p in OBJECT_FIELDS[name]}
        assert {c: record[c] for c in expected} == expected
    assert seen


@pytest.mark.parametrize("name", sorted(OBJECT_FIELDS))
def test_object_part_columns_are_typed_by_the_field_type(by_key, emulator, name):
    properties = by_key.schema("deals")["schema"]["properties"]
    code = codes(emulator)[name]["field_code"]
    columns = {c for c in properties if c.startswith(code)}
    assert columns == {column(code, p) for p in OBJECT_FIELDS[name]}
    assert {
        part: (next(k for k in properties[column(code, part)]["type"] if k != "null"),
               properties[column(code, part)].get("format"))
        for part in OBJECT_FIELDS[name]
    } == OBJECT_COLUMN_TYPES[name]  # fmt: skip


def test_column_types_follow_the_field_types(by_key, emulator):
    properties = by_key.schema("deals")["schema"]["properties"]
    fields = codes(emulator)
    assert properties[fields["Win score"]["field_code"]]["type"] == ["number", "null"]
    assert properties[fields["Contract length (months)"]["field_code"]]["type"] == [
        "integer",
        "null",
    ]
    assert properties[fields["Kick-off date"]["field_code"]]["format"] == "date"
    assert properties[fields["Interests"]["field_code"]]["items"] == {"type": "integer"}
    budget = fields["Budget"]["field_code"]
    assert properties[budget]["type"] == ["number", "null"]
    assert properties[f"{budget}_currency"]["type"] == ["string", "null"]
    assert properties[budget]["description"].startswith("Budget")


def test_name_mode_uses_readable_unique_names(by_name, emulator):
    properties = by_name.schema("deals")["schema"]["properties"]
    fields = codes(emulator)
    assert {"budget", "budget_currency", "win_score", "delivery_address_locality"} <= set(
        properties
    )
    lead_sources = {
        f"lead_source_{fields['Lead Source']['field_code'][:8]}",
        f"lead_source_{fields['Lead source!']['field_code'][:8]}",
    }
    assert lead_sources <= set(properties)
    assert "lead_source" not in properties
    assert "grosse_des_kunden_m2" in properties
    assert fields["顧客ランク"]["field_code"][:8] in properties
    assert not {f["field_code"] for f in fields.values()} & set(properties)


def test_name_mode_values_match_key_mode(by_key, by_name, emulator):
    budget = codes(emulator)["Budget"]["field_code"]
    key_values = {r["id"]: r[budget] for r in by_key.records("deals")}
    assert set(key_values) == set(emulator.all_ids("deals"))
    assert any(value is not None for value in key_values.values())
    assert {r["id"]: r["budget"] for r in by_name.records("deals")} == key_values


def test_option_labels_replace_ids(with_labels, emulator):
    raw = raw_deals(emulator)
    segment = codes(emulator)["Segment"]
    labels = {option["id"]: option["label"] for option in segment["options"]}
    interests = codes(emulator)["Interests"]
    interest_labels = {option["id"]: option["label"] for option in interests["options"]}
    records = with_labels.records("deals")
    assert {r["id"] for r in records} == set(emulator.all_ids("deals"))
    for field in (segment, interests):
        assert any(raw[r["id"]]["custom_fields"].get(field["field_code"]) for r in records)
    for record in records:
        values = raw[record["id"]]["custom_fields"]
        chosen = values.get(segment["field_code"])
        assert record["segment"] == (labels[chosen] if chosen is not None else None)
        chosen = values.get(interests["field_code"])
        expected = [interest_labels[i] for i in chosen] if chosen is not None else None
        assert record["interests"] == expected
    assert with_labels.schema("deals")["schema"]["properties"]["segment"]["type"] == [
        "string",
        "null",
    ]


def test_a_field_created_after_discovery_is_named_in_a_warning(emulator, caplog):
    catalog = select(discover(config_for(emulator)), ["deals"])
    budget = codes(emulator)["Budget"]["field_code"]
    entry = next(s for s in catalog["streams"] if s["tap_stream_id"] == "deals")
    # The catalog predates the field: it has neither its column nor its metadata.
    del entry["schema"]["properties"][budget]
    entry["metadata"] = [m for m in entry["metadata"] if m["breadcrumb"] != ["properties", budget]]
    with caplog.at_level(logging.WARNING):
        result = sync(config_for(emulator), catalog=catalog)
    assert budget not in result.schema("deals")["schema"]["properties"]
    assert all(budget not in record for record in result.records("deals"))
    assert any(budget in message and "--discover" in message for message in caplog.messages)
    assert result.ids("deals") == set(emulator.all_ids("deals"))


def test_a_deleted_field_leaves_its_column_empty_and_the_sync_whole(emulator):
    catalog = select(discover(config_for(emulator)), ["deals"])
    entry = next(s for s in catalog["streams"] if s["tap_stream_id"] == "deals")
    gone = "0" * 40
    entry["schema"]["properties"][gone] = {"type": ["string", "null"]}
    result = sync(config_for(emulator), catalog=catalog)
    assert result.ids("deals") == set(emulator.all_ids("deals"))
    assert all(record.get(gone) is None for record in result.records("deals"))


def test_lead_custom_fields_in_the_v1_split_shape_fill_the_same_columns(emulator):
    result = sync(config_for(emulator, custom_field_names="name"), streams=["leads"])
    raw = {lead["id"]: lead for lead in emulator.records("leads")}
    budget = codes(emulator)["Budget"]["field_code"]
    win_score = codes(emulator)["Win score"]["field_code"]
    hours = codes(emulator)["Support hours"]["field_code"]
    assert any(raw[r["id"]].get(budget) is not None for r in result.records("leads"))
    for record in result.records("leads"):
        assert record["budget"] == raw[record["id"]].get(budget)
        assert record["budget_currency"] == raw[record["id"]].get(f"{budget}_currency")
        assert record["win_score"] == raw[record["id"]].get(win_score)
        for part in ("until", "timezone_id", "timezone_name"):
            assert record[f"support_hours_{part}"] == raw[record["id"]].get(f"{hours}_{part}")
        assert budget not in record
    assert any(raw[r["id"]].get(f"{hours}_timezone_id") for r in result.records("leads"))
