"""Feed Singer messages to target-pipedrive, in this process or through its command line."""

from __future__ import annotations

import io
import json
import pathlib
import subprocess
import sys
import typing as t

from target_pipedrive.target import TargetPipedrive
from tests.conftest import TOKEN
from tests.emulator import Emulator
from tests.meltano_project import outside_env
from tests.singer_run import json_file

#: The HTTP methods that write.
WRITES = ("POST", "PATCH", "PUT", "DELETE")


def messages(stream: str, records: t.Iterable[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
    """A SCHEMA (every column of any type) and one RECORD per record."""
    rows = list(records)
    columns = {key for row in rows for key in row}
    schema = {"type": "object", "properties": {key: {} for key in sorted(columns)}}
    return [
        {"type": "SCHEMA", "stream": stream, "schema": schema, "key_properties": []},
        *({"type": "RECORD", "stream": stream, "record": row} for row in rows),
    ]


def lines(message_list: t.Iterable[dict[str, t.Any]]) -> str:
    """Singer JSON lines."""
    return "".join(json.dumps(message) + "\n" for message in message_list)


def target_config(emu: Emulator, tmp_path: pathlib.Path, **extra: t.Any) -> dict[str, t.Any]:
    """A target config pointing at an emulator, its rejects file in `tmp_path`."""
    return {
        "api_token": TOKEN,
        "api_url": emu.url,
        "rejects_file": str(tmp_path / "rejects.jsonl"),
        **extra,
    }


def write(config: dict[str, t.Any], message_list: t.Iterable[dict[str, t.Any]]) -> TargetPipedrive:
    """Run the target in this process over the messages; return it (for its tallies)."""
    target = TargetPipedrive(config=config)
    target.listen(io.StringIO(lines(message_list)))
    return target


def run_cli(
    config: dict[str, t.Any], message_list: t.Iterable[dict[str, t.Any]], tmp_path: pathlib.Path
) -> subprocess.CompletedProcess[str]:
    """Run the `target-pipedrive` command line as Meltano would."""
    return run_cli_text(config, lines(message_list), tmp_path)


def run_cli_text(
    config: dict[str, t.Any], text: str, tmp_path: pathlib.Path
) -> subprocess.CompletedProcess[str]:
    """Run the `target-pipedrive` command line on input text (lines that may not be JSON)."""
    path = json_file(tmp_path / "target-config.json", config)
    return subprocess.run(
        [sys.executable, "-m", "target_pipedrive.target", "--config", path],
        input=text,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=outside_env(),
    )


def writes(emu: Emulator) -> list[tuple[str, str, int]]:
    """The write requests the emulator saw: (method, path, status)."""
    return [(r.method, r.path, r.status) for r in emu.requests if r.method in WRITES]


def rejects(path: pathlib.Path) -> list[dict[str, t.Any]]:
    """The lines of a rejects file."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def item(emu: Emulator, entity: str, item_id: t.Any) -> dict[str, t.Any]:
    """One item as the emulator shows it."""
    return next(r for r in emu.records(entity) if r["id"] == item_id)
