"""Who holds each role and each permission set: one call per role or set listed.

Permission sets are permission-gated (admins only): refused, the sets and their assignments are
skipped with a warning.
"""

from __future__ import annotations

import singer_sdk.typing as th

from tap_pipedrive.lists import V1Stream
from tap_pipedrive.streams.account import PermissionSetsStream, RolesStream
from tap_pipedrive.streams.per_parent import PerParentStream

ROLE_ASSIGNMENTS = th.PropertiesList(
    th.Property("role_id", th.IntegerType, required=True),
    th.Property("user_id", th.IntegerType, required=True),
    th.Property("name", th.StringType, description="The role's name"),
    th.Property("parent_role_id", th.IntegerType, description="The role's parent role"),
    th.Property("active_flag", th.BooleanType, description="Whether the role is active"),
    th.Property("type", th.StringType, description="The assignment type"),
).to_dict()

PERMISSION_SET_ASSIGNMENTS = th.PropertiesList(
    th.Property("permission_set_id", th.StringType, required=True, description="A UUID"),
    th.Property("user_id", th.IntegerType, required=True),
    th.Property("name", th.StringType, description="The permission set's name"),
).to_dict()


class RoleAssignmentsStream(PerParentStream, V1Stream):
    """The users of each role."""

    name = "role_assignments"
    path = "/v1/roles/{id}/assignments"
    primary_keys = ("role_id", "user_id")
    base_schema = ROLE_ASSIGNMENTS
    parent_stream_type = RolesStream
    token_cost = 10


class PermissionSetAssignmentsStream(PerParentStream, V1Stream):
    """The users of each permission set."""

    name = "permission_set_assignments"
    path = "/v1/permissionSets/{id}/assignments"
    primary_keys = ("permission_set_id", "user_id")
    base_schema = PERMISSION_SET_ASSIGNMENTS
    parent_stream_type = PermissionSetsStream
