"""What the run's sinks share: each entity's field definitions, and its match indexes.

Each is read once per run (definitions per entity, an index per entity and key), by whichever
sink needs it first: a stream matching persons by email and a deal linking to persons by
email use one index. Every write of an entity updates its indexes, so a record later in the
run finds the item created or changed a moment ago (a deal linking to a new company).
"""

from __future__ import annotations

import typing as t

from tap_pipedrive.custom_fields import CustomField
from target_pipedrive.fields import CustomFieldWriter
from target_pipedrive.matching import MatchIndex

if t.TYPE_CHECKING:
    import logging

    from target_pipedrive.client import Writer
    from target_pipedrive.entities import Entity


class Lookups:
    """The run's field definitions and match indexes, by entity."""

    def __init__(self) -> None:
        self._definitions: dict[str, list[dict[str, t.Any]]] = {}
        self._custom: dict[str, CustomFieldWriter | None] = {}
        self._indexes: dict[tuple[str, str], MatchIndex] = {}

    def definitions(
        self, entity: Entity, writer: Writer, logger: logging.Logger
    ) -> list[dict[str, t.Any]]:
        """The entity's field definitions (read once), empty for an entity without them."""
        if entity.name not in self._definitions:
            endpoint = entity.definitions
            rows = [] if endpoint is None else writer.definitions(endpoint, logger)
            self._definitions[entity.name] = rows
        return self._definitions[entity.name]

    def custom(
        self, entity: Entity, writer: Writer, logger: logging.Logger
    ) -> CustomFieldWriter | None:
        """The entity's custom fields, when its bodies take them."""
        if entity.name not in self._custom:
            custom = None
            if entity.custom_fields:
                rows = self.definitions(entity, writer, logger)
                fields = [f for row in rows if (f := CustomField.from_definition(row))]
                custom = CustomFieldWriter(fields, reserved=entity.schema["properties"])
            self._custom[entity.name] = custom
        return self._custom[entity.name]

    def index(
        self,
        entity: Entity,
        key: str,
        field: CustomField | None,
        read: t.Callable[[], list[dict[str, t.Any]]],
    ) -> MatchIndex:
        """The entity's items by a key (a custom field's when `field`), `read` the first time."""
        code = field.code if field is not None else None
        found = self._indexes.get((entity.name, code or key))
        if found is None:
            found = MatchIndex(key, code)
            for item in read():
                for value in found.keys_of(item):
                    found.add(value, item)
            self._indexes[entity.name, code or key] = found
        return found

    def written(self, entity: Entity, item: t.Any) -> None:
        """An item this run created or updated: every index of its entity holds it as it is."""
        if not isinstance(item, dict) or "id" not in item:
            return
        for (name, _), index in self._indexes.items():
            if name == entity.name:
                index.put(item)

    def deleted(self, entity: Entity, item_id: t.Any) -> None:
        """An item this run deleted matches no more."""
        for (name, _), index in self._indexes.items():
            if name == entity.name:
                index.forget(item_id)
