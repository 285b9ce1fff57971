"""Writes through the tap's own machinery.

That is the tap's HTTP session (burst throttle), authenticator, retry policy
(`request_decorator`), error handling (`validate_response`) and error messages.

Each sink writes through the tap stream of its entity, so a write meets 429s, 5xx, dropped
connections, OAuth refreshes and the daily budget exactly as that stream's reads do. A 4xx
that no retry can change (400 validation, 404 gone) is returned as a rejection instead.
"""

from __future__ import annotations

import typing as t
from urllib.parse import urlparse

import requests

from tap_pipedrive.client import PipedriveStream, payload
from tap_pipedrive.tap import BufferedMsgSpecWriter, TapPipedrive
from target_pipedrive.recovery import outcome_unknown

if t.TYPE_CHECKING:
    import singer_sdk.singerlib as singer

#: Answers that refuse one record: written to the rejects file, never retried.
REJECTED_STATUSES = frozenset({400, 404, 410, 422})


class Rejected(Exception):
    """Pipedrive refused a record; the message is its `error` and `error_info`."""


class _Discard(BufferedMsgSpecWriter):
    """A message writer that writes nothing."""

    def write_message(self, message: singer.Message) -> None:
        """Discard the message."""


class Reader(TapPipedrive):
    """The tap, used by the target to read field definitions and build match indexes.

    It emits no Singer messages (a tap writes a STATE when a read fails): the target's stdout
    carries the target's own state only.
    """

    message_writer_class = _Discard


class Writer:
    """Sends one entity's writes; counts requests and the tokens they spend."""

    def __init__(self, stream: PipedriveStream) -> None:
        self.stream = stream
        self.requests = 0
        self.tokens = 0
        self._send = stream.request_decorator(self._send_once)

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
        prepared = self.stream.build_prepared_request(
            method=method,
            url=self.stream.url_base + path,
            json=body,
            headers=self.stream.http_headers,
        )
        response = self._send(prepared, recover)
        if isinstance(response, Recovered):
            self.tokens += cost  # the lost try was done, and charged
            return response.data
        if response.status_code != 404:  # 2xx and 400: Pipedrive did the work and charged
            self.tokens += cost
        if response.status_code in REJECTED_STATUSES:
            raise Rejected(self.stream.response_error_message(response))
        return payload(response).get("data")

    def read(self, path: str, cost: int) -> t.Any:
        """GET a path (with its query); the answer's `data`."""
        return self.write("GET", path, None, cost)

    def _send_once(
        self, prepared: requests.PreparedRequest, recover: t.Callable[[], t.Any] | None
    ) -> requests.Response | Recovered:
        """One try; what is neither a success nor a rejection raises for the retry policy."""
        self.requests += 1
        stream = self.stream
        try:
            response = stream.requests_session.send(prepared, timeout=stream.timeout)
        except requests.exceptions.RequestException as error:
            if recover is not None and outcome_unknown(error):
                try:
                    found = recover()
                except Exception as lookup:
                    # Not a fault to retry through: a retry might create the item twice.
                    raise UnknownOutcome(prepared, error, lookup) from None
                if found is not None:
                    return Recovered(found)
            raise
        if response.status_code not in REJECTED_STATUSES:
            stream.validate_response(response)
        return response


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
