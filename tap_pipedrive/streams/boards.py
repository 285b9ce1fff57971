"""Projects' boards and the phases on each (plan-gated with projects; small, read whole).

`/api/v2/phases` lists one board's phases (`board_id` is required), so phases are read per board.
"""

from __future__ import annotations

import singer_sdk.typing as th

from tap_pipedrive.lists import V2Stream
from tap_pipedrive.streams.per_parent import ParentList, PerParentStream

BOARDS = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True),
    th.Property("name", th.StringType),
    th.Property("order_nr", th.IntegerType, description="The board's place among the boards"),
    th.Property("add_time", th.DateTimeType),
    th.Property("update_time", th.DateTimeType),
).to_dict()

PHASES = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True),
    th.Property("name", th.StringType),
    th.Property("board_id", th.IntegerType),
    th.Property("order_nr", th.IntegerType, description="The phase's place on its board"),
    th.Property("add_time", th.DateTimeType),
    th.Property("update_time", th.DateTimeType),
).to_dict()


class BoardsStream(ParentList, V2Stream):
    """Project boards (active ones: the API lists no others)."""

    name = "boards"
    path = "/api/v2/boards"
    primary_keys = ("id",)
    base_schema = BOARDS


class PhasesStream(PerParentStream, V2Stream):
    """Project phases, one call per board."""

    name = "phases"
    path = "/api/v2/phases"
    primary_keys = ("id",)
    base_schema = PHASES
    parent_stream_type = BoardsStream
    parent_param = "board_id"
