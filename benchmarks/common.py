"""What every part of the benchmark shares: constants, measured processes, the emulator, the tap.

Stdlib only at import time: `run.py --launch` (see `measure`) runs without site-packages.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import json
import os
import platform
import re
import selectors
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

K = t.TypeVar("K")
R = t.TypeVar("R")
REPO_ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS_DIR = REPO_ROOT / "benchmarks"
#: The entry point: the launcher and the floor's worker are that script run again.
RUN_SCRIPT = BENCHMARKS_DIR / "run.py"
#: The streams the benchmark syncs: scenario (a) the core lists, (b) those and deal children.
STREAMS = ("deals", "persons", "organizations", "activities", "notes")
CHILD_STREAMS = ("deal_products", "dealflow")
#: List paths of the child streams (`/api/v2/deals/products`, `/v1/deals/{id}/flow`).
CHILD_PATHS = (
    (re.compile(r"^/api/v2/deals/products$"), "deal_products"),
    (re.compile(r"^/v1/deals/\d+/flow$"), "dealflow"),
)
#: Query parameters that do not make a read different from the read they continue: page
#: positions, and the time bounds of concurrent windows (the floor reads the whole range once).
PAGE_PARAMS = ("cursor", "start", "updated_since", "updated_until")
#: Pipedrive's largest page: the minimum number of list calls is ceil(records / PAGE_SIZE).
PAGE_SIZE = 500
#: The token the emulator accepts (a throwaway value, not a secret).
API_TOKEN = "benchmark-token"
SEED = 1
#: Upper bounds, so that no loop or wait can run forever.
MAX_PAGES = 100_000
READY_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 15.0
#: A request line of the emulator's `--verbose` log, and the API versions' path prefixes.
REQUEST_LINE = re.compile(r'"([A-Z]+) (\S+) HTTP/[0-9.]+" (\d{3}) ')
VERSION_PREFIXES = ("/api/v2/", "/api/v1/", "/v1/")


# --- processes --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Measured:
    """What one child process cost: wall and CPU seconds, peak RSS, exit status."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    returncode: int


def measure(
    command: list[str], *, stdout: t.IO[t.Any], stderr: t.IO[t.Any], timeout: float
) -> Measured:
    """Run a command to completion through a small launcher process; return the command's cost.

    Why a launcher: Linux carries the RSS high-water mark of the process that forked a child
    into the child's `ru_maxrss` across `exec`, so a command started straight from this process
    would report at least this process's own RSS (tens of MB once the spec is parsed). The
    launcher (`python -S benchmarks/run.py --launch ...`, stdlib only) is small; it starts the
    command and reaps it with `os.wait4`, which returns that one child's rusage. The whole
    process group is killed if it outlives `timeout`.
    """
    with tempfile.TemporaryDirectory(prefix="tap-pipedrive-measure-") as tmp:
        report = Path(tmp) / "rusage.json"
        launcher = [sys.executable, "-S", str(RUN_SCRIPT), "--launch", str(report)]
        process = subprocess.Popen(
            [*launcher, *command], stdout=stdout, stderr=stderr, cwd=REPO_ROOT,
            start_new_session=True,
        )  # fmt: skip
        killer = threading.Timer(timeout, kill_group, [process.pid])
        killer.start()
        RUNNING.add(process.pid)
        try:
            process.wait()
        finally:
            killer.cancel()
            RUNNING.discard(process.pid)
            if process.returncode is None:
                kill_group(process.pid)
                process.wait()
        if not report.exists():
            msg = f"no measurement for {shlex.join(command)} (exit {process.returncode})"
            raise RuntimeError(msg)
        return Measured(**json.loads(report.read_text()))


#: Process groups of the measured commands running now (killed if the benchmark is stopped).
RUNNING: set[int] = set()


def together(jobs: dict[K, t.Callable[[], R]], side_by_side: bool) -> dict[K, R]:
    """Run the jobs one after the other, or side by side in threads; return their results.

    Side by side, the first failure (or a stop signal) kills every measured command still
    running, so that no job outlives the benchmark.
    """
    if not side_by_side:
        return {key: job() for key, job in jobs.items()}
    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        futures = {key: pool.submit(job) for key, job in jobs.items()}
        try:
            return {key: future.result() for key, future in futures.items()}
        except BaseException:
            for pid in list(RUNNING):
                kill_group(pid)
            raise


def kill_group(pid: int) -> None:
    """SIGKILL a process group (the launcher and the command it runs), if still there."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def launch(report: Path, command: list[str]) -> int:
    """The launcher's process: run `command`, write its wall time and own rusage to `report`."""
    started = time.perf_counter()
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes vs KiB
    measured = Measured(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / scale,
        returncode=process.returncode,
    )
    report.write_text(json.dumps(dataclasses.asdict(measured)))
    return 0


@dataclasses.dataclass(frozen=True)
class LoggedRequest:
    """One request line of the emulator's `--verbose` log."""

    method: str
    path: str
    query: dict[str, str]
    status: int


def parse_request_log(text: str) -> list[LoggedRequest]:
    """Parse the emulator's request log lines (`127.0.0.1 - "GET /path?q HTTP/1.1" 200 -`)."""
    found = []
    for line in text.splitlines():
        match = REQUEST_LINE.search(line)
        if match is None:
            continue
        method, target, status = match.groups()
        parts = urlsplit(target)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        found.append(LoggedRequest(method, parts.path, query, int(status)))
    return found


class EmulatorProcess:
    """The emulator (`python -m tests.emulator`) in its own process, request log in a file."""

    def __init__(
        self, scale: int, latency_ms: float, log_path: Path, burst_limit: int | None = None
    ) -> None:
        self.scale = scale
        self.latency_ms = latency_ms
        self.burst_limit = burst_limit
        self.log_path = log_path
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: t.IO[bytes] | None = None

    def __enter__(self) -> EmulatorProcess:
        command = [
            sys.executable, "-m", "tests.emulator", "--port", "0", "--seed", str(SEED),
            "--scale", str(self.scale), "--token", API_TOKEN,
            "--latency-ms", str(self.latency_ms), "--verbose",
        ]  # fmt: skip
        if self.burst_limit is not None:
            command += ["--burst-limit", str(self.burst_limit)]
        self._log_file = self.log_path.open("wb")
        self._process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self._log_file, cwd=REPO_ROOT
        )
        try:
            self.url = self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _wait_until_ready(self) -> str:
        """Read stdout until `READY <url>`; fail if the emulator exits or takes too long."""
        assert self._process is not None
        assert self._process.stdout is not None
        stream = self._process.stdout
        deadline = time.monotonic() + READY_TIMEOUT_S
        buffer = b""
        with selectors.DefaultSelector() as selector:
            selector.register(stream, selectors.EVENT_READ)
            for _ in range(100_000):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    break
                chunk = os.read(stream.fileno(), 4096)
                if not chunk:
                    break
                buffer += chunk
                for line in buffer.decode(errors="replace").splitlines():
                    if line.startswith("READY "):
                        return line.split(maxsplit=1)[1].strip()
        log = self.log_path.read_text(errors="replace")[-2000:]
        msg = f"the emulator (scale {self.scale}) did not print READY; its stderr ends:\n{log}"
        raise RuntimeError(msg)

    def stop(self) -> None:
        """Terminate the emulator (SIGTERM, then SIGKILL) and close its files."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.stdout is not None:
                process.stdout.close()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def log_position(self) -> int:
        """Return the current end of the request log (to read only what follows)."""
        return self.log_path.stat().st_size

    def requests_since(self, position: int) -> list[LoggedRequest]:
        """Return the requests logged after `position`."""
        with self.log_path.open("rb") as log:
            log.seek(position)
            return parse_request_log(log.read().decode(errors="replace"))

    def cpu_seconds(self) -> float | None:
        """Return the emulator's CPU time so far (Linux /proc only; None elsewhere)."""
        if self._process is None:
            return None
        try:
            stat = Path(f"/proc/{self._process.pid}/stat").read_text()
        except OSError:
            return None
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the tap ----------------------------------------------------------------------------------


def tap_executable() -> str:
    """Return the `tap-pipedrive` console script of this interpreter's environment."""
    beside = Path(sys.executable).parent / "tap-pipedrive"
    if beside.exists():
        return str(beside)
    found = shutil.which("tap-pipedrive")
    if found is None:
        raise RuntimeError("tap-pipedrive is not installed: run with the project's virtualenv")
    return found


def discover_catalog(
    tap: str, config: Path, timeout: float, streams: tuple[str, ...]
) -> dict[str, t.Any]:
    """Run `tap-pipedrive --discover` and select exactly `streams` (top-level metadata)."""
    result = subprocess.run(
        [tap, "--config", str(config), "--discover"],
        capture_output=True,
        cwd=REPO_ROOT,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        tail = result.stderr.decode(errors="replace")[-3000:]
        raise RuntimeError(f"discovery failed ({result.returncode}):\n{tail}")
    catalog: dict[str, t.Any] = json.loads(result.stdout)
    names = {entry["tap_stream_id"] for entry in catalog["streams"]}
    missing = set(streams) - names
    if missing:
        raise RuntimeError(f"the catalog lacks the stream(s) {sorted(missing)}")
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


def tap_metrics(stderr_text: str) -> tuple[dict[str, int], int]:
    """Sum the SDK's `record_count` (per stream) and `http_request_count` METRIC lines."""
    records: dict[str, int] = {}
    requests_count = 0
    for line in stderr_text.splitlines():
        if "METRIC: " not in line:
            continue
        try:
            point = json.loads(line.split("METRIC: ", 1)[1])
        except ValueError:
            continue
        if point.get("type") != "counter":
            continue
        if point.get("metric") == "record_count":
            stream = point.get("tags", {}).get("stream", "?")
            records[stream] = records.get(stream, 0) + int(point["value"])
        elif point.get("metric") == "http_request_count":
            requests_count += int(point["value"])
    return records, requests_count


def machine() -> str:
    """Describe the machine: cores, Python, platform, load average at the end of the run."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores (os.cpu_count()), Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.platform()}; load average "
        f"{load} (1, 5, 15 min) when the run ended"
    )
