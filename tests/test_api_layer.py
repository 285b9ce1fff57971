"""The Pipedrive API layer (`pipedrive_api`): no Singer in it, usable alone, one shape overall."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

from pipedrive_api.client import PipedriveClient
from pipedrive_api.endpoints import ORGANIZATIONS
from pipedrive_api.errors import AuthenticationError
from pipedrive_api.responses import records
from tests.conftest import TOKEN
from tests.emulator import Emulator

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("pipedrive_api", "tap_pipedrive", "target_pipedrive")


def imports_in(package: str) -> dict[str, set[str]]:
    """Module -> the modules of the three packages it imports (type-checking imports too)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
                names |= {f"{node.module}.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
        found[module] = names
    return found


def test_the_api_layer_imports_without_singer_sdk():
    code = (
        "import sys; sys.modules['singer_sdk'] = None\n"
        "import pipedrive_api.client, pipedrive_api.endpoints, pipedrive_api.pagination\n"
        "print(sorted(m for m in sys.modules if m.startswith(('singer_sdk', 'tap_', 'target_'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert (result.returncode, result.stdout.strip()) == (0, "['singer_sdk']"), result.stderr


def test_the_api_layer_names_no_singer_module():
    named = {name for names in imports_in("pipedrive_api").values() for name in names}
    assert sorted(n for n in named if n.split(".")[0] in {"singer_sdk", *PACKAGES[1:]}) == []


def test_the_target_imports_nothing_of_the_taps_command_or_streams():
    named = {name for names in imports_in("target_pipedrive").values() for name in names}
    assert (
        sorted(n for n in named if n.startswith(("tap_pipedrive.tap", "tap_pipedrive.streams")))
        == []
    )


def test_no_module_imports_itself_back():
    graph = {}
    for package in PACKAGES:
        graph.update(imports_in(package))
    edges = {m: {n for n in names if n in graph and n != m} for m, names in graph.items()}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in edges[start] - seen:
            seen.add(nxt)
            if nxt == goal or reaches(nxt, goal, seen):
                return True
        return False

    assert sorted(m for m in edges if reaches(m, m, set())) == []


def test_a_few_lines_read_a_list_and_write_an_item():
    with Emulator(seed=5, scale=40, api_token=TOKEN) as emu:
        client = PipedriveClient({"api_token": TOKEN, "api_url": emu.url}, user_agent="me/1")
        pages = client.pages(ORGANIZATIONS.path, {"limit": 3}, ORGANIZATIONS.paging(), cost=10)
        ids = {row["id"] for page in pages for row in records(page)}
        client.send("PATCH", "/api/v2/organizations/2", json={"name": "Renamed"}, cost=5)
        assert ids == emu.ids("organizations")
        assert next(r for r in emu.records("organizations") if r["id"] == 2)["name"] == "Renamed"
        assert client.ledger.spent == emu.tokens_spent  # what Pipedrive charged


def test_refused_credentials_raise_the_line_users_see():
    with Emulator(seed=5, scale=40, api_token=TOKEN) as emu:
        client = PipedriveClient({"api_token": "wrong", "api_url": emu.url}, user_agent="me/1")
        with pytest.raises(AuthenticationError) as error:
            client.send("GET", "/api/v2/users/me")
    assert str(error.value) == (
        "Pipedrive refused the credentials (401) for /api/v2/users/me: check the `api_token` "
        "setting (or the OAuth settings)."
    )
