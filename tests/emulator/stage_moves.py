"""Each deal's path through the stages: the flow's stage, pipeline and status changes.

A generated deal's story is drawn from the deal as it was generated (its add and update time,
final pipeline, stage and status, kept at creation so that later edits do not redraw it): up to
three earlier stages (some behind a later one: a move back), a first stage in another pipeline
for some deals (a pipeline change), moves at seconds between the deal's creation and its close,
and, for a won or lost deal, the close, for some deals on the very second of its last move. The
deal record shows the same times (`stage_change_time`, `won_time`/`lost_time`/`close_time`).
`move` and `close` edit a deal later, as a user would.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.emulator.deal_children import ID_STRIDE, USER_AGENT, Change
from tests.emulator.fields import between

if TYPE_CHECKING:
    from tests.emulator.dataset import Dataset

#: Stages per pipeline (stage ids run pipeline after pipeline: 1-5, 6-10, 11-15).
STAGES_PER_PIPELINE = 5
#: Story changes are deal_id * ID_STRIDE + FIRST_SLOT + k (the generated flow uses 0-6).
FIRST_SLOT = 8
#: Ids of the changes `move` and `close` add.
EDIT_IDS = 2 * 10**9
STATUSES = ("open", "won", "lost")


@dataclass
class Story:
    """A deal's stage moves `(when, from, to, from_pipeline, to_pipeline)` and its close."""

    moves: list[tuple[int, int, int, int, int]] = field(default_factory=list)
    close: tuple[int, str] | None = None


def _stage_in(rng: random.Random, pipeline: int) -> int:
    return (pipeline - 1) * STAGES_PER_PIPELINE + between(rng, 1, STAGES_PER_PIPELINE)


class StageMoves:
    """Every deal's story; the edits made to deals since they were generated."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        deals = dataset.deals
        # The generated deals as they were: touches and edits must not redraw their story.
        self._base = {
            deal: tuple(deals.cols[name][deal - 1] for name in _BASE)
            for deal in range(1, len(deals) + 1)
        }
        self._edits: dict[int, list[Change]] = {}
        self._next_id = EDIT_IDS

    def story(self, deal_id: int) -> Story:
        """A generated deal's moves and close (none for deals created later)."""
        base = self._base.get(deal_id)
        if base is None:
            return Story()
        added, updated, pipeline, stage, status = base
        rng = random.Random(f"{self.dataset.seed}:stage-moves:{deal_id}")
        count = (0, 0, 1, 1, 2, 3)[int(rng.random() * 6)]
        path = [_stage_in(rng, pipeline) for _ in range(count)] + [stage]
        if count and rng.random() < 0.2:  # started in another pipeline
            path[0] = _stage_in(rng, pipeline % 3 + 1)
        for k in range(count - 1, -1, -1):  # no move to the stage the deal is in
            if path[k] == path[k + 1]:
                path[k] = path[k + 1] - 1 if path[k + 1] % STAGES_PER_PIPELINE != 1 else path[k] + 1
        times = sorted(added + int((updated - added) * rng.random()) for _ in range(count))
        pipelines = [(s - 1) // STAGES_PER_PIPELINE + 1 for s in path]
        story = Story(
            [
                (when, path[k], path[k + 1], pipelines[k], pipelines[k + 1])
                for k, when in enumerate(times)
            ]
        )
        if STATUSES[status] != "open":
            start = times[-1] if times else added
            same_second = times and rng.random() < 0.3
            when = start if same_second else start + int((updated - start) * rng.random())
            story.close = (when, STATUSES[status])
        return story

    def changes(self, deal_id: int) -> list[Change]:
        """The flow's changes of a deal's story, then those of its later edits."""
        story = self.story(deal_id)
        owner = self.dataset.deals.cols["owner_id"][deal_id - 1]
        ids = iter(range(deal_id * ID_STRIDE + FIRST_SLOT, (deal_id + 1) * ID_STRIDE))
        result = []
        for when, old, new, old_pipeline, new_pipeline in story.moves:
            if old_pipeline != new_pipeline:
                result.append(
                    Change(
                        next(ids),
                        deal_id,
                        when,
                        "pipeline_id",
                        old_pipeline,
                        new_pipeline,
                        owner,
                        "app",
                        USER_AGENT,
                    )
                )
            result.append(
                Change(next(ids), deal_id, when, "stage_id", old, new, owner, "app", USER_AGENT)
            )
        if story.close is not None:
            when, status = story.close
            result.append(
                Change(next(ids), deal_id, when, "status", "open", status, owner, "app", USER_AGENT)
            )
        return result + self._edits.get(deal_id, [])

    def times(
        self, deal_id: int, stage_change: int | None, close: int | None
    ) -> tuple[int | None, int | None]:
        """The deal record's (stage_change_time, close time) for its story and edits."""
        if deal_id in self._base:
            story = self.story(deal_id)
            stage_change = story.moves[-1][0] if story.moves else None
            close = story.close[0] if story.close else None
        for change in self._edits.get(deal_id, []):
            if change.field_key == "stage_id":
                stage_change = change.when
            elif change.field_key == "status":
                close = change.when if change.new_value != "open" else None
        return stage_change, close

    # --- edits (callers hold the dataset's lock) ---
    def move(self, deal_id: int, stage: int, when: int) -> None:
        """Move an open deal to `stage` at `when` (in another pipeline: a pipeline change too)."""
        deals = self.dataset.deals
        pos = deal_id - 1
        old_stage, old_pipeline = deals.cols["stage_id"][pos], deals.cols["pipeline_id"][pos]
        pipeline = (stage - 1) // STAGES_PER_PIPELINE + 1
        if pipeline != old_pipeline:
            self._edit(deal_id, when, "pipeline_id", old_pipeline, pipeline)
            deals.cols["pipeline_id"][pos] = pipeline
        self._edit(deal_id, when, "stage_id", old_stage, stage)
        deals.cols["stage_id"][pos] = stage
        self._updated(deal_id, when)

    def close(self, deal_id: int, status: str, when: int) -> None:
        """Mark an open deal won or lost at `when`."""
        deals = self.dataset.deals
        self._edit(deal_id, when, "status", "open", status)
        deals.cols["status"][deal_id - 1] = STATUSES.index(status)
        self._updated(deal_id, when)

    def _edit(self, deal_id: int, when: int, key: str, old: Any, new: Any) -> None:
        owner = self.dataset.deals.cols["owner_id"][deal_id - 1]
        change = Change(self._next_id, deal_id, when, key, old, new, owner, "api")
        self._next_id += 1
        self._edits.setdefault(deal_id, []).append(change)

    def _updated(self, deal_id: int, when: int) -> None:
        deals = self.dataset.deals
        deals.cols["update_time"][deal_id - 1] = when
        deals._changed()


_BASE = ("add_time", "update_time", "pipeline_id", "stage_id", "status")
