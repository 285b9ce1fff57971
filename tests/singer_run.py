"""Run the tap the way a target sees it and collect its Singer messages."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import json
import signal
import subprocess
import sys
import typing as t

from tap_pipedrive.tap import TapPipedrive
from tests.conftest import config_for
from tests.meltano_project import outside_env

if t.TYPE_CHECKING:
    from pathlib import Path

    from tests.emulator import Emulator
    from tests.emulator.server import RequestLog


def records(messages: t.Iterable[dict[str, t.Any]], stream: str) -> list[dict[str, t.Any]]:
    """The records of one stream, in order."""
    return [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]


def ids(messages: t.Iterable[dict[str, t.Any]], stream: str, key: str = "id") -> set[t.Any]:
    """The set of primary keys a stream emitted."""
    return {record[key] for record in records(messages, stream)}


def states(messages: t.Iterable[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
    """Every STATE value, in order."""
    return [m["value"] for m in messages if m["type"] == "STATE"]


def bookmark(state: dict[str, t.Any], stream: str) -> t.Any:
    """A stream's `replication_key_value` (a stream without partitions)."""
    return state["bookmarks"][stream]["replication_key_value"]


def bookmarks(state: dict[str, t.Any], stream: str) -> dict[t.Any, t.Any]:
    """A stream's bookmark per partition: {is_archived: value} for deals and leads, {None: value}
    for a stream without partitions."""
    entry = state["bookmarks"][stream]
    if "partitions" in entry:
        return {
            p["context"]["is_archived"]: p["replication_key_value"] for p in entry["partitions"]
        }
    return {None: entry["replication_key_value"]}


@dataclasses.dataclass
class SyncResult:
    """The Singer messages of one run, by kind (and its requests, when `sync` was given `log`)."""

    messages: list[dict[str, t.Any]]
    requests: list[RequestLog] = dataclasses.field(default_factory=list)

    def records(self, stream: str) -> list[dict[str, t.Any]]:
        """The records of one stream, in order."""
        return records(self.messages, stream)

    def ids(self, stream: str, key: str = "id") -> set[t.Any]:
        """The set of primary keys a stream emitted."""
        return ids(self.messages, stream, key)

    def streams(self) -> set[str]:
        """The streams that emitted at least one record."""
        return {m["stream"] for m in self.messages if m["type"] == "RECORD"}

    def schema(self, stream: str) -> dict[str, t.Any]:
        """The last SCHEMA message of a stream."""
        return next(
            m for m in reversed(self.messages) if m["type"] == "SCHEMA" and m["stream"] == stream
        )

    @property
    def states(self) -> list[dict[str, t.Any]]:
        """Every STATE value, in order."""
        return states(self.messages)

    @property
    def final_state(self) -> dict[str, t.Any]:
        """The last STATE value."""
        return self.states[-1]


def parse_messages(stdout: bytes | str) -> list[dict[str, t.Any]]:
    """Parse Singer JSON lines."""
    text = stdout.decode() if isinstance(stdout, bytes) else stdout
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def sync(
    config: dict[str, t.Any],
    *,
    state: dict[str, t.Any] | None = None,
    catalog: dict[str, t.Any] | None = None,
    streams: t.Iterable[str] | None = None,
    log: Emulator | None = None,
) -> SyncResult:
    """Sync in this process; `streams` selects just those (by name) when given.

    With `log`, the result keeps that emulator's requests of this run (discovery included): a
    module-scoped run's requests, which the module's later tests must not add to.
    """
    if log is not None:
        log.clear_log()
    if streams is not None:
        catalog = select(discover(config), streams)
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    with contextlib.redirect_stdout(out):
        # Copies: the SDK keeps (and updates) the state it is given.
        tap = TapPipedrive(
            config=config, state=copy.deepcopy(state), catalog=copy.deepcopy(catalog)
        )
        tap.sync_all()
        out.flush()
    messages = parse_messages(out.buffer.getvalue())  # type: ignore[attr-defined]
    return SyncResult(messages, log.requests if log is not None else [])


def discover(config: dict[str, t.Any]) -> dict[str, t.Any]:
    """The catalog `--discover` would print."""
    return TapPipedrive(config=config).catalog_dict


def select(catalog: dict[str, t.Any], streams: t.Iterable[str]) -> dict[str, t.Any]:
    """Select exactly these streams (all their properties) in a catalog, deselect the rest."""
    wanted = set(streams)
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in wanted
    return catalog


#: Run in the tap's process before its command line (`before=`): retry waits of milliseconds
#: (the retries' count, not the clock, is under test).
QUICK_RETRIES = (
    "from pipedrive_api.client import PipedriveClient; PipedriveClient.retry_base_seconds = 0.001"
)


def tap_command(args: t.Iterable[str], before: t.Sequence[str] = ()) -> list[str]:
    """The `tap-pipedrive` command line with `args`; `before`: Python statements its process
    runs first (what a monkeypatch does in this one)."""
    if not before:
        return [sys.executable, "-m", "tap_pipedrive.tap", *args]
    code = "; ".join([*before, "from tap_pipedrive.tap import TapPipedrive", "TapPipedrive.cli()"])
    return [sys.executable, "-c", code, *args]


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    quick_retries: bool = False,
) -> subprocess.CompletedProcess[bytes]:
    """Run the `tap-pipedrive` command line as a user would (with `QUICK_RETRIES` if asked), by
    default without this machine's plugin settings (`TAP_PIPEDRIVE_*`)."""
    return subprocess.run(
        tap_command(args, [QUICK_RETRIES] if quick_retries else []),
        capture_output=True,
        env=outside_env() if env is None else env,
        timeout=timeout,
        check=False,
    )


@contextlib.contextmanager
def started_cli(
    *args: str, stderr: t.Any = subprocess.PIPE, before: t.Sequence[str] = ()
) -> t.Iterator[subprocess.Popen[bytes]]:
    """The `tap-pipedrive` command line started as a process (as `run_cli` runs it), its stdout
    piped, `stderr` piped unless given; killed if it still runs when the block ends."""
    command = tap_command(args, before)
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=stderr, env=outside_env()
    ) as process:
        try:
            yield process
        finally:
            process.kill()


def failure_line(result: subprocess.CompletedProcess[bytes], exit_code: int, *phrases: str) -> str:
    """The one line of a failed run: the exit code, no output, no traceback, and the last stderr
    line the only error line (click's `Error:` for exit 2), holding `phrases`."""
    stderr = result.stderr.decode()
    assert result.returncode == exit_code, stderr
    assert result.stdout == b""
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    marker = "Error" if exit_code == 2 else "ERROR"
    assert [line for line in lines if marker in line] == [lines[-1]], stderr
    for phrase in phrases:
        assert phrase in lines[-1], stderr
    return lines[-1]


def json_file(path: Path, value: t.Any) -> str:
    """Write `value` as JSON (a string as it is: a file that may not be JSON); return the path."""
    path.write_text(value if isinstance(value, str) else json.dumps(value))
    return str(path)


class CliFiles(list[str]):
    """The arguments naming a run's files: `--config C --catalog K [--state S]`."""

    @property
    def config(self) -> str:
        return self[self.index("--config") + 1]

    @property
    def catalog(self) -> str:
        return self[self.index("--catalog") + 1]


def cli_files(
    tmp_path: Path, emu: Emulator, streams: t.Iterable[str] = (),
    state: dict[str, t.Any] | None = None, *, catalog: dict[str, t.Any] | None = None,
    **extra: t.Any,
) -> CliFiles:  # fmt: skip
    """The config (`extra` added), catalog (selecting `streams`, unless one is given) and state
    files of a command-line run, in `tmp_path`."""
    if catalog is None:
        # Discovered without `extra`, which may limit a run (max_tokens_per_run), unless it
        # declares streams (custom_streams).
        declared = {k: v for k, v in extra.items() if k == "custom_streams"}
        catalog = select(discover(config_for(emu, **declared)), streams)
    args = CliFiles(
        [
            "--config", json_file(tmp_path / "config.json", config_for(emu, **extra)),
            "--catalog", json_file(tmp_path / "catalog.json", catalog),
        ]
    )  # fmt: skip
    if state is not None:
        args += ["--state", json_file(tmp_path / "state.json", state)]
    return args


def record_of(stream: str) -> t.Callable[[dict[str, t.Any]], bool]:
    """Whether a message is a RECORD of `stream` (what `killed_run` counts)."""
    return lambda message: message["type"] == "RECORD" and message["stream"] == stream


def is_state(message: dict[str, t.Any]) -> bool:
    """Whether a message is a STATE (what `killed_run` counts)."""
    return message["type"] == "STATE"


def killed_run(
    args: t.Sequence[str],
    counts: t.Callable[[dict[str, t.Any]], bool],
    n: int,
    before: t.Sequence[str] = (),
) -> list[dict[str, t.Any]]:
    """Run the tap's command line (`args`: `cli_files`; `before`: see `tap_command`) as a
    process; SIGKILL it once it wrote the `n`th message that `counts`.

    Returns the messages written until then, the killing one included.
    """
    lines, seen = [], 0
    with started_cli(*args, stderr=subprocess.DEVNULL, before=before) as process:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if counts(json.loads(line)):
                seen += 1
                if seen == n:
                    process.send_signal(signal.SIGKILL)
                    break
    return parse_messages(b"".join(lines))
