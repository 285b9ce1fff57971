"""The per-item streams' failure paths through the real command line: a refused one is one
warning and the run goes on; one that keeps failing is one error line, exit 1, and the lists it
hangs off are emitted whole."""

from __future__ import annotations

import pytest

from tests.conftest import TOKEN
from tests.emulator import Emulator
from tests.singer_run import cli_files, ids, parse_messages, run_cli

#: Per-item stream -> (the list it hangs off, the path prefix of its calls).
PER_ITEM = {
    "person_changes": ("persons", "/v1/persons/"),
    "organization_changes": ("organizations", "/v1/organizations/"),
    "product_variations": ("products", "/api/v2/products/"),
    "deal_participants": ("deals", "/v1/deals/"),
}


def listed(emu: Emulator, parent: str) -> set:
    """What the parent stream emits: its list (deals: deleted ones too, and the archive)."""
    if parent == "deals":
        return emu.ids("deals", include_deleted=True) | emu.ids("deals", archived=True)
    return emu.ids(parent)


@pytest.mark.parametrize("stream", PER_ITEM)
def test_a_refused_per_item_stream_is_one_warning_and_the_list_is_whole(tmp_path, stream):
    parent, prefix = PER_ITEM[stream]
    with Emulator(seed=12, scale=120, api_token=TOKEN, gated={prefix: 402}) as emu:
        result = run_cli(*cli_files(tmp_path, emu, [parent, stream], max_concurrency=1))
        refused = [r.path for r in emu.requests if r.path.startswith(prefix) and r.status == 402]
        expected = listed(emu, parent)
    stderr = result.stderr.decode()
    assert result.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert stderr.count(f"Stream '{stream}' skipped: Pipedrive refuses it") == 1
    assert len(refused) == 1  # asked once, then skipped
    assert ids(parse_messages(result.stdout), parent) == expected
    assert ids(parse_messages(result.stdout), stream) == set()


@pytest.mark.parametrize("stream", PER_ITEM)
def test_a_per_item_stream_that_keeps_failing_is_one_error_line_and_exit_1(tmp_path, stream):
    parent, prefix = PER_ITEM[stream]
    with Emulator(seed=12, scale=120, api_token=TOKEN) as emu:
        emu.inject(prefix, "status", status=503, times=-1)
        files = cli_files(tmp_path, emu, [parent, stream], retry_patience_seconds=1)
        result = run_cli(*files, quick_retries=True)
        failed = {r.status for r in emu.requests if r.path.startswith(prefix)}
        expected = listed(emu, parent)
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert failed == {503}
    errors = [line for line in stderr.splitlines() if "| ERROR" in line]
    assert [line for line in errors if "stream(s) failed" in line] == [errors[-1]]
    assert "1 stream(s) failed; the others synced" in errors[-1]
    assert f"'{stream}': Pipedrive answered 503" in errors[-1]
    assert ids(parse_messages(result.stdout), parent) == expected
    assert parse_messages(result.stdout)[-1]["type"] == "STATE"
