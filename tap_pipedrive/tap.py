"""The tap: its settings and its streams."""

from __future__ import annotations

import functools
import io
import json
import logging
import sys
import typing as t

import click
import requests
import singer_sdk.singerlib as singer
from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.exceptions import ConfigValidationError

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
from tap_pipedrive.client import PipedriveAPIError, to_rfc3339
from tap_pipedrive.concurrency import PacedSession
from tap_pipedrive.progress import TokenLedger
from tap_pipedrive.ratelimit import BurstThrottle
from tap_pipedrive.streams import STREAM_TYPES

if t.TYPE_CHECKING:
    from types import TracebackType

    from singer_sdk.authenticators import APIAuthenticatorBase
    from singer_sdk.streams import Stream

#: Settings whose values never appear in output, logs or messages.
SECRET_SETTINGS = ("api_token", "client_secret", "refresh_token")
#: Failures a user can fix from the message alone: logged as one line, without a traceback.
EXPECTED_ERRORS = (PipedriveAPIError, ConfigError, OAuthError)
#: Requests in flight at once unless `max_concurrency` says otherwise (benchmarks/RESULTS.md).
DEFAULT_MAX_CONCURRENCY = 8
#: The OAuth settings, all three needed instead of `api_token`.
OAUTH_SETTINGS = ("client_id", "client_secret", "refresh_token")


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
                "token is used for the rest of the run."
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
                "Earliest `update_time` to replicate on the first run (ISO 8601 date-time). "
                "Absent: all history. Later runs continue from the state."
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
            "user_agent",
            th.StringType,
            title="User agent",
            description="User-Agent header sent with every request.",
        ),
    ).to_dict()

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Add the checks JSON schema cannot express: credentials, https root, a real date."""
        errors = super()._validate_config(raise_errors=False)
        if not self.config.get("api_token") and not all(map(self.config.get, OAUTH_SETTINGS)):
            errors.append(
                "No credentials: set `api_token` (TAP_PIPEDRIVE_API_TOKEN), or all of "
                "`client_id`, `client_secret` and `refresh_token` for OAuth."
            )
        if start_date := self.config.get("start_date"):
            try:
                to_rfc3339(str(start_date))
            except ValueError:
                errors.append(
                    f"`start_date` must be an ISO 8601 date-time such as 2024-01-31T00:00:00Z, "
                    f"not {start_date!r}."
                )
        for name in ("max_tokens_per_run", "max_concurrency"):
            value = self.config.get(name)
            if isinstance(value, int) and value < 1:
                errors.append(f"`{name}` must be at least 1, not {value!r}.")
        try:
            check_root_url(root_url(self.config))
            check_root_url(self.config.get("oauth_url") or DEFAULT_OAUTH_URL, "`oauth_url`")
        except ConfigError as error:
            errors.append(str(error))
        errors = [self.redact(error) for error in errors]
        if errors and raise_errors:
            raise ConfigValidationError("Config validation failed", errors=errors)
        return errors

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
        session.hooks["response"].append(BurstThrottle(sleep=session.pause))
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
        return [stream_type(tap=self) for stream_type in STREAM_TYPES]

    @property
    def streams(self) -> dict[str, Stream]:
        """The SDK's streams (ordered by name), but the parents of per-deal streams last.

        Whatever the catalog's order, every other list (500 records a call) spends its tokens
        before the per-deal calls (`dealflow`: 40 tokens a deal) that hang off the deals list.
        """
        if self._streams is None:
            streams = super().streams
            self._streams = dict(
                sorted(streams.items(), key=lambda item: bool(item[1].child_streams))
            )
        return self._streams

    @functools.cached_property
    def token_ledger(self) -> TokenLedger:
        """The tokens this run has committed to, against `max_tokens_per_run`."""
        return TokenLedger(self.config.get("max_tokens_per_run"))

    def load_state(self, state: dict[str, t.Any]) -> None:
        """Load a state, bringing bookmarks of any earlier timestamp format to RFC 3339 UTC."""
        super().load_state(state)
        for stream_state in self.state.get("bookmarks", {}).values():
            for entry in [stream_state, *stream_state.get("partitions", [])]:
                value = entry.get("replication_key_value")
                if isinstance(value, str):
                    try:
                        entry["replication_key_value"] = to_rfc3339(value)
                    except ValueError:
                        msg = f"The state has a bookmark that is not a timestamp: {value!r}."
                        raise ConfigError(msg) from None

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
        super().invoke(
            about=about,
            about_format=about_format,
            config=config,
            state=_json_file(state, "--state", None),
            catalog=_json_file(catalog, "--catalog", "streams"),
        )

    @classmethod
    def get_singer_command(cls) -> click.Command:
        """The SDK's command, reporting expected failures in one line instead of a traceback."""
        command = super().get_singer_command()
        report_unexpected = command.excepthook  # type: ignore[attr-defined]

        def excepthook(
            kind: type[BaseException], error: BaseException, trace: TracebackType | None
        ) -> None:
            if issubclass(kind, EXPECTED_ERRORS):
                logging.getLogger(cls.name).error("%s", error)
                return
            report_unexpected(kind, error, trace)

        command.excepthook = excepthook  # type: ignore[attr-defined]
        return command


if __name__ == "__main__":
    TapPipedrive.cli()
