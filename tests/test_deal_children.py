"""Deal products, installments and flow follow the deals updated since their own watermark."""

from __future__ import annotations

import json
import math
import typing as t

import pytest

from tests.conftest import TOKEN, a_moment_ago, config_for
from tests.emulator import Emulator
from tests.emulator.server import RequestLog
from tests.expected import changes, flow_ids
from tests.singer_run import SyncResult, sync

CHILDREN = ["deal_products", "deal_installments", "dealflow"]
FLOW = "/v1/deals/{}/flow"


def live_deals(emulator) -> list[dict]:
    return [d for d in emulator.records("deals") if not d["is_deleted"] and not d["is_archived"]]


def archived_deals(emulator) -> list[dict]:
    return [d for d in emulator.records("deals") if d["is_archived"] and not d["is_deleted"]]


def at_each_bookmark(deals: list[dict]) -> set[int]:
    """The deals of each list (live, archived) updated in that list's last second: a next run
    reads them again (at-least-once)."""
    ids: set[int] = set()
    for archived in (False, True):
        listed = [d for d in deals if d["is_archived"] is archived]
        last = max(d["update_time"] for d in listed)
        ids |= {d["id"] for d in listed if d["update_time"] == last}
    return ids


def flow_requests(requests: list[RequestLog]) -> list[int]:
    """The deal of each flow request."""
    return [
        int(r.path.split("/")[3])
        for r in requests
        if r.path.startswith("/v1/deals/") and r.path.endswith("/flow")
    ]


@pytest.fixture(scope="module")
def children_sync(emulator) -> SyncResult:
    """Deals and children; `.requests`: its own (later tests add to the shared log)."""
    return sync(config_for(emulator), streams=["deals", *CHILDREN], log=emulator)


def test_deal_products_take_one_call_per_100_deals(children_sync, emulator):
    calls = [r for r in children_sync.requests if r.path == "/api/v2/deals/products"]
    expected = math.ceil(len(live_deals(emulator)) / 100)
    expected += math.ceil(len(archived_deals(emulator)) / 100)
    assert len(calls) == expected
    assert all(len(r.query["deal_ids"].split(",")) <= 100 for r in calls)


def test_the_deals_list_is_read_once_for_all_child_streams(children_sync, emulator):
    pages = [r for r in children_sync.requests if r.path == "/api/v2/deals"]
    listed = len([d for d in emulator.records("deals") if not d["is_archived"]])
    assert len(pages) == math.ceil(listed / 500)
    assert len([r for r in children_sync.requests if r.path == "/api/v2/deals/archived"]) == 1


def test_dealflow_holds_every_change_of_every_deal_not_deleted(children_sync, emulator):
    deals = [d["id"] for d in live_deals(emulator) + archived_deals(emulator)]
    assert children_sync.ids("dealflow") == flow_ids(emulator, deals)
    assert len(children_sync.records("dealflow")) == len(children_sync.ids("dealflow"))
    assert sorted(flow_requests(children_sync.requests)) == sorted(deals)


def test_the_flow_is_asked_for_every_field_change_only(children_sync):
    calls = [r for r in children_sync.requests if r.path.endswith("/flow")]
    assert calls
    assert {(r.query.get("items"), r.query.get("all_changes")) for r in calls} == {
        ("dealChange", "1")
    }


def test_a_deal_change_is_a_row_keyed_by_its_integer_id(children_sync, emulator):
    deal = live_deals(emulator)[0]["id"]
    expected = {
        c["id"]: {
            "id": c["id"],
            "deal_id": deal,
            "log_time": c["log_time"],
            "item_id": c["item_id"],
            "user_id": c["user_id"],
            "field_key": c["field_key"],
            "old_value": c["old_value"],
            "new_value": c["new_value"],
            "is_bulk_update_flag": c["is_bulk_update_flag"],
            "change_source": c["change_source"],
            "change_source_user_agent": c["change_source_user_agent"],
            "additional_data": None,
        }
        for c in changes(emulator, [deal])
    }
    rows = {
        r["id"]: {
            **r,
            "old_value": read_back(r["old_value"]),
            "new_value": read_back(r["new_value"]),
        }
        for r in children_sync.records("dealflow")
        if r["deal_id"] == deal
    }
    assert rows == expected
    assert all(type(key) is int for key in children_sync.ids("dealflow"))


def read_back(text: str | None) -> t.Any:
    """A value column as README.md ("History") documents it: text, numbers as written, lists
    and objects as JSON (and booleans as JSON's true/false): decoded where it is JSON, else the
    string itself."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def typed(value: t.Any) -> tuple[str, str]:
    """A value with its JSON type (1 == True in Python; "1" and 1 differ in a column)."""
    return type(value).__name__, json.dumps(value, sort_keys=True)


def test_change_values_of_every_json_type_are_text_as_documented(children_sync, emulator):
    deals = [d["id"] for d in live_deals(emulator) + archived_deals(emulator)]
    sent = {c["id"]: c for c in changes(emulator, deals)}
    rows = children_sync.records("dealflow")
    kinds = {
        type(c[column]).__name__ for c in sent.values() for column in ("old_value", "new_value")
    }
    assert kinds == {"str", "int", "float", "bool", "NoneType", "list", "dict"}
    for column in ("old_value", "new_value"):
        assert all(isinstance(r[column], (str, type(None))) for r in rows)
        # A string stays as it is (even one that reads as JSON); anything else is its JSON.
        assert {
            r["id"]: typed(
                r[column] if isinstance(sent[r["id"]][column], str) else read_back(r[column])
            )
            for r in rows
        } == {r["id"]: typed(sent[r["id"]][column]) for r in rows}
    booleans = {
        (c[column], r[column])
        for r in rows
        for c in [sent[r["id"]]]
        for column in ("old_value", "new_value")
        if isinstance(c[column], bool)
    }
    assert booleans == {(True, "true"), (False, "false")}


def test_a_first_run_emits_no_change_older_than_start_date(emulator):
    deals = [d["id"] for d in live_deals(emulator) + archived_deals(emulator)]
    times = sorted(c["log_time"] for c in changes(emulator, deals))
    start = times[len(times) // 2]
    result = sync(config_for(emulator, start_date=start), streams=["deals", "dealflow"])
    assert result.ids("dealflow") == flow_ids(emulator, deals, since=start)
    assert flow_ids(emulator, deals) - result.ids("dealflow")


def test_deal_products_and_installments_are_those_of_the_deals(children_sync, emulator):
    deals = {d["id"] for d in live_deals(emulator) + archived_deals(emulator)}
    for stream in ("deal_products", "deal_installments"):
        expected = {r["id"] for r in emulator.records(stream) if r["deal_id"] in deals}
        assert children_sync.ids(stream) == expected, stream


def test_an_incremental_run_reads_flows_only_of_the_deals_updated_since(fresh_emulator):
    first = sync(config_for(fresh_emulator), streams=["deals", *CHILDREN])
    rereads = at_each_bookmark(fresh_emulator.records("deals"))
    updated = sorted(d["id"] for d in live_deals(fresh_emulator))[:5]
    moment = a_moment_ago(fresh_emulator)
    fresh_emulator.touch("deals", updated, when=moment)
    fresh_emulator.clear_log()
    second = sync(config_for(fresh_emulator), state=first.final_state, streams=["deals", *CHILDREN])
    # The updated deals, plus the ones sharing the previous bookmark's second (at-least-once).
    assert second.ids("deals") == set(updated) | rereads
    deleted = {d["id"] for d in fresh_emulator.records("deals") if d["is_deleted"]}
    assert set(flow_requests(fresh_emulator.requests)) == (set(updated) | rereads) - deleted


def test_an_incremental_run_emits_the_changes_since_the_previous_runs_deals_window(
    fresh_emulator,
):
    deals = live_deals(fresh_emulator) + archived_deals(fresh_emulator)
    times = sorted(d["update_time"] for d in deals)
    start = times[len(times) // 2]  # the first run's deals window starts here
    config = config_for(fresh_emulator, start_date=start)
    first = sync(config, streams=["deals", "dealflow"])
    window = [d for d in fresh_emulator.records("deals") if d["update_time"] >= start]
    rereads = at_each_bookmark(window)
    updated = sorted(d["id"] for d in live_deals(fresh_emulator))[:5]
    moment = a_moment_ago(fresh_emulator)
    fresh_emulator.touch("deals", updated, when=moment)
    second = sync(config, state=first.final_state, streams=["deals", "dealflow"])
    alive = {d["id"] for d in deals}
    read = (set(updated) | rereads) & alive
    assert second.ids("deals") == set(updated) | rereads
    title_changes = {
        c["id"]
        for c in changes(fresh_emulator, updated)
        if c["log_time"] == moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    }
    assert len(title_changes) == len(updated)
    # Not only those after the `log_time` bookmark: a deal that the previous run could not read
    # (updated meanwhile, or left due) has older changes that were never emitted.
    assert second.ids("dealflow") == flow_ids(fresh_emulator, read, since=start)
    assert title_changes <= second.ids("dealflow")
    assert min(r["log_time"] for r in second.records("dealflow")) >= start


def test_the_next_run_filters_at_this_runs_deals_window_start(fresh_emulator):
    start = "2024-06-01T00:00:00Z"
    first = sync(config_for(fresh_emulator, start_date=start), streams=["deals", "dealflow"])
    state = first.final_state["bookmarks"]["dealflow"]
    assert state["changes_since"] == {"live": start, "archived": start}
    second = sync(
        config_for(fresh_emulator, start_date=start),
        state=first.final_state,
        streams=["deals", "dealflow"],
    )
    assert (
        second.final_state["bookmarks"]["dealflow"]["changes_since"] == state["deals_updated_since"]
    )


def test_children_follow_updated_deals_when_deals_is_not_selected(fresh_emulator):
    first = sync(config_for(fresh_emulator), streams=["deal_products"])
    assert "deals" not in first.streams()
    live_list = [d for d in fresh_emulator.records("deals") if not d["is_archived"]]
    rereads = at_each_bookmark(live_list + archived_deals(fresh_emulator)) & {
        d["id"] for d in live_list
    }
    product = fresh_emulator.records("deal_products")[0]
    moment = a_moment_ago(fresh_emulator)
    fresh_emulator.touch("deals", [product["deal_id"]], when=moment)
    fresh_emulator.clear_log()
    second = sync(config_for(fresh_emulator), state=first.final_state, streams=["deal_products"])
    assert product["id"] in second.ids("deal_products")
    calls = [r for r in fresh_emulator.requests if r.path == "/api/v2/deals/products"]
    # One call per deals list (live, archived): the updated deal and each bookmark's second.
    assert len(calls) == 2
    asked = {int(deal) for deal in calls[0].query["deal_ids"].split(",")}
    assert asked == {product["deal_id"]} | rereads


def test_a_null_flow_body_is_retried(fresh_emulator, quick_retries):
    deals = sorted(d["id"] for d in live_deals(fresh_emulator))
    fresh_emulator.inject(FLOW.format(deals[0]), "null_body", times=2)
    faulty = sync(config_for(fresh_emulator), streams=["deals", "dealflow"])
    everything = deals + [d["id"] for d in archived_deals(fresh_emulator)]
    assert faulty.ids("dealflow") == flow_ids(fresh_emulator, everything)


def test_a_one_off_404_on_a_deals_flow_is_retried(fresh_emulator):
    deals = sorted(d["id"] for d in live_deals(fresh_emulator))
    fresh_emulator.inject(FLOW.format(deals[3]), "not_found")
    result = sync(config_for(fresh_emulator), streams=["deals", "dealflow"])
    everything = deals + [d["id"] for d in archived_deals(fresh_emulator)]
    assert result.ids("dealflow") == flow_ids(fresh_emulator, everything)


def test_a_deal_whose_flow_answers_404_twice_stays_due_for_the_next_run(fresh_emulator, caplog):
    deals = sorted(d["id"] for d in live_deals(fresh_emulator))
    fresh_emulator.inject(FLOW.format(deals[3]), "not_found", times=2)
    first = sync(config_for(fresh_emulator), streams=["deals", "dealflow"])
    assert f"1 deal(s) answered 404 twice and stay due for the next run: {deals[3]}" in caplog.text
    assert not flow_ids(fresh_emulator, [deals[3]]) & first.ids("dealflow")
    config = config_for(fresh_emulator)
    second = sync(config, state=first.final_state, streams=["deals", "dealflow"])
    everything = deals + [d["id"] for d in archived_deals(fresh_emulator)]
    assert first.ids("dealflow") | second.ids("dealflow") == flow_ids(fresh_emulator, everything)


def test_a_refused_child_stream_does_not_pin_the_deals_read(tmp_path):
    with Emulator(
        seed=12, scale=600, api_token=TOKEN, gated={"/api/v2/deals/installments": 402}
    ) as emu:
        streams = ["deals", "deal_products", "deal_installments"]
        first = sync(config_for(emu), streams=streams)
        assert not first.records("deal_installments")
        emu.clear_log()
        second = sync(config_for(emu), state=first.final_state, streams=streams)
        assert second.ids("deals") == at_each_bookmark(emu.records("deals"))


def test_a_stream_map_filter_on_deals_keeps_their_children(emulator):
    config = config_for(emulator, stream_maps={"deals": {"__filter__": "record['id'] % 100 != 0"}})
    result = sync(config, streams=["deals", "deal_products"])
    assert 100 not in result.ids("deals")
    deals = {d["id"] for d in live_deals(emulator) + archived_deals(emulator)}
    expected = {r["id"] for r in emulator.records("deal_products") if r["deal_id"] in deals}
    assert result.ids("deal_products") == expected
