"""The Pipedrive entities a stream can write to: endpoints, writable fields, token costs.

Writes go through v2 where v2 has the entity, v1 for notes and leads. The writable fields are
the properties of the spec's request bodies (create and update share them here; `add_time` is
left out: Pipedrive sets it). Costs are the spec's `x-token-cost`.
"""

from __future__ import annotations

import dataclasses
import typing as t

from pipedrive_api import endpoints
from tap_pipedrive import schemas


@dataclasses.dataclass(frozen=True)
class Entity:
    """One writable Pipedrive entity."""

    name: str
    path: str
    fields: frozenset[str]
    #: The entity's list, read for a match index (the tap reads the same).
    listing: endpoints.Endpoint
    #: The record shape the tap emits: its columns are no custom field's.
    schema: t.Mapping[str, t.Any]
    #: The entity's field definitions (custom fields and standard options), if it has them.
    definitions: endpoints.Endpoint | None = None
    #: Whether bodies take `custom_fields: {code: value}` (v2 entities whose spec says so).
    custom_fields: bool = True
    #: The update method: PATCH, or PUT for v1 notes.
    update_method: str = "PATCH"
    create_cost: int = 5
    update_cost: int = 5
    delete_cost: int = 3
    #: Booleans the body takes as 0/1 (v1 notes' pinning flags).
    flags: frozenset[str] = frozenset()
    #: The natural key a stream may match on without a custom field (`email`, `name`).
    natural_keys: frozenset[str] = frozenset()


#: The fields linking an item to one of another entity, by that entity, in order of preference
#: (a lead's organization is `organization_id`, everyone else's `org_id`).
LINK_FIELDS: dict[str, tuple[str, ...]] = {
    "organizations": ("org_id", "organization_id"),
    "persons": ("person_id",),
    "deals": ("deal_id",),
    "leads": ("lead_id",),
}


def link_field(entity: Entity, linked: str) -> str | None:
    """The field of `entity` that links its items to one of `linked`, if it has one."""
    return next((f for f in LINK_FIELDS.get(linked, ()) if f in entity.fields), None)


def _fields(names: str) -> frozenset[str]:
    return frozenset(names.split())


ENTITIES: dict[str, Entity] = {
    entity.name: entity
    for entity in (
        Entity(
            "organizations",
            "/api/v2/organizations",
            _fields(
                "name owner_id visible_to label_ids address website linkedin industry "
                "annual_revenue employee_count"
            ),
            endpoints.ORGANIZATIONS,
            schemas.ORGANIZATIONS,
            endpoints.ORGANIZATION_FIELDS,
            natural_keys=frozenset({"name"}),
        ),
        Entity(
            "persons",
            "/api/v2/persons",
            _fields(
                "name owner_id org_id emails phones visible_to label_ids postal_address notes im "
                "birthday job_title marketing_status"
            ),
            endpoints.PERSONS,
            schemas.PERSONS,
            endpoints.PERSON_FIELDS,
            natural_keys=frozenset({"email"}),
        ),
        Entity(
            "deals",
            "/api/v2/deals",
            _fields(
                "title owner_id person_id org_id pipeline_id stage_id value currency status "
                "probability lost_reason visible_to close_time won_time lost_time "
                "expected_close_date label_ids"
            ),
            endpoints.DEALS,
            schemas.DEALS,
            endpoints.DEAL_FIELDS,
        ),
        Entity(
            "activities",
            "/api/v2/activities",
            _fields(
                "subject type owner_id deal_id lead_id person_id org_id project_id due_date "
                "due_time duration busy done location participants attendees "
                "public_description priority note"
            ),
            endpoints.ACTIVITIES,
            schemas.ACTIVITIES,
            endpoints.ACTIVITY_FIELDS,
            custom_fields=False,
        ),
        Entity(
            "products",
            "/api/v2/products",
            _fields(
                "name code description unit tax category owner_id is_linkable visible_to prices "
                "billing_frequency billing_frequency_cycles"
            ),
            endpoints.PRODUCTS,
            schemas.PRODUCTS,
            endpoints.PRODUCT_FIELDS,
        ),
        Entity(
            "notes",
            "/v1/notes",
            _fields(
                "content lead_id deal_id person_id org_id project_id task_id user_id "
                "pinned_to_lead_flag pinned_to_deal_flag pinned_to_organization_flag "
                "pinned_to_person_flag pinned_to_project_flag pinned_to_task_flag"
            ),
            endpoints.NOTES,
            schemas.NOTES,
            endpoints.NOTE_FIELDS,
            custom_fields=False,
            flags=_fields(
                "pinned_to_lead_flag pinned_to_deal_flag pinned_to_organization_flag "
                "pinned_to_person_flag pinned_to_project_flag pinned_to_task_flag"
            ),
            update_method="PUT",
            create_cost=10,
            update_cost=10,
            delete_cost=6,
        ),
        Entity(
            "leads",
            "/v1/leads",
            _fields(
                "title owner_id label_ids person_id organization_id value expected_close_date "
                "visible_to was_seen channel channel_id"
            ),
            endpoints.LEADS,
            schemas.LEADS,
            endpoints.DEAL_FIELDS,
            custom_fields=False,
            create_cost=10,
            update_cost=10,
            delete_cost=6,
        ),
    )
}
