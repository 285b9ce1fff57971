"""The JSON schemas of the tap's streams, written with the SDK's typing helpers.

One constant per record shape, named after its stream (FIELDS and V1_FIELDS serve several
streams). They follow Pipedrive's official OpenAPI specs; `tests/test_schemas_match_spec.py`
checks them against the specs, so a field Pipedrive adds shows up as a failing test.

Conventions:
- Every property is nullable except the primary key: Pipedrive omits or nulls fields freely
  (plan-gated ones, contact-sync ones, `include_fields` ones).
- Timestamps are `date-time` everywhere. v2 sends RFC 3339; v1 sends `YYYY-MM-DD HH:MM:SS` in
  UTC, which the streams rewrite as RFC 3339 before emitting. Pure dates are `date`; times of day
  and durations (`due_time`, `duration`) stay plain strings, as sent.
- Ids are integers, except where Pipedrive's are strings: leads and lead labels (UUIDs), goals,
  call logs and permission sets.
- v2 `custom_fields` is deliberately absent: the custom-fields module turns each custom field
  into a column of its own, built at discovery from the field definitions (`*Fields` endpoints).
"""

from __future__ import annotations

from typing import Any

import singer_sdk.typing as th

# --------------------------------------------------------------------------------------------
# Shared pieces
# --------------------------------------------------------------------------------------------

# Option ids are integers for custom fields and strings for some built-in ones. (th.AnyOf would
# be the natural spelling, but the SDK renders its nullable form as invalid JSON Schema.)
INT_OR_STRING = th.CustomType({"type": ["integer", "string"]})

LEAD_ID = th.UUIDType

ADDRESS = th.ObjectType(
    th.Property("value", th.StringType, description="The full address, as one string"),
    th.Property("country", th.StringType),
    th.Property("admin_area_level_1", th.StringType, description="E.g. the state"),
    th.Property("admin_area_level_2", th.StringType, description="E.g. the county"),
    th.Property("locality", th.StringType, description="E.g. the city"),
    th.Property("sublocality", th.StringType, description="E.g. the neighborhood"),
    th.Property("route", th.StringType, description="E.g. the street"),
    th.Property("street_number", th.StringType),
    th.Property("subpremise", th.StringType, description="E.g. the apartment or suite number"),
    th.Property("postal_code", th.StringType),
)

# Persons' emails, phones and instant-messaging accounts.
CONTACT_LIST = th.ArrayType(
    th.ObjectType(
        th.Property("value", th.StringType),
        th.Property("primary", th.BooleanType),
        th.Property("label", th.StringType, description="Classification, e.g. `work`, `home`"),
    )
)

# v1 embeds small objects for the records a note is attached to.
USER_REF = th.ObjectType(
    th.Property("email", th.StringType),
    th.Property("icon_url", th.StringType, description="URL of the user's avatar"),
    th.Property("is_you", th.BooleanType, description="Whether it is the API token's user"),
    th.Property("name", th.StringType),
)
TITLE_REF = th.ObjectType(th.Property("title", th.StringType))
NAME_REF = th.ObjectType(th.Property("name", th.StringType))

VISIBLE_TO_V1 = th.Property(
    "visible_to",
    th.StringType,
    description="Visibility group as a string: '1' owner only, '3' owner's visibility group, "
    "'5' owner's group and sub-groups, '7' entire company",
)
VISIBLE_TO_V2 = th.Property(
    "visible_to",
    th.IntegerType,
    description="Visibility group: 1 owner only, 3 owner's visibility group, "
    "5 owner's group and sub-groups, 7 entire company",
)
BILLING_FREQUENCY = th.Property(
    "billing_frequency",
    th.StringType,
    description="Growth plans and above: one-time, annually, semi-annually, quarterly, monthly "
    "or weekly",
)
BILLING_FREQUENCY_CYCLES = th.Property(
    "billing_frequency_cycles",
    th.IntegerType,
    description="Growth plans and above: how many times the billing frequency repeats "
    "(null: indefinitely)",
)


def _count(name: str, of: str) -> th.Property[Any]:
    """Return a count column, one that v2 sends only when named in `include_fields`."""
    return th.Property(
        name, th.IntegerType, description=f"The number of {of} (an `include_fields` field)"
    )


def _included(name: str, wrapped: Any, description: str) -> th.Property[Any]:
    """Return a column that v2 sends only when named in `include_fields`."""
    return th.Property(name, wrapped, description=f"{description} (an `include_fields` field)")


# The `include_fields` columns deals, persons and organizations share.
_ACTIVITY_SUMMARY = (
    _included("next_activity_id", th.IntegerType, "The ID of the next planned activity"),
    _included("last_activity_id", th.IntegerType, "The ID of the last done activity"),
    _count("activities_count", "activities"),
    _count("done_activities_count", "done activities"),
    _count("undone_activities_count", "activities not done yet"),
    _count("email_messages_count", "email messages"),
    _count("files_count", "files"),
    _count("notes_count", "notes"),
    _count("followers_count", "followers"),
    _included("smart_bcc_email", th.StringType, "The Smart BCC address that links mail here"),
)
_MAIL_TIMES = (
    _included("last_incoming_mail_time", th.DateTimeType, "The time of the last email received"),
    _included("last_outgoing_mail_time", th.DateTimeType, "The time of the last email sent"),
)
# Persons and organizations: deal counts; `related_` ones include linked persons'/orgs' deals.
_DEAL_COUNTS = tuple(
    _count(f"{prefix}{status}_deals_count", f"{scope}{status} deals")
    for status in ("open", "closed", "won", "lost")
    for prefix, scope in (("", ""), ("related_", "related "))
)

# --------------------------------------------------------------------------------------------
# CRM entities (v2, except notes)
# --------------------------------------------------------------------------------------------

DEALS = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True),
    th.Property("title", th.StringType),
    th.Property("creator_user_id", th.IntegerType, description="The user who created the deal"),
    th.Property("owner_id", th.IntegerType, description="The user who owns the deal"),
    th.Property("person_id", th.IntegerType),
    th.Property("org_id", th.IntegerType),
    th.Property("pipeline_id", th.IntegerType),
    th.Property("stage_id", th.IntegerType),
    th.Property("value", th.NumberType),
    th.Property("currency", th.StringType, description="ISO 4217 code of the deal's value"),
    th.Property("add_time", th.DateTimeType),
    th.Property("update_time", th.DateTimeType),
    th.Property("stage_change_time", th.DateTimeType, description="When the stage last changed"),
    th.Property("is_deleted", th.BooleanType, description="Deleted in the last 30 days"),
    th.Property("is_archived", th.BooleanType),
    th.Property("archive_time", th.DateTimeType, description="When the deal was archived"),
    th.Property("status", th.StringType, description="open, won, lost or deleted"),
    th.Property("probability", th.NumberType, description="Success probability, in percent"),
    th.Property("lost_reason", th.StringType),
    VISIBLE_TO_V2,
    th.Property("close_time", th.DateTimeType, description="When the deal was won or lost"),
    th.Property("won_time", th.DateTimeType),
    th.Property("lost_time", th.DateTimeType),
    _included("first_won_time", th.DateTimeType, "When the deal was first won"),
    th.Property("local_won_date", th.DateType, description="The won date in the user's zone"),
    th.Property("local_lost_date", th.DateType, description="The lost date in the user's zone"),
    th.Property("local_close_date", th.DateType, description="The close date in the user's zone"),
    th.Property("expected_close_date", th.DateType),
    th.Property("label_ids", th.ArrayType(th.IntegerType)),
    th.Property(
        "origin",
        th.StringType,
        description="How the deal was created (set by Pipedrive, e.g. ManuallyCreated)",
    ),
    th.Property("origin_id", th.StringType, description="Further detail of the origin"),
    th.Property("channel", th.IntegerType, description="The marketing channel's ID"),
    th.Property("channel_id", th.StringType, description="Further detail of the channel"),
    _included("source_lead_id", LEAD_ID, "The lead this deal was converted from"),
    th.Property("arr", th.NumberType, description="Annual recurring revenue (Growth plans+)"),
    th.Property("mrr", th.NumberType, description="Monthly recurring revenue (Growth plans+)"),
    th.Property("acv", th.NumberType, description="Annual contract value (Growth plans+)"),
    *_ACTIVITY_SUMMARY,
    *_MAIL_TIMES,
    _count("products_count", "products attached"),
    _count("participants_count", "participants"),
).to_dict()

PERSONS = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True),
    th.Property("name", th.StringType),
    th.Property("first_name", th.StringType),
    th.Property("last_name", th.StringType),
    th.Property("owner_id", th.IntegerType, description="The user who owns the person"),
    th.Property("org_id", th.IntegerType),
    th.Property("add_time", th.DateTimeType),
    th.Property("update_time", th.DateTimeType),
    th.Property("emails", CONTACT_LIST),
    th.Property("phones", CONTACT_LIST),
    th.Property("im", CONTACT_LIST, description="Instant messaging accounts (contact sync)"),
    th.Property("is_deleted", th.BooleanType),
    VISIBLE_TO_V2,
    th.Property("label_ids", th.ArrayType(th.IntegerType)),
    th.Property("picture_id", th.IntegerType),
    th.Property("postal_address", ADDRESS, description="Only with contact sync enabled"),
    th.Property("notes", th.StringType, description="Contact sync notes"),
    th.Property("birthday", th.DateType, description="Only with contact sync enabled"),
    th.Property("job_title", th.StringType, description="Only with contact sync enabled"),
    *_ACTIVITY_SUMMARY,
    *_MAIL_TIMES,
    *_DEAL_COUNTS,
    _count("participant_open_deals_count", "open deals the person takes part in"),
    _count("participant_closed_deals_count", "closed deals the person takes part in"),
    _included(
        "marketing_status",
        th.StringType,
        "Campaigns consent: no_consent, unsubscribed, subscribed or archived",
    ),
    _included("doi_status", th.StringType, "Campaigns double opt-in status"),
).to_dict()

ORGANIZATIONS = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True),
    th.Property("name", th.StringType),
    th.Property("owner_id", th.IntegerType, description="The user who owns the organization"),
    th.Property("add_time", th.DateTimeType),
    th.Property("update_time", th.DateTimeType),
    th.Property("is_deleted", th.BooleanType),
    VISIBLE_TO_V2,
    th.Property("address", ADDRESS),
    th.Property("label_ids", th.ArrayType(th.IntegerType)),
    th.Property("website", th.StringType),
    th.Property("linkedin", th.StringType, description="LinkedIn profile URL"),
    th.Property("industry", th.IntegerType, description="Option ID of the industry"),
    th.Property("annual_revenue", th.IntegerType),
    th.Property("employee_count", th.IntegerType),
    *_ACTIVITY_SUMMARY,
    *_DEAL_COUNTS,
    _count("people_count", "persons in the organization"),
).to_dict()

ACTIVITIES = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True),
    th.Property("subject", th.StringType),
    th.Property("type", th.StringType, description="The activity type's `key_string`"),
    th.Property("owner_id", th.IntegerType, description="The user the activity is assigned to"),
    th.Property("creator_user_id", th.IntegerType),
    th.Property("is_deleted", th.BooleanType),
    th.Property("add_time", th.DateTimeType),
    th.Property("update_time", th.DateTimeType),
    th.Property("deal_id", th.IntegerType),
    th.Property("lead_id", LEAD_ID),
    th.Property("person_id", th.IntegerType),
    th.Property("org_id", th.IntegerType),
    th.Property("project_id", th.IntegerType),
    th.Property("due_date", th.DateType),
    th.Property("due_time", th.StringType, description="Time of day, HH:MM:SS"),
    th.Property("duration", th.StringType, description="HH:MM:SS"),
    th.Property("busy", th.BooleanType, description="Marks the assignee busy in the calendar"),
    th.Property("done", th.BooleanType),
    th.Property("marked_as_done_time", th.DateTimeType),
    th.Property("location", ADDRESS),
    th.Property(
        "participants",
        th.ArrayType(
            th.ObjectType(
                th.Property("person_id", th.IntegerType),
                th.Property("primary", th.BooleanType),
            )
        ),
        description="Persons taking part",
    ),
    th.Property(
        "attendees",
        th.ArrayType(
            th.ObjectType(
                th.Property("email", th.StringType),
                th.Property("name", th.StringType),
                th.Property("status", th.StringType, description="E.g. accepted, noreply"),
                th.Property("is_organizer", th.BooleanType),
                th.Property("person_id", th.IntegerType),
                th.Property("user_id", th.IntegerType),
            )
        ),
        description="Calendar invitees (an `include_fields` field)",
    ),
    th.Property("conference_meeting_client", th.StringType),
    th.Property("conference_meeting_url", th.StringType),
    th.Property("conference_meeting_id", th.StringType),
    th.Property("public_description", th.StringType),
    th.Property("priority", th.IntegerType, description="Option ID, see activity fields"),
    th.Property("note", th.StringType, description="HTML"),
).to_dict()

PRODUCTS = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True),
    th.Property("name", th.StringType),
    th.Property("code", th.StringType),
    th.Property("unit", th.StringType, description="The unit the product is sold in"),
    th.Property("tax", th.NumberType, description="Tax percentage"),
    th.Property("is_deleted", th.BooleanType),
    th.Property("is_linkable", th.BooleanType, description="Whether it can be added to a deal"),
    VISIBLE_TO_V2,
    th.Property("owner_id", th.IntegerType),
    th.Property("add_time", th.DateTimeType),
    th.Property("update_time", th.DateTimeType),
    th.Property("description", th.StringType),
    th.Property("category", th.StringType),
    BILLING_FREQUENCY,
    BILLING_FREQUENCY_CYCLES,
    th.Property(
        "prices",
        th.ArrayType(
            th.ObjectType(
                th.Property("product_id", th.IntegerType),
                th.Property("price", th.NumberType),
                th.Property("currency", th.StringType),
                th.Property("cost", th.NumberType),
                th.Property("direct_cost", th.NumberType),
                th.Property("notes", th.StringType),
            )
        ),
        description="One price per currency",
    ),
).to_dict()

NOTES = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True),
    th.Property("active_flag", th.BooleanType, description="False once the note is deleted"),
    th.Property("add_time", th.DateTimeType),
    th.Property("update_time", th.DateTimeType),
    th.Property("content", th.StringType, description="HTML"),
    th.Property("user_id", th.IntegerType, description="The note's creator"),
    th.Property("user", USER_REF, description="The note's creator"),
    th.Property("last_update_user_id", th.IntegerType),
    th.Property("deal_id", th.IntegerType),
    th.Property("deal", TITLE_REF),
    th.Property("lead_id", LEAD_ID),
    th.Property("person_id", th.IntegerType),
    th.Property("person", NAME_REF),
    th.Property("org_id", th.IntegerType),
    th.Property("organization", NAME_REF),
    th.Property("project_id", th.IntegerType),
    th.Property("project", TITLE_REF),
    th.Property("task_id", th.IntegerType),
    th.Property("task", TITLE_REF),
    *(
        th.Property(
            f"pinned_to_{entity}_flag", th.BooleanType, description=f"Pinned on the {entity}"
        )
        for entity in ("deal", "lead", "organization", "person", "project", "task")
    ),
).to_dict()

# --------------------------------------------------------------------------------------------
# Pipelines and deal children (v2)
# --------------------------------------------------------------------------------------------

PIPELINES = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True),
    th.Property("name", th.StringType),
    th.Property("order_nr", th.IntegerType, description="The lowest is the default pipeline"),
    th.Property("is_deleted", th.BooleanType),
    th.Property("is_deal_probability_enabled", th.BooleanType),
    th.Property("add_time", th.DateTimeType),
    th.Property("update_time", th.DateTimeType),
).to_dict()

STAGES = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True),
    th.Property("order_nr", th.IntegerType),
    th.Property("name", th.StringType),
    th.Property("is_deleted", th.BooleanType),
    th.Property("deal_probability", th.IntegerType, description="Deal probability, in percent"),
    th.Property("pipeline_id", th.IntegerType),
    th.Property("is_deal_rot_enabled", th.BooleanType, description="Whether deals can rot here"),
    th.Property("days_to_rotten", th.IntegerType, description="Idle days before a deal rots"),
    th.Property("add_time", th.DateTimeType),
    th.Property("update_time", th.DateTimeType),
).to_dict()

DEAL_PRODUCTS = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True, description="The deal-product attachment"),
    th.Property("deal_id", th.IntegerType),
    th.Property("product_id", th.IntegerType),
    th.Property("product_variation_id", th.IntegerType),
    th.Property("name", th.StringType),
    th.Property("order_nr", th.IntegerType, description="Position within the deal"),
    th.Property("item_price", th.NumberType),
    th.Property("quantity", th.NumberType),
    th.Property("sum", th.NumberType, description="The line total"),
    th.Property("currency", th.StringType),
    th.Property("discount", th.NumberType),
    th.Property("discount_type", th.StringType, description="percentage or amount"),
    th.Property("tax", th.NumberType, description="Tax percentage"),
    th.Property("tax_method", th.StringType, description="exclusive, inclusive or none"),
    th.Property("is_enabled", th.BooleanType),
    th.Property("comments", th.StringType),
    th.Property("add_time", th.DateTimeType),
    th.Property("update_time", th.DateTimeType),
    BILLING_FREQUENCY,
    BILLING_FREQUENCY_CYCLES,
    th.Property("billing_start_date", th.DateType, description="Growth plans and above"),
).to_dict()

DEAL_INSTALLMENTS = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True),
    th.Property("deal_id", th.IntegerType),
    th.Property("amount", th.NumberType),
    th.Property("billing_date", th.DateType, description="When the installment is charged"),
    th.Property("description", th.StringType, description="The installment's name"),
).to_dict()

# --------------------------------------------------------------------------------------------
# Leads (v1)
# --------------------------------------------------------------------------------------------

LEADS = th.PropertiesList(
    th.Property("id", LEAD_ID, required=True),
    th.Property("title", th.StringType),
    th.Property("owner_id", th.IntegerType),
    th.Property("creator_id", th.IntegerType),
    th.Property("label_ids", th.ArrayType(LEAD_ID), description="Lead label IDs (UUIDs)"),
    th.Property("person_id", th.IntegerType),
    th.Property("organization_id", th.IntegerType),
    th.Property("source_name", th.StringType, description="Where it came from, e.g. API, Manual"),
    th.Property("origin", th.StringType, description="How the lead was created (set by Pipedrive)"),
    th.Property("origin_id", th.StringType, description="Further detail of the origin"),
    th.Property("channel", th.IntegerType, description="The marketing channel's ID"),
    th.Property("channel_id", th.StringType, description="Further detail of the channel"),
    th.Property("source_deal_id", th.IntegerType, description="The deal it was converted from"),
    th.Property("is_archived", th.BooleanType),
    th.Property("was_seen", th.BooleanType, description="Seen by someone in the Pipedrive UI"),
    th.Property(
        "value",
        th.ObjectType(
            th.Property("amount", th.NumberType),
            th.Property("currency", th.StringType),
        ),
        description="The potential value",
    ),
    th.Property("expected_close_date", th.DateType),
    th.Property("next_activity_id", th.IntegerType),
    th.Property("add_time", th.DateTimeType),
    th.Property("update_time", th.DateTimeType),
    VISIBLE_TO_V1,
    th.Property("cc_email", th.StringType, description="The lead's BCC address"),
).to_dict()

LEAD_LABELS = th.PropertiesList(
    th.Property("id", LEAD_ID, required=True),
    th.Property("name", th.StringType),
    th.Property("color", th.StringType, description="A named color, e.g. blue, green"),
    th.Property("add_time", th.DateTimeType),
    th.Property("update_time", th.DateTimeType),
).to_dict()

LEAD_SOURCES = th.PropertiesList(
    th.Property("name", th.StringType, required=True, description="The lead source's unique name"),
).to_dict()

# --------------------------------------------------------------------------------------------
# Field definitions
# --------------------------------------------------------------------------------------------


def _show_in_dialog(dialog: str) -> th.Property[Any]:
    return th.Property(
        f"show_in_add_{dialog}_dialog",
        th.ObjectType(
            th.Property("show", th.BooleanType),
            th.Property("order", th.IntegerType),
        ),
        description=f"Whether and where the field shows in the add-{dialog} dialog",
    )


def _stage_list(flag: str) -> th.Property[Any]:
    return th.Property(
        "stage_ids",
        th.ArrayType(th.IntegerType),
        description=f"Deal stages where the field is {flag}",
    )


# v2 (`/api/v2/{deal,person,...}Fields`): one shape for all six entities. `ui_visibility`,
# `important_fields` and `required_fields` come with `include_fields`; `ui_visibility` carries the
# union of every entity's flags.
FIELDS = th.PropertiesList(
    th.Property(
        "field_code",
        th.StringType,
        required=True,
        description="The key in records: a 40-hex hash for custom fields",
    ),
    th.Property("field_name", th.StringType),
    th.Property("description", th.StringType),
    th.Property("field_type", th.StringType, description="E.g. varchar, enum, set, monetary"),
    th.Property(
        "options",
        th.ArrayType(
            th.ObjectType(
                th.Property("id", INT_OR_STRING, description="Integer for custom fields"),
                th.Property("label", th.StringType),
                th.Property("color", th.StringType),
                th.Property("add_time", th.DateTimeType),
                th.Property("update_time", th.DateTimeType),
            )
        ),
        description="The options of enum and set fields",
    ),
    th.Property(
        "subfields",
        th.ArrayType(
            th.ObjectType(
                th.Property("field_code", th.StringType),
                th.Property("field_name", th.StringType),
                th.Property("field_type", th.StringType),
            )
        ),
        description="The parts of composite fields (address, monetary, ...)",
    ),
    th.Property("is_custom_field", th.BooleanType),
    th.Property(
        "is_optional_response_field",
        th.BooleanType,
        description="Not in entity records unless asked for",
    ),
    th.Property(
        "ui_visibility",
        th.ObjectType(
            th.Property("add_visible_flag", th.BooleanType),
            th.Property("details_visible_flag", th.BooleanType),
            th.Property("deal_detail_visible_flag", th.BooleanType),
            th.Property("org_detail_visible_flag", th.BooleanType),
            th.Property("person_detail_visible_flag", th.BooleanType),
            th.Property("projects_detail_visible_flag", th.BooleanType),
            th.Property(
                "show_in_pipelines",
                th.ObjectType(
                    th.Property("show_in_all", th.BooleanType),
                    th.Property("pipeline_ids", th.ArrayType(th.IntegerType)),
                ),
            ),
            _show_in_dialog("deal"),
            _show_in_dialog("person"),
        ),
    ),
    th.Property(
        "important_fields",
        th.ObjectType(th.Property("enabled", th.BooleanType), _stage_list("important")),
    ),
    th.Property(
        "required_fields",
        th.ObjectType(
            th.Property("enabled", th.BooleanType),
            _stage_list("required"),
            th.Property(
                "statuses",
                th.ObjectType(additional_properties=th.ArrayType(th.StringType)),
                description="Pipeline ID -> the deal statuses (won, lost) requiring the field",
            ),
        ),
    ),
).to_dict()

_V1_OPTIONS = th.ArrayType(
    th.ObjectType(
        th.Property("id", INT_OR_STRING),
        th.Property("label", th.StringType),
    )
)

# v1 (`/v1/leadFields`, `/v1/noteFields`). Keyed by `key`: `id` is null for subfields.
V1_FIELDS = th.PropertiesList(
    th.Property(
        "key", th.StringType, required=True, description="The key in records: a hash for custom"
    ),
    th.Property("id", th.IntegerType),
    th.Property("name", th.StringType),
    th.Property("order_nr", th.IntegerType),
    th.Property("field_type", th.StringType, description="E.g. varchar, enum, set, monetary"),
    th.Property("add_time", th.DateTimeType),
    th.Property("update_time", th.DateTimeType),
    th.Property("last_updated_by_user_id", th.IntegerType),
    th.Property("created_by_user_id", th.IntegerType),
    th.Property("active_flag", th.BooleanType),
    th.Property("edit_flag", th.BooleanType, description="Whether the field can be edited"),
    th.Property("index_visible_flag", th.BooleanType, description="Not used"),
    th.Property("details_visible_flag", th.BooleanType, description="Not used"),
    th.Property("add_visible_flag", th.BooleanType, description="Not used"),
    th.Property("important_flag", th.BooleanType, description="Not used"),
    th.Property("bulk_edit_allowed", th.BooleanType),
    th.Property("searchable_flag", th.BooleanType),
    th.Property("filtering_allowed", th.BooleanType),
    th.Property("sortable_flag", th.BooleanType),
    th.Property("mandatory_flag", th.BooleanType),
    th.Property("options", _V1_OPTIONS, description="The options of enum and set fields"),
    th.Property("options_deleted", _V1_OPTIONS, description="Deleted options, if any"),
    th.Property("is_subfield", th.BooleanType),
    th.Property(
        "subfields",
        th.ArrayType(
            th.ObjectType(
                th.Property("key", th.StringType),
                th.Property("name", th.StringType),
                th.Property("field_type", th.StringType),
            )
        ),
        description="The parts of composite fields (address, monetary, ...)",
    ),
).to_dict()

# --------------------------------------------------------------------------------------------
# Account: users, currencies, activity types, filters, roles, permission sets (v1)
# --------------------------------------------------------------------------------------------

USERS = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True),
    th.Property("name", th.StringType),
    th.Property("email", th.StringType),
    th.Property("phone", th.StringType),
    th.Property("default_currency", th.StringType),
    th.Property("locale", th.StringType, description="E.g. en_US"),
    th.Property("lang", th.IntegerType, description="Language ID"),
    th.Property("activated", th.BooleanType),
    th.Property("active_flag", th.BooleanType),
    th.Property("is_deleted", th.BooleanType),
    th.Property("is_you", th.BooleanType, description="Whether it is the API token's user"),
    th.Property("has_created_company", th.BooleanType),
    th.Property("last_login", th.DateTimeType),
    th.Property("created", th.DateTimeType),
    th.Property("modified", th.DateTimeType),
    th.Property(
        "access",
        th.ArrayType(
            th.ObjectType(
                th.Property("app", th.StringType, description="E.g. global, sales, projects"),
                th.Property("admin", th.BooleanType),
                th.Property("permission_set_id", th.StringType, description="A UUID"),
            )
        ),
        description="Access per app",
    ),
    th.Property("timezone_name", th.StringType, description="E.g. Europe/Berlin"),
    th.Property("timezone_offset", th.StringType, description="E.g. +03:00"),
    th.Property("role_id", th.IntegerType),
    th.Property("icon_url", th.StringType),
).to_dict()

CURRENCY = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True),
    th.Property("code", th.StringType, description="ISO 4217 code (custom currencies: free)"),
    th.Property("name", th.StringType),
    th.Property("decimal_points", th.IntegerType),
    th.Property("symbol", th.StringType),
    th.Property("active_flag", th.BooleanType),
    th.Property("is_custom_flag", th.BooleanType),
).to_dict()

ACTIVITY_TYPES = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True),
    th.Property("name", th.StringType),
    th.Property("key_string", th.StringType, description="What activities' `type` refers to"),
    th.Property("icon_key", th.StringType),
    th.Property("color", th.StringType, description="6-digit hex, e.g. FFFFFF"),
    th.Property("order_nr", th.IntegerType),
    th.Property("active_flag", th.BooleanType),
    th.Property("is_custom_flag", th.BooleanType),
    th.Property("add_time", th.DateTimeType),
    th.Property("update_time", th.DateTimeType),
).to_dict()

FILTERS = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True),
    th.Property("name", th.StringType),
    th.Property("filter_code", th.StringType, description="System code of built-in filters"),
    th.Property("type", th.StringType, description="deals, leads, org, people, products, ..."),
    th.Property("user_id", th.IntegerType, description="The filter's owner"),
    th.Property("is_editable", th.BooleanType, description="By the token's user"),
    th.Property("active_flag", th.BooleanType),
    th.Property("temporary_flag", th.BooleanType),
    VISIBLE_TO_V1,
    th.Property("custom_view_id", th.IntegerType),
    th.Property("add_time", th.DateTimeType),
    th.Property("update_time", th.DateTimeType),
    th.Property("last_used_time", th.DateTimeType),
).to_dict()

ROLES = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True),
    th.Property("name", th.StringType),
    th.Property("parent_role_id", th.IntegerType),
    th.Property("level", th.IntegerType, description="Depth in the role hierarchy"),
    th.Property("active_flag", th.BooleanType),
    # Strings in the spec (and in the API's answers), though they are counts.
    th.Property("assignment_count", th.StringType, description="Users with this role"),
    th.Property("sub_role_count", th.StringType),
).to_dict()

PERMISSION_SETS = th.PropertiesList(
    th.Property("id", th.StringType, required=True, description="A UUID"),
    th.Property("name", th.StringType),
    th.Property("description", th.StringType),
    th.Property("app", th.StringType, description="E.g. sales, projects, global"),
    th.Property("type", th.StringType, description="admin, manager, regular or custom"),
    th.Property("assignment_count", th.IntegerType, description="Users with this set"),
).to_dict()

# --------------------------------------------------------------------------------------------
# Activity records beside activities: files, call logs, goals (v1)
# --------------------------------------------------------------------------------------------

FILES = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True),
    th.Property("name", th.StringType, description="The visible name"),
    th.Property("file_name", th.StringType, description="The stored file name"),
    th.Property("file_type", th.StringType, description="E.g. img, pdf"),
    th.Property("file_size", th.IntegerType, description="In bytes"),
    th.Property("description", th.StringType),
    th.Property("url", th.StringType, description="The download URL"),
    th.Property("user_id", th.IntegerType),
    th.Property("deal_id", th.IntegerType),
    th.Property("deal_name", th.StringType),
    th.Property("person_id", th.IntegerType),
    th.Property("person_name", th.StringType),
    th.Property("org_id", th.IntegerType),
    th.Property("org_name", th.StringType),
    th.Property("product_id", th.IntegerType),
    th.Property("product_name", th.StringType),
    th.Property("activity_id", th.IntegerType),
    th.Property("lead_id", LEAD_ID),
    th.Property("lead_name", th.StringType),
    th.Property("project_id", th.IntegerType),
    th.Property("project_name", th.StringType),
    th.Property("log_id", INT_OR_STRING, description="Undocumented (null in the spec's example)"),
    th.Property("add_time", th.DateTimeType),
    th.Property("update_time", th.DateTimeType),
    th.Property("active_flag", th.BooleanType, description="False once the file is deleted"),
    th.Property("inline_flag", th.BooleanType),
    th.Property("remote_location", th.StringType, description="E.g. s3, googledrive"),
    th.Property("remote_id", th.StringType),
    th.Property("cid", th.StringType, description="Inline attachment ID"),
    th.Property("s3_bucket", th.StringType),
    th.Property("mail_message_id", th.StringType),
    th.Property("mail_template_id", th.StringType),
).to_dict()

CALL_LOGS = th.PropertiesList(
    th.Property("id", th.StringType, required=True),
    th.Property("user_id", th.IntegerType, description="The call log's owner"),
    th.Property("company_id", th.IntegerType),
    th.Property("activity_id", th.IntegerType),
    th.Property("subject", th.StringType),
    th.Property("duration", th.StringType, description="In seconds, as a string"),
    th.Property(
        "outcome",
        th.StringType,
        description="connected, no_answer, left_message, left_voicemail, wrong_number or busy",
    ),
    th.Property("from_phone_number", th.StringType),
    th.Property("to_phone_number", th.StringType),
    th.Property("start_time", th.DateTimeType),
    th.Property("end_time", th.DateTimeType),
    th.Property("person_id", th.IntegerType),
    th.Property("org_id", th.IntegerType),
    th.Property("deal_id", th.IntegerType),
    th.Property("lead_id", LEAD_ID),
    th.Property("note", th.StringType, description="HTML"),
    th.Property("has_recording", th.BooleanType),
).to_dict()

GOALS = th.PropertiesList(
    th.Property("id", th.StringType, required=True),
    th.Property("owner_id", th.IntegerType, description="The goal's creator"),
    th.Property("title", th.StringType),
    th.Property(
        "type",
        th.ObjectType(
            th.Property("name", th.StringType, description="E.g. deals_won, activities_added"),
            th.Property(
                "params",
                th.ObjectType(
                    th.Property("pipeline_id", th.ArrayType(th.IntegerType)),
                    th.Property("stage_id", th.IntegerType),
                    th.Property("activity_type_id", th.ArrayType(th.IntegerType)),
                ),
                description="Null lists mean all pipelines or all activity types",
            ),
        ),
    ),
    th.Property(
        "assignee",
        th.ObjectType(
            th.Property("id", th.IntegerType),
            th.Property("type", th.StringType, description="person, team or company"),
        ),
    ),
    th.Property("interval", th.StringType, description="weekly, monthly, quarterly or yearly"),
    th.Property(
        "duration",
        th.ObjectType(
            th.Property("start", th.DateType),
            th.Property("end", th.DateType, description="Null for an open-ended goal"),
        ),
    ),
    th.Property(
        "expected_outcome",
        th.ObjectType(
            # The spec says integer, but a `sum` goal's target is money.
            th.Property("target", th.NumberType),
            th.Property("tracking_metric", th.StringType, description="quantity or sum"),
            th.Property("currency_id", th.IntegerType, description="For sum goals"),
        ),
    ),
    th.Property("is_active", th.BooleanType),
    th.Property("report_ids", th.ArrayType(th.StringType)),
).to_dict()

# --------------------------------------------------------------------------------------------
# Projects (v2)
# --------------------------------------------------------------------------------------------

PROJECTS = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True),
    th.Property("title", th.StringType),
    th.Property("description", th.StringType),
    th.Property("status", th.StringType, description="open, completed, canceled or deleted"),
    th.Property("board_id", th.IntegerType),
    th.Property("phase_id", th.IntegerType),
    th.Property("owner_id", th.IntegerType),
    th.Property("start_date", th.DateType),
    th.Property("end_date", th.DateType),
    th.Property("deal_ids", th.ArrayType(th.IntegerType)),
    th.Property("person_ids", th.ArrayType(th.IntegerType)),
    th.Property("org_ids", th.ArrayType(th.IntegerType)),
    th.Property("label_ids", th.ArrayType(th.IntegerType)),
    th.Property("health_status", th.IntegerType),
    th.Property("add_time", th.DateTimeType),
    th.Property("update_time", th.DateTimeType),
    th.Property("status_change_time", th.DateTimeType),
    th.Property("archive_time", th.DateTimeType, description="Null unless archived"),
    th.Property(
        "is_archived",
        th.BooleanType,
        description="Set by the tap: whether the project came from /projects/archived",
    ),
).to_dict()

TASKS = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True),
    th.Property("title", th.StringType),
    th.Property("description", th.StringType),
    th.Property("creator_id", th.IntegerType),
    th.Property("project_id", th.IntegerType),
    th.Property("parent_task_id", th.IntegerType, description="Null for a root-level task"),
    th.Property("assignee_ids", th.ArrayType(th.IntegerType), description="Assigned users"),
    th.Property("is_done", th.BooleanType),
    th.Property("is_milestone", th.BooleanType),
    th.Property("priority", th.IntegerType),
    th.Property("start_date", th.DateType),
    th.Property("due_date", th.DateType),
    th.Property("add_time", th.DateTimeType),
    th.Property("update_time", th.DateTimeType),
    th.Property("marked_as_done_time", th.DateTimeType),
).to_dict()

# Deal change history (`GET /v1/deals/{id}/flow`), as the legacy tap and Stitch deliver it: one
# row per change of a deal's field (`dealChange` items, custom fields included with
# `all_changes=1`), keyed by the change's own integer id. The endpoint's other item types
# (activities, notes, files, mail messages, ...) are not asked for: activities, notes and files
# have streams of their own.
DEALFLOW = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True, description="The change's id"),
    th.Property("deal_id", th.IntegerType),
    th.Property("log_time", th.DateTimeType, description="When the change was made"),
    th.Property("item_id", th.IntegerType, description="The deal's ID"),
    th.Property("user_id", th.IntegerType, description="The user who made the change"),
    th.Property("field_key", th.StringType, description="The changed field's key"),
    th.Property(
        "old_value",
        th.StringType,
        description="The value before, as a string (the API mixes strings and numbers)",
    ),
    th.Property("new_value", th.StringType, description="The value after, as a string"),
    th.Property("is_bulk_update_flag", th.BooleanType, description="A bulk edit"),
    th.Property("change_source", th.StringType, description="e.g. app, api, mobile"),
    th.Property("change_source_user_agent", th.StringType),
    th.Property(
        "additional_data",
        th.ObjectType(additional_properties=True),
        description="Extra detail, e.g. formatted old and new values",
    ),
).to_dict()
