"""A throwaway PostgreSQL server on 127.0.0.1, for the tests that load into or read from one.

`make test` makes sure the server binaries exist (`make postgres`: apt-get as root when they are
missing) and installs meltanolabs-target-postgres in its own virtualenv (`make target-postgres`),
whose psycopg runs the tests' SQL. Outside CI a test is skipped, with the reason, when either is
missing; in CI (CI=true) that is a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
import typing as t
from pathlib import Path

import pytest

from tests.conftest import closed_port, unavailable
from tests.singer_run import CliFiles, json_file, started_cli

ROOT = Path(__file__).resolve().parents[1]
TARGET_VENV = ROOT / ".venv-targets" / "target-postgres"


def server_bindir() -> Path | None:
    """The newest PostgreSQL server's bin directory (Debian's layout first, then PATH)."""

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))

    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    for bindir in candidates:
        if all((bindir / name).is_file() for name in ("initdb", "postgres", "pg_isready")):
            return bindir
    return None


class Postgres:
    """A throwaway PostgreSQL server on 127.0.0.1: trust auth, no Unix socket, UTC."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        # PostgreSQL refuses to run as root: as root, run it as `postgres` (Debian's package
        # creates that user) or `nobody`, owning a data directory outside root's home.
        self.user: dict[str, t.Any] = {}
        if os.geteuid() == 0:
            account = next((a for a in pwd.getpwall() if a.pw_name in ("postgres", "nobody")), None)
            if account is None:
                unavailable("running as root and there is no `postgres` or `nobody` user")
            self.user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        self.root = Path(tempfile.mkdtemp(prefix="tap-pipedrive-pg-"))
        if self.user:
            os.chown(self.root, self.user["user"], self.user["group"])
        self.data = self.root / "data"
        self.log = self.root / "server.log"

    def _run(self, *args: str) -> None:
        result = subprocess.run(
            args,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            **self.user,
        )
        if result.returncode:
            unavailable(f"{args[0]} failed ({result.returncode}): {result.stderr[-2000:]}")

    def start(self) -> None:
        self._run(
            str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--no-locale", "--no-sync",
        )  # fmt: skip
        for _attempt in range(3):  # a free port can be taken between probe and bind
            self.port = closed_port()
            with self.log.open("ab") as log:
                self.process = subprocess.Popen(
                    [
                        str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
                        "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
                        "-c", "timezone=UTC", "-c", "fsync=off", "-c", "synchronous_commit=off",
                        "-c", "full_page_writes=off",
                    ],
                    cwd=self.root, stdout=log, stderr=subprocess.STDOUT, **self.user,
                )  # fmt: skip
            if self._ready():
                return
            self.process.wait(timeout=10)
        unavailable(f"PostgreSQL did not start: {self.log.read_text()[-2000:]}")

    def _ready(self, timeout: float = 30) -> bool:
        deadline = time.monotonic() + timeout
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            probe = subprocess.run(
                [str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
                check=False,
            )
            if probe.returncode == 0:
                return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # "fast" shutdown
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def query(self, *statements: str, database: str = "postgres") -> list[list[list[t.Any]]]:
        """Run statements in one autocommit session; the rows of each (dates as ISO strings)."""
        result = subprocess.run(
            [str(TARGET_VENV / "bin" / "python"), "-c", SQL_CLIENT, str(self.port), database],
            input=json.dumps(statements),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"SQL failed: {statements}\n{result.stderr[-3000:]}"
        return json.loads(result.stdout)

    def rows(self, statement: str) -> list[list[t.Any]]:
        return self.query(statement)[0]


#: Runs in the target's virtualenv, which has psycopg: statements as JSON on stdin.
def load(
    tap: CliFiles, port: int, state: dict[str, t.Any] | None, name: str, *, schema: str
) -> dict[str, t.Any]:
    """`tap-pipedrive | target-postgres` into `schema` of the server at `port`, the tap run with
    `cli_files`' `tap` (logs: `<name>.tap.log`, `.target.log` beside them); return the last
    state the target emitted."""
    workdir = Path(tap.config).parent
    args = [*tap]
    if state is not None:
        args += ["--state", json_file(workdir / f"{name}.state.json", state)]
    target_config = {
        "host": "127.0.0.1",
        "port": port,
        "user": "postgres",
        "password": "unused",  # trust authentication; the target insists on one
        "database": "postgres",
        "default_target_schema": schema,
    }
    with (
        (workdir / f"{name}.tap.log").open("wb") as tap_log,
        (workdir / f"{name}.target.log").open("wb") as target_log,
        started_cli(*args, stderr=tap_log) as tap,
    ):
        assert tap.stdout is not None
        target = subprocess.Popen(
            [
                str(TARGET_VENV / "bin" / "target-postgres"),
                "--config",
                json_file(workdir / "target.json", target_config),
            ],
            stdin=tap.stdout,
            stdout=subprocess.PIPE,
            stderr=target_log,
        )
        tap.stdout.close()  # the target alone reads it: the tap sees a broken pipe if it dies
        out, _ = target.communicate(timeout=600)
        tap.wait(timeout=60)
    if tap.returncode or target.returncode:
        tails = "\n".join(
            f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}"
            for log in (workdir / f"{name}.tap.log", workdir / f"{name}.target.log")
        )
        pytest.fail(f"tap exited {tap.returncode}, target exited {target.returncode}\n{tails}")
    lines = [line for line in out.decode().splitlines() if line.strip()]
    assert lines, "the target emitted no state"
    return json.loads(lines[-1])


SQL_CLIENT = """
import json, sys, psycopg
out = []
with psycopg.connect(host="127.0.0.1", port=int(sys.argv[1]), user="postgres",
                     dbname=sys.argv[2], autocommit=True) as connection:
    for statement in json.load(sys.stdin):
        cursor = connection.execute(statement)
        out.append([list(row) for row in cursor.fetchall()] if cursor.description else [])
print(json.dumps(out, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v)))
"""


@contextlib.contextmanager
def throwaway_postgres() -> t.Iterator[Postgres]:
    """A started server, stopped and removed afterwards."""
    if not (TARGET_VENV / "bin" / "python").exists():
        unavailable(f"{TARGET_VENV} (psycopg for the SQL) is missing: run `make target-postgres`")
    bindir = server_bindir()
    if bindir is None:
        unavailable(
            "no PostgreSQL server binaries (initdb, postgres) in /usr/lib/postgresql/*/bin or on "
            "PATH; `make postgres` installs them with apt-get when run as root"
        )
    pg = Postgres(bindir)
    try:
        pg.start()
        yield pg
    finally:
        pg.stop()
