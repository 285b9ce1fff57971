"""Who holds which role and permission set: pure functions of the users, roles and sets.

Every user holds exactly one role (Pipedrive's visibility hierarchy): the first user the top
role, the others one of roles 1..4 by a hash, so the inactive role 5 has nobody. Permission
sets (by position in `PermissionSets.LIST`): the first two users are global admins, the others
regular users; every fourth user is a sales admin, the next ones read-only sales users; every
third a projects manager; nobody holds the campaigns set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.emulator.account import PermissionSets
from tests.emulator.data import mix

if TYPE_CHECKING:
    from tests.emulator.dataset import Dataset


def role_of(data: Dataset, user_id: int) -> int:
    """The role a user holds."""
    position = user_id - data.users.id_base - 1
    return 1 if position == 0 else 1 + mix(data.seed, user_id) % 4


def role_assignments(data: Dataset, role_id: int) -> list[dict[str, Any]]:
    """A role's assignments, by user id, as `/v1/roles/{id}/assignments` shows them."""
    roles = data.table("roles")
    role = roles.record(role_id)
    return [
        {
            "user_id": user,
            "role_id": role_id,
            "parent_role_id": role["parent_role_id"],
            "name": role["name"],
            "active_flag": role["active_flag"],
            "type": "1",
        }
        for user in data.users.ids()
        if role_of(data, user) == role_id
    ]


def _holds(set_position: int, user_position: int) -> bool:
    """Whether the user at that position holds the permission set at that position (0-based)."""
    admin = user_position < 2
    sales_admin = user_position % 4 == 0
    return (
        (set_position == 0 and admin)
        or (set_position == 1 and not admin)
        or (set_position == 2 and sales_admin)
        or (set_position == 3 and not sales_admin and user_position % 4 == 1)
        or (set_position == 4 and user_position % 3 == 0)
    )


def permission_set_assignments(data: Dataset, set_row: int) -> list[dict[str, Any]]:
    """A permission set's assignments, by user id, as `/v1/permissionSets/{id}/assignments`."""
    sets = data.table("permissionSets")
    record = sets.record(set_row)
    position = (set_row - 1) % len(PermissionSets.LIST)
    base = data.users.id_base + 1
    return [
        {"user_id": user, "permission_set_id": record["id"], "name": record["name"]}
        for user in data.users.ids()
        if _holds(position, user - base)
    ]


def every_assignment(data: Dataset, stream: str) -> list[dict[str, Any]]:
    """Every assignment of every existing role (`role_assignments`) or permission set
    (`permission_set_assignments`), as the tap's streams of those names read them."""
    parent, rows = {
        "role_assignments": ("roles", role_assignments),
        "permission_set_assignments": ("permissionSets", permission_set_assignments),
    }[stream]
    with data.lock:
        return [row for parent_row in data.table(parent).ids() for row in rows(data, parent_row)]
