"""One sink per incoming stream: each record becomes a create, an update, a delete or a skip."""

from __future__ import annotations

import dataclasses
import functools
import typing as t

from target_pipedrive.bodies import changes, holds, same, without_nulls
from target_pipedrive.client import Rejected, Writer
from target_pipedrive.entities import ENTITIES, Entity
from target_pipedrive.fields import (
    Unwritable,
    compact,
    jsonable,
    option_id,
)
from target_pipedrive.links import links_of
from target_pipedrive.match_sink import MatchingSink, Refused
from target_pipedrive.matching import (
    normal,
)
from target_pipedrive.recovery import newest_items_path
from target_pipedrive.settings import stream_setting

if t.TYPE_CHECKING:
    from singer_sdk import Target

    from pipedrive_api.client import PipedriveClient
    from target_pipedrive.lookups import Lookups


class Run(t.Protocol):
    """What a sink uses of its target (typed here: the target imports the sinks)."""

    client: PipedriveClient
    config: t.Mapping[str, t.Any]
    lookups: Lookups

    def stream_settings(self, stream_name: str) -> dict[str, t.Any]:
        """A stream's `streams` entry."""

    def tally(self, stream_name: str) -> Tally:
        """The counters of a stream."""

    def reject(self, stream_name: str, record: t.Mapping[str, t.Any], reason: str) -> None:
        """Write a refused record to the rejects file."""

    def stop(self, error: Exception) -> t.NoReturn:
        """End the run on a fatal error."""

    def hold(self, sink: EntitySink, record: dict[str, t.Any]) -> None:
        """Keep a record of a stream with links, to write once its parents are written."""


#: Columns that steer the write rather than carry a value.
_CONTROL = frozenset({"id", "_sdc_deleted_at"})


@dataclasses.dataclass
class Tally:
    """What a stream's records became, and what it cost (every request, reads included)."""

    created: int = 0
    updated: int = 0
    deleted: int = 0
    skipped: int = 0
    #: Refused by Pipedrive (a 4xx answer).
    rejected: int = 0
    #: Refused here, before any request (a bad value, an ambiguous match, no match key).
    refused: int = 0
    requests: int = 0
    tokens: int = 0

    def line(self) -> str:
        """The summary line of a stream."""
        return (
            f"created {self.created}, updated {self.updated}, deleted {self.deleted}, "
            f"skipped {self.skipped}, refused by Pipedrive {self.rejected}, refused here "
            f"{self.refused}; {self.requests} requests, {self.tokens} tokens"
        )


class EntitySink(MatchingSink):
    """Writes a stream's records to its Pipedrive entity, one request per record.

    Matching, in order: the record's `id` (a Pipedrive id); the stream's `match_key` (a custom
    field holding the warehouse's id, or `email` for persons, `name` for organizations; else
    the SCHEMA's one key property when it is one of those), looked up in an index built once
    from the entity's complete list; no match creates the item. With `load_method:
    append-only` every record is created.
    """

    @property
    def validate_schema(self) -> bool:
        """Pipedrive validates the records (see the target's capabilities), not the sink."""
        return False

    def __init__(self, target: Target, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(target, *args, **kwargs)
        self.target = t.cast("Run", target)
        settings = self.target.stream_settings(self.stream_name)
        self.entity: Entity = ENTITIES[settings["entity"]]
        self.load_method = stream_setting(self.config, settings, "load_method", "upsert")
        self.null_values = stream_setting(self.config, settings, "null_values", "skip")
        self.match_key: str | None = settings.get("match_key")
        self.links = links_of(settings, self.entity)
        self.on_missing_link = stream_setting(self.config, settings, "on_missing_link", "reject")
        self.tally = self.target.tally(self.stream_name)
        self.writer = Writer(self.target.client)
        self.lookups = self.target.lookups
        self._reported: set[str] = set()
        if self.load_method == "upsert" and self.match_key is None:
            self.match_key = self._key_from_schema()

    @property
    def include_sdc_metadata_properties(self) -> bool:
        """Keep `_sdc_deleted_at` in the records: it is how a deletion arrives."""
        return True

    def _singer_validate_message(self, record: dict[str, t.Any]) -> None:
        """No SDK check of the key properties: a record missing its match key is refused."""

    def _validate_and_parse(self, record: dict[str, t.Any]) -> dict[str, t.Any]:
        """The SDK's date parsing; a value it cannot parse refuses the record, not the run."""
        try:
            return super()._validate_and_parse(record)
        except (ValueError, TypeError) as error:
            msg = f"a value of the wrong type: {error}"
            raise Refused(msg) from None

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

    # --- bodies ---

    def body(self, record: dict[str, t.Any], *, create: bool) -> dict[str, t.Any]:
        """The request body: the entity's writable fields, `custom_fields` by code.

        Only the record's columns are sent; a null one only with `null_values: clear`.
        """
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
            try:
                custom = self.custom.custom_fields(record)
            except (TypeError, AttributeError) as error:
                msg = f"a value of the wrong type: {error}"
                raise Refused(msg) from None
            if custom:
                body["custom_fields"] = custom
        if create or self.null_values == "skip":
            body = without_nulls(body)
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

    @property
    def linked_entities(self) -> set[str]:
        """The entities this stream's links point at."""
        return {link.entity.name for link in self.links}

    def process_record(self, record: dict[str, t.Any], context: dict[str, t.Any]) -> None:
        """Write the record; with links, once the streams it may link to are written."""
        if self.links:
            self.target.hold(self, record)
        else:
            self.write_record(record)

    def write_record(self, record: dict[str, t.Any]) -> None:
        """Create, update, delete or skip the record; a refused record goes to the rejects."""
        try:
            self._write(record)
        except Rejected as error:
            self.tally.rejected += 1
            self.target.reject(self.stream_name, record, str(error))
        except (Refused, Unwritable) as error:
            self.tally.refused += 1
            self.target.reject(self.stream_name, record, str(error))
        except Exception as error:
            self._count()
            self.target.stop(error)
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
            self.lookups.deleted(entity, existing)
            self.tally.deleted += 1
            return
        record = self.linked(record)
        if existing is None:
            body = self.body(record, create=True)
            recover = functools.partial(self._created_by_lost_answer, record, body)
            created = self.writer.write(
                "POST", entity.path, body, entity.create_cost, recover=recover
            )
            self._remember(record, created)
            self.tally.created += 1
            return
        body = self.body(record, create=False)
        if current is not None:
            body = changes(_kept_contacts(body, current), current)  # it keeps its case too
            if not body:
                self.tally.skipped += 1  # Pipedrive has it already: a write would change nothing
                return
        path = f"{entity.path}/{existing}"
        updated = self.writer.write(entity.update_method, path, body, entity.update_cost)
        self._remember(record, updated)
        self.tally.updated += 1

    def _created_by_lost_answer(
        self, record: t.Mapping[str, t.Any], body: dict[str, t.Any]
    ) -> dict[str, t.Any] | None:
        """The item a create whose answer was lost made, if it did.

        Looked up among the newest items by the match key, else by every field sent.
        """
        self.logger.warning(
            "Stream '%s': no answer to a create of %s: looking for it before trying again.",
            self.stream_name,
            self.entity.name,
        )
        newest = self.writer.read(newest_items_path(self.entity.path), self.entity.listing.cost)
        if self.match_key is not None:
            key = normal(self._match_value(record))
            found = [i for i in newest or [] if key in map(normal, self.index.keys_of(i))]
        else:
            found = [i for i in newest or [] if holds(i, body)]
        return found[0] if found else None


def _kept_contacts(body: dict[str, t.Any], current: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """Leave out a person's `email`/`phone` column when the person holds it already.

    Any of its addresses, in any case: sent, the one value would replace all of them.
    """
    kept = dict(body)
    for key in ("emails", "phones"):
        given, stored = body.get(key), current.get(key)
        if not (isinstance(given, list) and len(given) == 1 and isinstance(stored, list)):
            continue
        value = given[0].get("value") if isinstance(given[0], dict) else None
        if any(isinstance(s, dict) and same(value, s.get("value")) for s in stored):
            del kept[key]
    return kept
