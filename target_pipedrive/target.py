"""The target: its settings, the stream -> entity mapping, the rejects file and the summary."""

from __future__ import annotations

import functools
import logging
import typing as t

from singer_sdk import Target
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import CapabilitiesEnum, PluginCapabilities

from pipedrive_api.client import PipedriveClient
from pipedrive_api.errors import failure_message
from tap_pipedrive.config import SECRET_SETTINGS, SETTINGS, credentials_errors, root_url_errors
from target_pipedrive.entities import ENTITIES
from target_pipedrive.outcome import Outcome, RejectedRecordsError, Tally
from target_pipedrive.sinks import EntitySink

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


class TargetPipedrive(Target):
    """Singer target writing records into Pipedrive (reverse ETL)."""

    name = "target-pipedrive"
    #: The distribution shipping both commands (the version `--about` reports).
    package_name = "tap-pipedrive"
    default_sink_class = EntitySink
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
                    "mode",
                    th.StringType,
                    default="upsert",
                    allowed_values=["upsert", "append"],
                    title="Write mode",
                    description=(
                        "`upsert`: update the item a record matches (by `id`, else the stream's "
                        "`match_key`), create it otherwise. `append`: create every record."
                    ),
                ),
                th.Property(
                    "streams",
                    th.ObjectType(
                        additional_properties=th.ObjectType(
                            th.Property("entity", th.StringType, allowed_values=_ENTITY_NAMES),
                            th.Property("match_key", th.StringType),
                            th.Property("mode", th.StringType, allowed_values=["upsert", "append"]),
                        )
                    ),
                    title="Streams",
                    description=(
                        "Per incoming stream: `entity` (one of "
                        f"{', '.join(_ENTITY_NAMES)}; default: the stream's name), `match_key` "
                        "(a custom field holding the warehouse id, by name or code; or `email` "
                        "for persons, `name` for organizations) and `mode`."
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
                        "JSON lines file receiving every record Pipedrive refused, with the "
                        "stream and the reason (appended to)."
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

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Add the checks JSON schema cannot express: credentials and an https root."""
        errors = super()._validate_config(raise_errors=False)
        errors += credentials_errors(self.config, "TARGET_PIPEDRIVE")
        errors += root_url_errors(self.config)
        for name in SECRET_SETTINGS:
            secret = self.config.get(name)
            if secret:
                errors = [error.replace(str(secret), "********") for error in errors]
        if errors and raise_errors:
            raise ConfigValidationError("Config validation failed", errors=errors)
        return errors

    @functools.cached_property
    def client(self) -> PipedriveClient:
        """The run's Pipedrive client: the tap's session, auth, rate limits, retries and errors."""
        user_agent = self.config.get("user_agent") or f"{self.name}/{self.plugin_version}"
        return PipedriveClient(self.config, user_agent=user_agent)

    @functools.cached_property
    def outcome(self) -> Outcome:
        """What the records became: tallies, the rejects file, the summary."""
        return Outcome(self.config, self.logger)

    def tally(self, stream_name: str) -> Tally:
        """The counters of a stream (one per stream for the whole run)."""
        return self.outcome.tally(stream_name)

    def process_endofpipe(self) -> None:
        """Finish the sinks, log the summary, and fail the run for rejects unless allowed."""
        super().process_endofpipe()
        self.outcome.finish()

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
            is_rejects = isinstance(error, RejectedRecordsError)
            message = str(error) if is_rejects else failure_message(error)
            if message is not None:
                logging.getLogger(cls.name).error("%s", message)
                return
            report_unexpected(kind, error, trace)

        command.excepthook = excepthook  # type: ignore[attr-defined]
        return command


if __name__ == "__main__":
    TargetPipedrive.cli()
