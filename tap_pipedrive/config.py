"""The checks of the settings that JSON schema cannot express, and `start_date`'s accepted forms."""

from __future__ import annotations

import re
import typing as t
from urllib.parse import urlparse

from singer_sdk import typing as th

from pipedrive_api.auth import DEFAULT_API_URL, DEFAULT_OAUTH_URL, check_root_url, root_url
from pipedrive_api.errors import ConfigError

#: The OAuth settings, all three needed instead of `api_token`.
OAUTH_SETTINGS = ("client_id", "client_secret", "refresh_token")
#: A date as US setup screens ask for it (Stitch, Qlik: MM/DD/YYYY), or day first.
_SLASHED_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_ISO_DATE = re.compile(r"\d{4}-?\d")
#: API paths the tap appends itself: an `api_url` ending in one is a root with a path too many.
_API_PATHS = ("/api", "/api/v1", "/api/v2", "/v1")
_MONTHS_IN_A_YEAR = 12
#: Settings whose values never appear in output, logs or messages.
SECRET_SETTINGS = ("api_token", "client_secret", "refresh_token")
#: Requests in flight at once unless `max_concurrency` says otherwise (benchmarks/RESULTS.md).
DEFAULT_MAX_CONCURRENCY = 8

#: The settings of tap-pipedrive (target-pipedrive shares those of the connection).
SETTINGS = th.PropertiesList(
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
        "deletion_sweep_days",
        th.IntegerType,
        title="Deletion sweep (days)",
        description=(
            "With `deleted_records` selected, every this many days the tap lists every id of "
            "persons, organizations, activities, products and notes (10 tokens per 500 items; "
            "20 for notes) and retires the ids it has sent that Pipedrive no longer lists: "
            "deletions older than the month `/v1/recents` keeps. Absent or null: never; `0`: "
            "every run; `7` is a sensible value."
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
        "custom_streams",
        th.ArrayType(th.ObjectType(additional_properties=True)),
        title="Custom streams",
        description=(
            "More streams, each a GET list of Pipedrive's API the tap does not read itself: "
            "`name`, `path` (`/api/v2/...` or `/v1/...`; an `{id}` placeholder is filled with "
            "each id of the `parent` stream), `primary_keys`, and optionally `params` (fixed "
            "query parameters), `replication_key` with `replication_param` (the query "
            "parameter filtering on it, e.g. `updated_since`), `records_key` (where the "
            "records are under `data`) and `schema` (for a path the spec does not list). "
            "Paging, token cost and record shape come from the API spec."
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


def normalize_start_date(value: str) -> str:
    """Return `start_date` as RFC 3339 UTC (`2024-01-31T00:00:00Z`); ConfigError if invalid.

    Accepted: ISO 8601 dates and date-times (an offset is converted to UTC; none means UTC),
    and slashed dates whose order is unambiguous: `01/31/2024` and `31/01/2024` are both
    January 31, while `01/02/2024` (January 2 or February 1) is refused.
    """
    # Imported here: only a run with `start_date` needs it, and it costs every run's start-up
    # some 40 ms (a tenth of the tap's own import time).
    import pendulum  # noqa: PLC0415

    text = value.strip()
    slashed = _SLASHED_DATE.fullmatch(text)
    if slashed:
        first, second, year = map(int, slashed.groups())
        if first != second and max(first, second) <= _MONTHS_IN_A_YEAR:
            msg = (
                f"`start_date` {value!r} is ambiguous (month/day or day/month?): write it as "
                f"{year}-{first:02}-{second:02} or {year}-{second:02}-{first:02}."
            )
            raise ConfigError(msg)
    try:
        if slashed:
            month, day = (first, second) if first <= _MONTHS_IN_A_YEAR else (second, first)
            moment = pendulum.datetime(year, month, day, tz="UTC")
        else:
            # A date first: pendulum reads a lone time as today's, which moves every day.
            parsed = pendulum.parse(text, strict=True) if _ISO_DATE.match(text) else None
            if not isinstance(parsed, pendulum.DateTime):
                raise TypeError(type(parsed).__name__)  # no date, a duration or an interval
            moment = parsed
    except (ValueError, TypeError):  # pendulum's ParserError is a ValueError
        msg = (
            f"`start_date` must be a date or date-time such as 2024-01-31, "
            f"2024-01-31T10:00:00+02:00 or 01/31/2024, not {value!r}."
        )
        raise ConfigError(msg) from None
    return moment.in_timezone("UTC").format("YYYY-MM-DDTHH:mm:ss[Z]")


def credentials_errors(config: t.Mapping[str, t.Any], env_prefix: str) -> list[str]:
    """An API token, or all three OAuth settings; `env_prefix` names the plugin's variables."""
    if config.get("api_token") or all(map(config.get, OAUTH_SETTINGS)):
        return []
    return [
        f"No credentials: set `api_token` ({env_prefix}_API_TOKEN), or all of "
        "`client_id`, `client_secret` and `refresh_token` for OAuth."
    ]


def root_url_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    """The API root and the OAuth server must be https (or a local http address)."""
    urls = ("api_url", "company_domain", "oauth_url")
    if not all(isinstance(config.get(name), (str, type(None))) for name in urls):
        return []  # the JSON schema's errors say why
    try:
        check_root_url(root_url(config))
        check_root_url(config.get("oauth_url") or DEFAULT_OAUTH_URL, "`oauth_url`")
    except ConfigError as error:
        return [str(error)]
    return []


def config_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    """Return what is wrong with the settings beyond their JSON schema, one reason each."""
    errors = credentials_errors(config, "TAP_PIPEDRIVE")
    start_date = config.get("start_date")
    if isinstance(start_date, str) and start_date:
        try:
            normalize_start_date(start_date)
        except ConfigError as error:
            errors.append(str(error))
    domain = config.get("company_domain")
    if isinstance(domain, str) and not re.fullmatch(r"[A-Za-z0-9-]+", domain):
        errors.append(
            f"`company_domain` is the subdomain alone (`acme` for acme.pipedrive.com), "
            f"not {domain!r}."
        )
    api_url = config.get("api_url")
    if isinstance(api_url, str) and urlparse(api_url).path.rstrip("/").endswith(_API_PATHS):
        errors.append(
            f"`api_url` is the API root without its path (e.g. https://api.pipedrive.com or "
            f"https://acme.pipedrive.com; the tap adds /api/v2 and /v1), not {api_url!r}."
        )
    for name in ("max_tokens_per_run", "max_concurrency"):
        value = config.get(name)
        if isinstance(value, int) and value < 1:
            errors.append(f"`{name}` must be at least 1, not {value!r}.")
    sweep_days = config.get("deletion_sweep_days")
    if isinstance(sweep_days, int) and sweep_days < 0:
        errors.append(f"`deletion_sweep_days` must be 0 (every run) or more, not {sweep_days!r}.")
    return errors + root_url_errors(config)
