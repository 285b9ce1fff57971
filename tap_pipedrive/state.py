"""The state a run starts from: this tap's own, Meltano's wrapping of it, or the legacy tap's.

`prepare_state` turns whatever `--state` holds into this tap's bookmarks before the SDK loads
it, and refuses, in one line, what no tool writes; `check_state` then brings every timestamp in
it to RFC 3339 UTC, and `bring_back_future` one after Pipedrive's now back to it.

The legacy singer-io tap-pipedrive (and Stitch, which runs it) keeps one timestamp per stream,
under the stream's own field: `{"bookmarks": {"deals": {"update_time": "..."}}}` (2.x also
`deal_update_time` for the streams read per deal; older versions a bare string per stream).
Translated (one INFO line per stream):

- `deals`, `leads`: `update_time` -> the live list's bookmark; the archive, which the legacy tap
  never read, starts from `start_date`.
- `persons`, `organizations`, `activities`, `products`, `notes`: `update_time` -> the bookmark.
- `deal_products`, `deal_installments`: `deal_update_time` -> `deals_updated_since.live`.
- `dealflow`: `deal_update_time`, `log_time` -> `deals_updated_since.live`, `changes_since.live`
  (`log_time` alone, from versions before 2.0, stands for both).
- `product_variations` (the legacy tap's pull request #161): `update_time` ->
  `products_updated_since`.
- `users` (`modified`), `stages`, `pipelines`, `files`, `activity_types`, ...: nothing, these
  are read in full on every run. A stream this tap lacks: dropped.
"""

from __future__ import annotations

import datetime
import typing as t

from pipedrive_api.errors import ConfigError
from pipedrive_api.times import to_rfc3339
from tap_pipedrive.backfill import ABSENT_SINCE
from tap_pipedrive.streams import STREAM_TYPES
from tap_pipedrive.streams.deal_extras import ProductVariationsStream
from tap_pipedrive.streams.deals import DealChildStream
from tap_pipedrive.streams.flow import DealFlowStream

if t.TYPE_CHECKING:
    import logging

#: The fields the legacy tap kept a stream's bookmark under, most specific first.
LEGACY_KEYS = ("update_time", "modified", "add_time", "log_time", "deal_update_time")
_STREAMS = {stream.name: stream for stream in STREAM_TYPES}
_FIX = "Fix or remove it (the stream then starts from `start_date`)."
#: The SDK's markers of a run in progress: it sets them again when a stream starts.
TRANSIENT_KEYS = ("progress_markers", "replication_key_signpost", "starting_replication_value")
#: The SDK's record of the bookmark a stream started from in this run.
STARTING = TRANSIENT_KEYS[2]


#: The watermarks a stream state may hold, per list: the per-item streams' and dealflow's window.
WATERMARKS = ("deals_updated_since", "items_updated_since", "changes_since")


def prepare_state(state: t.Any, logger: logging.Logger) -> dict[str, t.Any]:
    """The state as this tap's bookmarks, legacy ones translated (one INFO line per stream).

    Raises ConfigError, naming the stream and what is wrong, for anything no tool writes.
    """
    if not isinstance(state, dict):
        raise ConfigError(f"The state is not a JSON object: {_sample(state)}.")
    if "singer_state" in state and "bookmarks" not in state:
        logger.info("The state is Meltano's (`meltano state get`): using its `singer_state`.")
        state = state["singer_state"]
        if not isinstance(state, dict):
            raise ConfigError(f"The state's `singer_state` is not a JSON object: {_sample(state)}.")
    bookmarks = state.get("bookmarks")
    if bookmarks is None:
        return {**state, "bookmarks": {}}
    if not isinstance(bookmarks, dict):
        raise ConfigError(f"The state's `bookmarks` is not a JSON object: {_sample(bookmarks)}.")
    prepared: dict[str, t.Any] = {}
    for name, stream_state in bookmarks.items():
        legacy = _legacy_marks(name, stream_state)
        translated = stream_state if legacy is None else _translate(name, legacy, logger)
        if translated is not None:
            prepared[name] = _checked(name, translated)
    return {**state, "bookmarks": prepared}


def _legacy_marks(name: str, stream_state: t.Any) -> dict[str, t.Any] | None:
    """The legacy tap's bookmark fields of a stream's state; None for this tap's own state."""
    if stream_state is None:
        return {}
    if isinstance(stream_state, str):
        return {"": stream_state}  # the oldest shape: the bookmark itself
    if not isinstance(stream_state, dict):
        msg = f"The state of stream '{name}' is not a JSON object: {_sample(stream_state)}."
        raise ConfigError(msg)
    if stream_state and set(stream_state) <= set(LEGACY_KEYS):
        return stream_state
    return None


def _translate(
    name: str, marks: dict[str, t.Any], logger: logging.Logger
) -> dict[str, t.Any] | None:
    """The state of a stream translated from the legacy tap's, said in one INFO line."""
    stream = _STREAMS.get(name)
    if stream is None:
        logger.info("Legacy state: stream '%s' does not exist in this tap: dropped.", name)
        return None
    moments = {
        key: _moment(name, key or "bookmark", value)
        for key, value in marks.items()
        if value is not None
    }
    where = ", ".join(f"`{key}`" if key else "bookmark" for key in moments)
    if not moments:
        logger.info("Legacy state: stream '%s' has no bookmark: it starts from `start_date`.", name)
        return None
    if issubclass(stream, DealChildStream):
        deals = moments.get("deal_update_time") or _first(moments)
        translated: dict[str, t.Any] = {"deals_updated_since": {"live": deals}}
        said = f"the deals updated since {deals}"
        if stream is DealFlowStream:
            # A change after `log_time` updated its deal after it too.
            changes = moments.get("log_time") or moments.get("add_time") or deals
            translated["changes_since"] = {"live": changes}
            said += f", their changes since {changes}"
    elif issubclass(stream, ProductVariationsStream):
        products = _first(moments)
        translated = {"products_updated_since": products}
        said = f"the products updated since {products}"
    elif isinstance(key := stream.replication_key, str):  # not the SDK's property: none
        value = _first(moments)
        bookmark = {"replication_key": key, "replication_key_value": value}
        said = f"{key} {value}"
        if stream.archived_token_cost is None:
            translated = bookmark
        else:
            translated = {"partitions": [{"context": {"is_archived": False}, **bookmark}]}
            said += "; its archive, which the legacy tap did not read, from `start_date`"
    else:
        logger.info(
            "Legacy state: stream '%s' is read in full on every run: its %s is not needed.",
            name,
            where,
        )
        return None
    logger.info("Legacy state: stream '%s' resumes from %s (legacy %s).", name, said, where)
    return translated


def _first(moments: dict[str, str]) -> str:
    """The legacy bookmark of a list: its most specific field."""
    return next(moments[key] for key in (*LEGACY_KEYS, "") if key in moments)


def _moment(name: str, label: str, value: t.Any) -> str:
    """A state timestamp as RFC 3339 UTC; ConfigError naming the stream if it is none."""
    try:
        moment = to_rfc3339(value) if isinstance(value, str) else None
        if moment is not None:  # `to_rfc3339` takes its own form as is: a real date?
            datetime.datetime.fromisoformat(moment.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None:
        msg = (
            f"The state of stream '{name}' has a `{label}` that is not a timestamp: "
            f"{_sample(value)}. {_FIX}"
        )
        raise ConfigError(msg)
    return moment


def _checked(name: str, stream_state: dict[str, t.Any]) -> dict[str, t.Any]:
    """A stream's state with its containers checked and its bookmarks keyed as the SDK needs.

    The SDK ignores a bookmark without the stream's `replication_key` beside it, yet refuses
    every record older than it as unsorted: a hand-written one gets the key.
    """
    partitions = stream_state.get("partitions", [])
    if not isinstance(partitions, list) or not all(
        isinstance(entry, dict) and isinstance(entry.get("context"), dict) for entry in partitions
    ):
        msg = (
            f"The state of stream '{name}' has `partitions` that are not a list of objects "
            f"each with a `context`: {_sample(partitions)}. {_FIX}"
        )
        raise ConfigError(msg)
    for watermarks in WATERMARKS:
        marks = stream_state.get(watermarks)
        if marks is not None and not isinstance(marks, dict):
            msg = (
                f"The state of stream '{name}' has a `{watermarks}` that is not a JSON object: "
                f"{_sample(marks)}. {_FIX}"
            )
            raise ConfigError(msg)
    replication_key = getattr(_STREAMS.get(name), "replication_key", None)
    for entry in [stream_state, *partitions]:
        for marker in TRANSIENT_KEYS:
            entry.pop(marker, None)
        if not isinstance(replication_key, str) or entry.get("replication_key_value") is None:
            continue
        entry.setdefault("replication_key", replication_key)
        if entry["replication_key"] != replication_key:
            msg = (
                f"The state of stream '{name}' has a bookmark on `{entry['replication_key']}`, "
                f"not on its replication key `{replication_key}`. {_FIX}"
            )
            raise ConfigError(msg)
    return stream_state


def _sample(value: t.Any) -> str:
    """A value as a user wrote it, cut short."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def check_state(state: dict[str, t.Any]) -> None:
    """Check every bookmark and watermark of a state, bringing them to RFC 3339 UTC (in place).

    A malformed one stops the run before any output, naming the stream and the key. One in the
    future is brought back later, by Pipedrive's clock (`bring_back_future`).
    """
    for name, stream_state in (state.get("bookmarks") or {}).items():
        if not isinstance(stream_state, dict):
            raise ConfigError(f"The state of stream '{name}' is not a JSON object.")
        for holder, key, label in _timestamps(stream_state):
            holder[key] = _moment(name, label, holder[key])


def bring_back_future(state: dict[str, t.Any], now: str, logger: logging.Logger) -> None:
    """Bring every bookmark and watermark after `now` back to it, with a warning (in place).

    The stream would never read past it. `now` is Pipedrive's clock, which stamped them: the
    tap calls this once a run, when its first window is frozen (`TapPipedrive.check_future`).
    """
    for name, stream_state in (state.get("bookmarks") or {}).items():
        for holder, key, label in _timestamps(stream_state):
            if holder[key] > now:
                logger.warning(
                    "The state of stream '%s' has a `%s` in the future (%s): reading from now on "
                    "instead, so that the stream does not stall.",
                    name,
                    label,
                    holder[key],
                )
                holder[key] = now
        # What the SDK took from a bookmark for this run, before any answer gave Pipedrive's now.
        for entry in [stream_state, *stream_state.get("partitions", [])]:
            if (entry.get(STARTING) or "") > now:
                entry[STARTING] = now


def _timestamps(stream_state: dict[str, t.Any]) -> t.Iterator[tuple[dict[str, t.Any], str, str]]:
    """(dict, key, label) of each timestamp a stream's state holds (bookmarks, watermarks)."""
    for entry in [stream_state, *stream_state.get("partitions", [])]:
        for key in ("replication_key_value", ABSENT_SINCE, "products_updated_since"):
            if entry.get(key) is not None:
                yield entry, key, key
    for name in WATERMARKS:
        marks = stream_state.get(name) or {}
        for key in marks:
            yield marks, key, f"{name}.{key}"
