"""The company account: users, roles, permissions, currencies, labels, filters and goals.

Small v1 lists, read whole every run; several are not paginated at all.
"""

from __future__ import annotations

import typing as t

from tap_pipedrive import schemas
from tap_pipedrive.lists import V1Stream
from tap_pipedrive.streams.per_parent import ParentList

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


class UsersStream(V1Stream):
    """Users of the company account."""

    name = "users"
    path = "/v1/users"
    primary_keys = ("id",)
    base_schema = schemas.USERS


class RolesStream(ParentList, V1Stream):
    """Roles (visibility hierarchy); their assignments are read per role."""

    name = "roles"
    path = "/v1/roles"
    primary_keys = ("id",)
    base_schema = schemas.ROLES


class PermissionSetsStream(ParentList, V1Stream):
    """Permission sets (permission-gated: skipped with a warning for users who lack them)."""

    name = "permission_sets"
    path = "/v1/permissionSets"
    primary_keys = ("id",)
    base_schema = schemas.PERMISSION_SETS


class CurrencyStream(V1Stream):
    """Currencies known to the account."""

    name = "currency"
    path = "/v1/currencies"
    primary_keys = ("id",)
    base_schema = schemas.CURRENCY


class ActivityTypesStream(V1Stream):
    """Activity types (call, meeting, ...)."""

    name = "activity_types"
    path = "/v1/activityTypes"
    primary_keys = ("id",)
    base_schema = schemas.ACTIVITY_TYPES


class FiltersStream(V1Stream):
    """Saved filters."""

    name = "filters"
    path = "/v1/filters"
    primary_keys = ("id",)
    base_schema = schemas.FILTERS


class LeadLabelsStream(V1Stream):
    """Lead labels."""

    name = "lead_labels"
    path = "/v1/leadLabels"
    primary_keys = ("id",)
    base_schema = schemas.LEAD_LABELS
    token_cost = 10


class LeadSourcesStream(V1Stream):
    """Lead sources (a list of names)."""

    name = "lead_sources"
    path = "/v1/leadSources"
    primary_keys = ("name",)
    base_schema = schemas.LEAD_SOURCES
    token_cost = 2


class GoalsStream(V1Stream):
    """Goals (plan-gated: skipped with a warning where the plan lacks them)."""

    name = "goals"
    path = "/v1/goals/find"
    primary_keys = ("id",)
    base_schema = schemas.GOALS
    records_key = "goals"
    # The endpoint answers active goals unless asked: read both.
    partitions = [{"is_active": True}, {"is_active": False}]

    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        """Active, then inactive goals."""
        params = super().get_url_params(context, next_page_token)
        params["is_active"] = "true" if context and context["is_active"] else "false"
        return params
