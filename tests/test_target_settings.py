"""The target's setting checks and per-stream settings, called directly (pure functions)."""

from __future__ import annotations

from target_pipedrive.settings import (
    link_errors,
    load_method_errors,
    stream_setting,
    unknown_key_errors,
)

KNOWN = ("api_token", "streams", "load_method", "null_values")


def test_known_settings_are_no_error():
    config = {
        "api_token": "t",
        "streams": {"contacts": {"entity": "persons", "match_key": "email"}},
    }
    assert unknown_key_errors(config, KNOWN) == []


def test_an_unknown_setting_is_named_with_the_closest_known_one():
    assert unknown_key_errors({"api_tokn": "t"}, KNOWN) == [
        "Unknown setting `api_tokn` (did you mean `api_token`?)."
    ]


def test_a_setting_half_like_a_known_one_is_named_with_it():
    assert unknown_key_errors({"load": "upsert"}, KNOWN) == [
        "Unknown setting `load` (did you mean `load_method`?)."
    ]


def test_unknown_settings_at_the_top_and_in_streams_are_all_named():
    config = {"zzz": 1, "streams": {"contacts": {"yyy": 2}}}
    assert unknown_key_errors(config, KNOWN) == [
        "Unknown setting `zzz`.",
        "Unknown setting `yyy` in `streams.contacts`.",
    ]


def test_an_unknown_setting_like_no_known_one_is_named_alone():
    assert unknown_key_errors({"zzz": 1}, KNOWN) == ["Unknown setting `zzz`."]


def test_a_setting_of_an_earlier_version_names_its_replacement():
    assert unknown_key_errors({"mode": "upsert"}, KNOWN) == [
        "Unknown setting `mode` (replaced by `load_method`)."
    ]


def test_an_unknown_key_of_a_streams_entry_is_named_with_the_closest_stream_key():
    config = {"streams": {"contacts": {"entity": "persons", "matchkey": "email", "mode": "x"}}}
    assert unknown_key_errors(config, KNOWN) == [
        "Unknown setting `matchkey` in `streams.contacts` (did you mean `match_key`?).",
        "Unknown setting `mode` in `streams.contacts` (replaced by `load_method`).",
    ]


def test_streams_entries_that_are_no_objects_are_left_to_the_json_schema():
    assert unknown_key_errors({"streams": {"a": "persons", "b": {"x_y_z_w": 1}}}, KNOWN) == [
        "Unknown setting `x_y_z_w` in `streams.b`."
    ]
    assert unknown_key_errors({"streams": ["a"]}, KNOWN) == []


def test_overwrite_is_refused_at_the_top_and_in_each_stream():
    config = {
        "load_method": "overwrite",
        "streams": {"a": {"load_method": "upsert"}, "b": {"load_method": "overwrite"}, "c": 1},
    }
    reason = (
        "is 'overwrite': target-pipedrive writes by `upsert` (the default) or `append-only`, "
        "and never deletes the items an input lacks."
    )
    assert load_method_errors(config) == [
        f"`load_method` {reason}",
        f"`streams.b.load_method` {reason}",
    ]


def test_upsert_and_append_only_are_no_error():
    assert load_method_errors({"load_method": "append-only", "streams": "x"}) == []


def test_a_streams_setting_wins_over_the_top_level_and_the_default():
    assert (
        stream_setting(
            {"load_method": "upsert"}, {"load_method": "append-only"}, "load_method", "d"
        )
        == "append-only"
    )
    assert stream_setting({"load_method": "upsert"}, {}, "load_method", "d") == "upsert"
    assert stream_setting({}, {"load_method": None}, "load_method", "skip") == "skip"


# --- links (streams.<stream>.links.<column>) ---

WHERE = "`streams.contacts.links.company_key`"


def contacts_link(**link):
    return {"streams": {"contacts": {"entity": "persons", "links": {"company_key": link}}}}


def test_an_unknown_key_of_a_link_is_named_with_the_closest_link_key():
    config = contacts_link(entity="organizations", matchkey="name")
    assert unknown_key_errors(config, KNOWN) == [
        "Unknown setting `matchkey` in `streams.contacts.links.company_key` "
        "(did you mean `match_key`?)."
    ]


def test_links_that_are_no_objects_are_left_to_the_json_schema():
    config = {"streams": {"contacts": {"links": {"a": "x", "b": {"zzz": 1}}}}}
    assert unknown_key_errors(config, KNOWN) == [
        "Unknown setting `zzz` in `streams.contacts.links.b`."
    ]
    assert unknown_key_errors({"streams": {"contacts": {"links": ["a"]}}}, KNOWN) == []
    assert link_errors({"streams": {"contacts": {"entity": "persons", "links": ["a"]}}}) == []


def test_a_link_to_a_known_entity_by_its_default_field_is_no_error():
    assert link_errors(contacts_link(entity="organizations", match_key="name")) == []


def test_a_link_naming_a_writable_field_is_no_error():
    assert link_errors(contacts_link(entity="organizations", match_key="id", field="org_id")) == []


def test_a_stream_without_entity_is_the_entity_of_its_name():
    config = {"streams": {"deals": {"links": {"k": {"entity": "persons", "match_key": "email"}}}}}
    assert link_errors(config) == []
    orgs = {"streams": {"organizations": {"links": {"k": {"entity": "deals", "match_key": "t"}}}}}
    assert link_errors(orgs) == [
        "`streams.organizations.links.k`: organizations have no field linking them to deals: "
        "name the field receiving the id with `field`."
    ]


def test_a_link_without_entity_and_match_key_names_both():
    assert link_errors(contacts_link()) == [f"{WHERE} needs `entity` and `match_key`."]


def test_a_link_without_match_key_names_it():
    assert link_errors(contacts_link(entity="organizations")) == [f"{WHERE} needs `match_key`."]


def test_a_link_to_no_entity_names_the_closest_one():
    assert link_errors(contacts_link(entity="organisations", match_key="name")) == [
        f"{WHERE}: `entity` 'organisations' is no Pipedrive entity (did you mean `organizations`?)."
    ]


def test_a_link_to_no_entity_like_any_lists_them_all():
    assert link_errors(contacts_link(entity="zzz", match_key="name")) == [
        f"{WHERE}: `entity` 'zzz' is no Pipedrive entity (one of activities, deals, leads, notes, "
        "organizations, persons, products)."
    ]


def test_a_field_that_is_not_writable_names_the_closest_one():
    assert link_errors(contacts_link(entity="organizations", match_key="name", field="orgid")) == [
        f"{WHERE}: `field` 'orgid' is not a writable field of persons (did you mean `org_id`?)."
    ]


def test_a_link_with_an_unknown_key_is_reported_by_that_key_alone():
    assert link_errors(contacts_link(entity="zzz", matchkey="name")) == []


def test_a_stream_of_no_entity_is_reported_when_its_records_arrive():
    config = {"streams": {"contacts": {"entity": "zzz", "links": {"k": {"entity": "deals"}}}}}
    assert link_errors(config) == ["`streams.contacts.links.k` needs `match_key`."]
    config = {"streams": {"x": {"links": {"k": {"entity": "deals", "match_key": "title"}}}}}
    assert link_errors(config) == []


def test_links_of_every_stream_are_all_reported():
    config = {
        "streams": {
            "a": {"entity": "persons", "links": {"k": {"entity": "organizations"}}},
            "b": "persons",
            "c": {"entity": "deals", "links": {"k": {"entity": "organisations", "match_key": "n"}}},
        }
    }
    assert link_errors(config) == [
        "`streams.a.links.k` needs `match_key`.",
        "`streams.c.links.k`: `entity` 'organisations' is no Pipedrive entity "
        "(did you mean `organizations`?).",
    ]
    assert link_errors({"streams": "x"}) == []
