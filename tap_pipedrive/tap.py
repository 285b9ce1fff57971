"""The tap: its settings and its streams."""

from __future__ import annotations

import contextlib
import difflib
import functools
import io
import json
import logging
import os
import signal
import sys
import typing as t

import click
import singer_sdk.singerlib as singer
from singer_sdk import Tap
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.exceptions import AbortedSyncExceptionBase

from pipedrive_api.client import PipedriveClient
from pipedrive_api.errors import ConfigError, TokenLimitReached
from pipedrive_api.errors import failure_message as api_failure_message
from tap_pipedrive.config import (
    DEFAULT_MAX_CONCURRENCY,
    OAUTH_SETTINGS,
    SECRET_SETTINGS,
    SETTINGS,
    config_errors,
    normalize_start_date,
)
from tap_pipedrive.state import bring_back_future, check_state, prepare_state
from tap_pipedrive.streams import STREAM_TYPES, custom
from tap_pipedrive.summary import end_run

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from types import FrameType

    from singer_sdk.streams import Stream

    from tap_pipedrive.client import PipedriveStream

__all__ = ["OAUTH_SETTINGS", "SECRET_SETTINGS", "TapPipedrive"]


def failure_message(error: BaseException) -> str | None:
    """The one line reporting an expected failure, naming what to fix; None for a bug.

    The API's failures say it themselves (`pipedrive_api.errors.failure_message`); a closed
    output is the command's own.
    """
    if isinstance(error, BrokenPipeError):
        return OUTPUT_CLOSED
    if isinstance(error, TokenLimitReached):
        # A stream stops cleanly on it: it ends the command only where the catalog is built.
        return (
            f"Discovery needs more tokens than max_tokens_per_run ({error.limit or 0:,}) "
            f"allows: {error.spent:,} spent on field definitions, the next ('{error.stream}') "
            f"costs {error.tokens}. Raise or unset `max_tokens_per_run`, or give a catalog "
            "discovered without it."
        )
    return api_failure_message(error)


#: The line for a reader that stopped reading the tap's output (a target that quit, `| head`).
OUTPUT_CLOSED = (
    "The output was closed before the run finished (broken pipe): whatever read the tap's "
    "output stopped reading, so the run stopped. The next run resumes from the last state that "
    "reader kept."
)


def quiet_expected_failures(record: logging.LogRecord) -> bool:
    """Logging filter: no SDK "unhandled error" line for a failure the tap reports itself.

    Nor for `--test`'s planned stop after each stream's first record.
    """
    if record.msg != "An unhandled error occurred while syncing '%s'":
        return True
    error = sys.exc_info()[1]
    return not (
        isinstance(error, AbortedSyncExceptionBase)
        or (error is not None and failure_message(error) is not None)
    )


def _json_file(handle: t.IO[str] | None, option: str, top_key: str | None) -> t.IO[str] | None:
    """Check that a `--state` / `--catalog` file holds a JSON object, with a clear error if not."""
    if handle is None:
        return None
    text = handle.read()
    try:
        value = json.loads(text) if text.strip() else {}
    except ValueError as error:
        msg = f"{option} {handle.name!r} is not valid JSON: {error}"
        raise click.UsageError(msg) from None
    if top_key is None and not isinstance(value, dict):
        # A state's contents are the tap's to judge: one line, exit 1 (see `prepare_state`).
        raise ConfigError(f"{option} {handle.name!r} is not a JSON object (a Singer state).")
    if not isinstance(value, dict) or (top_key and value and top_key not in value):
        expected = f"a JSON object with {top_key!r}" if top_key else "a JSON object"
        msg = f"{option} {handle.name!r} is not {expected}."
        raise click.UsageError(msg)
    return io.StringIO(json.dumps(value))


class BufferedMsgSpecWriter(MsgSpecWriter):
    """msgspec's fast writer, flushing stdout at each STATE message instead of each message.

    A target sees every record before the STATE that covers it; a killed run loses only
    records that no emitted STATE covers, which the next run reads again.
    """

    def write_message(self, message: singer.Message) -> None:
        """Write one message; flush when it is a STATE."""
        sys.stdout.buffer.write(self.format_message(message))
        if message.type == singer.SingerMessageType.STATE:
            sys.stdout.flush()


class TapPipedrive(Tap):
    """Singer tap for Pipedrive CRM."""

    name = "tap-pipedrive"
    message_writer_class = BufferedMsgSpecWriter
    # The catalog depends on the account (custom fields): discovery needs a valid config too.
    dynamic_catalog = True

    config_jsonschema = SETTINGS

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Check the settings (schema, credentials, URLs, `start_date`), all reasons in one line.

        A valid `start_date` is normalized to RFC 3339 UTC for the rest of the run.
        """
        for name in ("api_token", *OAUTH_SETTINGS):
            # Pasted with a space or a newline around it, it is refused (401).
            if isinstance(self.config.get(name), str):
                self._config[name] = self.config[name].strip()
        errors = super()._validate_config(raise_errors=False)
        errors += config_errors(self.config)
        if self.config.get("custom_streams") is not None:
            builtin = {stream.name: getattr(stream, "path", "") for stream in STREAM_TYPES}
            errors += custom.entry_errors(self.config["custom_streams"], builtin)
        self._warn_unknown_settings()
        errors = [self.redact(error).rstrip(".") for error in errors]
        if errors and raise_errors:
            raise ConfigError(f"Invalid config: {'; '.join(errors)}.")
        if not errors and isinstance(self.config.get("start_date"), str):
            self._config["start_date"] = normalize_start_date(self.config["start_date"])
        return errors

    def _warn_unknown_settings(self) -> None:
        """One warning per setting the tap does not know, naming the closest one it does."""
        # The full schema: the tap's settings and the SDK's built-in ones (stream maps, ...).
        known = list(self.config_jsonschema.get("properties", {}))
        for name in self.config:
            if name in known:
                continue
            closest = difflib.get_close_matches(name, known, n=1)
            hint = f": did you mean `{closest[0]}`?" if closest else "."
            self.logger.warning("Unknown setting `%s` is ignored%s", name, hint)

    def redact(self, text: str) -> str:
        """`text` with the value of every secret setting masked."""
        for name in SECRET_SETTINGS:
            value = self.config.get(name)
            if value:
                text = text.replace(str(value), "********")
        return text

    @property
    def max_concurrency(self) -> int:
        """Requests in flight at once (`max_concurrency`; 1: sequential reads)."""
        return int(self.config.get("max_concurrency") or DEFAULT_MAX_CONCURRENCY)

    @functools.cached_property
    def client(self) -> PipedriveClient:
        """The run's one Pipedrive client: root URL, auth, session, retries, token ledger."""
        user_agent = self.config.get("user_agent") or f"tap-pipedrive/{self.plugin_version}"
        return PipedriveClient(
            self.config, user_agent=user_agent, max_concurrency=self.max_concurrency
        )

    def discover_streams(self) -> list[Stream]:
        """Every Pipedrive stream."""
        # `metrics_log_level`, a setting the SDK leaves to taps: set here, the first hook after
        # the settings are checked and before any request (the schemas read field definitions).
        if self.config.get("metrics_log_level"):
            self.metrics_logger.setLevel(self.config["metrics_log_level"])
        streams: list[Stream] = [stream_type(tap=self) for stream_type in self.stream_types]
        for stream in streams:
            stream.logger.addFilter(quiet_expected_failures)
        return streams

    @functools.cached_property
    def stream_types(self) -> list[type[PipedriveStream]]:
        """The built-in streams, then those of the `custom_streams` setting."""
        return [*STREAM_TYPES, *custom.stream_types(self.config.get("custom_streams") or [])]

    @property
    def streams(self) -> dict[str, Stream]:
        """The SDK's streams (ordered by name), but the parents of selected per-item streams last.

        Whatever the catalog's order, every other list (500 records a call) spends its tokens
        before the per-item calls (`dealflow`: 40 tokens a deal, changelogs 20 a person or
        organization) that hang off the deals, persons and organizations lists, and the custom
        streams read per parent (`custom_streams` with a `parent`). Small
        full-table lists keep their place with their children (a call per role, set or board):
        those calls are few, and a budget stop would otherwise starve the lists. None, and so
        no API call, when the input catalog selects none.
        """
        if self._streams is None and not self._catalog_selects_a_stream():
            self._streams = {}
        if self._streams is None:
            streams = super().streams
            self._streams = dict(
                sorted(
                    streams.items(),
                    key=lambda item: (
                        # Deletions last: their sweep spends what the lists left.
                        item[0] == "deleted_records",
                        isinstance(item[1], custom.CustomChildStream)
                        or bool(item[1].replication_key and item[1].has_selected_descendents),
                    ),
                )
            )
        return self._streams

    def sync_all(self) -> None:  # type: ignore[misc]  # final for the SDK's typing only
        """Sync every stream, then log the run's total and fail it if streams failed."""
        deletions = self.streams.get("deleted_records")
        if self.config.get("deletion_sweep_days") is not None and not (
            deletions and deletions.selected
        ):
            self.logger.warning(
                "`deletion_sweep_days` is set but `deleted_records` is not selected: no sweep "
                "runs. Select `deleted_records` to sweep."
            )
        super().sync_all()
        end_run(t.cast("list[PipedriveStream]", list(self.streams.values())), self.logger)

    def _catalog_selects_a_stream(self) -> bool:
        """Whether the input catalog (if any) selects a stream of this tap.

        A catalog naming none of them is another tap's (ConfigError); one that names them but
        selects none gets a warning.
        """
        catalog = self.input_catalog
        if not catalog:
            return True
        known = {stream.name for stream in STREAM_TYPES}
        known |= {entry["name"] for entry in self.config.get("custom_streams") or []}
        entries = {entry.tap_stream_id: entry for entry in catalog.streams}
        foreign = sorted(set(entries) - known)
        if len(foreign) == len(entries):
            msg = (
                f"The catalog names no stream of this tap ({', '.join(foreign)}): write one with "
                "`tap-pipedrive --config CONFIG --discover`."
            )
            raise ConfigError(msg)
        if foreign:
            self.logger.warning(
                "The catalog's streams %s are not streams of this tap: ignored.", ", ".join(foreign)
            )
        # The SDK's rule: a stream whose metadata says nothing is selected.
        if not any(
            entry.metadata.resolve_selection().get((), True)
            for name, entry in entries.items()
            if name in known
        ):
            self.logger.warning(
                "The catalog selects no stream: nothing to read. Select streams with "
                '`"selected": true` in their top-level metadata (or `meltano select`).'
            )
            return False
        return True

    def load_state(self, state: dict[str, t.Any]) -> None:
        """Load a state, Meltano's or the legacy tap's too, after checking every timestamp in it.

        See tap_pipedrive/state.py.
        """
        super().load_state(prepare_state(state, self.logger))
        check_state(t.cast("dict[str, t.Any]", self.state))

    _future_checked = False

    def check_future(self, now: str) -> None:
        """Bring bookmarks after Pipedrive's `now` back to it, once a run, with a warning.

        Pipedrive's clock stamped them (see `PipedriveClient.now`): checked when the first
        window is frozen, not when the state is loaded, before any answer gave that clock.
        """
        if not self._future_checked:
            self._future_checked = True
            bring_back_future(t.cast("dict[str, t.Any]", self.state), now, self.logger)

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """Flush the last STATE, then exit 128 + the signal: an interrupted run is no success."""
        try:
            for stream in self.streams.values():
                t.cast("PipedriveStream", stream).keep_sent_ids()
            self._state_writer.write_state(self.state)
        finally:
            self.logger.warning(
                "Interrupted by %s: the state reached so far was emitted; the next run resumes "
                "from it.",
                signal.Signals(signum).name,
            )
            sys.exit(128 + signum)

    # Command line

    @classmethod
    def cb_config(cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]) -> t.Any:
        """Read `--config` files, naming the file when one is missing or not JSON."""
        for path in value:
            if path == "ENV":
                continue
            try:
                with open(path, encoding="utf-8") as handle:
                    json.load(handle)
            except OSError as error:
                raise click.BadParameter(f"{path!r}: {error.strerror}", ctx, param) from None
            except ValueError as error:
                msg = f"{path!r} is not valid JSON: {error}"
                raise click.BadParameter(msg, ctx, param) from None
        return super().cb_config(ctx, param, value)

    @classmethod
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: t.Any = None,
        state: t.IO[str] | None = None,
        catalog: t.IO[str] | None = None,
    ) -> None:
        """Run the tap, after checking that the state and catalog files are JSON objects."""
        with cls.reporting_failures():
            super().invoke(
                about=about,
                about_format=about_format,
                config=config,
                state=_json_file(state, "--state", None),
                catalog=_json_file(catalog, "--catalog", "streams"),
            )

    @classmethod
    def cb_discover(cls, ctx: click.Context, param: click.Option, value: bool) -> None:
        """`--discover`, reporting failures as a sync does."""
        with cls.reporting_failures():
            super().cb_discover(ctx, param, value)

    @classmethod
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        """`--test`, reporting failures as a sync does."""
        with cls.reporting_failures():
            super().cb_test(ctx, param, value)

    @classmethod
    @contextlib.contextmanager
    def reporting_failures(cls) -> Iterator[None]:
        """Turn an expected failure into one line on stderr and exit 1; a bug keeps its trace."""
        try:
            yield
        except Exception as error:
            message = failure_message(error)
            if message is None:
                raise
            if isinstance(error, BrokenPipeError):
                # Python flushes stdout once more at exit, which would fail again, noisily.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            logging.getLogger(cls.name).error("%s", message)
            raise click.exceptions.Exit(1) from None


if __name__ == "__main__":
    TapPipedrive.cli()
