"""One sink per incoming stream: each record becomes a create, an update, a delete or a skip."""

from __future__ import annotations

import functools
import typing as t

from singer_sdk.sinks import RecordSink

from pipedrive_api.errors import ConfigError
from tap_pipedrive.custom_fields import CustomField
from target_pipedrive.client import Rejected, Writer
from target_pipedrive.entities import ENTITIES, Entity
from target_pipedrive.fields import (
    CustomFieldWriter,
    Unwritable,
    compact,
    jsonable,
    option_id,
)

if t.TYPE_CHECKING:
    from singer_sdk import Target

    from pipedrive_api.client import PipedriveClient
    from target_pipedrive.outcome import Outcome


class Run(t.Protocol):
    """What a sink uses of its target: the run's client and outcome."""

    @property
    def client(self) -> PipedriveClient:
        """The run's Pipedrive client."""

    @property
    def outcome(self) -> Outcome:
        """The run's tallies, rejects and summary."""


#: Columns that steer the write rather than carry a value.
_CONTROL = frozenset({"id", "_sdc_deleted_at"})


class EntitySink(RecordSink):
    """Writes a stream's records to its Pipedrive entity, one request per record.

    Matching, in order: the record's `id` (a Pipedrive id); the stream's `match_key` (a custom
    field holding the warehouse's id, or `email` for persons, `name` for organizations), looked
    up in an index built once from the entity's list endpoint; no match creates the item. In
    `append` mode every record is created.
    """

    @property
    def validate_schema(self) -> bool:
        """Pipedrive validates the records (see the target's capabilities), not the sink."""
        return False

    def __init__(self, target: Target, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(target, *args, **kwargs)
        run = t.cast("Run", target)
        self.outcome = run.outcome
        settings = self.outcome.stream_settings(self.stream_name)
        self.entity: Entity = ENTITIES[settings["entity"]]
        self.mode: str = settings.get("mode") or target.config.get("mode", "upsert")
        self.match_key: str | None = settings.get("match_key")
        self.tally = self.outcome.tally(self.stream_name)
        self.writer = Writer(run.client)
        self._reported: set[str] = set()

    @property
    def include_sdc_metadata_properties(self) -> bool:
        """Keep `_sdc_deleted_at` in the records: it is how a deletion arrives."""
        return True

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

    @functools.cached_property
    def standard_options(self) -> dict[str, dict[t.Any, str]]:
        """Standard option fields (v2 definitions): field code -> option id -> label."""
        if not self.entity.path.startswith("/api/v2/"):  # v1 definitions have another shape
            return {}
        return {
            row["field_code"]: {option["id"]: option.get("label") for option in row["options"]}
            for row in self.definitions
            if "field_code" in row and not row.get("is_custom_field") and row.get("options")
        }

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
    def index(self) -> dict[str, dict[str, t.Any]]:
        """Match key value -> item, from one read of the entity's list (lowest id wins)."""
        # The whole list, not an incremental window: an item written a second ago must be found.
        # The definitions first: they name the custom fields an item's keys are read from.
        self.definitions  # noqa: B018
        index: dict[str, dict[str, t.Any]] = {}
        for row in self.writer.read(self.entity.listing):
            for key in self._keys_of_item(row):
                index.setdefault(key, row)
        return index

    def _keys_of_item(self, item: t.Mapping[str, t.Any]) -> list[str]:
        if self.match_field is not None:
            value = (item.get("custom_fields") or {}).get(self.match_field.code)
            if isinstance(value, dict):
                value = value.get("value")
            return [] if value is None else [_normal(value)]
        if self.match_key == "email":
            return [_normal(e["value"]) for e in item.get("emails") or [] if e.get("value")]
        value = item.get(t.cast("str", self.match_key))
        return [] if value is None else [_normal(value)]

    def _key_of_record(self, record: t.Mapping[str, t.Any]) -> str | None:
        if self.match_field is not None:
            value = t.cast("CustomFieldWriter", self.custom).value_of(record, self.match_field)
        elif self.match_key == "email":
            value = record.get("email") or next(
                (e.get("value") for e in record.get("emails") or [] if e.get("value")), None
            )
        else:
            value = record.get(t.cast("str", self.match_key))
        return None if value is None else _normal(jsonable(value))

    def existing(self, record: t.Mapping[str, t.Any]) -> tuple[t.Any, dict[str, t.Any] | None]:
        """The id of the item this record updates or deletes (None: a new one).

        Also the item as Pipedrive has it, when the match key found it (else None).
        """
        if self.mode == "append":
            return None, None
        if record.get("id") is not None:
            return record["id"], None
        key = self._key_of_record(record) if self.match_key is not None else None
        found = None if key is None else self.index.get(key)
        return (None, None) if found is None else (found["id"], found)

    # --- bodies ---

    def body(self, record: dict[str, t.Any], *, create: bool) -> dict[str, t.Any]:
        """The request body: the entity's writable fields, `custom_fields` by code."""
        fields = self.entity.fields
        body = {key: compact(jsonable(value)) for key, value in record.items() if key in fields}
        for key, options in self.standard_options.items():
            if isinstance(body.get(key), str):
                body[key] = option_id(options, body[key])
        for key in self.entity.flags & body.keys():
            if isinstance(body[key], bool):
                body[key] = int(body[key])
        if self.entity.name == "persons" and "emails" not in body and record.get("email"):
            body["emails"] = [{"value": record["email"], "primary": True, "label": "work"}]
        if self.entity.name == "persons" and "phones" not in body and record.get("phone"):
            body["phones"] = [{"value": record["phone"], "primary": True, "label": "work"}]
        if self.custom is not None:
            custom = self.custom.custom_fields(record)
            if create:
                custom = {code: value for code, value in custom.items() if value is not None}
            if custom:
                body["custom_fields"] = custom
        if create:
            body = {key: value for key, value in body.items() if value is not None}
        self._report_unknown(record)
        return body

    def _report_unknown(self, record: t.Mapping[str, t.Any]) -> None:
        known = self.entity.fields | _CONTROL | (self.custom.columns if self.custom else set())
        if self.entity.name == "persons":
            known |= {"email", "phone"}
        unknown = {
            k for k in record if k not in known and not k.startswith("_sdc_")
        } - self._reported
        if unknown:
            self._reported |= unknown
            self.logger.warning(
                "Stream '%s': column(s) not written (not writable fields of %s): %s",
                self.stream_name,
                self.entity.name,
                ", ".join(sorted(unknown)),
            )

    # --- writing ---

    def process_record(self, record: dict[str, t.Any], context: dict[str, t.Any]) -> None:
        """Create, update, delete or skip the record; a refused record goes to the rejects."""
        try:
            self._write(record)
        except (Rejected, Unwritable) as error:
            self.tally.rejected += 1
            self.outcome.reject(self.stream_name, record, str(error))
        except Exception as error:
            self._count()
            self.outcome.stop(error)
        self._count()

    def _count(self) -> None:
        self.tally.requests = self.writer.requests
        self.tally.tokens = self.writer.tokens

    def _write(self, record: dict[str, t.Any]) -> None:
        entity = self.entity
        deleted = record.get("_sdc_deleted_at") is not None
        if deleted and not self.config.get("hard_delete"):
            self.tally.skipped += 1  # before matching: no index read for a record left alone
            return
        existing, current = self.existing(record)
        if deleted:
            if existing is None:
                self.tally.skipped += 1
                return
            self.writer.write("DELETE", f"{entity.path}/{existing}", None, entity.delete_cost)
            self._forget(existing)
            self.tally.deleted += 1
            return
        if existing is None:
            body = self.body(record, create=True)
            created = self.writer.write("POST", entity.path, body, entity.create_cost)
            self._remember(record, created)
            self.tally.created += 1
            return
        body = self.body(record, create=False)
        if current is not None and _same(body, current):
            self.tally.skipped += 1  # Pipedrive has it already: a write would change nothing
            return
        path = f"{entity.path}/{existing}"
        updated = self.writer.write(entity.update_method, path, body, entity.update_cost)
        self._remember(record, updated)
        self.tally.updated += 1

    def _remember(self, record: t.Mapping[str, t.Any], item: t.Any) -> None:
        """Keep a written item in the index, so that later records match it."""
        key = self._key_of_record(record) if self.match_key is not None else None
        if key is not None and isinstance(item, dict):
            self.index[key] = item

    def _forget(self, item_id: t.Any) -> None:
        if "index" in self.__dict__:
            for key in [k for k, item in self.index.items() if item["id"] == item_id]:
                del self.index[key]


def _same(given: t.Any, current: t.Any) -> bool:
    """Whether a body value is what the item has already (objects: the parts given)."""
    if isinstance(given, dict) and isinstance(current, dict):
        return all(_same(value, current.get(key)) for key, value in given.items())
    if isinstance(given, list) and isinstance(current, list):
        return len(given) == len(current) and all(map(_same, given, current))
    return bool(given == current) and isinstance(given, bool) == isinstance(current, bool)


def _normal(value: t.Any) -> str:
    """A match key as compared: text, trimmed, case-folded (emails and names ignore case)."""
    return str(value).strip().casefold()
