"""The target: its settings, the stream -> entity mapping, the rejects file and the summary."""

from __future__ import annotations

import functools
import json
import logging
import tempfile
import typing as t
from pathlib import Path

from singer_sdk import Target
from singer_sdk import typing as th
from singer_sdk.helpers.capabilities import CapabilitiesEnum, PluginCapabilities
from singer_sdk.io_base import SingerReader
from singer_sdk.singerlib.json import deserialize_json

from pipedrive_api.client import PipedriveClient
from pipedrive_api.errors import BudgetExhaustedError, ConfigError, failure_message
from tap_pipedrive.config import SECRET_SETTINGS, SETTINGS, credentials_errors, root_url_errors
from target_pipedrive.client import UnknownOutcome
from target_pipedrive.entities import ENTITIES
from target_pipedrive.fields import jsonable
from target_pipedrive.lookups import Lookups
from target_pipedrive.match_sink import Refused
from target_pipedrive.matching import IncompleteIndex
from target_pipedrive.settings import (
    LOAD_METHODS,
    NULL_VALUES,
    ON_MISSING_LINK,
    link_errors,
    load_method_errors,
    unknown_key_errors,
)
from target_pipedrive.sinks import EntitySink, Tally

if t.TYPE_CHECKING:
    from types import TracebackType

    import click

#: The tap's settings the target shares (credentials, API root, user agent), as the tap has them.
SHARED_SETTINGS = (
    "api_token",
    "client_id",
    "client_secret",
    "refresh_token",
    "refresh_token_file",
    "oauth_url",
    "api_url",
    "company_domain",
    "user_agent",
)
_ENTITY_NAMES = sorted(ENTITIES)


class _NoSummary(logging.Filter):
    """Drops the SDK's "Config validation failed": the one line says every error itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "Config validation failed"


class RejectedRecordsError(Exception):
    """Records were rejected and `allow_rejects` is off: the run fails, after writing the rest."""


class BadInputLine(ValueError):
    """A line of the input that is not a JSON object: the run stops there."""


class LineReader(SingerReader):
    """The SDK's reader, stopping at a line that is not JSON with its number, not a traceback.

    `before_stop` runs first: the records before the line are written, and the last STATE
    before it (which covers no record after it) is emitted.
    """

    before_stop: t.Callable[[], None] | None = None
    _line = 0

    def deserialize_json(self, line: str) -> dict[str, t.Any]:
        """The line's JSON object; BadInputLine (after `before_stop`) when it is none."""
        self._line += 1
        try:
            message = deserialize_json(line)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            if self.before_stop is not None:
                self.before_stop()
            msg = (
                f"Line {self._line} of the input is not a Singer message (a JSON object): "
                "stopped there, after writing the records before it."
            )
            raise BadInputLine(msg)
        return message


class TargetPipedrive(Target):
    """Singer target writing records into Pipedrive (reverse ETL)."""

    name = "target-pipedrive"
    #: The distribution shipping both commands (the version `--about` reports).
    package_name = "tap-pipedrive"
    default_sink_class = EntitySink
    message_reader_class = LineReader
    # No `validate-records`: Pipedrive validates every record, and a refused one goes to the
    # rejects file with its reason; the incoming stream's schema says nothing about Pipedrive.
    capabilities: t.ClassVar[list[CapabilitiesEnum]] = [
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]

    config_jsonschema: t.ClassVar[dict[str, t.Any]] = {
        "type": "object",
        "properties": {
            **{name: SETTINGS["properties"][name] for name in SHARED_SETTINGS},
            "request_timeout_seconds": SETTINGS["properties"]["request_timeout_seconds"],
            "retry_patience_seconds": {
                **SETTINGS["properties"]["retry_patience_seconds"],
                "description": (
                    "How long one request is retried through server errors (5xx), timeouts and "
                    "dropped connections (waits from 1 s, doubling, at most 60 s) before the run "
                    "stops, with the summary of what was written and one line naming the fault."
                ),
            },
            **th.PropertiesList(
                th.Property(
                    "load_method",
                    th.StringType,
                    default="upsert",
                    allowed_values=list(LOAD_METHODS),
                    title="Load method",
                    description=(
                        "`upsert`: update the item a record matches (by `id`, else the stream's "
                        "match key), create it otherwise. `append-only`: create every record. "
                        "(The SDK's `overwrite` is refused: it would delete every item the "
                        "input lacks.)"
                    ),
                ),
                th.Property(
                    "null_values",
                    th.StringType,
                    default="skip",
                    allowed_values=list(NULL_VALUES),
                    title="Null values",
                    description=(
                        "`skip`: a NULL column is not sent, so it never clears a field. "
                        "`clear`: it is sent, and clears the field (for fields the warehouse "
                        "owns). A column the record lacks is never sent."
                    ),
                ),
                th.Property(
                    "streams",
                    th.ObjectType(
                        additional_properties=th.ObjectType(
                            th.Property("entity", th.StringType, allowed_values=_ENTITY_NAMES),
                            th.Property("match_key", th.StringType),
                            th.Property(
                                "load_method", th.StringType, allowed_values=list(LOAD_METHODS)
                            ),
                            th.Property(
                                "null_values", th.StringType, allowed_values=list(NULL_VALUES)
                            ),
                            th.Property(
                                "links",
                                th.ObjectType(
                                    additional_properties=th.ObjectType(
                                        th.Property("entity", th.StringType),
                                        th.Property("match_key", th.StringType),
                                        th.Property("field", th.StringType),
                                    )
                                ),
                            ),
                            th.Property(
                                "on_missing_link",
                                th.StringType,
                                allowed_values=list(ON_MISSING_LINK),
                            ),
                        )
                    ),
                    title="Streams",
                    description=(
                        "Per incoming stream: `entity` (one of "
                        f"{', '.join(_ENTITY_NAMES)}; default: the stream's name), `match_key` "
                        "(a custom field holding the warehouse id, by name or code; or `email` "
                        "for persons, `name` for organizations; default: the SCHEMA's key "
                        "property when it is one of those), `load_method`, `null_values`, "
                        "`on_missing_link`, and `links`: per column holding another item's "
                        "key, `{entity, match_key, field}` (the id found by `match_key` among "
                        "`entity`'s items goes into `field`, by default `org_id`, a lead's "
                        "`organization_id`, `person_id`, `deal_id` or `lead_id`)."
                    ),
                ),
                th.Property(
                    "on_missing_link",
                    th.StringType,
                    default="reject",
                    allowed_values=list(ON_MISSING_LINK),
                    title="On missing link",
                    description=(
                        "A link value no item holds: `reject` the record (to the rejects file), "
                        "or `skip_link`: write it without that link. A value several items hold "
                        "is always a reject. A stream's `on_missing_link` overrides this one."
                    ),
                ),
                th.Property(
                    "hard_delete",
                    th.BooleanType,
                    default=False,
                    title="Hard delete",
                    description=(
                        "Delete the matching item of a record with `_sdc_deleted_at`. Off: such "
                        "records are skipped and counted."
                    ),
                ),
                th.Property(
                    "rejects_file",
                    th.StringType,
                    default="pipedrive-rejects.jsonl",
                    title="Rejects file",
                    description=(
                        "JSON lines file receiving every record refused (by Pipedrive or by the "
                        "target), with the stream and the reason. Started afresh by each run."
                    ),
                ),
                th.Property(
                    "allow_rejects",
                    th.BooleanType,
                    default=False,
                    title="Allow rejects",
                    description=(
                        "Exit 0 even when records were rejected (they are in the rejects file)."
                    ),
                ),
            ).to_dict()["properties"],
        },
    }

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        # One request at a time: the burst window and the rejects file are shared.
        self.max_parallelism = 1
        self._tallies: dict[str, Tally] = {}
        self.lookups = Lookups()
        #: The records of streams with links, held until the end of the input (on disk).
        self._held: dict[EntitySink, t.IO[str]] = {}
        #: The last STATE received before the first held record: all it covers is written.
        self._covered_state: dict[str, t.Any] | None = None
        # This run's rejects only: a rerun does not add the same lines again.
        self._rejects_path.unlink(missing_ok=True)
        self.message_reader.before_stop = self._finish  # type: ignore[attr-defined]

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Add the checks JSON schema cannot express; report every error in one line.

        Credentials, an https root, unknown keys, `overwrite`, links.
        """
        # The SDK would add a warning of its own ("Config validation failed") before our line.
        quiet = _NoSummary()
        self.logger.addFilter(quiet)
        try:
            errors = super()._validate_config(raise_errors=False)
        finally:
            self.logger.removeFilter(quiet)
        overwrite = load_method_errors(self.config)
        if overwrite:  # said better than by the JSON schema's enum
            errors = [e for e in errors if "'overwrite' is not one of" not in e] + overwrite
        errors += credentials_errors(self.config, "TARGET_PIPEDRIVE")
        errors += root_url_errors(self.config)
        errors += unknown_key_errors(self.config, self.config_jsonschema["properties"])
        errors += link_errors(self.config)
        for name in SECRET_SETTINGS:
            secret = self.config.get(name)
            if secret:
                errors = [error.replace(str(secret), "********") for error in errors]
        if errors and raise_errors:
            # One line, as the tap says it (the SDK would log each error, then a line of its own).
            raise ConfigError(f"Invalid config: {'; '.join(e.rstrip('.') for e in errors)}.")
        return errors

    @functools.cached_property
    def client(self) -> PipedriveClient:
        """The run's Pipedrive client: the tap's session, auth, rate limits, retries and errors."""
        user_agent = self.config.get("user_agent") or f"{self.name}/{self.plugin_version}"
        return PipedriveClient(self.config, user_agent=user_agent, logger=self.logger)

    def stream_settings(self, stream_name: str) -> dict[str, t.Any]:
        """A stream's `streams` entry, its entity defaulting to the stream's name."""
        settings = dict((self.config.get("streams") or {}).get(stream_name) or {})
        settings.setdefault("entity", stream_name)
        if settings["entity"] not in ENTITIES:
            msg = (
                f"Stream '{stream_name}' maps to no Pipedrive entity: name it after one "
                f"({', '.join(_ENTITY_NAMES)}) or map it in the `streams` setting."
            )
            raise ConfigError(msg)
        return settings

    def tally(self, stream_name: str) -> Tally:
        """The counters of a stream (one per stream for the whole run)."""
        return self._tallies.setdefault(stream_name, Tally())

    @functools.cached_property
    def _rejects_path(self) -> Path:
        return Path(self.config.get("rejects_file") or "pipedrive-rejects.jsonl")

    def reject(self, stream_name: str, record: t.Mapping[str, t.Any], reason: str) -> None:
        """Append a refused record, its stream and the reason to the rejects file."""
        # The SDK's bookkeeping columns are not the record's; a deletion mark is.
        kept = {
            key: jsonable(value)
            for key, value in record.items()
            if not key.startswith("_sdc_") or (key == "_sdc_deleted_at" and value is not None)
        }
        line = {"stream": stream_name, "reason": reason, "record": kept}
        with self._rejects_path.open("a", encoding="utf-8") as rejects:
            rejects.write(json.dumps(line, ensure_ascii=False) + "\n")
        self.logger.warning("Stream '%s': record rejected: %s", stream_name, reason)

    def summarize(self) -> None:
        """Log what each stream's records became and what they cost."""
        for stream_name, tally in self._tallies.items():
            self.logger.info("Stream '%s': %s", stream_name, tally.line())

    def stop(self, error: Exception) -> t.NoReturn:
        """End the run on a fatal error, after the records already written: summary first.

        Then the last STATE received: it came before the record that failed, and every
        record before that one was written (one request per record, at once).
        """
        self.summarize()
        if self._latest_state:
            self._write_state_message(self._latest_state)
        if isinstance(error, BudgetExhaustedError):
            written = sum(n.created + n.updated + n.deleted for n in self._tallies.values())
            msg = (
                f"Stopped: Pipedrive's daily token budget is spent, after {written} record(s) "
                "were written. Run again after the reset (midnight in the company's time "
                "zone): upserts match what was written, so nothing is created twice."
            )
            raise BudgetExhaustedError(msg) from None
        raise error

    def _process_record_message(self, message_dict: dict[str, t.Any]) -> None:
        """The SDK's handling; a record refused before any request is a reject, not a crash."""
        stream_name = str(message_dict.get("stream"))
        record = message_dict.get("record")
        record = record if isinstance(record, dict) else {}
        if stream_name not in self.mapper.stream_maps:
            self.tally(stream_name).refused += 1
            reason = f"no SCHEMA message for stream '{stream_name}' came before this record"
            self.reject(stream_name, record, reason)
            return
        try:
            super()._process_record_message(message_dict)
        except Refused as error:
            self.tally(stream_name).refused += 1
            self.reject(stream_name, record, str(error))

    # --- links: parents first ---

    def hold(self, sink: EntitySink, record: dict[str, t.Any]) -> None:
        """Keep a record of a stream with links until the end of the input.

        A stream it links to may start at any point of the input (its SCHEMA after these
        records), so linked streams are written last, parents first. Held records go to a
        temporary file, not memory: a large child table costs disk, not RAM.
        """
        spool = self._held.get(sink)
        if spool is None:
            spool = self._held[sink] = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
        spool.write(json.dumps(jsonable(record), default=str) + "\n")

    def _release_held(self) -> None:
        """Write the held records, a stream after every held stream writing what it links to.

        Among streams linking to each other (a cycle), the first to arrive goes first.
        """
        pending = list(self._held)
        while pending:
            sink = next(
                (
                    s
                    for s in pending
                    if not s.linked_entities & {o.entity.name for o in pending if o is not s}
                ),
                pending[0],
            )
            pending.remove(sink)
            spool = self._held[sink]
            spool.seek(0)
            for line in spool:
                sink.write_record(json.loads(line))
        for spool in self._held.values():
            spool.close()
        self._held.clear()

    def _process_state_message(self, message_dict: dict[str, t.Any]) -> None:
        super()._process_state_message(message_dict)
        if not self._held:
            self._covered_state = self._latest_state

    def _write_state_message(self, state: dict[str, t.Any]) -> None:
        """Emit a STATE only once every record it covers is written (none still held)."""
        if self._held:
            if not self._covered_state:
                return
            state = self._covered_state
        super()._write_state_message(state)

    def _finish(self) -> None:
        """Write every record received (held ones included), and emit the STATE covering them."""
        self._release_held()
        self.drain_all()

    def process_endofpipe(self) -> None:
        """Finish the sinks, log the summary, and fail the run for rejects unless allowed."""
        self._release_held()
        super().process_endofpipe()
        self.summarize()
        by_pipedrive = sum(tally.rejected for tally in self._tallies.values())
        here = sum(tally.refused for tally in self._tallies.values())
        if (by_pipedrive or here) and not self.config.get("allow_rejects"):
            msg = (
                f"{by_pipedrive + here} record(s) rejected ({by_pipedrive} refused by Pipedrive, "
                f"{here} refused here), written with the reasons to {self._rejects_path} (set "
                "`allow_rejects` to accept rejects)."
            )
            raise RejectedRecordsError(msg)

    @classmethod
    def get_singer_command(cls) -> click.Command:
        """The SDK's command, reporting expected failures in one line instead of a traceback.

        The same lines as the tap's (`failure_message`): its errors, and faults that outlasted
        every retry.
        """
        command = super().get_singer_command()
        report_unexpected = command.excepthook  # type: ignore[attr-defined]

        def excepthook(
            kind: type[BaseException], error: BaseException, trace: TracebackType | None
        ) -> None:
            ours = isinstance(
                error, (RejectedRecordsError, IncompleteIndex, BadInputLine, UnknownOutcome)
            )
            message = str(error) if ours else failure_message(error)
            if message is not None:
                logging.getLogger(cls.name).error("%s", message)
                return
            report_unexpected(kind, error, trace)

        command.excepthook = excepthook  # type: ignore[attr-defined]
        return command


if __name__ == "__main__":
    TargetPipedrive.cli()
