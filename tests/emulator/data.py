"""Tables of a deterministic Pipedrive account, and the core CRM entities' records.

Each table keeps only compact integer columns (timestamps, references, flags: what lists filter
and sort on) and builds a full record on demand from a per-record random generator, so that
200,000 deals take seconds and little memory, and a record's content never depends on the order
it is read in. `touch`, `add`, `archive` and `delete` mutate the columns; edits are replayed on
build. The other entities live in `leads`, `account`, `projects` and `deal_children`; `dataset`
puts them all together.
"""

from __future__ import annotations

import calendar
import functools
import random
import time
import unicodedata
import zlib
from array import array
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from tests.emulator.fields import (
    OPTIONAL_FIELDS,
    VISIBLE_TO,
    address,
    between,
    pick,
    uuid4_like,
)

if TYPE_CHECKING:
    from tests.emulator.dataset import Dataset

START = calendar.timegm((2023, 1, 1, 0, 0, 0))
END = calendar.timegm((2026, 7, 1, 0, 0, 0))  # exclusive: the last second is 2026-06-30 23:59:59
DAY = 86_400
#: Deals deleted "recently" (the API lists deleted deals for 30 days) get times this close to END.
RECENT = 30 * DAY
#: Page size the tap uses; clusters of equal update_time are planted across these boundaries.
PAGE = 500
#: Column value meaning "null" (ids and timestamps are positive).
NULL = -1
#: Sort key standing for a null value: after every real value, as in PostgreSQL's ascending order.
NULL_KEY = 1 << 62


def rfc3339(epoch: int | None) -> str | None:
    """Format epoch seconds as v2's `2025-03-04T05:06:07Z`."""
    if epoch is None:
        return None
    day, second = divmod(epoch, DAY)
    return f"{_day(day)}T{_CLOCK[second]}Z"


def v1_time(epoch: int | None) -> str | None:
    """Format epoch seconds as v1's `2025-03-04 05:06:07` (UTC)."""
    if epoch is None:
        return None
    day, second = divmod(epoch, DAY)
    return f"{_day(day)} {_CLOCK[second]}"


def iso_date(epoch: int) -> str:
    """Format epoch seconds as a `2025-03-04` date."""
    return _day(epoch // DAY)


def iso_millis(millis: int | None) -> str | None:
    """Format epoch milliseconds as v1 leads' `2025-03-04T05:06:07.123Z`."""
    if millis is None:
        return None
    seconds, fraction = divmod(millis, 1000)
    day, second = divmod(seconds, DAY)
    return f"{_day(day)}T{_CLOCK[second]}.{fraction:03d}Z"


@functools.lru_cache(maxsize=8192)
def _day(day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day * DAY))


# Formatting timestamps is a large share of building a record; a table of the day's seconds
# and a cache of dates make it a lookup.
_CLOCK = tuple(f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60))


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in ascii_text.lower() if c.isalnum()) or "x"


def mix(a: int, b: int) -> int:
    """Return a well-mixed 64-bit hash of two ints (splitmix64), for cheap stable choices."""
    x = (a * 0x9E3779B97F4A7C15 + b) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


FIRST_NAMES = (
    "Anna", "Zoë", "Jürgen", "Søren", "Maëlle", "José", "Łukasz", "Olga", "Aiko", "Ngozi",
    "Siobhán", "Björn", "Chloé", "Mateo", "Priya", "Oğuz", "Émile", "Liam", "Noor", "Kai", "Mia",
    "Hiroshi", "Fatima", "Tomás", "Inès", "Marek", "花子", "Sven", "Aino", "Rui",
)  # fmt: skip
LAST_NAMES = (
    "Ångström", "Müller", "O'Brien", "Nguyễn", "Kowalski", "García", "Smith", "Østergaard",
    "Dubois", "van der Berg", "Schröder", "Ivanova", "Tanaka", "Çelik", "Tamm", "Rossi",
    "Johansson", "Novák", "Kim", "Silva", "Papadopoulos", "Mäkinen", "Dvořák", "田中",
)  # fmt: skip
ORG_STEMS = (
    "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Nordlys", "Sakura", "Ærø Shipping",
    "Café Ünïcode", "Zürich Versicherungen", "Łódź Logistics", "Москва Трейд", "Rocket 🚀 Labs",
    "Stark Industries", "Wayne Enterprises", "Tyrell", "Vandelay Industries", "株式会社 山田製作所",
    "Björk & Søn", "Piedmont Orchards",
)  # fmt: skip
ORG_SUFFIXES = (
    "Ltd", "GmbH", "Inc.", "OÜ", "SA", "AB", "K.K.", "LLC", "",
)  # fmt: skip
DEAL_WORDS = (
    "licence renewal", "pilot", "enterprise rollout", "support contract", "upsell", "consulting",
    "hardware refresh", "training package", "expansion 📈", "migration",
)  # fmt: skip
PRODUCT_NAMES = (
    "Mechanical Pencil", "Widget Pro", "Café Crème Subscription", "Ångström Laser",
    "Support Plan Gold", "ライセンス Basic", "Onboarding Package", "API Add-on 🚀",
    "Data Export Module", "Größenrechner",
)  # fmt: skip
ACTIVITY_TYPES = ("call", "meeting", "task", "deadline", "email", "lunch")
SUBJECTS = (
    "Intro call", "Demo", "Follow-up", "Contract review", "Lunch ☕", "Kick-off",
    "Quarterly review", "Réunion de suivi", "Angebot besprechen",
)  # fmt: skip
NOTE_PHRASES = (
    "Discussed pricing; they want a 3-year term.", "Champion is Zoë Ångström (CFO).",
    "Sent the proposal 📎", "Needs SSO & audit log before signing.",
    "株式会社の担当者と打ち合わせ済み。", "Budget frozen until Q3 — revisit.",
    "Asked for a reference customer in the Nordics.", "Legal review <b>done</b>.",
)  # fmt: skip
EMAIL_LABELS = ("work", "home", "other")
PHONE_LABELS = ("work", "mobile", "home", "other")
IM_LABELS = ("skype", "whatsapp", "telegram", "google")
CURRENCY_CODES = ("EUR", "USD", "GBP", "JPY", "SEK")
LOST_REASONS = (
    "Too expensive", "Went with competitor", "No budget", "Timing", "Ei vastanud",
)  # fmt: skip

_FIRST_SLUGS = tuple(_slug(n) for n in FIRST_NAMES)
_LAST_SLUGS = tuple(_slug(n) for n in LAST_NAMES)


def label_ids(rng: random.Random) -> list[int]:
    """Return the label ids of a record: none, one or two of the three labels."""
    return list(_LABEL_SETS[int(rng.random() * len(_LABEL_SETS))])


_LABEL_SETS: tuple[tuple[int, ...], ...] = ((), (), (), (1,), (2,), (3,), (1, 3))


def _count_fields(entity: str) -> list[str]:
    """Return the `*_count` fields `include_fields` may ask for on an entity."""
    return [code for code, kind in OPTIONAL_FIELDS[entity] if kind == "int"]


def cluster_sizes(rng: random.Random, n: int) -> list[int]:
    """Split n positions (in update_time order) into groups that share one second.

    Most groups are single records; about one in ten is a cluster of 2-40. A 31-record cluster
    covers positions b-10..b+20 of every page boundary b (500, 1000, ...) that fits.
    """
    planted = [b - 10 for b in range(PAGE, n, PAGE) if b + 21 <= n]
    sizes: list[int] = []
    position, k = 0, 0
    rnd = rng.random
    while position < n:
        if k < len(planted) and position == planted[k]:
            size = 31
            k += 1
        else:
            size = 1 if rnd() < 0.9 else 2 + int(38 * rnd() ** 2)
            size = min(size, (planted[k] if k < len(planted) else n) - position)
        sizes.append(size)
        position += size
    return sizes


def timeline(
    rng: random.Random, n: int, recent: Iterable[int] = (), apart: Iterable[int] = ()
) -> tuple[list[int], list[int]]:
    """Return (add_time, update_time) per position, spread over 2023-01-01..2026-06-30.

    `recent` positions (deleted deals) get an update_time in the last 30 days, `apart` ones
    (archived records) one anywhere in the range; both stay out of the clustered order, which is
    the order of the default (non-deleted, non-archived) list.
    """
    spread = set(apart)
    hidden = set(recent) | spread
    visible = [p for p in range(n) if p not in hidden]
    sizes = cluster_sizes(rng, len(visible))
    seconds = sorted(rng.sample(range(START, END), len(sizes)))
    rng.shuffle(visible)
    update = [0] * n
    i = 0
    for second, size in zip(seconds, sizes, strict=True):
        for position in visible[i : i + size]:
            update[position] = second
        i += size
    for position in sorted(hidden):
        low = START if position in spread else END - RECENT
        update[position] = rng.randrange(low, END)
    rnd = rng.random
    # A third never changed after creation; the rest were created some time before.
    add = [u if rnd() < 0.3 else u - int((u - START) * rnd() ** 2) for u in update]
    return add, update


class Table:
    """One entity's records: integer columns indexed by position, records built on demand."""

    entity: ClassVar[str]
    #: Integer columns besides add_time/update_time (references, flags, codes).
    columns: ClassVar[tuple[str, ...]] = ()
    #: API sort field -> column (or "id", or "label" for the table's display name).
    sortable: ClassVar[dict[str, str]] = {
        "id": "id",
        "update_time": "update_time",
        "add_time": "add_time",
    }
    id_base: ClassVar[int] = 0
    timestamps: ClassVar[bool] = True
    #: Timestamp column ticks per second: 1000 where the API shows milliseconds (leads).
    unit: ClassVar[int] = 1

    def __init__(self, dataset: Dataset, count: int) -> None:
        self.dataset = dataset
        self.salt = mix(dataset.seed, zlib.crc32(self.entity.encode()))
        self.rng = random.Random(f"{dataset.seed}:{self.entity}")
        names = ("add_time", "update_time", *self.columns) if self.timestamps else self.columns
        self.cols: dict[str, array[int]] = {name: array("q") for name in names}
        self.alive = bytearray()
        #: The number of generated rows (rows added later count from there).
        self.initial = count
        self.edits: dict[int, int] = {}
        #: Fields set through the write endpoints, by row: they show over the generated ones.
        self.written: dict[int, dict[str, Any]] = {}
        #: Removed records' ids -> when they were removed (ticks), for `/recents`.
        self.removed: dict[int, int] = {}
        self.version = 0
        self._by_public: dict[Any, int] = {}
        self._indexes: dict[str, tuple[int, list[tuple[Any, int]]]] = {}
        self._extend(count, self.generate(count, now=None))

    # --- to implement per entity ---
    def generate(self, n: int, now: int | None) -> dict[str, list[int]]:
        """Return the columns of n new rows (timestamps at `now`, or a fresh timeline)."""
        return self._times(n, now)

    def build(self, record_id: int, rng: random.Random) -> dict[str, Any]:
        """Return the record's default API shape."""
        raise NotImplementedError

    def extras(self, record_id: int, rng: random.Random) -> dict[str, Any]:
        """Return the values of the fields named by `include_fields` (all of them)."""
        return {}

    def label(self, record_id: int) -> str:
        """Return the record's display name, as it and other records show it.

        It is the ordinary field `touch` edits (title, name, subject, content), so an updated
        record differs in content too, and so do the notes naming it.
        """
        return str(record_id)

    # --- storage ---
    def __len__(self) -> int:
        return len(self.alive)

    def ids(self) -> list[int]:
        """Return the ids of existing records, ascending."""
        base = self.id_base + 1
        return [base + pos for pos, alive in enumerate(self.alive) if alive]

    def public_id(self, record_id: int) -> Any:
        """Return the id the API shows for a row (an int, or a UUID string for some entities)."""
        return record_id

    def row_id(self, public: Any) -> int:
        """Return the row id of an id the API shows; KeyError if there is none."""
        if isinstance(public, int) and not isinstance(public, bool):
            return public
        if len(self._by_public) != len(self):
            base = self.id_base + 1
            self._by_public = {self.public_id(i): i for i in range(base, base + len(self))}
        try:
            return self._by_public[public]
        except (KeyError, TypeError):
            raise KeyError(f"no {self.entity} with id {public!r}") from None

    def exists(self, record_id: int) -> bool:
        """Tell whether a record with this id exists (not removed)."""
        pos = record_id - self.id_base - 1
        return 0 <= pos < len(self.alive) and bool(self.alive[pos])

    def get(self, record_id: int, column: str) -> int | None:
        """Return a column's value for a record (None for null)."""
        value = self.cols[column][record_id - self.id_base - 1]
        return None if value == NULL else value

    def record(self, record_id: int, include: Iterable[str] = ()) -> dict[str, Any]:
        """Return the record as the API shows it, with the named optional fields."""
        rng = random.Random(f"{self.dataset.seed}:{self.entity}:{record_id}")
        result = self.build(record_id, rng)
        wanted = set(include)
        if wanted:
            extra_rng = random.Random(f"{self.dataset.seed}:{self.entity}:{record_id}:extras")
            result.update(
                (k, v) for k, v in self.extras(record_id, extra_rng).items() if k in wanted
            )
        written = self.written.get(record_id)
        if written:
            result.update(written)
        return result

    def sort_key(self, record_id: int, field: str) -> Any:
        """Return the value a list sorts this record by (NULL_KEY for null)."""
        source = self.sortable[field]
        if source == "id":
            return record_id
        if source == "label":
            return self.label(record_id)
        value = self.cols[source][record_id - self.id_base - 1]
        return NULL_KEY if value == NULL else value

    def index(self, field: str) -> list[tuple[Any, int]]:
        """Return (sort key, id) of every existing record, ascending; cached until a change."""
        cached = self._indexes.get(field)
        if cached is not None and cached[0] == self.version:
            return cached[1]
        source = self.sortable[field]
        ids = self.ids()
        if source in self.cols:
            column, base = self.cols[source], self.id_base + 1
            keys = [(NULL_KEY if column[i - base] == NULL else column[i - base], i) for i in ids]
        else:
            keys = [(self.sort_key(i, field), i) for i in ids]
        keys.sort()
        self._indexes[field] = (self.version, keys)
        return keys

    # --- mutation ---
    def add(self, n: int, now: int) -> list[int]:
        """Create n records added and updated at `now`; return their ids."""
        first = self.id_base + len(self.alive) + 1
        self._extend(n, self.generate(n, now))
        self._changed()
        return list(range(first, first + n))

    def touch(self, ids: Iterable[int], when: int) -> None:
        """Set the records' update_time and change their edited field."""
        if not self.timestamps:
            raise ValueError(f"{self.entity} have no update_time")
        column = self.cols["update_time"]
        for record_id in self.existing(ids):
            column[record_id - self.id_base - 1] = when
            self.edits[record_id] = self.edits.get(record_id, 0) + 1
        self._changed()

    def archive(self, ids: Iterable[int], when: int) -> None:
        """Archive records: they move to the archived list; archiving updates them."""
        if "archived" not in self.cols:
            raise ValueError(f"{self.entity} cannot be archived")
        for record_id in self.existing(ids):
            pos = self._pos(record_id)
            self.cols["archived"][pos] = 1
            self.cols["update_time"][pos] = when
            if "archive_time" in self.cols:
                self.cols["archive_time"][pos] = when // self.unit
        self._changed()

    def remove(self, ids: Iterable[int], when: int | None = None) -> None:
        """Delete records for good (they leave every list); `when` (ticks) is kept in `removed`."""
        for record_id in self.existing(ids):
            self.alive[record_id - self.id_base - 1] = 0
            if when is not None:
                self.removed[record_id] = when
        self._changed()

    def existing(self, ids: Iterable[int]) -> list[int]:
        """Return the ids as a list; KeyError if any of them does not exist."""
        wanted = list(ids)
        missing = [i for i in wanted if not self.exists(i)]
        if missing:
            raise KeyError(f"no {self.entity} with ids {missing[:10]}")
        return wanted

    def _extend(self, n: int, columns: dict[str, list[int]]) -> None:
        for name, column in self.cols.items():
            column.extend(columns[name])
        self.alive.extend(b"\x01" * n)

    def _changed(self) -> None:
        self.version += 1
        self._indexes.clear()

    def _times(
        self, n: int, now: int | None, recent: Iterable[int] = (), apart: Iterable[int] = ()
    ) -> dict[str, list[int]]:
        if not self.timestamps:
            return {}
        if now is None:
            add, update = timeline(self.rng, n, recent, apart)
        else:
            add, update = [now] * n, [now] * n
        return {"add_time": add, "update_time": update}

    # --- helpers for builders ---
    def _pos(self, record_id: int) -> int:
        return record_id - self.id_base - 1

    def _edited(self, record_id: int, value: str) -> str:
        edits = self.edits.get(record_id)
        return value if not edits else f"{value} (edit {edits})"

    def _stamp(self, record_id: int) -> tuple[int, int]:
        pos = record_id - self.id_base - 1
        return self.cols["add_time"][pos], self.cols["update_time"][pos]

    def _custom_fields(self, record_id: int) -> dict[str, Any]:
        rows = self.dataset.custom_rows(self.entity)
        if not rows:
            return {}
        row, mutable = rows[mix(~self.salt, record_id) % len(rows)]
        values = dict(row)
        # Pooled values are shared between records: hand out copies of the mutable ones.
        for key in mutable:
            values[key] = values[key].copy()
        return values

    def _refs(self, n: int, count: int, null_share: float = 0.0) -> list[int]:
        """Return n random ids in 1..count, a share of them null."""
        rnd = self.rng.random
        return [NULL if rnd() < null_share else 1 + int(rnd() * count) for _ in range(n)]

    def _users(self, n: int) -> list[int]:
        users = self.dataset.user_ids
        rnd = self.rng.random
        return [users[int(rnd() * len(users))] for _ in range(n)]


class Deals(Table):
    """Deals (v2). Deleted deals keep their row with `deleted` = 1, archived ones `archived` = 1
    (about 5%, listed only by `/deals/archived`)."""

    entity = "deals"
    columns = (
        "status", "deleted", "archived", "archive_time", "owner_id", "person_id", "org_id",
        "pipeline_id", "stage_id",
    )  # fmt: skip
    STATUSES = ("open", "won", "lost")
    ARCHIVED_SHARE = 0.05

    def generate(self, n: int, now: int | None) -> dict[str, list[int]]:
        rnd = self.rng.random
        refs = self.dataset.refs
        deleted = [0] * n if now is not None else [int(rnd() < 0.02) for _ in range(n)]
        archived = archived_flags(self, n, now, self.ARCHIVED_SHARE, exclude=deleted)
        columns = self._times(
            n, now, [p for p in range(n) if deleted[p]], [p for p in range(n) if archived[p]]
        )
        person = self._refs(n, refs.persons, 0.1)
        org = self._refs(n, refs.orgs, 0.15)
        for p in range(n):
            if person[p] == NULL and org[p] == NULL:
                org[p] = 1 + p % refs.orgs
        pipelines = self._refs(n, 3)
        status = [0 if r < 0.6 else 1 if r < 0.85 else 2 for r in (rnd() for _ in range(n))]
        if now is not None:
            status = [0] * n
        columns.update(
            status=status,
            deleted=deleted,
            archived=archived,
            # Archiving is the last change an archived record saw.
            archive_time=[
                u if a else NULL for u, a in zip(columns["update_time"], archived, strict=True)
            ],
            owner_id=self._users(n),
            person_id=person,
            org_id=org,
            pipeline_id=pipelines,
            stage_id=[(pl - 1) * 5 + 1 + int(rnd() * 5) for pl in pipelines],
        )
        return columns

    def label(self, record_id: int) -> str:
        pos = self._pos(record_id)
        org, person = self.cols["org_id"][pos], self.cols["person_id"][pos]
        owner = (
            self.dataset.organizations.label(org)
            if org != NULL
            else self.dataset.persons.label(person)
        )
        word = DEAL_WORDS[mix(self.salt, record_id) % len(DEAL_WORDS)]
        return self._edited(record_id, f"{owner} {word}")

    def build(self, record_id: int, rng: random.Random) -> dict[str, Any]:
        pos = self._pos(record_id)
        cols = self.cols
        added, updated = cols["add_time"][pos], cols["update_time"][pos]
        status = self.STATUSES[cols["status"][pos]]
        rnd = rng.random
        close = added + int((updated - added) * rnd()) if status != "open" else None
        stage_change = None if rnd() < 0.2 else added + int((updated - added) * rnd())
        # The times of the deal's path through the stages (tests/emulator/stage_moves.py).
        stage_change, close = self.dataset.stage_moves.times(record_id, stage_change, close)
        expected = None if rnd() < 0.3 else iso_date(added + between(rng, 7, 200) * DAY)
        recurring = rnd() < 0.2
        mrr = round(50 + rnd() * 4950, 2) if recurring else None
        return {
            "id": record_id,
            "title": self.label(record_id),
            "creator_user_id": pick(rng, self.dataset.user_ids),
            "owner_id": cols["owner_id"][pos],
            "value": between(rng, 0, 99_999) if rnd() < 0.5 else round(rnd() * 10**5, 2),
            "person_id": self.get(record_id, "person_id"),
            "org_id": self.get(record_id, "org_id"),
            "stage_id": cols["stage_id"][pos],
            "pipeline_id": cols["pipeline_id"][pos],
            "currency": pick(rng, CURRENCY_CODES),
            "archive_time": rfc3339(self.get(record_id, "archive_time")),
            "add_time": rfc3339(added),
            "update_time": rfc3339(updated),
            "stage_change_time": rfc3339(stage_change),
            "status": status,
            "is_archived": bool(cols["archived"][pos]),
            "is_deleted": bool(cols["deleted"][pos]),
            "probability": None if rnd() < 0.5 else 5 * between(rng, 0, 20),
            "lost_reason": pick(rng, LOST_REASONS) if status == "lost" else None,
            "visible_to": pick(rng, VISIBLE_TO),
            "close_time": rfc3339(close),
            "won_time": rfc3339(close) if status == "won" else None,
            "lost_time": rfc3339(close) if status == "lost" else None,
            "local_won_date": iso_date(close) if close and status == "won" else None,
            "local_lost_date": iso_date(close) if close and status == "lost" else None,
            "local_close_date": iso_date(close) if close else None,
            "expected_close_date": expected,
            "label_ids": label_ids(rng),
            "origin": pick(rng, ("ManuallyCreated", "ManuallyCreated", "API", "Import")),
            "origin_id": None,
            "channel": pick(rng, (None, None, 1, 2)),
            "channel_id": pick(rng, (None, None, "Jun23 Billboards")),
            "arr": round(mrr * 12, 2) if mrr is not None else None,
            "mrr": mrr,
            "acv": round(mrr * 12, 2) if mrr is not None else None,
            "custom_fields": self._custom_fields(record_id),
        }

    def extras(self, record_id: int, rng: random.Random) -> dict[str, Any]:
        refs = self.dataset.refs
        added, updated = self._stamp(record_id)
        done = between(rng, 0, 12)
        undone = between(rng, 0, 3)
        won = self.cols["status"][self._pos(record_id)] == 1
        return {
            "next_activity_id": between(rng, 1, refs.activities) if undone else None,
            "last_activity_id": between(rng, 1, refs.activities) if done else None,
            "first_won_time": rfc3339(updated) if won else None,
            "products_count": between(rng, 0, 5),
            "files_count": between(rng, 0, 4),
            "notes_count": between(rng, 0, 6),
            "followers_count": between(rng, 1, 3),
            "email_messages_count": between(rng, 0, 30),
            "activities_count": done + undone,
            "done_activities_count": done,
            "undone_activities_count": undone,
            "participants_count": between(rng, 0, 4),
            "last_incoming_mail_time": rfc3339(added + int((updated - added) * rng.random())),
            "last_outgoing_mail_time": rfc3339(added + int((updated - added) * rng.random())),
            "smart_bcc_email": f"acme+deal{record_id}@pipedrivemail.com",
            "source_lead_id": uuid4_like(rng) if rng.random() < 0.3 else None,
        }

    def mark_deleted(self, ids: Iterable[int], when: int) -> None:
        """Flag deals as deleted; like any change, deletion moves their update_time."""
        for record_id in self.existing(ids):
            pos = self._pos(record_id)
            self.cols["deleted"][pos] = 1
            self.cols["update_time"][pos] = when
        self._changed()


def archived_flags(
    table: Table, n: int, now: int | None, share: float, exclude: Sequence[int] = ()
) -> list[int]:
    """Return n 0/1 archived flags, a share of them set (none for records created now).

    They come from a generator of their own, so the table's other columns stay as they were
    before archiving was emulated, as far as the timeline allows.
    """
    if now is not None:
        return [0] * n
    rnd = random.Random(f"{table.dataset.seed}:{table.entity}:archived").random
    return [int(rnd() < share and not (exclude and exclude[p])) for p in range(n)]


class Persons(Table):
    """Persons (v2)."""

    entity = "persons"
    columns = ("owner_id", "org_id")

    def generate(self, n: int, now: int | None) -> dict[str, list[int]]:
        columns = self._times(n, now)
        columns.update(owner_id=self._users(n), org_id=self._refs(n, self.dataset.refs.orgs, 0.2))
        return columns

    def _names(self, record_id: int) -> tuple[int, int]:
        h = mix(self.salt, record_id)
        return h % len(FIRST_NAMES), (h >> 16) % len(LAST_NAMES)

    def label(self, record_id: int) -> str:
        first, last = self._names(record_id)
        return self._edited(record_id, f"{FIRST_NAMES[first]} {LAST_NAMES[last]}")

    def build(self, record_id: int, rng: random.Random) -> dict[str, Any]:
        first, last = self._names(record_id)
        added, updated = self._stamp(record_id)
        local = f"{_FIRST_SLUGS[first]}.{_LAST_SLUGS[last]}{record_id}"
        emails = [
            {"value": f"{local}@{domain}", "primary": i == 0, "label": EMAIL_LABELS[i]}
            for i, domain in enumerate(("example.com", "mail.example.org")[: between(rng, 0, 2)])
        ]
        phones = [
            {
                "value": f"+372 5{between(rng, 100000, 9999999)}",
                "primary": i == 0,
                "label": PHONE_LABELS[i],
            }
            for i in range(between(rng, 0, 2))
        ]
        im = (
            [{"value": local, "primary": True, "label": pick(rng, IM_LABELS)}]
            if (rng.random() < 0.2)
            else []
        )
        if not im and record_id % 5 == 1:  # without a draw: the values after it stay as they were
            im = [{"value": local, "primary": True, "label": IM_LABELS[record_id % 4]}]
        return {
            "id": record_id,
            "name": self.label(record_id),
            "first_name": FIRST_NAMES[first],
            "last_name": LAST_NAMES[last],
            "owner_id": self.cols["owner_id"][self._pos(record_id)],
            "org_id": self.get(record_id, "org_id"),
            "add_time": rfc3339(added),
            "update_time": rfc3339(updated),
            "emails": emails,
            "phones": phones,
            "is_deleted": False,
            "visible_to": pick(rng, VISIBLE_TO),
            "label_ids": label_ids(rng),
            "picture_id": between(rng, 1, 10**5) if rng.random() < 0.2 else None,
            "custom_fields": self._custom_fields(record_id),
            "notes": pick(rng, NOTE_PHRASES) if rng.random() < 0.2 else None,
            "im": im,
            "birthday": iso_date(START - between(rng, 20, 60) * 365 * DAY)
            if rng.random() < 0.3
            else None,
            "job_title": pick(rng, ("CEO", "CFO", "Head of Sales", "Entwickler", None)),
            "postal_address": address(rng) if rng.random() < 0.6 else None,
        }

    def extras(self, record_id: int, rng: random.Random) -> dict[str, Any]:
        added, updated = self._stamp(record_id)
        counts = {name: between(rng, 0, 9) for name in _count_fields(self.entity)}
        activities = self.dataset.refs.activities
        extras = {
            "next_activity_id": between(rng, 1, activities) if rng.random() < 0.5 else None,
            "last_activity_id": between(rng, 1, activities) if rng.random() < 0.5 else None,
            **counts,
            "last_incoming_mail_time": rfc3339(added + int((updated - added) * rng.random())),
            "last_outgoing_mail_time": None,
            "marketing_status": pick(rng, ("no_consent", "subscribed", "unsubscribed", "archived")),
            "doi_status": pick(rng, ("pending", "confirmed")),
            "smart_bcc_email": f"acme+person{record_id}@pipedrivemail.com",
        }
        # Drawn last, so that the values above stay as they were before it was filled in.
        if rng.random() < 0.6:
            extras["last_outgoing_mail_time"] = rfc3339(updated - int((updated - added) * 0.5))
        return extras


class Organizations(Table):
    """Organizations (v2)."""

    entity = "organizations"
    columns = ("owner_id",)

    def generate(self, n: int, now: int | None) -> dict[str, list[int]]:
        columns = self._times(n, now)
        columns["owner_id"] = self._users(n)
        return columns

    def label(self, record_id: int) -> str:
        h = mix(self.salt, record_id)
        stem, suffix = ORG_STEMS[h % len(ORG_STEMS)], ORG_SUFFIXES[(h >> 16) % len(ORG_SUFFIXES)]
        return self._edited(record_id, f"{stem} {suffix}".strip())

    def build(self, record_id: int, rng: random.Random) -> dict[str, Any]:
        added, updated = self._stamp(record_id)
        name = self.label(record_id)
        site = rng.random() < 0.7
        return {
            "id": record_id,
            "name": name,
            "owner_id": self.cols["owner_id"][self._pos(record_id)],
            "add_time": rfc3339(added),
            "update_time": rfc3339(updated),
            "is_deleted": False,
            "visible_to": pick(rng, VISIBLE_TO),
            "address": address(rng) if rng.random() < 0.7 else None,
            "label_ids": label_ids(rng),
            "website": f"https://www.{_slug(name)}.example" if site else None,
            "linkedin": f"https://www.linkedin.com/company/{_slug(name)}" if site else None,
            "industry": pick(rng, (None, 1, 2)),
            "annual_revenue": pick(rng, (None, 1000 * between(rng, 100, 10**6))),
            "employee_count": pick(rng, (None, between(rng, 1, 50_000))),
            "custom_fields": self._custom_fields(record_id),
        }

    def extras(self, record_id: int, rng: random.Random) -> dict[str, Any]:
        counts = {name: between(rng, 0, 20) for name in _count_fields(self.entity)}
        activities = self.dataset.refs.activities
        return {
            "next_activity_id": between(rng, 1, activities) if rng.random() < 0.5 else None,
            "last_activity_id": between(rng, 1, activities) if rng.random() < 0.5 else None,
            **counts,
            "smart_bcc_email": f"acme+org{record_id}@pipedrivemail.com",
        }


class Activities(Table):
    """Activities (v2); `due_date` is a column (days since the epoch) because lists sort by it."""

    entity = "activities"
    columns = ("owner_id", "deal_id", "person_id", "org_id", "done", "due_date")
    sortable = {**Table.sortable, "due_date": "due_date"}

    def generate(self, n: int, now: int | None) -> dict[str, list[int]]:
        refs = self.dataset.refs
        rnd = self.rng.random
        columns = self._times(n, now)
        due = [
            NULL if rnd() < 0.1 else u // DAY + int(rnd() * 60) - 20 for u in columns["update_time"]
        ]
        columns.update(
            owner_id=self._users(n),
            deal_id=self._refs(n, refs.deals, 0.3),
            person_id=self._refs(n, refs.persons, 0.25),
            org_id=self._refs(n, refs.orgs, 0.4),
            done=[int(rnd() < 0.6) for _ in range(n)],
            due_date=due,
        )
        return columns

    def label(self, record_id: int) -> str:
        return self._edited(record_id, SUBJECTS[mix(self.salt, record_id) % len(SUBJECTS)])

    def build(self, record_id: int, rng: random.Random) -> dict[str, Any]:
        pos = self._pos(record_id)
        added, updated = self._stamp(record_id)
        done = bool(self.cols["done"][pos])
        due = self.get(record_id, "due_date")
        person = self.get(record_id, "person_id")
        deal = self.get(record_id, "deal_id")
        online = rng.random() < 0.3
        return {
            "id": record_id,
            "subject": self.label(record_id),
            "type": pick(rng, ACTIVITY_TYPES),
            "owner_id": self.cols["owner_id"][pos],
            "creator_user_id": pick(rng, self.dataset.user_ids),
            "is_deleted": False,
            "add_time": rfc3339(added),
            "update_time": rfc3339(updated),
            "deal_id": self.get(record_id, "deal_id"),
            "lead_id": linked(self.dataset.leads, record_id, 7) if deal is None else None,
            "person_id": person,
            "org_id": self.get(record_id, "org_id"),
            "project_id": between(rng, 1, 40) if rng.random() < 0.05 else None,
            "due_date": iso_date(due * DAY) if due is not None else None,
            "due_time": f"{between(rng, 8, 17):02d}:{pick(rng, (0, 30)):02d}:00"
            if due is not None and rng.random() < 0.7
            else None,
            "duration": pick(rng, (None, "00:30:00", "01:00:00")),
            "busy": rng.random() < 0.5,
            "done": done,
            "marked_as_done_time": rfc3339(updated) if done else None,
            "location": address(rng) if rng.random() < 0.2 else None,
            "participants": [{"person_id": person, "primary": True}] if person else [],
            "conference_meeting_client": "google_meet" if online else None,
            "conference_meeting_url": f"https://meet.google.com/abc-{record_id}"
            if online
            else None,
            "conference_meeting_id": f"abc-{record_id}" if online else None,
            "public_description": pick(rng, NOTE_PHRASES) if rng.random() < 0.2 else None,
            "priority": pick(rng, (None, 263, 264, 265)),
            "note": f"<p>{pick(rng, NOTE_PHRASES)}</p>" if rng.random() < 0.4 else None,
            "custom_fields": self._custom_fields(record_id),
        }

    def extras(self, record_id: int, rng: random.Random) -> dict[str, Any]:
        if rng.random() < 0.6:
            return {"attendees": []}
        users = self.dataset.users
        owner = self.cols["owner_id"][self._pos(record_id)]
        person = self.get(record_id, "person_id")
        organizer = {
            "email": users.email(owner),
            "name": users.label(owner),
            "status": "accepted",
            "is_organizer": True,
            "person_id": None,
            "user_id": owner,
        }
        guest = {
            "email": f"guest{record_id}@example.com",
            "name": self.dataset.persons.label(person) if person else "Guest Ünïcode",
            "status": pick(rng, ("accepted", "tentative", "noreply")),
            "is_organizer": False,
            "person_id": person,
            "user_id": None,
        }
        return {"attendees": [organizer, guest]}


class Products(Table):
    """Products (v2)."""

    entity = "products"
    columns = ("owner_id",)
    sortable = {**Table.sortable, "name": "label"}

    def generate(self, n: int, now: int | None) -> dict[str, list[int]]:
        columns = self._times(n, now)
        columns["owner_id"] = self._users(n)
        return columns

    def label(self, record_id: int) -> str:
        name = PRODUCT_NAMES[mix(self.salt, record_id) % len(PRODUCT_NAMES)]
        return self._edited(record_id, f"{name} Mk {record_id}")

    def build(self, record_id: int, rng: random.Random) -> dict[str, Any]:
        added, updated = self._stamp(record_id)
        recurring = rng.random() < 0.3
        return {
            "id": record_id,
            "name": self.label(record_id),
            "code": f"SKU-{record_id:05d}",
            "description": pick(rng, NOTE_PHRASES),
            "unit": pick(rng, ("", "pcs", "hours", "licences")),
            "tax": pick(rng, (0, 9, 20, 24)),
            "category": pick(rng, (None, "Software", "Hardware", "Services")),
            "is_linkable": True,
            "is_deleted": False,
            "visible_to": pick(rng, VISIBLE_TO),
            "owner_id": self.cols["owner_id"][self._pos(record_id)],
            "add_time": rfc3339(added),
            "update_time": rfc3339(updated),
            "billing_frequency": pick(rng, ("monthly", "annually")) if recurring else "one-time",
            "billing_frequency_cycles": pick(rng, (None, 12)) if recurring else None,
            "prices": [
                {
                    "product_id": record_id,
                    "price": round(1 + rng.random() * 899, 2),
                    "currency": code,
                    "cost": round(rng.random() * 300, 2),
                    "direct_cost": None,
                    "notes": "",
                }
                for code in rng.sample(CURRENCY_CODES, between(rng, 1, 2))
            ],
            "custom_fields": self._custom_fields(record_id),
        }


class Pipelines(Table):
    """Pipelines (v2): a fixed handful."""

    entity = "pipelines"
    NAMES = ("Sales", "Partnerships 🤝", "Renewals")

    def label(self, record_id: int) -> str:
        name = self.NAMES[(record_id - 1) % len(self.NAMES)]
        return self._edited(
            record_id, name if record_id <= len(self.NAMES) else f"{name} {record_id}"
        )

    def build(self, record_id: int, rng: random.Random) -> dict[str, Any]:
        added, updated = self._stamp(record_id)
        return {
            "id": record_id,
            "name": self.label(record_id),
            "order_nr": record_id,
            "is_deleted": False,
            "is_deal_probability_enabled": record_id != 2,
            "add_time": rfc3339(added),
            "update_time": rfc3339(updated),
        }


class Stages(Table):
    """Stages (v2): five per pipeline."""

    entity = "stages"
    columns = ("pipeline_id", "order_nr")
    sortable = {**Table.sortable, "order_nr": "order_nr"}
    NAMES = ("Qualified", "Contact made", "Demo scheduled", "Proposal made", "Negotiations started")

    def generate(self, n: int, now: int | None) -> dict[str, list[int]]:
        columns = self._times(n, now)
        start = len(self)
        columns["pipeline_id"] = [(start + p) // 5 + 1 for p in range(n)]
        columns["order_nr"] = [(start + p) % 5 + 1 for p in range(n)]
        return columns

    def label(self, record_id: int) -> str:
        return self._edited(record_id, self.NAMES[(record_id - 1) % len(self.NAMES)])

    def build(self, record_id: int, rng: random.Random) -> dict[str, Any]:
        pos = self._pos(record_id)
        added, updated = self._stamp(record_id)
        order = self.cols["order_nr"][pos]
        rotting = rng.random() < 0.5
        return {
            "id": record_id,
            "order_nr": order,
            "name": self.label(record_id),
            "is_deleted": False,
            "deal_probability": order * 20,
            "pipeline_id": self.cols["pipeline_id"][pos],
            "is_deal_rot_enabled": rotting,
            "days_to_rotten": between(rng, 3, 30) if rotting else None,
            "add_time": rfc3339(added),
            "update_time": rfc3339(updated),
        }


def linked(table: Table, record_id: int, every: int) -> Any:
    """The id of one of `table`'s first rows for every `every`th record (from the second), else
    None: a link without a random draw, so the records' other values stay as they were."""
    if record_id % every != 1 or record_id == 1:
        return None
    return table.public_id(1 + (record_id // every) % table.initial)


class Notes(Table):
    """Notes (v1 shape: `YYYY-MM-DD HH:MM:SS` times, nested names of what they are about)."""

    entity = "notes"
    columns = ("user_id", "deal_id", "person_id", "org_id")
    sortable = {**Table.sortable, **{c: c for c in ("user_id", "deal_id", "person_id", "org_id")}}

    def generate(self, n: int, now: int | None) -> dict[str, list[int]]:
        refs = self.dataset.refs
        columns = self._times(n, now)
        deal = self._refs(n, refs.deals, 0.5)
        person = self._refs(n, refs.persons, 0.6)
        org = self._refs(n, refs.orgs, 0.7)
        for p in range(n):
            if deal[p] == person[p] == org[p] == NULL:
                person[p] = 1 + p % refs.persons
        columns.update(user_id=self._users(n), deal_id=deal, person_id=person, org_id=org)
        return columns

    def label(self, record_id: int) -> str:
        phrase = NOTE_PHRASES[mix(self.salt, record_id) % len(NOTE_PHRASES)]
        return self._edited(record_id, f"<p>{phrase}</p>")

    def build(self, record_id: int, rng: random.Random) -> dict[str, Any]:
        ds = self.dataset
        added, updated = self._stamp(record_id)
        deal, person, org = (self.get(record_id, c) for c in ("deal_id", "person_id", "org_id"))
        user = self.cols["user_id"][self._pos(record_id)]
        lead = linked(ds.leads, record_id, 5)
        project, task = linked(ds.projects, record_id, 6), linked(ds.tasks, record_id, 4)
        return {
            "id": record_id,
            "active_flag": True,
            "add_time": v1_time(added),
            "content": self.label(record_id),
            "deal": {"title": ds.deals.label(deal)} if deal else None,
            "lead_id": lead,
            "deal_id": deal,
            "last_update_user_id": user if updated != added else None,
            "org_id": org,
            "organization": {"name": ds.organizations.label(org)} if org else None,
            "person": {"name": ds.persons.label(person)} if person else None,
            "person_id": person,
            "project_id": project,
            "project": {"title": ds.projects.label(project)} if project else None,
            "task_id": task,
            "task": {"title": ds.tasks.label(task)} if task else None,
            "pinned_to_lead_flag": False,
            "pinned_to_deal_flag": bool(deal) and rng.random() < 0.2,
            "pinned_to_organization_flag": bool(org) and rng.random() < 0.1,
            "pinned_to_person_flag": bool(person) and rng.random() < 0.1,
            "pinned_to_project_flag": False,
            "pinned_to_task_flag": False,
            "update_time": v1_time(updated),
            "user": ds.users.summary(user),
            "user_id": user,
        }


class Users(Table):
    """Users (v1 shape); user 1 is the token's owner (`is_you`)."""

    entity = "users"
    id_base = 13_370_000

    def label(self, record_id: int) -> str:
        k = record_id - self.id_base - 1
        name = f"{FIRST_NAMES[(k * 7) % len(FIRST_NAMES)]} {LAST_NAMES[(k * 5) % len(LAST_NAMES)]}"
        return self._edited(record_id, name)

    def email(self, record_id: int) -> str:
        """Return the user's login email."""
        k = record_id - self.id_base - 1
        return (
            f"{_FIRST_SLUGS[(k * 7) % len(FIRST_NAMES)]}."
            f"{_LAST_SLUGS[(k * 5) % len(LAST_NAMES)]}@acme.example"
        )

    def summary(self, record_id: int) -> dict[str, Any]:
        """Return the `user` object v1 records nest: email, name, icon, is_you."""
        return {
            "email": self.email(record_id),
            "icon_url": f"https://cdn.example/avatars/{record_id}.png",
            "is_you": record_id == self.id_base + 1,
            "name": self.label(record_id),
        }

    def build(self, record_id: int, rng: random.Random) -> dict[str, Any]:
        added, updated = self._stamp(record_id)
        first = record_id == self.id_base + 1
        active = record_id != self.id_base + 12
        return {
            "id": record_id,
            "name": self.label(record_id),
            "default_currency": pick(rng, CURRENCY_CODES),
            "locale": pick(rng, ("en_US", "et_EE", "de_DE", "ja_JP")),
            "lang": 1,
            "email": self.email(record_id),
            "phone": pick(rng, (None, f"+372 5{between(rng, 100000, 999999)}")),
            "activated": active,
            "last_login": v1_time(updated + between(rng, 0, 90) * DAY),
            "created": v1_time(added),
            "modified": v1_time(updated),
            "has_created_company": first,
            "access": [
                {
                    "app": "sales",
                    "admin": first,
                    "permission_set_id": f"62cc4d7f-4038-4352-abf3-a8c1c822b6{record_id % 100:02d}",
                },
                {
                    "app": "global",
                    "admin": first,
                    "permission_set_id": "233b7976-39bd-43a9-b305-ef3a2b0998e5",
                },
            ],
            "active_flag": active,
            "timezone_name": "Europe/Tallinn",
            "timezone_offset": "+02:00",
            "role_id": 1,
            "icon_url": None
            if record_id % 3 == 0
            else f"https://cdn.example/avatars/{record_id}.png",
            "is_you": first,
            "is_deleted": False,
        }


class Currencies(Table):
    """Currencies (v1 shape): a fixed list, one of them custom."""

    entity = "currencies"
    timestamps = False
    sortable: ClassVar[dict[str, str]] = {"id": "id"}
    LIST = (
        ("EUR", "Euro", 2, "€", False),
        ("USD", "US Dollar", 2, "$", False),
        ("GBP", "British Pound", 2, "£", False),
        ("JPY", "Japanese Yen", 0, "¥", False),
        ("SEK", "Swedish Krona", 2, "kr", False),
        ("CHF", "Swiss Franc", 2, "CHF", False),
        ("PLN", "Polish Złoty", 2, "zł", False),
        ("XBT", "Bitcoin (custom)", 8, "₿", True),
    )

    def label(self, record_id: int) -> str:
        return self.LIST[record_id - 1][0]

    def build(self, record_id: int, rng: random.Random) -> dict[str, Any]:
        code, name, decimals, symbol, custom = self.LIST[record_id - 1]
        return {
            "id": record_id,
            "code": code,
            "name": name,
            "decimal_points": decimals,
            "symbol": symbol,
            "active_flag": True,
            "is_custom_flag": custom,
        }
