"""The v2 lists ask for every value of their `include_fields` (from the spec): each arrives as a
column holding the emulator's value, and the emulator fills every one of them somewhere."""

from __future__ import annotations

import pytest

from tests.conftest import config_for
from tests.emulator import spec
from tests.singer_run import sync

#: The v2 lists whose spec offers `include_fields`, by stream.
LISTS = {
    "deals": "/deals",
    "persons": "/persons",
    "organizations": "/organizations",
    "activities": "/activities",
}


def included(stream: str) -> list[str]:
    """The spec's `include_fields` values of a stream's list."""
    return list(spec.load().get("v2", "GET", LISTS[stream]).parameter_enum("include_fields"))


@pytest.fixture(scope="module")
def synced(emulator):
    return sync(config_for(emulator), streams=list(LISTS))


@pytest.mark.parametrize("stream", LISTS)
def test_every_included_field_holds_the_emulators_value(synced, emulator, stream):
    fields = included(stream)
    table = emulator.data.table(stream)
    records = synced.records(stream)
    assert len(records) == len(emulator.all_ids(stream))
    for record in records:
        expected = table.record(record["id"], fields)
        assert {f: record[f] for f in fields} == {f: expected[f] for f in fields}


@pytest.mark.parametrize("stream", LISTS)
def test_every_included_field_is_filled_in_some_record(synced, stream):
    records = synced.records(stream)
    empty = [f for f in included(stream) if all(r[f] in (None, []) for r in records)]
    assert empty == []
