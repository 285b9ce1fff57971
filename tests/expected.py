"""What the emulator holds and what it was asked: the tests' expected values, never the tap's."""

from __future__ import annotations

import hashlib
import json
import re
import typing as t

from tests.conftest import moment
from tests.emulator.assignments import every_assignment
from tests.streams import STREAMS

if t.TYPE_CHECKING:
    from tests.emulator import Emulator
    from tests.singer_run import SyncResult

FLOW = re.compile(r"^/v1/deals/(\d+)/flow$")
#: Changelog stream -> (emulator entity, item column).
CHANGELOGS = {
    "person_changes": ("persons", "person_id"),
    "organization_changes": ("organizations", "org_id"),
}
STAGE_FIELDS = ("stage_id", "pipeline_id", "status")

#: Streams read one call per deal (of the deals not deleted) or per product.
PER_ITEM = ("deal_participants", "deal_mail_messages", "deal_discounts", "product_variations")
#: The entities whose deletions `deleted_records` reports.
RECENT_ENTITIES = ("persons", "organizations", "activities", "products", "notes")


def expected_ids(emulator: Emulator, stream: str) -> set[t.Any]:
    """The keys (README's stream table) of what a full read of a stream must emit: every record,
    live, deleted and archived (the children of deals of the deals not deleted); a key of
    several columns as a tuple."""
    key = STREAMS[stream].key
    if stream.endswith("_fields") or stream == "goals":  # goals: active and inactive
        return {record[key[0]] for record in emulator.records(stream)}
    deals = emulator.records("deals")
    alive = [d["id"] for d in deals if not d["is_deleted"]]
    if stream in ("deal_products", "deal_installments"):
        return {r["id"] for r in emulator.records(stream) if r["deal_id"] in set(alive)}
    if stream == "dealflow":
        return {c["id"] for c in changes(emulator, alive)}
    if stream == "deleted_records":  # the records deleted through the emulator
        with emulator.data.lock:
            tables = {entity: emulator.data.table(entity) for entity in RECENT_ENTITIES}
            return {(e, table.public_id(r)) for e, table in tables.items() for r in table.removed}
    if stream in CHANGELOGS:
        return {documented_key(*change) for change in change_rows(emulator, stream)}
    if stream == "deal_stage_history":
        stays = [deleted_stay(d) for d in deals if d["is_deleted"]]
        by_id = {d["id"]: d for d in deals}
        stays += [s for d in alive for s in expected_stays(by_id[d], stage_changes(emulator, d))]
        return {(deal, stage, entered) for deal, stage, _, entered, *_ in stays}
    if stream in PER_ITEM:
        return {row["id"] for row in emulator.data.extras.rows(stream)}
    if stream.endswith("_assignments"):
        return {tuple(row[k] for k in key) for row in every_assignment(emulator.data, stream)}
    return set(emulator.all_ids({"currency": "currencies"}.get(stream, stream)))


def changes(emulator: Emulator, deal_ids: t.Iterable[int]) -> list[dict[str, t.Any]]:
    """The emulator's dealChange items of these deals (every field), with RFC 3339 times."""
    return [
        {**item["data"], "deal_id": deal, "log_time": rfc(item["timestamp"])}
        for deal in deal_ids
        for item in emulator.flow(deal)
        if item["object"] == "dealChange"
    ]


def flow_ids(emulator: Emulator, deal_ids: t.Iterable[int], since: str = "") -> set[int]:
    """The ids of the changes of these deals made at or after `since`."""
    return {c["id"] for c in changes(emulator, deal_ids) if c["log_time"] >= since}


def flow_calls(asked: Emulator | SyncResult, *, ok: bool = False) -> list[int]:
    """The deals whose flow was asked, in arrival order (only those answered 200 if `ok`).

    `asked`: an emulator (its whole log), or one run's own requests (`sync(..., log=emulator)`).
    """
    return [
        int(match.group(1))
        for r in asked.requests
        if (match := FLOW.match(r.path)) and (r.status == 200 or not ok)
    ]


def rfc(v1: str) -> str:
    """A v1 `2024-01-02 03:04:05` as `2024-01-02T03:04:05Z`."""
    return v1.replace(" ", "T") + "Z"


def changelog(emulator: Emulator, entity: str, record_id: int) -> list[dict]:
    """The emulator's changelog items of a person or organization, newest first."""
    with emulator.data.lock:
        return [c.item() for c in emulator.data.changelogs.changes(entity, record_id)]


def change_rows(emulator: Emulator, stream: str, since: str = "") -> set[tuple]:
    """(item id, time, field_key, old, new) of every change of the stream's items since then."""
    entity, _ = CHANGELOGS[stream]
    return {
        (rid, rfc(c["time"]), c["field_key"], c["old_value"], c["new_value"])
        for rid in emulator.ids(entity)
        for c in changelog(emulator, entity, rid)
        if rfc(c["time"]) >= since
    }


def documented_key(*parts: object) -> str:
    """A change's key as the README builds it: SHA-256 of the JSON array, 32 hex digits."""
    text = json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def stage_changes(emulator: Emulator, deal_id: int) -> list[dict]:
    """A deal's stage, pipeline and status changes in the emulator's flow, oldest first."""
    items = [
        {**i["data"], "time": rfc(i["timestamp"])}
        for i in emulator.flow(deal_id)
        if i["object"] == "dealChange" and i["data"]["field_key"] in STAGE_FIELDS
    ]
    return sorted(items, key=lambda c: (c["time"], c["id"]))


def expected_stays(deal: dict, changes: list[dict]) -> list[tuple]:
    """(deal, stage, pipeline, entered, left, seconds) of each stay, from the raw moves.

    The deal enters its first stage (the one its first move left) when it is added, and each
    move's stage at the move; a stay ends at the next move, or when the deal record says it was
    won or lost if that came first. A deal back in a stage within the second it left it has
    one stay there from that second (the key is deal, stage, entered): the later one.
    """
    moves = [c for c in changes if c["field_key"] == "stage_id"]
    switches = [c for c in changes if c["field_key"] == "pipeline_id"]
    pipeline = switches[0]["old_value"] if switches else deal["pipeline_id"]
    entries = [(deal["add_time"], moves[0]["old_value"] if moves else deal["stage_id"], pipeline)]
    for move in moves:
        for switch in switches:
            if switch["time"] == move["time"]:
                pipeline = switch["new_value"]
        entries.append((move["time"], move["new_value"], pipeline))
    closed = deal["won_time"] or deal["lost_time"]
    stays = []
    for k, (entered, stage, pipeline) in enumerate(entries):
        following = entries[k + 1][0] if k + 1 < len(entries) else None
        if following is not None and (closed is None or following <= closed):
            left = following
        else:
            left = closed
        seconds = None if left is None else int((moment(left) - moment(entered)).total_seconds())
        stays.append((deal["id"], stage, pipeline, entered, left, seconds))
    last = {(stay[1], stay[3]): stay for stay in stays}
    return [stay for stay in stays if last[(stay[1], stay[3])] is stay]


def deleted_stay(deal: dict) -> tuple:
    """A deleted deal's last stay: from its last move (or creation) to its close or deletion."""
    entered = deal["stage_change_time"] or deal["add_time"]
    left = deal["won_time"] or deal["lost_time"] or deal["update_time"]
    seconds = int((moment(left) - moment(entered)).total_seconds())
    return (deal["id"], deal["stage_id"], deal["pipeline_id"], entered, left, seconds)
