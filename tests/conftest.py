"""Fixtures: a local Pipedrive emulator and a tap config that points at it."""

from __future__ import annotations

import os
import typing as t

import pytest

from tests.emulator import Emulator, spec

TOKEN = "emulator-token-3f9a"


def unavailable(reason: str) -> t.NoReturn:
    """Skip, or fail in CI, where everything a test needs is installed by `make test`."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: `make test` must provide it)")
    pytest.skip(reason)


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
