"""Projects and tasks (v2): about 8% of projects archived, a handful of tasks per project."""

from __future__ import annotations

import random
from typing import Any, ClassVar

from tests.emulator.data import (
    DAY,
    NOTE_PHRASES,
    NULL,
    Table,
    archived_flags,
    iso_date,
    label_ids,
    mix,
    rfc3339,
)
from tests.emulator.fields import between, pick

PROJECT_WORDS = ("Onboarding", "Rollout", "Migration 🚚", "Integration", "Schulung", "導入支援")
TASK_TITLES = (
    "Kick-off meeting", "Collect requirements", "Configure SSO", "Data import", "Training ☕",
    "Go-live check", "Abnahme", "Retrospective",
)  # fmt: skip


class Projects(Table):
    """Projects: `status` open/completed/canceled (coded 0..2); archived ones listed apart."""

    entity = "projects"
    columns = ("owner_id", "status", "archived", "archive_time", "phase_id", "deal_id",
               "person_id", "org_id")  # fmt: skip
    STATUSES = ("open", "completed", "canceled")
    ARCHIVED_SHARE = 0.08
    #: Boards and their phases (ids), as the projects app sets them up.
    PHASES = ((1, (1, 2, 3)), (2, (4, 5, 6, 7)))

    def generate(self, n: int, now: int | None) -> dict[str, list[int]]:
        refs = self.dataset.refs
        rnd = self.rng.random
        archived = archived_flags(self, n, now, self.ARCHIVED_SHARE)
        columns = self._times(n, now, apart=[p for p in range(n) if archived[p]])
        columns.update(
            owner_id=self._users(n),
            status=[0 if r < 0.6 else 1 if r < 0.9 else 2 for r in (rnd() for _ in range(n))],
            archived=archived,
            archive_time=[
                u if a else NULL for u, a in zip(columns["update_time"], archived, strict=True)
            ],
            phase_id=[1 + int(rnd() * 7) for _ in range(n)],
            deal_id=self._refs(n, refs.deals, 0.3),
            person_id=self._refs(n, refs.persons, 0.5),
            org_id=self._refs(n, refs.orgs, 0.3),
        )
        return columns

    def label(self, record_id: int) -> str:
        org = self.get(record_id, "org_id")
        word = PROJECT_WORDS[mix(self.salt, record_id) % len(PROJECT_WORDS)]
        owner = self.dataset.organizations.label(org) if org is not None else "Internal"
        return self._edited(record_id, f"{owner} {word}")

    def build(self, record_id: int, rng: random.Random) -> dict[str, Any]:
        pos = self._pos(record_id)
        added, updated = self._stamp(record_id)
        phase = self.cols["phase_id"][pos]
        board = next(b for b, phases in self.PHASES if phase in phases)
        start = added + between(rng, 0, 20) * DAY
        status = self.STATUSES[self.cols["status"][pos]]
        refs = [self.get(record_id, c) for c in ("deal_id", "person_id", "org_id")]
        return {
            "id": record_id,
            "title": self.label(record_id),
            "description": pick(rng, NOTE_PHRASES) if rng.random() < 0.6 else None,
            "status": status,
            "board_id": board,
            "phase_id": phase,
            "owner_id": self.cols["owner_id"][pos],
            "start_date": iso_date(start) if rng.random() < 0.8 else None,
            "end_date": iso_date(start + between(rng, 14, 200) * DAY)
            if rng.random() < 0.6
            else None,
            "deal_ids": [refs[0]] if refs[0] is not None else [],
            "person_ids": [refs[1]] if refs[1] is not None else [],
            "org_ids": [refs[2]] if refs[2] is not None else [],
            "label_ids": label_ids(rng),
            "health_status": pick(rng, (None, 1, 2, 3)),
            "add_time": rfc3339(added),
            "update_time": rfc3339(updated),
            "status_change_time": rfc3339(updated) if status != "open" else rfc3339(added),
            "archive_time": rfc3339(self.get(record_id, "archive_time")),
            "custom_fields": self._custom_fields(record_id),
        }


class Tasks(Table):
    """Project tasks: about five per project, a quarter of them subtasks."""

    entity = "tasks"
    columns = ("project_id", "creator_id", "assignee_id", "is_done", "is_milestone",
               "parent_task_id")  # fmt: skip
    sortable: ClassVar[dict[str, str]] = {"id": "id"}

    def generate(self, n: int, now: int | None) -> dict[str, list[int]]:
        rnd = self.rng.random
        projects = max(1, len(self.dataset.projects))
        start = len(self)
        columns = self._times(n, now)
        project = [1 + (start + p) * projects // max(1, start + n) for p in range(n)]
        parent = [NULL] * n
        for p in range(1, n):
            # A subtask's parent is an earlier root task of the same project.
            if project[p] == project[p - 1] and parent[p - 1] == NULL and rnd() < 0.25:
                parent[p] = start + p  # the row id of position p - 1
        columns.update(
            project_id=project,
            creator_id=self._users(n),
            assignee_id=self._users(n),
            is_done=[int(rnd() < 0.5) for _ in range(n)],
            is_milestone=[int(rnd() < 0.1) for _ in range(n)],
            parent_task_id=parent,
        )
        return columns

    def label(self, record_id: int) -> str:
        return self._edited(record_id, TASK_TITLES[mix(self.salt, record_id) % len(TASK_TITLES)])

    def build(self, record_id: int, rng: random.Random) -> dict[str, Any]:
        pos = self._pos(record_id)
        added, updated = self._stamp(record_id)
        done = bool(self.cols["is_done"][pos])
        begin = added + between(rng, 0, 10) * DAY
        return {
            "id": record_id,
            "title": self.label(record_id),
            "creator_id": self.cols["creator_id"][pos],
            "description": pick(rng, NOTE_PHRASES) if rng.random() < 0.4 else None,
            "project_id": self.cols["project_id"][pos],
            "is_done": done,
            "is_milestone": bool(self.cols["is_milestone"][pos]),
            "due_date": iso_date(begin + between(rng, 1, 60) * DAY) if rng.random() < 0.7 else None,
            "start_date": iso_date(begin) if rng.random() < 0.5 else None,
            "parent_task_id": self.get(record_id, "parent_task_id"),
            "assignee_ids": [self.cols["assignee_id"][pos]],
            "priority": pick(rng, (None, 1, 2, 3)),
            "add_time": rfc3339(added),
            "update_time": rfc3339(updated),
            "marked_as_done_time": rfc3339(updated) if done else None,
        }
