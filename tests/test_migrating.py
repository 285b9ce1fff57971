"""MIGRATING.md's commands run as written, against the emulator (SQL: tests/test_postgres.py)."""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import TOKEN, unavailable
from tests.emulator import Emulator
from tests.meltano_project import outside_env
from tests.singer_run import ids, json_file, parse_messages

ROOT = Path(__file__).resolve().parents[1]
#: The legacy tap 2.1.0's own final STATE shape, as issue 21 quotes it.
LEGACY_STATE = {
    "bookmarks": {
        "deals": {"update_time": "2025-12-31T23:59:59Z"},
        "persons": {"update_time": "2025-12-31T23:59:59Z"},
        "users": {"modified": "2025-12-09T20:38:14Z"},
    }
}


def migrating_commands() -> list[str]:
    """The command lines of MIGRATING.md's `sh` blocks, in order."""
    text = (ROOT / "MIGRATING.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)```", text, re.DOTALL)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def records(path: Path, stream: str) -> set[int]:
    return ids(parse_messages(path.read_bytes()), stream)


def test_migratings_commands_run_as_written(tmp_path):
    if shutil.which("jq") is None:
        unavailable("jq is not installed (MIGRATING.md's commands use it, as README's do)")
    commands = migrating_commands()
    assert [command.split(" ", 2)[:2] for command in commands] == [
        ["tap-pipedrive", "--config"],
        ["tap-pipedrive", "--config"],
        ["tail", "-n"],
        ["tap-pipedrive", "--config"],
        ["echo", '\'{"api_token":'],
        ["tap-pipedrive", "--config"],
    ]
    env = outside_env() | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    stderr: dict[str, str] = {}
    with Emulator(seed=5, scale=30, api_token=TOKEN) as emu:
        config = {"api_token": TOKEN, "api_url": emu.url}
        json_file(tmp_path / "config.json", config)
        json_file(tmp_path / "legacy-state.json", LEGACY_STATE)
        legacy_mark = datetime.datetime(2025, 12, 31, 23, 59, 59, tzinfo=datetime.timezone.utc)
        from_legacy = emu.ids("persons", updated_since=legacy_mark)
        for command in commands:
            # Only the API root comes from outside MIGRATING.md: the emulator's.
            line = command.replace('"<token>"', f'"{TOKEN}", "api_url": "{emu.url}"')
            result = subprocess.run(
                ["bash", "-o", "pipefail", "-c", line],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert result.returncode == 0, f"{command}\n{result.stderr[-4000:]}"
            stderr[command] = result.stderr
        since = datetime.datetime(2025, 12, 1, tzinfo=datetime.timezone.utc)
        changed = emu.ids("persons", updated_since=since)
        everyone = emu.all_ids("persons")
    assert records(tmp_path / "first.jsonl", "persons") == from_legacy
    assert from_legacy < everyone
    [legacy_run] = [command for command in commands if "legacy-state.json" in command]
    assert (
        "Legacy state: stream 'persons' resumes from update_time 2025-12-31T23:59:59Z"
        in stderr[legacy_run]
    )
    assert records(tmp_path / "backfill.jsonl", "persons") == changed
    assert changed < everyone
    state = json.loads((tmp_path / "state.json").read_text())
    assert set(state["bookmarks"]) >= {"deals", "persons", "users"}
    assert records(tmp_path / "next.jsonl", "persons") <= everyone
