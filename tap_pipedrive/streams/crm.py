"""The CRM entities: persons, organizations, activities, products, notes, leads, files, calls.

Deals, with what hangs off them, are in `deals.py`.
"""

from __future__ import annotations

import typing as t

from tap_pipedrive import schemas
from tap_pipedrive.client import V1Stream, V2Stream
from tap_pipedrive.streams.deals import BatchingStream

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

# The fields v2 returns only when named in `include_fields`: each endpoint's whole enum.
PERSON_INCLUDE_FIELDS = (
    "next_activity_id", "last_activity_id", "open_deals_count", "related_open_deals_count",
    "closed_deals_count", "related_closed_deals_count", "participant_open_deals_count",
    "participant_closed_deals_count", "email_messages_count", "activities_count",
    "done_activities_count", "undone_activities_count", "files_count", "notes_count",
    "followers_count", "won_deals_count", "related_won_deals_count", "lost_deals_count",
    "related_lost_deals_count", "last_incoming_mail_time", "last_outgoing_mail_time",
    "marketing_status", "doi_status", "smart_bcc_email",
)  # fmt: skip
ORGANIZATION_INCLUDE_FIELDS = (
    "next_activity_id", "last_activity_id", "open_deals_count", "related_open_deals_count",
    "closed_deals_count", "related_closed_deals_count", "email_messages_count", "people_count",
    "activities_count", "done_activities_count", "undone_activities_count", "files_count",
    "notes_count", "followers_count", "won_deals_count", "related_won_deals_count",
    "lost_deals_count", "related_lost_deals_count", "smart_bcc_email",
)  # fmt: skip
ACTIVITY_INCLUDE_FIELDS = ("attendees",)


class PersonsStream(BatchingStream):
    """Persons (contacts); they feed `person_changes` in batches."""

    name = "persons"
    path = "/api/v2/persons"
    primary_keys = ("id",)
    replication_key = "update_time"
    base_schema = schemas.PERSONS
    fields_stream = "person_fields"
    extra_params = {"include_fields": ",".join(PERSON_INCLUDE_FIELDS)}


class OrganizationsStream(BatchingStream):
    """Organizations; they feed `organization_changes` in batches."""

    name = "organizations"
    path = "/api/v2/organizations"
    primary_keys = ("id",)
    replication_key = "update_time"
    base_schema = schemas.ORGANIZATIONS
    fields_stream = "organization_fields"
    extra_params = {"include_fields": ",".join(ORGANIZATION_INCLUDE_FIELDS)}


class ActivitiesStream(V2Stream):
    """Activities (calls, meetings, tasks, ...)."""

    name = "activities"
    path = "/api/v2/activities"
    primary_keys = ("id",)
    replication_key = "update_time"
    base_schema = schemas.ACTIVITIES
    fields_stream = "activity_fields"
    extra_params = {"include_fields": ",".join(ACTIVITY_INCLUDE_FIELDS)}


class ProductsStream(V2Stream):
    """Products; the endpoint has `updated_since` but no `updated_until`: bounded client-side."""

    name = "products"
    path = "/api/v2/products"
    primary_keys = ("id",)
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
    path = "/v1/notes"
    primary_keys = ("id",)
    replication_key = "update_time"
    base_schema = schemas.NOTES
    fields_stream = "note_fields"
    token_cost = 20


class LeadsStream(V1Stream):
    """Leads, live and archived (`/v1/leads/archived`, which has no `updated_since`)."""

    name = "leads"
    path = "/v1/leads"
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
