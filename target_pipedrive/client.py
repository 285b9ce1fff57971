"""The target's requests, through `pipedrive_api`: one client, its retries and its errors.

A write meets 429s, 5xx, dropped connections, OAuth refreshes and the daily budget exactly as
the tap's reads do: they share `PipedriveClient`. A 4xx that no retry can change (400
validation, 404 gone) is returned as a rejection instead. Reads (field definitions, match
indexes) page with the tap's paginators (`pipedrive_api.endpoints`).
"""

from __future__ import annotations

import typing as t
from urllib.parse import urlparse

import requests

from pipedrive_api.errors import AccessDeniedError
from pipedrive_api.responses import error_message, payload, records
from target_pipedrive.recovery import outcome_unknown

if t.TYPE_CHECKING:
    import logging

    from pipedrive_api.client import PipedriveClient
    from pipedrive_api.endpoints import Endpoint

#: Answers that refuse one record: written to the rejects file, never retried.
REJECTED_STATUSES = frozenset({400, 404, 410, 422})


class Rejected(Exception):
    """Pipedrive refused a record; the message is its `error` and `error_info`."""


class Writer:
    """Sends one entity's writes and reads; counts every request and the tokens they spend."""

    def __init__(self, client: PipedriveClient) -> None:
        self.client = client
        self.requests = 0
        self.tokens = 0

    def write(
        self,
        method: str,
        path: str,
        body: dict[str, t.Any] | None,
        cost: int,
        recover: t.Callable[[], t.Any] | None = None,
    ) -> t.Any:
        """Send a write; return the answer's `data`, or raise Rejected (or a fatal error).

        `recover` looks for what a try whose answer was lost did (see `outcome_unknown`): what
        it finds is returned instead of trying again.
        """
        prepared = self.client.request(method, path, json=body)
        lost: list[BaseException] = []  # the tries whose answer never came
        response = self.client.retrying(self._send_once)(prepared, recover, lost)
        if isinstance(response, Recovered):
            self.tokens += cost  # the lost try was done, and charged
            return response.data
        if method == "DELETE" and response.status_code == 404 and lost:
            # A try whose answer was lost deleted the item: it is gone, as asked. (An update
            # is sent again as it is: the same fields set to the same values change nothing.)
            self.tokens += cost
            return None
        if response.status_code != 404:  # 2xx and 400: Pipedrive did the work and charged
            self.tokens += cost
        if response.status_code in REJECTED_STATUSES:
            raise Rejected(error_message(response))
        return payload(response).get("data")

    def read(self, path: str, cost: int) -> t.Any:
        """GET a path (with its query); the answer's `data`."""
        return self.write("GET", path, None, cost)

    def _send_once(
        self,
        prepared: requests.PreparedRequest,
        recover: t.Callable[[], t.Any] | None,
        lost: list[BaseException],
    ) -> requests.Response | Recovered:
        """One try; what is neither a success nor a rejection raises for the retry policy."""
        self.requests += 1
        try:
            response = self.client.transmit(prepared.copy())
        except requests.exceptions.RequestException as error:
            if not outcome_unknown(error):
                raise
            lost.append(error)
            if recover is not None:
                try:
                    found = recover()
                except Exception as lookup:
                    # Not a fault to retry through: a retry might create the item twice.
                    raise UnknownOutcome(prepared, error, lookup) from None
                if found is not None:
                    return Recovered(found)
            raise
        if response.status_code not in REJECTED_STATUSES:
            self.client.check(response)
        return response

    def read_list(self, endpoint: Endpoint) -> list[dict[str, t.Any]]:
        """Every record of a list, page after page (each answered page counted)."""
        rows: list[dict[str, t.Any]] = []
        for page in self.client.pages(endpoint.path, endpoint.query(), endpoint.paging()):
            self.requests += 1
            self.tokens += endpoint.cost
            rows += records(page)
        return rows

    def definitions(self, endpoint: Endpoint, logger: logging.Logger) -> list[dict[str, t.Any]]:
        """Field definitions; none (with a warning) where Pipedrive refuses them from the start."""
        before = self.requests
        try:
            return self.read_list(endpoint)
        except AccessDeniedError as error:
            if self.requests > before:
                raise
            logger.warning(
                "Field definitions %s skipped: Pipedrive refuses them (plan or permissions): %s",
                endpoint.path,
                error,
            )
            return []


class UnknownOutcome(Exception):
    """A write got no answer, and the look-up of what it did failed too: the run stops."""

    def __init__(
        self, prepared: requests.PreparedRequest, error: BaseException, lookup: BaseException
    ) -> None:
        path = urlparse(prepared.url or "").path
        super().__init__(
            f"{prepared.method} {path} got no answer ({type(error).__name__}), and looking for "
            f"what it did failed too ({lookup}): stopped rather than risk writing it twice. Run "
            "again later: upserts match what was written."
        )


class Recovered(t.NamedTuple):
    """What a write whose answer was lost turned out to have done."""

    data: t.Any
