"""The emulator over HTTP: auth, rate limits, token costs, the request log, and `Emulator`."""

from __future__ import annotations

import contextlib
import copy
import datetime
import email.utils
import math
import socket
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.emulator import spec
from tests.emulator.data import END, rfc3339
from tests.emulator.dataset import FIELD_ENTITIES, V1_FIELD_ENTITIES, Dataset, canonical
from tests.emulator.faults import (
    AFTER_COMMIT,
    BUDGET_MESSAGE,
    CLOUDFLARE_PAGE,
    JSON,
    Fault,
    FaultPlan,
    error_envelope,
    gate_status,
    json_bytes,
)
from tests.emulator.handlers import ROUTES, ApiError, Request, Router, error_body
from tests.emulator.history_routes import ROUTES as HISTORY_ROUTES
from tests.emulator.item_handlers import ITEM_ROUTES
from tests.emulator.oauth import TOKEN_PATH, OAuthServer, bearer
from tests.emulator.per_parent import PER_PARENT_ROUTES
from tests.emulator.writes import ROW_KEYS, WRITE_ROUTES

#: The first second after the dataset's range: where an emulator's clock starts by default
#: (`Emulator(start=...)`), or stands (`Emulator(now=...)`).
DATASET_NOW = datetime.datetime.fromtimestamp(END, datetime.timezone.utc)

#: How long a "hold" fault holds at most, unreleased: a client that never gives up then fails
#: its test instead of hanging it.
HOLD_LIMIT_SECONDS = 60.0

#: Pipedrive's burst window: `burst_limit` requests per token per rolling 2 seconds.
BURST_WINDOW_SECONDS = 2.0


@dataclass(frozen=True)
class RequestLog:
    """One request as the emulator saw it, and what it answered and charged.

    `query` holds the last value of each parameter (an `api_token` stays visible, so tests can
    assert the client never sends one); `headers` are the request's, names lower-cased.
    """

    method: str
    path: str
    query: dict[str, str]
    status: int
    cost: int
    headers: dict[str, str]


@dataclass(frozen=True)
class Response:
    """What the HTTP layer writes back; `action` "drop" or "truncate" breaks the answer off."""

    status: int
    headers: dict[str, str]
    body: bytes
    content_type: str = JSON
    action: str = ""


class BurstLimiter:
    """Pipedrive's burst limit: at most `limit` requests per token in any rolling window."""

    def __init__(
        self,
        limit: int,
        window: float = BURST_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._admitted: dict[str, deque[float]] = {}

    def admit(self, token: str) -> bool:
        """Count a request if the window has room; return whether it may proceed."""
        recent = self._recent(token)
        if len(recent) >= self.limit:
            return False
        recent.append(self._clock())
        return True

    def headers(self, token: str) -> dict[str, str]:
        """Return the `x-ratelimit-*` headers for a token's current window."""
        recent = self._recent(token)
        reset = self.window if not recent else recent[0] + self.window - self._clock()
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(max(0, self.limit - len(recent))),
            "x-ratelimit-reset": str(max(1, math.ceil(reset))),
        }

    def _recent(self, token: str) -> deque[float]:
        recent = self._admitted.setdefault(token, deque())
        horizon = self._clock() - self.window
        while recent and recent[0] <= horizon:
            recent.popleft()
        return recent


class DailyBudget:
    """The company's daily token budget: each served request spends its operation's cost."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.spent = 0

    @property
    def remaining(self) -> int:
        """Tokens left today (never below zero)."""
        return max(0, self.limit - self.spent)

    def headers(self) -> dict[str, str]:
        """Return the `x-daily-ratelimit-token-*` headers."""
        return {
            "x-daily-ratelimit-token-limit": str(self.limit),
            "x-daily-ratelimit-token-remaining": str(self.remaining),
        }


class Emulator:
    """A local Pipedrive API over real HTTP, serving deterministic data from (seed, scale).

    Costs, as charged to the daily budget and logged: a request answered 2xx or 400 costs its
    operation's `x-token-cost` from the spec (Pipedrive did the work); 401, 402/403 (gated),
    404 and 429 cost 0 (refused before any work, and charging a 429 would drain the budget of a
    client that backs off correctly), and so do injected faults. Order of checks: injected
    faults, the OAuth token endpoint, auth, plan gates, the path, the budget, the burst window.

    `gated` maps path prefixes to the status a plan or permission gate answers (402 or 403).
    With `oauth_client` (id, secret) and `refresh_token`, `POST /oauth/token` issues access
    tokens that authorise as `Authorization: Bearer ...` (the API token keeps working too).
    """

    def __init__(
        self,
        seed: int = 1,
        scale: int = 1000,
        api_token: str = "test-token",
        burst_limit: int = 1000,
        daily_budget: int = 10**9,
        latency: float = 0.0,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        verbose: bool = False,
        gated: Mapping[str, int] | None = None,
        oauth_client: tuple[str, str] | None = None,
        refresh_token: str | None = None,
        access_token_ttl: int = 3599,
        rotate_refresh_tokens: bool = False,
        start: datetime.datetime | None = DATASET_NOW,
        now: datetime.datetime | None = None,
    ) -> None:
        self.api_token = api_token
        #: The emulated Pipedrive's clock (its `Date` header, write times, the default time of
        #: `touch`, `add`, `delete`...) starts at `start` (UTC) and runs as this machine's
        #: does, so no test depends on today's date; `start=None`: this machine's clock (the
        #: demo, whose runs are separate processes). With `now`, it stands at that instant and
        #: moves only by `advance`: nor does a test then depend on how long a run takes.
        self._fixed_now = None if now is None else _utc(now)
        self._offset = (
            datetime.timedelta(0)
            if start is None
            else _utc(start) - datetime.datetime.now(datetime.timezone.utc)
        )
        self.latency = latency
        self.verbose = verbose
        self.data = Dataset(seed, scale)
        self.data.clock_ns = lambda: _ticks(self.now(), 10**9)
        self.router = Router(
            spec.load(), (*ROUTES, *ITEM_ROUTES, *PER_PARENT_ROUTES, *HISTORY_ROUTES, *WRITE_ROUTES)
        )
        self._gates: dict[str, int] = dict(gated or {})
        self._faults = FaultPlan()
        self.oauth: OAuthServer | None = None
        if oauth_client is not None:
            if refresh_token is None:
                raise ValueError("oauth_client needs a refresh_token")
            self.oauth = OAuthServer(
                oauth_client, refresh_token, access_token_ttl, rotate_refresh_tokens
            )
        self._address = (host, port)
        # A fixed clock times the burst window too: it passes only when a test moves the clock.
        self._burst = (
            BurstLimiter(burst_limit)
            if now is None
            else BurstLimiter(burst_limit, clock=lambda: self.now().timestamp())
        )
        self._released = threading.Event()
        self._budget = DailyBudget(daily_budget)
        self._limits_lock = threading.Lock()
        self._log_lock = threading.Lock()
        self._log: dict[int, RequestLog] = {}
        self._arrivals = 0
        self._log_floor = 0
        self._hook: Callable[[RequestLog], None] | None = None
        self._hook_errors: list[BaseException] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---
    def start(self) -> Emulator:
        """Bind (a free port by default) and serve in a background thread; return self."""
        if self._server is not None:
            raise RuntimeError("emulator already started")
        server = _Server(self._address, _Handler)
        server.emulator = self
        self._server = server
        # `stop` waits for the loop's next poll: tests start and stop hundreds of emulators.
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="pipedrive-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close open connections; re-raise an `on_request` callback's failure."""
        server, self._server = self._server, None
        self.release()
        if server is not None:
            server.shutdown()
            server.close_connections()
            server.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._hook_errors:
            first = self._hook_errors[0]
            self._hook_errors.clear()
            raise RuntimeError("an on_request callback failed") from first

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Return the base URL (`http://127.0.0.1:PORT`) of the running emulator."""
        if self._server is None:
            raise RuntimeError("emulator not started")
        return f"http://{self._address[0]}:{self._server.server_port}"

    # --- request log ---
    @property
    def requests(self) -> list[RequestLog]:
        """Return the logged requests in arrival order (a snapshot)."""
        with self._log_lock:
            return [self._log[k] for k in sorted(self._log)]

    def clear_log(self) -> None:
        """Forget the logged requests (the daily budget keeps what was spent)."""
        with self._log_lock:
            self._log.clear()
            self._log_floor = self._arrivals

    @property
    def tokens_spent(self) -> int:
        """Return the sum of the costs of the logged requests."""
        return sum(entry.cost for entry in self.requests)

    def on_request(self, callback: Callable[[RequestLog], None] | None) -> None:
        """Call `callback(entry)` after each request, once its response is final.

        It runs before the response is sent, so whatever it changes is in place before the
        client can send its next request. `None` removes it. A failure is re-raised by `stop`.
        """
        self._hook = callback

    # --- data ---
    def records(self, entity: str) -> list[dict[str, Any]]:
        """Return an entity's current records as the API shows them, deleted deals and archived
        records included (filter on `is_deleted` / `is_archived`)."""
        return self.data.records(entity)

    def ids(
        self, entity: str, *, archived: bool = False, include_deleted: bool = False, **filters: Any
    ) -> set[Any]:
        """Return the ids the entity's list returns for these query parameters, all pages.

        `emu.ids("deals")` is the default list (neither deleted nor archived); `status=...`,
        `updated_since=datetime(...)` work like the query parameters. `archived=True` reads
        the archived list instead (deals, leads, projects); `include_deleted=True` adds the
        deleted deals (`status=open,won,lost,deleted`). Leads, lead labels, permission sets,
        call logs and goals have string ids, lead sources their names.
        """
        if canonical(entity) in FIELD_ENTITIES or canonical(entity) in V1_FIELD_ENTITIES:
            raise ValueError(f"{entity} have no ids")
        table = self.data.table(entity)
        found = self.router.lists.get((table.entity, archived))
        if found is None:
            raise ValueError(f"{entity} have no {'archived ' if archived else ''}list")
        handler, operation = found
        if include_deleted:
            if table.entity != "deals":
                raise ValueError("include_deleted is for deals")
            filters.setdefault("status", "open,won,lost,deleted")
        if "deal_ids" in operation.parameters and "deal_ids" not in filters:
            return self.all_ids(entity)  # children of every deal
        unknown = set(filters) - operation.parameters
        if unknown:
            raise ValueError(f"{entity} list has no parameter(s) {sorted(unknown)}")
        query = {name: _query_value(value) for name, value in filters.items()}
        request = Request("GET", operation.template, query, operation)
        with self.data.lock:
            try:
                return {table.public_id(i) for i in handler.select(self.data, request)}
            except ApiError as error:
                raise ValueError(error.body["error"]) from None

    def now(self) -> datetime.datetime:
        """The emulated Pipedrive's clock, UTC: the fixed `now` (as advanced), else the running
        clock from `start`."""
        if self._fixed_now is not None:
            return self._fixed_now
        return datetime.datetime.now(datetime.timezone.utc) + self._offset

    def advance(self, seconds: float) -> datetime.datetime:
        """Move a fixed clock (`Emulator(now=...)`) forward; return the new now."""
        if self._fixed_now is None:
            raise RuntimeError("advance needs a fixed clock: Emulator(now=...)")
        self._fixed_now += datetime.timedelta(seconds=seconds)
        return self._fixed_now

    def _when(self, when: datetime.datetime | None) -> datetime.datetime:
        """`when`, else the emulated Pipedrive's now."""
        return when if when is not None else self.now()

    def all_ids(self, entity: str) -> set[Any]:
        """Return the id of every record of an entity: deleted deals and archived ones too."""
        with self.data.lock:
            table = self.data.table(entity)
            return {table.public_id(i) for i in table.ids()}

    def touch(self, entity: str, ids: Iterable[Any], when: datetime.datetime | None = None) -> None:
        """Set the records' update_time to `when` (UTC; default now) and edit one field.

        A touched deal also gets a `dealChange` of its title at `when` in its flow.
        """
        with self.data.lock:
            self.data.touch(entity, ids, _ticks(self._when(when), self.data.table(entity).unit))

    def add(self, entity: str, n: int) -> list[Any]:
        """Create n records added and updated now; return their ids."""
        with self.data.lock:
            table = self.data.table(entity)
            return [table.public_id(i) for i in table.add(n, _ticks(self.now(), table.unit))]

    def duplicate(self, entity: str, item_id: Any, n: int = 1, **changes: Any) -> list[Any]:
        """Create n copies of an item (its name, emails... as it shows them; `changes` set
        over them), added and updated now; return their ids. Live accounts hold such twins."""
        with self.data.lock:
            table = self.data.table(entity)
            source = table.record(table.row_id(item_id))
            rows = table.add(n, _ticks(self.now(), table.unit))
            for row in rows:
                copied = {k: v for k, v in source.items() if k not in ROW_KEYS}
                table.written[row] = {**copy.deepcopy(copied), **changes}
            table._changed()
            return [table.public_id(row) for row in rows]

    def add_field(self, entity: str, name: str, field_type: str) -> str:
        """Add a custom field (null in every existing item); return its code."""
        with self.data.lock:
            return self.data.add_field(entity, name, field_type)

    def retype_field(self, entity: str, name: str, field_type: str) -> str:
        """Change the type of an entity's custom field (by name; values follow); return its code."""
        with self.data.lock:
            return self.data.retype_field(entity, name, field_type)

    def delete(
        self, entity: str, ids: Iterable[Any], when: datetime.datetime | None = None
    ) -> None:
        """Delete records at `when` (UTC; default now): deals get `is_deleted` (and update_time
        `when`), others disappear. Deleted persons, organizations, activities, products and notes
        are then listed by `/v1/recents` (`active_flag: false`, `update_time` = `when`)."""
        with self.data.lock:
            self.data.delete(entity, ids, _ticks(self._when(when), self.data.table(entity).unit))

    def archive(
        self, entity: str, ids: Iterable[Any], when: datetime.datetime | None = None
    ) -> None:
        """Archive deals, leads or projects at `when` (default now): they leave the default list
        for the archived one, with `is_archived` (and `archive_time`) set and update_time moved."""
        with self.data.lock:
            self.data.archive(entity, ids, _ticks(self._when(when), self.data.table(entity).unit))

    def flow(self, deal_id: int) -> list[dict[str, Any]]:
        """Return every flow item of a deal (custom-field changes included), newest first."""
        with self.data.lock:
            if not self.data.deals.exists(deal_id):
                raise KeyError(f"no deals with id {deal_id}")
            return self.data.flow.items(deal_id, all_changes=True)

    # --- failures on purpose ---
    def gate(self, prefix: str, status: int | None) -> None:
        """Answer `status` (402: plan lacks the feature, 403: forbidden) to every request whose
        path starts with `prefix`; None lifts the gate."""
        if status is None:
            self._gates.pop(prefix, None)
        else:
            self._gates[prefix] = status

    def inject(
        self,
        path_prefix: str,
        fault: str,
        *,
        times: int = 1,
        after: int = 0,
        status: int | None = None,
        delay: float = 0.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Schedule a fault (see `tests.emulator.faults`) for requests whose path starts with
        `path_prefix` ("" = all): skip `after` of them, then hit `times` (-1: forever)."""
        if fault == "hold":
            self._released.clear()
        self._faults.add(
            Fault(path_prefix, fault, times, after, status, delay, dict(headers or {}))
        )

    def release(self) -> None:
        """Let the answers held by "hold" faults go (`stop` does too)."""
        self._released.set()

    def clear_faults(self) -> None:
        """Drop every fault schedule."""
        self._faults.clear()

    def reset_budget(self) -> None:
        """Start a new day: the daily budget is whole again."""
        with self._limits_lock:
            self._budget.spent = 0

    def issued_secrets(self) -> list[str]:
        """Every OAuth access and refresh token issued so far (for leak tests)."""
        if self.oauth is None:
            raise RuntimeError("OAuth is not enabled")
        return self.oauth.issued()

    def expire_access_tokens(self) -> None:
        """Make every OAuth access token issued so far answer 401."""
        if self.oauth is None:
            raise RuntimeError("OAuth is not enabled")
        self.oauth.expire_all()

    # --- serving ---
    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes = b""
    ) -> Response:
        """Answer one request (`target` = path and query); log it and run the callback."""
        with self._log_lock:
            arrival = self._arrivals
            self._arrivals += 1
        parts = urlsplit(target)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if self.latency:
            time.sleep(self.latency)
        fault = self._faults.take(parts.path)
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay)
            fault = None
        if fault is not None and fault.kind == "hold":
            self._released.wait(HOLD_LIMIT_SECONDS)
            fault = None
        if fault is not None and fault.kind in AFTER_COMMIT:
            # Logged with the status of what was done, before the answer is lost.
            response, cost = self._answer(method, parts.path, query, headers, body)
            self._record(
                arrival, RequestLog(method, parts.path, query, response.status, cost, dict(headers))
            )
            if fault.kind == "drop_after_commit":
                return Response(response.status, {}, b"", action="drop")
            time.sleep(fault.delay)
            return response
        response, cost = (
            self._faulted(fault)
            if fault is not None
            else self._answer(method, parts.path, query, headers, body)
        )
        logged = 0 if response.action == "drop" else response.status
        self._record(arrival, RequestLog(method, parts.path, query, logged, cost, dict(headers)))
        return response

    def _answer(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> tuple[Response, int]:
        """Serve a request normally; return the response and its cost."""
        if path == TOKEN_PATH and self.oauth is not None:
            status, answer = self.oauth.token(headers, body, self.url)
            return Response(status, {}, json_bytes(answer)), 0
        credential = self._credential(headers)
        status, answer, cost = self._dispatch(method, path, query, credential, body)
        with self._limits_lock:
            self._budget.spent += cost
            limits = {
                **self._burst.headers(credential or self.api_token),
                **self._budget.headers(),
            }
        return Response(status, limits, json_bytes(answer)), cost

    def _credential(self, headers: dict[str, str]) -> str | None:
        """Return the request's valid credential (API token or live access token), if any."""
        token = headers.get("x-api-token")
        if token == self.api_token:
            return token
        access = bearer(headers)
        if access is not None and self.oauth is not None and self.oauth.valid(access):
            return access
        return None

    def _faulted(self, fault: Fault) -> tuple[Response, int]:
        """Build the answer of an injected fault (it costs nothing)."""
        with self._limits_lock:
            if fault.kind in ("budget_429", "budget_429_body"):
                self._budget.spent = max(self._budget.spent, self._budget.limit)
            limits = {**self._burst.headers(self.api_token), **self._budget.headers()}
            if fault.kind == "budget_429_body":
                limits = self._burst.headers(self.api_token)
        kind, extra = fault.kind, fault.headers
        if kind == "burst_429":
            # A full window: the reset is the whole 2 s (`headers` may say otherwise).
            limits.update({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "2"})
        if kind in ("burst_429", "budget_429"):
            response = Response(429, limits, json_bytes(error_envelope(429)))
        elif kind == "budget_429_body":
            response = Response(429, limits, json_bytes(error_envelope(429, BUDGET_MESSAGE)))
        elif kind == "null_body":
            response = Response(200, limits, b"null")
        elif kind == "not_json":
            response = Response(200, limits, b"<html>upstream said: OK</html>")
        elif kind == "html_403":
            page = CLOUDFLARE_PAGE.encode()
            response = Response(403, {}, page, content_type="text/html; charset=UTF-8")
        elif kind in ("drop", "truncate"):
            # A stand-in body: no client can use a cut one, so it need not be the real answer.
            full = json_bytes({"success": True, "data": [{"id": 1}] * 50})
            response = Response(200, limits, full, action=kind)
        else:  # "status", "not_found"
            status = 404 if kind == "not_found" else fault.status or 500
            response = Response(status, limits, json_bytes(error_envelope(status)))
        headers = {**response.headers, **extra}
        return Response(
            response.status, headers, response.body, response.content_type, response.action
        ), 0

    def _record(self, arrival: int, entry: RequestLog) -> None:
        """Log a request (unless the log was cleared since it arrived) and run the callback."""
        with self._log_lock:
            if arrival >= self._log_floor:
                self._log[arrival] = entry
        hook = self._hook
        if hook is not None:
            try:
                hook(entry)
            except Exception as error:
                self._hook_errors.append(error)
                traceback.print_exc(file=sys.stderr)

    def _dispatch(
        self, method: str, path: str, query: dict[str, str], token: str | None, body: bytes = b""
    ) -> tuple[int, dict[str, Any], int]:
        """Return (status, body, cost) for a request; `token` is its valid credential."""
        if token is None:
            # A token in the query string is never accepted: the header is the only way.
            return 401, error_body("unauthorized access", errorCode=401), 0
        gated = gate_status(self._gates, path)
        if gated is not None:
            return gated, error_envelope(gated), 0
        match = self.router.match(method, path)
        if match is None:
            return 404, error_body(f"Unknown method {method} {path}"), 0
        route, operation, path_params = match
        with self._limits_lock:
            # Both 429s answer the same body; clients tell them apart by the headers.
            if self._budget.remaining <= 0 or not self._burst.admit(token):
                return 429, error_body("Request over limit", errorCode=429), 0
        request = Request(method, path, query, operation, path_params, body)
        try:
            with self.data.lock:
                return 200, route.handler(self.data, request), operation.cost
        except ApiError as error:
            # A 404 (a deal that is not there) is refused before any work, like other 404s.
            return error.status, error.body, 0 if error.status == 404 else operation.cost
        except Exception:
            traceback.print_exc(file=sys.stderr)
            return 500, error_body("Internal server error (emulator bug)"), 0


def _ticks(when: datetime.datetime, unit: int) -> int:
    """Return `when` as whole ticks of 1/unit second since the epoch (floor)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    micros = (when - _EPOCH) // datetime.timedelta(microseconds=1)
    return micros * unit // 1_000_000


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def _utc(when: datetime.datetime) -> datetime.datetime:
    """`when` in UTC (a naive time is taken as UTC, as `touch` and `delete` take it)."""
    if when.tzinfo is None:
        return when.replace(tzinfo=datetime.timezone.utc)
    return when.astimezone(datetime.timezone.utc)


def _epoch(when: datetime.datetime | None) -> int:
    if when is None:
        return int(time.time())
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return math.floor(when.timestamp())


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        return rfc3339(_epoch(value)) or ""
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(map(str, value))
    return str(value)


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that can close its keep-alive connections on stop."""

    daemon_threads = True
    emulator: Emulator

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-answer (a killed run, a timeout) is no emulator fault:
        no traceback for it in the test output. Anything else is printed as before."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut down every open client connection (idle keep-alive ones included)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    """Hands every request to the Emulator; keep-alive, as clients use connection pools."""

    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes; with Nagle's algorithm on, a keep-alive client's
    # delayed ACK would hold the body back ~40 ms on every request.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        """Serve any method the same way (the router answers 404 where not emulated)."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        response = self.server.emulator.handle(self.command, self.path, headers, body)
        if response.action == "drop":
            self.close_connection = True
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.action == "truncate":
            # Half the promised body, then the connection closes: the client reads short.
            self.wfile.write(response.body[: len(response.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(response.body)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The `Date` header, by the emulated Pipedrive's clock."""
        now = self.server.emulator.now().timestamp()
        return email.utils.formatdate(now if timestamp is None else timestamp, usegmt=True)

    def log_message(self, format: str, *args: Any) -> None:
        """Log to stderr only when the emulator is verbose."""
        if self.server.emulator.verbose:
            sys.stderr.write(f"{self.address_string()} - {format % args}\n")
