"""Projects and their tasks (plan-gated: skipped with a warning where the plan lacks them)."""

from __future__ import annotations

from tap_pipedrive import schemas
from tap_pipedrive.lists import V2Stream


class ProjectsStream(V2Stream):
    """Projects, live and archived (`/api/v2/projects/archived`)."""

    name = "projects"
    path = "/api/v2/projects"
    primary_keys = ("id",)
    base_schema = schemas.PROJECTS
    fields_stream = "project_fields"
    archived_token_cost = 10


class TasksStream(V2Stream):
    """Project tasks."""

    name = "tasks"
    path = "/api/v2/tasks"
    primary_keys = ("id",)
    base_schema = schemas.TASKS
