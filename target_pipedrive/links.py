"""Links between objects: a column holding the warehouse's key of another item.

`streams.<stream>.links.<column>: {entity, match_key, field}`: the column is not sent; the id
of the one item of `entity` whose `match_key` holds its value goes into `field` (by default
the field linking the two entities: `org_id`, a lead's `organization_id`, `person_id`,
`deal_id`, `lead_id`). The settings are checked before any request (`settings.link_errors`).
"""

from __future__ import annotations

import dataclasses
import typing as t

from target_pipedrive.entities import ENTITIES, Entity, link_field


@dataclasses.dataclass(frozen=True)
class Link:
    """One link column of a stream."""

    column: str
    #: The entity the column points at.
    entity: Entity
    #: The field of `entity` holding the column's values (`id`, a field, a custom field).
    match_key: str
    #: The field of the stream's entity receiving the id.
    field: str


def links_of(settings: t.Mapping[str, t.Any], entity: Entity) -> list[Link]:
    """A stream's links, from its `streams` entry (already checked)."""
    links = settings.get("links") or {}
    return [
        Link(
            column,
            ENTITIES[link["entity"]],
            link["match_key"],
            link.get("field") or t.cast("str", link_field(entity, link["entity"])),
        )
        for column, link in links.items()
    ]
