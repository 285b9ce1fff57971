"""The endpoints of field history: persons' and organizations' changelogs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tests.emulator.handlers import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    ApiError,
    Request,
    Route,
    decode_cursor,
    encode_cursor,
    parse_int,
)

if TYPE_CHECKING:
    from tests.emulator.dataset import Dataset


@dataclass(frozen=True)
class ChangelogList:
    """`/{entity}/{id}/changelog`: newest first, `cursor`/`limit` paginated; 404 if gone."""

    entity: str

    def __call__(self, data: Dataset, request: Request) -> dict[str, Any]:
        raw_id = request.path_params.get("id", "")
        table = data.table(self.entity)
        record_id = int(raw_id) if raw_id.isdigit() else 0
        if not table.exists(record_id):
            raise ApiError(404, f"{self.entity[:-1].capitalize()} not found")
        raw_limit = request.param("limit")
        limit = DEFAULT_LIMIT if raw_limit is None else parse_int(raw_limit, "limit")
        if not 1 <= limit <= MAX_LIMIT:
            raise ApiError(400, f"Validation failed: limit: must be between 1 and {MAX_LIMIT}")
        cursor = request.param("cursor")
        start = int(decode_cursor(cursor).get("offset", 0)) if cursor else 0
        items = [c.item() for c in data.changelogs.changes(self.entity, record_id)]
        more = start + limit < len(items)
        return {
            "success": True,
            "data": items[start : start + limit],
            "additional_data": {
                "next_cursor": encode_cursor({"offset": start + limit}) if more else None
            },
        }


ROUTES = (
    Route("v1", "/persons/{id}/changelog", ChangelogList("persons")),
    Route("v1", "/organizations/{id}/changelog", ChangelogList("organizations")),
)
