"""Warehouse to Pipedrive: `meltano run tap-postgres target-pipedrive` into the emulator.

A table of companies and one of contacts in a real PostgreSQL (the throwaway server of
tests/test_postgres.py), read by meltanolabs-tap-postgres INCREMENTAL on `updated_at`, upserted
by target-pipedrive (companies by name, contacts by email). After three rows change in SQL, the
second run sends exactly three PATCH requests: tap-postgres also re-sends the rows sharing the
bookmark's `updated_at`, and the target skips those, as Pipedrive has them already.

Then links (issue 20): companies, contacts and deals keyed by the warehouse's keys, which
Pipedrive holds in text custom fields; the contacts' and deals' key columns become org_id and
person_id. Every deal lands linked, a rerun writes nothing, and one deal moved to another
company in SQL is one PATCH.
"""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

import pytest

from tests.conftest import TOKEN
from tests.emulator import Emulator
from tests.meltano_project import installed, meltano, meltano_env, meltano_project
from tests.postgres_server import Postgres, throwaway_postgres
from tests.target_run import WRITES

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
    installed(*PLUGINS)
    with throwaway_postgres() as pg:
        pg.query(*SQL)
        yield pg


def meltano_run(
    project: Path,
    pg: Postgres,
    emu: Emulator,
    rejects: Path,
    schema: str,
    streams: dict[str, t.Any],
    metadata: dict[str, t.Any] | None = None,
) -> None:
    """`meltano run tap-postgres target-pipedrive`: a schema's tables as the target's streams."""
    env = meltano_env(
        project,
        TAP_POSTGRES_HOST="127.0.0.1",
        TAP_POSTGRES_PORT=str(pg.port),
        TAP_POSTGRES_USER="postgres",
        TAP_POSTGRES_PASSWORD="unused",  # trust authentication
        TAP_POSTGRES_DATABASE="postgres",
        TAP_POSTGRES_FILTER_SCHEMAS=json.dumps([schema]),
        TAP_POSTGRES__SELECT=json.dumps([f"{stream}.*" for stream in streams]),
        **({"TAP_POSTGRES__METADATA": json.dumps(metadata)} if metadata else {}),
        TARGET_PIPEDRIVE_API_URL=emu.url,
        TARGET_PIPEDRIVE_API_TOKEN=TOKEN,
        TARGET_PIPEDRIVE_STREAMS=json.dumps(streams),
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
        meltano_run(project, postgres, emu, rejects, "crm", TARGET_STREAMS, INCREMENTAL)
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
        meltano_run(project, postgres, emu, rejects, "crm", TARGET_STREAMS, INCREMENTAL)
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


# --- Links: deals pointing at companies and contacts by the warehouse's keys -------------------

#: company_key -> name; contact_key -> (email, name, company_key); deal_key -> (title, value,
#: company_key, contact_key). Pipedrive holds each warehouse key in a text custom field.
LINKED_COMPANIES = {"CO-1": "Fjord Robotics", "CO-2": "Danube Freight", "CO-3": "Atlas Dental"}
LINKED_CONTACTS = {
    "CT-1": ("ines@fjord.example", "Ines Dahl", "CO-1"),
    "CT-2": ("milan@danube.example", "Milan Horvat", "CO-2"),
    "CT-3": ("ruth@atlas.example", "Ruth Amsel", "CO-3"),
    "CT-4": ("tor@fjord.example", "Tor Lund", "CO-1"),
}
LINKED_DEALS = {
    "D-1": ("Fjord arm retrofit", 12000, "CO-1", "CT-1"),
    "D-2": ("Danube fleet tracking", 8000, "CO-2", "CT-2"),
    "D-3": ("Atlas clinic rollout", 30000, "CO-3", "CT-3"),
    "D-4": ("Fjord spare parts", 1500, "CO-1", "CT-4"),
    "D-5": ("Danube cold chain", 22000, "CO-2", "CT-2"),
}
KEY_FIELDS = {"organizations": "Company key", "persons": "Contact key", "deals": "Deal key"}
LINKED_SQL = [
    "CREATE SCHEMA sales",
    "CREATE TABLE sales.companies (company_key text PRIMARY KEY, name text NOT NULL)",
    "CREATE TABLE sales.contacts (contact_key text PRIMARY KEY, email text NOT NULL, "
    "name text NOT NULL, company_key text NOT NULL REFERENCES sales.companies)",
    "CREATE TABLE sales.deals (deal_key text PRIMARY KEY, title text NOT NULL, "
    "value integer NOT NULL, company_key text NOT NULL REFERENCES sales.companies, "
    "contact_key text NOT NULL REFERENCES sales.contacts)",
    *(f"INSERT INTO sales.companies VALUES ({literals(row)})" for row in LINKED_COMPANIES.items()),
    *(
        f"INSERT INTO sales.contacts VALUES ({literals((key, *row))})"
        for key, row in LINKED_CONTACTS.items()
    ),
    *(
        f"INSERT INTO sales.deals VALUES ('{key}', '{title}', {value}, '{company}', '{contact}')"
        for key, (title, value, company, contact) in LINKED_DEALS.items()
    ),
]
TO_COMPANY = {"entity": "organizations", "match_key": "Company key"}
TO_CONTACT = {"entity": "persons", "match_key": "Contact key"}
#: The target's `streams`: each table matched by its key's custom field; the link columns
#: (`company_key` of contacts and deals, `contact_key` of deals) become org_id and person_id.
LINKED_STREAMS = {
    "sales-companies": TO_COMPANY,
    "sales-contacts": {**TO_CONTACT, "links": {"company_key": TO_COMPANY}},
    "sales-deals": {
        "entity": "deals",
        "match_key": "Deal key",
        "links": {"company_key": TO_COMPANY, "contact_key": TO_CONTACT},
    },
}


@pytest.fixture
def sales() -> t.Iterator[Postgres]:
    """The three tables, read FULL_TABLE: every run sends every row again."""
    installed(*PLUGINS)
    with throwaway_postgres() as pg:
        pg.query(*LINKED_SQL)
        yield pg


def by_key(emu: Emulator, entity: str, code: str) -> dict[str, dict[str, t.Any]]:
    """The emulator's items of an entity that hold a warehouse key, by that key."""
    return {
        r["custom_fields"][code]: r for r in emu.records(entity) if r["custom_fields"].get(code)
    }


def test_deals_land_linked_to_their_company_and_contact_and_only_a_changed_link_is_patched(
    sales, project, tmp_path
):
    with Emulator(seed=5, scale=40, api_token=TOKEN) as emu:
        code = {
            entity: emu.add_field(entity, name, "varchar") for entity, name in KEY_FIELDS.items()
        }
        rejects = tmp_path / "rejects.jsonl"

        # First run: every row is created, each contact and deal pointing at its parents.
        meltano_run(project, sales, emu, rejects, "sales", LINKED_STREAMS)
        assert sorted(writes(emu)) == sorted(
            [("POST", "/api/v2/organizations")] * len(LINKED_COMPANIES)
            + [("POST", "/api/v2/persons")] * len(LINKED_CONTACTS)
            + [("POST", "/api/v2/deals")] * len(LINKED_DEALS)
        )
        orgs = by_key(emu, "organizations", code["organizations"])
        persons = by_key(emu, "persons", code["persons"])
        deals = by_key(emu, "deals", code["deals"])
        assert {key: org["name"] for key, org in orgs.items()} == LINKED_COMPANIES
        assert {
            key: (p["emails"][0]["value"], p["name"], p["org_id"]) for key, p in persons.items()
        } == {
            key: (email, name, orgs[company]["id"])
            for key, (email, name, company) in LINKED_CONTACTS.items()
        }
        assert {
            key: (d["title"], d["value"], d["org_id"], d["person_id"]) for key, d in deals.items()
        } == {
            key: (title, value, orgs[company]["id"], persons[contact]["id"])
            for key, (title, value, company, contact) in LINKED_DEALS.items()
        }
        assert not rejects.exists() or rejects.read_text() == ""

        # Rerun: every row arrives again, and Pipedrive already holds each of them.
        emu.clear_log()
        meltano_run(project, sales, emu, rejects, "sales", LINKED_STREAMS)
        assert writes(emu) == []

        # One deal moves to another company: one PATCH, of its org_id alone.
        before = {r["id"]: r for r in emu.records("deals")}
        sales.query("UPDATE sales.deals SET company_key = 'CO-3' WHERE deal_key = 'D-2'")
        emu.clear_log()
        meltano_run(project, sales, emu, rejects, "sales", LINKED_STREAMS)
        moved = deals["D-2"]["id"]
        assert writes(emu) == [("PATCH", f"/api/v2/deals/{moved}")]
        after = {r["id"]: r for r in emu.records("deals")}
        assert after[moved]["org_id"] == orgs["CO-3"]["id"]
        unchanged = ("org_id", "update_time")
        assert {
            i: {k: v for k, v in r.items() if k not in unchanged} for i, r in after.items()
        } == {i: {k: v for k, v in r.items() if k not in unchanged} for i, r in before.items()}
