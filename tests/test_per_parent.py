"""Streams read per row of a small list: project phases per board, assignments per role and per
permission set. Each is one full table: exact rows, one activation after every parent, and a
refused, gone or budget-stopped parent loses nothing."""

from __future__ import annotations

import pytest

from tests.conftest import TOKEN, config_for
from tests.emulator import Emulator
from tests.emulator.assignments import every_assignment
from tests.singer_run import cli_files, parse_messages, records, run_cli, states, sync
from tests.test_emulator import TOKEN as EMULATOR_TOKEN
from tests.test_emulator import call

ASSIGNMENTS = {
    "role_assignments": ("role_id", "user_id"),
    "permission_set_assignments": ("permission_set_id", "user_id"),
}
PARENTS = ("boards", "phases", "roles", "role_assignments")
PARENTS += ("permission_sets", "permission_set_assignments")


def keys(records: list[dict], stream: str) -> list[tuple]:
    return [tuple(record[k] for k in ASSIGNMENTS[stream]) for record in records]


def emulators_keys(emu: Emulator, stream: str) -> set[tuple]:
    return set(keys(every_assignment(emu.data, stream), stream))


@pytest.fixture(scope="module")
def synced(emulator):
    return sync(config_for(emulator), streams=PARENTS, log=emulator)


def test_boards_are_the_emulators(synced, emulator):
    assert synced.ids("boards") == emulator.all_ids("boards") == {1, 2, 3}


def test_phases_are_every_boards_phases(synced, emulator):
    phases = {record["id"]: record["board_id"] for record in synced.records("phases")}
    assert phases == {p["id"]: p["board_id"] for p in emulator.records("phases")}
    assert phases == {1: 1, 2: 1, 3: 1, 4: 2, 5: 2, 6: 2, 7: 2}  # board 3 has none


def test_phases_are_read_with_one_call_per_board(synced):
    calls = [r.query["board_id"] for r in synced.requests if r.path == "/api/v2/phases"]
    assert sorted(calls) == ["1", "2", "3"]


@pytest.mark.parametrize("stream", ASSIGNMENTS)
def test_assignments_are_the_emulators_once_each(synced, emulator, stream):
    found = keys(synced.records(stream), stream)
    assert len(found) == len(set(found))
    assert set(found) == emulators_keys(emulator, stream)


def test_every_user_holds_exactly_one_role(synced, emulator):
    users = [record["user_id"] for record in synced.records("role_assignments")]
    assert sorted(users) == sorted(emulator.all_ids("users"))


def test_assignment_rows_carry_their_parents_name(synced, emulator):
    rows = synced.records("permission_set_assignments")
    expected = every_assignment(emulator.data, "permission_set_assignments")
    assert {(r["permission_set_id"], r["name"]) for r in rows} == {
        (a["permission_set_id"], a["name"]) for a in expected
    }
    assert len({r["name"] for r in rows}) == 5  # the campaigns set has nobody


@pytest.mark.parametrize("stream", ["phases", *ASSIGNMENTS])
def test_a_child_is_activated_once_after_all_its_rows(synced, stream):
    kinds = [m["type"] for m in synced.messages if m.get("stream") == stream]
    assert kinds.count("ACTIVATE_VERSION") == 1
    assert kinds.count("SCHEMA") == 1
    assert kinds[-1] == "ACTIVATE_VERSION"


def run_account(emu: Emulator, tmp_path, streams=PARENTS, **settings):
    """Run the CLI on these streams; return (exit code, stderr, messages)."""
    files = cli_files(tmp_path, emu, streams, **settings)
    emu.clear_log()
    result = run_cli(*files)
    return result.returncode, result.stderr.decode(), parse_messages(result.stdout)


def test_a_refused_parent_skips_its_children_and_the_rest_syncs(tmp_path):
    with Emulator(seed=4, scale=100, api_token=TOKEN, gated={"/v1/permissionSets": 403}) as emu:
        code, stderr, messages = run_account(emu, tmp_path)
        roles = emulators_keys(emu, "role_assignments")
    assert code == 0, stderr
    assert "Traceback" not in stderr
    skipped = [
        line for line in stderr.splitlines() if "'permission_set_assignments' skipped" in line
    ]
    assert len(skipped) == 1
    assert skipped[0].endswith(
        "Stream 'permission_set_assignments' skipped: it is read per row of 'permission_sets', "
        "which was not read."
    )
    assert records(messages, "permission_sets") == []
    assert records(messages, "permission_set_assignments") == []
    assert not [m for m in messages if m.get("stream") == "permission_set_assignments"]
    assert set(keys(records(messages, "role_assignments"), "role_assignments")) == roles


def test_a_refused_child_is_skipped_and_its_parent_syncs(tmp_path):
    with Emulator(seed=4, scale=100, api_token=TOKEN, gated={"/v1/permissionSets/": 403}) as emu:
        code, stderr, messages = run_account(emu, tmp_path)
        sets = emu.all_ids("permissionSets")
    assert code == 0, stderr
    assert stderr.count("Stream 'permission_set_assignments' skipped: Pipedrive refuses it") == 1
    assert {r["id"] for r in records(messages, "permission_sets")} == sets
    assert records(messages, "permission_set_assignments") == []
    activated = {m["stream"] for m in messages if m["type"] == "ACTIVATE_VERSION"}
    assert "permission_set_assignments" not in activated
    assert "permission_sets" in activated
    state = states(messages)[-1]
    assert "refused" in state["bookmarks"]["permission_set_assignments"]


def test_a_role_deleted_after_the_list_was_read_has_no_rows_and_fails_nothing(tmp_path):
    with Emulator(seed=4, scale=100, api_token=TOKEN) as emu:

        def delete_role_2(entry):
            if entry.path == "/v1/roles" and emu.all_ids("roles") == {1, 2, 3, 4, 5}:
                emu.delete("roles", [2])

        emu.on_request(delete_role_2)
        code, stderr, messages = run_account(emu, tmp_path, ["roles", "role_assignments"])
        emu.on_request(None)
        statuses = {r.path: r.status for r in emu.requests}
        remaining = emulators_keys(emu, "role_assignments")
    assert code == 0, stderr
    assert statuses["/v1/roles/2/assignments"] == 404
    assert {r["id"] for r in records(messages, "roles")} == {1, 2, 3, 4, 5}
    found = keys(records(messages, "role_assignments"), "role_assignments")
    assert set(found) == remaining
    assert {role for role, _ in found} == {1, 3, 4}  # role 5 has nobody
    activated = [m["stream"] for m in messages if m["type"] == "ACTIVATE_VERSION"]
    assert activated.count("role_assignments") == 1


def test_a_token_limit_between_roles_keeps_the_rows_read_and_activates_nothing(tmp_path):
    with Emulator(seed=4, scale=100, api_token=TOKEN) as emu:
        # The roles list (20 tokens) and two roles' assignments (10 each) fit; the third not.
        code, stderr, messages = run_account(
            emu, tmp_path, ["roles", "role_assignments"], max_tokens_per_run=40, max_concurrency=1
        )
        served = [r.path for r in emu.requests if r.status == 200]
        expected = {key for key in emulators_keys(emu, "role_assignments") if key[0] in (1, 2)}
    assert code == 0, stderr
    assert served == ["/v1/roles", "/v1/roles/1/assignments", "/v1/roles/2/assignments"]
    assert set(keys(records(messages, "role_assignments"), "role_assignments")) == expected
    activated = {m["stream"] for m in messages if m["type"] == "ACTIVATE_VERSION"}
    assert activated == {"roles"}


# --- the emulator's endpoints --------------------------------------------------------------


def test_phases_of_a_board_not_there_answer_404(emulator):
    with pytest.raises(ValueError, match="Board not found"):
        emulator.ids("phases", board_id=99)


def test_small_lists_and_their_per_row_calls_come_before_the_per_deal_calls(tmp_path):
    with Emulator(seed=4, scale=100, api_token=TOKEN) as emu:
        code, stderr, _ = run_account(emu, tmp_path, ["dealflow", "roles", "role_assignments"])
        paths = [r.path for r in emu.requests]
    assert code == 0, stderr
    last_role_call = max(i for i, path in enumerate(paths) if path.startswith("/v1/roles"))
    first_flow_call = min(i for i, path in enumerate(paths) if path.endswith("/flow"))
    assert last_role_call < first_flow_call


# --- the emulator's endpoints --------------------------------------------------------------


@pytest.fixture
def emu():
    with Emulator(seed=4, scale=100, api_token=EMULATOR_TOKEN) as emulator:
        yield emulator


def test_assignments_page_by_start_and_limit(emu):
    regular = emu.records("permissionSets")[1]["id"]
    path = f"/v1/permissionSets/{regular}/assignments"
    pages = [call(emu, path, {"start": start, "limit": 4})[2] for start in (0, 4, 8)]
    whole = call(emu, path)[2]["data"]
    assert [row for page in pages for row in page["data"]] == whole
    assert len(whole) == 10  # every user but the two admins
    assert [p["additional_data"]["pagination"]["more_items_in_collection"] for p in pages] == [
        True,
        True,
        False,
    ]


def test_assignments_of_a_role_not_there_answer_404_and_cost_nothing(emu):
    emu.delete("roles", [2])
    statuses = [call(emu, f"/v1/roles/{role}/assignments")[0] for role in (2, 99)]
    assert statuses == [404, 404]
    assert call(emu, "/v1/permissionSets/not-a-set/assignments")[0] == 404
    assert emu.tokens_spent == 0


def test_phases_need_a_board_and_answer_404_for_one_not_there(emu):
    assert call(emu, "/api/v2/phases")[0] == 400
    assert call(emu, "/api/v2/phases", {"board_id": 99})[0] == 404
    status, _, body = call(emu, "/api/v2/phases", {"board_id": 3})
    assert (status, body["data"], body["additional_data"]) == (200, [], None)
