"""A read's window ends at Pipedrive's now (its `Date` header), never this machine's.

Pipedrive stamps `update_time` by its own clock: a window ended by this machine's clock would
cut reads short when it is behind, and read into Pipedrive's future when it is ahead. These
emulators' clocks stand where the test puts them, far from this machine's either way.
"""

from __future__ import annotations

import datetime
import logging

from tests.conftest import TOKEN, config_for, rfc3339
from tests.emulator import DATASET_NOW, Emulator
from tests.singer_run import bookmark, discover, select, sync

SECOND = datetime.timedelta(seconds=1)
#: A Pipedrive clock 400 days after the data (2027-08-05): ahead of this machine's today.
AHEAD = DATASET_NOW + datetime.timedelta(days=400)
CLOCK_CALL = ("GET", "/v1/users/me")


def test_changes_up_to_pipedrives_now_are_read_whatever_this_machines_clock_says():
    with Emulator(seed=3, scale=40, api_token=TOKEN, now=AHEAD) as emu:
        touched = sorted(emu.ids("persons"))[:3]
        emu.touch("persons", touched, when=AHEAD - SECOND)
        result = sync(config_for(emu), streams=["persons"])
        assert result.ids("persons") == emu.all_ids("persons")
        assert bookmark(result.final_state, "persons") == rfc3339(AHEAD - SECOND)


def test_a_run_of_deleted_records_alone_asks_pipedrives_clock_once_and_counts_it(caplog):
    with Emulator(seed=3, scale=40, api_token=TOKEN, now=AHEAD) as emu:
        catalog = select(discover(config_for(emu)), ["deleted_records"])
        emu.clear_log()
        with caplog.at_level(logging.INFO):
            sync(config_for(emu), catalog=catalog)
        calls = [(r.method, r.path, r.cost) for r in emu.requests]
        assert calls == [(*CLOCK_CALL, 2), ("GET", "/v1/recents", 20)]
        assert "Run spent 22 tokens in 2 requests" in caplog.messages


def test_a_run_whose_first_read_follows_field_definitions_asks_no_clock():
    with Emulator(seed=3, scale=40, api_token=TOKEN, now=AHEAD) as emu:
        catalog = select(discover(config_for(emu)), ["persons", "deleted_records"])
        emu.clear_log()
        sync(config_for(emu), catalog=catalog)
        assert CLOCK_CALL not in [(r.method, r.path) for r in emu.requests]


def test_an_unsorted_reads_bookmark_is_capped_by_pipedrives_clock_not_this_machines():
    # deal_products are read per deal, not in update_time order: the SDK caps their bookmark
    # by a signpost, which is the window's end.
    with Emulator(seed=3, scale=40, api_token=TOKEN, now=AHEAD) as emu:
        product = emu.records("deal_products")[0]
        emu.touch("deal_products", [product["id"]], when=AHEAD - SECOND)
        emu.touch("deals", [product["deal_id"]], when=AHEAD - SECOND)
        result = sync(config_for(emu), streams=["deals", "deal_products"])
        assert bookmark(result.final_state, "deal_products") == rfc3339(AHEAD - SECOND)
