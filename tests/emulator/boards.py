"""Projects' boards and their phases (v2): the boards and phases `Projects.PHASES` uses, and a
third board that has no phase yet. Times in ISO 8601 with milliseconds, as the spec shows them."""

from __future__ import annotations

import random
from typing import Any, ClassVar

from tests.emulator.data import Table, iso_millis
from tests.emulator.projects import Projects


class Boards(Table):
    """Project boards: one per entry of `Projects.PHASES`, then one without phases."""

    entity = "boards"
    sortable: ClassVar[dict[str, str]] = {"id": "id"}
    NAMES = ("Delivery 🚚", "Onboarding", "Backlog — später")

    def label(self, record_id: int) -> str:
        return self._edited(record_id, self.NAMES[(record_id - 1) % len(self.NAMES)])

    def build(self, record_id: int, rng: random.Random) -> dict[str, Any]:
        added, updated = self._stamp(record_id)
        millis = int(rng.random() * 1000)
        return {
            "id": record_id,
            "name": self.label(record_id),
            "order_nr": record_id,
            "add_time": iso_millis(added * 1000 + millis),
            "update_time": iso_millis(updated * 1000 + millis),
        }


#: Each phase's board, in phase-id order (phase ids 1.. as `Projects.PHASES` numbers them).
PHASE_BOARDS = tuple(board for board, phases in Projects.PHASES for _ in phases)


class Phases(Table):
    """Project phases: `board_id` is a column, as `/phases` lists one board's phases."""

    entity = "phases"
    columns = ("board_id",)
    sortable: ClassVar[dict[str, str]] = {"id": "id"}
    NAMES = ("Planning", "In progress ⚙", "Review", "Done ✅")

    def generate(self, n: int, now: int | None) -> dict[str, list[int]]:
        columns = self._times(n, now)
        start = len(self)
        columns["board_id"] = [PHASE_BOARDS[(start + p) % len(PHASE_BOARDS)] for p in range(n)]
        return columns

    def label(self, record_id: int) -> str:
        return self._edited(record_id, self.NAMES[(self.order_nr(record_id) - 1) % len(self.NAMES)])

    def order_nr(self, record_id: int) -> int:
        """The phase's place on its board (1..)."""
        board = self.cols["board_id"][self._pos(record_id)]
        column = self.cols["board_id"]
        return sum(1 for pos in range(self._pos(record_id)) if column[pos] == board) + 1

    def build(self, record_id: int, rng: random.Random) -> dict[str, Any]:
        added, updated = self._stamp(record_id)
        millis = int(rng.random() * 1000)
        return {
            "id": record_id,
            "name": self.label(record_id),
            "board_id": self.cols["board_id"][self._pos(record_id)],
            "order_nr": self.order_nr(record_id),
            "add_time": iso_millis(added * 1000 + millis),
            "update_time": iso_millis(updated * 1000 + millis),
        }
