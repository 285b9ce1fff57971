"""The schema a stream emits: the documented shape, custom-field columns, the catalog's.

Custom-field columns come from the entity's field definitions (read once a run, by its
definitions stream); a catalog given to the tap is reconciled with the live shapes
(`tap_pipedrive.catalog`).
"""

from __future__ import annotations

import functools
import typing as t

from singer_sdk.helpers._catalog import get_selected_schema

from pipedrive_api.errors import READ_ERRORS, TokenLimitReached
from pipedrive_api.times import datetime_fields
from tap_pipedrive.catalog import reconcile
from tap_pipedrive.custom_fields import CustomField, CustomFieldMapper
from tap_pipedrive.records import RecordsStream


class _Definitions(t.Protocol):
    """What a stream reads of its entity's definitions stream."""

    definitions: list[dict[str, t.Any]]


class ColumnsStream(RecordsStream):
    """A stream whose schema is its documented shape plus the account's custom fields."""

    #: The documented record shape; custom-field columns are added from the field definitions.
    base_schema: t.ClassVar[dict[str, t.Any]]
    #: The stream serving this entity's field definitions, for entities with custom fields.
    fields_stream: t.ClassVar[str | None] = None

    @functools.cached_property
    def custom_fields(self) -> CustomFieldMapper | None:
        """The entity's custom-field columns, from its field definitions (read once a run)."""
        if not self.fields_stream:
            return None
        definitions = t.cast("_Definitions", self._tap.streams[self.fields_stream]).definitions
        fields = [f for row in definitions if (f := CustomField.from_definition(row))]
        return CustomFieldMapper(
            fields,
            mode=self.config.get("custom_field_names", "key"),
            labels=bool(self.config.get("option_labels")),
            reserved=self.base_schema["properties"],
            logger=self.logger,
        )

    @functools.cached_property
    def schema(self) -> dict[str, t.Any]:
        """The documented shape plus this account's custom-field columns."""
        if self.custom_fields is None:
            return self.base_schema
        properties = {**self.base_schema["properties"], **self.custom_fields.properties}
        return {**self.base_schema, "properties": properties}

    #: Why the schema in use could not be built (its definitions unreadable), for `get_records`
    #: to raise where the stream's failures are handled.
    _schema_error: Exception | None = None

    @functools.cached_property
    def effective_schema(self) -> dict[str, t.Any]:
        """The catalog's columns in the tap's shapes (tap_pipedrive/catalog.py), else `schema`."""
        if self._input_schema is None:
            return self.schema
        try:
            live = self.schema
        except (TokenLimitReached, *READ_ERRORS) as error:
            self._schema_error = error
            return self._input_schema
        mask = self.mask
        return reconcile(
            self.name,
            self._input_schema,
            live,
            selected=lambda name: bool(mask[("properties", name)]),
            custom_fields=self.custom_fields,
            logger=self.logger,
        )

    def _write_schema_message(self) -> None:
        """Send the schema in use, not the catalog's as given (the stream maps hold that one)."""
        if not self._schema_announced:
            selected = get_selected_schema(self.name, self.effective_schema, self.mask)
            self._tap.mapper.register_raw_stream_schema(self.name, selected, self.primary_keys)
            self._stream_maps = None  # the SDK's cache of the maps: rebuilt from the new ones
            self._schema_announced = True
        super()._write_schema_message()

    _schema_announced = False

    @functools.cached_property
    def _datetime_fields(self) -> tuple[str, ...]:
        """Top-level date-time columns, normalized to RFC 3339 UTC on the way out."""
        return datetime_fields(self.schema)

    def _warn_of_new_custom_fields(self) -> None:
        """Name the custom fields created since the catalog was discovered (not emitted)."""
        if self.custom_fields is None:
            return
        missing = sorted(self.custom_fields.columns - set(self.effective_schema["properties"]))
        if missing:
            self.logger.warning(
                "Stream '%s': %d custom field column(s) exist in Pipedrive but not in the "
                "catalog, so they are not emitted: %s. Run discovery again (`--discover`; "
                "Meltano does this on every run unless a catalog is pinned) to include them.",
                self.name,
                len(missing),
                ", ".join(missing),
            )
