"""Each stream's declaration agrees with Pipedrive's official spec: cost, page size, parameters."""

from __future__ import annotations

import pytest

from pipedrive_api.endpoints import (
    ACTIVITY_INCLUDE_FIELDS,
    DEAL_INCLUDE_FIELDS,
    ORGANIZATION_INCLUDE_FIELDS,
    PERSON_INCLUDE_FIELDS,
)
from tap_pipedrive.streams import STREAM_TYPES
from tests.emulator import spec

BY_NAME = {stream.name: stream for stream in STREAM_TYPES}


def operation(path: str) -> spec.Operation:
    """The spec's GET operation behind a stream path (`/api/v2/x` or `/v1/x`)."""
    return spec.load().operation("GET", path.replace("{deal_id}", "1"))


#: The streams that call an endpoint (`deal_stage_history` is made of dealflow's calls).
CALLING = [stream for stream in STREAM_TYPES if getattr(stream, "path", None)]


@pytest.mark.parametrize("stream", CALLING, ids=lambda s: s.name)
def test_token_cost_is_the_specs(stream):
    assert stream.token_cost == operation(stream.path).cost


@pytest.mark.parametrize(
    "stream", [s for s in STREAM_TYPES if s.archived_token_cost is not None], ids=lambda s: s.name
)
def test_archive_token_cost_is_the_specs(stream):
    assert stream.archived_token_cost == operation(f"{stream.path}/archived").cost


@pytest.mark.parametrize(
    ("stream", "fields"),
    [
        ("deals", DEAL_INCLUDE_FIELDS),
        ("persons", PERSON_INCLUDE_FIELDS),
        ("organizations", ORGANIZATION_INCLUDE_FIELDS),
        ("activities", ACTIVITY_INCLUDE_FIELDS),
    ],
)
def test_include_fields_is_the_whole_enum_of_the_spec(stream, fields):
    enum = operation(BY_NAME[stream].path).parameter_enum("include_fields")
    assert sorted(fields) == sorted(enum)


@pytest.mark.parametrize(
    ("stream", "fields"),
    [
        ("deals", DEAL_INCLUDE_FIELDS),
        ("persons", PERSON_INCLUDE_FIELDS),
        ("organizations", ORGANIZATION_INCLUDE_FIELDS),
        ("activities", ACTIVITY_INCLUDE_FIELDS),
    ],
)
def test_included_fields_are_schema_columns(stream, fields):
    assert set(fields) <= set(BY_NAME[stream].base_schema["properties"])


@pytest.mark.parametrize(
    "stream",
    [s for s in STREAM_TYPES if isinstance(s.replication_key, str) and s.windowed],
    ids=lambda s: s.name,
)
def test_incremental_streams_filter_on_the_server(stream):
    # /v1/recents (deleted_records) takes `since_timestamp`.
    assert {"updated_since", "since_timestamp"} & operation(stream.path).parameters


@pytest.mark.parametrize("stream", CALLING, ids=lambda s: s.name)
def test_every_query_parameter_the_tap_sends_is_in_the_spec(stream):
    assert set(stream.extra_params) <= operation(stream.path).parameters


@pytest.mark.parametrize("stream", STREAM_TYPES, ids=lambda s: s.name)
def test_primary_key_and_replication_key_are_columns(stream):
    columns = set(stream.base_schema["properties"])
    assert set(stream.primary_keys) <= columns
    key = stream.replication_key
    assert not isinstance(key, str) or key in columns


def test_stream_names_are_unique():
    assert len(BY_NAME) == len(STREAM_TYPES)
