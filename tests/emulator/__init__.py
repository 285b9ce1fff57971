"""A local Pipedrive API emulator for the tap's tests, benchmarks and demo.

    from tests.emulator import Emulator
    with Emulator(seed=1, scale=50) as emu:
        ...  # emu.url, emu.requests, emu.touch(...), ...

It serves the v2/v1 list endpoints the tap reads, with deterministic data, Pipedrive's
pagination, auth (API token or OAuth), rate limits and token costs taken from the official
OpenAPI specs (through `operations.json`, see `spec`); plan gates (`gated=`, `gate`) and
scheduled faults (`inject`, see `faults`) make it fail on purpose.
"""

from tests.emulator.server import DATASET_NOW, Emulator, RequestLog

__all__ = ["DATASET_NOW", "Emulator", "RequestLog"]
