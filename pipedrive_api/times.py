"""Pipedrive's timestamps as RFC 3339 UTC with whole seconds (`2024-01-02T03:04:05Z`)."""

from __future__ import annotations

import datetime
import typing as t


def to_rfc3339(value: str | None) -> str | None:
    """Normalize a Pipedrive timestamp to RFC 3339 UTC with whole seconds (`...T..:..:..Z`).

    v2 answers `2024-01-02T03:04:05Z` (returned as is), v1 `2024-01-02 03:04:05` in UTC, leads
    ISO with milliseconds; `0000-00-00 00:00:00` and empty values mean "no time".
    """
    if not value or value.startswith("0000"):
        return None
    if len(value) == 20 and value[10] == "T" and value[19] == "Z":
        return value
    if len(value) == 19 and value[10] == " ":
        return f"{value[:10]}T{value[11:]}Z"
    parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return format_instant(parsed)


def datetime_fields(schema: t.Mapping[str, t.Any]) -> tuple[str, ...]:
    """The top-level date-time properties of an object schema."""
    return tuple(
        name for name, prop in schema["properties"].items() if prop.get("format") == "date-time"
    )


def normalize_times(row: dict[str, t.Any], fields: t.Iterable[str]) -> dict[str, t.Any]:
    """`row` with those timestamp fields as RFC 3339 UTC (in place)."""
    for name in fields:
        value = row.get(name)
        if value is not None:
            row[name] = to_rfc3339(value)
    return row


def format_instant(moment: datetime.datetime) -> str:
    """Format an aware datetime as RFC 3339 UTC with whole seconds."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def v1_time(moment: str) -> str:
    """RFC 3339 UTC (`2025-03-04T05:06:07Z`) as v1's `2025-03-04 05:06:07`."""
    return f"{moment[:10]} {moment[11:19]}"


def instant(moment: str) -> datetime.datetime:
    """An RFC 3339 instant (`...Z`) as an aware datetime."""
    return datetime.datetime.fromisoformat(moment.replace("Z", "+00:00"))
