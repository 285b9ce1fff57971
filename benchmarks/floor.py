"""The floor: a minimal sequential `requests` loop over the same reads as the tap's."""

from __future__ import annotations

import datetime
import json
import sys
import typing as t
from pathlib import Path

from common import (
    API_TOKEN,
    CHILD_PATHS,
    MAX_PAGES,
    PAGE_PARAMS,
    STREAMS,
    VERSION_PREFIXES,
    LoggedRequest,
)


def stream_of(path: str) -> str | None:
    """Return which benchmarked stream a list path serves (`/api/v2/deals/archived`: deals)."""
    for pattern, child in CHILD_PATHS:
        if pattern.match(path):
            return child
    for prefix in VERSION_PREFIXES:
        if path.startswith(prefix):
            entity = path[len(prefix) :].split("/", 1)[0]
            return entity if entity in STREAMS else None
    return None


def is_fields_path(path: str) -> bool:
    """Tell whether a path is a field-definitions list (`/api/v2/dealFields`, `/v1/noteFields`)."""
    return path.rstrip("/").endswith("Fields")


def floor_plan(tap_requests: list[LoggedRequest]) -> list[dict[str, t.Any]]:
    """Return the endpoints the floor pages: every list and `*Fields` path the tap read.

    Each read (a path and its query without PAGE_PARAMS: the deal ids of a batch of deal
    products count) keeps the query of the tap's first request to it, without the page
    position, so the floor asks for exactly what the tap asked for, in one sequential read.
    """
    plan: dict[tuple[str, str], dict[str, t.Any]] = {}
    for request in tap_requests:
        if not (stream_of(request.path) or is_fields_path(request.path)):
            continue
        key = (request.path, json.dumps(
            sorted((k, v) for k, v in request.query.items() if k not in PAGE_PARAMS)
        ))  # fmt: skip
        if key in plan:
            continue
        params = {k: v for k, v in request.query.items() if k not in ("cursor", "start")}
        plan[key] = {
            "path": request.path,
            "params": params,
            "paging": "cursor" if request.path.startswith("/api/v2/") else "offset",
            "stream": stream_of(request.path),
            "limit": int(params.get("limit") or 100),
        }
    return list(plan.values())


def floor_sync(
    base_url: str, endpoints: list[dict[str, t.Any]], out: t.TextIO
) -> list[dict[str, t.Any]]:
    """Page every endpoint, write its records as Singer RECORD lines; return items per read."""
    # Imported here: only the floor needs it, and the launcher runs without site-packages.
    import requests  # noqa: PLC0415

    session = requests.Session()
    session.headers["x-api-token"] = API_TOKEN
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    dumps, write = json.dumps, out.write
    counts: list[dict[str, t.Any]] = []
    for endpoint in endpoints:
        params = dict(endpoint["params"])
        if "updated_until" in params:  # the tap's frozen upper bound is the start of its run
            params["updated_until"] = now
        stream, items = endpoint["stream"], 0
        for _ in range(MAX_PAGES):
            response = session.get(base_url + endpoint["path"], params=params, timeout=120)
            response.raise_for_status()
            body = response.json()
            data = body.get("data") or []
            items += len(data)
            if stream is not None:
                for record in data:
                    write(dumps({"type": "RECORD", "stream": stream, "record": record}) + "\n")
            additional = body.get("additional_data") or {}
            if endpoint["paging"] == "cursor":
                cursor = additional.get("next_cursor")
                if not cursor:
                    break
                params["cursor"] = cursor
            else:
                # Deal flow puts the pagination keys in `additional_data`, without next_start.
                pagination = additional.get("pagination") or additional
                if not pagination.get("more_items_in_collection"):
                    break
                params["start"] = pagination.get(
                    "next_start", int(pagination.get("start") or 0) + int(pagination["limit"])
                )
        else:
            raise RuntimeError(f"{endpoint['path']}: more than {MAX_PAGES} pages")
        counts.append({"path": endpoint["path"], "items": items, "limit": endpoint["limit"]})
    out.flush()
    return counts


def floor_worker(plan_path: Path) -> int:
    """The floor's process: read the plan, sync to stdout, write the counts to the report."""
    plan = json.loads(plan_path.read_text())
    counts = floor_sync(plan["base_url"], plan["endpoints"], sys.stdout)
    Path(plan["report"]).write_text(json.dumps(counts))
    return 0
