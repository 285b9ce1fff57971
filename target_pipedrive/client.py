"""The target's requests, through `pipedrive_api`: one client, its retries and its errors.

A write meets 429s, 5xx, dropped connections, OAuth refreshes and the daily budget exactly as
the tap's reads do: they share `PipedriveClient`. A 4xx that no retry can change (400
validation, 404 gone) is returned as a rejection instead. Reads (field definitions, match
indexes) page with the tap's paginators (`pipedrive_api.endpoints`).
"""

from __future__ import annotations

import typing as t

from pipedrive_api.errors import AccessDeniedError
from pipedrive_api.responses import error_message, payload, records

if t.TYPE_CHECKING:
    import logging

    import requests

    from pipedrive_api.client import PipedriveClient
    from pipedrive_api.endpoints import Endpoint

#: Answers that refuse one record: written to the rejects file, never retried.
REJECTED_STATUSES = frozenset({400, 404, 410, 422})


class Rejected(Exception):
    """Pipedrive refused a record; the message is its `error` and `error_info`."""


class Writer:
    """Sends one entity's writes and reads; counts the requests and the tokens they spend."""

    def __init__(self, client: PipedriveClient) -> None:
        self.client = client
        self.requests = 0
        self.tokens = 0

    def write(self, method: str, path: str, body: dict[str, t.Any] | None, cost: int) -> t.Any:
        """Send a write; return the answer's `data`, or raise Rejected (or a fatal error)."""
        prepared = self.client.request(method, path, json=body)
        response = self.client.retrying(self._send_once)(prepared)
        if response.status_code != 404:  # 2xx and 400: Pipedrive did the work and charged
            self.tokens += cost
        if response.status_code in REJECTED_STATUSES:
            raise Rejected(error_message(response))
        return payload(response).get("data")

    def _send_once(self, prepared: requests.PreparedRequest) -> requests.Response:
        """One try; what is neither a success nor a rejection raises for the retry policy."""
        self.requests += 1
        response = self.client.transmit(prepared.copy())
        if response.status_code not in REJECTED_STATUSES:
            self.client.check(response)
        return response

    def read(self, endpoint: Endpoint) -> list[dict[str, t.Any]]:
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
            return self.read(endpoint)
        except AccessDeniedError as error:
            if self.requests > before:
                raise
            logger.warning(
                "Field definitions %s skipped: Pipedrive refuses them (plan or permissions): %s",
                endpoint.path,
                error,
            )
            return []
