"""The target's setting checks and per-stream settings, called directly (pure functions)."""

from __future__ import annotations

from target_pipedrive.settings import load_method_errors, stream_setting, unknown_key_errors

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
