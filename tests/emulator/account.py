"""Account-wide lists (v1): activity types, filters, lead labels and sources, roles, permission
sets, call logs, files, goals. Small fixed tables, except call logs and files (scale-sized)."""

from __future__ import annotations

import random
from typing import Any, ClassVar

from tests.emulator.data import NOTE_PHRASES, Table, iso_date, iso_millis, mix, v1_time
from tests.emulator.fields import between, pick
from tests.emulator.leads import uuid_from


def hex_id(salt: int, number: int, length: int = 32) -> str:
    """Return a lowercase hex string id that is a pure function of (salt, number)."""
    return f"{mix(salt, number):016x}{mix(~salt, number):016x}"[:length]


#: The emulated company's id (call logs carry it; `/v1/users/me` answers it).
COMPANY_ID = 6_660_666


class ActivityTypes(Table):
    """Activity types: the six built-in ones and two custom ones (one inactive)."""

    entity = "activityTypes"
    sortable: ClassVar[dict[str, str]] = {"id": "id"}
    #: (name, icon_key, key_string, custom, active)
    LIST = (
        ("Call", "call", "call", False, True),
        ("Meeting", "meeting", "meeting", False, True),
        ("Task", "task", "task", False, True),
        ("Deadline", "deadline", "deadline", False, True),
        ("Email", "email", "email", False, True),
        ("Lunch", "lunch", "lunch", False, True),
        ("Démo 🎬", "presentation", "demo", True, True),
        ("Site visit", "car", "site_visit", True, False),
    )
    COLORS = ("FFFFFF", "FFC65A", "5DB85D", "EB5A46", "9B59B6")

    def label(self, record_id: int) -> str:
        return self._edited(record_id, self.LIST[(record_id - 1) % len(self.LIST)][0])

    def build(self, record_id: int, rng: random.Random) -> dict[str, Any]:
        _, icon, key, custom, active = self.LIST[(record_id - 1) % len(self.LIST)]
        added, updated = self._stamp(record_id)
        return {
            "id": record_id,
            "order_nr": record_id,
            "name": self.label(record_id),
            "key_string": key if record_id <= len(self.LIST) else f"{key}_{record_id}",
            "icon_key": icon,
            "active_flag": active,
            "color": pick(rng, self.COLORS),
            "is_custom_flag": custom,
            "add_time": v1_time(added),
            "update_time": v1_time(updated),
        }


class Filters(Table):
    """Saved filters of every type the spec lists; `type` is a column, as the list filters on it."""

    entity = "filters"
    columns = ("type", "user_id")
    sortable: ClassVar[dict[str, str]] = {"id": "id"}
    TYPES = ("deals", "leads", "org", "people", "products", "activity", "projects")
    NAMES = ("All open", "Won this quarter", "Mine 👤", "Nordics — Großkunden", "Stale > 30 days")

    def generate(self, n: int, now: int | None) -> dict[str, list[int]]:
        columns = self._times(n, now)
        start = len(self)
        columns.update(
            type=[(start + p) % len(self.TYPES) for p in range(n)], user_id=self._users(n)
        )
        return columns

    def label(self, record_id: int) -> str:
        kind = self.TYPES[self.cols["type"][self._pos(record_id)]]
        return self._edited(record_id, f"{self.NAMES[record_id % len(self.NAMES)]} ({kind})")

    def build(self, record_id: int, rng: random.Random) -> dict[str, Any]:
        pos = self._pos(record_id)
        added, updated = self._stamp(record_id)
        used = rng.random() < 0.7
        return {
            "id": record_id,
            "name": self.label(record_id),
            "filter_code": None,
            "is_editable": record_id != 1,
            "active_flag": True,
            "type": self.TYPES[self.cols["type"][pos]],
            "temporary_flag": None,
            "user_id": self.cols["user_id"][pos],
            "add_time": v1_time(added),
            "update_time": v1_time(updated),
            "visible_to": pick(rng, ("1", "3", "7")),
            "last_used_time": v1_time(updated + between(rng, 0, 30) * 86_400) if used else None,
            "custom_view_id": between(rng, 1, 90) if rng.random() < 0.3 else None,
        }


class LeadLabels(Table):
    """Lead labels: UUID ids, ISO times with milliseconds like leads."""

    entity = "leadLabels"
    sortable: ClassVar[dict[str, str]] = {"id": "id"}
    LIST = (("Hot", "red"), ("Warm", "orange"), ("Cold", "blue"), ("Ünïcode 🚀", "purple"))

    def public_id(self, record_id: int) -> str:
        return uuid_from(self.salt, record_id)

    def label(self, record_id: int) -> str:
        return self._edited(record_id, self.LIST[(record_id - 1) % len(self.LIST)][0])

    def build(self, record_id: int, rng: random.Random) -> dict[str, Any]:
        added, updated = self._stamp(record_id)
        return {
            "id": self.public_id(record_id),
            "name": self.label(record_id),
            "color": self.LIST[(record_id - 1) % len(self.LIST)][1],
            "add_time": iso_millis(added * 1000),
            "update_time": iso_millis(updated * 1000),
        }


class LeadSources(Table):
    """Lead sources: only names; the API shows no id, so a source's "id" is its name."""

    entity = "leadSources"
    timestamps = False
    sortable: ClassVar[dict[str, str]] = {"id": "id"}
    NAMES = (
        "Manually created", "Deal", "Web forms", "Prospector", "Leadbooster", "Live chat",
        "Import", "Website visitors", "Workflow automation", "API",
    )  # fmt: skip

    def public_id(self, record_id: int) -> str:
        return self.label(record_id)

    def label(self, record_id: int) -> str:
        return self.NAMES[(record_id - 1) % len(self.NAMES)]

    def build(self, record_id: int, rng: random.Random) -> dict[str, Any]:
        return {"name": self.label(record_id)}


class Roles(Table):
    """Roles: a small hierarchy under role 1."""

    entity = "roles"
    timestamps = False
    sortable: ClassVar[dict[str, str]] = {"id": "id"}
    NAMES = ("Sales manager", "Account executive", "SDR — Nordics", "Partner manager", "Support")

    def label(self, record_id: int) -> str:
        return self._edited(record_id, self.NAMES[(record_id - 1) % len(self.NAMES)])

    def build(self, record_id: int, rng: random.Random) -> dict[str, Any]:
        parent = None if record_id == 1 else 1
        return {
            "parent_role_id": parent,
            "name": self.label(record_id),
            "id": record_id,
            "active_flag": record_id != 5,
            # Counts are strings in the spec (and on the wire).
            "assignment_count": str(between(rng, 0, 6)),
            "sub_role_count": str(len(self) - 1 if parent is None else 0),
            "level": 1 if parent is None else 2,
        }


class PermissionSets(Table):
    """Permission sets: string (UUID) ids, one or two per app; `app` is a filter column."""

    entity = "permissionSets"
    timestamps = False
    columns = ("app",)
    sortable: ClassVar[dict[str, str]] = {"id": "id"}
    #: (name, app, type)
    LIST = (
        ("Global admin", "global", "admin"),
        ("Regular user", "global", "regular"),
        ("Sales admin", "sales", "admin"),
        ("Sales — read only", "sales", "custom"),
        ("Projects manager", "projects", "manager"),
        ("Campaigns user", "campaigns", "regular"),
    )
    APPS = ("sales", "projects", "campaigns", "global", "account_settings", "partnership", "nova")

    def generate(self, n: int, now: int | None) -> dict[str, list[int]]:
        start = len(self)
        apps = [self.LIST[(start + p) % len(self.LIST)][1] for p in range(n)]
        return {"app": [self.APPS.index(app) for app in apps]}

    def public_id(self, record_id: int) -> str:
        return uuid_from(self.salt, record_id)

    def label(self, record_id: int) -> str:
        return self._edited(record_id, self.LIST[(record_id - 1) % len(self.LIST)][0])

    def build(self, record_id: int, rng: random.Random) -> dict[str, Any]:
        name, app, kind = self.LIST[(record_id - 1) % len(self.LIST)]
        return {
            "id": self.public_id(record_id),
            "name": self.label(record_id),
            "description": f"{name} ({app})",
            "app": app,
            "type": kind,
            "assignment_count": between(rng, 0, 12),
        }


class CallLogs(Table):
    """Call logs: string ids (`CA...`), ISO times with milliseconds; scale / 10 of them."""

    entity = "callLogs"
    columns = ("user_id", "deal_id", "person_id", "org_id", "activity_id")
    OUTCOMES = ("connected", "no_answer", "left_message", "left_voicemail", "wrong_number", "busy")

    def generate(self, n: int, now: int | None) -> dict[str, list[int]]:
        refs = self.dataset.refs
        columns = self._times(n, now)
        columns.update(
            user_id=self._users(n),
            deal_id=self._refs(n, refs.deals, 0.4),
            person_id=self._refs(n, refs.persons, 0.1),
            org_id=self._refs(n, refs.orgs, 0.5),
            activity_id=self._refs(n, refs.activities),
        )
        return columns

    def public_id(self, record_id: int) -> str:
        return "CA" + hex_id(self.salt, record_id, 30)

    def label(self, record_id: int) -> str:
        subject = ("Intro call", "Follow-up ☎", "Rückruf")[mix(self.salt, record_id) % 3]
        return self._edited(record_id, subject)

    def build(self, record_id: int, rng: random.Random) -> dict[str, Any]:
        pos = self._pos(record_id)
        added, _ = self._stamp(record_id)
        seconds = between(rng, 0, 3600)
        outcome = pick(rng, self.OUTCOMES)
        return {
            "id": self.public_id(record_id),
            "user_id": self.cols["user_id"][pos],
            "activity_id": self.cols["activity_id"][pos],
            "subject": self.label(record_id),
            "duration": str(seconds if outcome == "connected" else 0),
            "outcome": outcome,
            "from_phone_number": f"+372 5{between(rng, 100000, 999999)}",
            "to_phone_number": f"+49 30 {between(rng, 1000000, 9999999)}",
            "start_time": iso_millis(added * 1000),
            "end_time": iso_millis((added + seconds) * 1000),
            "person_id": self.get(record_id, "person_id"),
            "org_id": self.get(record_id, "org_id"),
            "deal_id": self.get(record_id, "deal_id"),
            "lead_id": None,
            "note": pick(rng, NOTE_PHRASES) if rng.random() < 0.4 else None,
            "has_recording": rng.random() < 0.2,
            "company_id": COMPANY_ID,
        }


class Files(Table):
    """Files (v1 shape); most are attached to a deal, person or organization."""

    entity = "files"
    columns = ("user_id", "deal_id", "person_id", "org_id")
    NAMES = (
        "proposal.pdf",
        "Angebot_2025.docx",
        "見積書.xlsx",
        "contract — signed.pdf",
        "logo.png",
    )

    def generate(self, n: int, now: int | None) -> dict[str, list[int]]:
        refs = self.dataset.refs
        columns = self._times(n, now)
        columns.update(
            user_id=self._users(n),
            deal_id=self._refs(n, refs.deals, 0.3),
            person_id=self._refs(n, refs.persons, 0.6),
            org_id=self._refs(n, refs.orgs, 0.6),
        )
        return columns

    def label(self, record_id: int) -> str:
        name = self.NAMES[mix(self.salt, record_id) % len(self.NAMES)]
        return self._edited(record_id, name)

    def build(self, record_id: int, rng: random.Random) -> dict[str, Any]:
        ds = self.dataset
        pos = self._pos(record_id)
        added, updated = self._stamp(record_id)
        deal, person, org = (self.get(record_id, c) for c in ("deal_id", "person_id", "org_id"))
        name = self.label(record_id)
        return {
            "id": record_id,
            "user_id": self.cols["user_id"][pos],
            "deal_id": deal,
            "person_id": person,
            "org_id": org,
            "product_id": None,
            "activity_id": None,
            "lead_id": None,
            "project_id": None,
            "add_time": v1_time(added),
            "update_time": v1_time(updated),
            "file_name": f"{record_id}_{name}",
            "file_size": between(rng, 1_000, 25_000_000),
            "active_flag": True,
            "inline_flag": False,
            "remote_location": pick(rng, ("s3", "googledocs")),
            "remote_id": hex_id(self.salt, record_id, 24),
            "cid": "",
            "s3_bucket": "",
            "mail_message_id": "",
            "mail_template_id": "",
            "deal_name": ds.deals.label(deal) if deal is not None else "",
            "person_name": ds.persons.label(person) if person is not None else "",
            "org_name": ds.organizations.label(org) if org is not None else "",
            "product_name": "",
            "lead_name": "",
            "project_name": "",
            "url": f"https://app.pipedrive.com/api/v1/files/{record_id}/download",
            "name": name,
            "description": pick(rng, NOTE_PHRASES) if rng.random() < 0.2 else "",
        }


class Goals(Table):
    """Goals: string ids; `is_active` is a column because `/goals/find` filters on it."""

    entity = "goals"
    timestamps = False
    columns = ("active",)
    sortable: ClassVar[dict[str, str]] = {"id": "id"}
    #: (title, type name, tracking metric)
    LIST = (
        ("Q3 revenue 💶", "deals_won", "sum"),
        ("New deals per month", "deals_started", "quantity"),
        ("Calls completed", "activities_completed", "quantity"),
        ("Demos booked", "activities_added", "quantity"),
        ("Progress to proposal", "deals_progressed", "quantity"),
        ("2024 Jahresziel", "deals_won", "sum"),
    )

    def generate(self, n: int, now: int | None) -> dict[str, list[int]]:
        start = len(self)
        # The last of the list is a past goal: inactive.
        return {"active": [int((start + p) % len(self.LIST) != 5) for p in range(n)]}

    def public_id(self, record_id: int) -> str:
        return hex_id(self.salt, record_id)

    def label(self, record_id: int) -> str:
        return self._edited(record_id, self.LIST[(record_id - 1) % len(self.LIST)][0])

    def build(self, record_id: int, rng: random.Random) -> dict[str, Any]:
        _, kind, metric = self.LIST[(record_id - 1) % len(self.LIST)]
        begin = 19_723 + between(rng, 0, 900)  # days since the epoch: 2024-01-01 on
        company = rng.random() < 0.4
        params: dict[str, Any] = {"pipeline_id": [1, 2] if kind.startswith("deals") else []}
        if kind.startswith("activities"):
            params = {"activity_type_id": [1, 2]}
        return {
            "id": self.public_id(record_id),
            "owner_id": self.dataset.user_ids[0],
            "title": self.label(record_id),
            "type": {"name": kind, "params": params},
            "assignee": {
                "id": 1 if company else pick(rng, self.dataset.user_ids),
                "type": "company" if company else "person",
            },
            "interval": pick(rng, ("weekly", "monthly", "quarterly", "yearly")),
            "duration": {
                "start": iso_date(begin * 86_400),
                "end": iso_date((begin + between(rng, 30, 365)) * 86_400),
            },
            "expected_outcome": {
                "target": between(rng, 5, 500) * (1000 if metric == "sum" else 1),
                "tracking_metric": metric,
                **({"currency_id": 1} if metric == "sum" else {}),
            },
            "is_active": bool(self.cols["active"][self._pos(record_id)]),
            "report_ids": [hex_id(~self.salt, record_id)],
        }
