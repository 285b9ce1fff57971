"""Records emitted without their custom-field columns, and reading them again.

When Pipedrive refuses an entity's field definitions, its records are emitted without their
custom columns. The stream's state keeps where that began (`custom_fields_absent_since`), and
the first run that can read the definitions again reads the records from there.
"""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    import logging

#: State key: where a stream's records started to be emitted without custom-field columns.
ABSENT_SINCE = "custom_fields_absent_since"


def start(
    name: str,
    state: dict[str, t.Any],
    bookmark: str | None,
    refused: str | None,
    logger: logging.Logger,
) -> str | None:
    """Where to read from, given definitions refused now (`refused`) or in earlier runs."""
    if refused:
        state.setdefault(ABSENT_SINCE, bookmark)
        logger.warning(
            "Stream '%s' is emitted WITHOUT its custom-field columns: Pipedrive refuses its "
            "field definitions (%s). The next run that can read them reads these records "
            "again, with the columns.",
            name,
            refused,
        )
        return bookmark
    if ABSENT_SINCE not in state:
        return bookmark
    since = state.pop(ABSENT_SINCE)
    # The bookmark climbs again from there (a sorted read must not start below it).
    state["replication_key_value"] = since
    state.pop("starting_replication_value", None)
    logger.info(
        "Stream '%s': custom-field definitions are readable again; re-reading from %s the "
        "records emitted without them.",
        name,
        since or "the start",
    )
    return None if since is None or bookmark is None else min(str(since), bookmark)
