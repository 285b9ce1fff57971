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
from urllib.parse import urlparse

import click
import requests
import singer_sdk.singerlib as singer
from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.exceptions import AbortedSyncExceptionBase, RetriableAPIError

from tap_pipedrive.auth import (
    DEFAULT_API_URL,
    DEFAULT_OAUTH_URL,
    ConfigError,
    OAuthError,
    PipedriveOAuthAuthenticator,
    check_root_url,
    root_url,
    token_authenticator,
)
from tap_pipedrive.client import NotFoundError, PipedriveAPIError
from tap_pipedrive.concurrency import PacedSession
from tap_pipedrive.config import OAUTH_SETTINGS, config_errors, normalize_start_date
from tap_pipedrive.progress import TokenLedger, TokenLimitReached
from tap_pipedrive.ratelimit import BurstThrottle
from tap_pipedrive.state import check_state, prepare_state
from tap_pipedrive.streams import STREAM_TYPES

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from types import FrameType

    from singer_sdk.authenticators import APIAuthenticatorBase
    from singer_sdk.streams import Stream

#: Settings whose values never appear in output, logs or messages.
SECRET_SETTINGS = ("api_token", "client_secret", "refresh_token")
#: Failures a user can fix from the message alone: logged as one line, without a traceback.
EXPECTED_ERRORS = (PipedriveAPIError, ConfigError, OAuthError)
__all__ = ["OAUTH_SETTINGS", "SECRET_SETTINGS", "TapPipedrive"]
#: Requests in flight at once unless `max_concurrency` says otherwise (benchmarks/RESULTS.md).
DEFAULT_MAX_CONCURRENCY = 8


def failure_message(error: BaseException) -> str | None:  # noqa: PLR0911 (one per kind)
    """The one line reporting an expected failure, naming what to fix; None for a bug."""
    if isinstance(error, BrokenPipeError):
        return OUTPUT_CLOSED
    if isinstance(error, NotFoundError):
        return (
            f"{error} Check `api_url` / `company_domain`: they name your company's API root "
            "(https://api.pipedrive.com or https://<company>.pipedrive.com)."
        )
    if isinstance(error, TokenLimitReached):
        # A stream stops cleanly on it: it ends the command only where the catalog is built.
        return (
            f"Discovery needs more tokens than max_tokens_per_run ({error.limit or 0:,}) "
            f"allows: {error.spent:,} spent on field definitions, the next ('{error.stream}') "
            f"costs {error.tokens}. Raise or unset `max_tokens_per_run`, or give a catalog "
            "discovered without it."
        )
    if isinstance(error, EXPECTED_ERRORS):
        return str(error)
    if isinstance(error, RetriableAPIError):
        return (
            f"{error}; still failing after every retry: run again later (the next run resumes "
            "from the last state emitted)."
        )
    if isinstance(error, requests.exceptions.RequestException):
        return _connection_failure(error)
    return None


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


def _connection_failure(error: requests.exceptions.RequestException) -> str:
    """The one line for a connection that failed on every try: where, why, what to do."""
    url = urlparse(str(error.request.url) if error.request is not None else "")
    where = f"{url.scheme}://{url.netloc}" if url.netloc else "Pipedrive"
    # requests nests the reason (`[Errno 111] Connection refused`) at the end of its text.
    reason = str(error).rstrip(")\"'").rsplit(": ", 1)[-1]
    if isinstance(error, requests.exceptions.Timeout):
        return f"{where} did not answer in time, on every try ({reason}): run again later."
    if isinstance(error, requests.exceptions.ConnectionError):
        return (
            f"Could not connect to {where} ({reason}): check `api_url` / `company_domain` "
            "and the network."
        )
    return f"The connection to {where} kept breaking ({reason}): run again later."


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

    config_jsonschema = th.PropertiesList(
        th.Property(
            "api_token",
            th.StringType,
            secret=True,
            title="API token",
            description=(
                "Personal API token (Settings > Personal preferences > API). Sent only in the "
                "`x-api-token` header."
            ),
        ),
        th.Property(
            "client_id",
            th.StringType,
            title="OAuth client ID",
            description="OAuth 2.0 alternative to `api_token`: the app's client ID.",
        ),
        th.Property(
            "client_secret",
            th.StringType,
            secret=True,
            title="OAuth client secret",
            description="OAuth 2.0: the app's client secret.",
        ),
        th.Property(
            "refresh_token",
            th.StringType,
            secret=True,
            title="OAuth refresh token",
            description=(
                "OAuth 2.0: a refresh token of the app's installation (expires after 60 days "
                "unused). Access tokens are refreshed before they expire; a rotated refresh "
                "token is used for the rest of the run (see `refresh_token_file`)."
            ),
        ),
        th.Property(
            "refresh_token_file",
            th.StringType,
            title="OAuth refresh token file",
            description=(
                "OAuth 2.0: a file where the tap writes the refresh token when Pipedrive rotates "
                "it (owner-readable only), and from which later runs read it in preference to "
                "`refresh_token`."
            ),
        ),
        th.Property(
            "oauth_url",
            th.StringType,
            default=DEFAULT_OAUTH_URL,
            title="OAuth token URL",
            description="OAuth 2.0 token endpoint (change only for a proxy or a test server).",
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            title="Start date",
            description=(
                "Earliest `update_time` to replicate on the first run: an ISO 8601 date or "
                "date-time (2024-01-31, 2024-01-31T10:00:00+02:00; UTC where no offset is "
                "given) or MM/DD/YYYY (01/31/2024; DD/MM/YYYY is read too where the order is "
                "unambiguous, 01/02/2024 is refused). Absent: all history. Later runs continue "
                "from the state."
            ),
        ),
        th.Property(
            "api_url",
            th.StringType,
            default=DEFAULT_API_URL,
            title="API URL",
            description=(
                "Root of the Pipedrive API; the tap calls `{api_url}/api/v2/...` and "
                "`{api_url}/api/v1/...`. Must be https (http only for a loopback address). "
                "With OAuth and neither this nor `company_domain` set, the token's `api_domain`."
            ),
        ),
        th.Property(
            "company_domain",
            th.StringType,
            title="Company domain",
            description=(
                "Your company's Pipedrive subdomain (`acme` for acme.pipedrive.com): sets the "
                "root to `https://{company_domain}.pipedrive.com` unless `api_url` is set."
            ),
        ),
        th.Property(
            "custom_field_names",
            th.StringType,
            default="key",
            allowed_values=["key", "name"],
            title="Custom field column names",
            description=(
                "`key`: custom-field columns are named by Pipedrive's field code (the 40-character "
                "hash, as the legacy tap and Stitch name them). `name`: snake_case of the field's "
                "name; a name shared by several fields, or with a standard column, gets the first "
                "8 characters of the field code appended."
            ),
        ),
        th.Property(
            "option_labels",
            th.BooleanType,
            default=False,
            title="Option labels",
            description=(
                "Emit single- and multiple-option custom fields as their option labels "
                "(strings) instead of option ids (integers)."
            ),
        ),
        th.Property(
            "retry_patience_seconds",
            th.IntegerType,
            default=300,
            title="Retry patience (seconds)",
            description=(
                "How long one request is retried through server errors (5xx), timeouts and "
                "dropped connections (waits from 1 s, doubling, at most 60 s) before its stream "
                "fails. The other streams still sync; the run then exits non-zero."
            ),
        ),
        th.Property(
            "request_timeout_seconds",
            th.NumberType,
            default=120,
            title="Request timeout (seconds)",
            description=(
                "How long to wait for Pipedrive's answer to one request before it counts as "
                "failed and is retried (within `retry_patience_seconds`)."
            ),
        ),
        th.Property(
            "max_tokens_per_run",
            th.IntegerType,
            title="Token limit per run",
            description=(
                "Stop the run cleanly (state saved, exit 0) before it spends more than this many "
                "of the company's daily API tokens, leaving the rest to its other integrations; "
                "the next run resumes. Every list stream runs before the per-deal streams "
                "(`dealflow` costs 40 tokens a deal). Unset: no limit."
            ),
        ),
        th.Property(
            "max_concurrency",
            th.IntegerType,
            default=DEFAULT_MAX_CONCURRENCY,
            title="Maximum concurrent requests",
            description=(
                "Requests in flight at once: the next page is read while one is processed, "
                "backfills of v2 lists are read in time windows at once, and the per-deal calls "
                "(`dealflow`) of a batch run in parallel; records still come out in the order, "
                "and with the state, of a sequential read. `1` reads sequentially."
            ),
        ),
        th.Property(
            "deleted_records_lookback_minutes",
            th.IntegerType,
            default=5,
            title="Deletions look-back (minutes)",
            description=(
                "`deleted_records` starts each run this many minutes before its bookmark, so "
                "that a deletion Pipedrive stamped before the previous read ended but committed "
                "after it is still read. Deletions read again are the same rows (key: entity, "
                "id). `0` turns the margin off."
            ),
        ),
        th.Property(
            "mail_include_body",
            th.BooleanType,
            default=False,
            title="Mail message bodies",
            description=(
                "`deal_mail_messages` (off by default: it holds people's mail) also carries each "
                "message's body (`include_body=1`). Off: subjects, snippets, parties and times."
            ),
        ),
        th.Property(
            "user_agent",
            th.StringType,
            title="User agent",
            description="User-Agent header sent with every request.",
        ),
        th.Property(
            "metrics_log_level",
            th.StringType,
            allowed_values=["DEBUG", "INFO", "WARNING", "ERROR"],
            title="Metrics log level",
            description=(
                "Level of the SDK's `METRIC` log lines (one per request and per stream), logged "
                "at INFO: `WARNING` hides them, leaving the per-stream summaries. Unset: they "
                "follow the log level."
            ),
        ),
        th.Property(
            "emit_activate_version_messages",
            th.BooleanType,
            default=True,
            title="Emit ACTIVATE_VERSION messages",
            description=(
                "End each complete read of a full-table stream (users, stages, pipelines, "
                "filters, ...) with an ACTIVATE_VERSION message, after its records, so that a "
                "target soft-deletes (target-postgres: `_sdc_deleted_at`) the rows gone from "
                "Pipedrive. A read that was refused, failed or stopped by `max_tokens_per_run` "
                "sends none. `false` turns it off."
            ),
        ),
    ).to_dict()

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
    def requests_session(self) -> requests.Session:
        """One HTTP session for every stream and thread, throttled by the burst window's headers.

        The throttle's pause holds every thread (`PacedSession.pause`), not just its own.
        """
        session = PacedSession(self.max_concurrency)
        throttle = BurstThrottle(sleep=session.pause, in_flight=session.others_in_flight)
        session.hooks["response"].append(throttle)
        return session

    @functools.cached_property
    def authenticator(self) -> APIAuthenticatorBase:
        """One authenticator for every stream of the run: the API token, else OAuth."""
        if self.config.get("api_token"):
            return token_authenticator(self.config["api_token"])
        return PipedriveOAuthAuthenticator(
            client_id=self.config["client_id"],
            client_secret=self.config["client_secret"],
            refresh_token=self.config["refresh_token"],
            url=self.config.get("oauth_url") or DEFAULT_OAUTH_URL,
            token_file=self.config.get("refresh_token_file"),
        )

    @functools.cached_property
    def api_root(self) -> str:
        """The API root: the settings', else (OAuth) the `api_domain` the token was issued for."""
        root = root_url(self.config)
        authenticator = self.authenticator
        explicit = self.config.get("company_domain") or root != DEFAULT_API_URL
        if isinstance(authenticator, PipedriveOAuthAuthenticator) and not explicit:
            authenticator.update_access_token()
            if authenticator.api_domain:
                root = authenticator.api_domain.rstrip("/")
                check_root_url(root, "OAuth `api_domain`")
        return root

    def discover_streams(self) -> list[Stream]:
        """Every Pipedrive stream."""
        # `metrics_log_level`, a setting the SDK leaves to taps: set here, the first hook after
        # the settings are checked and before any request (the schemas read field definitions).
        if self.config.get("metrics_log_level"):
            self.metrics_logger.setLevel(self.config["metrics_log_level"])
        streams: list[Stream] = [stream_type(tap=self) for stream_type in STREAM_TYPES]
        for stream in streams:
            stream.logger.addFilter(quiet_expected_failures)
        return streams

    @property
    def streams(self) -> dict[str, Stream]:
        """The SDK's streams (ordered by name), but the parents of selected per-item streams last.

        Whatever the catalog's order, every other list (500 records a call) spends its tokens
        before the per-item calls (`dealflow`: 40 tokens a deal, changelogs 20 a person or
        organization) that hang off the deals, persons and organizations lists. Small
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
                    key=lambda item: bool(
                        item[1].replication_key and item[1].has_selected_descendents
                    ),
                )
            )
        return self._streams

    def _catalog_selects_a_stream(self) -> bool:
        """Whether the input catalog (if any) selects a stream of this tap.

        A catalog naming none of them is another tap's (ConfigError); one that names them but
        selects none gets a warning.
        """
        catalog = self.input_catalog
        if not catalog:
            return True
        known = {stream.name for stream in STREAM_TYPES}
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

    @functools.cached_property
    def token_ledger(self) -> TokenLedger:
        """The tokens this run has committed to, against `max_tokens_per_run`."""
        return TokenLedger(self.config.get("max_tokens_per_run"))

    def load_state(self, state: dict[str, t.Any]) -> None:
        """Load a state, Meltano's or the legacy tap's too, after checking every timestamp in it.

        See tap_pipedrive/state.py.
        """
        super().load_state(prepare_state(state, self.logger))
        check_state(t.cast("dict[str, t.Any]", self.state), self.logger)

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """Flush the last STATE, then exit 128 + the signal: an interrupted run is no success."""
        try:
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
