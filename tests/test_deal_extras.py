"""Per-deal streams (participants, mail messages, discounts): one call per deal read this run.

Expected rows come from the emulator's own data (`emu.data.extras`), never from the tap.
"""

from __future__ import annotations

import datetime
import re

import pytest

from tap_pipedrive.streams import deal_extras
from tests.conftest import TOKEN, a_moment_ago, config_for
from tests.emulator import Emulator
from tests.singer_run import (
    CliFiles,
    SyncResult,
    cli_files,
    discover,
    json_file,
    killed_run,
    parse_messages,
    record_of,
    records,
    run_cli,
    select,
    states,
    sync,
)

UTC = datetime.timezone.utc
ITEMS = ["deal_participants", "deal_mail_messages", "deal_discounts"]
CALL = re.compile(r"^/(?:v1|api/v2)/deals/(\d+)/(participants|mailMessages|discounts)$")
PARTICIPANTS = re.compile(r"^/v1/deals/(\d+)/participants$")


def alive(emu: Emulator) -> list[int]:
    """Every deal not deleted (live and archived), by id."""
    return sorted(d["id"] for d in emu.records("deals") if not d["is_deleted"])


def ids_for_deals(emu: Emulator, stream: str, deals: list[int]) -> set:
    """The ids of a stream's rows for these deals, as the emulator holds them."""
    extras = emu.data.extras
    with emu.data.lock:
        if stream == "deal_participants":
            return {row["id"] for deal in deals for row in extras.participants(deal)}
        if stream == "deal_mail_messages":
            return {item["data"]["id"] for deal in deals for item in extras.mail_messages(deal)}
        return {row["id"] for deal in deals for row in extras.discounts(deal)}


def calls(emu: Emulator | SyncResult, kind: str = "participants", ok: bool = True) -> list[int]:
    """The deals of the per-deal calls of one kind, in arrival order (answered 200 if `ok`)."""
    return [
        int(m.group(1))
        for r in emu.requests
        if (m := CALL.match(r.path)) and m.group(2) == kind and (r.status == 200 or not ok)
    ]


@pytest.fixture(scope="module")
def items_sync(emulator):
    return sync(config_for(emulator), streams=["deals", *ITEMS], log=emulator)


@pytest.mark.parametrize("stream", ITEMS)
def test_each_per_deal_stream_holds_the_rows_of_every_deal_not_deleted(
    items_sync, emulator, stream
):
    expected = ids_for_deals(emulator, stream, alive(emulator))
    assert expected
    assert items_sync.ids(stream) == expected
    assert len(items_sync.records(stream)) == len(expected)


@pytest.mark.parametrize("kind", ["participants", "mailMessages", "discounts"])
def test_each_deal_not_deleted_is_asked_once(items_sync, emulator, kind):
    assert sorted(calls(items_sync, kind)) == alive(emulator)


def test_a_participant_is_flattened_to_the_person_id_name_and_emails(items_sync, emulator):
    deal = next(d for d in alive(emulator) if emulator.data.extras.participants(d))
    raw = emulator.data.extras.participants(deal)[0]
    (row,) = [r for r in items_sync.records("deal_participants") if r["id"] == raw["id"]]
    assert row == {
        "id": raw["id"],
        "deal_id": deal,
        "person_id": raw["person_id"]["value"],
        "person_name": raw["person_id"]["name"],
        "person_email": raw["person_id"]["email"],
        "add_time": raw["add_time"].replace(" ", "T") + "Z",
        "active_flag": True,
        "added_by_user_id": raw["added_by_user_id"]["id"],
        "related_item_type": "deal",
        "related_item_id": deal,
    }


def test_a_mail_message_carries_its_deal_parties_and_boolean_flags(items_sync, emulator):
    deal = next(d for d in alive(emulator) if emulator.data.extras.mail_messages(d))
    raw = emulator.data.extras.mail_messages(deal)[0]["data"]
    (row,) = [r for r in items_sync.records("deal_mail_messages") if r["id"] == raw["id"]]
    assert row["deal_id"] == deal
    assert (row["from"], row["to"], row["subject"], row["snippet"]) == (
        raw["from"], raw["to"], raw["subject"], raw["snippet"],
    )  # fmt: skip
    assert row["message_time"] == raw["message_time"]
    assert row["read_flag"] is bool(raw["read_flag"])
    assert "body" not in row


def test_deal_mail_messages_is_off_by_default_and_the_others_on(emulator):
    catalog = discover(config_for(emulator))
    selected = {
        entry["tap_stream_id"]: item["metadata"].get("selected-by-default")
        for entry in catalog["streams"]
        for item in entry["metadata"]
        if item["breadcrumb"] == []
    }
    assert {name: selected[name] for name in ITEMS} == {
        "deal_participants": True,
        "deal_mail_messages": False,
        "deal_discounts": True,
    }


def test_mail_bodies_are_asked_for_only_with_mail_include_body(fresh_emulator):
    deals = alive(fresh_emulator)
    without = sync(config_for(fresh_emulator), streams=["deal_mail_messages"])
    assert {r.query.get("include_body") for r in fresh_emulator.requests if "mail" in r.path} == {
        None
    }
    assert all("body" not in row for row in without.records("deal_mail_messages"))
    fresh_emulator.clear_log()
    config = config_for(fresh_emulator, mail_include_body=True)
    with_body = sync(config, streams=["deal_mail_messages"])
    assert {r.query.get("include_body") for r in fresh_emulator.requests if "mail" in r.path} == {
        "1"
    }
    bodies = {
        item["data"]["id"]: item["data"]["body"]
        for deal in deals
        for item in fresh_emulator.data.extras.mail_messages(deal, include_body=True)
    }
    assert {r["id"]: r["body"] for r in with_body.records("deal_mail_messages")} == bodies


def test_new_participants_mail_and_discounts_reach_the_next_run(fresh_emulator):
    first = sync(config_for(fresh_emulator), streams=["deals", *ITEMS])
    deal = alive(fresh_emulator)[0]
    when = int(a_moment_ago(fresh_emulator).timestamp())
    with fresh_emulator.data.lock:
        extras = fresh_emulator.data.extras
        participant = extras.add_participant(deal, 1, when)
        mail = extras.add_mail_message(deal, when)
        discount = extras.add_discount(deal, when)
    fresh_emulator.touch("deals", [deal], when=a_moment_ago(fresh_emulator))
    fresh_emulator.clear_log()
    second = sync(config_for(fresh_emulator), state=first.final_state, streams=["deals", *ITEMS])
    # The touched deal, and those sharing a bookmark's second (read again, at least once).
    read = sorted(d for d in second.ids("deals") if d in alive(fresh_emulator))
    assert deal in read
    assert sorted(calls(fresh_emulator)) == read
    for stream, new in zip(ITEMS, (participant, mail, discount), strict=True):
        assert new in second.ids(stream)
        assert second.ids(stream) == ids_for_deals(fresh_emulator, stream, read), stream


def test_a_deal_deleted_while_read_is_pending_once_then_dropped(fresh_emulator, caplog):
    deals = alive(fresh_emulator)
    live = [d for d in fresh_emulator.records("deals") if not d["is_deleted"]]
    first_batch = sorted((d["update_time"], d["id"]) for d in live if not d["is_archived"])[:100]
    gone = first_batch[50][1]

    def delete_after_the_deals_list(entry):
        if entry.path == "/api/v2/deals":  # its first page: the first batch's calls come next
            fresh_emulator.on_request(None)
            fresh_emulator.delete("deals", [gone], when=a_moment_ago(fresh_emulator))

    fresh_emulator.on_request(delete_after_the_deals_list)
    first = sync(config_for(fresh_emulator, max_concurrency=1), streams=["deal_participants"])
    assert first.final_state["bookmarks"]["deal_participants"]["pending"] == {"live": [gone]}
    assert f"deal {gone} not read, it is read first in the next run" in caplog.text
    assert first.ids("deal_participants") == ids_for_deals(
        fresh_emulator, "deal_participants", [d for d in deals if d != gone]
    )
    fresh_emulator.clear_log()
    second = sync(
        config_for(fresh_emulator), state=first.final_state, streams=["deal_participants"]
    )
    assert f"deal {gone} is gone (404 again)" in caplog.text
    assert "pending" not in second.final_state["bookmarks"]["deal_participants"]
    assert calls(fresh_emulator, ok=False)[:2] == [gone, gone]


def test_a_refused_per_deal_stream_is_skipped_and_recorded(tmp_path):
    with Emulator(seed=12, scale=60, api_token=TOKEN) as emu:
        for deal in emu.all_ids("deals"):
            emu.gate(f"/api/v2/deals/{deal}/discounts", 402)
        files = write_inputs(emu, tmp_path, ["deals", "deal_discounts"], max_concurrency=1)
        result = run_cli(*files)
        stderr = result.stderr.decode()
        assert result.returncode == 0, stderr
        assert "Traceback" not in stderr
        assert stderr.count("Stream 'deal_discounts' skipped: Pipedrive refuses it") == 1
        messages = parse_messages(result.stdout)
        deals = [m["record"] for m in messages if m["type"] == "RECORD"]
        assert {d["id"] for d in deals} == emu.all_ids("deals")
        state = states(messages)[-1]["bookmarks"]
        first = next(d["id"] for d in deals if not d["is_deleted"])
        assert state["deal_discounts"]["refused_deal_id"] == first
        assert state["deal_discounts"]["refused"].startswith("Pipedrive answered 402")
        assert calls(emu, "discounts", ok=False) == [first]


def write_inputs(emu: Emulator, tmp_path, streams, **settings) -> CliFiles:
    files = cli_files(tmp_path, emu, streams, **settings)
    emu.clear_log()  # discovery's requests are not the run's
    return files


def test_a_budget_stop_leaves_the_rest_pending_and_the_next_run_reads_it_first(tmp_path):
    with Emulator(seed=5, scale=60, api_token=TOKEN) as emu:
        # The deal custom fields (10 tokens), the live deals list (10), 20 participants calls:
        # the archived list (20) no longer fits.
        limit = 10 + 10 + 20 * 10
        files = write_inputs(
            emu, tmp_path, ["deals", "deal_participants"], max_tokens_per_run=limit,
            max_concurrency=1,
        )  # fmt: skip
        result = run_cli(*files)
        stderr = result.stderr.decode()
        assert result.returncode == 0, stderr
        assert emu.tokens_spent == limit
        assert stderr.count("max_tokens_per_run") == 1
        assert "/api/v2/deals/archived" not in {r.path for r in emu.requests}
        read = calls(emu)
        messages = parse_messages(result.stdout)
        # The live deals in the order the tap met them (ascending update_time).
        listed = records(messages, "deals")
        order = [d["id"] for d in listed if not d["is_deleted"]]
        assert read == order[:20]
        state = states(messages)[-1]
        pending = state["bookmarks"]["deal_participants"]["pending"]
        assert pending == {"live": order[20:]}
        (live_bookmark,) = [
            p["replication_key_value"]
            for p in state["bookmarks"]["deals"]["partitions"]
            if not p["context"]["is_archived"]
        ]

        state_file = json_file(tmp_path / "state.json", state)
        files = write_inputs(emu, tmp_path, ["deals", "deal_participants"], max_concurrency=1)
        resumed = run_cli(*files, "--state", state_file)
        assert resumed.returncode == 0, resumed.stderr.decode()
        paths = [r.path for r in emu.requests]
        second = calls(emu)
        # The pending deals first, before the deals list is read ...
        assert second[: len(pending["live"])] == pending["live"]
        assert (
            paths.index("/api/v2/deals") == paths.index(f"/v1/deals/{order[-1]}/participants") + 1
        )
        # ... which is read from where the first run's read ended, not again for them.
        updated_since = [
            r.query.get("updated_since") for r in emu.requests if r.path == "/api/v2/deals"
        ]
        assert updated_since == [live_bookmark]
        relisted = {
            d["id"] for d in listed if d["update_time"] == live_bookmark and not d["is_deleted"]
        }
        archived = {
            d["id"] for d in emu.records("deals") if d["is_archived"] and not d["is_deleted"]
        }
        assert second[len(pending["live"]) :] == sorted(relisted, key=order.index) + [
            d for d in second if d in archived
        ]
        assert set(second[len(pending["live"]) :]) == relisted | archived
        assert set(read) | set(second) == set(alive(emu))
        resumed_state = states(parse_messages(resumed.stdout))
        assert "pending" not in resumed_state[-1]["bookmarks"]["deal_participants"]


def test_a_run_killed_while_participants_are_read_resumes_without_loss(tmp_path):
    with Emulator(seed=8, scale=500, api_token=TOKEN) as emu:
        streams = ["deals", "deal_participants"]
        files = write_inputs(emu, tmp_path, streams)
        expected = ids_for_deals(emu, "deal_participants", alive(emu))
        participant = record_of("deal_participants")
        messages = killed_run(files, participant, len(expected) // 2)
        seen = {m["record"]["id"] for m in messages if participant(m)}
        assert 0 < len(seen) < len(expected)
        state = states(messages)[-1]
        resumed = sync(config_for(emu), state=state, streams=streams)
        assert seen | resumed.ids("deal_participants") == expected


# --- the schemas against the spec ------------------------------------------------------------

#: Spec properties of a participant that are not columns as they are, and why.
PARTICIPANT_RESHAPED = {
    "person_id": "flattened: `person_id` (its `value`), `person_name`, `person_email`",
    "person": "the person again, in full: the `persons` stream has it",
    "related_item_data": "the deal's id and title: `deal_id`, and the `deals` stream",
}


def _item_properties(openapi, version: str, path: str) -> dict:
    """The properties of the 200 response's `data` items (allOf merged, one level)."""
    schema = openapi[version]["paths"][path]["get"]["responses"]["200"]["content"]
    schema = schema["application/json"]["schema"]
    parts = schema.get("allOf", [schema])
    (data,) = [p["properties"]["data"] for p in parts if "data" in p.get("properties", {})]
    item = data["items"]
    properties: dict = {}
    for part in item.get("allOf", [item]):
        properties.update(part.get("properties", {}))
    return properties


def test_every_participant_property_of_the_spec_is_a_column_or_reshaped(openapi):
    spec = _item_properties(openapi, "v1", "/deals/{id}/participants")
    columns = deal_extras.DEAL_PARTICIPANTS["properties"]
    missing = sorted(set(spec) - set(columns) - set(PARTICIPANT_RESHAPED))
    assert missing == []
    assert set(spec["person_id"]["properties"]) >= {"value", "name", "email"}


def test_every_mail_message_property_of_the_spec_is_a_column(openapi):
    (message,) = [p["data"] for p in [_item_properties(openapi, "v1", "/deals/{id}/mailMessages")]]
    spec: dict = {}
    for part in message.get("allOf", [message]):
        spec.update(part.get("properties", {}))
    columns = deal_extras.DEAL_MAIL_MESSAGES["properties"]
    assert sorted(set(spec) - set(columns)) == []
    # The spec's 0/1 numbers are booleans here.
    flags = {name for name, node in spec.items() if "allOf" in node}
    assert flags == set(deal_extras.MAIL_FLAGS)
    assert {columns[flag]["type"][0] for flag in flags} == {"boolean"}


# --- product variations ----------------------------------------------------------------------

VARIATIONS = re.compile(r"^/api/v2/products/(\d+)/variations$")


def variation_calls(emu: Emulator) -> list[int]:
    return [int(m.group(1)) for r in emu.requests if (m := VARIATIONS.match(r.path))]


def variation_ids(emu: Emulator, products) -> set[int]:
    with emu.data.lock:
        return {v["id"] for p in products for v in emu.data.extras.variations(p)}


def test_variations_are_read_again_only_for_the_products_updated_since(fresh_emulator):
    first = sync(config_for(fresh_emulator), streams=["product_variations"])
    products = sorted(fresh_emulator.ids("products"))
    assert first.ids("product_variations") == variation_ids(fresh_emulator, products)
    touched = [p for p in products if fresh_emulator.data.extras.variations(p)][:2]
    fresh_emulator.touch("products", touched, when=a_moment_ago(fresh_emulator))
    fresh_emulator.clear_log()
    second = sync(
        config_for(fresh_emulator), state=first.final_state, streams=["product_variations"]
    )
    mark = first.final_state["bookmarks"]["product_variations"]["products_updated_since"]
    same_second = {
        p["id"] for p in fresh_emulator.records("products") if p["update_time"] == mark
    }  # read again: the list's `updated_since` is inclusive
    assert sorted(variation_calls(fresh_emulator)) == sorted(set(touched) | same_second)
    assert second.ids("product_variations") == variation_ids(
        fresh_emulator, [*touched, *same_second]
    )


def test_a_budget_stop_on_variations_leaves_the_rest_pending_for_the_next_run(fresh_emulator):
    catalog = select(discover(config_for(fresh_emulator)), ["product_variations"])
    fresh_emulator.clear_log()
    # The product custom fields (10 tokens), the products list (10), 5 variations calls.
    config = config_for(fresh_emulator, max_tokens_per_run=10 + 10 + 5 * 10, max_concurrency=1)
    first = sync(config, catalog=catalog)
    read = variation_calls(fresh_emulator)
    assert len(read) == 5
    order = [
        p["id"]
        for p in sorted(
            fresh_emulator.records("products"), key=lambda p: (p["update_time"], p["id"])
        )
    ]
    assert read == order[:5]
    state = first.final_state["bookmarks"]["product_variations"]
    assert state["pending"] == order[5:]
    fresh_emulator.clear_log()
    second = sync(
        config_for(fresh_emulator, max_concurrency=1), state=first.final_state, catalog=catalog
    )
    lists = [
        r.query.get("updated_since")
        for r in fresh_emulator.requests
        if r.path == "/api/v2/products"
    ]
    assert lists == [state["products_updated_since"]]  # not listed again
    assert variation_calls(fresh_emulator)[: len(order) - 5] == order[5:]
    assert first.ids("product_variations") | second.ids("product_variations") == variation_ids(
        fresh_emulator, order
    )
    assert "pending" not in second.final_state["bookmarks"]["product_variations"]


def test_a_product_removed_while_read_is_skipped_with_a_warning(fresh_emulator, caplog):
    products = sorted(fresh_emulator.records("products"), key=lambda p: (p["update_time"], p["id"]))
    gone = products[3]["id"]

    def remove_after_the_products_list(entry):
        if entry.path == "/api/v2/products":
            fresh_emulator.on_request(None)
            fresh_emulator.delete("products", [gone], when=a_moment_ago(fresh_emulator))

    fresh_emulator.on_request(remove_after_the_products_list)
    result = sync(config_for(fresh_emulator, max_concurrency=1), streams=["product_variations"])
    assert f"product {gone} is gone (404)" in caplog.text
    rest = [p["id"] for p in products if p["id"] != gone]
    assert result.ids("product_variations") == variation_ids(fresh_emulator, rest)
    assert "pending" not in result.final_state["bookmarks"]["product_variations"]
