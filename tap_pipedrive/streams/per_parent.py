"""Streams read once per row of a small full-table list (phases per board, assignments per role).

The parent list hands its children the ids of all its rows at once, after it was read whole
(`{"parents": [...]}`), so each child is synced once a run, as one full table: its
ACTIVATE_VERSION then follows every parent's rows. Synced per parent, the version sent after
the first parent would retire the rows of the parents not read yet, and leave them retired if
the run stopped there. A parent that was refused or failed hands nothing on: its children are
skipped, with one warning each.
"""

from __future__ import annotations

import typing as t

from pipedrive_api.errors import NotFoundError
from tap_pipedrive.client import PipedriveStream

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


class ParentList(PipedriveStream):
    """A full-table list whose rows each drive one read of its child streams."""

    def read(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """The list; then, once it was read whole, its children for all its rows."""
        self._parent_ids: list[t.Any] = []
        yield from super().read(context)
        if self.has_selected_descendents:
            self._sync_children({"parents": self._parent_ids})

    def generate_child_contexts(
        self, record: dict[str, t.Any], context: Context | None
    ) -> t.Iterable[Context | None]:
        """Keep the row's id for the children (synced once, at the end of the list)."""
        if self.child_streams:
            self._parent_ids.append(record["id"])
        yield from ()

    def stop(self, error: Exception) -> None:
        """Also say that the selected children are skipped with it."""
        super().stop(error)
        for child in self.child_streams:
            if child.selected:
                child.logger.warning(
                    "Stream '%s' skipped: it is read per row of '%s', which was not read.",
                    child.name,
                    self.name,
                )


class PerParentStream(PipedriveStream):
    """A list read once per row of its parent (a `ParentList`), as one full table."""

    #: The query parameter taking the parent's id; None: the parent's id is the path's `{id}`.
    parent_param: t.ClassVar[str | None] = None
    # One state for the stream, not one per parent.
    state_partitioning_keys: t.ClassVar[list[str]] = []

    def read(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """Each parent's rows, in the parents' order; a parent gone meanwhile has none."""
        assert context is not None
        for _, records in self.reads([{"id": parent} for parent in context["parents"]]):
            try:
                yield from records
            except NotFoundError:
                continue  # deleted since the parent list was read (404): nothing left to read

    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        """Add the parent's id, where it is a query parameter."""
        params = super().get_url_params(context, next_page_token)
        if self.parent_param and context:
            params[self.parent_param] = context["id"]
        return params
