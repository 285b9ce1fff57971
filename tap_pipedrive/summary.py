"""The end of a run: its total cost, and a failed run when streams failed.

Called by the tap once every stream has synced and written its state (`TapPipedrive.sync_all`).
"""

from __future__ import annotations

import typing as t

from pipedrive_api.errors import PipedriveAPIError

if t.TYPE_CHECKING:
    import logging


class SyncFailedError(PipedriveAPIError):
    """Some streams failed; the others synced. The message names each and why."""


class Outcome(t.Protocol):
    """What the summary reads of a stream."""

    name: str
    #: Why the stream failed in this run, if it did.
    failure: str | None
    #: The SDK's counters of the stream's requests and tokens (empty if it sent none).
    _sync_costs: dict[str, int]


def end_run(streams: t.Iterable[Outcome], logger: logging.Logger) -> None:
    """Log the run's total; fail the run, naming them, if streams failed."""
    streams = list(streams)
    costs = [stream._sync_costs for stream in streams if stream._sync_costs]
    logger.info(
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
