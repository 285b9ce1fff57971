"""What can go wrong talking to Pipedrive, as typed errors whose text is the line users see.

Every message names what to fix and never carries a secret or a query string.
"""

from __future__ import annotations

import typing as t
from urllib.parse import urlparse

import requests
from urllib3.exceptions import NewConnectionError


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the setting, never a secret."""


class OAuthError(ValueError):
    """The OAuth server refused the credentials; the message names the settings."""


class PipedriveAPIError(Exception):
    """A non-retriable answer from Pipedrive, with its error message and no secrets."""


class RunStoppingError(PipedriveAPIError):
    """A failure no other read could get past: the run stops at once."""


class AuthenticationError(RunStoppingError):
    """401: the credentials were refused. Fatal for the whole run."""


class UnreachableError(RunStoppingError):
    """The run's first request could not connect at all (refused, unknown host)."""


class BudgetExhaustedError(RunStoppingError):
    """429 with the daily token budget at zero: stop cleanly, resume after the reset."""


class AccessDeniedError(PipedriveAPIError):
    """402/403 in Pipedrive's JSON envelope: the plan or the user lacks this feature."""


class NotFoundError(PipedriveAPIError):
    """404/410: the entity is gone (e.g. a deal deleted while its children were read)."""


class TransientError(Exception):
    """A fault worth retrying (429, 5xx, an empty answer); `response` is the answer."""

    def __init__(self, message: str, response: requests.Response | None = None) -> None:
        super().__init__(message)
        self.response = response


class TokenLimitReached(Exception):
    """The next request would spend more than `max_tokens_per_run`: the run stops cleanly."""

    def __init__(self, limit: int | None, spent: int, stream: str, tokens: int) -> None:
        self.limit, self.spent, self.stream, self.tokens = limit, spent, stream, tokens
        super().__init__(
            f"Stopped before spending more than max_tokens_per_run ({limit or 0:,}): "
            f"{spent:,} tokens spent, next call of stream '{stream}' costs {tokens}; the "
            "state is saved and the next run resumes from it."
        )


#: Faults retried (with backoff) before they count as a failure.
TRANSIENT_ERRORS = (
    ConnectionResetError,
    TransientError,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
#: Failures of one read (after retries).
READ_ERRORS = (PipedriveAPIError, *TRANSIENT_ERRORS)
#: Failures a user can fix from the message alone: one line, without a traceback.
EXPECTED_ERRORS = (PipedriveAPIError, ConfigError, OAuthError)


def connect_failure(error: BaseException) -> str | None:
    """Why no connection could be made at all (refused, unknown host), if that is the fault."""
    reason = getattr(error.args[0], "reason", None) if error.args else None
    if not isinstance(reason, NewConnectionError):
        return None
    cause = reason.__cause__ or reason.__context__
    return str(getattr(cause, "strerror", None) or "no connection")


def describe_fault(error: BaseException | None, request: t.Any = None) -> str:
    """A transient fault in words: status and path, or what broke (never the query string)."""
    if isinstance(error, TransientError):
        return str(error)  # `responses.error_message`: status, path and Pipedrive's message
    url = getattr(request, "url", None) or getattr(getattr(error, "request", None), "url", None)
    where = f" for {urlparse(str(url)).path}" if url else ""
    if isinstance(error, requests.exceptions.Timeout):
        return f"No answer in time{where}"
    if isinstance(error, (requests.exceptions.ChunkedEncodingError, ConnectionResetError)):
        return f"The connection broke during the answer{where}"
    if isinstance(error, requests.exceptions.ContentDecodingError):
        return f"The answer could not be decoded{where}"
    reason = connect_failure(error) if error is not None else None
    return f"Could not connect ({reason}){where}" if reason else f"The connection failed{where}"


def failure_message(error: BaseException) -> str | None:
    """The one line reporting an expected failure, naming what to fix; None for a bug."""
    if isinstance(error, NotFoundError):
        return (
            f"{error} Check `api_url` / `company_domain`: they name your company's API root "
            "(https://api.pipedrive.com or https://<company>.pipedrive.com)."
        )
    if isinstance(error, EXPECTED_ERRORS):
        return str(error)
    if isinstance(error, TransientError):
        return (
            f"{error}; still failing after every retry: run again later (the next run resumes "
            "from the last state emitted)."
        )
    if isinstance(error, requests.exceptions.RequestException):
        return _connection_failure(error)
    return None


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


__all__: t.Final = [
    "EXPECTED_ERRORS",
    "READ_ERRORS",
    "TRANSIENT_ERRORS",
    "AccessDeniedError",
    "AuthenticationError",
    "BudgetExhaustedError",
    "ConfigError",
    "NotFoundError",
    "OAuthError",
    "PipedriveAPIError",
    "RunStoppingError",
    "TokenLimitReached",
    "TransientError",
    "UnreachableError",
    "connect_failure",
    "describe_fault",
    "failure_message",
]
