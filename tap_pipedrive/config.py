"""The checks of the settings that JSON schema cannot express, and `start_date`'s accepted forms."""

from __future__ import annotations

import re
import typing as t
from urllib.parse import urlparse

from tap_pipedrive.auth import DEFAULT_OAUTH_URL, ConfigError, check_root_url, root_url

#: The OAuth settings, all three needed instead of `api_token`.
OAUTH_SETTINGS = ("client_id", "client_secret", "refresh_token")
#: A date as US setup screens ask for it (Stitch, Qlik: MM/DD/YYYY), or day first.
_SLASHED_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_ISO_DATE = re.compile(r"\d{4}-?\d")
#: API paths the tap appends itself: an `api_url` ending in one is a root with a path too many.
_API_PATHS = ("/api", "/api/v1", "/api/v2", "/v1")
_MONTHS_IN_A_YEAR = 12


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
    return errors + root_url_errors(config)
