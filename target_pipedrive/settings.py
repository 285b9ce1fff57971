"""The target's settings as the sinks use them: checks JSON schema cannot make, and defaults.

Pure functions over the config mapping: no request is made here, so every error is reported
before the first one.
"""

from __future__ import annotations

import difflib
import typing as t

#: The keys of one `streams` entry.
STREAM_KEYS = ("entity", "match_key", "load_method", "null_values")
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
