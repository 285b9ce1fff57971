"""Deletions in a real PostgreSQL through meltanolabs-target-postgres: the deleted persons,
organizations, activities, products and notes are marked (`_sdc_deleted_at`) in their own tables
by the next load, those read from `/v1/recents` and those only a sweep finds (deleted before the
month recents keeps); no other value of any row changes."""

from __future__ import annotations

import datetime
import typing as t

import pytest

from tests.conftest import TOKEN, moment, unavailable
from tests.emulator import Emulator
from tests.postgres_server import TARGET_VENV, Postgres, load, throwaway_postgres
from tests.singer_run import cli_files

pytestmark = pytest.mark.slow

UTC = datetime.timezone.utc
ENTITIES = ("persons", "organizations", "activities", "products", "notes")
SCHEMA = "deletions"


@pytest.fixture(scope="module")
def postgres() -> t.Iterator[Postgres]:
    if not (TARGET_VENV / "bin" / "target-postgres").exists():
        unavailable(f"target-postgres is not installed in {TARGET_VENV}: `make target-postgres`")
    with throwaway_postgres() as pg:
        yield pg


def rows(pg: Postgres) -> dict[str, dict[int, dict[str, t.Any]]]:
    """Every row of the five tables, by id, as JSON objects."""
    found = pg.query(*(f"SELECT row_to_json(r) FROM {SCHEMA}.{e} r" for e in ENTITIES))
    return {
        entity: {row[0]["id"]: row[0] for row in table}
        for entity, table in zip(ENTITIES, found, strict=True)
    }


def values(row: dict[str, t.Any]) -> dict[str, t.Any]:
    """A row's Pipedrive values (not the target's `_sdc_` columns)."""
    return {column: value for column, value in row.items() if not column.startswith("_sdc_")}


@pytest.fixture(scope="module")
def loads(postgres: Postgres, tmp_path_factory):
    """A first load (sweep on), deletions long ago and just now, a second load."""
    workdir = tmp_path_factory.mktemp("deletions")
    with Emulator(seed=17, scale=300, api_token=TOKEN) as emu:
        tap = cli_files(workdir, emu, [*ENTITIES, "deleted_records"], deletion_sweep_days=0)
        state = load(tap, postgres.port, None, "first", schema=SCHEMA)
        before = rows(postgres)
        now = emu.now().replace(microsecond=0)
        # Deleted 45 days ago: beyond the month /v1/recents keeps, only a sweep finds them.
        old = {e: set(sorted(emu.ids(e))[:3]) for e in ENTITIES}
        for entity, ids in old.items():
            emu.delete(entity, ids, when=now - datetime.timedelta(days=45))
        recent_time = now - datetime.timedelta(seconds=5)
        recent = {e: set(sorted(emu.ids(e))[:2]) for e in ENTITIES}
        for entity, ids in recent.items():
            emu.delete(entity, ids, when=recent_time)
        second_state = load(tap, postgres.port, state, "second", schema=SCHEMA)
        after = rows(postgres)
    swept = second_state["bookmarks"]["deleted_records"].get("last_sweep")
    return before, after, old, recent, recent_time, swept


@pytest.mark.parametrize("entity", ENTITIES)
def test_deleted_rows_are_marked_in_their_own_table(loads, entity):
    _, after, old, recent, _, _ = loads
    marked = {i for i, row in after[entity].items() if row["_sdc_deleted_at"] is not None}
    assert marked == old[entity] | recent[entity]
    assert len(marked) == 5


@pytest.mark.parametrize("entity", ENTITIES)
def test_a_deletion_recents_lists_is_marked_with_its_time_and_a_swept_one_with_the_sweeps(
    loads, entity
):
    _, after, old, recent, recent_time, swept = loads
    table = after[entity]
    assert {moment(table[i]["_sdc_deleted_at"]) for i in recent[entity]} == {recent_time}
    assert {moment(table[i]["_sdc_deleted_at"]) for i in old[entity]} == {moment(swept)}


@pytest.mark.parametrize("entity", ENTITIES)
def test_no_value_of_any_row_changes(loads, entity):
    before, after, _, _, _, _ = loads
    assert {i: values(row) for i, row in after[entity].items()} == {
        i: values(row) for i, row in before[entity].items()
    }


def test_the_first_load_marked_nothing(loads):
    before = loads[0]
    assert [
        (entity, i)
        for entity in ENTITIES
        for i, row in before[entity].items()
        if row.get("_sdc_deleted_at") is not None
    ] == []
