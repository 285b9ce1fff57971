"""Streams from settings (`custom_streams`), through the real command line: the followers of
each organization (`/v1/organizations/{id}/followers`, read per parent) and the archived deals
(`/api/v2/deals/archived` with `updated_since`). Expected rows come from the emulator's data;
costs are the spec's (`x-token-cost`: organizations list 10, followers 20, archived deals 20)."""

from __future__ import annotations

import pytest

from tests.conftest import TOKEN, config_for
from tests.emulator import Emulator
from tests.emulator.per_parent import organization_followers
from tests.singer_run import (
    cli_files,
    discover,
    json_file,
    killed_run,
    parse_messages,
    record_of,
    records,
    run_cli,
    states,
)

FOLLOWERS = {
    "name": "organization_followers",
    "path": "/v1/organizations/{id}/followers",
    "parent": "organizations",
    "primary_keys": ["id"],
}
ARCHIVED = {
    "name": "archived_deals",
    "path": "/api/v2/deals/archived",
    "primary_keys": ["id"],
    "replication_key": "update_time",
    "replication_param": "updated_since",
}


@pytest.fixture(scope="module")
def small():
    with Emulator(seed=5, scale=80, api_token=TOKEN) as emu:
        yield emu


def files(tmp_path, emu: Emulator, streams: list[str], state: dict | None = None, **extra):
    """The command line's files, both custom streams in the config."""
    return cli_files(tmp_path, emu, streams, state, custom_streams=[FOLLOWERS, ARCHIVED], **extra)


def expected_followers(emu: Emulator, after: int = 0) -> set[int]:
    return {
        row["id"]
        for org in sorted(emu.all_ids("organizations"))
        if org > after
        for row in organization_followers(emu.data, org)
    }


def run(args: list[str], **options) -> tuple[list[dict], str]:
    result = run_cli(*args, **options)
    stderr = result.stderr.decode()
    assert result.returncode == 0, stderr
    return parse_messages(result.stdout), stderr


def test_discovery_lists_the_custom_streams_with_the_specs_shape(small):
    catalog = discover(config_for(small, custom_streams=[FOLLOWERS, ARCHIVED]))
    entries = {entry["tap_stream_id"]: entry for entry in catalog["streams"]}
    followers = entries["organization_followers"]["schema"]["properties"]
    assert sorted(followers) == ["add_time", "id", "org_id", "user_id"]  # the spec's item
    assert followers["add_time"] == {"type": ["string", "null"], "format": "date-time"}


def test_a_child_custom_stream_reads_every_parents_rows(small, tmp_path):
    args = files(tmp_path, small, ["organization_followers"])
    messages, _ = run(args)
    rows = records(messages, "organization_followers")
    assert {row["id"] for row in rows} == expected_followers(small)
    assert len(rows) == len(expected_followers(small))


def test_a_v2_custom_stream_reads_the_archived_deals_with_their_custom_fields(small, tmp_path):
    args = files(tmp_path, small, ["archived_deals"])
    messages, _ = run(args)
    rows = records(messages, "archived_deals")
    archived = {deal["id"] for deal in small.records("deals") if deal.get("is_archived")}
    assert archived
    assert {row["id"] for row in rows} == archived
    # Custom fields are columns named as for `deals` (keys), not a nested object.
    assert "custom_fields" not in rows[0]
    catalog = discover(config_for(small))["streams"]
    deals = next(e for e in catalog if e["tap_stream_id"] == "deals")["schema"]["properties"]
    schema = next(m for m in messages if m["type"] == "SCHEMA")["schema"]["properties"]
    custom = {name: column for name, column in deals.items() if len(name.split("_")[0]) == 40}
    assert custom
    assert {name: schema[name] for name in custom} == custom


def test_a_v2_custom_stream_resumes_from_its_bookmark(small, tmp_path):
    deals = sorted(
        (deal["update_time"], deal["id"]) for deal in small.records("deals")
        if deal.get("is_archived")
    )  # fmt: skip
    middle = deals[len(deals) // 2][0]
    state = {"bookmarks": {"archived_deals": {
        "replication_key": "update_time", "replication_key_value": middle,
    }}}  # fmt: skip
    args = files(tmp_path, small, ["archived_deals"], state=state)
    messages, _ = run(args)
    assert {row["id"] for row in records(messages, "archived_deals")} == {
        deal_id for moment, deal_id in deals if moment >= middle
    }
    sent = [r.query.get("updated_since") for r in small.requests if r.path.endswith("/archived")]
    assert sent[-1] == middle


def test_a_killed_child_custom_stream_resumes_after_the_last_parent_done(small, tmp_path):
    args = files(tmp_path, small, ["organization_followers"])
    killed = killed_run(args, record_of("organization_followers"), 5)
    state = states(killed)[-1]
    done = state["bookmarks"]["organization_followers"]["parents_done_through"]
    emitted = {row["id"] for row in records(killed, "organization_followers")}
    args = files(tmp_path, small, ["organization_followers"], state=state)
    messages, _ = run(args)
    again = {row["id"] for row in records(messages, "organization_followers")}
    assert again == expected_followers(small, after=done)
    assert emitted | again == expected_followers(small)
    # A resumed read did not see the parents done before: it retires nothing.
    assert not [m for m in messages if m["type"] == "ACTIVATE_VERSION"]
    assert messages[-1]["value"]["bookmarks"]["organization_followers"] == {}


def test_the_summary_counts_a_child_custom_streams_calls_and_tokens(small, tmp_path):
    args = files(tmp_path, small, ["organization_followers"])
    _, stderr = run(args)
    organizations = len(small.all_ids("organizations"))
    rows = len(expected_followers(small))
    line = next(x for x in stderr.splitlines() if "Stream 'organization_followers' done" in x)
    calls, tokens = 1 + organizations, 10 + 20 * organizations
    assert f"done: {rows} records, {calls} requests, {tokens} tokens," in line
    assert f"Run spent {tokens} tokens in {calls} requests" in stderr


def test_a_budget_stop_keeps_the_parents_done_after_every_other_list(small, tmp_path):
    args = files(tmp_path, small, ["organization_followers", "persons"], max_tokens_per_run=200)
    small.clear_log()
    messages, _ = run(args)  # a budget stop is a clean stop: exit 0
    paths = [r.path for r in small.requests if "Fields" not in r.path]
    read = [int(p.split("/")[3]) for p in paths if p.endswith("/followers")]
    # Every other list first (persons), then the parents' list, then one call per parent.
    assert paths[: paths.index("/api/v2/organizations") + 1][-2:] == [
        "/api/v2/persons", "/api/v2/organizations",
    ]  # fmt: skip
    assert read == sorted(small.all_ids("organizations"))[: len(read)]
    assert 0 < len(read) < len(small.all_ids("organizations"))
    rows = {row["id"] for row in records(messages, "organization_followers")}
    assert rows == {row["id"] for org in read for row in organization_followers(small.data, org)}
    state = messages[-1]["value"]["bookmarks"]["organization_followers"]
    assert state == {"parents_done_through": read[-1]}


@pytest.fixture
def fresh():
    with Emulator(seed=5, scale=80, api_token=TOKEN) as emu:
        yield emu


def test_a_child_custom_stream_retries_a_server_error(fresh, tmp_path):
    fresh.inject("/v1/organizations/3/followers", "status", status=503)
    args = files(tmp_path, fresh, ["organization_followers"])
    messages, stderr = run(args, quick_retries=True)
    rows = [row["id"] for row in records(messages, "organization_followers")]
    assert sorted(rows) == sorted(expected_followers(fresh))
    calls = [r.path for r in fresh.requests if r.path == "/v1/organizations/3/followers"]
    assert len(calls) == 2
    retries = [x for x in stderr.splitlines() if "| WARNING " in x]
    assert len(retries) == 1
    assert retries[0].endswith("retrying in 0.0s (attempt 2)")


def test_a_refused_child_custom_stream_is_skipped_with_one_warning(fresh, tmp_path):
    fresh.inject("/v1/organizations/", "status", status=403, times=-1)
    args = files(tmp_path, fresh, ["organization_followers", "persons"])
    messages, stderr = run(args)
    assert records(messages, "organization_followers") == []
    assert {row["id"] for row in records(messages, "persons")} == fresh.all_ids("persons")
    skipped = [x for x in stderr.splitlines() if "Stream 'organization_followers' skipped" in x]
    assert len(skipped) == 1
    assert "Pipedrive refuses it (plan or permissions)" in skipped[0]


BAD = {
    "unknown path": (
        {**ARCHIVED, "path": "/api/v2/dealz"},
        "`custom_streams` entry 1 ('archived_deals'): /api/v2/dealz is not a GET list of "
        "Pipedrive's API spec (give its `schema` to read it)",
    ),
    "missing key": (
        {"name": "x", "path": "/api/v2/deals/archived"},
        "`custom_streams` entry 1 ('x'): missing `primary_keys`",
    ),
    "parent not a stream": (
        {**FOLLOWERS, "parent": "organisations"},
        "`custom_streams` entry 1 ('organization_followers'): `parent` 'organisations' is "
        "not a stream",
    ),
    "parent read per parent itself": (
        {**FOLLOWERS, "parent": "role_assignments"},
        "`custom_streams` entry 1 ('organization_followers'): `parent` 'role_assignments' is "
        "itself read per parent: choose a list",
    ),
    "placeholder without a parent": (
        {key: value for key, value in FOLLOWERS.items() if key != "parent"},
        "`custom_streams` entry 1 ('organization_followers'): /v1/organizations/{id}/followers "
        "has a placeholder: give the `parent` stream whose ids fill it",
    ),
    "replication key not in the schema": (
        {**ARCHIVED, "replication_key": "modified"},
        "`custom_streams` entry 1 ('archived_deals'): 'modified' is not a property of the "
        "stream's records",
    ),
    "unknown entry key": (
        {**ARCHIVED, "primary_key": ["id"]},
        "`custom_streams` entry 1 ('archived_deals'): unknown key `primary_key` (did you "
        "mean `primary_keys`?)",
    ),
}


@pytest.mark.parametrize(("entry", "fault"), BAD.values(), ids=BAD.keys())
def test_a_bad_entry_fails_at_start_up_in_one_line(small, tmp_path, entry, fault):
    config = json_file(tmp_path / "config.json", config_for(small, custom_streams=[entry]))
    small.clear_log()
    result = run_cli("--config", config, "--discover")
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    problems = [line for line in stderr.splitlines() if "| INFO " not in line]
    assert len(problems) == 1, stderr
    assert problems[0].endswith(f" | Invalid config: {fault}.")
    assert small.requests == []
    assert result.stdout == b""


def test_a_killed_v2_custom_stream_resumes_from_its_last_state(tmp_path):
    # 630 archived deals: two pages of 500, a STATE after the first.
    with Emulator(seed=5, scale=12000, api_token=TOKEN) as emu:
        archived = {deal["id"] for deal in emu.records("deals") if deal.get("is_archived")}
        args = files(tmp_path, emu, ["archived_deals"])
        killed = killed_run(
            args,
            lambda m: m["type"] == "STATE" and "archived_deals" in m["value"].get("bookmarks", {}),
            1,
        )
        state = states(killed)[-1]
        mark = state["bookmarks"]["archived_deals"]["replication_key_value"]
        emitted = {row["id"] for row in records(killed, "archived_deals")}
        args = files(tmp_path, emu, ["archived_deals"], state=state)
        messages, _ = run(args)
        from_mark = {
            deal["id"]
            for deal in emu.records("deals")
            if deal.get("is_archived") and deal["update_time"] >= mark
        }
    again = {row["id"] for row in records(messages, "archived_deals")}
    assert len(emitted) == 500
    assert again == from_mark
    assert emitted | again == archived
