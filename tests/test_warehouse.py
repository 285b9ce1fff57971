"""Warehouse to Pipedrive: `meltano run tap-postgres target-pipedrive` into the emulator.

A table of companies and one of contacts in a real PostgreSQL (the throwaway server of
tests/test_postgres.py), read by meltanolabs-tap-postgres INCREMENTAL on `updated_at`, upserted
by target-pipedrive (companies by name, contacts by email). After three rows change in SQL, the
second run sends exactly three PATCH requests: tap-postgres also re-sends the rows sharing the
bookmark's `updated_at`, and the target skips those, as Pipedrive has them already.
"""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

import pytest

from tests.conftest import TOKEN, unavailable
from tests.emulator import Emulator
from tests.meltano_project import installed, meltano, meltano_env, meltano_project
from tests.target_run import WRITES
from tests.test_postgres import TARGET_VENV, Postgres, running_server

pytestmark = pytest.mark.slow

PLUGINS = ("extractors/tap-postgres", "loaders/target-pipedrive")
COMPANIES = [
    ("Nordic Widgets AS", "https://widgets.example", "NO-1", "Manufacturing"),
    ("Baltic Bank", "https://bank.example", "EE-2", "Finance"),
    ("Alpine Care", None, "CH-3", "Healthcare"),
]
CONTACTS = [
    ("ada@widgets.example", "Ada Berg", "CTO"),
    ("jaan@bank.example", "Jaan Tamm", "CFO"),
    ("lea@care.example", "Léa Müller", "Head of IT"),
    ("ola@widgets.example", "Ola Nord", "Buyer"),
]


def literals(row: tuple[str | None, ...]) -> str:
    """SQL literals of a row's values (none of them holds a quote)."""
    return ", ".join("NULL" if value is None else f"'{value}'" for value in row)


SQL = [
    "CREATE SCHEMA crm",
    "CREATE TABLE crm.companies (name text PRIMARY KEY, website text, tax_id text, "
    "industry_segment text, updated_at timestamptz NOT NULL)",
    "CREATE TABLE crm.contacts (email text PRIMARY KEY, name text, job_title text, "
    "updated_at timestamptz NOT NULL)",
    *(
        f"INSERT INTO crm.companies VALUES ({literals(row)}, '2026-01-0{k + 1}T00:00:00Z')"
        for k, row in enumerate(COMPANIES)
    ),
    *(
        f"INSERT INTO crm.contacts VALUES ({literals(row)}, '2026-01-0{k + 1}T00:00:00Z')"
        for k, row in enumerate(CONTACTS)
    ),
]
TARGET_STREAMS = {
    "crm-companies": {"entity": "organizations", "match_key": "name"},
    "crm-contacts": {"entity": "persons", "match_key": "email"},
}
INCREMENTAL = {
    stream: {"replication-method": "INCREMENTAL", "replication-key": "updated_at"}
    for stream in TARGET_STREAMS
}


@pytest.fixture
def postgres() -> t.Iterator[Postgres]:
    if not (TARGET_VENV / "bin" / "python").exists():
        unavailable(f"{TARGET_VENV} (psycopg for the SQL) is missing: run `make target-postgres`")
    installed(*PLUGINS)
    with running_server() as pg:
        pg.query(*SQL)
        yield pg


def meltano_run(project: Path, pg: Postgres, emu: Emulator, rejects: Path) -> None:
    env = meltano_env(
        project,
        TAP_POSTGRES_HOST="127.0.0.1",
        TAP_POSTGRES_PORT=str(pg.port),
        TAP_POSTGRES_USER="postgres",
        TAP_POSTGRES_PASSWORD="unused",  # trust authentication
        TAP_POSTGRES_DATABASE="postgres",
        TAP_POSTGRES_FILTER_SCHEMAS=json.dumps(["crm"]),
        TAP_POSTGRES__SELECT=json.dumps([f"{stream}.*" for stream in TARGET_STREAMS]),
        TAP_POSTGRES__METADATA=json.dumps(INCREMENTAL),
        TARGET_PIPEDRIVE_API_URL=emu.url,
        TARGET_PIPEDRIVE_API_TOKEN=TOKEN,
        TARGET_PIPEDRIVE_STREAMS=json.dumps(TARGET_STREAMS),
        TARGET_PIPEDRIVE_REJECTS_FILE=str(rejects),
    )
    meltano(project, env, "run", "tap-postgres", "target-pipedrive")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return meltano_project(tmp_path, *PLUGINS)


def writes(emu: Emulator) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in emu.requests if r.method in WRITES]


def test_warehouse_rows_are_upserted_and_only_changed_rows_are_patched(postgres, project, tmp_path):
    with Emulator(seed=5, scale=40, api_token=TOKEN) as emu:
        rejects = tmp_path / "rejects.jsonl"
        meltano_run(project, postgres, emu, rejects)
        orgs = {r["name"]: r for r in emu.records("organizations")}
        persons = {e["value"]: r for r in emu.records("persons") for e in r["emails"]}
        tax_id = next(d.code for d in emu.data.custom_fields("organizations") if d.name == "Tax ID")
        segment = next(
            d for d in emu.data.custom_fields("organizations") if d.name == "Industry segment"
        )
        labels = segment.labels()
        assert {
            (
                n,
                orgs[n]["website"],
                orgs[n]["custom_fields"][tax_id],
                labels[orgs[n]["custom_fields"][segment.code]],
            )
            for n, *_ in COMPANIES
        } == set(COMPANIES)
        assert {(e, persons[e]["name"], persons[e]["job_title"]) for e, *_ in CONTACTS} == set(
            CONTACTS
        )
        assert sorted(writes(emu)) == sorted(
            [("POST", "/api/v2/organizations")] * 3 + [("POST", "/api/v2/persons")] * 4
        )
        assert not rejects.exists()

        postgres.query(
            "UPDATE crm.contacts SET job_title = 'CEO', updated_at = now() "
            "WHERE email IN ('ada@widgets.example', 'lea@care.example')",
            "UPDATE crm.companies SET website = 'https://care.example', updated_at = now() "
            "WHERE name = 'Alpine Care'",
        )
        emu.clear_log()
        meltano_run(project, postgres, emu, rejects)
        assert sorted(writes(emu)) == sorted(
            [
                ("PATCH", f"/api/v2/organizations/{orgs['Alpine Care']['id']}"),
                ("PATCH", f"/api/v2/persons/{persons['ada@widgets.example']['id']}"),
                ("PATCH", f"/api/v2/persons/{persons['lea@care.example']['id']}"),
            ]
        )
        assert item_field(emu, "organizations", orgs["Alpine Care"]["id"], "website") == (
            "https://care.example"
        )


def item_field(emu: Emulator, entity: str, item_id: int, field: str) -> t.Any:
    return next(r[field] for r in emu.records(entity) if r["id"] == item_id)
