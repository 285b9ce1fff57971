"""The Singer SDK's standard tap and stream tests, against the local emulator."""

from __future__ import annotations

import atexit

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_pipedrive.streams import STREAM_TYPES
from tap_pipedrive.tap import TapPipedrive
from tests.conftest import TOKEN
from tests.emulator import Emulator
from tests.singer_run import discover, select

# The standard suite is built at import time, so its emulator starts with the module.
_EMULATOR = Emulator(seed=3, scale=600, api_token=TOKEN).start()
atexit.register(_EMULATOR.stop)

_CONFIG = {"api_token": TOKEN, "api_url": _EMULATOR.url, "start_date": "2023-01-01T00:00:00Z"}

TestTapPipedrive = get_tap_test_class(
    tap_class=TapPipedrive,
    config=_CONFIG,
    # Every stream selected: the SDK's sync forces the streams off by default on, but compares
    # their records with the catalog's selected properties (none for an unselected stream).
    catalog=select(discover(_CONFIG), [stream.name for stream in STREAM_TYPES]),
    # deleted_records is off by default (it costs tokens): the standard sync leaves it out.
    suite_config=SuiteConfig(
        max_records_limit=None, ignore_no_records_for_streams=["deleted_records"]
    ),
)
