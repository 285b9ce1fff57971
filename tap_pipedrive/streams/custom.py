"""Streams from settings (`custom_streams`): any GET list of Pipedrive's spec, without a release.

The user names the stream, its path, parameters and keys; the rest comes from the spec's digest
(`tap_pipedrive/spec_lists.json`, written by `scripts/spec_operations.py`): the paging (v2
cursor, v1 `start`), the token cost, the record shape, and the custom-field columns of the
entities that have them. A custom stream is then a stream like the others: the same client
(burst throttle, retries, token ledger), refusals, summary and state.

A path with an `{id}` placeholder is read once per record of its `parent` stream, whose ids the
stream lists itself (charged to it) in ascending order; its state keeps the last parent done,
so a killed run resumes after it (and that resumed read activates no version: it did not see
the parents done before).
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import json
import re
import typing as t
from pathlib import Path

from pipedrive_api.endpoints import Endpoint
from pipedrive_api.errors import NotFoundError
from pipedrive_api.responses import records
from tap_pipedrive import refusals
from tap_pipedrive.client import PipedriveStream
from tap_pipedrive.http import Paginator
from tap_pipedrive.lists import V1Stream, V2Stream

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

SPEC_LISTS = Path(__file__).resolve().parents[1] / "spec_lists.json"
#: The keys of a `custom_streams` entry.
REQUIRED = ("name", "path", "primary_keys")
OPTIONAL = ("params", "parent", "replication_key", "replication_param", "records_key", "schema")
#: The field definitions of the entities whose records carry `custom_fields`.
FIELDS_STREAMS = {
    "deals": "deal_fields",
    "persons": "person_fields",
    "organizations": "organization_fields",
    "activities": "activity_fields",
    "products": "product_fields",
}
_PLACEHOLDER = re.compile(r"\{[^}]+\}")
_VERSIONS = {"/api/v2/": "v2", "/v1/": "v1"}


@functools.cache
def spec_lists() -> dict[str, t.Any]:
    """The spec's GET lists, by version and path template."""
    return t.cast("dict[str, t.Any]", json.loads(SPEC_LISTS.read_text(encoding="utf-8")))


def _split(path: str) -> tuple[str, str] | None:
    """(`v1` or `v2`, the spec's template with `{id}`) of a stream path, None if neither."""
    for prefix, version in _VERSIONS.items():
        if path.startswith(prefix):
            return version, _PLACEHOLDER.sub("{id}", "/" + path[len(prefix) :])
    return None


def spec_entry(path: str) -> dict[str, t.Any] | None:
    """The spec's digest of a list, matched with any placeholder names; None if not listed."""
    split = _split(path)
    if split is None:
        return None
    version, template = split
    for known, entry in spec_lists()[version].items():
        if _PLACEHOLDER.sub("{id}", known) == template:
            return t.cast("dict[str, t.Any]", entry)
    return None


def entry_errors(entries: t.Any, streams: t.Mapping[str, str]) -> list[str]:
    """What is wrong with each `custom_streams` entry, one reason each, naming the entry.

    `streams` maps the tap's stream names to their paths (a parent must be a plain list).
    """
    if not isinstance(entries, list):
        return ["`custom_streams` must be a list of streams"]
    errors: list[str] = []
    names = dict(streams)
    for position, entry in enumerate(entries):
        label = f"`custom_streams` entry {position + 1}"
        if not isinstance(entry, dict):
            errors.append(f"{label} is not an object")
            continue
        if isinstance(entry.get("name"), str):
            label += f" ('{entry['name']}')"
        fault = _fault(entry, names)
        if fault:
            errors.append(f"{label}: {fault}")
        elif entry["name"] in names:
            errors.append(f"{label}: a stream of that name exists already")
        names[str(entry.get("name"))] = str(entry.get("path"))
    return errors


def _fault(entry: dict[str, t.Any], streams: t.Mapping[str, str]) -> str | None:
    """The first fault of an entry, or None."""
    return _keys_fault(entry) or _path_fault(entry, streams) or _schema_fault(entry)


def _keys_fault(entry: dict[str, t.Any]) -> str | None:
    """An unknown key (naming the closest known one), a missing one, or a bad name."""
    known = (*REQUIRED, *OPTIONAL)
    for key in entry:
        if key not in known:
            closest = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean `{closest[0]}`?" if closest else f"known: {', '.join(known)}"
            return f"unknown key `{key}` ({hint})"
    missing = [key for key in REQUIRED if key not in entry]
    if missing:
        return f"missing `{'`, `'.join(missing)}`"
    if not isinstance(entry["name"], str) or not re.fullmatch(r"[a-z][a-z0-9_]*", entry["name"]):
        return "`name` must be lower case letters, digits and underscores"
    if not isinstance(entry.get("params", {}), dict):
        return "`params` must be an object of query parameters"
    return None


def _path_fault(entry: dict[str, t.Any], streams: t.Mapping[str, str]) -> str | None:
    """A path outside the spec (without a `schema`), or a placeholder without a parent."""
    path, parent = entry["path"], entry.get("parent")
    if not isinstance(path, str) or _split(path) is None:
        return f"`path` must start with /api/v2/ or /v1/, not {path!r}"
    if "schema" not in entry and spec_entry(path) is None:
        return f"{path} is not a GET list of Pipedrive's API spec (give its `schema` to read it)"
    if _PLACEHOLDER.search(path) and parent is None:
        return f"{path} has a placeholder: give the `parent` stream whose ids fill it"
    return None if parent is None else _parent_fault(path, parent, streams)


def _parent_fault(path: str, parent: t.Any, streams: t.Mapping[str, str]) -> str | None:
    """A parent for a path without placeholder, or one that is not a plain list."""
    if not _PLACEHOLDER.search(path):
        return f"`parent` is given but {path} has no placeholder for its ids"
    if parent not in streams:
        return f"`parent` {parent!r} is not a stream"
    if _PLACEHOLDER.search(streams[parent]):
        return f"`parent` {parent!r} is itself read per parent: choose a list"
    return None


def _schema_fault(entry: dict[str, t.Any]) -> str | None:
    """Keys that are not properties of the records, or a replication key without its parameter."""
    try:
        properties = record_schema(entry)["properties"]
    except ValueError as error:
        return str(error)
    keys = entry["primary_keys"]
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
        return "`primary_keys` must be a non-empty list of property names"
    for key in [*keys, *filter(None, [entry.get("replication_key")])]:
        if key not in properties:
            return f"{key!r} is not a property of the stream's records"
    if bool(entry.get("replication_key")) != bool(entry.get("replication_param")):
        return "`replication_key` and `replication_param` go together"
    return None


def record_schema(entry: dict[str, t.Any]) -> dict[str, t.Any]:
    """The entry's own `schema`, else the spec's record shape (under `records_key` if given)."""
    given = entry.get("schema")
    if given is not None:
        if not isinstance(given, dict) or not isinstance(given.get("properties"), dict):
            raise ValueError("`schema` must be a JSON Schema object with `properties`")
        return {"type": "object", **given}
    listed = t.cast("dict[str, t.Any]", spec_entry(entry["path"]))
    key = entry.get("records_key")
    nested = listed.get("nested", {})
    if key is None and "records" not in listed:
        keys = ", ".join(nested)
        raise ValueError(f"the records of {entry['path']} are nested: give `records_key` ({keys})")
    if key is not None and key not in nested:
        raise ValueError(f"`records_key` {key!r} is not a list in the answers of {entry['path']}")
    return t.cast("dict[str, t.Any]", nested[key] if key else listed["records"])


class CustomStream(PipedriveStream):
    """What every stream from settings shares: the spec's cost, query and schema."""

    #: The query parameters the spec lists for the endpoint.
    query: t.ClassVar[frozenset[str]] = frozenset()
    #: The query parameter filtering on the replication key.
    replication_param: t.ClassVar[str | None] = None

    def get_new_paginator(self) -> Paginator:
        """The version's paging: v2 cursors, v1 offsets."""
        return Paginator(Endpoint(self.path).paging())

    def request_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """Pages in order, the next one prefetched (no time windows: the key may be any)."""
        return PipedriveStream.request_records(self, context)

    def incremental_params(self, context: Context | None) -> dict[str, str]:
        """The replication parameter from the bookmark; sorted by the key where v2 can."""
        params: dict[str, str] = {}
        if self.replication_key in ("update_time", "add_time") and "sort_by" in self.query:
            params.update(sort_by=self.replication_key, sort_direction="asc")
        if self.lower_bound and self.replication_param:
            since = self.lower_bound
            if self.path.startswith("/v1/"):
                since = since.replace("T", " ").removesuffix("Z")  # v1: `YYYY-MM-DD HH:MM:SS`
            params[self.replication_param] = since
        if self.replication_key == "update_time" and "updated_until" in self.query:
            params["updated_until"] = self.upper_bound
        return params


class CustomChildStream(CustomStream):
    """A path read once per id of its parent stream (see the module's docstring)."""

    parent_name: t.ClassVar[str]
    state_partitioning_keys: t.ClassVar[list[str]] = []
    _resumed = False

    @property
    def parent(self) -> PipedriveStream:
        """The parent stream (whose list gives the ids)."""
        return t.cast("PipedriveStream", self._tap.streams[self.parent_name])

    def read(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """Each parent's records in ascending id order, after the last parent done."""
        state = self.stream_state
        done = state.get("parents_done_through")
        self._resumed = done is not None
        for parent in self.parent_ids():
            if done is not None and parent <= done:
                continue
            # A parent deleted since its id was listed answers 404: nothing left to read.
            with contextlib.suppress(NotFoundError):
                yield from self.request_records({"id": parent})
            state["parents_done_through"] = parent
            self._write_state_message()
        state.pop("parents_done_through", None)

    #: The calls that listed the parent's ids (answered before the endpoint's own first call).
    _listing_calls = 0

    def stop(self, error: Exception) -> None:
        """A refusal of the endpoint's first call (not the parent list's) skips the stream."""
        own_calls = self.progress.requests - self._listing_calls
        if refusals.is_refusal(error, answered_before=own_calls > 0):
            self.access_denied = refusals.skip(self.name, self.stream_state, error, self.logger)
        else:
            self.failure = refusals.fail(self.name, error, self.logger)

    def parent_ids(self) -> list[t.Any]:
        """Every id of the parent's list, ascending (these calls are the stream's too)."""
        context = {"parents_of": self.parent_name}
        parent = self.parent
        ids = []
        with self.get_http_request_counter() as counter:
            counter.with_context(context)
            for response in self.responses(context, Paginator(Endpoint(parent.path).paging())):
                counter.increment()
                self.update_sync_costs(response.request, response, context)
                ids += [row["id"] for row in records(response, parent.records_key)]
        self._listing_calls = self.progress.requests
        return sorted(ids)

    def get_url(self, context: Context | None) -> str:
        """The parent's list when listing ids, else the path with the parent's id."""
        if context and "parents_of" in context:
            return self.url_base + self.parent.path
        return super().get_url(context)

    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        """The parent's fixed query when listing its ids."""
        if context and "parents_of" in context:
            paging = Endpoint(self.parent.path).paging()
            params = {"limit": self.parent.page_size, **self.parent.extra_params}
            return {**params, **paging.params(next_page_token)}
        return super().get_url_params(context, next_page_token)

    def call_cost(self, context: Context | None) -> int:
        """The parent list's cost for its pages."""
        if context and "parents_of" in context:
            return self.parent.call_cost(None)
        return super().call_cost(context)

    @property
    def incomplete(self) -> str | None:
        """A resumed read saw only the parents after the last one done: no activation."""
        return super().incomplete or ("resumed" if self._resumed else None)


def stream_types(entries: list[dict[str, t.Any]]) -> list[type[PipedriveStream]]:
    """One stream class per (checked) `custom_streams` entry."""
    return [_stream_type(entry) for entry in entries]


def _stream_type(entry: dict[str, t.Any]) -> type[PipedriveStream]:
    path = entry["path"]
    listed = spec_entry(path) or {}
    version = "v2" if path.startswith("/api/v2/") else "v1"
    schema = record_schema(entry)
    properties = dict(schema["properties"])
    replication_key = entry.get("replication_key")
    if replication_key:
        properties[replication_key] = {"type": ["string", "null"], "format": "date-time"}
    entity = path.split("/")[3 if version == "v2" else 2]
    fields_stream = None
    if "custom_fields" in properties and "schema" not in entry and not _PLACEHOLDER.search(path):
        fields_stream = FIELDS_STREAMS.get(entity)
        properties.pop("custom_fields")
    attributes: dict[str, t.Any] = {
        "name": entry["name"],
        "path": path,
        "primary_keys": tuple(entry["primary_keys"]),
        "replication_key": replication_key,
        "replication_param": entry.get("replication_param"),
        "base_schema": {**schema, "properties": properties},
        "extra_params": dict(entry.get("params") or {}),
        "records_key": entry.get("records_key"),
        "token_cost": int(listed.get("cost") or (10 if version == "v2" else 20)),
        "query": frozenset(listed.get("query", ())),
        "fields_stream": fields_stream,
        # Sorted where v2 sorts by the key (`incremental_params`): the bookmark moves as it goes.
        "is_sorted": replication_key in ("update_time", "add_time")
        and "sort_by" in listed.get("query", ()),
        "check_sorted": False,
        "__doc__": f"The `custom_streams` entry {entry['name']!r}: {path}.",
    }
    bases: tuple[type, ...] = (CustomStream, V2Stream if version == "v2" else V1Stream)
    if entry.get("parent"):
        attributes["parent_name"] = entry["parent"]
        bases = (CustomChildStream, *bases[1:])
    return t.cast("type[PipedriveStream]", type(f"Custom_{entry['name']}", bases, attributes))
