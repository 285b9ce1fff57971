"""The tap reads emulator A, the target writes into emulator B, the tap reads B: same data."""

from __future__ import annotations

import typing as t

import pytest

from tests.conftest import TOKEN, config_for
from tests.emulator import DATASET_NOW, Emulator, writes
from tests.emulator.fields import OPTIONAL_FIELDS
from tests.singer_run import sync
from tests.target_run import target_config, write

ENTITIES = ("organizations", "persons", "deals", "activities", "notes", "products", "leads")
#: Each entity's update operation in the spec: its body names the writable fields.
UPDATES = {
    "organizations": ("v2", "PATCH", "/organizations/{id}"),
    "persons": ("v2", "PATCH", "/persons/{id}"),
    "deals": ("v2", "PATCH", "/deals/{id}"),
    "activities": ("v2", "PATCH", "/activities/{id}"),
    "products": ("v2", "PATCH", "/products/{id}"),
    "notes": ("v1", "PUT", "/notes/{id}"),
    "leads": ("v1", "PATCH", "/leads/{id}"),
}
#: Written state, not data: a copy is live (deletions arrive as `_sdc_deleted_at`).
NOT_COPIED = {"add_time", "is_deleted", "is_archived", "archive_time", "custom_fields"}
#: A field the copy does not hold at all.
MISSING = "(missing)"


def body_fields(entity: str) -> set[str]:
    """The properties of the entity's update body, from the spec (its digest in operations.json)."""
    return set(writes.body_schema(*UPDATES[entity])[1])


def takes_custom_fields(entity: str) -> bool:
    return "custom_fields" in body_fields(entity)


def without_nulls(value: t.Any) -> t.Any:
    """Nested objects without their null members (a written item keeps only what was sent)."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def creation_order(emu: Emulator, entity: str, ids: t.Iterable[t.Any]) -> list[t.Any]:
    """Ids in the order their items were created (row order; lead ids are UUIDs)."""
    table = emu.data.table(entity)
    return sorted(ids, key=table.row_id)


#: How the tap names custom-field columns: by code with option ids; by name with labels.
READS = {
    "codes": {"custom_field_names": "key"},
    "names-and-labels": {"custom_field_names": "name", "option_labels": True},
}


@pytest.fixture(scope="module", params=list(READS))
def copied(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> t.Iterator[tuple[Emulator, Emulator, dict[str, t.Any], dict[str, list[t.Any]]]]:
    """A copied into B by tap | target-pipedrive (append-only).

    B has A's seed, so the same field definitions (custom field codes and options); only the
    items B creates are compared. Yields A, B, the tap settings, and per entity the pairs
    (A's id, the id of its copy in B).
    """
    reads = READS[request.param]
    with (
        Emulator(seed=5, scale=40, api_token=TOKEN) as a,
        Emulator(seed=5, scale=40, api_token=TOKEN, now=DATASET_NOW) as b,
    ):
        before = {entity: b.all_ids(entity) for entity in ENTITIES}
        read = sync(config_for(a, **reads), streams=ENTITIES)
        write(
            target_config(b, tmp_path_factory.mktemp("rejects"), load_method="append-only"),
            read.messages,
        )
        # Written a minute ago: the tap's read of B ends at B's now (its window excludes it).
        b.advance(60)
        pairs = {
            entity: list(
                zip(
                    [r["id"] for r in read.records(entity)],
                    creation_order(b, entity, b.all_ids(entity) - before[entity]),
                    strict=True,
                )
            )
            for entity in ENTITIES
        }
        yield a, b, reads, pairs


def stored(emu: Emulator, entity: str, item_id: t.Any) -> dict[str, t.Any]:
    """An item as the emulator holds it, with every field `include_fields` can ask for."""
    table = emu.data.table(entity)
    return table.record(
        table.row_id(item_id), include=[n for n, _ in OPTIONAL_FIELDS.get(entity, ())]
    )


def written(emu: Emulator, entity: str, item_id: t.Any) -> dict[str, t.Any]:
    """What the writes stored of an item (nothing generated shows through)."""
    table = emu.data.table(entity)
    return table.written[table.row_id(item_id)]


@pytest.mark.parametrize("entity", ENTITIES)
def test_every_item_is_copied_with_its_writable_fields(copied, entity):
    a, b, _, pairs = copied
    fields = sorted(body_fields(entity) - NOT_COPIED)
    assert len(pairs[entity]) == len(a.records(entity))
    originals = {a_id: stored(a, entity, a_id) for a_id, _ in pairs[entity]}
    for a_id, b_id in pairs[entity]:
        copy = written(b, entity, b_id)
        assert {field: without_nulls(copy.get(field, MISSING)) for field in fields} == {
            field: without_nulls(originals[a_id].get(field)) for field in fields
        }
    # Each compared field holds a value in some item: no field passes as `None == None`.
    empty = {
        f
        for f in fields
        if not any(without_nulls(o.get(f)) not in (None, [], {}, "") for o in originals.values())
    }
    assert empty == set()


@pytest.mark.parametrize("entity", [e for e in ENTITIES if takes_custom_fields(e)])
def test_custom_fields_of_every_type_are_copied(copied, entity):
    a, b, _, pairs = copied
    custom_a = {r["id"]: r["custom_fields"] for r in a.records(entity)}
    custom_b = {r["id"]: r["custom_fields"] for r in b.records(entity)}
    for a_id, b_id in pairs[entity]:
        assert custom_b[b_id] == custom_a[a_id]
    types = {d.code: d.type for d in a.data.custom_fields(entity)}
    copied_types = {types[c] for a_id, _ in pairs[entity] for c, v in custom_a[a_id].items() if v}
    assert copied_types == set(types.values())
