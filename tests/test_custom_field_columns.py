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


def test_key_mode_values_equal_the_apis_for_scalars(by_key, emulator):
    raw = raw_deals(emulator)
    scalar = [f for f in codes(emulator).values() if not f.get("subfields")]
    for record in by_key.records("deals"):
        for definition in scalar:
            code = definition["field_code"]
            assert record[code] == raw[record["id"]]["custom_fields"].get(code), code


def test_object_values_split_into_part_columns(by_key, emulator):
    raw = raw_deals(emulator)
    budget = codes(emulator)["Budget"]["field_code"]
    address = codes(emulator)["Delivery address"]["field_code"]
    for record in by_key.records("deals"):
        money = raw[record["id"]]["custom_fields"].get(budget) or {}
        assert record[budget] == money.get("value")
        assert record[f"{budget}_currency"] == money.get("currency")
        place = raw[record["id"]]["custom_fields"].get(address) or {}
        assert record[address] == place.get("value")
        assert record[f"{address}_postal_code"] == place.get("postal_code")


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
    assert {r["id"]: r["budget"] for r in by_name.records("deals")} == key_values


def test_option_labels_replace_ids(with_labels, emulator):
    raw = raw_deals(emulator)
    segment = codes(emulator)["Segment"]
    labels = {option["id"]: option["label"] for option in segment["options"]}
    interests = codes(emulator)["Interests"]
    interest_labels = {option["id"]: option["label"] for option in interests["options"]}
    for record in with_labels.records("deals"):
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
    assert any(raw[r["id"]].get(budget) is not None for r in result.records("leads"))
    for record in result.records("leads"):
        assert record["budget"] == raw[record["id"]].get(budget)
        assert record["budget_currency"] == raw[record["id"]].get(f"{budget}_currency")
        assert record["win_score"] == raw[record["id"]].get(win_score)
        assert budget not in record
