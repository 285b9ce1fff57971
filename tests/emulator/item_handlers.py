"""The per-item endpoints: `/v1/deals/{id}/participants`, `/v1/deals/{id}/mailMessages`,
`/api/v2/deals/{id}/discounts`, `/api/v2/products/{id}/variations` (data: `deal_extras`).

A deleted deal, or a product that is gone, answers 404. Shapes and paging follow each
operation's spec: v1 offsets with the pagination keys straight in `additional_data` (as both v1
schemas have them), a v2 cursor for the variations, and no paging at all for the discounts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.emulator.handlers import (
    ApiError,
    Request,
    Route,
    decode_cursor,
    encode_cursor,
    v1_window,
    v2_limit,
)

if TYPE_CHECKING:
    from tests.emulator.dataset import Dataset


def _deal(data: Dataset, request: Request) -> int:
    """The path's deal; 404 when there is none, or it is deleted."""
    raw = request.path_params.get("id", "")
    deal = int(raw) if raw.isdigit() else 0
    if not data.deals.exists(deal) or data.deals.cols["deleted"][deal - 1]:
        raise ApiError(404, "Deal not found")
    return deal


def _v1_page(request: Request, rows: list[dict[str, Any]]) -> dict[str, Any]:
    start, limit = v1_window(request)
    return {
        "success": True,
        "data": rows[start : start + limit],
        "additional_data": {
            "start": start,
            "limit": limit,
            "more_items_in_collection": start + limit < len(rows),
        },
    }


def participants(data: Dataset, request: Request) -> dict[str, Any]:
    """`GET /v1/deals/{id}/participants`: offset pages."""
    return _v1_page(request, data.extras.participants(_deal(data, request)))


def mail_messages(data: Dataset, request: Request) -> dict[str, Any]:
    """`GET /v1/deals/{id}/mailMessages`: offset pages; the body only with `include_body=1`."""
    deal = _deal(data, request)
    raw = request.param("include_body") or "0"
    if raw not in ("0", "1"):  # the spec's enum: 0, 1
        raise ApiError(400, "Validation failed: include_body: must be one of 0, 1")
    return _v1_page(request, data.extras.mail_messages(deal, include_body=raw == "1"))


def discounts(data: Dataset, request: Request) -> dict[str, Any]:
    """`GET /api/v2/deals/{id}/discounts`: every discount, no paging."""
    return {"success": True, "data": data.extras.discounts(_deal(data, request))}


def variations(data: Dataset, request: Request) -> dict[str, Any]:
    """`GET /api/v2/products/{id}/variations`: cursor pages by position; 404 for a gone product."""
    raw = request.path_params.get("id", "")
    product = int(raw) if raw.isdigit() else 0
    if not data.products.exists(product):
        raise ApiError(404, "Product not found")
    limit = v2_limit(request)
    start = 0
    cursor = request.param("cursor")
    if cursor is not None:
        position = decode_cursor(cursor).get("fieldValue")
        if not isinstance(position, int):
            raise ApiError(400, "Invalid cursor")
        start = position
    rows = data.extras.variations(product)
    more = start + limit < len(rows)
    return {
        "success": True,
        "data": rows[start : start + limit],
        "additional_data": {
            "next_cursor": encode_cursor({"field": "position", "fieldValue": start + limit})
            if more
            else None
        },
    }


#: The per-item operations, served beside `handlers.ROUTES`.
ITEM_ROUTES: tuple[Route, ...] = (
    Route("v1", "/deals/{id}/participants", participants),
    Route("v1", "/deals/{id}/mailMessages", mail_messages),
    Route("v2", "/deals/{id}/discounts", discounts),
    Route("v2", "/products/{id}/variations", variations),
)
