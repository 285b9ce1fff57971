"""The state a run starts from, called directly: translated, checked, or refused in one line.

tests/test_state_files.py runs states through the command line and checks what the run reads;
here each rule of `prepare_state` and `check_state` is pinned in process, with literal states
and literal results (the legacy shapes are those of the singer-io tap-pipedrive 2.x and older).
"""

from __future__ import annotations

import logging

import pytest

from pipedrive_api.errors import ConfigError
from tap_pipedrive.state import bring_back_future, check_state, prepare_state

A = "2024-05-01T10:00:00Z"
B = "2024-06-02T11:30:00Z"
FIX = "Fix or remove it (the stream then starts from `start_date`)."
LOGGER = logging.getLogger("test-state")


def prepared(bookmarks: dict) -> dict:
    """The bookmarks `prepare_state` makes of these."""
    return prepare_state({"bookmarks": bookmarks}, LOGGER)["bookmarks"]


def logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records]


def refusal(state: object) -> str:
    with pytest.raises(ConfigError) as raised:
        prepare_state(state, LOGGER)
    return str(raised.value)


def test_a_state_that_is_no_object_is_refused():
    assert refusal([1]) == "The state is not a JSON object: [1]."


def test_meltanos_wrapping_is_unwrapped_and_said(caplog):
    with caplog.at_level(logging.INFO):
        state = prepare_state({"singer_state": {"bookmarks": {}, "x": 1}}, LOGGER)
    assert state == {"bookmarks": {}, "x": 1}
    assert logged(caplog) == [
        "The state is Meltano's (`meltano state get`): using its `singer_state`."
    ]


def test_a_state_with_bookmarks_beside_a_singer_state_is_this_taps():
    state = {"singer_state": {"bookmarks": {"persons": {}}}, "bookmarks": {}}
    assert prepare_state(state, LOGGER) == state


def test_a_singer_state_that_is_no_object_is_refused():
    assert refusal({"singer_state": "{}"}) == (
        "The state's `singer_state` is not a JSON object: '{}'."
    )


def test_a_state_without_bookmarks_gets_empty_ones():
    assert prepare_state({"currently_syncing": None}, LOGGER) == {
        "currently_syncing": None,
        "bookmarks": {},
    }


def test_bookmarks_that_are_no_object_are_refused():
    assert refusal({"bookmarks": "persons"}) == (
        "The state's `bookmarks` is not a JSON object: 'persons'."
    )


def test_a_stream_state_that_is_no_object_is_refused():
    assert refusal({"bookmarks": {"persons": 7}}) == (
        "The state of stream 'persons' is not a JSON object: 7."
    )


def test_a_long_value_is_cut_short_in_the_refusal():
    assert refusal({"bookmarks": {"persons": ["x" * 100]}}) == (
        f"The state of stream 'persons' is not a JSON object: ['{'x' * 75}...."
    )


def test_a_value_of_80_characters_is_shown_whole_and_one_longer_is_cut():
    assert refusal({"bookmarks": {"persons": ["x" * 76]}}) == (
        f"The state of stream 'persons' is not a JSON object: ['{'x' * 76}']."
    )
    assert refusal({"bookmarks": {"persons": ["x" * 77]}}) == (
        f"The state of stream 'persons' is not a JSON object: ['{'x' * 75}...."
    )


def test_the_legacy_deals_bookmark_resumes_the_live_list_only(caplog):
    with caplog.at_level(logging.INFO):
        assert prepared({"deals": {"update_time": A}}) == {
            "deals": {
                "partitions": [
                    {
                        "context": {"is_archived": False},
                        "replication_key": "update_time",
                        "replication_key_value": A,
                    }
                ]
            }
        }
    assert logged(caplog) == [
        f"Legacy state: stream 'deals' resumes from update_time {A}; its archive, which the "
        "legacy tap did not read, from `start_date` (legacy `update_time`)."
    ]


def test_a_legacy_v1_timestamp_becomes_the_bookmark_in_rfc3339(caplog):
    with caplog.at_level(logging.INFO):
        assert prepared({"persons": {"update_time": "2024-05-01 10:00:00"}}) == {
            "persons": {"replication_key": "update_time", "replication_key_value": A}
        }
    assert logged(caplog) == [
        f"Legacy state: stream 'persons' resumes from update_time {A} (legacy `update_time`)."
    ]


def test_the_oldest_legacy_shape_a_bare_timestamp_is_the_bookmark(caplog):
    with caplog.at_level(logging.INFO):
        assert prepared({"persons": A}) == {
            "persons": {"replication_key": "update_time", "replication_key_value": A}
        }
    assert logged(caplog) == [
        f"Legacy state: stream 'persons' resumes from update_time {A} (legacy bookmark)."
    ]


def test_the_most_specific_legacy_field_is_the_bookmark():
    assert prepared({"persons": {"add_time": A, "update_time": B}}) == {
        "persons": {"replication_key": "update_time", "replication_key_value": B}
    }
    assert prepared({"notes": {"add_time": A, "modified": B}}) == {
        "notes": {"replication_key": "update_time", "replication_key_value": B}
    }


def test_a_legacy_state_with_every_legacy_field_is_translated():
    fields = ("update_time", "modified", "add_time", "log_time", "deal_update_time")
    assert prepared({"dealflow": dict.fromkeys(fields, A)}) == {
        "dealflow": {"deals_updated_since": {"live": A}, "changes_since": {"live": A}}
    }


def test_the_own_state_of_a_stream_this_tap_lacks_is_kept():
    assert prepared({"delete_logs": {"replication_key_value": A}}) == {
        "delete_logs": {"replication_key_value": A}
    }


def test_a_full_table_streams_legacy_bookmark_is_dropped_and_said(caplog):
    with caplog.at_level(logging.INFO):
        assert prepared({"users": {"modified": A}}) == {}
    assert logged(caplog) == [
        "Legacy state: stream 'users' is read in full on every run: its `modified` is not needed."
    ]


def test_a_stream_this_tap_lacks_is_dropped_and_said(caplog):
    with caplog.at_level(logging.INFO):
        assert prepared({"delete_logs": {"update_time": A}}) == {}
    assert logged(caplog) == [
        "Legacy state: stream 'delete_logs' does not exist in this tap: dropped."
    ]


@pytest.mark.parametrize("stream_state", [None, {"update_time": None}])
def test_a_legacy_state_without_a_bookmark_starts_from_start_date(caplog, stream_state):
    with caplog.at_level(logging.INFO):
        assert prepared({"persons": stream_state}) == {}
    assert logged(caplog) == [
        "Legacy state: stream 'persons' has no bookmark: it starts from `start_date`."
    ]


def test_the_legacy_dealflow_bookmarks_become_its_two_watermarks(caplog):
    with caplog.at_level(logging.INFO):
        assert prepared({"dealflow": {"log_time": A, "deal_update_time": B}}) == {
            "dealflow": {"deals_updated_since": {"live": B}, "changes_since": {"live": A}}
        }
    assert logged(caplog) == [
        f"Legacy state: stream 'dealflow' resumes from the deals updated since {B}, their "
        f"changes since {A} (legacy `log_time`, `deal_update_time`)."
    ]


def test_a_legacy_dealflow_log_time_alone_stands_for_both():
    assert prepared({"dealflow": {"log_time": A}}) == {
        "dealflow": {"deals_updated_since": {"live": A}, "changes_since": {"live": A}}
    }


def test_a_legacy_dealflow_add_time_gives_its_changes_watermark():
    assert prepared({"dealflow": {"add_time": A, "deal_update_time": B}}) == {
        "dealflow": {"deals_updated_since": {"live": B}, "changes_since": {"live": A}}
    }


def test_a_legacy_dealflow_deal_update_time_alone_stands_for_both():
    assert prepared({"dealflow": {"deal_update_time": B}}) == {
        "dealflow": {"deals_updated_since": {"live": B}, "changes_since": {"live": B}}
    }


def test_the_legacy_deal_products_bookmark_becomes_its_deals_watermark(caplog):
    with caplog.at_level(logging.INFO):
        assert prepared({"deal_products": {"deal_update_time": B, "update_time": A}}) == {
            "deal_products": {"deals_updated_since": {"live": B}}
        }
    assert logged(caplog) == [
        f"Legacy state: stream 'deal_products' resumes from the deals updated since {B} "
        "(legacy `deal_update_time`, `update_time`)."
    ]


def test_the_legacy_product_variations_bookmark_becomes_its_products_watermark(caplog):
    with caplog.at_level(logging.INFO):
        assert prepared({"product_variations": {"update_time": A}}) == {
            "product_variations": {"products_updated_since": A}
        }
    assert logged(caplog) == [
        f"Legacy state: stream 'product_variations' resumes from the products updated since "
        f"{A} (legacy `update_time`)."
    ]


@pytest.mark.parametrize(
    ("stream_state", "label", "sample"),
    [
        ({"update_time": "yesterday"}, "update_time", "'yesterday'"),
        ({"update_time": 1700000000}, "update_time", "1700000000"),
        ("soon", "bookmark", "'soon'"),
        ({"update_time": "2024-13-45T00:00:00Z"}, "update_time", "'2024-13-45T00:00:00Z'"),
    ],
)
def test_a_legacy_bookmark_that_is_no_timestamp_is_refused(stream_state, label, sample):
    assert refusal({"bookmarks": {"persons": stream_state}}) == (
        f"The state of stream 'persons' has a `{label}` that is not a timestamp: {sample}. {FIX}"
    )


def test_an_empty_stream_state_is_kept():
    assert prepared({"persons": {}}) == {"persons": {}}


def test_the_sdks_markers_of_a_run_in_progress_are_removed():
    marks = {"progress_markers": {"x": 1}, "replication_key_signpost": B}
    partition = {"context": {"is_archived": True}, "starting_replication_value": A}
    assert prepared({"deals": {**marks, "partitions": [{**partition, **marks}]}}) == {
        "deals": {"partitions": [{"context": {"is_archived": True}}]}
    }


def test_a_bookmark_without_its_key_gets_the_streams_replication_key():
    partition = {"context": {"is_archived": True}, "replication_key_value": A}
    assert prepared(
        {"persons": {"replication_key_value": A}, "deals": {"partitions": [partition]}}
    ) == {
        "persons": {"replication_key": "update_time", "replication_key_value": A},
        "deals": {"partitions": [{**partition, "replication_key": "update_time"}]},
    }


def test_a_null_bookmark_gets_no_key():
    assert prepared({"persons": {"replication_key_value": None}}) == {
        "persons": {"replication_key_value": None}
    }


def test_a_full_table_streams_bookmark_gets_no_key():
    assert prepared({"users": {"replication_key_value": A, "x": 1}}) == {
        "users": {"replication_key_value": A, "x": 1}
    }


def test_a_bookmark_on_another_key_is_refused():
    state = {"bookmarks": {"persons": {"replication_key": "add_time", "replication_key_value": A}}}
    assert refusal(state) == (
        "The state of stream 'persons' has a bookmark on `add_time`, not on its replication key "
        f"`update_time`. {FIX}"
    )


@pytest.mark.parametrize(
    "partitions", ["live", [1], [{"replication_key_value": A}], [{"context": 1}]]
)
def test_partitions_that_are_not_objects_with_a_context_are_refused(partitions):
    assert refusal({"bookmarks": {"deals": {"partitions": partitions}}}) == (
        "The state of stream 'deals' has `partitions` that are not a list of objects each with "
        f"a `context`: {partitions!r}. {FIX}"
    )


@pytest.mark.parametrize(
    "watermark", ["deals_updated_since", "items_updated_since", "changes_since"]
)
def test_a_watermark_that_is_no_object_is_refused(watermark):
    assert refusal({"bookmarks": {"dealflow": {watermark: A}}}) == (
        f"The state of stream 'dealflow' has a `{watermark}` that is not a JSON object: "
        f"'{A}'. {FIX}"
    )


def test_check_state_brings_every_timestamp_to_rfc3339_utc():
    v1 = "2024-05-01 10:00:00"
    state = {
        "bookmarks": {
            "persons": {
                "replication_key_value": v1,
                "custom_fields_absent_since": "2024-05-01T12:00:00+02:00",
            },
            "deals": {"partitions": [{"context": {}, "replication_key_value": v1}]},
            "product_variations": {"products_updated_since": v1},
            "dealflow": {
                "deals_updated_since": {"live": v1},
                "items_updated_since": {"archived": v1},
                "changes_since": {"live": v1},
            },
        }
    }
    check_state(state)
    assert state == {
        "bookmarks": {
            "persons": {"replication_key_value": A, "custom_fields_absent_since": A},
            "deals": {"partitions": [{"context": {}, "replication_key_value": A}]},
            "product_variations": {"products_updated_since": A},
            "dealflow": {
                "deals_updated_since": {"live": A},
                "items_updated_since": {"archived": A},
                "changes_since": {"live": A},
            },
        }
    }


def test_check_state_leaves_null_bookmarks_and_no_bookmarks_alone():
    state = {"bookmarks": {"persons": {"replication_key_value": None}}}
    check_state(state)
    assert state == {"bookmarks": {"persons": {"replication_key_value": None}}}
    empty: dict = {"bookmarks": None}
    check_state(empty)
    assert empty == {"bookmarks": None}


def test_check_state_refuses_a_stream_state_that_is_no_object():
    with pytest.raises(ConfigError) as raised:
        check_state({"bookmarks": {"persons": "x"}})
    assert str(raised.value) == "The state of stream 'persons' is not a JSON object."


def test_check_state_names_the_watermark_that_is_no_timestamp():
    with pytest.raises(ConfigError) as raised:
        check_state({"bookmarks": {"dealflow": {"changes_since": {"live": "x"}}}})
    assert str(raised.value) == (
        f"The state of stream 'dealflow' has a `changes_since.live` that is not a timestamp: "
        f"'x'. {FIX}"
    )


def test_a_bookmark_in_the_future_is_brought_back_to_now_with_a_warning(caplog):
    state = {"bookmarks": {"persons": {"replication_key_value": "2999-01-01T00:00:00Z"}}}
    with caplog.at_level(logging.WARNING):
        bring_back_future(state, "2026-07-01T00:00:00Z", LOGGER)
    assert state["bookmarks"]["persons"]["replication_key_value"] == "2026-07-01T00:00:00Z"
    assert logged(caplog) == [
        "The state of stream 'persons' has a `replication_key_value` in the future "
        "(2999-01-01T00:00:00Z): reading from now on instead, so that the stream does not stall."
    ]


def test_every_future_timestamp_of_a_state_comes_back_to_now_and_the_rest_stays(caplog):
    now, past, future = "2026-07-01T00:00:00Z", "2026-06-30T23:59:59Z", "2026-07-01T00:00:01Z"
    state = {
        "bookmarks": {
            "deals": {
                "partitions": [
                    {"context": {"is_archived": False}, "replication_key_value": future,
                     "starting_replication_value": future},
                    {"context": {"is_archived": True}, "replication_key_value": past,
                     "starting_replication_value": past},
                ],
            },
            "dealflow": {"changes_since": {"live": future, "archived": now}},
            "persons": {"replication_key_value": now, "custom_fields_absent_since": future,
                        "starting_replication_value": future},
        }
    }  # fmt: skip
    with caplog.at_level(logging.WARNING):
        bring_back_future(state, now, LOGGER)
    # One warning per timestamp after now; none for one at now.
    assert logged(caplog) == [
        f"The state of stream '{stream}' has a `{label}` in the future ({future}): reading from "
        "now on instead, so that the stream does not stall."
        for stream, label in (
            ("deals", "replication_key_value"),
            ("dealflow", "changes_since.live"),
            ("persons", "custom_fields_absent_since"),
        )
    ]
    assert state == {
        "bookmarks": {
            "deals": {
                "partitions": [
                    {"context": {"is_archived": False}, "replication_key_value": now,
                     "starting_replication_value": now},
                    {"context": {"is_archived": True}, "replication_key_value": past,
                     "starting_replication_value": past},
                ],
            },
            "dealflow": {"changes_since": {"live": now, "archived": now}},
            "persons": {"replication_key_value": now, "custom_fields_absent_since": now,
                        "starting_replication_value": now},
        }
    }  # fmt: skip
