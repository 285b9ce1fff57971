"""The Singer SDK's standard tap and stream tests, against the local emulator."""

from __future__ import annotations

import atexit

import pytest
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


# An attribute with no value in the emulator's records is information, as in pyproject.toml.
pytestmark = pytest.mark.filterwarnings("default:No records were available to test.:UserWarning")


@pytest.fixture(autouse=True)
def _each_attribute_test_reads_its_own_values(request: pytest.FixtureRequest) -> None:
    """The SDK shares one instance of each attribute test among all its parameters, and caches
    the values it checks (`non_null_attribute_values`) on it: without this, every parameter
    would check the values of whichever parameter ran first (under random order, maybe none)."""
    for name in dir(TestTapPipedrive):
        if name.startswith("test_tap_stream_attribute_"):
            vars(getattr(TestTapPipedrive, name).__self__).pop("non_null_attribute_values", None)
    params = getattr(request.node, "callspec", None)
    if params is None or "attribute_name" not in params.params:
        return
    stream, name = params.params["stream"], params.params["attribute_name"]
    types = stream.schema["properties"][name].get("type", [])
    if len([kind for kind in types if kind != "null"]) > 1:
        # A `json` custom field holds any JSON value: one type's test cannot apply to it.
        pytest.skip(f"{stream.name}.{name} may hold any of {types}")
