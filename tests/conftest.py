"""Fixtures: a local Pipedrive emulator and a tap config that points at it."""

from __future__ import annotations

import datetime
import os
import socket
import types
import typing as t

import pytest

from pipedrive_api.client import PipedriveClient
from pipedrive_api.session import PacedSession
from tests.emulator import Emulator, spec

TOKEN = "emulator-token-3f9a"


def unavailable(reason: str) -> t.NoReturn:
    """Skip, or fail in CI, where everything a test needs is installed by `make test`."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: `make test` must provide it)")
    pytest.skip(reason)


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry waits of milliseconds in this process: the schedule, not the clock, is under test."""
    monkeypatch.setattr(PipedriveClient, "retry_base_seconds", 0.01)
    # Capped too: twelve doubling waits from 0.01 s would still sleep 40 s for real.
    monkeypatch.setattr(PipedriveClient, "retry_max_seconds", 0.04)


@pytest.fixture
def documented_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """README's retry waits (from 1 s, doubling, at most 60 s), over a module's `quick_retries`:
    for a test on an emulator's clock (`on_the_clock_of`), where they cost no time."""
    monkeypatch.setattr(PipedriveClient, "retry_base_seconds", 1.0)
    monkeypatch.setattr(PipedriveClient, "retry_max_seconds", 60.0)


def on_the_clock_of(monkeypatch: pytest.MonkeyPatch, emu: Emulator) -> None:
    """An in-process run paced by the emulator's fixed clock (`Emulator(now=...)`): the tap's
    pauses (burst window, 429 waits) move it instead of sleeping, so a window passes exactly
    when the tap waits it out. (The tap's window bounds follow it anyway: its `Date` header.)"""

    def session(max_concurrency: int) -> PacedSession:
        return PacedSession(max_concurrency, clock=lambda: emu.now().timestamp(), sleep=emu.advance)

    monkeypatch.setattr("pipedrive_api.client.PacedSession", session)
    # Retry waits too, and the retry patience (backoff's clock, counted from here: exact to
    # the microsecond, where epoch seconds as a float are not).
    start = emu.now()

    def elapsed() -> float:
        return (emu.now() - start).total_seconds()

    retries = types.SimpleNamespace(monotonic=elapsed, sleep=emu.advance)
    monkeypatch.setattr("backoff._common.time", retries)
    monkeypatch.setattr("backoff._sync.time", retries)


def a_moment_ago(emu: Emulator, seconds: int = 5) -> datetime.datetime:
    """A past whole second (UTC) by the emulated Pipedrive's clock: a record updated in the very
    second a read starts belongs to the next read."""
    return emu.now().replace(microsecond=0) - datetime.timedelta(seconds=seconds)


def moment(value: str) -> datetime.datetime:
    """An RFC 3339 / ISO 8601 timestamp as an aware datetime (a naive one is UTC)."""
    parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)


def rfc3339(when: datetime.datetime) -> str:
    """A datetime (UTC) to the second, as the tap writes times: `2024-01-31T10:00:00Z`."""
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def closed_port() -> int:
    """A port nothing listens on: connections to it are refused, a server may bind it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def openapi() -> dict[str, t.Any]:
    """Pipedrive's full OpenAPI specs: skipped with the reason where missing, failed in CI."""
    try:
        return spec.documents()
    except spec.SpecUnavailable as error:
        if os.environ.get("CI") == "true":
            pytest.fail(str(error))
        pytest.skip(str(error))


@pytest.fixture(scope="session")
def emulator() -> t.Iterator[Emulator]:
    """A shared, read-only emulator: tests that change data start their own."""
    with Emulator(seed=7, scale=1200, api_token=TOKEN) as emu:
        yield emu


@pytest.fixture
def fresh_emulator() -> t.Iterator[Emulator]:
    """An emulator a test may change (touch, add, delete, inject faults)."""
    with Emulator(seed=11, scale=1200, api_token=TOKEN) as emu:
        yield emu


@pytest.fixture
def emu() -> t.Iterator[Emulator]:
    """A small emulator a test may change (the target's tests write to it); a module that
    needs another one defines its own `emu`."""
    with Emulator(seed=5, scale=40, api_token=TOKEN) as emulator:
        yield emulator


def config_for(emu: Emulator, **extra: t.Any) -> dict[str, t.Any]:
    """A tap config pointing at an emulator."""
    return {"api_token": TOKEN, "api_url": emu.url, **extra}


@pytest.fixture
def config(emulator: Emulator) -> dict[str, t.Any]:
    """Config for the shared emulator."""
    emulator.clear_log()
    return config_for(emulator)


#: The OAuth app and installation `oauth_emulator` accepts.
OAUTH = {
    "client_id": "app-7",
    "client_secret": "client-secret-5e1",
    "refresh_token": "rt-first-9d2",
}


def oauth_emulator(seed: int = 6, scale: int = 1500, **options: t.Any) -> Emulator:
    """An emulator issuing OAuth tokens to `OAUTH` (by default, persons take two pages)."""
    return Emulator(
        seed=seed,
        scale=scale,
        api_token=TOKEN,
        oauth_client=(OAUTH["client_id"], OAUTH["client_secret"]),
        refresh_token=OAUTH["refresh_token"],
        **options,
    )


def oauth_config(emu: Emulator) -> dict[str, t.Any]:
    """An OAuth tap config against `oauth_emulator`'s token endpoint."""
    return {**OAUTH, "oauth_url": f"{emu.url}/oauth/token"}


#: The test files that take longest (runs through Meltano or PostgreSQL, every deal's flow,
#: 200k persons), longest first. Under `--dist loadfile` one worker runs a whole file, and
#: xdist hands files out in collection order (`--no-loadscope-reorder`): these go first and the
#: short files fill in after them, so that no worker is left running a long file alone at the end.
LONGEST_FILES = (
    "test_deal_children.py", "test_meltano.py", "test_postgres.py", "test_warehouse.py",
    "test_deletion_sweep.py", "test_deal_extras.py", "test_faults.py", "test_sync.py",
    "test_golden.py", "test_history.py", "test_state_files.py", "test_custom_streams.py",
    "test_target_safety.py", "test_emulator.py", "test_target_links.py",
)  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put LONGEST_FILES first; a stable sort keeps pytest-randomly's order (the seed's) within
    each file and among the other files."""
    rank = {name: i for i, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
