"""The target's settings as the sinks use them: checks JSON schema cannot make, and defaults.

Pure functions over the config mapping: no request is made here, so every error is reported
before the first one.
"""

from __future__ import annotations

import difflib
import typing as t

from target_pipedrive.entities import ENTITIES, link_field

#: The keys of one `streams` entry.
STREAM_KEYS = ("entity", "match_key", "load_method", "null_values", "links", "on_missing_link")
#: The keys of one link (`streams.<stream>.links.<column>`).
LINK_KEYS = ("entity", "match_key", "field")
#: What a link value no item holds does: refuse the record, or write it without that link.
ON_MISSING_LINK = ("reject", "skip_link")
#: How a record is written: update what it matches, else create (`upsert`); or create always.
LOAD_METHODS = ("upsert", "append-only")
#: What a null column does: nothing (`skip`), or clear the field (`clear`).
NULL_VALUES = ("skip", "clear")


#: Settings of earlier versions, and what replaced them.
RENAMED = {"mode": "load_method"}


def _closest(key: str, known: t.Iterable[str]) -> str:
    if key in RENAMED:
        return f" (replaced by `{RENAMED[key]}`)"
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.5)
    return f" (did you mean `{close[0]}`?)" if close else ""


def unknown_key_errors(config: t.Mapping[str, t.Any], known: t.Collection[str]) -> list[str]:
    """One error per setting nobody reads: at the top level and in each `streams` entry.

    A misspelt key (`matchkey`) would otherwise be ignored, and its stream silently upserted
    without a match key: every rerun would create its records again.
    """
    errors = [
        f"Unknown setting `{key}`{_closest(key, known)}." for key in config if key not in known
    ]
    streams = config.get("streams")
    if isinstance(streams, t.Mapping):
        for stream, entry in streams.items():
            if not isinstance(entry, t.Mapping):
                continue
            errors += [
                f"Unknown setting `{key}` in `streams.{stream}`{_closest(key, STREAM_KEYS)}."
                for key in entry
                if key not in STREAM_KEYS
            ]
            links = entry.get("links")
            for column, link in links.items() if isinstance(links, t.Mapping) else ():
                if isinstance(link, t.Mapping):
                    where = f"streams.{stream}.links.{column}"
                    errors += [
                        f"Unknown setting `{key}` in `{where}`{_closest(key, LINK_KEYS)}."
                        for key in link
                        if key not in LINK_KEYS
                    ]
    return errors


def link_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    """What makes a link unusable, found before any request.

    Its entity must be one, and the stream's entity must have a field linking to it (or the
    link names one with `field`). Whether `match_key` is a field of the linked entity needs
    its field definitions: it is checked when they are read, before the stream's first write.
    """
    streams = config.get("streams")
    errors: list[str] = []
    for stream, entry in streams.items() if isinstance(streams, t.Mapping) else ():
        if not isinstance(entry, t.Mapping):
            continue  # the JSON schema says it
        links = entry.get("links")
        entity = ENTITIES.get(str(entry.get("entity") or stream))
        for column, link in links.items() if isinstance(links, t.Mapping) else ():
            where = f"`streams.{stream}.links.{column}`"
            if not isinstance(link, t.Mapping) or set(link) - set(LINK_KEYS):
                continue  # the JSON schema or the unknown key says it
            missing = [key for key in ("entity", "match_key") if not link.get(key)]
            if missing:
                errors.append(f"{where} needs {' and '.join(f'`{k}`' for k in missing)}.")
                continue
            linked, field = str(link["entity"]), link.get("field")
            if linked not in ENTITIES:
                known = _closest(linked, ENTITIES) or f" (one of {', '.join(sorted(ENTITIES))})"
                errors.append(f"{where}: `entity` {linked!r} is no Pipedrive entity{known}.")
            elif entity is None:
                continue  # the stream's own entity is reported when its records arrive
            elif field is not None and field not in entity.fields:
                errors.append(
                    f"{where}: `field` {field!r} is not a writable field of {entity.name}"
                    f"{_closest(str(field), entity.fields)}."
                )
            elif field is None and link_field(entity, linked) is None:
                errors.append(
                    f"{where}: {entity.name} have no field linking them to {linked}: name the "
                    "field receiving the id with `field`."
                )
    return errors


def load_method_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    """The SDK's `overwrite` would delete every item the input lacks: refused, saying why."""
    places = [("load_method", config.get("load_method"))]
    streams = config.get("streams")
    if isinstance(streams, t.Mapping):
        places += [
            (f"streams.{name}.load_method", entry.get("load_method"))
            for name, entry in streams.items()
            if isinstance(entry, t.Mapping)
        ]
    return [
        f"`{where}` is 'overwrite': target-pipedrive writes by `upsert` (the default) or "
        "`append-only`, and never deletes the items an input lacks."
        for where, value in places
        if value == "overwrite"
    ]


def stream_setting(
    config: t.Mapping[str, t.Any], stream: t.Mapping[str, t.Any], name: str, default: str
) -> str:
    """A setting a `streams` entry may override: the entry's, else the top level's, else default."""
    return str(stream.get(name) or config.get(name) or default)
