"""The lists both commands read: path, fixed query, token cost, pagination.

The tap's streams of these entities and target-pipedrive's reads (field definitions, match
indexes) take them from here, so both ask Pipedrive the same questions.
"""

from __future__ import annotations

import dataclasses
import typing as t

from pipedrive_api.pagination import CursorPaging, OffsetPaging, Paging

#: Pipedrive's maximum page size; a call costs the same tokens whatever its limit.
PAGE_SIZE = 500

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
DEAL_INCLUDE_FIELDS = (
    "next_activity_id", "last_activity_id", "first_won_time", "products_count", "files_count",
    "notes_count", "followers_count", "email_messages_count", "activities_count",
    "done_activities_count", "undone_activities_count", "participants_count",
    "last_incoming_mail_time", "last_outgoing_mail_time", "smart_bcc_email", "source_lead_id",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """A list: its path, the query it always takes, and the tokens a call costs."""

    path: str
    params: t.Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: The spec's `x-token-cost` (v2 lists 10, v1 lists 20).
    cost: int = 10

    def paging(self) -> Paging:
        """Cursors for v2, offsets for v1."""
        return CursorPaging() if self.path.startswith("/api/v2/") else OffsetPaging()

    def query(self) -> dict[str, t.Any]:
        """A whole read's query: the largest page and the fixed parameters."""
        return {"limit": PAGE_SIZE, **self.params}


_DEFINITIONS = {"include_fields": "ui_visibility,important_fields,required_fields"}

PERSONS = Endpoint("/api/v2/persons", {"include_fields": ",".join(PERSON_INCLUDE_FIELDS)})
ORGANIZATIONS = Endpoint(
    "/api/v2/organizations", {"include_fields": ",".join(ORGANIZATION_INCLUDE_FIELDS)}
)
ACTIVITIES = Endpoint("/api/v2/activities", {"include_fields": ",".join(ACTIVITY_INCLUDE_FIELDS)})
DEALS = Endpoint(
    "/api/v2/deals",
    {"status": "open,won,lost,deleted", "include_fields": ",".join(DEAL_INCLUDE_FIELDS)},
)
PRODUCTS = Endpoint("/api/v2/products")
NOTES = Endpoint("/v1/notes", cost=20)
LEADS = Endpoint("/v1/leads", cost=20)

DEAL_FIELDS = Endpoint("/api/v2/dealFields", _DEFINITIONS)
PERSON_FIELDS = Endpoint("/api/v2/personFields", _DEFINITIONS)
ORGANIZATION_FIELDS = Endpoint("/api/v2/organizationFields", _DEFINITIONS)
PRODUCT_FIELDS = Endpoint("/api/v2/productFields", {"include_fields": "ui_visibility"})
ACTIVITY_FIELDS = Endpoint("/api/v2/activityFields", {"include_fields": "ui_visibility"})
NOTE_FIELDS = Endpoint("/v1/noteFields", cost=20)

#: The cheapest answer every token may ask for (the spec's cost 2): the tap calls it only for
#: Pipedrive's clock, when a read needs it before any other answer of the run.
CLOCK = Endpoint("/v1/users/me", cost=2)
