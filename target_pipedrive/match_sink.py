"""How a sink finds the Pipedrive item a record is: its id, else its match key in an index.

The index is built once per stream from the entity's complete list (`Writer.read_list`, the
tap's endpoint and paging); a read that stops short refuses to guess (`IncompleteIndex`).
"""

from __future__ import annotations

import functools
import typing as t

from singer_sdk.sinks import RecordSink

from pipedrive_api.errors import READ_ERRORS, ConfigError, RunStoppingError
from tap_pipedrive.custom_fields import CustomField
from target_pipedrive.fields import CustomFieldWriter, jsonable
from target_pipedrive.matching import (
    AmbiguousMatch,
    IncompleteIndex,
    MatchIndex,
    usable_key_value,
)

if t.TYPE_CHECKING:
    from target_pipedrive.client import Writer
    from target_pipedrive.entities import Entity
    from target_pipedrive.links import Link
    from target_pipedrive.lookups import Lookups


class Refused(ValueError):
    """A record this target refuses before any request (it goes to the rejects file)."""


class MatchingSink(RecordSink):
    """A sink's field definitions and match index, and the item each record matches."""

    entity: Entity
    writer: Writer
    lookups: Lookups
    load_method: str
    null_values: str
    match_key: str | None
    links: list[Link]
    on_missing_link: str

    def _key_from_schema(self) -> str | None:
        """The SCHEMA's key property as the match key, when it can be one; else one warning."""
        keys = list(self.key_properties or ())
        if keys == ["id"]:  # Pipedrive ids (a copy of tap-pipedrive's streams): they match
            return None
        if len(keys) == 1 and (
            keys[0] in self.entity.natural_keys
            or (self.custom is not None and self.custom.field(keys[0]) is not None)
        ):
            self.logger.info(
                "Stream '%s': matching %s on %r, the SCHEMA's key property.",
                self.stream_name,
                self.entity.name,
                keys[0],
            )
            return keys[0]
        natural = " or ".join(f"`{key}`" for key in sorted(self.entity.natural_keys))
        self.logger.warning(
            "Stream '%s': upsert with no match key: a record without an `id` is created, so "
            "every rerun creates it again. Set `streams.%s.match_key` to a custom field "
            "holding the warehouse's id%s.",
            self.stream_name,
            self.stream_name,
            f" (or {natural})" if natural else "",
        )
        return None

    @property
    def definitions(self) -> list[dict[str, t.Any]]:
        """The entity's field definitions (read once per run), empty for an entity without them."""
        return self.lookups.definitions(self.entity, self.writer, self.logger)

    @property
    def custom(self) -> CustomFieldWriter | None:
        """The entity's custom fields, when its bodies take them."""
        return self.lookups.custom(self.entity, self.writer, self.logger)

    # --- matching ---

    @functools.cached_property
    def match_field(self) -> CustomField | None:
        """The custom field `match_key` names, None for a natural key or no key."""
        key = self.match_key
        if key is None or key in self.entity.natural_keys:
            return None
        field = self.custom.field(key) if self.custom is not None else None
        if field is None:
            natural = ", ".join(sorted(self.entity.natural_keys)) or "none"
            msg = (
                f"Stream '{self.stream_name}': match_key {key!r} is neither a custom field of "
                f"{self.entity.name} nor one of its natural keys ({natural})."
            )
            raise ConfigError(msg)
        return field

    @property
    def index(self) -> MatchIndex:
        """Match key value -> items, from one complete read of the entity's list (per run).

        A read that fails or stops short raises IncompleteIndex: a record whose item sat on
        an unread page would otherwise be created again.
        """
        key = t.cast("str", self.match_key)
        read = functools.partial(self._read_all, self.entity, "match against")
        return self.lookups.index(self.entity, key, self.match_field, read)

    def _read_all(self, entity: Entity, purpose: str) -> list[dict[str, t.Any]]:
        # The whole list, not an incremental window: an item written a second ago must be
        # found too.
        try:
            return self.writer.read_list(entity.listing)
        except RunStoppingError:
            raise
        except READ_ERRORS as error:
            msg = (
                f"Stream '{self.stream_name}': stopped before writing any record: the list of "
                f"{entity.name} to {purpose} could not be read in full ({error}). Nothing was "
                "created in place of an item that could not be looked up; run again later."
            )
            raise IncompleteIndex(msg) from None

    def _key_of_record(self, record: t.Mapping[str, t.Any]) -> t.Any:
        if self.match_field is not None:
            return t.cast("CustomFieldWriter", self.custom).value_of(record, self.match_field)
        if self.match_key == "email":
            emails = record.get("emails")
            if record.get("email") is None and isinstance(emails, list):
                return next(
                    (e.get("value") for e in emails if isinstance(e, dict) and e.get("value")),
                    None,
                )
            return record.get("email")
        return record.get(t.cast("str", self.match_key))

    def _match_value(self, record: t.Mapping[str, t.Any]) -> t.Any:
        """The record's match key value; Refused when it is missing, null or not a value."""
        value = jsonable(self._key_of_record(record))
        if value is None:
            msg = f"no value for the match key {self.match_key!r}: the record cannot be matched"
            raise Refused(msg)
        if not usable_key_value(value):
            msg = (
                f"a value of the wrong type for the match key {self.match_key!r}: {value!r} "
                "(text or a number expected)"
            )
            raise Refused(msg)
        return value

    def existing(self, record: t.Mapping[str, t.Any]) -> tuple[t.Any, dict[str, t.Any] | None]:
        """The id of the item this record updates or deletes (None: a new one).

        Also the item as Pipedrive has it, when the match key found it (else None).
        """
        if self.load_method == "append-only":
            return None, None
        # The index is read before the stream's first write, whatever the record.
        index = self.index if self.match_key is not None else None
        if record.get("id") is not None:
            return record["id"], None
        if index is None:
            return None, None
        try:
            found = index.find(self._match_value(record))
        except AmbiguousMatch as error:
            raise Refused(str(error)) from None
        return (None, None) if found is None else (found["id"], found)

    def _remember(self, record: t.Mapping[str, t.Any], item: t.Any) -> None:
        """Keep a written item in the run's indexes, so that later records match it."""
        self.lookups.written(self.entity, item)
        if self.match_key is None or not isinstance(item, dict):
            return
        value = jsonable(self._key_of_record(record))
        if usable_key_value(value):  # under the record's value too, whatever the answer shows
            self.index.remember(value, item)

    # --- links ---

    def _link_field(self, link: Link) -> CustomField | None:
        """The custom field a link's `match_key` is; None for `id` or a standard field."""
        entity, key = link.entity, link.match_key
        if key in ("id", *entity.natural_keys, *entity.schema["properties"]):
            return None
        custom = self.lookups.custom(entity, self.writer, self.logger)
        field = custom.field(key) if custom is not None else None
        if field is None:
            msg = (
                f"Stream '{self.stream_name}': link {link.column!r}: match_key {key!r} is "
                f"neither a field nor a custom field of {entity.name}."
            )
            raise ConfigError(msg)
        return field

    def _link_index(self, link: Link) -> MatchIndex:
        read = functools.partial(self._read_all, link.entity, "link to")
        return self.lookups.index(link.entity, link.match_key, self._link_field(link), read)

    def linked(self, record: dict[str, t.Any]) -> dict[str, t.Any]:
        """The record with each link column replaced by the id of the item it names.

        A NULL link follows `null_values`; a value no item holds refuses the record, or with
        `on_missing_link: skip_link` leaves that field out; a value several hold refuses it.
        """
        if not self.links:
            return record
        indexes = [self._link_index(link) for link in self.links]  # all read before a write
        out = {k: v for k, v in record.items() if k not in {link.column for link in self.links}}
        for link, index in zip(self.links, indexes, strict=True):
            if link.column not in record:
                continue
            value = jsonable(record[link.column])
            if value is None:
                if self.null_values == "clear":
                    out[link.field] = None
                continue
            if not usable_key_value(value):
                msg = (
                    f"a value of the wrong type for the link {link.column!r}: {value!r} (text or "
                    "a number expected)"
                )
                raise Refused(msg)
            items = index.items(value)
            if len(items) == 1:
                out[link.field] = items[0]["id"]
                continue
            if items:
                ids = ", ".join(str(i["id"]) for i in items)
                msg = (
                    f"link {link.column!r} value {value!r} matches {len(items)} "
                    f"{link.entity.name} by {link.match_key!r} (ids {ids}): the record was not "
                    "written; make the value unique in Pipedrive."
                )
                raise Refused(msg)
            missing = (
                f"link {link.column!r} value {value!r} matches no {link.entity.name} by "
                f"{link.match_key!r}"
            )
            if self.on_missing_link != "skip_link":
                raise Refused(f"{missing}: the record was not written (on_missing_link: reject).")
            self.logger.warning(
                "Stream '%s': %s: written without `%s` (on_missing_link: skip_link).",
                self.stream_name,
                missing,
                link.field,
            )
        return out
