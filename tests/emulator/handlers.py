"""The emulated endpoints: a routing table from the spec's path templates to list handlers.

Handlers honour only the query parameters the spec lists for their operation and ignore the
rest, like the real API; values the spec restricts (enums, `limit`) are validated, with a 400
envelope for a bad one.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import functools
import json
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Protocol

import msgspec

from tests.emulator.account import COMPANY_ID, Filters, PermissionSets
from tests.emulator.data import NULL, Table, v1_time
from tests.emulator.dataset import FIELD_ENTITIES, Dataset
from tests.emulator.fields import namespaces
from tests.emulator.projects import Projects
from tests.emulator.spec import Operation, Spec, path_segments, split_api_path

DOCS_INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."
MAX_LIMIT = 500
DEFAULT_LIMIT = 100
#: `ids` and `custom_fields` caps the spec states for v2 lists.
MAX_IDS = 100
MAX_CUSTOM_FIELD_KEYS = 15

Predicate = Callable[[int], bool]


class ApiError(Exception):
    """An error answer: HTTP status and Pipedrive's error envelope."""

    def __init__(self, status: int, error: str, info: str = DOCS_INFO, **extra: Any) -> None:
        super().__init__(error)
        self.status = status
        self.body = error_body(error, info, **extra)


def error_body(error: str, info: str = DOCS_INFO, **extra: Any) -> dict[str, Any]:
    """Return Pipedrive's error envelope."""
    return {
        "success": False,
        "error": error,
        "error_info": info,
        "data": None,
        "additional_data": None,
        **extra,
    }


def _invalid(message: str) -> ApiError:
    return ApiError(400, f"Validation failed: {message}", code="ERR_SCHEMA_VALIDATION_FAILED")


@dataclass(frozen=True)
class Request:
    """A request as handlers see it: its operation, its query (last value of each name), and
    its body (write endpoints)."""

    method: str
    path: str
    query: Mapping[str, str]
    operation: Operation
    path_params: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def param(self, name: str) -> str | None:
        """Return a query parameter the operation declares; undeclared ones read as absent."""
        return self.query.get(name) if name in self.operation.parameters else None

    def choice(self, name: str, default: str) -> str:
        """Return a parameter restricted to the spec's enum, or `default` when absent."""
        value = self.param(name)
        if value is None:
            return default
        allowed = self.operation.parameter_enum(name)
        if allowed and value not in allowed:
            raise _invalid(f"{name}: must be one of {', '.join(map(str, allowed))}")
        return value

    def listed(self, name: str) -> list[str]:
        """Return a comma-separated parameter's parts, each checked against the spec's enum."""
        parts = [part.strip() for part in (self.param(name) or "").split(",") if part.strip()]
        allowed = {
            p.strip()
            for value in self.operation.parameter_enum(name)
            for p in str(value).split(",")
        }
        unknown = [part for part in parts if allowed and part not in allowed]
        if unknown:
            raise _invalid(f"{name}: unknown value(s) {', '.join(unknown)}")
        return parts


class Handler(Protocol):
    """Answers one operation: a JSON body, or ApiError."""

    def __call__(self, data: Dataset, request: Request) -> dict[str, Any]: ...


# --- parameter parsing ----------------------------------------------------------------------


def parse_int(raw: str, name: str) -> int:
    """Parse an integer parameter (400 if it is not one)."""
    try:
        return int(raw)
    except ValueError:
        raise _invalid(f"{name}: must be an integer") from None


def parse_bool(raw: str, name: str) -> bool:
    """Parse a boolean parameter: true/false or 1/0."""
    lowered = raw.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise _invalid(f"{name}: must be a boolean")


def parse_instant(raw: str, name: str, unit: int = 1) -> int:
    """Parse an RFC 3339 time; return the first tick (1/unit s) not before it.

    Records carry whole ticks (seconds, or milliseconds for leads), so `update_time >= t` is
    `update_time >= ceil(t)`, and `update_time < t` is `update_time < ceil(t)`: both bounds
    compare as instants. Integer arithmetic keeps `.551` from rounding to 550 ms.
    """
    text = raw.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise _invalid(f"{name}: must be an RFC 3339 date-time, got {raw!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    micros = (moment - _EPOCH) // datetime.timedelta(microseconds=1)
    return -(-micros * unit // 1_000_000)


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def v2_limit(request: Request) -> int:
    """Return the page size: `limit`, 100 by default, 1..500."""
    raw = request.param("limit")
    limit = DEFAULT_LIMIT if raw is None else parse_int(raw, "limit")
    if not 1 <= limit <= MAX_LIMIT:
        raise _invalid(f"limit: must be between 1 and {MAX_LIMIT}")
    return limit


def spec_max_limit(operation: Operation, default: int = MAX_LIMIT) -> int:
    """Return the largest `limit` an operation allows: the spec's, or `default`."""
    return operation.max_limit or default


def encode_cursor(payload: Mapping[str, Any]) -> str:
    """Encode a cursor like Pipedrive's: unpadded base64url of a small JSON object."""
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(raw: str) -> dict[str, Any]:
    """Decode a cursor made by `encode_cursor` (400 if it is not one)."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError):
        raise ApiError(400, "Invalid cursor") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "Invalid cursor")
    return payload


# --- filters --------------------------------------------------------------------------------

#: Builds the predicate of one query parameter, or None when it does not filter.
FilterFactory = Callable[[Table, str, "str | None"], "Predicate | None"]


def equals(table: Table, name: str, raw: str | None) -> Predicate | None:
    """Filter: the column named like the parameter equals the given id."""
    if raw is None:
        return None
    wanted, column, base = parse_int(raw, name), table.cols[name], table.id_base + 1
    return lambda rid: column[rid - base] == wanted


def flag(table: Table, name: str, raw: str | None) -> Predicate | None:
    """Filter: a 0/1 column equals the given boolean."""
    if raw is None:
        return None
    wanted, column, base = int(parse_bool(raw, name)), table.cols[name], table.id_base + 1
    return lambda rid: column[rid - base] == wanted


def id_in(table: Table, name: str, raw: str | None) -> Predicate | None:
    """Filter `ids`: up to 100 comma-separated ids."""
    if raw is None:
        return None
    wanted = {parse_int(part.strip(), name) for part in raw.split(",") if part.strip()}
    if len(wanted) > MAX_IDS:
        raise _invalid(f"{name}: at most {MAX_IDS} ids")
    return wanted.__contains__


def deal_status(table: Table, name: str, raw: str | None) -> Predicate:
    """Filter `status`: open/won/lost/deleted, comma-separated; absent = every non-deleted deal."""
    statuses, deleted, base = table.cols["status"], table.cols["deleted"], table.id_base + 1
    if raw is None:
        return lambda rid: not deleted[rid - base]
    wanted = {part.strip() for part in raw.split(",") if part.strip()}
    codes = {"open": 0, "won": 1, "lost": 2}
    unknown = wanted - {*codes, "deleted"}
    if unknown or not wanted:
        raise _invalid(f"{name}: must be a comma-separated list of open, won, lost, deleted")
    listed = {codes[s] for s in wanted if s in codes}
    with_deleted = "deleted" in wanted
    return lambda rid: with_deleted if deleted[rid - base] else statuses[rid - base] in listed


def coded(codes: Sequence[str], column: str | None = None) -> FilterFactory:
    """Filter: a column holding an index into `codes` equals the code given (one value)."""

    def factory(table: Table, name: str, raw: str | None) -> Predicate | None:
        if raw is None:
            return None
        if raw not in codes:
            raise _invalid(f"{name}: must be one of {', '.join(codes)}")
        wanted, values, base = codes.index(raw), table.cols[column or name], table.id_base + 1
        return lambda rid: values[rid - base] == wanted

    return factory


def statuses(codes: Sequence[str]) -> FilterFactory:
    """Filter: comma-separated statuses, each one of `codes` (the `status` column's index)."""

    def factory(table: Table, name: str, raw: str | None) -> Predicate | None:
        if raw is None:
            return None
        wanted = {part.strip() for part in raw.split(",") if part.strip()}
        if not wanted <= set(codes):
            raise _invalid(f"{name}: must be a comma-separated list of {', '.join(codes)}")
        indexes, column, base = (
            {codes.index(s) for s in wanted},
            table.cols["status"],
            table.id_base + 1,
        )
        return lambda rid: column[rid - base] in indexes

    return factory


def active_by_default(table: Table, name: str, raw: str | None) -> Predicate:
    """Filter `is_active` (goals): true unless asked otherwise, as the spec's default says."""
    wanted = 1 if raw is None else int(parse_bool(raw, name))
    column, base = table.cols["active"], table.id_base + 1
    return lambda rid: column[rid - base] == wanted


def parent_task(table: Table, name: str, raw: str | None) -> Predicate | None:
    """Filter `parent_task_id`: `null` selects root tasks, an id that task's subtasks."""
    if raw is None:
        return None
    wanted = NULL if raw == "null" else parse_int(raw, name)
    column, base = table.cols["parent_task_id"], table.id_base + 1
    return lambda rid: column[rid - base] == wanted


def required_deal_ids(table: Table, name: str, raw: str | None) -> Predicate:
    """Filter `deal_ids` (required): up to 100 comma-separated deal ids."""
    if raw is None or not raw.strip():
        raise _invalid(f"{name}: is required")
    wanted = {parse_int(part.strip(), name) for part in raw.split(",") if part.strip()}
    if len(wanted) > MAX_IDS:
        raise _invalid(f"{name}: at most {MAX_IDS} ids")
    column, base = table.cols["deal_id"], table.id_base + 1
    return lambda rid: column[rid - base] in wanted


def text_search(*keys: str) -> FilterFactory:
    """Filter: case-insensitive substring of one of the record's `keys` (small tables only)."""

    def factory(table: Table, name: str, raw: str | None) -> Predicate | None:
        if raw is None:
            return None
        needle = raw.lower()
        return lambda rid: any(needle in str(table.record(rid)[k]).lower() for k in keys)

    return factory


# --- scanning -------------------------------------------------------------------------------


@dataclass
class Query:
    """What a list asks for: order, update_time bounds, and the other filters."""

    sort_by: str = "id"
    descending: bool = False
    since: int | None = None
    until: int | None = None
    predicates: list[Predicate] = field(default_factory=list)


def time_bounds(table: Table, query: Query) -> list[Predicate]:
    """Return predicates for `since`/`until` on update_time."""
    result: list[Predicate] = []
    if not table.timestamps:
        return result
    column, base = table.cols["update_time"], table.id_base + 1
    if query.since is not None:
        since = query.since
        result.append(lambda rid: column[rid - base] >= since)
    if query.until is not None:
        until = query.until
        result.append(lambda rid: column[rid - base] < until)
    return result


def archived_scope(table: Table, archived: bool | None) -> list[Predicate]:
    """Return the predicate keeping a list to archived (True) or live (False) records."""
    if archived is None:
        return []
    column, base, wanted = table.cols["archived"], table.id_base + 1, int(archived)
    return [lambda rid: column[rid - base] == wanted]


def scan(
    keys: Sequence[tuple[Any, int]], query: Query, at: tuple[Any, int] | None = None
) -> Iterator[int]:
    """Yield the ids of `keys` (an ascending index) in the query's order, from `at` on.

    `at` is a keyset position (sort key, id), inclusive: a record that moved since the cursor
    was made is found where it is now, as a database would. When the list sorts by
    update_time, the time bounds also cut the scan short.
    """
    bounded = query.sort_by == "update_time"
    low = query.since if bounded else None
    high = query.until if bounded else None
    predicates = query.predicates
    if not query.descending:
        start = bisect_left(keys, at) if at is not None else 0
        if low is not None:
            start = max(start, bisect_left(keys, (low,)))
        for position in range(start, len(keys)):
            key, rid = keys[position]
            if high is not None and key >= high:
                return
            if all(p(rid) for p in predicates):
                yield rid
    else:
        start = bisect_right(keys, at) - 1 if at is not None else len(keys) - 1
        if high is not None:
            start = min(start, bisect_left(keys, (high,)) - 1)
        for position in range(start, -1, -1):
            key, rid = keys[position]
            if low is not None and key < low:
                return
            if all(p(rid) for p in predicates):
                yield rid


# --- handlers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class V2List:
    """A v2 list: keyset cursor pagination, sort, `updated_since`/`updated_until`, filters."""

    entity: str
    filters: Mapping[str, FilterFactory] = field(default_factory=dict)
    #: None: the entity cannot be archived; False: live records only; True: archived only.
    archived: bool | None = None

    def __call__(self, data: Dataset, request: Request) -> dict[str, Any]:
        table = data.table(self.entity)
        limit = v2_limit(request)
        query = self.query(table, request)
        at = self._position(request, query)
        try:
            ids = list(islice(scan(table.index(query.sort_by), query, at), limit + 1))
        except TypeError:  # a forged cursor whose value does not compare with the sort keys
            raise ApiError(400, "Invalid cursor") from None
        next_cursor = None
        if len(ids) > limit:
            first_of_next = ids.pop()
            next_cursor = encode_cursor(
                {
                    "field": query.sort_by,
                    "fieldValue": table.sort_key(first_of_next, query.sort_by),
                    "sortDirection": "desc" if query.descending else "asc",
                    "id": first_of_next,
                }
            )
        return {
            "success": True,
            "data": self.render(data, table, ids, request),
            "additional_data": {"next_cursor": next_cursor},
        }

    def query(self, table: Table, request: Request) -> Query:
        """Parse sorting and filters (only those the operation declares)."""
        query = Query(
            sort_by=request.choice("sort_by", "id"),
            descending=request.choice("sort_direction", "asc") == "desc",
        )
        if query.sort_by not in table.sortable:
            raise _invalid(f"sort_by: {query.sort_by} is not supported")
        since, until = request.param("updated_since"), request.param("updated_until")
        query.since = parse_instant(since, "updated_since") if since is not None else None
        query.until = parse_instant(until, "updated_until") if until is not None else None
        query.predicates = time_bounds(table, query) + archived_scope(table, self.archived)
        for name, factory in {"ids": id_in, **self.filters}.items():
            if name in request.operation.parameters:
                predicate = factory(table, name, request.param(name))
                if predicate is not None:
                    query.predicates.append(predicate)
        return query

    def select(self, data: Dataset, request: Request) -> list[int]:
        """Return every matching id in list order, ignoring pagination."""
        table = data.table(self.entity)
        query = self.query(table, request)
        return list(scan(table.index(query.sort_by), query))

    def render(
        self, data: Dataset, table: Table, ids: Iterable[int], request: Request
    ) -> list[dict[str, Any]] | list[msgspec.Raw]:
        """Build the records, with `include_fields`, `custom_fields`, option labels applied."""
        include = request.listed("include_fields")
        keys = {k.strip() for k in (request.param("custom_fields") or "").split(",") if k.strip()}
        if len(keys) > MAX_CUSTOM_FIELD_KEYS:
            raise _invalid(f"custom_fields: at most {MAX_CUSTOM_FIELD_KEYS} keys")
        raw_labels = request.param("include_option_labels")
        labels = (
            data.option_labels(self.entity)
            if (raw_labels is not None and parse_bool(raw_labels, "include_option_labels"))
            else None
        )
        if not keys and labels is None:
            return data.encoded(table, ids, frozenset(include))
        records = []
        for rid in ids:
            record = table.record(rid, include)
            custom = record.get("custom_fields")
            if custom is not None and keys:
                custom = {k: v for k, v in custom.items() if k in keys}
            if custom is not None and labels:
                custom = {k: _labelled(v, labels.get(k)) for k, v in custom.items()}
            if custom is not None:
                record["custom_fields"] = custom
            records.append(record)
        return records

    @staticmethod
    def _position(request: Request, query: Query) -> tuple[Any, int] | None:
        raw = request.param("cursor")
        if raw is None:
            return None
        cursor = decode_cursor(raw)
        direction = "desc" if query.descending else "asc"
        if cursor.get("field") != query.sort_by or cursor.get("sortDirection") != direction:
            raise ApiError(
                400,
                "Invalid cursor",
                "The cursor belongs to a list with another sort_by/sort_direction.",
            )
        if not isinstance(cursor.get("id"), int) or "fieldValue" not in cursor:
            raise ApiError(400, "Invalid cursor")
        return cursor["fieldValue"], cursor["id"]


def _labelled(value: Any, labels: Mapping[Any, str] | None) -> Any:
    """Turn an option id (or a list of them) into `{id, label}` objects."""
    if labels is None or value is None:
        return value
    if isinstance(value, list):
        return [{"id": v, "label": labels.get(v)} for v in value]
    return {"id": value, "label": labels.get(value)}


@dataclass(frozen=True)
class V2Fields:
    """A v2 `*Fields` list: every field definition, cursor-paginated by position."""

    entity: str

    def __call__(self, data: Dataset, request: Request) -> dict[str, Any]:
        limit = v2_limit(request)
        include = namespaces(",".join(request.listed("include_fields")))
        start = 0
        raw = request.param("cursor")
        if raw is not None:
            cursor = decode_cursor(raw)
            if cursor.get("field") != "position" or not isinstance(cursor.get("fieldValue"), int):
                raise ApiError(400, "Invalid cursor")
            start = cursor["fieldValue"]
        definitions = data.field_definitions(self.entity, include)
        more = start + limit < len(definitions)
        return {
            "success": True,
            "data": definitions[start : start + limit],
            "additional_data": {
                "next_cursor": encode_cursor({"field": "position", "fieldValue": start + limit})
                if more
                else None
            },
        }


@dataclass(frozen=True)
class V1List:
    """A v1 list: `start`/`limit` offsets (or no pagination at all), `sort`, filters.

    Paginated when the spec declares `limit`; `limit` may not exceed the spec's maximum.
    `flat` puts the pagination keys straight into `additional_data` (leads: their spec says
    so); `data_key` nests the records one level down (`/goals/find`: `data.goals`).
    """

    entity: str
    filters: Mapping[str, FilterFactory] = field(default_factory=dict)
    paginated: bool = True
    archived: bool | None = None
    default_sort: str = "id"
    flat: bool = False
    data_key: str | None = None

    def __call__(self, data: Dataset, request: Request) -> dict[str, Any]:
        table = data.table(self.entity)
        matching = self._scan(table, request)
        if not self.paginated or "limit" not in request.operation.parameters:
            records = [table.record(rid) for rid in matching]
            return {"success": True, "data": {self.data_key: records} if self.data_key else records}
        start, limit = v1_window(request, spec_max_limit(request.operation))
        ids = list(islice(matching, start, start + limit + 1))
        more = len(ids) > limit
        records = data.encoded(table, ids[:limit])
        pagination = v1_pagination(start, limit, more)
        if self.flat:
            pagination.pop("next_start", None)
        return {
            "success": True,
            "data": records,
            "additional_data": pagination if self.flat else {"pagination": pagination},
        }

    def select(self, data: Dataset, request: Request) -> list[int]:
        """Return every matching id in list order, ignoring pagination."""
        return list(self._scan(data.table(self.entity), request))

    def _scan(self, table: Table, request: Request) -> Iterator[int]:
        order = parse_sort(request.param("sort") or self.default_sort, table)
        query = Query(sort_by=order[0][0], descending=order[0][1])
        since = request.param("updated_since")
        query.since = (
            parse_instant(since, "updated_since", table.unit) if since is not None else None
        )
        if table.timestamps:
            query.predicates = time_bounds(table, query)
        query.predicates += archived_scope(table, self.archived)
        for name, factory in self.filters.items():
            if name in request.operation.parameters:
                predicate = factory(table, name, request.param(name))
                if predicate is not None:
                    query.predicates.append(predicate)
        keys = table.index(query.sort_by)
        # The index breaks ties by row id, which is the `id` order only where ids are ints.
        numeric_ids = table.sortable.get("id") == "id"
        tie_break = order[1:] == [] or (numeric_ids and order[1:] == [("id", query.descending)])
        if not tie_break:
            # A compound order the index cannot give: sort explicitly (stable, last key first).
            ids = [rid for _, rid in keys]
            for name, descending in reversed(order):
                ids.sort(key=functools.partial(_sort_key, table, name), reverse=descending)
            keys = list(enumerate(ids))
            query = Query(predicates=query.predicates)
        return scan(keys, query)


def _sort_key(table: Table, name: str, record_id: int) -> Any:
    return table.sort_key(record_id, name)


def parse_sort(raw: str | None, table: Table) -> list[tuple[str, bool]]:
    """Parse v1 `sort` ("update_time ASC, id ASC") into (field, descending) pairs."""
    if not raw or not raw.strip():
        return [("id", False)]
    order = []
    for part in raw.split(","):
        words = part.split()
        if (
            not words
            or len(words) > 2
            or (len(words) == 2 and words[1].upper() not in ("ASC", "DESC"))
        ):
            raise _invalid(f"sort: cannot parse {part.strip()!r}")
        if words[0] not in table.sortable:
            raise _invalid(f"sort: cannot sort by {words[0]}")
        order.append((words[0], len(words) == 2 and words[1].upper() == "DESC"))
    return order


def v1_window(request: Request, max_limit: int = MAX_LIMIT) -> tuple[int, int]:
    """Return v1 (start, limit): start >= 0, limit 1..max_limit (100 by default, or the max)."""
    raw_start, raw_limit = request.param("start"), request.param("limit")
    start = 0 if raw_start is None else parse_int(raw_start, "start")
    default = min(DEFAULT_LIMIT, max_limit)
    limit = default if raw_limit is None else parse_int(raw_limit, "limit")
    if start < 0:
        raise _invalid("start: must be 0 or more")
    if not 1 <= limit <= max_limit:
        raise _invalid(f"limit: must be between 1 and {max_limit}")
    return start, limit


def v1_pagination(start: int, limit: int, more: bool) -> dict[str, Any]:
    """Return v1's pagination block; `next_start` only when there is a next page."""
    block: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
    if more:
        block["next_start"] = start + limit
    return block


@dataclass(frozen=True)
class V1Fields:
    """A v1 `*Fields` list (v1 field shape): offset-paginated, or all at once when the spec
    declares no `start`/`limit` (the answer then still carries a complete pagination block,
    as the spec's example shows)."""

    entity: str

    def __call__(self, data: Dataset, request: Request) -> dict[str, Any]:
        definitions = data.field_definitions(self.entity)
        if "limit" not in request.operation.parameters:
            start, limit = 0, DEFAULT_LIMIT
            page, more = definitions, False
        else:
            start, limit = v1_window(request)
            page, more = definitions[start : start + limit], start + limit < len(definitions)
        return {
            "success": True,
            "data": page,
            "additional_data": {"pagination": v1_pagination(start, limit, more)},
        }


#: The item kinds `/deals/{id}/flow` may be filtered to (`items`), from its spec.
FLOW_ITEMS = frozenset({
    "call", "activity", "plannedActivity", "change", "note", "deal", "file", "dealChange",
    "personChange", "organizationChange", "follower", "dealFollower", "personFollower",
    "organizationFollower", "participant", "comment", "mailMessage", "mailMessageWithAttachment",
    "invoice", "document", "marketing_campaign_stat", "marketing_status_change",
})  # fmt: skip


@dataclass(frozen=True)
class DealFlowList:
    """`/deals/{id}/flow`: a deal's updates, newest first, `start`/`limit` paginated.

    `all_changes=1` adds custom-field changes; `items` keeps the named kinds only. A deal that
    does not exist, or is deleted, answers 404. The pagination keys sit straight in
    `additional_data`, as the spec's schema has them.
    """

    def __call__(self, data: Dataset, request: Request) -> dict[str, Any]:
        raw_id = request.path_params.get("id", "")
        deal = int(raw_id) if raw_id.isdigit() else 0
        deals = data.deals
        if not deals.exists(deal) or deals.cols["deleted"][deal - 1]:
            raise ApiError(404, "Deal not found")
        kinds = {part.strip() for part in (request.param("items") or "").split(",") if part.strip()}
        unknown = kinds - FLOW_ITEMS
        if unknown:
            raise _invalid(f"items: unknown value(s) {', '.join(sorted(unknown))}")
        items = data.flow.items(deal, all_changes=request.param("all_changes") == "1")
        if kinds:
            items = [item for item in items if item["object"] in kinds]
        start, limit = v1_window(request)
        return {
            "success": True,
            "data": items[start : start + limit],
            "additional_data": {
                "start": start,
                "limit": limit,
                "more_items_in_collection": start + limit < len(items),
            },
        }


#: The `/recents` item types emulated -> their tables (the spec's other types list nothing).
RECENT_ITEMS: Mapping[str, str] = {
    "activity": "activities",
    "note": "notes",
    "organization": "organizations",
    "person": "persons",
    "product": "products",
}
#: The field of each table's v1 record holding its `label` (the field `touch` edits).
_RECENT_LABEL = {"activities": "subject", "notes": "content"}


def parse_v1_instant(raw: str, name: str) -> int:
    """Parse a v1 `YYYY-MM-DD HH:MM:SS` (UTC) time into epoch seconds (400 for another format)."""
    try:
        if len(raw) != 19:
            raise ValueError(raw)
        moment = datetime.datetime.strptime(raw, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise _invalid(f"{name}: must be YYYY-MM-DD HH:MM:SS, got {raw!r}") from None
    return (moment.replace(tzinfo=datetime.timezone.utc) - _EPOCH) // datetime.timedelta(seconds=1)


@dataclass(frozen=True)
class RecentsList:
    """`/recents`: every change since `since_timestamp` (inclusive), oldest first, one entry per
    record: updated records as a short v1 record (`active_flag: true`), deleted ones as
    `{id, active_flag: false, update_time: <deletion time>}`.

    `items` (comma-separated) keeps the named types. Ties in time go by item type, then id.
    `start`/`limit` paginate (limit at most 500); the pagination block has no `next_start`, as
    the spec's schema has none. An updated record moves to the end of the list, as a live list
    would. Unlike the real API, `since_timestamp` is not capped to one month back.
    """

    def __call__(self, data: Dataset, request: Request) -> dict[str, Any]:
        raw = request.param("since_timestamp")
        if raw is None:
            raise _invalid("since_timestamp: is required")
        since = parse_v1_instant(raw, "since_timestamp")
        kinds = request.listed("items") or list(RECENT_ITEMS)
        start, limit = v1_window(request, spec_max_limit(request.operation))
        types = tuple(sorted(set(kinds) & set(RECENT_ITEMS)))
        # The whole list once per state of the data, not once per page.
        changes = data.memo(("recents", since, types), lambda: self._changes(data, since, types))
        page = changes[start : start + limit]
        return {
            "success": True,
            "data": [self._entry(data, *change) for change in page],
            "additional_data": {
                "since_timestamp": v1_time(since),
                "last_timestamp_on_page": v1_time(page[-1][0] if page else since),
                "pagination": {
                    "start": start,
                    "limit": limit,
                    "more_items_in_collection": start + limit < len(changes),
                },
            },
        }

    @staticmethod
    def _changes(
        data: Dataset, since: int, types: tuple[str, ...]
    ) -> list[tuple[int, str, int, bool]]:
        """Every change since `since` of the item types, in list order."""
        changes: list[tuple[int, str, int, bool]] = []
        for kind in types:
            table = data.table(RECENT_ITEMS[kind])
            keys = table.index("update_time")
            first = bisect_left(keys, (since * table.unit,))
            changes += [(tick // table.unit, kind, rid, False) for tick, rid in keys[first:]]
            changes += [
                (tick // table.unit, kind, rid, True)
                for rid, tick in table.removed.items()
                if tick // table.unit >= since
            ]
        changes.sort()
        return changes

    @staticmethod
    def _entry(data: Dataset, second: int, kind: str, rid: int, deleted: bool) -> dict[str, Any]:
        table = data.table(RECENT_ITEMS[kind])
        record: dict[str, Any] = {"id": rid}
        if deleted:
            record.update(active_flag=False, update_time=v1_time(second))
        else:
            added, updated = table.get(rid, "add_time"), table.get(rid, "update_time")
            record[_RECENT_LABEL.get(table.entity, "name")] = table.label(rid)
            record.update(
                add_time=v1_time(None if added is None else added // table.unit),
                update_time=v1_time(None if updated is None else updated // table.unit),
                active_flag=True,
            )
        return {"item": kind, "id": rid, "data": record}


# --- routing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One emulated operation: spec version, spec path template, handler, method."""

    version: str
    template: str
    handler: Handler
    method: str = "GET"


_OWNER: Mapping[str, FilterFactory] = {"owner_id": equals}
_LINKS: Mapping[str, FilterFactory] = {"deal_id": equals, "person_id": equals, "org_id": equals}

_DEAL_FILTERS: Mapping[str, FilterFactory] = {
    **_OWNER, "person_id": equals, "org_id": equals, "pipeline_id": equals, "stage_id": equals,
    "status": deal_status,
}  # fmt: skip
_LEAD_FILTERS: Mapping[str, FilterFactory] = {
    **_OWNER, "person_id": equals, "organization_id": equals,
}  # fmt: skip
_PROJECT_FILTERS: Mapping[str, FilterFactory] = {
    "status": statuses(Projects.STATUSES), "phase_id": equals, **_LINKS,
}  # fmt: skip


def current_user(data: Dataset, request: Request) -> dict[str, Any]:
    """`GET /v1/users/me`: the token's owner (user 1, `is_you`), with its company."""
    me = data.users.record(data.user_ids[0])
    company = {
        "company_id": COMPANY_ID, "company_name": "Acme", "company_domain": "acme",
        "company_country": "EE", "company_industry": "Software",
        "language": {"language_code": "en", "country_code": "US"},
    }  # fmt: skip
    return {"success": True, "data": {**me, **company}}


#: Every emulated operation. Filters name the query parameters honoured beyond the common
#: ones (`ids`, `updated_since`/`updated_until`, sorting, paging), where the spec lists them.
ROUTES: tuple[Route, ...] = (
    Route("v2", "/deals", V2List("deals", _DEAL_FILTERS, archived=False)),
    Route("v2", "/deals/archived", V2List("deals", _DEAL_FILTERS, archived=True)),
    Route("v2", "/deals/products", V2List("dealProducts", {"deal_ids": required_deal_ids})),
    Route("v2", "/deals/installments", V2List("dealInstallments", {"deal_ids": required_deal_ids})),
    Route("v2", "/persons", V2List("persons", {**_OWNER, "org_id": equals})),
    Route("v2", "/organizations", V2List("organizations", _OWNER)),
    Route("v2", "/activities", V2List("activities", {**_OWNER, **_LINKS, "done": flag})),
    Route("v2", "/products", V2List("products", _OWNER)),
    Route("v2", "/pipelines", V2List("pipelines")),
    Route("v2", "/stages", V2List("stages", {"pipeline_id": equals})),
    *(Route("v2", f"/{name}", V2Fields(name)) for name in FIELD_ENTITIES),
    Route("v1", "/notes", V1List("notes", {"user_id": equals, **_LINKS})),
    Route("v1", "/users", V1List("users", paginated=False)),
    Route("v1", "/users/me", current_user),
    Route("v1", "/currencies", V1List(
        "currencies", {"term": text_search("code", "name")}, paginated=False,
    )),
    Route("v1", "/noteFields", V1Fields("noteFields")),
    Route("v1", "/leadFields", V1Fields("leadFields")),
    Route("v2", "/projects", V2List("projects", _PROJECT_FILTERS, archived=False)),
    Route("v2", "/projects/archived", V2List("projects", _PROJECT_FILTERS, archived=True)),
    Route("v2", "/tasks", V2List("tasks", {
        "is_done": flag, "is_milestone": flag, "assignee_id": equals, "project_id": equals,
        "parent_task_id": parent_task,
    })),
    Route("v1", "/leads", V1List(
        "leads", _LEAD_FILTERS, archived=False, default_sort="add_time", flat=True,
    )),
    Route("v1", "/leads/archived", V1List(
        "leads", _LEAD_FILTERS, archived=True, default_sort="add_time", flat=True,
    )),
    Route("v1", "/deals/{id}/flow", DealFlowList()),
    Route("v1", "/activityTypes", V1List("activityTypes")),
    Route("v1", "/filters", V1List("filters", {"type": coded(Filters.TYPES)})),
    Route("v1", "/leadLabels", V1List("leadLabels")),
    Route("v1", "/leadSources", V1List("leadSources")),
    Route("v1", "/roles", V1List("roles")),
    Route("v1", "/permissionSets", V1List("permissionSets", {"app": coded(PermissionSets.APPS)})),
    Route("v1", "/callLogs", V1List("callLogs")),
    Route("v1", "/files", V1List("files")),
    Route("v1", "/goals/find", V1List("goals", {"is_active": active_by_default}, data_key="goals")),
    Route("v1", "/recents", RecentsList()),
)  # fmt: skip


class Router:
    """Finds the route and spec operation of a request path; every route must be in the spec."""

    def __init__(self, spec: Spec, routes: Iterable[Route] = ROUTES) -> None:
        self._spec = spec
        self._routes: dict[tuple[str, str, str], tuple[Route, Operation]] = {}
        #: (entity, archived) -> its list handler and operation (what `Emulator.ids` queries).
        self.lists: dict[tuple[str, bool], tuple[V2List | V1List, Operation]] = {}
        for route in routes:
            operation = spec.get(route.version, route.method, route.template)
            self._routes[(route.version, route.method, route.template)] = (route, operation)
            if isinstance(route.handler, (V2List, V1List)):
                key = (route.handler.entity, bool(route.handler.archived))
                self.lists[key] = (route.handler, operation)

    def match(self, method: str, path: str) -> tuple[Route, Operation, dict[str, str]] | None:
        """Return (route, operation, path parameters), or None if the path is not emulated."""
        try:
            operation = self._spec.operation(method, path)
        except KeyError:
            return None
        found = self._routes.get((operation.version, operation.method, operation.template))
        if found is None:
            return None
        split = split_api_path(path)
        segments = zip(
            path_segments(operation.template),
            path_segments(split[1] if split else path),
            strict=True,
        )
        params = {want[1:-1]: got for want, got in segments if want.startswith("{")}
        return found[0], operation, params
