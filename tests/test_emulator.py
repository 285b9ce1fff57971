"""The Pipedrive emulator behaves like the API the tap talks to, over real HTTP."""

from __future__ import annotations

import base64
import datetime
import http.client
import itertools
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.emulator import DATASET_NOW, Emulator, RequestLog, spec
from tests.emulator.fields import V2_FIELD_TYPES
from tests.emulator.handlers import ROUTES, Route
from tests.emulator.per_parent import PER_PARENT_ROUTES

REPO = Path(__file__).resolve().parents[1]
TOKEN = "test-token"
UTC = datetime.timezone.utc


def call(
    emu: Emulator, path: str, params: dict[str, Any] | None = None, token: str | None = TOKEN
) -> tuple[int, dict[str, str], Any]:
    """GET a path; return (status, lower-cased headers, decoded JSON body)."""
    url = emu.url + path + ("?" + urllib.parse.urlencode(params) if params else "")
    request = urllib.request.Request(url, headers={"x-api-token": token} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        with error:
            status, headers, raw = error.code, error.headers, error.read()
    return status, {k.lower(): v for k, v in headers.items()}, json.loads(raw)


def example_request(
    emu: Emulator, route: Route, v1_prefix: str = "/api/v1"
) -> tuple[str, dict[str, Any]]:
    """Return a concrete path and the required parameters for a route: a live deal's flow,
    the first 100 deals' products, recent changes since 2026-06-01, board 1's phases."""
    path = ("/api/v2" if route.version == "v2" else v1_prefix) + route.template
    parent = emu.records("permissionSets")[0]["id"] if "/permissionSets/" in path else None
    path = path.replace("{id}", str(parent or min(emu.ids("deals"))))
    params: dict[str, Any] = {}
    parameters = spec.load().operation("GET", path).parameters
    if "board_id" in parameters:
        params["board_id"] = 1
    if "deal_ids" in parameters:
        params["deal_ids"] = ",".join(map(str, sorted(emu.ids("deals"))[:100]))
    if "since_timestamp" in parameters:  # recents: the last month of the generated data
        params["since_timestamp"] = "2026-06-01 00:00:00"
    return path, params


def v2_pages(emu: Emulator, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Follow `next_cursor` to the end; return every page's body."""
    pages, cursor = [], None
    while True:
        status, _, body = call(emu, path, {**params, **({"cursor": cursor} if cursor else {})})
        assert status == 200, body
        pages.append(body)
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            return pages


def ids_of(pages: list[dict[str, Any]]) -> list[int]:
    return [record["id"] for page in pages for record in page["data"]]


def live_deals(emu: Emulator) -> list[dict[str, Any]]:
    """The deals `/api/v2/deals` lists by default: neither deleted nor archived."""
    return [d for d in emu.records("deals") if not d["is_deleted"] and not d["is_archived"]]


def stamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def emu():
    """A read-only emulator shared by the tests that do not change data or count requests."""
    with Emulator(seed=7, scale=1200) as emulator:
        yield emulator


@pytest.fixture
def fresh():
    """A small emulator of one's own, for tests that mutate data or read the log."""
    with Emulator(seed=3, scale=60) as emulator:
        yield emulator


# --- data ----------------------------------------------------------------------------------


def test_same_seed_gives_identical_data_and_another_seed_different_data():
    entities = (
        "deals",
        "persons",
        "organizations",
        "activities",
        "products",
        "notes",
        "users",
        "dealFields",
        "leadFields",
    )
    first, again, other = (Emulator(seed=s, scale=80) for s in (5, 5, 6))
    for entity in entities:
        assert first.records(entity) == again.records(entity), entity
    assert first.records("deals") != other.records("deals")
    assert first.records("dealFields") != other.records("dealFields")


def test_data_is_identical_across_processes_whatever_the_hash_seed():
    script = (
        "import hashlib, json; from tests.emulator.dataset import Dataset; d = Dataset(5, 80); "
        "print(hashlib.sha256(json.dumps([d.records(e) for e in sorted(d.tables)]).encode())"
        ".hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", script],
            cwd=REPO,
            env={"PYTHONHASHSEED": hash_seed, "PATH": ""},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for hash_seed in ("1", "2")
    }
    assert len(digests) == 1


def test_entity_counts_follow_scale():
    emulator = Emulator(seed=1, scale=1000)
    counts = {
        e: len(emulator.records(e))
        for e in (
            "deals",
            "persons",
            "organizations",
            "activities",
            "notes",
            "products",
            "users",
            "pipelines",
            "stages",
            "currencies",
        )
    }
    assert counts == {
        "deals": 1000,
        "persons": 500,
        "organizations": 200,
        "activities": 1000,
        "notes": 500,
        "products": 20,
        "users": 12,
        "pipelines": 3,
        "stages": 15,
        "currencies": 8,
    }
    tiny = Emulator(seed=1, scale=1)
    assert all(len(tiny.records(e)) >= 1 for e in counts)


def test_add_time_never_after_update_time_and_times_fall_in_range(emu):
    for entity in ("deals", "persons", "organizations", "activities", "products"):
        for record in emu.records(entity):
            assert "2023-01-01T00:00:00Z" <= record["add_time"] <= record["update_time"]
            assert record["update_time"] <= "2026-06-30T23:59:59Z"
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["update_time"])


def test_v1_records_use_v1_timestamps_and_nested_names(emu):
    note = next(n for n in emu.records("notes") if n["deal_id"] is not None)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", note["update_time"])
    deal = next(d for d in emu.records("deals") if d["id"] == note["deal_id"])
    assert note["deal"] == {"title": deal["title"]}
    assert set(note["user"]) == {"email", "name", "icon_url", "is_you"}


def test_records_share_update_time_seconds_in_clusters_of_2_to_40(emu):
    sizes = Counter(r["update_time"] for r in live_deals(emu))
    clusters = [size for size in sizes.values() if size > 1]
    assert len(clusters) >= 20
    assert max(clusters) <= 40


def test_shared_second_clusters_straddle_the_500_boundaries(emu):
    pages = v2_pages(emu, "/api/v2/deals", {"limit": 500, "sort_by": "update_time"})
    assert [len(page["data"]) for page in pages][:2] == [500, 500]
    for before, after in itertools.pairwise(pages):
        # One second covers positions 490..520 of the order (and 990..1020).
        second = before["data"][-1]["update_time"]
        cluster = [r["update_time"] == second for r in before["data"][-11:] + after["data"][:22]]
        assert cluster == [False] + [True] * 31 + [False]


@pytest.mark.usefixtures("openapi")
def test_deal_custom_fields_cover_every_field_type_the_spec_lists():
    operation = spec.load().get("v2", "GET", "/dealFields")
    item = operation.response_schema()["properties"]["data"]["items"]
    spec_types = set(item["properties"]["field_type"]["enum"])
    assert spec_types == set(V2_FIELD_TYPES)
    fields = Emulator(seed=1, scale=10).records("dealFields")
    custom = [f for f in fields if f["is_custom_field"]]
    assert {f["field_type"] for f in custom} == spec_types
    assert all(re.fullmatch(r"[0-9a-f]{40}", f["field_code"]) for f in custom)
    names = {f["field_name"] for f in custom}
    assert {"Lead Source", "Lead source!"} <= names
    assert any(not name.isascii() for name in names)


def test_standard_fields_are_named_after_record_properties(emu):
    deal = emu.records("deals")[0]
    standard = [
        f
        for f in emu.records("dealFields")
        if not f["is_custom_field"] and not f["is_optional_response_field"]
    ]
    assert {f["field_code"] for f in standard} <= set(deal)
    optional = {
        f["field_code"] for f in emu.records("dealFields") if f["is_optional_response_field"]
    }
    assert optional == set(spec.load().get("v2", "GET", "/deals").parameter_enum("include_fields"))


def test_custom_field_values_have_the_documented_shapes(emu):
    fields = {f["field_code"]: f for f in emu.records("dealFields") if f["is_custom_field"]}
    seen = Counter()
    for deal in emu.records("deals")[:300]:
        assert set(deal["custom_fields"]) == set(fields)
        for code, value in deal["custom_fields"].items():
            if value is None:
                continue
            definition = fields[code]
            kind, options = definition["field_type"], {o["id"] for o in definition["options"] or ()}
            seen[kind] += 1
            if kind == "enum":
                assert value in options
            elif kind == "set":
                assert isinstance(value, list)
                assert set(value) <= options
            elif kind == "monetary":
                assert set(value) == {"value", "currency"}
            elif kind == "daterange":
                assert set(value) == {"value", "until"}
                assert value["value"] <= value["until"]
            elif kind == "timerange":
                assert set(value) == {"value", "until", "timezone_id", "timezone_name"}
            elif kind == "time":
                assert set(value) == {"value", "timezone_id", "timezone_name"}
            elif kind == "address":
                assert {"value", "locality", "country", "postal_code"} <= set(value)
            elif kind in ("user", "people", "org", "int", "stage", "deal"):
                assert isinstance(value, int)
                assert not isinstance(value, bool)
    assert set(seen) == set(V2_FIELD_TYPES)


# --- v2 pagination, sorting, filters ---------------------------------------------------------


def test_v2_pagination_visits_every_id_exactly_once(emu):
    pages = v2_pages(emu, "/api/v2/deals", {"limit": 500})
    ids = ids_of(pages)
    assert len(pages) == 3
    assert len(ids) == len(set(ids))
    assert set(ids) == emu.ids("deals") == {d["id"] for d in live_deals(emu)}


def test_default_page_size_is_100(emu):
    status, _, body = call(emu, "/api/v2/persons")
    assert status == 200
    assert len(body["data"]) == 100
    assert body["additional_data"]["next_cursor"] is not None


def test_limit_over_500_answers_a_400_envelope(emu):
    status, _, body = call(emu, "/api/v2/deals", {"limit": 501})
    assert status == 400
    assert body["success"] is False
    assert body["data"] is None
    assert body["additional_data"] is None
    assert "limit" in body["error"]
    assert body["error_info"]


def test_a_garbled_cursor_answers_400(emu):
    status, _, body = call(emu, "/api/v2/deals", {"cursor": "not-a-cursor"})
    assert (status, body["error"]) == (400, "Invalid cursor")


def test_updated_since_is_inclusive_and_updated_until_exclusive(emu):
    pages = v2_pages(emu, "/api/v2/deals", {"limit": 500, "sort_by": "update_time"})
    boundary = pages[1]["data"][0]["update_time"]  # a second shared by a cluster
    deals = live_deals(emu)
    since = ids_of(v2_pages(emu, "/api/v2/deals", {"limit": 500, "updated_since": boundary}))
    until = ids_of(v2_pages(emu, "/api/v2/deals", {"limit": 500, "updated_until": boundary}))
    assert set(since) == {d["id"] for d in deals if d["update_time"] >= boundary}
    assert set(until) == {d["id"] for d in deals if d["update_time"] < boundary}
    assert sum(d["update_time"] == boundary for d in deals) > 1


def test_time_filters_compare_instants_not_strings(emu):
    deals = live_deals(emu)
    boundary = sorted(d["update_time"] for d in deals)[600]
    moment = datetime.datetime.strptime(boundary, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    local = moment.astimezone(datetime.timezone(datetime.timedelta(hours=2))).isoformat()
    half_past = stamp(moment).replace("Z", ".5Z")
    assert emu.ids("deals", updated_since=local) == emu.ids("deals", updated_since=boundary)
    assert emu.ids("deals", updated_since=half_past) == {
        d["id"] for d in deals if d["update_time"] > boundary
    }


def test_sort_direction_desc_reverses_the_order(emu):
    pages = v2_pages(
        emu, "/api/v2/deals", {"limit": 500, "sort_by": "update_time", "sort_direction": "desc"}
    )
    keys = [(r["update_time"], r["id"]) for page in pages for r in page["data"]]
    assert keys == sorted(keys, reverse=True)
    assert len(keys) == len(emu.ids("deals"))


def test_status_deleted_lists_only_recently_deleted_deals(emu):
    deleted = {d["id"] for d in emu.records("deals") if d["is_deleted"]}
    listed = ids_of(v2_pages(emu, "/api/v2/deals", {"limit": 500, "status": "deleted"}))
    assert deleted
    assert set(listed) == deleted
    assert not deleted & emu.ids("deals")
    both = emu.ids("deals", status="won,deleted")
    assert both == deleted | {d["id"] for d in live_deals(emu) if d["status"] == "won"}


def test_equality_filters_select_matching_records(emu):
    status, _, body = call(emu, "/api/v2/deals", {"limit": 500, "pipeline_id": 2})
    assert status == 200
    assert body["data"]
    assert {d["pipeline_id"] for d in body["data"]} == {2}
    assert emu.ids("activities", done=True) == {
        a["id"] for a in emu.records("activities") if a["done"]
    }


def test_products_ignore_updated_until_which_their_spec_lacks(emu):
    assert emu.ids("products") == set(range(1, 21))
    status, _, body = call(
        emu, "/api/v2/products", {"limit": 500, "updated_until": "2000-01-01T00:00:00Z"}
    )
    assert status == 200
    assert len(body["data"]) == 20


def test_include_fields_add_count_fields_only_when_asked(emu):
    _, _, plain = call(emu, "/api/v2/deals", {"limit": 5})
    _, _, rich = call(
        emu, "/api/v2/deals", {"limit": 5, "include_fields": "activities_count,smart_bcc_email"}
    )
    assert "activities_count" not in plain["data"][0]
    for before, after in zip(plain["data"], rich["data"], strict=True):
        assert set(after) - set(before) == {"activities_count", "smart_bcc_email"}
    status, _, _ = call(emu, "/api/v2/deals", {"include_fields": "no_such_field"})
    assert status == 400


def test_include_option_labels_turns_option_ids_into_id_label_objects(emu):
    fields = {f["field_code"]: f for f in emu.records("dealFields")}
    _, _, body = call(emu, "/api/v2/deals", {"limit": 50, "include_option_labels": "true"})
    checked = 0
    for deal in body["data"]:
        for code, value in deal["custom_fields"].items():
            definition = fields[code]
            if value is None or definition["field_type"] not in ("enum", "set"):
                continue
            labels = {o["id"]: o["label"] for o in definition["options"]}
            for item in value if definition["field_type"] == "set" else [value]:
                assert item == {"id": item["id"], "label": labels[item["id"]]}
                checked += 1
    assert checked > 50


def test_custom_fields_parameter_limits_the_custom_fields_returned(emu):
    code = next(f["field_code"] for f in emu.records("dealFields") if f["is_custom_field"])
    _, _, body = call(emu, "/api/v2/deals", {"limit": 3, "custom_fields": code})
    assert [set(d["custom_fields"]) for d in body["data"]] == [{code}] * 3


def test_field_definitions_paginate_with_cursors(emu):
    pages = v2_pages(emu, "/api/v2/dealFields", {"limit": 30})
    codes = [f["field_code"] for page in pages for f in page["data"]]
    assert len(pages) == 3
    assert codes == [f["field_code"] for f in emu.records("dealFields")]
    assert "ui_visibility" not in pages[0]["data"][0]
    _, _, with_ui = call(emu, "/api/v2/dealFields", {"include_fields": "ui_visibility"})
    assert "ui_visibility" in with_ui["data"][0]


# --- v1 ------------------------------------------------------------------------------------


def test_v1_offset_pagination_visits_every_note_once(emu):
    first = call(emu, "/api/v1/notes", {"limit": 500})[2]
    second = call(emu, "/api/v1/notes", {"limit": 500, "start": 500})[2]
    assert first["additional_data"]["pagination"] == {
        "start": 0,
        "limit": 500,
        "more_items_in_collection": True,
        "next_start": 500,
    }
    assert second["additional_data"]["pagination"] == {
        "start": 500,
        "limit": 500,
        "more_items_in_collection": False,
    }
    ids = [n["id"] for n in first["data"] + second["data"]]
    assert sorted(ids) == list(range(1, 601))


def test_v1_paths_answer_under_v1_and_api_v1_alike(emu):
    assert call(emu, "/v1/notes", {"limit": 7})[2] == call(emu, "/api/v1/notes", {"limit": 7})[2]
    assert call(emu, "/v1/users")[2] == call(emu, "/api/v1/users")[2]
    assert call(emu, "/v1/deals")[0] == 404  # the v1 deals list is gone from the spec
    assert call(emu, "/v2/deals")[0] == 404  # v2 lives only under /api/v2


def test_v1_notes_sort_and_updated_since(emu):
    params = {"limit": 500, "sort": "update_time DESC, id DESC"}
    notes = call(emu, "/v1/notes", params)[2]["data"]
    keys = [(n["update_time"], n["id"]) for n in notes]
    assert keys == sorted(keys, reverse=True)
    since = "2025-01-01T00:00:00Z"
    listed = {
        n["id"] for n in call(emu, "/v1/notes", {"limit": 500, "updated_since": since})[2]["data"]
    }
    assert listed == {
        n["id"] for n in emu.records("notes") if n["update_time"] >= "2025-01-01 00:00:00"
    }


def test_unpaginated_v1_lists_return_everything_without_a_pagination_block(emu):
    for path, count in (("/v1/users", 12), ("/v1/currencies", 8)):
        status, _, body = call(emu, path)
        assert status == 200
        assert len(body["data"]) == count
        assert "additional_data" not in body
    note_fields = call(emu, "/v1/noteFields")[2]
    assert note_fields["additional_data"]["pagination"]["more_items_in_collection"] is False


# --- auth, limits, costs, errors -------------------------------------------------------------


def test_latency_delays_every_answer():
    with Emulator(seed=1, scale=5, latency=0.1) as emulator:
        start = time.monotonic()
        assert call(emulator, "/api/v2/pipelines")[0] == 200
        assert time.monotonic() - start >= 0.1


def test_openapi_directory_can_be_overridden(monkeypatch, tmp_path):
    monkeypatch.delenv("PIPEDRIVE_OPENAPI_DIR", raising=False)
    assert spec.openapi_dir() == REPO.parent / "shared" / "pipedrive-openapi"
    monkeypatch.setenv("PIPEDRIVE_OPENAPI_DIR", str(tmp_path))
    assert spec.openapi_dir() == tmp_path


def test_operations_json_is_what_the_script_derives_from_the_spec(openapi):
    result = subprocess.run(
        [sys.executable, "scripts/spec_operations.py", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("ci", "exit_code", "outcome"), [("true", 1, "1 error"), ("", 0, "1 skipped")]
)
def test_a_spec_test_without_the_spec_fails_in_ci_and_is_skipped_elsewhere(
    tmp_path, ci, exit_code, outcome
):
    env = {**os.environ, "CI": ci, "PIPEDRIVE_OPENAPI_DIR": str(tmp_path)}
    test = "tests/test_emulator.py::test_deal_custom_fields_cover_every_field_type_the_spec_lists"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", test, "-q", "-p", "no:cacheprovider", "-rs"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == exit_code, result.stdout
    assert outcome in result.stdout
    assert f"spec {tmp_path}/v1.yaml is missing" in result.stdout


def test_the_emulator_serves_without_the_spec_files(monkeypatch, tmp_path):
    # A clone without ../shared: costs and parameters come from operations.json alone.
    monkeypatch.setenv("PIPEDRIVE_OPENAPI_DIR", str(tmp_path))
    monkeypatch.setattr(spec, "_spec", None)
    spec.documents.cache_clear()
    try:
        with Emulator(seed=1, scale=5, api_token=TOKEN) as emulator:
            assert call(emulator, "/api/v1/callLogs", {"limit": 51})[0] == 400  # upper limit 50
            assert call(emulator, "/api/v2/deals", {"limit": 2})[0] == 200
            assert emulator.tokens_spent == 10 + 20  # x-token-cost of both
        with pytest.raises(spec.SpecUnavailable, match="PIPEDRIVE_OPENAPI_DIR"):
            spec.response_schema("GET", "/api/v2/deals")
    finally:
        spec.documents.cache_clear()


def test_missing_token_answers_401_envelope_and_costs_nothing(fresh):
    status, headers, body = call(fresh, "/api/v2/deals", token=None)
    assert status == 401
    assert body == {
        "success": False,
        "error": "unauthorized access",
        "errorCode": 401,
        "error_info": body["error_info"],
        "data": None,
        "additional_data": None,
    }
    assert "x-ratelimit-limit" in headers
    assert fresh.requests[-1].cost == 0


def test_token_in_the_query_string_is_refused_and_logged(fresh):
    status, _, _ = call(fresh, "/api/v2/deals", {"api_token": TOKEN}, token=None)
    assert status == 401
    assert fresh.requests[-1].query == {"api_token": TOKEN}


def test_wrong_token_is_refused(fresh):
    assert call(fresh, "/api/v2/deals", token="nope")[0] == 401


def test_unknown_path_answers_404_envelope(fresh):
    status, _, body = call(fresh, "/api/v2/nowhere")
    assert status == 404
    assert body["success"] is False
    assert body["data"] is None
    assert fresh.requests[-1].cost == 0


def test_every_response_carries_rate_limit_headers(fresh):
    _, headers, _ = call(fresh, "/api/v2/pipelines")
    assert headers["x-ratelimit-limit"] == "1000"
    assert headers["x-ratelimit-remaining"] == "999"
    assert headers["x-ratelimit-reset"] in ("1", "2")
    assert headers["x-daily-ratelimit-token-limit"] == str(10**9)
    assert headers["x-daily-ratelimit-token-remaining"] == str(10**9 - 5)


def test_burst_over_the_window_answers_429_with_headers():
    with Emulator(seed=1, scale=20, burst_limit=3, now=DATASET_NOW) as emulator:
        answers = [call(emulator, "/api/v2/pipelines") for _ in range(4)]
        assert [a[0] for a in answers] == [200, 200, 200, 429]
        _status, headers, body = answers[-1]
        assert headers["x-ratelimit-limit"] == "3"
        assert headers["x-ratelimit-remaining"] == "0"
        assert headers["x-ratelimit-reset"] == "2"  # a fixed clock: the whole window is left
        assert body["success"] is False
        assert body["errorCode"] == 429
        assert emulator.requests[-1].cost == 0


def test_exhausted_daily_budget_answers_429_to_everything():
    with Emulator(seed=1, scale=20, daily_budget=25) as emulator:
        statuses = [call(emulator, "/api/v2/deals")[0] for _ in range(3)]
        status, headers, _ = call(emulator, "/api/v2/pipelines")
        assert statuses == [200, 200, 200]
        assert status == 429
        assert headers["x-daily-ratelimit-token-remaining"] == "0"
        assert headers["x-ratelimit-remaining"] != "0"  # tells it apart from a burst 429
        assert emulator.tokens_spent == 30


def test_logged_costs_are_the_specs_token_costs(fresh):
    paths = []
    for route in (*ROUTES, *PER_PARENT_ROUTES):
        path, params = example_request(fresh, route, "/v1")
        limit = {"limit": 1} if "limit" in spec.load().operation("GET", path).parameters else {}
        assert call(fresh, path, {**params, **limit})[0] == 200, path
        paths.append(path)
    logged = {entry.path: entry.cost for entry in fresh.requests}
    assert logged == {path: spec.token_cost("GET", path) for path in paths}
    assert logged["/api/v2/deals"] == 10
    assert logged["/api/v2/deals/archived"] == 20
    assert logged["/api/v2/pipelines"] == 5
    assert logged["/v1/notes"] == 20
    assert logged["/v1/leads/archived"] == 40
    assert logged[f"/v1/deals/{min(fresh.ids('deals'))}/flow"] == 40
    assert fresh.tokens_spent == sum(logged.values())


def test_request_log_keeps_arrival_order_and_request_headers(fresh):
    call(fresh, "/api/v2/deals", {"limit": 2})
    call(fresh, "/api/v2/persons")
    assert [(e.path, e.status) for e in fresh.requests] == [
        ("/api/v2/deals", 200),
        ("/api/v2/persons", 200),
    ]
    assert fresh.requests[0].query == {"limit": "2"}
    assert fresh.requests[0].headers["x-api-token"] == TOKEN
    fresh.clear_log()
    assert fresh.requests == []
    assert fresh.tokens_spent == 0


# --- mutation ------------------------------------------------------------------------------


def test_touch_moves_update_time_and_edits_a_field(fresh):
    before = {d["id"]: d for d in fresh.records("deals")}
    when = datetime.datetime(2026, 8, 1, 12, 0, 30, tzinfo=UTC)
    fresh.touch("deals", [4, 9], when=when)
    after = {d["id"]: d for d in fresh.records("deals")}
    assert fresh.ids("deals", updated_since=when) == {4, 9}
    for deal_id in (4, 9):
        assert after[deal_id]["update_time"] == "2026-08-01T12:00:30Z"
        assert after[deal_id]["title"] != before[deal_id]["title"]
    assert all(after[i] == before[i] for i in before if i not in (4, 9))


def test_touch_without_a_time_uses_now_in_whole_seconds(fresh):
    start = int(fresh.now().timestamp())
    fresh.touch("persons", [1])
    person = next(p for p in fresh.records("persons") if p["id"] == 1)
    touched = datetime.datetime.strptime(person["update_time"], "%Y-%m-%dT%H:%M:%SZ")
    assert start <= touched.replace(tzinfo=UTC).timestamp() <= fresh.now().timestamp()


def test_add_creates_records_added_and_updated_now(fresh):
    start = stamp(fresh.now())
    new = fresh.add("deals", 3)
    end = stamp(fresh.now())
    assert new == [61, 62, 63]
    added = [d for d in fresh.records("deals") if d["id"] in new]
    assert all(start <= d["add_time"] == d["update_time"] <= end for d in added)
    # Generated data ends on 2026-06-30, so only the new deals are this recent.
    assert fresh.ids("deals", updated_since=start) == set(new)
    listed = ids_of(v2_pages(fresh, "/api/v2/deals", {"limit": 500}))
    assert set(new) <= set(listed)


def test_delete_flags_deals_and_removes_other_records(fresh):
    live = min(fresh.ids("deals"))
    fresh.delete("deals", [live])
    fresh.delete("persons", [2])
    deal = next(d for d in fresh.records("deals") if d["id"] == live)
    assert deal["is_deleted"] is True
    assert live not in fresh.ids("deals")
    assert live in fresh.ids("deals", status="deleted")
    assert 2 not in {p["id"] for p in fresh.records("persons")}
    assert 2 not in fresh.ids("persons")


def test_on_request_changes_data_between_pages_like_a_live_database():
    with Emulator(seed=2, scale=1200) as emulator:
        order = ids_of(
            v2_pages(emulator, "/api/v2/deals", {"limit": 500, "sort_by": "update_time"})
        )
        seen_early, unseen = order[10], order[900]
        after_all = datetime.datetime(2026, 9, 1, tzinfo=UTC)
        calls: list[RequestLog] = []

        def edit_after_first_page(entry: RequestLog) -> None:
            calls.append(entry)
            if len(calls) == 1:
                emulator.touch("deals", [seen_early, unseen], when=after_all)

        emulator.on_request(edit_after_first_page)
        ids = ids_of(v2_pages(emulator, "/api/v2/deals", {"limit": 500, "sort_by": "update_time"}))
        emulator.on_request(None)
        assert len(calls) == 3
        assert Counter(ids)[seen_early] == 2  # read before and after its update
        assert Counter(ids)[unseen] == 1  # moved ahead of the cursor, read once
        assert set(ids) == set(order)
        assert ids[-2:] == sorted([seen_early, unseen])


# --- the CLI -------------------------------------------------------------------------------


def test_cli_prints_ready_serves_and_exits_cleanly_on_sigterm():
    command = [
        sys.executable,
        "-m",
        "tests.emulator",
        "--port",
        "0",
        "--seed",
        "1",
        "--scale",
        "50",
        "--latency-ms",
        "0",
        "--token",
        "demo-token",
    ]
    with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        match = re.fullmatch(r"READY (http://127\.0\.0\.1:\d+)", line)
        assert match, line
        request = urllib.request.Request(
            match[1] + "/api/v2/pipelines", headers={"x-api-token": "demo-token"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert len(json.loads(response.read())["data"]) == 3
        process.terminate()
        assert process.wait(timeout=10) == 0
        assert process.stdout.read() == ""


# --- conformance with the official spec ------------------------------------------------------


@pytest.mark.usefixtures("openapi")
@pytest.mark.parametrize(
    "route", [*ROUTES, *PER_PARENT_ROUTES], ids=lambda r: f"{r.version}{r.template}"
)
def test_responses_conform_to_the_specs_200_schema(emu, route):
    path, params = example_request(emu, route)
    operation = spec.load().operation("GET", path)
    if "limit" in operation.parameters:
        params["limit"] = 50 if "callLogs" in path else 100 if "files" in path else 200
    if "all_changes" in operation.parameters:
        params["all_changes"] = "1"
    if route.version == "v2" and operation.parameter_enum("include_fields"):
        # Optional fields too: every value the spec allows in include_fields.
        params["include_fields"] = ",".join(operation.parameter_enum("include_fields"))
    status, _, body = call(emu, path, params)
    assert status == 200
    schema = spec.response_json_schema("GET", path)
    validator = jsonschema.Draft7Validator(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
    assert errors == []
    data = body["data"]
    records = (
        data["goals"]
        if path.endswith("/goals/find")
        else [data]
        if route.template.endswith("/me")
        else data
    )
    assert records
    # The check has teeth: a record with a mistyped key field does not pass.
    key = next(k for k in ("id", "field_code", "key", "name", "object") if k in records[0])
    records[0][key] = ["wrong"]
    assert not validator.is_valid(body)


# --- field definitions, archived deals ---------------------------------------------------------


def test_project_fields_are_v2_field_definitions_with_custom_fields(emu):
    status, _, body = call(emu, "/api/v2/projectFields")
    assert status == 200
    fields = body["data"]
    assert fields == emu.records("projectFields")
    custom = [f for f in fields if f["is_custom_field"]]
    assert [(f["field_name"], f["field_type"]) for f in custom] == [
        ("Go-live date", "date"),
        ("Rollout region", "enum"),
        ("Budget", "monetary"),
        ("Kick-off notes", "text"),
        ("Sponsor", "people"),
    ]
    assert all(re.fullmatch(r"[0-9a-f]{40}", f["field_code"]) for f in custom)
    project = emu.records("projects")[0]
    assert set(project["custom_fields"]) == {f["field_code"] for f in custom}


def test_about_5_percent_of_deals_are_archived_and_only_the_archived_list_has_them(emu):
    archived = {d["id"] for d in emu.records("deals") if d["is_archived"]}
    listed = ids_of(v2_pages(emu, "/api/v2/deals/archived", {"limit": 500}))
    assert 0.03 < len(archived) / 1200 < 0.07
    assert sorted(listed) == sorted(archived)
    assert not archived & set(ids_of(v2_pages(emu, "/api/v2/deals", {"limit": 500})))
    assert emu.ids("deals", archived=True) == archived


def test_archived_deals_carry_is_archived_and_archive_time(emu):
    _, _, body = call(emu, "/api/v2/deals/archived", {"limit": 500})
    assert all(d["is_archived"] is True for d in body["data"])
    assert all(d["archive_time"] == d["update_time"] for d in body["data"])
    _, _, live = call(emu, "/api/v2/deals", {"limit": 500})
    assert {(d["is_archived"], d["archive_time"]) for d in live["data"]} == {(False, None)}


def test_archived_deals_honour_the_deal_list_parameters(emu):
    archived = [d for d in emu.records("deals") if d["is_archived"]]
    boundary = sorted(d["update_time"] for d in archived)[len(archived) // 2]
    params = {"updated_since": boundary, "sort_by": "update_time", "sort_direction": "desc"}
    _, _, body = call(emu, "/api/v2/deals/archived", params)
    assert [d["id"] for d in body["data"]] == [
        d["id"]
        for d in sorted(archived, key=lambda d: (d["update_time"], d["id"]), reverse=True)
        if d["update_time"] >= boundary
    ]


def test_archive_moves_deals_to_the_archived_list_and_updates_them(fresh):
    live = sorted(fresh.ids("deals"))[:2]
    when = datetime.datetime(2026, 8, 2, 9, 0, tzinfo=UTC)
    fresh.archive("deals", live, when=when)
    assert set(live) <= fresh.ids("deals", archived=True)
    assert not set(live) & fresh.ids("deals")
    assert fresh.ids("deals", archived=True, updated_since=when) == set(live)
    deal = next(d for d in fresh.records("deals") if d["id"] == live[0])
    assert (deal["is_archived"], deal["archive_time"], deal["update_time"]) == (
        True,
        "2026-08-02T09:00:00Z",
        "2026-08-02T09:00:00Z",
    )


def test_all_deal_ids_cover_live_deleted_and_archived_deals(emu):
    every = emu.all_ids("deals")
    deleted = emu.ids("deals", status="deleted")
    archived = emu.ids("deals", archived=True)
    assert every == set(range(1, 1201))
    assert every == emu.ids("deals") | deleted | archived
    assert emu.ids("deals", include_deleted=True) == emu.ids("deals") | deleted


# --- leads ---------------------------------------------------------------------------------

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}"


def lead_pages(emu: Emulator, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Follow v1 lead pages (pagination keys straight in additional_data) to the end."""
    records, start = [], 0
    while True:
        status, _, body = call(emu, path, {**params, "start": start, "limit": 100})
        assert status == 200, body
        records += body["data"]
        if not body["additional_data"]["more_items_in_collection"]:
            return records
        start += 100


def test_leads_have_uuid_ids_and_millisecond_timestamps(emu):
    leads = emu.records("leads")
    assert len(leads) == 300
    assert all(re.fullmatch(UUID, lead["id"]) for lead in leads)
    assert len({lead["id"] for lead in leads}) == 300
    stamp_ms = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    assert all(re.fullmatch(stamp_ms, lead["update_time"]) for lead in leads)
    assert any(not lead["update_time"].endswith(".000Z") for lead in leads)
    assert Emulator(seed=7, scale=1200).records("leads") == leads


def test_leads_list_leaves_archived_leads_to_the_archived_list(emu):
    live = lead_pages(emu, "/v1/leads", {})
    archived = lead_pages(emu, "/v1/leads/archived", {})
    assert {lead["is_archived"] for lead in live} == {False}
    assert {lead["is_archived"] for lead in archived} == {True}
    assert 15 <= len(archived) <= 45
    assert {lead["id"] for lead in live} == emu.ids("leads")
    assert {lead["id"] for lead in archived} == emu.ids("leads", archived=True)
    assert len(live) + len(archived) == 300


def test_leads_default_order_is_oldest_first(emu):
    live = lead_pages(emu, "/v1/leads", {})
    assert [lead["add_time"] for lead in live] == sorted(lead["add_time"] for lead in live)


def test_leads_sort_by_update_time_then_uuid(emu):
    live = lead_pages(emu, "/v1/leads", {"sort": "update_time ASC, id ASC"})
    keys = [(lead["update_time"], lead["id"]) for lead in live]
    assert keys == sorted(keys)
    assert len(keys) > len({k[0] for k in keys})  # some share their millisecond


def test_leads_updated_since_is_inclusive_to_the_millisecond(emu):
    live = [lead for lead in emu.records("leads") if not lead["is_archived"]]
    boundary = sorted(lead["update_time"] for lead in live)[100]
    listed = emu.ids("leads", updated_since=boundary)
    assert listed == {lead["id"] for lead in live if lead["update_time"] >= boundary}
    one_ms_later = boundary[:20] + f"{int(boundary[20:23]) + 1:03d}Z"
    if boundary[20:23] != "999":
        assert emu.ids("leads", updated_since=one_ms_later) == {
            lead["id"] for lead in live if lead["update_time"] > boundary
        }


def test_leads_pagination_keys_sit_in_additional_data_as_the_spec_says(emu):
    _, _, body = call(emu, "/v1/leads", {"limit": 7, "start": 7})
    assert body["additional_data"] == {"start": 7, "limit": 7, "more_items_in_collection": True}
    assert len(body["data"]) == 7


def test_leads_carry_deal_custom_fields_as_top_level_v1_keys(emu):
    lead_fields = {f["key"]: f for f in emu.records("leadFields")}
    custom = {
        key: f["field_type"] for key, f in lead_fields.items() if re.fullmatch(r"[0-9a-f]{40}", key)
    }
    seen = Counter()
    for lead in emu.records("leads"):
        extra = {k for k in lead if re.match(r"[0-9a-f]{40}", k)}
        assert {k[:40] for k in extra} <= set(custom)
        for key in extra & set(custom):
            kind, value = custom[key], lead[key]
            seen[kind] += 1
            assert value is not None  # unset values are left out
            if kind == "monetary":
                assert isinstance(value, (int, float))
                assert lead[f"{key}_currency"] in ("EUR", "USD", "GBP", "JPY", "SEK")
            elif kind in ("daterange", "timerange"):
                assert value <= lead[f"{key}_until"]
            elif kind == "time":
                assert re.fullmatch(r"\d\d:\d\d:\d\d", value)
            else:
                assert f"{key}_currency" not in lead
        assert "custom_fields" not in lead
    assert set(seen) == set(custom.values())


# --- account lists -------------------------------------------------------------------------

ACCOUNT_LISTS = {
    "activityTypes": 8,
    "filters": 12,
    "leadLabels": 4,
    "leadSources": 10,
    "roles": 5,
    "permissionSets": 6,
    "callLogs": 120,
    "files": 240,
    "goals": 5,
}


def v1_all(emu: Emulator, path: str, limit: int) -> list[dict[str, Any]]:
    """Read a v1 list through its pages (or its one answer when it has none)."""
    records, start = [], 0
    while True:
        status, _, body = call(emu, path, {"start": start, "limit": limit})
        assert status == 200, body
        data = body["data"]
        records += data["goals"] if isinstance(data, dict) else data
        pagination = (body.get("additional_data") or {}).get("pagination")
        if not pagination or not pagination["more_items_in_collection"]:
            return records
        start = pagination["next_start"]


@pytest.mark.parametrize(("entity", "count"), ACCOUNT_LISTS.items())
def test_account_lists_answer_every_record_of_emu_ids(emu, entity, count):
    path = "/v1/goals/find" if entity == "goals" else f"/v1/{entity}"
    records = v1_all(emu, path, limit=50)
    key = "name" if entity == "leadSources" else "id"
    assert [r[key] for r in records] == [
        r[key] for r in emu.records(entity) if r.get("is_active", True)
    ]
    assert {r[key] for r in records} == emu.ids(entity)
    assert len(records) == count


def test_paginated_account_lists_are_the_ones_the_spec_pages(emu):
    paged = {
        entity
        for entity in ACCOUNT_LISTS
        if "additional_data"
        in call(emu, f"/v1/{entity}" if entity != "goals" else "/v1/goals/find")[2]
    }
    assert paged == {"roles", "callLogs", "files"}


def test_call_logs_and_files_refuse_limits_over_the_specs_maximum(emu):
    assert call(emu, "/v1/callLogs", {"limit": 50})[0] == 200
    status, _, body = call(emu, "/v1/callLogs", {"limit": 51})
    assert (status, body["success"]) == (400, False)
    assert call(emu, "/v1/files", {"limit": 100})[0] == 200
    assert call(emu, "/v1/files", {"limit": 101})[0] == 400


def test_lead_sources_are_names_only_and_lead_labels_have_uuid_ids(emu):
    assert {tuple(r) for r in emu.records("leadSources")} == {("name",)}
    assert all(re.fullmatch(UUID, r["id"]) for r in emu.records("leadLabels"))
    labels = {r["id"] for r in emu.records("leadLabels")}
    assert {i for lead in emu.records("leads") for i in lead["label_ids"]} <= labels


def test_filters_type_and_permission_sets_app_select_matching_records(emu):
    _, _, body = call(emu, "/v1/filters", {"type": "deals"})
    assert {f["type"] for f in body["data"]} == {"deals"}
    assert len(body["data"]) == 2
    _, _, sets = call(emu, "/v1/permissionSets", {"app": "sales"})
    assert [s["name"] for s in sets["data"]] == ["Sales admin", "Sales — read only"]
    assert call(emu, "/v1/filters", {"type": "nonsense"})[0] == 400


def test_goals_find_lists_active_goals_unless_asked_for_inactive(emu):
    _, _, body = call(emu, "/v1/goals/find")
    assert set(body["data"]) == {"goals"}
    assert {g["is_active"] for g in body["data"]["goals"]} == {True}
    _, _, inactive = call(emu, "/v1/goals/find", {"is_active": "false"})
    assert [g["title"] for g in inactive["data"]["goals"]] == ["2024 Jahresziel"]


# --- projects and tasks --------------------------------------------------------------------


def test_projects_and_archived_projects_split_the_projects(emu):
    live = ids_of(v2_pages(emu, "/api/v2/projects", {"limit": 20}))
    archived = ids_of(v2_pages(emu, "/api/v2/projects/archived", {"limit": 20}))
    records = {p["id"]: p for p in emu.records("projects")}
    assert sorted(live + archived) == sorted(records)
    assert archived
    assert all(records[i]["archive_time"] is not None for i in archived)
    assert all(records[i]["archive_time"] is None for i in live)
    assert set(live) == emu.ids("projects")


def test_tasks_paginate_with_cursors_and_filter_root_tasks(emu):
    pages = v2_pages(emu, "/api/v2/tasks", {"limit": 100})
    assert len(pages) == 3
    assert ids_of(pages) == sorted(emu.ids("tasks"))
    roots = emu.ids("tasks", parent_task_id="null")
    tasks = emu.records("tasks")
    assert roots == {t["id"] for t in tasks if t["parent_task_id"] is None}
    assert len(roots) < len(tasks)
    child = next(t for t in tasks if t["parent_task_id"] is not None)
    assert child["id"] in emu.ids("tasks", parent_task_id=child["parent_task_id"])


# --- deal products and installments --------------------------------------------------------


def test_deal_products_answer_the_products_of_the_deals_asked_for(emu):
    deal_ids = list(range(1, 101))
    pages = v2_pages(
        emu, "/api/v2/deals/products", {"deal_ids": ",".join(map(str, deal_ids)), "limit": 50}
    )
    rows = [row for page in pages for row in page["data"]]
    expected = [r for r in emu.records("dealProducts") if r["deal_id"] in deal_ids]
    assert rows == expected
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    with_products = {r["deal_id"] for r in emu.records("dealProducts")}
    assert 0.3 < len(with_products) / 1200 < 0.5
    per_deal = Counter(r["deal_id"] for r in emu.records("dealProducts"))
    assert set(per_deal.values()) == {1, 2, 3, 4}


def test_deal_children_need_deal_ids_and_at_most_100(emu):
    for path in ("/api/v2/deals/products", "/api/v2/deals/installments"):
        assert call(emu, path)[0] == 400
        assert call(emu, path, {"deal_ids": ",".join(map(str, range(1, 102)))})[0] == 400
        assert call(emu, path, {"deal_ids": ",".join(map(str, range(1, 101)))})[0] == 200
        assert call(emu, path, {"deal_ids": "1", "limit": 501})[0] == 400


def test_installments_belong_to_about_a_tenth_of_deals(emu):
    installments = emu.records("dealInstallments")
    deals = {i["deal_id"] for i in installments}
    assert 0.05 < len(deals) / 1200 < 0.15
    some = sorted(deals)[:3]
    _, _, body = call(
        emu,
        "/api/v2/deals/installments",
        {"deal_ids": ",".join(map(str, some)), "sort_by": "billing_date"},
    )
    assert {i["deal_id"] for i in body["data"]} == set(some)
    keys = [(i["billing_date"], i["id"]) for i in body["data"]]
    assert keys == sorted(keys)


# --- deal flow -----------------------------------------------------------------------------


def flow_items(emu: Emulator, deal_id: int, **params: Any) -> list[dict[str, Any]]:
    status, _, body = call(emu, f"/v1/deals/{deal_id}/flow", {"limit": 500, **params})
    assert status == 200, body
    return body["data"]


def test_every_deal_has_a_flow_newest_first_with_v1_timestamps(emu):
    kinds = Counter()
    for deal_id in sorted(emu.ids("deals"))[:60]:
        items = flow_items(emu, deal_id, all_changes=1)
        assert items
        assert items == emu.flow(deal_id)
        stamps = [item["timestamp"] for item in items]
        assert stamps == sorted(stamps, reverse=True)
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", s) for s in stamps)
        assert all(set(item) == {"object", "timestamp", "data"} for item in items)
        kinds.update(item["object"] for item in items)
    assert set(kinds) == {"dealChange", "activity", "note", "file", "mailMessage"}


def test_flow_item_ids_are_unique_within_each_type(emu):
    seen = Counter(
        (item["object"], item["data"]["id"])
        for deal_id in range(1, 201)
        for item in emu.flow(deal_id)
    )
    assert max(seen.values()) == 1


def test_flow_shows_custom_field_changes_only_with_all_changes(emu):
    custom = {f["field_code"] for f in emu.records("dealFields") if f["is_custom_field"]}

    def changed_keys(items):
        return {i["data"]["field_key"] for i in items if i["object"] == "dealChange"}

    deals = sorted(emu.ids("deals"))[:40]
    everything = set().union(*(changed_keys(flow_items(emu, d, all_changes=1)) for d in deals))
    default = set().union(*(changed_keys(flow_items(emu, d)) for d in deals))
    assert everything & custom
    assert not default & custom
    assert default == everything - custom


def test_flow_items_parameter_keeps_the_named_kinds(emu):
    items = flow_items(emu, 5, items="dealChange,note", all_changes=1)
    assert {i["object"] for i in items} <= {"dealChange", "note"}
    assert items == [i for i in emu.flow(5) if i["object"] in ("dealChange", "note")]


def test_flow_paginates_with_start_and_limit(emu):
    deal_id = max(range(1, 200), key=lambda d: len(emu.flow(d)))
    everything = emu.flow(deal_id)
    first = call(emu, f"/v1/deals/{deal_id}/flow", {"limit": 2, "all_changes": 1})[2]
    rest = call(emu, f"/v1/deals/{deal_id}/flow", {"start": 2, "limit": 500, "all_changes": 1})[2]
    assert first["additional_data"] == {"start": 0, "limit": 2, "more_items_in_collection": True}
    assert rest["additional_data"]["more_items_in_collection"] is False
    assert first["data"] + rest["data"] == everything


def test_flow_of_a_missing_or_deleted_deal_answers_404_and_costs_nothing(fresh):
    fresh.delete("deals", [3])
    for deal_id in (3, 999):
        status, _, body = call(fresh, f"/v1/deals/{deal_id}/flow")
        assert (status, body["success"], body["data"]) == (404, False, None)
    assert [e.cost for e in fresh.requests] == [0, 0]


def test_touching_a_deal_adds_a_title_change_to_its_flow(fresh):
    title = next(d["title"] for d in fresh.records("deals") if d["id"] == 4)
    when = datetime.datetime(2026, 8, 3, 10, 11, 12, tzinfo=UTC)
    fresh.touch("deals", [4], when=when)
    newest = flow_items(fresh, 4)[0]
    assert newest["object"] == "dealChange"
    assert newest["timestamp"] == "2026-08-03 10:11:12"
    assert (newest["data"]["field_key"], newest["data"]["old_value"]) == ("title", title)
    assert newest["data"]["new_value"] == f"{title} (edit 1)"
    assert newest["data"]["item_id"] == 4


# --- plan gates ----------------------------------------------------------------------------


def test_gated_paths_answer_the_error_envelope_and_cost_nothing():
    gates = {"/v1/goals": 402, "/v1/permissionSets": 403}
    with Emulator(seed=1, scale=20, gated=gates) as emulator:
        status, _, body = call(emulator, "/v1/goals/find")
        assert (status, body["error"], body["success"], body["data"]) == (
            402,
            "Required suites missing",
            False,
            None,
        )
        status, _, body = call(emulator, "/v1/permissionSets")
        assert (status, body["success"]) == (403, False)
        assert call(emulator, "/v1/roles")[0] == 200
        assert [e.cost for e in emulator.requests] == [0, 0, 20]


def test_gate_can_be_set_and_lifted_at_runtime(fresh):
    fresh.gate("/api/v2/projects", 402)
    assert call(fresh, "/api/v2/projects")[0] == 402
    assert call(fresh, "/api/v2/projects/archived")[0] == 402
    fresh.gate("/api/v2/projects", None)
    assert call(fresh, "/api/v2/projects")[0] == 200


# --- fault injection -----------------------------------------------------------------------


def raw_get(emu: Emulator, path: str, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """GET over a fresh connection; return status, lower-cased headers, raw body."""
    host, port = emu.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        connection.request("GET", path, headers={"x-api-token": TOKEN})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_status_fault_skips_after_then_hits_times_requests(fresh):
    fresh.inject("/api/v2/deals", "status", status=503, after=1, times=2)
    statuses = [call(fresh, "/api/v2/deals")[0] for _ in range(4)]
    assert statuses == [200, 503, 503, 200]
    _, _, body = call(fresh, "/api/v2/persons")
    assert body["success"] is True
    assert [e.cost for e in fresh.requests] == [10, 0, 0, 10, 10]


def test_status_fault_answers_the_json_error_envelope(fresh):
    fresh.inject("", "status", status=502)
    status, _, body = call(fresh, "/api/v2/pipelines")
    assert status == 502
    assert body == {
        "success": False,
        "error": "Bad gateway",
        "error_info": body["error_info"],
        "data": None,
        "additional_data": None,
        "errorCode": 502,
    }


def test_a_forever_fault_lasts_until_cleared(fresh):
    fresh.inject("/v1/notes", "not_found", times=-1)
    assert [call(fresh, "/v1/notes")[0] for _ in range(3)] == [404, 404, 404]
    fresh.clear_faults()
    assert call(fresh, "/v1/notes")[0] == 200


def test_the_first_injected_matching_fault_wins(fresh):
    fresh.inject("/api/v2", "status", status=500)
    fresh.inject("/api/v2/deals", "status", status=504)
    # The second schedule lost the first request, so it still has its one time to spend.
    assert [call(fresh, "/api/v2/deals")[0] for _ in range(3)] == [500, 504, 200]


def test_burst_429_fault_sends_the_burst_headers_and_extra_ones(fresh):
    fresh.inject("", "burst_429", headers={"Retry-After": "1"})
    status, headers, body = call(fresh, "/api/v2/deals")
    assert (status, body["errorCode"]) == (429, 429)
    assert headers["x-ratelimit-remaining"] == "0"
    assert int(headers["x-ratelimit-reset"]) >= 1
    assert headers["retry-after"] == "1"
    assert headers["x-daily-ratelimit-token-remaining"] != "0"
    assert fresh.requests[-1] == RequestLog(
        "GET", "/api/v2/deals", {}, 429, 0, fresh.requests[-1].headers
    )


def test_budget_429_fault_exhausts_the_budget_until_reset(fresh):
    fresh.inject("/api/v2/deals", "budget_429")
    status, headers, _ = call(fresh, "/api/v2/deals")
    assert (status, headers["x-daily-ratelimit-token-remaining"]) == (429, "0")
    assert headers.get("retry-after") is None
    assert call(fresh, "/api/v2/persons")[0] == 429
    fresh.reset_budget()
    assert call(fresh, "/api/v2/persons")[0] == 200


def test_null_body_and_not_json_faults_answer_200(fresh):
    fresh.inject("/v1/deals/1/flow", "null_body")
    fresh.inject("/api/v2/deals", "not_json")
    assert raw_get(fresh, "/v1/deals/1/flow")[0::2] == (200, b"null")
    status, _, raw = raw_get(fresh, "/api/v2/deals")
    assert status == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)
    assert [(e.status, e.cost) for e in fresh.requests] == [(200, 0), (200, 0)]


def test_html_403_fault_answers_a_cloudflare_page(fresh):
    fresh.inject("", "html_403")
    status, headers, raw = raw_get(fresh, "/api/v2/deals")
    assert status == 403
    assert headers["content-type"].startswith("text/html")
    assert b"Cloudflare" in raw


def test_drop_fault_closes_the_connection_without_an_answer(fresh):
    fresh.inject("", "drop")
    with pytest.raises(http.client.RemoteDisconnected):
        raw_get(fresh, "/api/v2/deals")
    assert [(e.status, e.cost) for e in fresh.requests] == [(0, 0)]
    assert call(fresh, "/api/v2/deals")[0] == 200


def test_truncate_fault_sends_less_body_than_promised(fresh):
    fresh.inject("", "truncate")
    with pytest.raises(http.client.IncompleteRead):
        raw_get(fresh, "/api/v2/deals")
    assert call(fresh, "/api/v2/deals")[0] == 200


def test_slow_fault_delays_a_normal_answer(fresh):
    fresh.inject("/api/v2/deals", "slow", delay=0.3)
    logged = threading.Semaphore(0)
    fresh.on_request(lambda entry: logged.release())
    with pytest.raises(TimeoutError):  # a delay longer than the client waits
        raw_get(fresh, "/api/v2/deals", timeout=0.05)
    assert call(fresh, "/api/v2/deals")[0] == 200
    # Both logged (the slow answer once it has been written): a bound for a failure only.
    assert logged.acquire(timeout=30)
    assert logged.acquire(timeout=30)
    assert sorted((e.status, e.cost) for e in fresh.requests) == [(200, 10), (200, 10)]


def test_a_held_answer_leaves_only_once_released(fresh):
    fresh.inject("/api/v2/deals", "hold")
    logged = threading.Event()
    fresh.on_request(lambda entry: logged.set())
    with pytest.raises(TimeoutError):  # held: no answer, however long the client waits
        raw_get(fresh, "/api/v2/deals", timeout=0.05)
    assert fresh.requests == []
    fresh.release()
    assert logged.wait(10)
    assert [(e.status, e.cost) for e in fresh.requests] == [(200, 10)]


def test_a_fixed_clock_dates_answers_and_writes_and_moves_only_when_advanced():
    with Emulator(seed=3, scale=60, now=DATASET_NOW) as emu:
        assert call(emu, "/api/v2/pipelines")[1]["date"] == "Wed, 01 Jul 2026 00:00:00 GMT"
        posted = urllib.request.Request(
            emu.url + "/api/v2/organizations",
            data=json.dumps({"name": "Acme"}).encode(),
            headers={"x-api-token": TOKEN, "content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(posted, timeout=10) as response:
            written = json.loads(response.read())["data"]
        assert (written["add_time"], written["update_time"]) == ("2026-07-01T00:00:00Z",) * 2
        assert emu.advance(90) == datetime.datetime(2026, 7, 1, 0, 1, 30, tzinfo=UTC)
        assert call(emu, "/api/v2/pipelines")[1]["date"] == "Wed, 01 Jul 2026 00:01:30 GMT"
        emu.touch("persons", [1])
        (added,) = emu.add("persons", 1)
        times = {r["id"]: r["update_time"] for r in emu.records("persons")}
        assert times[1] == times[added] == "2026-07-01T00:01:30Z"


def test_a_fixed_clock_times_the_burst_window():
    with Emulator(seed=3, scale=60, burst_limit=1, now=DATASET_NOW) as emu:
        assert call(emu, "/api/v2/pipelines")[0] == 200
        assert call(emu, "/api/v2/pipelines")[0] == 429
        emu.advance(1.9)
        assert call(emu, "/api/v2/pipelines")[0] == 429
        emu.advance(0.1)  # the 2-second window has passed
        assert call(emu, "/api/v2/pipelines")[0] == 200


def test_advancing_needs_a_fixed_clock(fresh):
    with pytest.raises(RuntimeError, match="fixed clock"):
        fresh.advance(1)


def test_unknown_faults_are_refused():
    emulator = Emulator(seed=1, scale=5)
    with pytest.raises(ValueError, match="unknown fault"):
        emulator.inject("", "explode")


# --- OAuth ---------------------------------------------------------------------------------

CLIENT = ("client-id", "client-secret")


def refresh(url: str, refresh_token: str, client: tuple[str, str] = CLIENT) -> tuple[int, Any]:
    """POST /oauth/token with the refresh-token grant; return (status, JSON body)."""
    credentials = base64.b64encode(":".join(client).encode()).decode()
    form = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": refresh_token})
    request = urllib.request.Request(
        url + "/oauth/token",
        data=form.encode(),
        headers={
            "Authorization": f"Basic {credentials}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def bearer_get(url: str, path: str, access_token: str) -> int:
    request = urllib.request.Request(
        url + path, headers={"Authorization": f"Bearer {access_token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        with error:
            return error.code


@pytest.fixture
def oauth():
    with Emulator(seed=1, scale=20, oauth_client=CLIENT, refresh_token="rt-0") as emulator:
        yield emulator


def test_refresh_grant_answers_a_bearer_access_token(oauth):
    status, body = refresh(oauth.url, "rt-0")
    assert status == 200
    assert set(body) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "scope",
        "api_domain",
    }
    assert (body["token_type"], body["expires_in"], body["refresh_token"]) == (
        "Bearer",
        3599,
        "rt-0",
    )
    assert body["api_domain"] == oauth.url
    assert bearer_get(oauth.url, "/api/v2/deals", body["access_token"]) == 200


def test_wrong_client_or_refresh_token_answers_401(oauth):
    assert refresh(oauth.url, "rt-0", ("client-id", "nope"))[0] == 401
    status, body = refresh(oauth.url, "rt-unknown")
    assert (status, body["success"]) == (401, False)
    assert bearer_get(oauth.url, "/api/v2/deals", "made-up") == 401


def test_expired_access_tokens_answer_401_until_refreshed(oauth):
    first = refresh(oauth.url, "rt-0")[1]["access_token"]
    oauth.expire_access_tokens()
    assert bearer_get(oauth.url, "/api/v2/deals", first) == 401
    second = refresh(oauth.url, "rt-0")[1]["access_token"]
    assert second != first
    assert bearer_get(oauth.url, "/api/v2/deals", second) == 200


def test_access_tokens_expire_after_their_ttl():
    with Emulator(
        seed=1, scale=5, oauth_client=CLIENT, refresh_token="rt-0", access_token_ttl=0
    ) as emulator:
        status, body = refresh(emulator.url, "rt-0")
        assert (status, body["expires_in"]) == (200, 0)
        assert bearer_get(emulator.url, "/api/v2/deals", body["access_token"]) == 401


def test_rotation_issues_a_new_refresh_token_and_invalidates_the_old():
    with Emulator(
        seed=1, scale=5, oauth_client=CLIENT, refresh_token="rt-0", rotate_refresh_tokens=True
    ) as emulator:
        status, body = refresh(emulator.url, "rt-0")
        assert status == 200
        assert body["refresh_token"] != "rt-0"
        assert refresh(emulator.url, "rt-0")[0] == 401
        assert refresh(emulator.url, body["refresh_token"])[0] == 200


def test_token_requests_are_logged_without_secrets_in_path_or_query(oauth):
    refresh(oauth.url, "rt-0")
    entry = oauth.requests[-1]
    assert (entry.method, entry.path, entry.query, entry.status, entry.cost) == (
        "POST",
        "/oauth/token",
        {},
        200,
        0,
    )
    assert "client-secret" not in f"{entry.path}?{entry.query}"
    assert "rt-0" not in f"{entry.path}?{entry.query}"


def test_cli_serves_oauth_and_gates():
    command = [
        sys.executable, "-m", "tests.emulator", "--scale", "5",
        "--oauth-client", "client-id:client-secret", "--refresh-token", "rt-0",
        "--gate", "/v1/goals=402",
    ]  # fmt: skip
    with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        url = process.stdout.readline().split()[1]
        status, body = refresh(url, "rt-0")
        assert status == 200
        assert bearer_get(url, "/v1/goals/find", body["access_token"]) == 402
        assert bearer_get(url, "/v1/roles", body["access_token"]) == 200
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_snake_case_entity_names_are_accepted(emu):
    assert emu.ids("call_logs") == emu.ids("callLogs")
    assert emu.records("deal_fields") == emu.records("dealFields")
    assert emu.all_ids("deal_installments") == emu.all_ids("dealInstallments")


def test_touching_a_lead_by_its_uuid_sets_update_time_to_the_millisecond(fresh):
    lead = sorted(fresh.ids("leads"))[0]
    when = datetime.datetime(2026, 8, 4, 5, 6, 7, 891_500, tzinfo=UTC)
    fresh.touch("leads", [lead], when=when)
    record = next(r for r in fresh.records("leads") if r["id"] == lead)
    assert record["update_time"] == "2026-08-04T05:06:07.891Z"
    assert fresh.ids("leads", updated_since="2026-08-04T05:06:07.891Z") == {lead}
    assert fresh.ids("leads", updated_since="2026-08-04T05:06:07.892Z") == set()


def test_archiving_a_lead_moves_it_to_the_archived_list(fresh):
    lead = sorted(fresh.ids("leads"))[0]
    fresh.archive("leads", [lead])
    assert lead not in fresh.ids("leads")
    assert lead in fresh.ids("leads", archived=True)


# --- recents ----------------------------------------------------------------------------------

T0 = datetime.datetime(2026, 8, 1, 12, 0, 0, tzinfo=UTC)


def at(seconds: int) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def recents(emu: Emulator, **params: Any) -> dict[str, Any]:
    status, _, body = call(emu, "/v1/recents", {"since_timestamp": "2026-08-01 12:00:00", **params})
    assert status == 200, body
    return body


def changes(body: dict[str, Any]) -> list[tuple[str, int, bool, str]]:
    """(item, id, active_flag, update_time) of each entry, in order."""
    return [
        (e["item"], e["id"], e["data"]["active_flag"], e["data"]["update_time"])
        for e in body["data"]
    ]


@pytest.fixture
def changed(fresh):
    """`fresh` with changes from T0 on (generated data ends on 2026-06-30) and one just before."""
    fresh.touch("products", [1], when=at(-1))
    fresh.delete("notes", [3], when=at(0))
    fresh.delete("organizations", [4], when=at(5))
    fresh.touch("persons", [2, 1], when=at(10))
    fresh.delete("activities", [7, 6], when=at(10))
    return fresh


def test_recents_lists_changes_since_the_timestamp_inclusive_oldest_first(changed):
    assert changes(recents(changed)) == [
        ("note", 3, False, "2026-08-01 12:00:00"),
        ("organization", 4, False, "2026-08-01 12:00:05"),
        ("activity", 6, False, "2026-08-01 12:00:10"),
        ("activity", 7, False, "2026-08-01 12:00:10"),
        ("person", 1, True, "2026-08-01 12:00:10"),
        ("person", 2, True, "2026-08-01 12:00:10"),
    ]


def test_recents_shows_a_deleted_record_as_id_inactive_flag_and_deletion_time(changed):
    body = recents(changed, items="note")
    assert body["data"] == [
        {
            "item": "note",
            "id": 3,
            "data": {"id": 3, "active_flag": False, "update_time": "2026-08-01 12:00:00"},
        }
    ]


def test_recents_shows_an_updated_record_as_its_short_v1_record(changed):
    person = next(p for p in changed.records("persons") if p["id"] == 1)
    entry = recents(changed, items="person")["data"][0]
    assert entry == {
        "item": "person",
        "id": 1,
        "data": {
            "id": 1,
            "name": person["name"],
            "add_time": person["add_time"].replace("T", " ").rstrip("Z"),
            "update_time": "2026-08-01 12:00:10",
            "active_flag": True,
        },
    }


def test_recents_items_keeps_the_named_types(changed):
    body = recents(changed, items="organization,person")
    assert [(e["item"], e["id"]) for e in body["data"]] == [
        ("organization", 4),
        ("person", 1),
        ("person", 2),
    ]


def test_recents_lists_an_updated_record_once_at_its_latest_change(changed):
    changed.touch("notes", [5], when=at(2))
    changed.touch("notes", [5], when=at(20))
    assert [(e["item"], e["id"]) for e in recents(changed)["data"]][-1:] == [("note", 5)]
    assert [e["id"] for e in recents(changed, items="note")["data"]] == [3, 5]


def test_recents_paginates_with_start_and_limit_like_the_spec(changed):
    first = recents(changed, limit=4)
    second = recents(changed, limit=4, start=4)
    assert first["additional_data"] == {
        "since_timestamp": "2026-08-01 12:00:00",
        "last_timestamp_on_page": "2026-08-01 12:00:10",
        "pagination": {"start": 0, "limit": 4, "more_items_in_collection": True},
    }
    assert second["additional_data"]["pagination"] == {
        "start": 4,
        "limit": 4,
        "more_items_in_collection": False,
    }
    assert changes(first) + changes(second) == changes(recents(changed))


def test_recents_answers_the_since_timestamp_itself_on_an_empty_page(changed):
    body = recents(changed, since_timestamp="2026-09-01 00:00:00")
    assert body["data"] == []
    assert body["additional_data"] == {
        "since_timestamp": "2026-09-01 00:00:00",
        "last_timestamp_on_page": "2026-09-01 00:00:00",
        "pagination": {"start": 0, "limit": 100, "more_items_in_collection": False},
    }


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"since_timestamp": "2026-08-01T12:00:00Z"},
        {"since_timestamp": "2026-08-01"},
        {"since_timestamp": "2026-08-01 12:00:00", "limit": 501},
        {"since_timestamp": "2026-08-01 12:00:00", "items": "person,lead"},
    ],
)
def test_recents_refuses_a_bad_since_timestamp_limit_or_item_type(fresh, params):
    status, _, body = call(fresh, "/v1/recents", params)
    assert status == 400
    assert body["success"] is False


def test_recents_deletions_conform_to_the_specs_200_schema(changed, openapi):
    body = recents(changed)
    validator = jsonschema.Draft7Validator(spec.response_json_schema("GET", "/v1/recents"))
    assert [e.message for e in validator.iter_errors(body)] == []


def test_delete_without_a_time_records_now_in_whole_seconds(fresh):
    start = fresh.now().replace(microsecond=0)
    fresh.delete("products", [2])
    end = fresh.now()
    since = start.strftime("%Y-%m-%d %H:%M:%S")
    [entry] = recents(fresh, since_timestamp=since)["data"]
    deleted = datetime.datetime.strptime(entry["data"]["update_time"], "%Y-%m-%d %H:%M:%S")
    assert (entry["item"], entry["id"], entry["data"]["active_flag"]) == ("product", 2, False)
    assert start <= deleted.replace(tzinfo=UTC) <= end


def test_an_added_custom_field_is_null_in_every_item_and_changes_no_other_value():
    with Emulator(seed=5, scale=40) as plain:
        before = plain.records("organizations")
        definitions = plain.records("organizationFields")
    with Emulator(seed=5, scale=40) as emu:  # the same data, the field added before any read
        code = emu.add_field("organizations", "Company key", "varchar")
        after = emu.records("organizations")
        added = [d for d in emu.records("organizationFields") if d not in definitions]
    assert [(d["field_code"], d["field_name"], d["field_type"]) for d in added] == [
        (code, "Company key", "varchar")
    ]
    assert [r["custom_fields"].pop(code) for r in after] == [None] * len(before)
    assert after == before
