"""Every stream the tap offers, typed by hand from README.md's stream table ("Streams").

The tests' reference for the stream list, keys and replication: never read from the tap, so a
stream that disappears, changes its key or loses its replication key fails the tests that use
this table (and test_sync.py's `test_discovered_catalog_is_the_documented_stream_table`).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Documented:
    """One row of README.md's stream table."""

    name: str
    key: tuple[str, ...]
    #: "incremental on X", or the bookmark a child keeps (README: "bookmark `X`"); None for none.
    replication_key: str | None = None
    #: Read incrementally: on its own list, or per parent item updated since its watermark.
    incremental: bool = False
    #: The stream whose updated items it reads ("deals updated since its watermark"), if any.
    follows: str | None = None
    #: Selected when a catalog selects nothing (README: "(off by default)" when False).
    by_default: bool = True


def _full(name: str, *key: str) -> Documented:
    return Documented(name, key or ("id",))


def _listed(name: str) -> Documented:
    """Incremental on `update_time` over its own list."""
    return Documented(name, ("id",), "update_time", incremental=True)


def _child(
    name: str, parent: str, *key: str, bookmark: str | None = None, by_default: bool = True
) -> Documented:
    return Documented(name, key or ("id",), bookmark, True, parent, by_default)


STREAMS: dict[str, Documented] = {
    row.name: row
    for row in (
        _listed("deals"),
        _child("deal_products", "deals", bookmark="update_time"),
        _child("deal_installments", "deals"),
        _child("dealflow", "deals", bookmark="log_time"),
        _child("deal_participants", "deals"),
        _child("deal_mail_messages", "deals", by_default=False),
        _child("deal_discounts", "deals"),
        _child("deal_stage_history", "deals", "deal_id", "stage_id", "entered_at"),
        _listed("persons"),
        _listed("organizations"),
        _listed("activities"),
        _listed("products"),
        _child("product_variations", "products"),
        _listed("notes"),
        _listed("leads"),
        _full("files"),
        _full("call_logs"),
        _child("person_changes", "persons", bookmark="time", by_default=False),
        _child("organization_changes", "organizations", bookmark="time", by_default=False),
        _full("pipelines"),
        _full("stages"),
        _full("projects"),
        _full("tasks"),
        _full("boards"),
        _full("phases"),
        _full("users"),
        _full("roles"),
        _full("role_assignments", "role_id", "user_id"),
        _full("permission_sets"),
        _full("permission_set_assignments", "permission_set_id", "user_id"),
        _full("currency"),
        _full("activity_types"),
        _full("filters"),
        _full("lead_labels"),
        _full("lead_sources", "name"),
        _full("goals"),
        _full("deal_fields", "field_code"),
        _full("person_fields", "field_code"),
        _full("organization_fields", "field_code"),
        _full("product_fields", "field_code"),
        _full("activity_fields", "field_code"),
        _full("project_fields", "field_code"),
        _full("note_fields", "key"),
        _full("lead_fields", "key"),
        Documented(
            "deleted_records", ("entity", "id"), "deleted_time", incremental=True, by_default=False
        ),
    )
}

#: The streams a catalog that selects nothing syncs.
BY_DEFAULT = tuple(name for name, row in STREAMS.items() if row.by_default)
#: Incremental on `update_time` over their own list (the README's "incremental on").
LISTED_INCREMENTAL = tuple(
    name
    for name, row in STREAMS.items()
    if row.incremental and row.follows is None and row.replication_key == "update_time"
)
