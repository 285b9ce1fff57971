"""The emulated company: every table, built from (seed, scale), and the edits tests make."""

from __future__ import annotations

import dataclasses
import hashlib
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import msgspec

from tests.emulator.account import (
    ActivityTypes,
    CallLogs,
    Files,
    Filters,
    Goals,
    LeadLabels,
    LeadSources,
    PermissionSets,
    Roles,
)
from tests.emulator.boards import PHASE_BOARDS, Boards, Phases
from tests.emulator.changelogs import Changelogs
from tests.emulator.data import (
    Activities,
    Currencies,
    Deals,
    Notes,
    Organizations,
    Persons,
    Pipelines,
    Products,
    Stages,
    Table,
    Users,
)
from tests.emulator.deal_children import DealFlow, DealProducts, Installments
from tests.emulator.deal_extras import DealExtras
from tests.emulator.fields import (
    FieldCatalog,
    FieldDef,
    Refs,
    v1_lead_fields,
    v1_note_fields,
    v2_field,
    value_generator,
)
from tests.emulator.leads import Leads
from tests.emulator.projects import Projects, Tasks
from tests.emulator.stage_moves import StageMoves

#: Largest number of distinct `custom_fields` combinations per entity (see Dataset.custom_rows).
CUSTOM_ROWS = 2048

#: Field-definition entities -> the entity whose fields they describe (v2 `*Fields` endpoints).
FIELD_ENTITIES = {
    "dealFields": "deals",
    "personFields": "persons",
    "organizationFields": "organizations",
    "productFields": "products",
    "activityFields": "activities",
    "projectFields": "projects",
}
V1_FIELD_ENTITIES = ("noteFields", "leadFields")


def canonical(entity: str) -> str:
    """Return an entity's name as the API spells it: `call_logs` is `callLogs`, `deal_fields`
    `dealFields` (stream names may be snake_case)."""
    head, *rest = entity.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class Dataset:
    """Every entity of one emulated company, deterministic from (seed, scale).

    `scale` is the number of deals; the other entities are proportional. Mutations and reads
    that must see a consistent state hold `lock`.
    """

    def __init__(self, seed: int = 1, scale: int = 1000) -> None:
        self.seed = seed
        self.scale = scale
        self.lock = threading.RLock()
        #: The time of a write in nanoseconds since the epoch: the emulator sets its clock.
        self.clock_ns: Callable[[], int] = time.time_ns
        self.fields = FieldCatalog.generate(random.Random(f"{seed}:fields"))
        self._custom = {entity: self.fields.custom(entity) for entity in self.fields.v2}
        self.users = Users(self, 12)
        self.user_ids: Sequence[int] = tuple(self.users.ids())
        self.refs = Refs(
            users=self.user_ids,
            stages=tuple(range(1, 16)),
            deals=max(1, scale),
            persons=max(1, scale // 2),
            orgs=max(1, scale // 5),
            activities=max(1, scale),
            products=max(20, scale // 100),
        )
        self._custom_rows: dict[str, list[tuple[dict[str, Any], tuple[str, ...]]]] = {}
        self._encoded: dict[tuple[str, int, frozenset[str]], msgspec.Raw] = {}
        self._memo: dict[tuple[Any, ...], Any] = {}
        self._cached_generation = -1
        self.currencies = Currencies(self, len(Currencies.LIST))
        self.pipelines = Pipelines(self, 3)
        self.stages = Stages(self, 15)
        self.organizations = Organizations(self, self.refs.orgs)
        self.persons = Persons(self, self.refs.persons)
        self.products = Products(self, self.refs.products)
        self.deals = Deals(self, self.refs.deals)
        self.stage_moves = StageMoves(self)
        self.activities = Activities(self, self.refs.activities)
        self.notes = Notes(self, max(1, scale // 2))
        # Tables added after the first ones: each draws from its own generator, so adding them
        # left the records above as they were.
        self.lead_labels = LeadLabels(self, len(LeadLabels.LIST))
        self.leads = Leads(self, max(1, scale // 4))
        self.projects = Projects(self, max(4, scale // 25))
        self.tasks = Tasks(self, max(10, scale // 5))
        self.files = Files(self, max(1, scale // 5))
        self.deal_products = DealProducts(self, self.refs.deals)
        self.installments = Installments(self, self.refs.deals)
        self.flow = DealFlow(self)
        self.changelogs = Changelogs(self)
        self.extras = DealExtras(self)
        self.tables: dict[str, Table] = {
            t.entity: t
            for t in (
                self.deals,
                self.persons,
                self.organizations,
                self.activities,
                self.products,
                self.pipelines,
                self.stages,
                self.notes,
                self.users,
                self.currencies,
                self.leads,
                self.lead_labels,
                self.projects,
                self.tasks,
                self.files,
                self.deal_products,
                self.installments,
                ActivityTypes(self, len(ActivityTypes.LIST)),
                Filters(self, 12),
                LeadSources(self, len(LeadSources.NAMES)),
                Roles(self, 5),
                PermissionSets(self, len(PermissionSets.LIST)),
                CallLogs(self, max(1, scale // 10)),
                Goals(self, len(Goals.LIST)),
                Boards(self, len(Boards.NAMES)),
                Phases(self, len(PHASE_BOARDS)),
            )
        }

    def table(self, entity: str) -> Table:
        """Return an entity's table; KeyError names the known entities."""
        try:
            return self.tables[canonical(entity)]
        except KeyError:
            raise KeyError(f"unknown entity {entity!r}; known: {sorted(self.tables)}") from None

    def custom_fields(self, entity: str) -> list[FieldDef]:
        """Return the custom field definitions of an entity (empty if it has none)."""
        return self._custom.get(entity, [])

    def custom_rows(self, entity: str) -> list[tuple[dict[str, Any], tuple[str, ...]]]:
        """Return the pool of `custom_fields` objects an entity's records draw theirs from.

        Drawing 30+ values per record would make building a deal cost most of its serving time;
        a pool of up to CUSTOM_ROWS combinations (one per record in small datasets), picked by a
        hash of the id, keeps it cheap and varied.
        Each row comes with the keys of its mutable values, which records must copy.
        """
        rows = self._custom_rows.get(entity)
        if rows is None:
            rng = random.Random(f"{self.seed}:{entity}:custom_fields")
            draws = [(d.code, value_generator(d, self.refs)) for d in self.custom_fields(entity)]
            rows = []
            size = min(CUSTOM_ROWS, len(self.table(entity))) if draws else 0
            for _ in range(size):
                row = {code: draw(rng) for code, draw in draws}
                mutable = tuple(k for k, v in row.items() if isinstance(v, (list, dict)))
                rows.append((row, mutable))
            self._custom_rows[entity] = rows
        return rows

    def option_labels(self, entity: str) -> dict[str, dict[Any, str]]:
        """Return, per enum/set custom field code, its option id -> label."""
        return {d.code: d.labels() for d in self.custom_fields(entity) if d.type in ("enum", "set")}

    def field_definitions(
        self, entity: str, include: frozenset[str] = frozenset()
    ) -> list[dict[str, Any]]:
        """Return a `*Fields` entity's data: v2 shape for v2 entities, v1 for notes/leads."""
        if entity == "noteFields":
            return v1_note_fields()
        if entity == "leadFields":
            return v1_lead_fields(self.fields, self.user_ids[0])
        target = FIELD_ENTITIES[entity]
        return [v2_field(target, d, include) for d in self.fields.v2[target]]

    def encoded(
        self, table: Table, ids: Iterable[int], include: frozenset[str] = frozenset()
    ) -> list[msgspec.Raw]:
        """Return the records as the API shows them, JSON-encoded, for a page to embed.

        Each record is built and encoded once and kept until any table changes: building is
        most of a page's serving time, and the benchmark's floor must measure the client, not
        the emulator.
        """
        self._drop_stale_caches()
        cache, encode, found = self._encoded, msgspec.json.encode, []
        for record_id in ids:
            key = (table.entity, record_id, include)
            raw = cache.get(key)
            if raw is None:
                raw = cache[key] = msgspec.Raw(encode(table.record(record_id, include)))
            found.append(raw)
        return found

    def memo(self, key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
        """Return `build()`, kept under `key` until any table changes.

        For answers that scan whole tables (`/recents`): paging through them would otherwise
        scan and sort again for every page. Callers must not change what they get.
        """
        self._drop_stale_caches()
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]

    def _drop_stale_caches(self) -> None:
        """Forget encoded records and memos once any table has changed since they were made."""
        generation = sum(t.version for t in self.tables.values())
        if generation != self._cached_generation:
            self._encoded.clear()
            self._memo.clear()
            self._cached_generation = generation

    def records(self, entity: str) -> list[dict[str, Any]]:
        """Return every existing record of an entity (deleted and archived ones included)."""
        entity = canonical(entity)
        with self.lock:
            if entity in FIELD_ENTITIES or entity in V1_FIELD_ENTITIES:
                return self.field_definitions(entity)
            table = self.table(entity)
            return [table.record(i) for i in table.ids()]

    # --- edits (callers hold `lock`); ids are the ones the API shows ---
    def retype_field(self, entity: str, name: str, field_type: str) -> str:
        """Change the type of an entity's custom field, as an admin can; return its code.

        Every record's value of the field is drawn again for the new type (Pipedrive converts
        them); no record's `update_time` changes.
        """
        definitions = self.fields.v2[entity]
        index = next(i for i, d in enumerate(definitions) if d.custom and d.name == name)
        definitions[index] = dataclasses.replace(definitions[index], type=field_type, options=None)
        self._custom[entity] = self.fields.custom(entity)
        self._custom_rows.pop(entity, None)
        self.table(entity)._changed()  # records encoded with the old values are rebuilt
        return definitions[index].code

    def add_field(self, entity: str, name: str, field_type: str) -> str:
        """Add a custom field, as an admin can; return its code (from the entity and name).

        Every existing item holds null in it, and no other value changes: the pool of custom
        values is drawn first, without the new field.
        """
        code = hashlib.sha1(f"{entity}:{name}".encode()).hexdigest()
        pool = self.custom_rows(entity)
        self.fields.v2[entity].append(
            FieldDef(code, name, field_type, custom=True, description=f"{name} ({field_type})")
        )
        self._custom[entity] = self.fields.custom(entity)
        for row, _mutable in pool:
            row[code] = None
        table = self.table(entity)
        for overlay in table.written.values():
            if "custom_fields" in overlay:
                overlay["custom_fields"][code] = None
        table._changed()
        return code

    def touch(self, entity: str, ids: Iterable[Any], when: int) -> None:
        """Update records at `when` (in the table's ticks); a touched deal's flow records it."""
        table = self.table(entity)
        rows = [table.row_id(i) for i in ids]
        if table.entity == "deals":
            titles = {row: self.deals.label(row) for row in table.existing(rows)}
            table.touch(rows, when)
            self.flow.record_touch(rows, when, titles)
        else:
            names = {row: table.label(row) for row in table.existing(rows)}
            table.touch(rows, when)
            self.changelogs.record_touch(table.entity, rows, when, names)

    def archive(self, entity: str, ids: Iterable[Any], when: int) -> None:
        """Archive records (deals, leads, projects) at `when`."""
        table = self.table(entity)
        table.archive([table.row_id(i) for i in ids], when)

    def delete(self, entity: str, ids: Iterable[Any], when: int) -> None:
        """Delete records at `when`: deals get `is_deleted`, other records disappear (and the
        time of their deletion is kept for `/recents`)."""
        table = self.table(entity)
        rows = [table.row_id(i) for i in ids]
        if table.entity == "deals":
            self.deals.mark_deleted(rows, when)
        else:
            table.remove(rows, when)
