"""The sales pipelines and their stages (small lists, read whole every run)."""

from __future__ import annotations

from tap_pipedrive import schemas
from tap_pipedrive.lists import V2Stream


class PipelinesStream(V2Stream):
    """Pipelines."""

    name = "pipelines"
    path = "/api/v2/pipelines"
    primary_keys = ("id",)
    base_schema = schemas.PIPELINES
    token_cost = 5


class StagesStream(V2Stream):
    """Stages of every pipeline."""

    name = "stages"
    path = "/api/v2/stages"
    primary_keys = ("id",)
    base_schema = schemas.STAGES
    token_cost = 5
