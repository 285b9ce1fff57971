"""One client per run: where requests go, how they are signed, paced, retried and paid for.

    client = PipedriveClient({"api_token": "...", "company_domain": "acme"}, user_agent="me/1")
    deals = [row for page in client.pages("/api/v2/deals", {"limit": 500}, CursorPaging(),
                                          cost=10) for row in records(page)]
    client.send("PATCH", "/api/v2/deals/7", json={"title": "New"}, cost=5)

Every request shares the run's keep-alive session (at most `max_concurrency` in flight, one
pause for every thread when the burst window is used up or a 429 names a wait), is charged to
the run's token ledger before it is sent, and is retried through transient faults (5xx, 429,
timeouts, dropped connections) for up to `retry_patience_seconds`. An answer that no retry can
change raises a typed error from `pipedrive_api.errors`.
"""

from __future__ import annotations

import datetime
import functools
import logging
import typing as t

import backoff
import requests

from pipedrive_api.auth import (
    DEFAULT_API_URL,
    DEFAULT_OAUTH_URL,
    PipedriveOAuthAuthenticator,
    check_root_url,
    root_url,
    token_authenticator,
)
from pipedrive_api.errors import (
    TRANSIENT_ERRORS,
    UnreachableError,
    connect_failure,
    describe_fault,
)
from pipedrive_api.ledger import TokenLedger
from pipedrive_api.pagination import Pages, Paging, is_empty
from pipedrive_api.ratelimit import BurstThrottle, retry_waits
from pipedrive_api.responses import check, server_time
from pipedrive_api.session import PacedSession
from pipedrive_api.times import format_instant

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

#: Seconds one request is retried through transient faults unless `retry_patience_seconds` says.
DEFAULT_PATIENCE_SECONDS = 300

_logger = logging.getLogger("pipedrive_api")


def log_retry(logger: logging.Logger, details: t.Any) -> None:
    """One WARNING per retry: what failed, the wait, and which attempt comes next."""
    request = details["args"][0] if details.get("args") else None
    logger.warning(
        "%s; retrying in %.1fs (attempt %d)",
        describe_fault(details.get("exception"), request),
        details.get("wait") or 0.0,
        details["tries"] + 1,
    )


class PipedriveClient:
    """The API root, authentication, session, retry policy and token ledger of one run.

    `settings` are the commands' own: `api_token` or `client_id`/`client_secret`/
    `refresh_token` (with `refresh_token_file`, `oauth_url`), `api_url` / `company_domain`,
    `retry_patience_seconds`, `request_timeout_seconds`, `max_tokens_per_run`.
    """

    #: First retry wait in seconds (doubling per try, capped) for faults without a named wait.
    retry_base_seconds: t.ClassVar[float] = 1.0
    retry_max_seconds: t.ClassVar[float] = 60.0
    #: Seconds to wait for an answer before the request counts as failed (and is retried),
    #: unless the `request_timeout_seconds` setting says otherwise.
    request_timeout: t.ClassVar[float] = 120.0

    def __init__(
        self,
        settings: Mapping[str, t.Any],
        *,
        user_agent: str,
        max_concurrency: int = 1,
        logger: logging.Logger = _logger,
    ) -> None:
        self.settings = settings
        self.user_agent = user_agent
        self.max_concurrency = max_concurrency
        self.logger = logger
        self.ledger = TokenLedger(settings.get("max_tokens_per_run"))
        #: Requests answered successfully so far (none yet: a refused connection is a bad URL).
        self.answered = 0
        #: Pipedrive's clock (its `Date` header, RFC 3339) at the latest answer so far.
        self.server_time: str | None = None

    def now(self) -> str:
        """Now by Pipedrive's clock (RFC 3339): its latest answer's `Date`, else this machine's.

        Pipedrive stamps `update_time` by its own clock, so what bounds a read (the end of a
        window, how far back `/v1/recents` reaches, the sweep's time, a bookmark "in the
        future") is taken from it. Bounded by this machine's clock, one behind Pipedrive's by
        hours would cut every window short (no bookmark passes it), and one ahead would read
        Pipedrive's future: changes stamped during the read, which the window leaves to the
        next run. The latest answer's `Date` is at most a moment behind Pipedrive's now: a
        window ends a little earlier, never later. Without any answer's `Date` (the tap's
        streams ask for one first: `PipedriveStream.pipedrive_now`), this machine's clock is
        all there is.
        """
        return self.server_time or format_instant(datetime.datetime.now(datetime.timezone.utc))

    @functools.cached_property
    def session(self) -> requests.Session:
        """One HTTP session for every reader and thread, throttled by the burst window's headers.

        The throttle's pause holds every thread (`PacedSession.pause`), not just its own.
        Every answer also sets Pipedrive's clock (`now`).
        """
        session = PacedSession(self.max_concurrency)
        throttle = BurstThrottle(sleep=session.pause, in_flight=session.others_in_flight)
        session.hooks["response"].extend([throttle, self.read_clock])
        return session

    def read_clock(self, response: requests.Response, *args: t.Any, **kwargs: t.Any) -> None:
        """Keep Pipedrive's clock from every answer's `Date` (a hook of the session)."""
        stamp = server_time(response)
        if stamp is not None:
            # The latest: the threads' answers may come out of order.
            self.server_time = max(self.server_time or stamp, stamp)

    @functools.cached_property
    def authenticator(self) -> requests.auth.AuthBase:
        """One authenticator for the run: the API token, else OAuth."""
        settings = self.settings
        if settings.get("api_token"):
            return token_authenticator(settings["api_token"])
        return PipedriveOAuthAuthenticator(
            client_id=settings["client_id"],
            client_secret=settings["client_secret"],
            refresh_token=settings["refresh_token"],
            url=settings.get("oauth_url") or DEFAULT_OAUTH_URL,
            token_file=settings.get("refresh_token_file"),
        )

    @functools.cached_property
    def root(self) -> str:
        """The API root: the settings', else (OAuth) the `api_domain` the token was issued for."""
        root = root_url(self.settings)
        authenticator = self.authenticator
        explicit = self.settings.get("company_domain") or root != DEFAULT_API_URL
        if isinstance(authenticator, PipedriveOAuthAuthenticator) and not explicit:
            authenticator.update_access_token()
            if authenticator.api_domain:
                root = authenticator.api_domain.rstrip("/")
                check_root_url(root, "OAuth `api_domain`")
        return root

    @property
    def timeout(self) -> float:
        """Seconds to wait for an answer (`request_timeout_seconds`)."""
        return float(self.settings.get("request_timeout_seconds") or self.request_timeout)

    @property
    def headers(self) -> dict[str, str]:
        """Headers sent with every request (the authenticator adds the credentials)."""
        return {"Accept": "application/json", "User-Agent": self.user_agent}

    # One try

    def transmit(self, request: requests.PreparedRequest) -> requests.Response:
        """Sign and send a request once (through the paced session)."""
        signed = self.authenticator(request)
        return self.session.send(signed, timeout=self.timeout)

    def check(self, response: requests.Response) -> None:
        """Raise the typed error or `TransientError` an answer means; count it if it is good."""
        check(response, self.authenticator)
        self.answered += 1

    # Retries

    def retrying(
        self,
        func: Callable[..., t.Any],
        *,
        on_backoff: Callable[[t.Any], None] | None = None,
    ) -> Callable[..., t.Any]:
        """`func` retried through transient faults for up to `retry_patience_seconds`.

        Except when the run's first request cannot connect at all: that is a wrong `api_url`
        (or `company_domain`), not an outage, so it fails at once with one clear line. Each
        retry is one WARNING (`on_backoff`, by default `log_retry` to the client's logger).
        """
        retried = backoff.on_exception(
            lambda: retry_waits(self.retry_base_seconds, self.retry_max_seconds),
            TRANSIENT_ERRORS,
            max_tries=None,
            max_time=float(self.settings.get("retry_patience_seconds", DEFAULT_PATIENCE_SECONDS)),
            giveup=self.cannot_connect,
            on_backoff=on_backoff or (lambda details: log_retry(self.logger, details)),
            jitter=None,
            # No `backoff` log lines (a repr per try, and "Giving up" before the caller's own
            # line): `log_retry` says each retry in words, and a fault that outlasts the retries
            # is reported once, by whoever called.
            logger=None,
        )(func)

        @functools.wraps(func)
        def call(*args: t.Any, **kwargs: t.Any) -> t.Any:
            try:
                return retried(*args, **kwargs)
            except requests.exceptions.ConnectionError as error:
                if self.cannot_connect(error):
                    msg = (
                        f"Cannot connect to {self.root} ({connect_failure(error)}): check "
                        "the `api_url` / `company_domain` settings."
                    )
                    raise UnreachableError(msg) from None
                raise

        return call

    def cannot_connect(self, error: BaseException) -> bool:
        """Whether no connection could be made, and no request of this run was answered yet."""
        return connect_failure(error) is not None and not self.answered

    # Requests

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, t.Any] | None = None,
        json: t.Any = None,
    ) -> requests.PreparedRequest:
        """A request to `path` under the API root, with the session's headers (signed per try)."""
        request = requests.Request(
            method, self.root + path, params=params, json=json, headers=self.headers
        )
        return self.session.prepare_request(request)

    def paid(
        self, cost: int, payer: str, func: Callable[[], requests.Response]
    ) -> requests.Response:
        """Call `func` once its tokens fit `max_tokens_per_run`; give them back if it failed."""
        self.ledger.reserve(cost, payer)
        try:
            return func()
        except Exception:
            self.ledger.refund(cost)
            raise

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, t.Any] | None = None,
        json: t.Any = None,
        cost: int = 0,
        payer: str = "",
        accept: Callable[[requests.Response], bool] = lambda response: False,
    ) -> requests.Response:
        """Send a request, retried as configured; return the answer or raise its error.

        `accept(response)` returns an answer that would be an error as it is (a write's 400).
        """
        prepared = self.request(method, path, params=params, json=json)

        def once() -> requests.Response:
            response = self.transmit(prepared.copy())
            if not accept(response):
                self.check(response)
            return response

        retried = self.retrying(once)
        return self.paid(cost, payer, retried)

    def pages(
        self,
        path: str,
        params: Mapping[str, t.Any],
        paging: Paging,
        *,
        cost: int = 0,
        payer: str = "",
    ) -> Iterator[requests.Response]:
        """The answered pages of one list read, page after page until the last (or an empty one)."""
        pages = Pages(paging)
        while not pages.finished:
            query = {**params, **paging.params(pages.current_value)}
            response = self.send("GET", path, params=query, cost=cost, payer=payer)
            yield response
            if is_empty(response) and not paging.continue_if_empty(response):
                return
            pages.advance(response)
