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


class Refused(ValueError):
    """A record this target refuses before any request (it goes to the rejects file)."""


class MatchingSink(RecordSink):
    """A sink's field definitions and match index, and the item each record matches."""

    entity: Entity
    writer: Writer
    load_method: str
    match_key: str | None

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

    @functools.cached_property
    def definitions(self) -> list[dict[str, t.Any]]:
        """The entity's field definitions (read once), empty for an entity without them."""
        if self.entity.definitions is None:
            return []
        return self.writer.definitions(self.entity.definitions, self.logger)

    @functools.cached_property
    def custom(self) -> CustomFieldWriter | None:
        """The entity's custom fields, when its bodies take them."""
        if not self.entity.custom_fields:
            return None
        fields = [f for row in self.definitions if (f := CustomField.from_definition(row))]
        return CustomFieldWriter(fields, reserved=self.entity.schema["properties"])

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

    @functools.cached_property
    def index(self) -> MatchIndex:
        """Match key value -> items, from one complete read of the entity's list.

        A read that fails or stops short raises IncompleteIndex: a record whose item sat on
        an unread page would otherwise be created again.
        """
        index = MatchIndex(t.cast("str", self.match_key))
        for row in self._read_all():
            for key in self._keys_of_item(row):
                index.add(key, row)
        return index

    def _read_all(self) -> list[dict[str, t.Any]]:
        # The whole list, not an incremental window: an item written a second ago must be
        # found too.
        try:
            return self.writer.read_list(self.entity.listing)
        except RunStoppingError:
            raise
        except READ_ERRORS as error:
            msg = (
                f"Stream '{self.stream_name}': stopped before writing any record: the list of "
                f"{self.entity.name} to match against could not be read in full "
                f"({error}). Nothing was created in place of an item that could not be "
                "looked up; run again later."
            )
            raise IncompleteIndex(msg) from None

    def _keys_of_item(self, item: t.Mapping[str, t.Any]) -> list[t.Any]:
        if self.match_field is not None:
            value = (item.get("custom_fields") or {}).get(self.match_field.code)
            if isinstance(value, dict):
                value = value.get("value")
            return [] if value is None else [value]
        if self.match_key == "email":
            emails = item.get("emails") or []
            return [e["value"] for e in emails if isinstance(e, dict) and e.get("value")]
        value = item.get(t.cast("str", self.match_key))
        return [] if value is None else [value]

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
        """Keep a written item in the index, so that later records match it."""
        if self.match_key is None or "index" not in self.__dict__ or not isinstance(item, dict):
            return
        value = jsonable(self._key_of_record(record))
        if usable_key_value(value):
            self.index.remember(value, item)
