"""Deletions on the entities' own streams (tombstones), and the sweep for older deletions.

**Tombstones.** A deletion reaches the entity's stream as `{"id": 42, "_sdc_deleted_at": "..."}`
under a SCHEMA message holding only those two properties, then the stream's full SCHEMA again.
A SQL target (meltanolabs-target-postgres 0.8.1) upserts a record by updating every column of
the stream's *current* schema, a property the record lacks becoming NULL: under the full schema
a partial record would null the row's other columns; under the two-property schema it sets
`_sdc_deleted_at` and leaves them alone. The tap keeps no copy of the records, so it cannot send
"the last values it knows" instead.

**The sweep.** While `deletion_sweep_days` is set, each of the five entity streams keeps in its
state the ids it has sent (`deletion_sweep.seen`: one compact chunk per STATE message, so a
killed read loses none). A due sweep lists every id of each entity that is selected; only when
all of them were listed whole does it retire the known ids no longer listed and keep the listed
ones that the warehouse holds (`deletion_sweep.ids`). An interrupted sweep retires nothing and
changes no state. Ids are stored as sorted deltas, varint-coded, zlib-compressed and base64'd:
consecutive ids cost about nothing, scattered ones a byte or two each.
"""

from __future__ import annotations

import base64
import datetime
import typing as t
import zlib

import singer_sdk.singerlib as singer

from pipedrive_api import endpoints
from pipedrive_api.responses import records

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk import Tap

#: The streams a sweep lists, with the cheapest list of each (no extra fields asked for).
SWEPT = {
    "persons": endpoints.Endpoint(endpoints.PERSONS.path),
    "organizations": endpoints.Endpoint(endpoints.ORGANIZATIONS.path),
    "activities": endpoints.Endpoint(endpoints.ACTIVITIES.path),
    "products": endpoints.Endpoint(endpoints.PRODUCTS.path),
    "notes": endpoints.NOTES,
}
#: The key under which an entity stream's state keeps the ids it has sent.
STATE_KEY = "deletion_sweep"


def encode(ids: Iterable[int]) -> str:
    """A set of ids as text: sorted deltas, LEB128 varints, zlib, base64."""
    out = bytearray()
    previous = 0
    for value in sorted(set(ids)):
        delta, previous = value - previous, value
        while delta >= 0x80:
            out.append((delta & 0x7F) | 0x80)
            delta >>= 7
        out.append(delta)
    return base64.b64encode(zlib.compress(bytes(out), 9)).decode("ascii")


def decode(text: str) -> set[int]:
    """The ids `encode` wrote."""
    ids: set[int] = set()
    value = shift = current = 0
    for byte in zlib.decompress(base64.b64decode(text)):
        value |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            continue
        current += value
        ids.add(current)
        value = shift = 0
    return ids


def sweep_enabled(config: t.Mapping[str, t.Any]) -> bool:
    """Whether `deletion_sweep_days` is set (then the entity streams keep the ids they send)."""
    return config.get("deletion_sweep_days") is not None


def remember(stream_state: dict[str, t.Any], ids: list[int]) -> None:
    """Add the ids just sent to the stream's state, as one more chunk."""
    if ids:
        stream_state.setdefault(STATE_KEY, {}).setdefault("seen", []).append(encode(ids))


def compact(stream_state: dict[str, t.Any]) -> None:
    """Merge the chunks of ids sent into one (at the end of a stream's read)."""
    seen = (stream_state.get(STATE_KEY) or {}).get("seen") or []
    if len(seen) > 1:
        stream_state[STATE_KEY]["seen"] = [encode(set().union(*map(decode, seen)))]


def known(stream_state: t.Mapping[str, t.Any]) -> tuple[set[int], bool]:
    """The ids the warehouse may hold, and whether a sweep already set its baseline."""
    kept = stream_state.get(STATE_KEY) or {}
    ids = decode(kept["ids"]) if kept.get("ids") else set()
    for chunk in kept.get("seen", ()):
        ids |= decode(chunk)
    return ids, "ids" in kept


def due(config: t.Mapping[str, t.Any], last: str | None, now: datetime.datetime) -> bool:
    """Whether a sweep is due: set, and never done or `deletion_sweep_days` ago or more."""
    days = config.get("deletion_sweep_days")
    if days is None:
        return False
    if not last:
        return True
    done = datetime.datetime.fromisoformat(last.replace("Z", "+00:00"))
    return now - done >= datetime.timedelta(days=days)


def list_ids(client: t.Any, stream: str, payer: str, on_page: t.Callable[[int], None]) -> set[int]:
    """Every id Pipedrive lists for `stream` (raises, listing nothing, if a call fails)."""
    endpoint = SWEPT[stream]
    ids: set[int] = set()
    for page in client.pages(
        endpoint.path, endpoint.query(), endpoint.paging(), cost=endpoint.cost, payer=payer
    ):
        on_page(endpoint.cost)
        ids.update(int(record["id"]) for record in records(page))
    return ids


def write_tombstones(tap: Tap, stream_name: str, deletions: t.Mapping[int, str]) -> None:
    """Mark `deletions` (id -> when) deleted on the stream's own table; its schema after."""
    stream = tap.streams.get(stream_name)
    if stream is None or not stream.selected or not deletions:
        return
    keys = list(stream.primary_keys or ())
    properties = stream.schema["properties"]
    partial = {
        "type": "object",
        "properties": {
            "id": properties["id"],
            "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"},
        },
    }
    extracted = datetime.datetime.now(datetime.timezone.utc)
    tap.write_message(singer.SchemaMessage(stream_name, partial, keys))
    for record_id, when in sorted(deletions.items()):
        record = {"id": record_id, "_sdc_deleted_at": when}
        tap.write_message(singer.RecordMessage(stream_name, record, time_extracted=extracted))
    bookmarks = [stream.replication_key] if stream.replication_key else None
    tap.write_message(singer.SchemaMessage(stream_name, stream.schema, keys, bookmarks))
