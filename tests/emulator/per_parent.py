"""Lists read per parent: project boards and their phases (`/phases?board_id=`), the
assignments of each role and permission set (`/{id}/assignments`), and the followers of each
organization (`/v1/organizations/{id}/followers`, which the tap reads only as a custom stream).
A parent that is not there
answers 404, as Pipedrive does for an id it does not know."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.emulator.assignments import permission_set_assignments, role_assignments
from tests.emulator.data import Table, mix, v1_time
from tests.emulator.dataset import Dataset
from tests.emulator.handlers import (
    ApiError,
    Predicate,
    Request,
    Route,
    V2List,
    parse_int,
    spec_max_limit,
    v1_pagination,
    v1_window,
)


class WholeList(V2List):
    """A v2 list the spec gives no paging: every record in one answer, `additional_data` null."""

    def __call__(self, data: Dataset, request: Request) -> dict[str, Any]:
        table = data.table(self.entity)
        records = [table.record(rid) for rid in self.select(data, request)]
        return {"success": True, "data": records, "additional_data": None}


def board_phases(table: Table, name: str, raw: str | None) -> Predicate:
    """Filter `board_id` (required): the phases of one board; 404 for a board not there."""
    if raw is None:
        raise ApiError(400, f"Validation failed: {name}: is required")
    board = parse_int(raw, name)
    if not table.dataset.table("boards").exists(board):
        raise ApiError(404, "Board not found")
    column, base = table.cols["board_id"], table.id_base + 1
    return lambda rid: column[rid - base] == board


@dataclass(frozen=True)
class Assignments:
    """`/{roles,permissionSets}/{id}/assignments`: offset pages of a parent's assignments.

    The role list's pagination block has no `next_start`, as its spec shows none; the
    permission sets' spec shows no `additional_data` at all but takes `start`/`limit`, so it
    gets the same block (without it, a client could not tell a page was not the last).
    """

    parent: str
    rows: Callable[[Dataset, int], list[dict[str, Any]]]
    not_found: str

    def __call__(self, data: Dataset, request: Request) -> dict[str, Any]:
        table = data.table(self.parent)
        raw = request.path_params.get("id", "")
        try:
            row = table.row_id(int(raw) if raw.isdigit() else raw)
        except KeyError:
            raise ApiError(404, self.not_found) from None
        if not table.exists(row):
            raise ApiError(404, self.not_found)
        rows = self.rows(data, row)
        start, limit = v1_window(request, spec_max_limit(request.operation))
        more = start + limit < len(rows)
        pagination = v1_pagination(start, limit, more)
        pagination.pop("next_start", None)
        return {
            "success": True,
            "data": rows[start : start + limit],
            "additional_data": {"pagination": pagination},
        }


def organization_followers(data: Dataset, org_id: int) -> list[dict[str, Any]]:
    """An organization's followers: 1 or 2 users by a hash, each followed since the org's birth.

    The follower's id is the organization's times 10 plus its position, so ids never repeat.
    """
    users = data.users.ids()
    added = v1_time(data.table("organizations").get(org_id, "add_time"))
    return [
        {"id": org_id * 10 + k, "org_id": org_id, "user_id": users[(org_id + k) % len(users)],
         "add_time": added}
        for k in range(1 + mix(data.seed, org_id) % 2)
    ]  # fmt: skip


#: The operations served here (the server adds them to its router).
PER_PARENT_ROUTES: tuple[Route, ...] = (
    Route("v2", "/boards", WholeList("boards")),
    Route("v2", "/phases", WholeList("phases", {"board_id": board_phases})),
    Route("v1", "/roles/{id}/assignments", Assignments(
        "roles", role_assignments, "Role not found",
    )),
    Route("v1", "/permissionSets/{id}/assignments", Assignments(
        "permissionSets", permission_set_assignments, "Permission set not found",
    )),
    Route("v1", "/organizations/{id}/followers", Assignments(
        "organizations", organization_followers, "Organization not found",
    )),
)  # fmt: skip
