"""Run the emulator: `python -m tests.emulator --port 0 --seed 1 --scale 50000`.

Prints one line, `READY http://127.0.0.1:PORT`, once listening; serves until SIGTERM or
SIGINT, then exits 0. Request logs go to stderr with --verbose.
"""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType

from tests.emulator.server import Emulator


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, serve until signalled, return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m tests.emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scale", type=int, default=1000, help="number of deals")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="sleep per request")
    parser.add_argument("--token", default="test-token", help="the accepted x-api-token")
    parser.add_argument(
        "--burst-limit", type=int, default=1000, help="requests per token per rolling 2 s"
    )
    parser.add_argument("--daily-budget", type=int, default=10**9, help="tokens per day")
    parser.add_argument("--verbose", action="store_true", help="log requests to stderr")
    parser.add_argument(
        "--gate",
        action="append",
        default=[],
        metavar="PREFIX=STATUS",
        help="answer STATUS (402, 403) to paths starting with PREFIX; repeatable",
    )
    parser.add_argument("--oauth-client", metavar="ID:SECRET", help="enable OAuth with this client")
    parser.add_argument("--refresh-token", help="the refresh token OAuth accepts first")
    parser.add_argument("--access-token-ttl", type=int, default=3599, help="seconds")
    parser.add_argument(
        "--rotate-refresh-tokens", action="store_true", help="each refresh replaces it"
    )
    args = parser.parse_args(argv)
    gates = {}
    for gate in args.gate:
        prefix, _, status = gate.rpartition("=")
        if not prefix or not status.isdigit():
            parser.error(f"--gate wants PREFIX=STATUS, got {gate!r}")
        gates[prefix] = int(status)
    client = None
    if args.oauth_client:
        client_id, colon, secret = args.oauth_client.partition(":")
        if not colon or not args.refresh_token:
            parser.error("--oauth-client wants ID:SECRET, and --refresh-token with it")
        client = (client_id, secret)

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    emulator = Emulator(
        seed=args.seed,
        scale=args.scale,
        api_token=args.token,
        burst_limit=args.burst_limit,
        daily_budget=args.daily_budget,
        latency=args.latency_ms / 1000,
        host=args.host,
        port=args.port,
        verbose=args.verbose,
        gated=gates,
        oauth_client=client,
        refresh_token=args.refresh_token,
        access_token_ttl=args.access_token_ttl,
        rotate_refresh_tokens=args.rotate_refresh_tokens,
        # The demo's runs are separate processes, each with an emulator of its own: its
        # Pipedrive's clock is this machine's, so that one run's state suits the next one's.
        start=None,
    ).start()
    print(f"READY {emulator.url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
