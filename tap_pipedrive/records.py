"""The record fast path: selected columns kept with one set difference, no type walk.

Pipedrive's JSON already has the types the schemas declare (see `TYPE_CONFORMANCE_LEVEL`), so a
record only loses the columns the catalog does not select, and is counted for the progress lines.
"""

from __future__ import annotations

import datetime
import functools
import typing as t

import singer_sdk.singerlib as singer
from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_pipedrive.progress import Progress
from tap_pipedrive.reads import ReadingStream


class RecordsStream(ReadingStream):
    """Records emitted with the selected top-level columns of the schema, and counted."""

    # The SDK's recursive type conformance walks every value of every record: it was more than
    # half of the tap's CPU (benchmarks/RESULTS.md). Pipedrive's JSON already has the types the
    # schemas declare, timestamps are normalized in `post_process`, and the schemas cover every
    # field of the official spec (tests/test_schemas_match_spec.py). So the tap only keeps the
    # selected top-level columns of the schema (one set difference per record): a field
    # Pipedrive adds later is dropped, with one warning naming it, until the schema has it.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    @functools.cached_property
    def progress(self) -> Progress:
        """Records, requests and tokens of this stream so far in the run."""
        return Progress(self.name, self.logger)

    @functools.cached_property
    def _columns(self) -> frozenset[str]:
        """The selected top-level columns of the schema in use: what records may carry."""
        mask = self.mask
        return frozenset(
            name for name in self.effective_schema["properties"] if mask[("properties", name)]
        )

    def _generate_record_messages(
        self, record: dict[str, t.Any]
    ) -> t.Generator[singer.RecordMessage, None, None]:
        """Keep the selected schema columns, then hand the record to the stream maps.

        The SDK's version also walks the record for deselected properties and conforms types;
        the one set difference here does both jobs for Pipedrive's already-typed JSON.
        """
        extra = record.keys() - self._columns
        if extra:
            self._drop_columns(record, extra)
        self.progress.record()
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield singer.RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped,
                    version=self._stream_version,
                    time_extracted=datetime.datetime.now(datetime.timezone.utc),
                )

    def _drop_columns(self, record: dict[str, t.Any], names: t.AbstractSet[str]) -> None:
        for name in names:
            del record[name]
        unknown = names - self.effective_schema["properties"].keys() - self._reported_unknown
        if unknown:
            self._reported_unknown |= unknown
            self.logger.warning(
                "Stream '%s': Pipedrive returned field(s) the schema does not have, not "
                "emitted: %s",
                self.name,
                ", ".join(sorted(unknown)),
            )

    @functools.cached_property
    def _reported_unknown(self) -> set[str]:
        return set()
