"""Full-table streams announce each full read (ACTIVATE_VERSION); deal children never do."""

from __future__ import annotations

import pytest

from tests.conftest import config_for
from tests.singer_run import discover, sync

DEAL_CHILDREN = ("deal_products", "deal_installments", "dealflow")


def activations(result, stream: str) -> list[int]:
    return [
        m["version"]
        for m in result.messages
        if m["type"] == "ACTIVATE_VERSION" and m["stream"] == stream
    ]


@pytest.fixture(scope="module")
def default_run(emulator):
    return sync(config_for(emulator), streams=["users", "stages", "deals", *DEAL_CHILDREN])


@pytest.mark.parametrize("stream", ["users", "stages"])
def test_a_full_table_stream_activates_the_version_of_its_records(default_run, stream):
    (version,) = activations(default_run, stream)
    records = [m for m in default_run.messages if m["type"] == "RECORD" and m["stream"] == stream]
    assert records
    assert {m["version"] for m in records} == {version}


@pytest.mark.parametrize("stream", ["deals", *DEAL_CHILDREN])
def test_incremental_streams_and_deal_children_send_no_activate_version(default_run, stream):
    assert default_run.records(stream)
    assert activations(default_run, stream) == []


def test_false_turns_activate_version_off(emulator):
    result = sync(
        config_for(emulator, emit_activate_version_messages=False), streams=["users", "stages"]
    )
    assert result.records("users")
    assert [m for m in result.messages if m["type"] == "ACTIVATE_VERSION"] == []


@pytest.mark.parametrize("stream", DEAL_CHILDREN)
def test_deal_children_are_incremental_in_the_catalog(emulator, stream):
    entry = next(
        e for e in discover(config_for(emulator))["streams"] if e["tap_stream_id"] == stream
    )
    (root,) = [m["metadata"] for m in entry["metadata"] if m["breadcrumb"] == []]
    assert root["forced-replication-method"] == "INCREMENTAL"
    expected_key = {"deal_products": "update_time", "dealflow": "log_time"}.get(stream)
    assert root.get("replication-key") == expected_key
