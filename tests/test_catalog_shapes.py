"""A catalog selects streams and columns; the SCHEMA sent has the tap's shapes, so records fit it.

Through the real command line into target-jsonl, which validates every record against its
SCHEMA: a catalog written by the legacy singer-io tap, and a catalog pinned before a custom
field changed type.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import TOKEN, config_for, unavailable
from tests.emulator import Emulator
from tests.singer_run import discover, json_file, parse_messages, select, started_cli

ROOT = Path(__file__).resolve().parents[1]
TARGET_JSONL = ROOT / ".venv-targets" / "target-jsonl" / "bin" / "target-jsonl"
#: A user reference as the legacy tap's `deals.json` declares `creator_user_id`, `person_id`
#: and `org_id` (an object with the referenced record's `value`, its id, and other parts).
LEGACY_REFERENCE = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "value": {"type": "integer"}},
    "required": ["name", "value"],
}


def entry(catalog: dict, stream: str) -> dict:
    return next(s for s in catalog["streams"] if s["tap_stream_id"] == stream)


def into_jsonl(tmp_path: Path, config: dict, catalog: dict) -> tuple[str, int, int, dict]:
    """`tap-pipedrive | target-jsonl`: the tap's stderr, both exit codes, the records written."""
    output = tmp_path / "output"
    target_config = {"destination_path": str(output), "do_timestamp_file": False}
    args = [
        "--config", json_file(tmp_path / "config.json", config),
        "--catalog", json_file(tmp_path / "catalog.json", catalog),
    ]  # fmt: skip
    with (tmp_path / "tap.log").open("wb") as log, started_cli(*args, stderr=log) as tap:
        assert tap.stdout is not None
        target = subprocess.run(
            [str(TARGET_JSONL), "--config", json_file(tmp_path / "target.json", target_config)],
            stdin=tap.stdout,
            capture_output=True,
            timeout=300,
            check=False,
        )
        tap.stdout.close()
        tap.wait(timeout=60)
    records = {
        path.stem: parse_messages(path.read_bytes()) for path in sorted(output.glob("*.jsonl"))
    }
    return (tmp_path / "tap.log").read_text(), tap.returncode, target.returncode, records


@pytest.fixture(autouse=True)
def target_jsonl() -> None:
    if not TARGET_JSONL.exists():
        unavailable(f"target-jsonl is not installed at {TARGET_JSONL} (`make demo` installs it)")


def warnings(stderr: str) -> list[str]:
    """The messages of the WARNING lines on stderr (after the logger's prefix)."""
    return [line.split(" | ")[-1] for line in stderr.splitlines() if "WARNING" in line]


def test_a_catalog_with_the_legacy_taps_reference_objects_loads_with_one_warning(
    emulator, tmp_path
):
    catalog = select(discover(config_for(emulator)), ["deals"])
    for name in ("creator_user_id", "person_id", "org_id"):
        entry(catalog, "deals")["schema"]["properties"][name] = LEGACY_REFERENCE
    stderr, tap_exit, target_exit, records = into_jsonl(tmp_path, config_for(emulator), catalog)
    assert (tap_exit, target_exit) == (0, 0), stderr
    assert {deal["id"] for deal in records["deals"]} == emulator.all_ids("deals")
    assert warnings(stderr) == [
        "Stream 'deals': the catalog declares other shapes than the tap's for 3 properties, so "
        "the tap's are sent (the records have them): creator_user_id, org_id, person_id."
    ]


def test_a_custom_field_retyped_since_discovery_is_sent_with_its_new_type_and_one_warning(
    tmp_path,
):
    with Emulator(seed=3, scale=60, api_token=TOKEN) as emu:
        catalog = select(discover(config_for(emu)), ["persons"])
        code = emu.retype_field("persons", "Twitter handle", "double")
        expected = {p["id"]: p["custom_fields"][code] for p in emu.records("persons")}
        stderr, tap_exit, target_exit, records = into_jsonl(tmp_path, config_for(emu), catalog)
    assert (tap_exit, target_exit) == (0, 0), stderr
    assert {person["id"]: person[code] for person in records["persons"]} == expected
    assert any(isinstance(value, float) for value in expected.values())
    assert warnings(stderr) == [
        f"Stream 'persons': custom field 'Twitter handle' ({code}) changed type since the "
        "catalog was discovered, from string to number (Pipedrive type `double`): the SCHEMA "
        "sent has the new type. Run discovery again (`--discover`) to update the catalog."
    ]
