"""Base streams shared by every Pipedrive stream: the read's window, records, failures.

Requests, retries and pages go through `pipedrive_api` (see `tap_pipedrive.http`); prefetch and
time windows are in `tap_pipedrive.reads`, the record fast path in `tap_pipedrive.records`, the
schema and custom-field columns in `tap_pipedrive.columns`, refusals in `tap_pipedrive.refusals`,
the custom-field backfill in `tap_pipedrive.backfill`, the end of the run in
`tap_pipedrive.summary`.
"""

from __future__ import annotations

import functools
import typing as t

from pipedrive_api.endpoints import CLOCK
from pipedrive_api.errors import (
    READ_ERRORS,
    AccessDeniedError,
    RunStoppingError,
    TokenLimitReached,
)
from pipedrive_api.responses import records
from pipedrive_api.times import format_instant, normalize_times
from tap_pipedrive import backfill, refusals, sweep
from tap_pipedrive.columns import ColumnsStream

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context

#: Pipedrive's maximum page size; a call costs the same tokens whatever its limit.
PAGE_SIZE = 500
#: Failures of one stream (after retries): that stream stops, the others still sync.
STREAM_ERRORS = READ_ERRORS


class PipedriveStream(ColumnsStream):
    """What every Pipedrive endpoint shares: schema, custom fields, windows, records, failures."""

    #: Query parameters this endpoint always takes.
    extra_params: t.ClassVar[dict[str, str]] = {}
    #: Whether records outside [bookmark, frozen upper bound) are dropped (not for children,
    #: whose window is their parents').
    windowed: t.ClassVar[bool] = True
    #: Where the records are in `data`, for endpoints that wrap them (`data.goals`).
    records_key: t.ClassVar[str | None] = None
    #: Whether custom values are nested under `custom_fields` (v2) or top-level keys (v1 leads).
    custom_fields_nested: t.ClassVar[bool] = True
    #: Incremental streams read ascending by the replication key, so a bookmark can resume.
    is_sorted = True
    #: Whether the deletion sweep covers this stream (`tap_pipedrive.sweep`): then, while
    #: `deletion_sweep_days` is set, its state keeps the ids it has sent.
    swept: t.ClassVar[bool] = False

    # A STATE message after every full page, so a killed run resumes from its last page.
    STATE_MSG_FREQUENCY = PAGE_SIZE

    @property
    def emit_activate_version_messages(self) -> bool:
        """Whether a complete full-table read is activated (ACTIVATE_VERSION; on by default)."""
        return bool(self.config.get("emit_activate_version_messages", True))

    def _write_activate_version_message(self, full_table_version: int) -> None:
        """Hold the version back: the SDK sends it before the records, `_sync_records` after.

        A target retires the rows of older versions when it receives ACTIVATE_VERSION; sent
        first, every row looked deleted until the records came, and stayed so after a read
        that stopped half way.
        """
        self._pending_version = full_table_version

    _pending_version: int | None = None

    def _sync_records(
        self, context: Context | None = None, *, write_messages: bool = True
    ) -> t.Generator[dict[str, t.Any], t.Any, t.Any]:
        """The SDK's sync of every partition; then ACTIVATE_VERSION, if the read was complete.

        Only a read that ended with no refusal, failure or spent budget proves that the rows it
        did not send are gone (an interruption or a run-stopping error never gets here).
        """
        yield from super()._sync_records(context, write_messages=write_messages)
        version, self._pending_version = self._pending_version, None
        if version is not None and write_messages and not self.incomplete:
            super()._write_activate_version_message(version)

    @property
    def incomplete(self) -> str | None:
        """Why this run's read of the stream did not cover it all, if it did not."""
        if self.access_denied:
            return "refused"
        if self.failure:
            return "failed"
        return "token limit" if self.stopped_by_budget else None

    @property
    def user_agent(self) -> str:
        """The `user_agent` setting, else `tap-pipedrive/<version>` (the client's)."""
        return self.client.user_agent

    @property
    def partitions(self) -> list[dict[str, t.Any]] | None:
        """The live list and the archive (`{path}/archived`), each with its own bookmark."""
        if self.archived_token_cost is None:
            return None
        return [{"is_archived": False}, {"is_archived": True}]

    # Requests

    def get_url(self, context: Context | None) -> str:
        """The endpoint, or its archive for the archived partition."""
        url = super().get_url(context)
        return f"{url}/archived" if context and context.get("is_archived") else url

    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        """Page size, the endpoint's fixed parameters and the incremental window."""
        params: dict[str, t.Any] = {"limit": self.page_size, **self.extra_params}
        if self.replication_key:
            params.update(self.incremental_params(context))
        return params

    def incremental_params(self, context: Context | None) -> dict[str, str]:
        """The server-side filter and sort of an incremental read (per API version)."""
        return {}

    def compare_start_date(self, value: str, start_date_value: str) -> str:
        """The state's bookmark, even before `start_date`: that applies only without one.

        (The SDK takes the later of the two: a `start_date` set after the bookmark, as when
        switching from the legacy tap, would lose the records in between for good.)
        """
        return value

    def starting_bookmark(self, context: Context | None) -> str | None:
        """The bookmark to resume from (state, else `start_date`), as RFC 3339 UTC."""
        start = self.get_starting_timestamp(context)
        return format_instant(start) if start else None

    # Responses

    def parse_response(self, response: requests.Response) -> t.Iterable[dict[str, t.Any]]:
        """Yield the records of Pipedrive's `{success, data, additional_data}` envelope."""
        return records(response, self.records_key)

    def calculate_sync_cost(
        self,
        request: requests.PreparedRequest,
        response: requests.Response,
        context: Context | None,
    ) -> dict[str, int]:
        """Count requests and the tokens they cost (the spec's `x-token-cost`)."""
        cost = self.call_cost(context)
        self.progress.request(cost)
        refusals.answered(self.name, self.tap_state)
        return {"requests": 1, "tokens": cost}

    def log_sync_costs(self) -> None:
        """Log this stream's summary (the tap ends the run: `tap_pipedrive.summary`)."""
        if self._sync_costs:
            self.progress.log("done")

    def generate_child_contexts(
        self, record: dict[str, t.Any], context: Context | None
    ) -> t.Iterable[Context | None]:
        """No child contexts where there are no child streams.

        The SDK's default hands every record on as its children's context, which costs a copy
        of each record (and a filter check) for streams that have no children at all.
        """
        if not self.child_streams:
            return ()
        return super().generate_child_contexts(record, context)

    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """Read the window [bookmark, now) frozen at the start; a failure stops only this stream.

        The bookmark then stays at the last record emitted, so the next run resumes from there.
        """
        if self.access_denied or self.failure:
            return
        self.progress.begin()
        try:
            if self._schema_error is not None:
                raise self._schema_error
            self._warn_of_new_custom_fields()
            self.lower_bound = None
            if self.replication_key:
                # One window per run, for every partition (a full-table read has none): frozen
                # before the bookmark is read, which may be brought back to it.
                if not hasattr(self, "upper_bound"):
                    self.upper_bound = self.pipedrive_now()
                    self._tap.check_future(self.upper_bound)  # type: ignore[attr-defined]
                # The SDK's cap on an unsorted read's bookmark (`get_replication_key_signpost`),
                # where its `sync` would have written it: in the state of the sync's context.
                synced = dict(self.context) if self.context else None
                self._write_replication_key_signpost(synced, self.upper_bound)
                bookmark = self.starting_bookmark(context)
                self.lower_bound = self._custom_fields_backfill(context, bookmark)
            yield from self.read(context)
            if self.swept:
                # One chunk of ids sent in this read's last STATE, not one per page.
                self.keep_sent_ids()
                sweep.compact(self.stream_state)
        except TokenLimitReached as reached:
            # A clean stop: the bookmark stands where the records stopped; later reads stop at
            # their first call, so the run ends (exit 0) without spending more.
            self.stopped_by_budget = True
            self.client.ledger.stop(reached, self.logger)
        except RunStoppingError:
            self._write_state_message()
            raise
        except STREAM_ERRORS as error:
            self.stop(error)
        except Exception:
            # Whatever stops the run, the progress reached so far is kept for the next one.
            self._write_state_message()
            raise

    def get_replication_key_signpost(self, context: Context | None = None) -> None:
        """No signpost at the start of a sync: `get_records` writes the window's end.

        The SDK's default, this machine's now, would cap an unsorted read's bookmark by a clock
        other than the one that stamped it.
        """
        return None

    def pipedrive_now(self) -> str:
        """Now by Pipedrive's clock (`PipedriveClient.now`), which ends this run's window.

        Before Pipedrive's first answer of the run there is no clock to read: one call of
        `/v1/users/me` (`endpoints.CLOCK`, 2 tokens) brings it. It counts in the run's total,
        not as a call of this stream's endpoint (which may still refuse the stream).
        """
        if self.client.server_time is None:
            self.client.send("GET", CLOCK.path, cost=CLOCK.cost, payer=self.name)
            spent = self._sync_costs
            self._sync_costs = {
                "requests": spent.get("requests", 0) + 1,
                "tokens": spent.get("tokens", 0) + CLOCK.cost,
            }
        return self.client.now()

    #: Why Pipedrive refused this stream on its first call of this run (402/403), if it did.
    access_denied: str | None = None
    #: Why this stream failed in this run, if it did (reported at the end; the run fails).
    failure: str | None = None
    #: Whether `max_tokens_per_run` stopped this stream's read in this run.
    stopped_by_budget: bool = False

    def stop(self, error: Exception) -> None:
        """Take this stream out of the rest of the run, as skipped (refused) or failed."""
        if refusals.is_refusal(error, answered_before=bool(self.progress.requests)):
            self.access_denied = refusals.skip(self.name, self.stream_state, error, self.logger)
        else:
            self.failure = refusals.fail(self.name, error, self.logger)

    def _custom_fields_backfill(self, context: Context | None, bookmark: str | None) -> str | None:
        """Where to read from, given custom fields' definitions refused now or in earlier runs."""
        if self.custom_fields is None:
            return bookmark
        fields_stream = t.cast("DefinitionsStream", self._tap.streams[self.fields_stream or ""])
        state = self.get_context_state(context)
        return backfill.start(self.name, state, bookmark, fields_stream.access_denied, self.logger)

    def read(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """The records of one context: the endpoint's pages."""
        return self.request_records(context)

    def post_process(
        self, row: dict[str, t.Any], context: Context | None = None
    ) -> dict[str, t.Any] | None:
        """Flatten custom fields, normalize timestamps, keep the records of the frozen window.

        The window is also applied here because some endpoints filter only one side (products
        has no `updated_until`, archived leads no `updated_since`, notes no `updated_until`).
        """
        if self.custom_fields is not None:
            values = row.pop("custom_fields", None) if self.custom_fields_nested else dict(row)
            self.custom_fields.flatten(row, values)
        normalize_times(row, self._datetime_fields)
        if self.replication_key and self.windowed:
            value = row.get(self.replication_key)
            if value is not None and (
                value >= self.upper_bound or (self.lower_bound and value < self.lower_bound)
            ):
                return None
        if self.swept and sweep.sweep_enabled(self.config):
            self._sent_ids.append(row["id"])
        return row

    @functools.cached_property
    def _sent_ids(self) -> list[int]:
        """Ids sent since the last STATE message (for the deletion sweep)."""
        return []

    def keep_sent_ids(self) -> None:
        """Keep the ids sent since the last STATE in the stream's state (deletion sweep)."""
        if self.swept and self._sent_ids:
            sweep.remember(self.stream_state, self._sent_ids)
            self._sent_ids.clear()

    def _write_state_message(self) -> None:
        """The SDK's STATE message, with the ids sent before it kept in the state first."""
        self.keep_sent_ids()
        super()._write_state_message()


class DefinitionsStream(PipedriveStream):
    """Field definitions: read once a run, serving both this stream and the entity's schema."""

    @functools.cached_property
    def definitions(self) -> list[dict[str, t.Any]]:
        """Every definition; none (with a warning) where Pipedrive refuses them from the start.

        Any other failure raises: the entities' streams fail rather than drop custom columns.
        """
        try:
            return list(self.request_records(None))
        except AccessDeniedError as error:
            if self.progress.requests:
                raise
            self.stop(error)
            return []

    def read(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """The cached definitions."""
        return iter(self.definitions)
