"""Field definitions (the `*Fields` endpoints) and the custom-field values records carry."""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Every `field_type` the v2 `dealFields` response lists; deals get a custom field of each.
V2_FIELD_TYPES: tuple[str, ...] = (
    "int", "double", "boolean", "varchar", "text", "phone", "varchar_options", "varchar_auto",
    "date", "daterange", "time", "timerange", "enum", "set", "address", "monetary", "deal", "deals",
    "lead", "org", "people", "project", "stage", "user", "activity", "json", "picture", "status",
    "visible_to", "price_list", "billing_frequency", "projects_board", "projects_phase",
)  # fmt: skip

#: The types v1 `noteFields`/`leadFields` may carry (their spec's two enums intersected).
V1_FIELD_TYPES = frozenset({
    "address", "date", "daterange", "double", "enum", "monetary", "org", "people", "phone", "set",
    "text", "time", "timerange", "user", "varchar", "varchar_auto", "visible_to",
})  # fmt: skip

ADDRESS_PARTS: tuple[tuple[str, str], ...] = (
    ("value", "Address value"),
    ("street_number", "House number"),
    ("route", "Street/road name"),
    ("subpremise", "Apartment/suite"),
    ("sublocality", "District"),
    ("locality", "City/town"),
    ("admin_area_level_1", "State/province"),
    ("admin_area_level_2", "County"),
    ("country", "Country"),
    ("postal_code", "Postal code"),
    ("formatted_address", "Formatted address"),
)

# (street_number, route, subpremise, sublocality, locality, admin 1, admin 2, country, postcode)
ADDRESSES: tuple[tuple[str, ...], ...] = (
    (
        "123",
        "Main St",
        "Apt 1",
        "Downtown",
        "Sunnyvale",
        "CA",
        "Santa Clara",
        "United States",
        "94085",
    ),
    ("10", "Narva mnt", "4", "Kesklinn", "Tallinn", "Harju maakond", "Tallinn", "Estonia", "10117"),
    (
        "45",
        "Bahnhofstrasse",
        "3. OG",
        "Altstadt",
        "Zürich",
        "ZH",
        "Bezirk Zürich",
        "Switzerland",
        "8001",
    ),
    ("2-7-1", "丸の内", "21F", "千代田区", "東京都", "東京都", "千代田区", "Japan", "100-0005"),
    (
        "1578",
        "Avenida Paulista",
        "sala 12",
        "Bela Vista",
        "São Paulo",
        "SP",
        "São Paulo",
        "Brazil",
        "01310-200",
    ),
    (
        "7",
        "ulica Floriańska",
        "m. 5",
        "Stare Miasto",
        "Kraków",
        "małopolskie",
        "Kraków",
        "Poland",
        "31-019",
    ),
    (
        "22",
        "Laugavegur",
        "2. hæð",
        "Miðborg",
        "Reykjavík",
        "Höfuðborgarsvæðið",
        "Reykjavík",
        "Iceland",
        "101",
    ),
    ("5", "Rue de Rivoli", "Bât. B", "1er", "Paris", "Île-de-France", "Paris", "France", "75001"),
)

#: (timezone_id, timezone_name) of time and time range values.
TIMEZONES = (
    (22, "Europe/Tallinn"), (58, "Europe/Berlin"), (143, "America/New_York"), (301, "Asia/Tokyo"),
    (1, "UTC"),
)  # fmt: skip
COLORS = ("green", "yellow", "red", "blue", "purple", None)
BILLING_FREQUENCIES = ("one-time", "annually", "semi-annually", "quarterly", "monthly", "weekly")
VISIBLE_TO = (1, 3, 5, 7)


def address(rng: random.Random, *, formatted: bool = False) -> dict[str, str]:
    """Return a postal address object in Pipedrive's v2 shape."""
    number, route, sub, subloc, locality, admin1, admin2, country, postcode = pick(rng, ADDRESSES)
    text = f"{route} {number}, {postcode} {locality}, {country}"
    result = {
        "value": text,
        "country": country,
        "admin_area_level_1": admin1,
        "admin_area_level_2": admin2,
        "locality": locality,
        "sublocality": subloc,
        "route": route,
        "street_number": number,
        "subpremise": sub,
        "postal_code": postcode,
    }
    if formatted:
        result["formatted_address"] = text
    return result


@dataclass(frozen=True)
class Option:
    """One choice of an option field; custom fields have int ids, built-in ones strings."""

    id: int | str
    label: str
    color: str | None = None


@dataclass(frozen=True)
class FieldDef:
    """One field of an entity, standard or custom, as `*Fields` describes it."""

    code: str
    name: str
    type: str
    custom: bool = False
    options: tuple[Option, ...] | None = None
    #: True for the fields a list returns only when named in `include_fields`.
    optional: bool = False
    description: str = ""
    #: Share of records whose value is null (custom fields only).
    null_share: float = 0.0

    @property
    def subfields(self) -> list[tuple[str, str, str]] | None:
        """Return (code, name, type) of the parts, listed (as the spec says) for address and
        monetary only: the other object-valued types (time, timerange, daterange) list none."""
        if self.type == "monetary":
            return [
                ("value", f"Amount of {self.name}", "double"),
                ("currency", f"Currency of {self.name}", "varchar"),
            ]
        if self.type == "address":
            return [(code, f"{label} of {self.name}", "varchar") for code, label in ADDRESS_PARTS]
        return None

    def labels(self) -> dict[Any, str]:
        """Return option id -> label."""
        return {option.id: option.label for option in self.options or ()}


@dataclass(frozen=True)
class Refs:
    """What custom-field values may point at: the ids of the other entities."""

    users: Sequence[int]
    stages: Sequence[int]
    deals: int
    persons: int
    orgs: int
    activities: int
    products: int


Generator = Callable[[random.Random], Any]


def value_generator(definition: FieldDef, refs: Refs) -> Generator:
    """Return a function drawing realistic values of a custom field (v2 `custom_fields` shape).

    Built once per field: records draw values by the hundred thousand, so each type's
    generator is a closure over its options and reference counts, using only `rng.random()`.
    """
    draw = _generator(definition, refs)
    null_share = definition.null_share

    def value(rng: random.Random) -> Any:
        return None if rng.random() < null_share else draw(rng)

    return value


def pick(rng: random.Random, choices: Sequence[Any]) -> Any:
    """Return one of `choices` (cheaper than `rng.choice`)."""
    return choices[int(rng.random() * len(choices))]


def between(rng: random.Random, low: int, high: int) -> int:
    """Return an int in [low, high]."""
    return low + int(rng.random() * (high - low + 1))


def _generator(definition: FieldDef, refs: Refs) -> Generator:
    kind = definition.type
    options = definition.options or (Option(0, "n/a"),)
    option_ids = [o.id for o in options]
    if kind in ("varchar", "varchar_auto"):
        return lambda rng: pick(rng, _PHRASES)
    if kind == "text":
        return lambda rng: f"{pick(rng, _PHRASES)}\n{pick(rng, _PHRASES)}"
    if kind == "phone":
        return lambda rng: (
            f"+{between(rng, 1, 99)} {between(rng, 100, 999)} {between(rng, 1000, 99999)}"
        )
    if kind == "varchar_options":
        labels = [o.label for o in options]
        return lambda rng: pick(rng, labels)
    if kind == "int":
        return lambda rng: between(rng, 0, 120)
    if kind == "double":
        return lambda rng: round(rng.random() * 1000, 2)
    if kind == "boolean":
        return lambda rng: rng.random() < 0.5
    if kind == "date":
        return _date
    if kind == "daterange":
        return _date_range
    if kind == "time":
        return lambda rng: {"value": _time(rng), **_timezone(rng)}
    if kind == "timerange":
        return _time_range
    if kind == "enum":
        return lambda rng: pick(rng, option_ids)
    if kind == "set":
        return lambda rng: sorted({pick(rng, option_ids) for _ in range(between(rng, 1, 3))})
    if kind == "address":
        return lambda rng: address(rng, formatted=True)
    if kind == "monetary":
        return lambda rng: {
            "value": round(100 + rng.random() * 50_000, 2),
            "currency": pick(rng, _CURRENCIES),
        }
    if kind in _REFERENCE_COUNTS:
        count = max(1, getattr(refs, _REFERENCE_COUNTS[kind]))
        return lambda rng: between(rng, 1, count)
    if kind == "deals":
        deals = max(1, refs.deals)
        return lambda rng: sorted({between(rng, 1, deals) for _ in range(between(rng, 1, 3))})
    if kind == "user":
        return lambda rng: pick(rng, refs.users)
    if kind == "stage":
        return lambda rng: pick(rng, refs.stages)
    if kind == "lead":
        return uuid4_like
    if kind == "status":
        return lambda rng: pick(rng, ("open", "won", "lost"))
    if kind == "visible_to":
        return lambda rng: pick(rng, VISIBLE_TO)
    if kind == "billing_frequency":
        return lambda rng: pick(rng, BILLING_FREQUENCIES)
    if kind == "json":
        return lambda rng: {
            "source": pick(rng, ("webhook", "import", "zapier")),
            "attempts": between(rng, 1, 5),
        }
    # project, picture, price_list, projects_board, projects_phase: ids of things not emulated yet
    return lambda rng: between(rng, 1, 40)


_REFERENCE_COUNTS = {"deal": "deals", "people": "persons", "org": "orgs", "activity": "activities"}
_CURRENCIES = ("EUR", "USD", "GBP", "JPY", "SEK")
_PHRASES = (
    "Inbound web form", "Referral from partner", "Trade fair 2025", "Cold outreach",
    "Zoë Ångström recommended us", "株式会社との提携", "Renewal 🚀 fast track",
    "Übergabe an Vertrieb", "Needs security review", "Budget approved Q3",
    "Champion left the company", "Pilot → rollout",
)  # fmt: skip
_EPOCH_DAY_2023 = datetime.date(2023, 1, 1).toordinal()


def _date(rng: random.Random) -> str:
    return datetime.date.fromordinal(_EPOCH_DAY_2023 + int(rng.random() * 1800)).isoformat()


def _date_range(rng: random.Random) -> dict[str, str]:
    start = _EPOCH_DAY_2023 + int(rng.random() * 1800)
    end = start + 1 + int(rng.random() * 400)
    return {
        "value": datetime.date.fromordinal(start).isoformat(),
        "until": datetime.date.fromordinal(end).isoformat(),
    }


def _time(rng: random.Random) -> str:
    return f"{between(rng, 7, 18):02d}:{pick(rng, (0, 15, 30, 45)):02d}:00"


def _time_range(rng: random.Random) -> dict[str, Any]:
    start = between(rng, 7, 18)
    return {
        "value": f"{start:02d}:00:00",
        "until": f"{min(23, start + between(rng, 1, 4)):02d}:30:00",
        **_timezone(rng),
    }


def _timezone(rng: random.Random) -> dict[str, Any]:
    zone_id, name = pick(rng, TIMEZONES)
    return {"timezone_id": zone_id, "timezone_name": name}


def uuid4_like(rng: random.Random) -> str:
    """Return a random version-4-looking UUID string (lead ids)."""
    raw = f"{rng.getrandbits(128):032x}"
    return f"{raw[:8]}-{raw[8:12]}-4{raw[13:16]}-a{raw[17:20]}-{raw[20:]}"


# --- Standard fields, per entity: (field_code, field_name, field_type[, option labels]) -------

_Standard = tuple[str, str, str] | tuple[str, str, str, Sequence[tuple[str, str]]]

_LABELS = (("1", "Hot"), ("2", "Warm"), ("3", "Cold"))
_VISIBILITY = (
    ("1", "Owner & followers"),
    ("3", "Entire company"),
    ("5", "Owner's visibility group"),
    ("7", "Owner's visibility group and sub-groups"),
)

STANDARD_FIELDS: Mapping[str, tuple[_Standard, ...]] = {
    "deals": (
        ("id", "ID", "int"),
        ("title", "Title", "varchar"),
        ("creator_user_id", "Creator", "user"),
        ("owner_id", "Owner", "user"),
        ("value", "Value", "monetary"),
        ("person_id", "Contact person", "people"),
        ("org_id", "Organization", "org"),
        ("pipeline_id", "Pipeline", "int"),
        ("stage_id", "Stage", "stage"),
        (
            "status",
            "Status",
            "status",
            (("open", "Open"), ("won", "Won"), ("lost", "Lost"), ("deleted", "Deleted")),
        ),
        ("probability", "Probability", "double"),
        ("lost_reason", "Lost reason", "varchar_options"),
        ("visible_to", "Visible to", "visible_to", _VISIBILITY),
        ("add_time", "Deal created", "date"),
        ("update_time", "Update time", "date"),
        ("stage_change_time", "Last stage change", "date"),
        ("close_time", "Deal closed on", "date"),
        ("won_time", "Won time", "date"),
        ("lost_time", "Lost time", "date"),
        ("expected_close_date", "Expected close date", "date"),
        ("label_ids", "Label", "set", _LABELS),
        ("origin", "Source origin", "varchar"),
        ("origin_id", "Source origin ID", "varchar"),
        ("channel", "Source channel", "enum", (("1", "Web"), ("2", "Events"))),
        ("channel_id", "Source channel ID", "varchar"),
        ("arr", "ARR", "double"),
        ("mrr", "MRR", "double"),
        ("acv", "ACV", "double"),
    ),
    "persons": (
        ("id", "ID", "int"),
        ("name", "Name", "varchar"),
        ("first_name", "First name", "varchar"),
        ("last_name", "Last name", "varchar"),
        ("owner_id", "Owner", "user"),
        ("org_id", "Organization", "org"),
        ("emails", "Email", "varchar"),
        ("phones", "Phone", "phone"),
        ("im", "Instant messenger", "varchar"),
        ("postal_address", "Postal address", "address"),
        ("birthday", "Birthday", "date"),
        ("job_title", "Job title", "varchar"),
        ("notes", "Notes", "text"),
        ("picture_id", "Profile picture", "picture"),
        ("label_ids", "Labels", "set", _LABELS),
        ("visible_to", "Visible to", "visible_to", _VISIBILITY),
        ("add_time", "Person created", "date"),
        ("update_time", "Update time", "date"),
    ),
    "organizations": (
        ("id", "ID", "int"),
        ("name", "Name", "varchar"),
        ("owner_id", "Owner", "user"),
        ("address", "Address", "address"),
        ("website", "Website", "varchar"),
        ("linkedin", "LinkedIn profile", "varchar"),
        ("industry", "Industry", "enum", (("1", "Software"), ("2", "Retail"))),
        ("annual_revenue", "Annual revenue", "int"),
        ("employee_count", "Number of employees", "int"),
        ("label_ids", "Labels", "set", _LABELS),
        ("visible_to", "Visible to", "visible_to", _VISIBILITY),
        ("add_time", "Organization created", "date"),
        ("update_time", "Update time", "date"),
    ),
    "products": (
        ("id", "ID", "int"),
        ("name", "Name", "varchar"),
        ("code", "Product code", "varchar"),
        ("description", "Description", "text"),
        ("unit", "Unit", "varchar"),
        ("tax", "Tax", "double"),
        ("category", "Category", "enum", (("1", "Software"), ("2", "Hardware"), ("3", "Services"))),
        ("prices", "Unit prices", "monetary"),
        ("owner_id", "Owner", "user"),
        ("is_linkable", "Linkable", "boolean"),
        ("visible_to", "Visible to", "visible_to", _VISIBILITY),
        ("billing_frequency", "Billing frequency", "billing_frequency"),
        ("billing_frequency_cycles", "Billing cycles", "int"),
        ("add_time", "Product created", "date"),
        ("update_time", "Update time", "date"),
    ),
    "activities": (
        ("id", "ID", "int"),
        ("subject", "Subject", "varchar"),
        ("type", "Type", "varchar"),
        ("owner_id", "Assigned to user", "user"),
        ("creator_user_id", "Creator", "user"),
        ("deal_id", "Deal", "deal"),
        ("lead_id", "Lead", "lead"),
        ("person_id", "Contact person", "people"),
        ("org_id", "Organization", "org"),
        ("project_id", "Project", "project"),
        ("due_date", "Due date", "date"),
        ("due_time", "Due time", "time"),
        ("duration", "Duration", "time"),
        ("busy", "Free/busy", "boolean"),
        ("done", "Done", "boolean"),
        ("marked_as_done_time", "Marked as done time", "date"),
        ("location", "Location", "address"),
        ("participants", "Participants", "people"),
        ("public_description", "Public description", "text"),
        ("priority", "Priority", "enum", (("263", "High"), ("264", "Medium"), ("265", "Low"))),
        ("note", "Note", "text"),
        ("add_time", "Add time", "date"),
        ("update_time", "Update time", "date"),
    ),
    "projects": (
        ("id", "ID", "int"),
        ("title", "Title", "varchar"),
        ("description", "Description", "text"),
        ("status", "Status", "status"),
        ("board_id", "Board", "projects_board"),
        ("phase_id", "Phase", "projects_phase"),
        ("owner_id", "Owner", "user"),
        ("start_date", "Start date", "date"),
        ("end_date", "End date", "date"),
        ("deal_ids", "Deals", "deals"),
        ("person_ids", "Contact persons", "people"),
        ("org_ids", "Organizations", "org"),
        ("label_ids", "Labels", "set", _LABELS),
        ("health_status", "Health status", "int"),
        ("add_time", "Project created", "date"),
        ("update_time", "Update time", "date"),
        ("archive_time", "Archive time", "date"),
    ),
}

#: The fields a list returns only when named in `include_fields` (the spec's enum, per entity).
OPTIONAL_FIELDS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "deals": (
        ("next_activity_id", "activity"),
        ("last_activity_id", "activity"),
        ("first_won_time", "date"),
        ("products_count", "int"),
        ("files_count", "int"),
        ("notes_count", "int"),
        ("followers_count", "int"),
        ("email_messages_count", "int"),
        ("activities_count", "int"),
        ("done_activities_count", "int"),
        ("undone_activities_count", "int"),
        ("participants_count", "int"),
        ("last_incoming_mail_time", "date"),
        ("last_outgoing_mail_time", "date"),
        ("smart_bcc_email", "varchar"),
        ("source_lead_id", "lead"),
    ),
    "persons": (
        ("next_activity_id", "activity"),
        ("last_activity_id", "activity"),
        ("open_deals_count", "int"),
        ("related_open_deals_count", "int"),
        ("closed_deals_count", "int"),
        ("related_closed_deals_count", "int"),
        ("participant_open_deals_count", "int"),
        ("participant_closed_deals_count", "int"),
        ("email_messages_count", "int"),
        ("activities_count", "int"),
        ("done_activities_count", "int"),
        ("undone_activities_count", "int"),
        ("files_count", "int"),
        ("notes_count", "int"),
        ("followers_count", "int"),
        ("won_deals_count", "int"),
        ("related_won_deals_count", "int"),
        ("lost_deals_count", "int"),
        ("related_lost_deals_count", "int"),
        ("last_incoming_mail_time", "date"),
        ("last_outgoing_mail_time", "date"),
        ("marketing_status", "varchar"),
        ("doi_status", "varchar"),
        ("smart_bcc_email", "varchar"),
    ),
    "organizations": (
        ("next_activity_id", "activity"),
        ("last_activity_id", "activity"),
        ("open_deals_count", "int"),
        ("related_open_deals_count", "int"),
        ("closed_deals_count", "int"),
        ("related_closed_deals_count", "int"),
        ("email_messages_count", "int"),
        ("people_count", "int"),
        ("activities_count", "int"),
        ("done_activities_count", "int"),
        ("undone_activities_count", "int"),
        ("files_count", "int"),
        ("notes_count", "int"),
        ("followers_count", "int"),
        ("won_deals_count", "int"),
        ("related_won_deals_count", "int"),
        ("lost_deals_count", "int"),
        ("related_lost_deals_count", "int"),
        ("smart_bcc_email", "varchar"),
    ),
    "activities": (("attendees", "people"),),
    "products": (),
    "projects": (),
}

# --- Custom fields, per entity: (field_name, field_type[, option labels]) ---------------------

_Custom = tuple[str, str] | tuple[str, str, Sequence[str]]

_DEAL_CUSTOM: tuple[_Custom, ...] = (
    ("Contract length (months)", "int"),
    ("Win score", "double"),
    ("Renewal", "boolean"),
    # "Lead Source" and "Lead source!" both snake_case to `lead_source`: a naming collision.
    ("Lead Source", "varchar"),
    ("Lead source!", "enum", ("Web", "Referral", "Cold call", "Partner")),
    ("Notes for finance", "text"),
    ("Billing phone", "phone"),
    ("Delivery method", "varchar_options", ("Email", "Post", "Courier")),
    ("Competitor", "varchar_auto"),
    ("Kick-off date", "date"),
    ("Contract period", "daterange"),
    ("Preferred call time", "time"),
    ("Support hours", "timerange"),
    ("Segment", "enum", ("SMB", "Mid-market", "Enterprise")),
    ("Interests", "set", ("CRM", "Analytics", "Automation", "Integrations", "Mobile")),
    ("Delivery address", "address"),
    ("Budget", "monetary"),
    ("Parent deal", "deal"),
    ("Related deals", "deals"),
    ("Source lead", "lead"),
    ("Billing organization", "org"),
    ("Champion", "people"),
    ("Implementation project", "project"),
    ("Target stage", "stage"),
    ("Account manager", "user"),
    ("Follow-up activity", "activity"),
    ("Integration payload", "json"),
    ("Signed contract scan", "picture"),
    ("Approval status", "status"),
    ("Partner visibility", "visible_to"),
    ("Price list", "price_list"),
    ("Billing frequency", "billing_frequency"),
    ("Delivery board", "projects_board"),
    ("Delivery phase", "projects_phase"),
    ("Größe des Kunden (m²) 🚀", "enum", ("Klein", "Mittel", "Groß", "Sehr groß 🐘")),
    ("顧客ランク", "varchar"),
)

CUSTOM_FIELDS: Mapping[str, tuple[_Custom, ...]] = {
    "deals": _DEAL_CUSTOM,
    "persons": (
        ("Customer since", "date"),
        ("Preferred language", "enum", ("English", "Deutsch", "Français", "日本語")),
        ("Hobbies", "set", ("Golf", "Sailing", "Chess", "Photography")),
        ("Twitter handle", "varchar"),
        ("Lifetime value", "monetary"),
        ("Home address", "address"),
        ("Referred by", "people"),
    ),
    "organizations": (
        ("Industry segment", "enum", ("Manufacturing", "Finance", "Healthcare", "Public sector")),
        ("Employees (exact)", "int"),
        ("Tax ID", "varchar"),
        ("HQ address", "address"),
        ("Partner tier", "set", ("Silver", "Gold", "Platinum")),
        ("Parent organization", "org"),
    ),
    "products": (
        ("Weight (kg)", "double"),
        ("Categories", "set", ("Software", "Hardware", "Services")),
        ("Launch date", "date"),
        ("SKU", "varchar"),
    ),
    "activities": (
        ("Outcome", "enum", ("Reached", "Voicemail", "No answer")),
        ("Call score", "int"),
        ("Agenda", "text"),
    ),
    "projects": (
        ("Go-live date", "date"),
        ("Rollout region", "enum", ("EMEA", "Americas", "APAC", "Nordics ❄")),
        ("Budget", "monetary"),
        ("Kick-off notes", "text"),
        ("Sponsor", "people"),
    ),
}


@dataclass
class FieldCatalog:
    """Every entity's fields, deterministic from the seed."""

    v2: dict[str, list[FieldDef]] = field(default_factory=dict)

    @classmethod
    def generate(cls, rng: random.Random) -> FieldCatalog:
        """Build the catalog; custom field codes and option ids come from `rng`."""
        catalog = cls()
        option_ids = iter(range(101, 10**6))
        for entity, standard in STANDARD_FIELDS.items():
            defs = [_standard(entry) for entry in standard]
            defs += [
                FieldDef(code, code.replace("_", " ").capitalize(), kind, optional=True)
                for code, kind in OPTIONAL_FIELDS[entity]
            ]
            for entry in CUSTOM_FIELDS[entity]:
                name, kind = entry[0], entry[1]
                labels: Iterable[str] = entry[2] if len(entry) == 3 else ()
                options = (
                    tuple(Option(next(option_ids), label, rng.choice(COLORS)) for label in labels)
                    or None
                )
                defs.append(
                    FieldDef(
                        code=f"{rng.getrandbits(160):040x}",
                        name=name,
                        type=kind,
                        custom=True,
                        options=options,
                        description=f"{name} ({kind})",
                        null_share=rng.choice((0.1, 0.2, 0.35)),
                    )
                )
            catalog.v2[entity] = defs
        return catalog

    def custom(self, entity: str) -> list[FieldDef]:
        """Return the custom fields of an entity."""
        return [d for d in self.v2.get(entity, ()) if d.custom]


def _standard(entry: _Standard) -> FieldDef:
    code, name, kind = entry[0], entry[1], entry[2]
    labels = entry[3] if len(entry) == 4 else ()
    options = tuple(Option(oid, label) for oid, label in labels) or None
    return FieldDef(code, name, kind, options=options, description=f"The {name.lower()}")


# --- Shapes served by the endpoints ---------------------------------------------------------

_NAMESPACES = ("ui_visibility", "important_fields", "required_fields")


def v2_field(entity: str, definition: FieldDef, include: frozenset[str]) -> dict[str, Any]:
    """Return a field definition in the v2 `*Fields` shape, with the requested namespaces."""
    result: dict[str, Any] = {
        "field_name": definition.name,
        "field_code": definition.code,
        "description": definition.description,
        "field_type": definition.type,
        "options": (
            [{"id": o.id, "label": o.label, "color": o.color} for o in definition.options]
            if definition.options is not None
            else None
        ),
        "subfields": (
            [
                {"field_code": c, "field_name": n, "field_type": t}
                for c, n, t in definition.subfields
            ]
            if definition.subfields is not None
            else None
        ),
        "is_custom_field": definition.custom,
        "is_optional_response_field": definition.optional,
    }
    shown = not definition.optional
    if "ui_visibility" in include:
        visibility: dict[str, Any] = {"add_visible_flag": shown, "details_visible_flag": shown}
        if entity == "deals":
            visibility["projects_detail_visible_flag"] = False
            visibility["show_in_pipelines"] = {"show_in_all": True, "pipeline_ids": []}
        elif entity in ("persons", "organizations"):
            dialog = {"show": False, "order": None}
            if entity == "organizations":
                visibility.update(
                    org_detail_visible_flag=shown,
                    person_detail_visible_flag=shown,
                    deal_detail_visible_flag=shown,
                    show_in_add_person_dialog=dict(dialog),
                )
            visibility["show_in_add_deal_dialog"] = dialog
        result["ui_visibility"] = visibility
    if entity in ("deals", "persons", "organizations"):
        if "important_fields" in include:
            result["important_fields"] = {"enabled": False, "stage_ids": []}
        if "required_fields" in include:
            required: dict[str, Any] = {"enabled": definition.code == "title"}
            if entity == "deals":
                required.update(stage_ids=[], statuses={})
            result["required_fields"] = required
    return result


def namespaces(raw: str | None) -> frozenset[str]:
    """Parse `include_fields` of a `*Fields` request into the namespaces it names."""
    return frozenset(part.strip() for part in (raw or "").split(",")) & set(_NAMESPACES)


_V1_FIELD_FLAGS = {"active_flag": True, "edit_flag": False, "bulk_edit_allowed": True}
_YES_NO = [{"id": 1, "label": "Yes"}, {"id": 0, "label": "No"}]
_V1_FIELDS_ADDED = "2023-01-02 09:00:00"


def v1_note_fields() -> list[dict[str, Any]]:
    """Return `/v1/noteFields` data: the note's content and its pinning flags."""
    result: list[dict[str, Any]] = [
        {
            "id": 1,
            "key": "content",
            "name": "Content",
            "field_type": "text",
            **_V1_FIELD_FLAGS,
            "mandatory_flag": True,
        },
    ]
    for number, target in enumerate(("lead", "deal", "organization", "person", "project"), 2):
        result.append(
            {
                "id": number,
                "key": f"pinned_to_{target}_flag",
                "name": f"Note is pinned to {target}",
                "field_type": "enum",
                **_V1_FIELD_FLAGS,
                "edit_flag": True,
                "options": [dict(option) for option in _YES_NO],
                "mandatory_flag": True,
            }
        )
    return result


_LEAD_STANDARD: tuple[tuple[str, str, str], ...] = (
    ("title", "Title", "varchar"),
    ("owner_id", "Owner", "user"),
    ("person_id", "Person", "people"),
    ("organization_id", "Organization", "org"),
    ("value", "Value", "monetary"),
    ("expected_close_date", "Expected close date", "date"),
    ("label_ids", "Labels", "set"),
    ("visible_to", "Visible to", "visible_to"),
    ("source_name", "Source", "varchar"),
    ("add_time", "Lead created", "date"),
    ("update_time", "Update time", "date"),
)


def v1_lead_fields(catalog: FieldCatalog, creator: int) -> list[dict[str, Any]]:
    """Return `/v1/leadFields` data: the standard lead fields and the deals' custom fields.

    Leads share the deals' custom fields (same keys), limited to the types leads support.
    """
    rows: list[tuple[str, str, str, tuple[Option, ...] | None, bool]] = [
        (code, name, kind, None, False) for code, name, kind in _LEAD_STANDARD
    ]
    rows += [
        (d.code, d.name, d.type, d.options, True)
        for d in catalog.custom("deals")
        if d.type in V1_FIELD_TYPES
    ]
    result = []
    for number, (key, name, kind, options, custom) in enumerate(rows, 1):
        result.append(
            {
                "id": number,
                "key": key,
                "name": name,
                "order_nr": number,
                "field_type": kind,
                "add_time": _V1_FIELDS_ADDED,
                "update_time": _V1_FIELDS_ADDED,
                "last_updated_by_user_id": creator if custom else None,
                "created_by_user_id": creator if custom else None,
                "active_flag": True,
                "edit_flag": custom,
                "index_visible_flag": True,
                "details_visible_flag": True,
                "add_visible_flag": not custom,
                "important_flag": False,
                "bulk_edit_allowed": True,
                "searchable_flag": custom,
                "filtering_allowed": True,
                "sortable_flag": True,
                "mandatory_flag": key == "title",
                "options": [{"id": o.id, "label": o.label} for o in options] if options else None,
            }
        )
    return result
