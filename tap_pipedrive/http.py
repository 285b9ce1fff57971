"""The SDK's REST stream, sending through the run's `PipedriveClient` (pipedrive_api).

The client owns the API root, authentication, the session, the retry policy, the classification
of answers and the token ledger; this adapter hands the SDK's requests and paginators to it and
keeps the SDK's own request metrics.
"""

from __future__ import annotations

import typing as t

from singer_sdk import RESTStream
from singer_sdk.pagination import BaseAPIPaginator

from pipedrive_api.client import log_retry
from pipedrive_api.responses import error_message

if t.TYPE_CHECKING:
    import requests
    from requests.auth import AuthBase
    from singer_sdk.helpers.types import Context

    from pipedrive_api.client import PipedriveClient
    from pipedrive_api.pagination import Paging


class Paginator(BaseAPIPaginator[t.Any]):
    """The SDK's paginator over a `pipedrive_api` paging (the same pages as any other reader)."""

    def __init__(self, paging: Paging) -> None:
        super().__init__(paging.start)
        self.paging = paging

    def get_next(self, response: requests.Response) -> t.Any:
        """The paging's next token."""
        return self.paging.next_token(response, self.current_value)

    def continue_if_empty(self, response: requests.Response) -> bool:
        """Whether the paging goes on past an empty page."""
        return self.paging.continue_if_empty(response)

    def has_more(self, response: requests.Response) -> bool:
        """Whether pages follow at all."""
        return self.paging.has_more(response)


class HTTPStream(RESTStream[t.Any]):
    """A REST stream whose requests go through the tap's one `PipedriveClient`."""

    #: Tokens one call costs (the spec's `x-token-cost`), for the budget accounting.
    token_cost: t.ClassVar[int] = 20
    #: Tokens a call to `{path}/archived` costs, for entities whose archive is a second list.
    archived_token_cost: t.ClassVar[int | None] = None

    @property
    def client(self) -> PipedriveClient:
        """The run's client (one per tap: one session, one ledger)."""
        return t.cast("PipedriveClient", self._tap.client)  # type: ignore[attr-defined]

    @property
    def timeout(self) -> float:  # type: ignore[override]
        """Seconds to wait for an answer (`request_timeout_seconds`)."""
        return self.client.timeout

    @property
    def url_base(self) -> str:
        """The API root (settings `api_url` or `company_domain`, or OAuth's `api_domain`)."""
        return self.client.root

    @property
    def authenticator(self) -> AuthBase:
        """The client's authenticator."""
        return self.client.authenticator

    @property
    def requests_session(self) -> requests.Session:
        """The client's one session: connections are reused and every response is throttled."""
        return self.client.session

    @property
    def http_headers(self) -> dict[str, str]:
        """Headers sent with every request (the token is added by the authenticator)."""
        return self.client.headers

    def validate_response(self, response: requests.Response) -> None:
        """Sort an answer into success, retriable fault, or fatal error with a clear message."""
        self.client.check(response)

    def response_error_message(self, response: requests.Response) -> str:
        """Status, path (never the query string) and Pipedrive's own `error`/`error_info`."""
        return error_message(response)

    def request_decorator(self, func: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
        """The client's retry policy (`retry_patience_seconds`, 429 waits, first connection)."""
        return self.client.retrying(func, on_backoff=self.backoff_handler)

    def backoff_handler(self, details: t.Any) -> None:
        """One WARNING per retry: what failed, the wait, and which attempt comes next."""
        log_retry(self.logger, details)

    def call_cost(self, context: Context | None) -> int:
        """Tokens one call of this read costs (the spec's `x-token-cost`; archives may differ)."""
        if context and context.get("is_archived") and self.archived_token_cost is not None:
            return self.archived_token_cost
        return self.token_cost

    def _request(
        self, prepared_request: requests.PreparedRequest, context: Context | None
    ) -> requests.Response:
        """Send a call once its tokens fit `max_tokens_per_run`; give them back if it failed."""
        return self.client.paid(
            self.call_cost(context),
            self.name,
            lambda: super(HTTPStream, self)._request(prepared_request, context),
        )
