"""What a target run's records became: per-stream tallies, the rejects file, the summary."""

from __future__ import annotations

import dataclasses
import functools
import json
import typing as t
from pathlib import Path

from pipedrive_api.errors import BudgetExhaustedError, ConfigError
from target_pipedrive.entities import ENTITIES
from target_pipedrive.fields import jsonable

if t.TYPE_CHECKING:
    import logging

_ENTITY_NAMES = sorted(ENTITIES)


class RejectedRecordsError(Exception):
    """Records were rejected and `allow_rejects` is off: the run fails, after writing the rest."""


@dataclasses.dataclass
class Tally:
    """What a stream's records became, and what it cost."""

    created: int = 0
    updated: int = 0
    deleted: int = 0
    skipped: int = 0
    rejected: int = 0
    requests: int = 0
    tokens: int = 0

    def line(self) -> str:
        """The summary line of a stream."""
        return (
            f"created {self.created}, updated {self.updated}, deleted {self.deleted}, "
            f"skipped {self.skipped}, rejected {self.rejected}; "
            f"{self.requests} requests, {self.tokens} tokens"
        )


class Outcome:
    """The run's tallies, rejects and summary (the target's settings say where rejects go)."""

    def __init__(self, config: t.Mapping[str, t.Any], logger: logging.Logger) -> None:
        self.config = config
        self.logger = logger
        self._tallies: dict[str, Tally] = {}
        self._rejected = 0

    def stream_settings(self, stream_name: str) -> dict[str, t.Any]:
        """A stream's `streams` entry, its entity defaulting to the stream's name."""
        settings = dict((self.config.get("streams") or {}).get(stream_name) or {})
        settings.setdefault("entity", stream_name)
        if settings["entity"] not in ENTITIES:
            msg = (
                f"Stream '{stream_name}' maps to no Pipedrive entity: name it after one "
                f"({', '.join(_ENTITY_NAMES)}) or map it in the `streams` setting."
            )
            raise ConfigError(msg)
        return settings

    def tally(self, stream_name: str) -> Tally:
        """The counters of a stream (one per stream for the whole run)."""
        return self._tallies.setdefault(stream_name, Tally())

    @functools.cached_property
    def _rejects_path(self) -> Path:
        return Path(self.config.get("rejects_file") or "pipedrive-rejects.jsonl")

    def reject(self, stream_name: str, record: t.Mapping[str, t.Any], reason: str) -> None:
        """Append a refused record, its stream and the reason to the rejects file."""
        self._rejected += 1
        # The SDK's bookkeeping columns are not the record's; a deletion mark is.
        kept = {
            key: jsonable(value)
            for key, value in record.items()
            if not key.startswith("_sdc_") or (key == "_sdc_deleted_at" and value is not None)
        }
        line = {"stream": stream_name, "reason": reason, "record": kept}
        with self._rejects_path.open("a", encoding="utf-8") as rejects:
            rejects.write(json.dumps(line, ensure_ascii=False) + "\n")
        self.logger.warning("Stream '%s': record rejected: %s", stream_name, reason)

    def summarize(self) -> None:
        """Log what each stream's records became and what they cost."""
        for stream_name, tally in self._tallies.items():
            self.logger.info("Stream '%s': %s", stream_name, tally.line())

    def stop(self, error: Exception) -> t.NoReturn:
        """End the run on a fatal error, after the records already written: summary first."""
        self.summarize()
        if isinstance(error, BudgetExhaustedError):
            written = sum(n.created + n.updated + n.deleted for n in self._tallies.values())
            msg = (
                f"Stopped: Pipedrive's daily token budget is spent, after {written} record(s) "
                "were written. Run again after the reset (midnight in the company's time "
                "zone): upserts match what was written, so nothing is created twice."
            )
            raise BudgetExhaustedError(msg) from None
        raise error

    def finish(self) -> None:
        """Log the summary, and fail the run for rejects unless allowed."""
        self.summarize()
        if self._rejected and not self.config.get("allow_rejects"):
            msg = (
                f"{self._rejected} record(s) rejected by Pipedrive, written with the reasons to "
                f"{self._rejects_path} (set `allow_rejects` to accept rejects)."
            )
            raise RejectedRecordsError(msg)
