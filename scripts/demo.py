"""The main job on an embedded default: the tap against the local emulator, into target-jsonl.

Starts the Pipedrive emulator on 127.0.0.1, runs `tap-pipedrive | target-jsonl` twice (a full
sync, then an incremental one from the first run's state), and prints the tap's summary of the
full sync and records per stream. Output lands in `output/` (JSON lines per stream, the state
file, and each run's tap log, without the SDK's per-request METRIC lines: `metrics_log_level`).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "output"
TAP = ROOT / ".venv" / "bin" / "tap-pipedrive"
TARGET = ROOT / ".venv-targets" / "target-jsonl" / "bin" / "target-jsonl"
#: The tap's summary lines (see tap_pipedrive/progress.py): each stream's, then the run's.
SUMMARY = re.compile(r"Stream '[^']+' done: |Run spent ")
TOKEN = "demo-token"  # noqa: S105 (the emulator's credential, not a real one)


def start_emulator(scale: int) -> tuple[subprocess.Popen[str], str]:
    """Start the emulator in its own process; return it and its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.emulator", "--port", "0", "--scale", str(scale),
         "--seed", "1", "--token", TOKEN],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("READY "):
        process.kill()
        sys.exit(f"The emulator did not start (it said {line!r}).")
    return process, line.split(" ", 1)[1]


def run_pipeline(config: Path, state: Path | None, log: Path) -> tuple[dict[str, object], float]:
    """Run tap | target, the tap's log into `log`; return the target's last state, the time."""
    args = [str(TAP), "--config", str(config)]
    if state is not None:
        args += ["--state", str(state)]
    started = time.monotonic()
    with log.open("wb") as log_file:
        tap = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log_file)
        target = subprocess.run(
            [str(TARGET), "--config", str(OUTPUT / "target_config.json")],
            stdin=tap.stdout,
            capture_output=True,
            check=False,
        )
        tap.wait()
    if tap.returncode or target.returncode:
        sys.exit(f"tap exited {tap.returncode}, target exited {target.returncode} (see {log})")
    lines = [line for line in target.stdout.decode().splitlines() if line.strip()]
    return (json.loads(lines[-1]) if lines else {}), time.monotonic() - started


def summary(log: Path) -> list[str]:
    """The tap's own summary lines in its log: one per stream, then the run's tokens."""
    messages = [line.split(" | ")[-1] for line in log.read_text(encoding="utf-8").splitlines()]
    return [message for message in messages if SUMMARY.match(message)]


def count_lines(path: Path) -> int:
    """Records in one JSON lines file."""
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def main() -> None:
    """Run the demo and print a summary."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=int, default=2000, help="deals in the emulator")
    args = parser.parse_args()

    shutil.rmtree(OUTPUT, ignore_errors=True)
    OUTPUT.mkdir()
    (OUTPUT / "target_config.json").write_text(
        json.dumps({"destination_path": str(OUTPUT), "do_timestamp_file": False})
    )
    emulator, url = start_emulator(args.scale)
    try:
        config = OUTPUT / "tap_config.json"
        # The SDK logs a METRIC line per request; at WARNING they leave the tap's own summary.
        settings = {"api_token": TOKEN, "api_url": url, "metrics_log_level": "WARNING"}
        config.write_text(json.dumps(settings))
        state, seconds = run_pipeline(config, state=None, log=OUTPUT / "tap-full.log")
        state_file = OUTPUT / "state.json"
        state_file.write_text(json.dumps(state, indent=2))
        counts = {p.stem: count_lines(p) for p in sorted(OUTPUT.glob("*.jsonl"))}
        _, again = run_pipeline(config, state=state_file, log=OUTPUT / "tap-incremental.log")
        rerun = {p.stem: count_lines(p) - counts.get(p.stem, 0) for p in OUTPUT.glob("*.jsonl")}
    finally:
        emulator.terminate()
        emulator.wait()

    width = max(map(len, counts), default=6)
    print(f"tap-pipedrive -> target-jsonl against the local emulator ({args.scale} deals)")
    print("The tap's summary of the full sync (its whole log: output/tap-full.log):")
    for line in summary(OUTPUT / "tap-full.log"):
        print(f"  {line}")
    print()
    print(f"{'stream':<{width}}  {'records':>8}  {'incremental rerun':>17}")
    for stream, count in counts.items():
        print(f"{stream:<{width}}  {count:>8}  {rerun.get(stream, 0):>17}")
    print(f"{'total':<{width}}  {sum(counts.values()):>8}  {sum(rerun.values()):>17}")
    print(f"full sync {seconds:.1f}s, incremental rerun {again:.1f}s; files and state in {OUTPUT}")


if __name__ == "__main__":
    main()
