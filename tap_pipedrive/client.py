"""Base streams shared by every Pipedrive stream: root URL, auth, envelopes, errors, paging."""

from __future__ import annotations

import datetime
import functools
import itertools
import math
import typing as t
from urllib.parse import urlparse

import backoff
import msgspec
import requests
import singer_sdk.singerlib as singer
from singer_sdk import RESTStream
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.helpers._catalog import get_selected_schema
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.pagination import BaseAPIPaginator, SinglePagePaginator
from urllib3.exceptions import NewConnectionError

from tap_pipedrive import concurrency
from tap_pipedrive.auth import PipedriveOAuthAuthenticator
from tap_pipedrive.catalog import reconcile
from tap_pipedrive.custom_fields import CustomField, CustomFieldMapper
from tap_pipedrive.progress import Progress, TokenLimitReached
from tap_pipedrive.ratelimit import budget_exhausted, retry_waits

if t.TYPE_CHECKING:
    from backoff.types import Details
    from requests.auth import AuthBase
    from singer_sdk.helpers.types import Context

#: Pipedrive's maximum page size; a call costs the same tokens whatever its limit.
PAGE_SIZE = 500

_decode = msgspec.json.Decoder().decode


class PipedriveAPIError(FatalAPIError):
    """A non-retriable answer from Pipedrive, with its error message and no secrets."""


class RunStoppingError(PipedriveAPIError):
    """A failure no other stream could get past: the run stops at once, with its state."""


class AuthenticationError(RunStoppingError):
    """401: the credentials were refused. Fatal for the whole run."""


class UnreachableError(RunStoppingError):
    """The run's first request could not connect at all (refused, unknown host)."""


class SyncFailedError(PipedriveAPIError):
    """Some streams failed; the others synced. The message names each and why."""


class AccessDeniedError(PipedriveAPIError):
    """402/403 in Pipedrive's JSON envelope: the plan or the user lacks this feature."""


class BudgetExhaustedError(RunStoppingError):
    """429 with the daily token budget at zero: stop cleanly, resume after the reset."""


class NotFoundError(PipedriveAPIError):
    """404/410: the entity is gone (e.g. a deal deleted while its children were read)."""


#: Faults retried (with backoff) before they count as a failure.
TRANSIENT_ERRORS = (
    ConnectionResetError,
    RetriableAPIError,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
#: Failures of one stream (after retries): that stream stops, the others still sync.
STREAM_ERRORS = (PipedriveAPIError, *TRANSIENT_ERRORS)


def connect_failure(error: BaseException) -> str | None:
    """Why no connection could be made at all (refused, unknown host), if that is the fault."""
    reason = getattr(error.args[0], "reason", None) if error.args else None
    if not isinstance(reason, NewConnectionError):
        return None
    cause = reason.__cause__ or reason.__context__
    return str(getattr(cause, "strerror", None) or "no connection")


def describe_fault(error: BaseException | None, request: t.Any = None) -> str:
    """A transient fault in words: status and path, or what broke (never the query string)."""
    if isinstance(error, RetriableAPIError):
        return str(error)  # `response_error_message`: status, path and Pipedrive's message
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
    decoded once, by the stream's own thread.
    """
    if "_pipedrive_envelope" not in response.__dict__:
        try:
            found = _decode_envelope(response.content) if response.content else None
        except (msgspec.DecodeError, msgspec.ValidationError):
            found = None
        response.__dict__["_pipedrive_envelope"] = found
    return t.cast("Envelope | None", response.__dict__["_pipedrive_envelope"])


def to_rfc3339(value: str | None) -> str | None:
    """Normalize a Pipedrive timestamp to RFC 3339 UTC with whole seconds (`...T..:..:..Z`).

    v2 answers `2024-01-02T03:04:05Z` (returned as is), v1 `2024-01-02 03:04:05` in UTC, leads
    ISO with milliseconds; `0000-00-00 00:00:00` and empty values mean "no time".
    """
    if not value or value.startswith("0000"):
        return None
    if len(value) == 20 and value[10] == "T" and value[19] == "Z":
        return value
    if len(value) == 19 and value[10] == " ":
        return f"{value[:10]}T{value[11:]}Z"
    parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return format_instant(parsed)


def datetime_fields(schema: t.Mapping[str, t.Any]) -> tuple[str, ...]:
    """The top-level date-time properties of an object schema."""
    return tuple(
        name for name, prop in schema["properties"].items() if prop.get("format") == "date-time"
    )


def normalize_times(row: dict[str, t.Any], fields: t.Iterable[str]) -> dict[str, t.Any]:
    """`row` with those timestamp fields as RFC 3339 UTC (in place)."""
    for name in fields:
        value = row.get(name)
        if value is not None:
            row[name] = to_rfc3339(value)
    return row


def format_instant(moment: datetime.datetime) -> str:
    """Format an aware datetime as RFC 3339 UTC with whole seconds."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class CursorPaginator(BaseAPIPaginator["str | None"]):
    """v2 pagination: an opaque `cursor`, from `additional_data.next_cursor` (null at the end)."""

    def __init__(self) -> None:
        super().__init__(None)

    def get_next(self, response: requests.Response) -> str | None:
        """Return the next cursor, or None on the last page."""
        body = envelope(response)
        return ((body.additional_data if body else None) or {}).get("next_cursor")


def next_offset(response: requests.Response) -> int | None:
    """The `start` of the next v1 page, or None when the collection has no more items.

    Most lists nest `{start, limit, more_items_in_collection, next_start}` under
    `additional_data.pagination`; leads and deal flow put it in `additional_data` itself,
    without `next_start`.
    """
    body = envelope(response)
    additional = (body.additional_data if body else None) or {}
    pagination = additional.get("pagination") or additional
    if not pagination.get("more_items_in_collection"):
        return None
    next_start = pagination.get("next_start")
    if next_start is None:
        next_start = int(pagination.get("start") or 0) + int(pagination["limit"])
    return int(next_start)


class OffsetPaginator(BaseAPIPaginator[int]):
    """v1 pagination: `start`, from `additional_data.pagination.next_start`."""

    def __init__(self) -> None:
        super().__init__(0)

    def get_next(self, response: requests.Response) -> int | None:
        """Return the next offset, or None at the end."""
        return next_offset(response)


class TimePaginator(BaseAPIPaginator["tuple[str | None, int]"]):
    """Incremental v1 pages asked by time: (`updated_since`, `start`).

    Offsets alone skip a record whenever one already read is updated during the read: it moves
    to the end and the rest shift back by one. So each page is asked from the newest second read
    so far (the stream drops the records of that second it has already emitted); offsets remain
    only while a whole page falls in one second.
    """

    def __init__(self, since: str | None, key: str) -> None:
        super().__init__((since, 0))
        self._key = key

    def get_next(self, response: requests.Response) -> tuple[str | None, int] | None:
        """From the newest second of this page, or the next offset within the same second."""
        offset = next_offset(response)
        if offset is None:
            return None
        rows = (payload(response) or {}).get("data") or []
        newest = max((to_rfc3339(r.get(self._key)) or "" for r in rows), default="")
        since, _ = self.current_value
        if newest and (since is None or newest > since):
            return newest, 0
        return since, offset


#: State key: where a stream's records started to be emitted without custom-field columns.
ABSENT_SINCE = "custom_fields_absent_since"


class PipedriveStream(RESTStream[t.Any]):
    """What every Pipedrive endpoint shares: root URL, auth, envelope, errors and timestamps."""

    #: The documented record shape; custom-field columns are added from the field definitions.
    base_schema: t.ClassVar[dict[str, t.Any]]
    #: The stream serving this entity's field definitions, for entities with custom fields.
    fields_stream: t.ClassVar[str | None] = None
    #: Tokens one call costs (the spec's `x-token-cost`), for the budget accounting.
    token_cost: t.ClassVar[int] = 20
    #: Query parameters this endpoint always takes.
    extra_params: t.ClassVar[dict[str, str]] = {}
    #: Whether records outside [bookmark, frozen upper bound) are dropped (not for children,
    #: whose window is their parents').
    windowed: t.ClassVar[bool] = True
    #: Where the records are in `data`, for endpoints that wrap them (`data.goals`).
    records_key: t.ClassVar[str | None] = None
    #: Whether custom values are nested under `custom_fields` (v2) or top-level keys (v1 leads).
    custom_fields_nested: t.ClassVar[bool] = True
    #: The endpoint's maximum `limit` (500 for almost all).
    page_size: t.ClassVar[int] = PAGE_SIZE
    #: Tokens a call to `{path}/archived` costs, for entities whose archive is a second list.
    archived_token_cost: t.ClassVar[int | None] = None
    #: Incremental streams read ascending by the replication key, so a bookmark can resume.
    is_sorted = True
    #: Whether the next page may be asked before this one is parsed (not when the paginator
    #: depends on what parsing found).
    prefetch: t.ClassVar[bool] = True

    # A STATE message after every full page, so a killed run resumes from its last page.
    STATE_MSG_FREQUENCY = PAGE_SIZE

    # The SDK's recursive type conformance walks every value of every record: it was more than
    # half of the tap's CPU (benchmarks/RESULTS.md). Pipedrive's JSON already has the types the
    # schemas declare, timestamps are normalized in `post_process`, and the schemas cover every
    # field of the official spec (tests/test_schemas_match_spec.py). So the tap only keeps the
    # selected top-level columns of the schema (one set difference per record): a field
    # Pipedrive adds later is dropped, with one warning naming it, until the schema has it.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    #: First retry wait in seconds (doubling per try, capped) for faults without a named wait.
    retry_base_seconds: t.ClassVar[float] = 1.0
    retry_max_seconds: t.ClassVar[float] = 60.0
    #: Seconds to wait for an answer before the request counts as failed (and is retried).
    request_timeout: t.ClassVar[float] = 120.0

    @property
    def emit_activate_version_messages(self) -> bool:
        """Whether a complete full-table read is activated (ACTIVATE_VERSION; on by default)."""
        return bool(self.config.get("emit_activate_version_messages", True))

    def _write_activate_version_message(self, full_table_version: int) -> None:
        """Hold the version back: the SDK sends it before the records, `_sync_records` after.

        A target retires the rows of older versions when it receives ACTIVATE_VERSION; sent
        first, every row looked deleted until the records came, and stayed so after a read
        that stopped half way.
        """
        self._pending_version = full_table_version

    _pending_version: int | None = None

    def _sync_records(
        self, context: Context | None = None, *, write_messages: bool = True
    ) -> t.Generator[dict[str, t.Any], t.Any, t.Any]:
        """The SDK's sync of every partition; then ACTIVATE_VERSION, if the read was complete.

        Only a read that ended with no refusal, failure or spent budget proves that the rows it
        did not send are gone (an interruption or a run-stopping error never gets here).
        """
        yield from super()._sync_records(context, write_messages=write_messages)
        version, self._pending_version = self._pending_version, None
        if version is not None and write_messages and not self.incomplete:
            super()._write_activate_version_message(version)

    @property
    def incomplete(self) -> str | None:
        """Why this run's read of the stream did not cover it all, if it did not."""
        if self.access_denied:
            return "refused"
        if self.failure:
            return "failed"
        return "token limit" if self.stopped_by_budget else None

    @property
    def timeout(self) -> float:  # type: ignore[override]
        """Seconds to wait for an answer."""
        return self.request_timeout

    @property
    def url_base(self) -> str:
        """The API root (settings `api_url` or `company_domain`, or OAuth's `api_domain`)."""
        return t.cast("str", self._tap.api_root)  # type: ignore[attr-defined]

    @property
    def authenticator(self) -> AuthBase:
        """The authenticator the tap built once from its settings."""
        return t.cast("AuthBase", self._tap.authenticator)  # type: ignore[attr-defined]

    @property
    def requests_session(self) -> requests.Session:
        """The tap's one session: connections are reused and every response is throttled."""
        return t.cast("requests.Session", self._tap.requests_session)  # type: ignore[attr-defined]

    @property
    def http_headers(self) -> dict[str, str]:
        """Headers sent with every request (the token is added by the authenticator)."""
        return {"Accept": "application/json", "User-Agent": self.user_agent}

    @functools.cached_property
    def user_agent(self) -> str:
        """The `user_agent` setting, else `tap-pipedrive/<version>`."""
        return self.config.get("user_agent") or f"tap-pipedrive/{self._tap.plugin_version}"

    @functools.cached_property
    def custom_fields(self) -> CustomFieldMapper | None:
        """The entity's custom-field columns, from its field definitions (read once a run)."""
        if not self.fields_stream:
            return None
        definitions = t.cast("DefinitionsStream", self._tap.streams[self.fields_stream]).definitions
        fields = [f for row in definitions if (f := CustomField.from_definition(row))]
        return CustomFieldMapper(
            fields,
            mode=self.config.get("custom_field_names", "key"),
            labels=bool(self.config.get("option_labels")),
            reserved=self.base_schema["properties"],
            logger=self.logger,
        )

    @functools.cached_property
    def schema(self) -> dict[str, t.Any]:
        """The documented shape plus this account's custom-field columns."""
        if self.custom_fields is None:
            return self.base_schema
        properties = {**self.base_schema["properties"], **self.custom_fields.properties}
        return {**self.base_schema, "properties": properties}

    #: Why the schema in use could not be built (its definitions unreadable), for `get_records`
    #: to raise where the stream's failures are handled.
    _schema_error: Exception | None = None

    @functools.cached_property
    def effective_schema(self) -> dict[str, t.Any]:
        """The catalog's columns in the tap's shapes (tap_pipedrive/catalog.py), else `schema`."""
        if self._input_schema is None:
            return self.schema
        try:
            live = self.schema
        except (TokenLimitReached, *STREAM_ERRORS) as error:
            self._schema_error = error
            return self._input_schema
        mask = self.mask
        return reconcile(
            self.name,
            self._input_schema,
            live,
            selected=lambda name: bool(mask[("properties", name)]),
            custom_fields=self.custom_fields,
            logger=self.logger,
        )

    def _write_schema_message(self) -> None:
        """Send the schema in use, not the catalog's as given (the stream maps hold that one)."""
        if not self._schema_announced:
            selected = get_selected_schema(self.name, self.effective_schema, self.mask)
            self._tap.mapper.register_raw_stream_schema(self.name, selected, self.primary_keys)
            self._stream_maps = None  # the SDK's cache of the maps: rebuilt from the new ones
            self._schema_announced = True
        super()._write_schema_message()

    _schema_announced = False

    @functools.cached_property
    def _datetime_fields(self) -> tuple[str, ...]:
        """Top-level date-time columns, normalized to RFC 3339 UTC on the way out."""
        return datetime_fields(self.schema)

    @property
    def partitions(self) -> list[dict[str, t.Any]] | None:
        """The live list and the archive (`{path}/archived`), each with its own bookmark."""
        if self.archived_token_cost is None:
            return None
        return [{"is_archived": False}, {"is_archived": True}]

    # Requests

    def get_url(self, context: Context | None) -> str:
        """The endpoint, or its archive for the archived partition."""
        url = super().get_url(context)
        return f"{url}/archived" if context and context.get("is_archived") else url

    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        """Page size, the endpoint's fixed parameters and the incremental window."""
        params: dict[str, t.Any] = {"limit": self.page_size, **self.extra_params}
        if self.replication_key:
            params.update(self.incremental_params(context))
        return params

    def incremental_params(self, context: Context | None) -> dict[str, str]:
        """The server-side filter and sort of an incremental read (per API version)."""
        return {}

    def compare_start_date(self, value: str, start_date_value: str) -> str:
        """The state's bookmark, even before `start_date`: that applies only without one.

        (The SDK takes the later of the two: a `start_date` set after the bookmark, as when
        switching from the legacy tap, would lose the records in between for good.)
        """
        return value

    def starting_bookmark(self, context: Context | None) -> str | None:
        """The bookmark to resume from (state, else `start_date`), as RFC 3339 UTC."""
        start = self.get_starting_timestamp(context)
        return format_instant(start) if start else None

    # Responses

    def parse_response(self, response: requests.Response) -> t.Iterable[dict[str, t.Any]]:
        """Yield the records of Pipedrive's `{success, data, additional_data}` envelope."""
        data = payload(response)["data"]
        if self.records_key and isinstance(data, dict):
            data = data.get(self.records_key)
        if isinstance(data, list):
            yield from data
        elif data:
            yield data

    def validate_response(self, response: requests.Response) -> None:
        """Sort an answer into success, retriable fault, or fatal error with a clear message."""
        status = response.status_code
        if budget_exhausted(response):
            msg = (
                f"Pipedrive's daily token budget for this company is spent ({status} for "
                f"{self._path_of(response)}). It refills at midnight in the company's time zone; "
                "the state reached so far was emitted, and the next run resumes from it."
            )
            raise BudgetExhaustedError(msg)
        if status == 429 or status >= 500:
            raise RetriableAPIError(self.response_error_message(response), response)
        if status == 401:
            authenticator = self.authenticator
            if isinstance(authenticator, PipedriveOAuthAuthenticator) and (
                authenticator.retry_after_401()
            ):
                msg = f"401 for {self._path_of(response)}: refreshing the OAuth token, once"
                raise RetriableAPIError(msg, response)
            msg = (
                f"Pipedrive refused the credentials (401) for {self._path_of(response)}: "
                "check the `api_token` setting (or the OAuth settings)."
            )
            raise AuthenticationError(msg)
        if status in {402, 403} and payload(response) is not None:
            raise AccessDeniedError(self.response_error_message(response))
        if status in {404, 410}:
            raise NotFoundError(self.response_error_message(response))
        if status >= 400:
            raise PipedriveAPIError(self.response_error_message(response))
        body = envelope(response)
        if body is None or not body.data:
            # Pipedrive has been seen to answer 200 with a `null` body: a transient fault.
            msg = f"Pipedrive answered {status} with no JSON envelope for {self._path_of(response)}"
            raise RetriableAPIError(msg, response)

    def response_error_message(self, response: requests.Response) -> str:
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
            f"for {self._path_of(response)}: {detail or 'no error message'}"
        )

    @staticmethod
    def _path_of(response: requests.Response) -> str:
        return urlparse(response.url).path

    # Retries

    def request_decorator(self, func: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
        """Retry transient faults for up to `retry_patience_seconds` of one request.

        Except when the run's first request cannot connect at all: that is a wrong `api_url`
        (or `company_domain`), not an outage, so it fails at once with one clear line.
        """
        retried = backoff.on_exception(
            self.backoff_wait_generator,
            TRANSIENT_ERRORS,
            max_tries=None,
            max_time=float(self.config.get("retry_patience_seconds", 300)),
            giveup=self._cannot_connect,
            on_backoff=self.backoff_handler,
            jitter=None,
            # No `backoff` log lines (a repr per try, and "Giving up" before the tap's own line):
            # `backoff_handler` says each retry in words, and a fault that outlasts the retries
            # is reported once, by the stream or the run.
            logger=None,
        )(func)

        def request(prepared_request: requests.PreparedRequest, context: Context | None) -> t.Any:
            try:
                return retried(prepared_request, context)
            except requests.exceptions.ConnectionError as error:
                if self._cannot_connect(error):
                    msg = (
                        f"Cannot connect to {self.url_base} ({connect_failure(error)}): check "
                        "the `api_url` / `company_domain` settings."
                    )
                    raise UnreachableError(msg) from None
                raise

        return request

    def backoff_handler(self, details: Details) -> None:
        """One WARNING per retry: what failed, the wait, and which attempt comes next."""
        request = details["args"][0] if details.get("args") else None
        self.logger.warning(
            "%s; retrying in %.1fs (attempt %d)",
            describe_fault(details.get("exception"), request),
            details.get("wait") or 0.0,
            details["tries"] + 1,
        )

    def _cannot_connect(self, error: BaseException) -> bool:
        """Whether no connection could be made, and no request of this run was answered yet."""
        streams = t.cast("dict[str, PipedriveStream]", self._tap.streams).values()
        return connect_failure(error) is not None and not any(s.progress.requests for s in streams)

    def backoff_wait_generator(self) -> t.Generator[float, t.Any, None]:
        """Wait as a 429's headers say; otherwise double from `retry_base_seconds`, capped."""
        return retry_waits(self.retry_base_seconds, self.retry_max_seconds)

    def call_cost(self, context: Context | None) -> int:
        """Tokens one call of this read costs (the spec's `x-token-cost`; archives may differ)."""
        if context and context.get("is_archived") and self.archived_token_cost is not None:
            return self.archived_token_cost
        return self.token_cost

    def _request(
        self, prepared_request: requests.PreparedRequest, context: Context | None
    ) -> requests.Response:
        """Send a call once its tokens fit `max_tokens_per_run`; give them back if it failed."""
        cost = self.call_cost(context)
        ledger = self._tap.token_ledger  # type: ignore[attr-defined]
        ledger.reserve(cost, self.name)
        try:
            return super()._request(prepared_request, context)
        except Exception:
            ledger.refund(cost)
            raise

    def calculate_sync_cost(
        self,
        request: requests.PreparedRequest,
        response: requests.Response,
        context: Context | None,
    ) -> dict[str, int]:
        """Count requests and the tokens they cost (the spec's `x-token-cost`)."""
        cost = self.call_cost(context)
        self.progress.request(cost)
        # The endpoint answers: whatever refused it in an earlier run no longer does.
        if "refused" in self.tap_state.get("bookmarks", {}).get(self.name, {}):
            del self.stream_state["refused"]
        return {"requests": 1, "tokens": cost}

    @functools.cached_property
    def progress(self) -> Progress:
        """Records, requests and tokens of this stream so far in the run."""
        return Progress(self.name, self.logger)

    def log_sync_costs(self) -> None:
        """Log this stream's summary; the last stream also ends the run (see `end_run`)."""
        if self._sync_costs:
            self.progress.log("done")
        streams = t.cast("list[PipedriveStream]", list(self._tap.streams.values()))
        if self is streams[-1]:
            self.end_run(streams)

    def end_run(self, streams: list[PipedriveStream]) -> None:
        """Log the run's total; fail the run, naming them, if streams failed.

        This is the SDK's last hook in `sync_all` (which taps cannot override), after every
        stream's state was written.
        """
        costs = [stream._sync_costs for stream in streams if stream._sync_costs]
        self.logger.info(
            "Run spent %d tokens in %d requests",
            sum(cost["tokens"] for cost in costs),
            sum(cost["requests"] for cost in costs),
        )
        failed = [f"'{stream.name}': {stream.failure}" for stream in streams if stream.failure]
        if failed:
            msg = (
                f"{len(failed)} stream(s) failed; the others synced, every stream's state was "
                f"written, and the next run resumes them. {'; '.join(failed)}"
            )
            raise SyncFailedError(msg)

    # Records

    @functools.cached_property
    def _columns(self) -> frozenset[str]:
        """The selected top-level columns of the schema in use: what records may carry."""
        mask = self.mask
        return frozenset(
            name for name in self.effective_schema["properties"] if mask[("properties", name)]
        )

    def _generate_record_messages(
        self, record: dict[str, t.Any]
    ) -> t.Generator[singer.RecordMessage, None, None]:
        """Keep the selected schema columns, then hand the record to the stream maps.

        The SDK's version also walks the record for deselected properties and conforms types;
        the one set difference here does both jobs for Pipedrive's already-typed JSON.
        """
        extra = record.keys() - self._columns
        if extra:
            self._drop_columns(record, extra)
        self.progress.record()
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield singer.RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped,
                    version=self._stream_version,
                    time_extracted=datetime.datetime.now(datetime.timezone.utc),
                )

    def _drop_columns(self, record: dict[str, t.Any], names: t.AbstractSet[str]) -> None:
        for name in names:
            del record[name]
        unknown = names - self.effective_schema["properties"].keys() - self._reported_unknown
        if unknown:
            self._reported_unknown |= unknown
            self.logger.warning(
                "Stream '%s': Pipedrive returned field(s) the schema does not have, not "
                "emitted: %s",
                self.name,
                ", ".join(sorted(unknown)),
            )

    @functools.cached_property
    def _reported_unknown(self) -> set[str]:
        return set()

    def generate_child_contexts(
        self, record: dict[str, t.Any], context: Context | None
    ) -> t.Iterable[Context | None]:
        """No child contexts where there are no child streams.

        The SDK's default hands every record on as its children's context, which costs a copy
        of each record (and a filter check) for streams that have no children at all.
        """
        if not self.child_streams:
            return ()
        return super().generate_child_contexts(record, context)

    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """Read the window [bookmark, now) frozen at the start; a failure stops only this stream.

        The bookmark then stays at the last record emitted, so the next run resumes from there.
        """
        if self.access_denied or self.failure:
            return
        self.progress.begin()
        if not hasattr(self, "upper_bound"):  # one window per run, for every partition
            self.upper_bound = format_instant(datetime.datetime.now(datetime.timezone.utc))
        try:
            if self._schema_error is not None:
                raise self._schema_error
            self._warn_of_new_custom_fields()
            self.lower_bound = self.starting_bookmark(context) if self.replication_key else None
            if self.replication_key:
                self.lower_bound = self._custom_fields_backfill(context, self.lower_bound)
            yield from self.read(context)
        except TokenLimitReached as reached:
            # A clean stop: the bookmark stands where the records stopped; later reads stop at
            # their first call, so the run ends (exit 0) without spending more.
            self.stopped_by_budget = True
            self._tap.token_ledger.stop(reached, self.logger)  # type: ignore[attr-defined]
        except RunStoppingError:
            self._write_state_message()
            raise
        except STREAM_ERRORS as error:
            self.stop(error)
        except Exception:
            # Whatever stops the run, the progress reached so far is kept for the next one.
            self._write_state_message()
            raise

    #: Why Pipedrive refused this stream on its first call of this run (402/403), if it did.
    access_denied: str | None = None
    #: Why this stream failed in this run, if it did (reported at the end; the run fails).
    failure: str | None = None
    #: Whether `max_tokens_per_run` stopped this stream's read in this run.
    stopped_by_budget: bool = False

    def stop(self, error: Exception) -> None:
        """Take this stream out of the rest of the run, as skipped (refused) or failed.

        Only a refusal of the stream's first call is a fact about the plan or the user's
        permissions; the state records it, so that it holds back no other stream's reads. A
        refusal after the endpoint has answered is a failure like any other.
        """
        if isinstance(error, AccessDeniedError) and not self.progress.requests:
            self.access_denied = str(error)
            self.stream_state["refused"] = str(error)
            self.logger.warning(
                "Stream '%s' skipped: Pipedrive refuses it (plan or permissions): %s",
                self.name,
                error,
            )
        else:
            self.failure = str(error)
            self.logger.error(
                "Stream '%s' failed: %s. The other streams go on; this one resumes from its "
                "state in the next run.",
                self.name,
                error,
            )

    def _custom_fields_backfill(self, context: Context | None, bookmark: str | None) -> str | None:
        """Where to read from, given custom fields' definitions refused now or in earlier runs.

        Records read without definitions lack their custom columns: the state keeps where that
        began (`custom_fields_absent_since`), and the first run that has them reads from there.
        """
        if self.custom_fields is None:
            return bookmark
        state = self.get_context_state(context)
        fields_stream = t.cast("DefinitionsStream", self._tap.streams[self.fields_stream or ""])
        if fields_stream.access_denied:
            state.setdefault(ABSENT_SINCE, bookmark)
            self.logger.warning(
                "Stream '%s' is emitted WITHOUT its custom-field columns: Pipedrive refuses its "
                "field definitions (%s). The next run that can read them reads these records "
                "again, with the columns.",
                self.name,
                fields_stream.access_denied,
            )
            return bookmark
        if ABSENT_SINCE not in state:
            return bookmark
        since = state.pop(ABSENT_SINCE)
        # The bookmark climbs again from there (a sorted read must not start below it).
        state["replication_key_value"] = since
        state.pop("starting_replication_value", None)
        self.logger.info(
            "Stream '%s': custom-field definitions are readable again; re-reading from %s the "
            "records emitted without them.",
            self.name,
            since or "the start",
        )
        return None if since is None or bookmark is None else min(str(since), bookmark)

    def read(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """The records of one context: the endpoint's pages."""
        return self.request_records(context)

    # Concurrency (`max_concurrency` > 1; see tap_pipedrive/concurrency.py)

    @property
    def max_concurrency(self) -> int:
        """Requests the run may have in flight at once (1: every read sequential)."""
        return t.cast("int", self._tap.max_concurrency)  # type: ignore[attr-defined]

    def request_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """The SDK's sequential pages; concurrently, with the next page read ahead.

        The next page is in flight while this one is turned into records.
        """
        if self.max_concurrency == 1 or not self.prefetch:
            return super().request_records(context)
        return self.records_of(concurrency.ahead(self.responses(context)), context)

    def reads(
        self, contexts: t.Sequence[dict[str, t.Any]]
    ) -> t.Iterator[tuple[dict[str, t.Any], t.Iterable[dict[str, t.Any]]]]:
        """Each context's records, in the contexts' order; up to `max_concurrency` read at once.

        For per-parent calls (one read per deal): a context's failure is raised while its own
        records are read, as it would be sequentially.
        """
        if self.max_concurrency == 1:
            for context in contexts:
                yield context, self.request_records(context)
            return
        sources = [self.responses(context) for context in contexts]
        readers = concurrency.in_order(sources, lookahead=2 * self.max_concurrency)
        for context, responses in zip(contexts, readers, strict=True):
            yield context, self.records_of(responses, context)

    def responses(
        self, context: Context | None, paginator: BaseAPIPaginator[t.Any] | None = None
    ) -> t.Generator[requests.Response, None, None]:
        """The answered pages of one read (retried as configured), without parsing them.

        The SDK's `request_records` loop, split so that a thread can fetch while the stream's
        own thread counts the calls and turns the pages into records (`records_of`).
        """
        paginator = paginator or self.get_new_paginator() or SinglePagePaginator()
        send = self.request_decorator(self._request)

        def pages() -> t.Generator[requests.Response, None, None]:
            while not paginator.finished:
                response = send(self._prepare_request(context=context, page=paginator), context)
                yield response
                body = envelope(response)
                empty = body is None or bytes(body.data) in {b"[]", b"null"}
                if empty and not paginator.continue_if_empty(response):
                    return  # as the SDK does: an empty page ends the read
                paginator.advance(response)

        return pages()

    def records_of(
        self, responses: t.Iterable[requests.Response], context: Context | None
    ) -> t.Iterator[dict[str, t.Any]]:
        """The records of answered pages, counting each call as the SDK's own loop does."""
        with self.get_http_request_counter() as counter:
            counter.with_context(context)
            for response in responses:
                counter.increment()
                self.update_sync_costs(response.request, response, context)
                yield from self.parse_response(response)

    def _warn_of_new_custom_fields(self) -> None:
        """Name the custom fields created since the catalog was discovered (not emitted)."""
        if self.custom_fields is None:
            return
        missing = sorted(self.custom_fields.columns - set(self.effective_schema["properties"]))
        if missing:
            self.logger.warning(
                "Stream '%s': %d custom field column(s) exist in Pipedrive but not in the "
                "catalog, so they are not emitted: %s. Run discovery again (`--discover`; "
                "Meltano does this on every run unless a catalog is pinned) to include them.",
                self.name,
                len(missing),
                ", ".join(missing),
            )

    def post_process(
        self, row: dict[str, t.Any], context: Context | None = None
    ) -> dict[str, t.Any] | None:
        """Flatten custom fields, normalize timestamps, keep the records of the frozen window.

        The window is also applied here because some endpoints filter only one side (products
        has no `updated_until`, archived leads no `updated_since`, notes no `updated_until`).
        """
        if self.custom_fields is not None:
            values = row.pop("custom_fields", None) if self.custom_fields_nested else dict(row)
            self.custom_fields.flatten(row, values)
        normalize_times(row, self._datetime_fields)
        if self.replication_key and self.windowed:
            value = row.get(self.replication_key)
            if value is not None and (
                value >= self.upper_bound or (self.lower_bound and value < self.lower_bound)
            ):
                return None
        return row


#: Pages a time window of a concurrent backfill is sized for (from the first page's density).
WINDOW_PAGES = 4
#: Windows pay off when a page takes longer to arrive than to turn into records (about 30 ms
#: for 500 records): below this wait, prefetching the next page already keeps the tap busy, and
#: windows would only cost their extra calls.
WINDOW_MIN_WAIT_SECONDS = 0.05


def _instant(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


class V2Stream(PipedriveStream):
    """An `/api/v2` list: cursor pages, server-side `updated_since`/`updated_until` and sort."""

    token_cost = 10
    #: Whether the endpoint takes `updated_until` (products does not).
    has_updated_until: t.ClassVar[bool] = True

    def get_new_paginator(self) -> CursorPaginator:
        """v2 cursor pagination."""
        return CursorPaginator()

    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        """Add the cursor of the next page."""
        params = super().get_url_params(context, next_page_token)
        if next_page_token:
            params["cursor"] = next_page_token
        return params

    def incremental_params(self, context: Context | None) -> dict[str, str]:
        """Ascending `update_time` from the bookmark (inclusive) to the frozen bound (exclusive).

        A time window of a concurrent backfill (`window` in the context) narrows both.
        """
        params = {"sort_by": "update_time", "sort_direction": "asc"}
        since, until = (context or {}).get("window") or (self.lower_bound, self.upper_bound)
        if since:
            params["updated_since"] = since
        if self.has_updated_until:
            params["updated_until"] = until
        return params

    def request_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """Pages in `update_time` order; a long incremental read is split into time windows.

        The first page is read alone. If more follow and the server is slow to answer, the rest
        of the range, from that page's newest second, is cut into windows read concurrently and
        handed over in window order: records still come out sorted, and the bookmark only moves
        forward. The first window repeats the first page's newest second, whose records already
        emitted are dropped. A fast server is read page after page (the next page prefetched),
        at the minimum number of calls.
        """
        if self.max_concurrency == 1 or not (
            self.replication_key and self.windowed and self.has_updated_until
        ):
            yield from super().request_records(context)
            return
        pages = self.responses(context)
        first = next(pages)
        rows = list(self.parse_response(first))
        slow = first.elapsed.total_seconds() >= WINDOW_MIN_WAIT_SECONDS
        more = rows and CursorPaginator().get_next(first)
        windows = self._windows(rows) if slow and more else []
        if len(windows) < 2:
            yield from self.records_of(itertools.chain([first], concurrency.ahead(pages)), context)
            return
        pages.close()
        yield from self.records_of([first], context)
        newest = rows[-1]["update_time"]
        emitted = {row["id"] for row in rows if row["update_time"] == newest}
        contexts = [{**(context or {}), "window": window} for window in windows]
        readers = concurrency.in_order(
            [self.responses(window) for window in contexts],
            lookahead=self.max_concurrency,
            depth=WINDOW_PAGES,  # a window can be read whole while earlier ones are emitted
        )
        for record in self.records_of(itertools.chain.from_iterable(readers), context):
            if record["update_time"] != newest or record["id"] not in emitted:
                yield record

    def _windows(self, rows: list[dict[str, t.Any]]) -> list[tuple[str, str]]:
        """Cut [newest second of the first page, upper bound) into windows of similar size.

        Sized from the first page's density: about `WINDOW_PAGES` pages each (a window's last
        page is rarely full: each costs about one call more), one per concurrent request.
        """
        oldest, newest = rows[0].get("update_time"), rows[-1].get("update_time")
        if not oldest or not newest:
            return []
        start = _instant(newest)
        span = max((start - _instant(oldest)).total_seconds(), 1.0)
        rest = (_instant(self.upper_bound) - start).total_seconds()
        pages = rest / span * len(rows) / self.page_size
        count = min(self.max_concurrency, math.ceil(pages / WINDOW_PAGES))
        if count < 2:
            return []
        step = (_instant(self.upper_bound) - start) / count
        bounds = [format_instant(start + step * i) for i in range(count)] + [self.upper_bound]
        return [(low, high) for low, high in itertools.pairwise(bounds) if low < high]


class V1Stream(PipedriveStream):
    """A `/v1` list: offset pages (`start`/`limit`), `updated_since` where the endpoint has it."""

    def _reads_by_time(self, context: Context | None) -> bool:
        """Whether this read filters on `updated_since` (so pages can be asked by time)."""
        archived = bool(context and context.get("is_archived"))
        return bool(self.replication_key and self.windowed and not archived)

    def get_new_paginator(self) -> BaseAPIPaginator[t.Any]:
        """Pages by time for incremental reads, else plain offsets."""
        if self._reads_by_time(self.context):
            return TimePaginator(self.lower_bound, t.cast("str", self.replication_key))
        return OffsetPaginator()

    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        """Add the page's offset (and, read by time, its `updated_since`)."""
        params = super().get_url_params(context, next_page_token)
        if isinstance(next_page_token, tuple):
            since, params["start"] = next_page_token
            if since:
                params["updated_since"] = since
        else:
            params["start"] = next_page_token or 0
        return params

    def incremental_params(self, context: Context | None) -> dict[str, str]:
        """`updated_since` (inclusive; not on archives), ascending by the replication key."""
        params = {"sort": f"{self.replication_key} ASC, id ASC"}
        if self.lower_bound and self._reads_by_time(context):
            params["updated_since"] = self.lower_bound
        return params

    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """Forget the records of the last second seen, for this read."""
        self._second: tuple[str | None, set[t.Any]] = (None, set())
        return super().get_records(context)

    def post_process(
        self, row: dict[str, t.Any], context: Context | None = None
    ) -> dict[str, t.Any] | None:
        """Drop a record that a page asked by time read again (its second's records repeat)."""
        record = super().post_process(row, context)
        if record is None or not self._reads_by_time(context):
            return record
        second, keys = self._second
        value = record.get(t.cast("str", self.replication_key))
        key = tuple(record.get(name) for name in self.primary_keys)
        if value == second:
            if key in keys:
                return None
            keys.add(key)
        elif value is not None and (second is None or value > second):
            self._second = (value, {key})
        return record


class DefinitionsStream(PipedriveStream):
    """Field definitions: read once a run, serving both this stream and the entity's schema."""

    @functools.cached_property
    def definitions(self) -> list[dict[str, t.Any]]:
        """Every definition; none (with a warning) where Pipedrive refuses them from the start.

        Any other failure raises: the entities' streams fail rather than drop custom columns.
        """
        try:
            return list(self.request_records(None))
        except AccessDeniedError as error:
            if self.progress.requests:
                raise
            self.stop(error)
            return []

    def read(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """The cached definitions."""
        return iter(self.definitions)
