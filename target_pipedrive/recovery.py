"""Writes whose outcome is unknown: the request left, the answer never came.

A timeout after sending, or a connection dropped before the answer, may follow a write that
Pipedrive committed. Retrying a create blindly then makes a second item, so the target first
looks for the item among the entity's newest ones, and tries again only if it is not there.
An update is sent again as it is: the same fields set to the same values change nothing. A
delete sent again finds the item gone (404): that counts as deleted, not as a reject.
"""

from __future__ import annotations

import requests
from urllib3.exceptions import NewConnectionError

#: How many of the newest items are searched for the item a lost create made (one page).
NEWEST = 500


def outcome_unknown(error: BaseException) -> bool:
    """Whether a failed try may have reached Pipedrive (a timeout or a cut connection).

    Not when no connection was made at all: then nothing was sent.
    """
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return False
    if isinstance(error, (requests.exceptions.Timeout, requests.exceptions.ChunkedEncodingError)):
        return True
    if isinstance(error, requests.exceptions.ConnectionError):
        reason = getattr(error.args[0], "reason", None) if error.args else None
        return not isinstance(reason, NewConnectionError)
    return False


def newest_items_path(path: str) -> str:
    """The list of an entity's newest items, newest first (v2 and v1 say it differently)."""
    if path.startswith("/api/v2/"):
        return f"{path}?sort_by=id&sort_direction=desc&limit={NEWEST}"
    return f"{path}?sort=id%20DESC&limit={NEWEST}"
