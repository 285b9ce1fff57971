"""The CRM entities: persons, organizations, activities, products, notes, leads, files, calls.

Deals, with what hangs off them, are in `deals.py`.
"""

from __future__ import annotations

import typing as t

from pipedrive_api import endpoints
from tap_pipedrive import schemas
from tap_pipedrive.lists import V1Stream, V2Stream
from tap_pipedrive.streams.deals import BatchingStream

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


class PersonsStream(BatchingStream):
    """Persons (contacts); they feed `person_changes` in batches."""

    name = "persons"
    path = endpoints.PERSONS.path
    primary_keys = ("id",)
    swept = True
    replication_key = "update_time"
    base_schema = schemas.PERSONS
    fields_stream = "person_fields"
    extra_params = dict(endpoints.PERSONS.params)


class OrganizationsStream(BatchingStream):
    """Organizations; they feed `organization_changes` in batches."""

    name = "organizations"
    path = endpoints.ORGANIZATIONS.path
    primary_keys = ("id",)
    swept = True
    replication_key = "update_time"
    base_schema = schemas.ORGANIZATIONS
    fields_stream = "organization_fields"
    extra_params = dict(endpoints.ORGANIZATIONS.params)


class ActivitiesStream(V2Stream):
    """Activities (calls, meetings, tasks, ...)."""

    name = "activities"
    path = endpoints.ACTIVITIES.path
    primary_keys = ("id",)
    swept = True
    replication_key = "update_time"
    base_schema = schemas.ACTIVITIES
    fields_stream = "activity_fields"
    extra_params = dict(endpoints.ACTIVITIES.params)


class ProductsStream(V2Stream):
    """Products; the endpoint has `updated_since` but no `updated_until`: bounded client-side."""

    name = "products"
    path = endpoints.PRODUCTS.path
    primary_keys = ("id",)
    swept = True
    replication_key = "update_time"
    base_schema = schemas.PRODUCTS
    fields_stream = "product_fields"
    has_updated_until = False

    # The read may start below this stream's own bookmark, for a lagging `product_variations`.
    check_sorted = False

    def starting_bookmark(self, context: Context | None) -> str | None:
        """The oldest bookmark among the selected consumers of the products list."""
        marks = [super().starting_bookmark(context)] if self.selected else []
        marks += [child.watermark() for child in self.child_streams if child.selected]  # type: ignore[attr-defined]
        return None if None in marks else min(t.cast("list[str]", marks), default=None)

    def get_child_context(
        self, record: dict[str, t.Any], context: Context | None
    ) -> dict[str, t.Any]:
        """The product: `product_variations` is read per product, in `update_time` order."""
        return {"product_id": record["id"], "update_time": record["update_time"]}


class NotesStream(V1Stream):
    """Notes on deals, persons, organizations, leads and projects (v1; bounded client-side)."""

    name = "notes"
    path = endpoints.NOTES.path
    primary_keys = ("id",)
    swept = True
    replication_key = "update_time"
    base_schema = schemas.NOTES
    fields_stream = "note_fields"
    token_cost = endpoints.NOTES.cost


class LeadsStream(V1Stream):
    """Leads, live and archived (`/v1/leads/archived`, which has no `updated_since`)."""

    name = "leads"
    path = endpoints.LEADS.path
    primary_keys = ("id",)
    replication_key = "update_time"
    base_schema = schemas.LEADS
    fields_stream = "deal_fields"  # leads carry the deal custom fields, as top-level keys
    custom_fields_nested = False
    archived_token_cost = 40


class FilesStream(V1Stream):
    """Files attached to deals, persons, organizations, activities and notes."""

    name = "files"
    path = "/v1/files"
    primary_keys = ("id",)
    base_schema = schemas.FILES
    page_size = 100


class CallLogsStream(V1Stream):
    """Call logs (plan-gated: skipped with a warning where the plan lacks them)."""

    name = "call_logs"
    path = "/v1/callLogs"
    primary_keys = ("id",)
    base_schema = schemas.CALL_LOGS
    page_size = 50
