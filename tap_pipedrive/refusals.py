"""Streams Pipedrive refuses (402/403: plan or permissions), and streams that failed.

Only a refusal of a stream's first call is a fact about the plan or the user's permissions: the
stream is skipped, and its state says so (`refused`), so that it holds back no other stream's
reads. Any other failure stops that stream alone, to be reported at the end of the run. Once
the endpoint answers again, the `refused` mark goes.
"""

from __future__ import annotations

import typing as t

from pipedrive_api.errors import AccessDeniedError

if t.TYPE_CHECKING:
    import logging

#: Stream state key: why Pipedrive refused the stream's first call in an earlier run.
REFUSED = "refused"


def is_refusal(error: Exception, *, answered_before: bool) -> bool:
    """Whether `error` refuses the stream itself (its first call), not one of its reads."""
    return isinstance(error, AccessDeniedError) and not answered_before


def skip(
    name: str, stream_state: dict[str, t.Any], error: Exception, logger: logging.Logger
) -> str:
    """Mark a refused stream in its state and say it is skipped; return the reason."""
    stream_state[REFUSED] = str(error)
    logger.warning(
        "Stream '%s' skipped: Pipedrive refuses it (plan or permissions): %s",
        name,
        error,
    )
    return str(error)


def fail(name: str, error: Exception, logger: logging.Logger) -> str:
    """Say a stream failed and the others go on; return the reason (reported at the end)."""
    logger.error(
        "Stream '%s' failed: %s. The other streams go on; this one resumes from its "
        "state in the next run.",
        name,
        error,
    )
    return str(error)


def answered(name: str, tap_state: t.Mapping[str, t.Any]) -> None:
    """The endpoint answers: whatever refused it in an earlier run no longer does."""
    stream_state = tap_state.get("bookmarks", {}).get(name, {})
    if REFUSED in stream_state:
        del stream_state[REFUSED]
