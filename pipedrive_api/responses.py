"""Pipedrive's answers: the `{success, data, additional_data}` envelope, and what a status means.

`check` sorts an answer into success, a fault worth retrying (`TransientError`) or a typed
error carrying the line users see.
"""

from __future__ import annotations

import email.utils
import typing as t
from urllib.parse import urlparse

import msgspec

from pipedrive_api.auth import PipedriveOAuthAuthenticator
from pipedrive_api.errors import (
    AccessDeniedError,
    AuthenticationError,
    BudgetExhaustedError,
    NotFoundError,
    PipedriveAPIError,
    TransientError,
)
from pipedrive_api.ratelimit import budget_exhausted
from pipedrive_api.times import format_instant

if t.TYPE_CHECKING:
    import requests

_decode = msgspec.json.Decoder().decode


def payload(response: requests.Response) -> t.Any:
    """Return the decoded JSON body of a response, decoding it only once."""
    cached = response.__dict__.get("_pipedrive_payload", response)
    if cached is response:
        try:
            cached = _decode(response.content) if response.content else None
        except msgspec.DecodeError:
            cached = None
        response.__dict__["_pipedrive_payload"] = cached
    return cached


class Envelope(msgspec.Struct):
    """Pipedrive's answer with its records left encoded: enough to check it and page on."""

    #: The encoded `data` (empty when the body has none).
    data: msgspec.Raw = msgspec.Raw(b"")
    additional_data: t.Any = None


_decode_envelope = msgspec.json.Decoder(Envelope).decode


def envelope(response: requests.Response) -> Envelope | None:
    """The body's envelope without decoding its records (None if it is not a JSON object).

    Cheap: threads that fetch pages ahead check and page with it, leaving the records to be
    decoded once, by the reader's own thread.
    """
    if "_pipedrive_envelope" not in response.__dict__:
        try:
            found = _decode_envelope(response.content) if response.content else None
        except (msgspec.DecodeError, msgspec.ValidationError):
            found = None
        response.__dict__["_pipedrive_envelope"] = found
    return t.cast("Envelope | None", response.__dict__["_pipedrive_envelope"])


def records(response: requests.Response, records_key: str | None = None) -> list[t.Any]:
    """The records of an answer's `data` (a list, one object, or `data[records_key]`)."""
    data = payload(response)["data"]
    if records_key and isinstance(data, dict):
        data = data.get(records_key)
    if isinstance(data, list):
        return data
    return [data] if data else []


def server_time(response: requests.Response) -> str | None:
    """The `Date` header of an answer as RFC 3339 UTC (None if absent or not a date)."""
    try:
        return format_instant(email.utils.parsedate_to_datetime(response.headers["Date"]))
    except (KeyError, TypeError, ValueError):
        return None


def path_of(response: requests.Response) -> str:
    """The path a response answers (never its query string)."""
    return urlparse(response.url).path


def error_message(response: requests.Response) -> str:
    """Status, path (never the query string) and Pipedrive's own `error`/`error_info`."""
    body = payload(response)
    if isinstance(body, dict):
        detail = "; ".join(str(body[key]) for key in ("error", "error_info") if body.get(key))
    elif "html" in response.headers.get("Content-Type", ""):
        detail = "an HTML page instead of JSON: Pipedrive (or its firewall) blocked the client"
    else:
        detail = "no JSON body"
    return (
        f"Pipedrive answered {response.status_code} {response.reason} "
        f"for {path_of(response)}: {detail or 'no error message'}"
    )


def check(response: requests.Response, authenticator: object = None) -> None:
    """Sort an answer into success, retriable fault, or fatal error with a clear message."""
    status = response.status_code
    if budget_exhausted(response):
        msg = (
            f"Pipedrive's daily token budget for this company is spent ({status} for "
            f"{path_of(response)}). It refills at midnight in the company's time zone; "
            "the state reached so far was emitted, and the next run resumes from it."
        )
        raise BudgetExhaustedError(msg)
    if status == 429 or status >= 500:
        raise TransientError(error_message(response), response)
    if status == 401:
        if isinstance(authenticator, PipedriveOAuthAuthenticator) and (
            authenticator.retry_after_401()
        ):
            msg = f"401 for {path_of(response)}: refreshing the OAuth token, once"
            raise TransientError(msg, response)
        msg = (
            f"Pipedrive refused the credentials (401) for {path_of(response)}: "
            "check the `api_token` setting (or the OAuth settings)."
        )
        raise AuthenticationError(msg)
    if status in {402, 403} and payload(response) is not None:
        raise AccessDeniedError(error_message(response))
    if status in {404, 410}:
        raise NotFoundError(error_message(response))
    if status >= 400:
        raise PipedriveAPIError(error_message(response))
    body = envelope(response)
    if body is None or not body.data:
        # Pipedrive has been seen to answer 200 with a `null` body: a transient fault.
        msg = f"Pipedrive answered {status} with no JSON envelope for {path_of(response)}"
        raise TransientError(msg, response)
