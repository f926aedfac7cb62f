"""Where recorded history is kept: the :class:`HistoryStore` contract and its SQL
implementation (SQLite and PostgreSQL, tables ``history_*``).

A series is a dashboard's instance and a JSON Pointer into its outputs; a point is
one value of it at ``t`` (milliseconds since the epoch) as JSON text, with its number
when it is one. :meth:`HistoryStore.write` stores a batch of points and brings their
1-minute and 1-hour rollups up to date in the same transaction (an upsert that merges
count, sum, min, max and the last value), so the rollups never need a separate pass.

Each series counts about how many bytes its raw values take (``history_series.bytes``,
:func:`stored_bytes` per value, the ``history_bytes`` quota): :meth:`HistoryStore.write`
adds, :meth:`HistoryStore.prune` takes off.

On PostgreSQL ``history_points`` is partitioned by range of ``t``, one partition a day
(:func:`partition_name`): :meth:`SqlHistoryStore.make_partitions` creates them ahead,
:meth:`SqlHistoryStore.write` any a batch needs first, and retention drops the days that
are wholly older than its cut-off before deleting the rest row by row. SQLite keeps one
plain table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import LargeBinary, bindparam, case, cast, delete, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from visualbox.db.tables.dashboards import Dashboard
from visualbox.db.tables.history import HistoryPoint, HistoryRollup, HistorySeries

MINUTE = 60_000
HOUR = 3_600_000
STEPS = (MINUTE, HOUR)
"""The rollup levels, bucket widths in milliseconds."""

SeriesKey = tuple[str, str, str]
"""``(dashboard_id, instance_id, pointer)``."""

DAY_MS = 86_400_000
ROW_BYTES = 24
"""What one stored value costs beyond its JSON text (series, time, seq, number)."""
_PARTITION = re.compile(r"history_points_p(\d{8})")
_PARTITION_LOCK = 1_401_780_001
"""PostgreSQL advisory lock taken to create partitions (several writers, several nodes)."""
_LOCK_SERIES = "LOCK TABLE history_series IN SHARE ROW EXCLUSIVE MODE"
"""Taken before partition DDL locks ``history_points``: writers lock the series (their
byte counts) before the values too, so neither waits for the other in a cycle."""


def stored_bytes(value: str) -> int:
    """What a value counts against the ``history_bytes`` quota: its JSON text in UTF-8
    and :data:`ROW_BYTES`."""
    return (len(value) if value.isascii() else len(value.encode())) + ROW_BYTES


def partition_name(day: int) -> str:
    """The partition of ``history_points`` for day ``day`` (``t // DAY_MS``)."""
    return datetime.fromtimestamp(day * DAY_MS / 1000, UTC).strftime("history_points_p%Y%m%d")


def _day_of(name: str) -> int | None:
    found = _PARTITION.fullmatch(name)
    if found is None:
        return None
    moment = datetime.strptime(found.group(1), "%Y%m%d").replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000) // DAY_MS


@dataclass(frozen=True)
class Point:
    series: SeriesKey
    t: int
    value: str
    """The value as JSON text."""
    num: float | None
    """The value when it is a number."""
    seq: int = 0
    """Orders the values of one series in one millisecond (0, 1, 2 ...)."""
    size: int = field(init=False)
    """What it counts against the ``history_bytes`` quota (:func:`stored_bytes`)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", stored_bytes(self.value))


@dataclass
class Bucket:
    """A rollup row (or one raw value, or several of either merged)."""

    t: int
    count: int
    numbers: int
    sum: float | None
    min: float | None
    max: float | None
    last: str
    last_t: int

    @classmethod
    def of_point(cls, t: int, value: str, num: float | None) -> Bucket:
        numbers = 0 if num is None else 1
        return cls(t, 1, numbers, num, num, num, value, t)

    def merge(self, other: Bucket) -> None:
        self.count += other.count
        self.numbers += other.numbers
        self.sum = _add(self.sum, other.sum)
        self.min = other.min if self.min is None else _pick(min, self.min, other.min)
        self.max = other.max if self.max is None else _pick(max, self.max, other.max)
        if other.last_t >= self.last_t:
            self.last, self.last_t = other.last, other.last_t


class HistoryStore(Protocol):
    """What the recorder and the history API need from storage."""

    def write(self, points: Sequence[Point]) -> int:
        """Store ``points`` (those of dashboards that no longer exist are skipped) and
        update their rollups; return how many were stored. Commits."""
        ...

    def series_id(self, key: SeriesKey) -> int | None:
        """The id of a recorded series; ``None`` if nothing was ever recorded for it."""
        ...

    def raw(self, series_id: int, start: int, end: int) -> list[Bucket]:
        """The values with ``start <= t < end``, oldest first, as one-value buckets."""
        ...

    def rollups(self, series_id: int, step: int, start: int, end: int) -> list[Bucket]:
        """The ``step`` buckets that begin in ``[start, end)``, oldest first."""
        ...

    def count_raw(self, series_id: int, start: int, end: int) -> int: ...

    def last(self, series_id: int, start: int, end: int) -> tuple[int, str] | None:
        """The last value with ``start <= t < end`` as ``(t, JSON text)``, from the finest
        level that still has one."""
        ...

    def prune(self, step: int, before: int) -> int:
        """Delete the values (``step`` 0) or the rollups of ``step`` older than ``before``;
        return how many rows went. Commits."""
        ...


_INSERT_POINTS = {
    "sqlite": (
        "INSERT INTO history_points (series_id, t, seq, value, num) "
        "SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 "
        "FROM json_each(:rows) WHERE true "
        "ON CONFLICT (series_id, t, seq) DO NOTHING"
    ),
    "postgresql": (
        "INSERT INTO history_points (series_id, t, seq, value, num) "
        "SELECT (e ->> 0)::bigint, (e ->> 1)::bigint, (e ->> 2)::integer, e ->> 3, "
        "(e ->> 4)::double precision "
        "FROM json_array_elements(CAST(:rows AS json)) AS e "
        "ON CONFLICT (series_id, t, seq) DO NOTHING"
    ),
}
"""Stores the values of a JSON array of ``[series id, t, seq, value, num]`` rows."""


class SqlHistoryStore:
    """:class:`HistoryStore` on the app's database. ``ids`` caches series ids and ``days``
    the days known to have a partition (PostgreSQL) between batches (the recorder keeps
    them for its lifetime)."""

    def __init__(
        self,
        db: Session,
        ids: dict[SeriesKey, int] | None = None,
        days: set[int] | None = None,
    ) -> None:
        self.db = db
        self.ids = ids if ids is not None else {}
        self.days = days if days is not None else set()
        self._dialect = db.get_bind().dialect.name

    @property
    def partitioned(self) -> bool:
        return self._dialect == "postgresql"

    def _insert(self, table: Any) -> Any:
        module = postgresql if self._dialect == "postgresql" else sqlite
        return module.insert(table)

    # --- writing ---------------------------------------------------------------------

    def write(self, points: Sequence[Point]) -> int:
        if not points:
            return 0
        if self.partitioned:  # before this session writes anything (see make_partitions)
            needed = {p.t // DAY_MS for p in points} - self.days
            if needed:
                self.make_partitions(needed)
        dashboards = {p.series[0] for p in points}
        existing = set(self.db.scalars(select(Dashboard.id).where(Dashboard.id.in_(dashboards))))
        for key in [k for k in self.ids if k[0] in dashboards and k[0] not in existing]:
            del self.ids[key]
        points = [p for p in points if p.series[0] in existing]
        ids = self._series_ids({p.series for p in points})
        rows: dict[tuple[int, int, int], Point] = {}
        for point in points:
            rows[(ids[point.series], point.t, point.seq)] = point
        if not rows:
            self.db.commit()
            return 0
        # The series first, then the values: the order partition DDL locks them in too.
        added: dict[int, int] = {}
        for (series_id, _t, _seq), point in rows.items():
            added[series_id] = added.get(series_id, 0) + point.size
        self._count_bytes(added, 1)
        # One parameter, unpacked by the database: no per-row work in Python (which would
        # hold the GIL the relay's event loop needs; the driver releases it meanwhile).
        payload = json.dumps([[s, t, seq, p.value, p.num] for (s, t, seq), p in rows.items()])
        self.db.connection().execute(text(_INSERT_POINTS[self._dialect]), {"rows": payload})
        self._roll_up(rows)
        self.db.commit()
        return len(rows)

    def _count_bytes(self, amounts: dict[int, int], sign: int) -> None:
        if not amounts:
            return
        larger = func.greatest if self.partitioned else func.max  # of two values
        query = (
            update(HistorySeries)
            .where(HistorySeries.id == bindparam("sid"))
            .values(bytes=larger(0, HistorySeries.bytes + bindparam("delta")))
        )
        self.db.connection().execute(
            query, [{"sid": s, "delta": sign * n} for s, n in sorted(amounts.items())]
        )

    def make_partitions(self, days: Iterable[int]) -> None:
        """Create the partitions of ``history_points`` for these days (``t // DAY_MS``)
        that do not exist yet (PostgreSQL only). Runs on a connection of its own and
        commits at once, so the parent table is locked only for a moment; the caller's
        session must not have written to a ``history_*`` table in its open transaction."""
        if not self.partitioned:
            return
        wanted = sorted(set(days) - self.days)
        if not wanted:
            return
        with self.db.get_bind().engine.connect() as conn, conn.begin():
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PARTITION_LOCK})
            conn.execute(text(_LOCK_SERIES))
            for day in wanted:
                conn.execute(
                    text(
                        f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF "
                        f"history_points FOR VALUES FROM ({day * DAY_MS}) TO "
                        f"({(day + 1) * DAY_MS})"
                    )
                )
        self.days.update(wanted)

    def partitions(self) -> dict[int, str]:
        """``{day: partition name}`` of ``history_points`` (PostgreSQL; empty on SQLite)."""
        if not self.partitioned:
            return {}
        names = self.db.scalars(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'history_points'::regclass"
            )
        )
        found = {}
        for name in names:
            day = _day_of(name)
            if day is not None:
                found[day] = name
        return found

    def _series_ids(self, keys: set[SeriesKey]) -> dict[SeriesKey, int]:
        missing = keys - self.ids.keys()
        if missing:
            insert = self._insert(HistorySeries).on_conflict_do_nothing(
                index_elements=["dashboard_id", "instance_id", "pointer"]
            )
            self.db.execute(
                insert,
                [{"dashboard_id": d, "instance_id": i, "pointer": p} for d, i, p in missing],
            )
            for dashboard_id in {d for d, _, _ in missing}:
                found = self.db.execute(
                    select(
                        HistorySeries.id, HistorySeries.instance_id, HistorySeries.pointer
                    ).where(HistorySeries.dashboard_id == dashboard_id)
                )
                for series_id, instance_id, pointer in found:
                    self.ids[(dashboard_id, instance_id, pointer)] = series_id
        return {key: self.ids[key] for key in keys}

    def _roll_up(self, rows: dict[tuple[int, int, int], Point]) -> None:
        # [count, numbers, sum, min, max, last, last_t] per bucket (plain lists: hot loop)
        buckets: dict[tuple[int, int, int], list[Any]] = {}
        for (series_id, t, _seq), point in rows.items():
            num = point.num
            for step in STEPS:
                key = (series_id, step, t - t % step)
                b = buckets.get(key)
                if b is None:
                    buckets[key] = [1, 0 if num is None else 1, num, num, num, point.value, t]
                    continue
                b[0] += 1
                if num is not None:
                    b[1] += 1
                    b[2] = num if b[2] is None else b[2] + num
                    b[3] = num if b[3] is None or num < b[3] else b[3]
                    b[4] = num if b[4] is None or num > b[4] else b[4]
                if t >= b[6]:
                    b[5], b[6] = point.value, t
        insert = self._insert(HistoryRollup.__table__)
        new, old = insert.excluded, HistoryRollup.__table__.c
        later = new.last_t >= old.last_t
        upsert = insert.on_conflict_do_update(
            index_elements=["series_id", "step", "t"],
            set_={
                "count": old.count + new.count,
                "numbers": old.numbers + new.numbers,
                "sum": case(
                    (new.sum.is_(None), old.sum),
                    (old.sum.is_(None), new.sum),
                    else_=old.sum + new.sum,
                ),
                "min": case(
                    (new.min.is_(None), old.min),
                    (old.min.is_(None) | (new.min < old.min), new.min),
                    else_=old.min,
                ),
                "max": case(
                    (new.max.is_(None), old.max),
                    (old.max.is_(None) | (new.max > old.max), new.max),
                    else_=old.max,
                ),
                "last": case((later, new.last), else_=old.last),
                "last_t": case((later, new.last_t), else_=old.last_t),
            },
        )
        self.db.connection().execute(
            upsert,
            [
                {
                    "series_id": series_id,
                    "step": step,
                    "t": t,
                    "count": b[0],
                    "numbers": b[1],
                    "sum": b[2],
                    "min": b[3],
                    "max": b[4],
                    "last": b[5],
                    "last_t": b[6],
                }
                for (series_id, step, t), b in buckets.items()
            ],
        )

    # --- reading ---------------------------------------------------------------------

    def series_id(self, key: SeriesKey) -> int | None:
        dashboard_id, instance_id, pointer = key
        return self.db.scalar(
            select(HistorySeries.id).where(
                HistorySeries.dashboard_id == dashboard_id,
                HistorySeries.instance_id == instance_id,
                HistorySeries.pointer == pointer,
            )
        )

    def raw(self, series_id: int, start: int, end: int) -> list[Bucket]:
        rows = self.db.execute(
            select(HistoryPoint.t, HistoryPoint.value, HistoryPoint.num)
            .where(HistoryPoint.series_id == series_id)
            .where(HistoryPoint.t >= start, HistoryPoint.t < end)
            .order_by(HistoryPoint.t, HistoryPoint.seq)
        )
        return [Bucket.of_point(t, value, num) for t, value, num in rows]

    def count_raw(self, series_id: int, start: int, end: int) -> int:
        return int(
            self.db.scalar(
                select(func.count())
                .select_from(HistoryPoint)
                .where(HistoryPoint.series_id == series_id)
                .where(HistoryPoint.t >= start, HistoryPoint.t < end)
            )
            or 0
        )

    def rollups(self, series_id: int, step: int, start: int, end: int) -> list[Bucket]:
        r = HistoryRollup
        rows = self.db.execute(
            select(r.t, r.count, r.numbers, r.sum, r.min, r.max, r.last, r.last_t)
            .where(r.series_id == series_id, r.step == step)
            .where(r.t >= start, r.t < end)
            .order_by(r.t)
        )
        return [Bucket(*row) for row in rows]

    def last(self, series_id: int, start: int, end: int) -> tuple[int, str] | None:
        p = HistoryPoint
        row = self.db.execute(
            select(p.t, p.value)
            .where(p.series_id == series_id, p.t >= start, p.t < end)
            .order_by(p.t.desc(), p.seq.desc())
            .limit(1)
        ).first()
        if row is not None:
            return int(row[0]), str(row[1])
        r = HistoryRollup
        for step in STEPS:
            row = self.db.execute(
                select(r.last_t, r.last)
                .where(r.series_id == series_id, r.step == step)
                .where(r.t >= start - step, r.t < end, r.last_t >= start, r.last_t < end)
                .order_by(r.t.desc())
                .limit(1)
            ).first()
            if row is not None:
                return int(row[0]), str(row[1])
        return None

    # --- retention -------------------------------------------------------------------

    def prune(self, step: int, before: int) -> int:
        if step == 0:
            return self._prune_raw(before)
        removed = 0
        for series_id in list(self.db.scalars(select(HistorySeries.id))):
            query = delete(HistoryRollup).where(
                HistoryRollup.series_id == series_id,
                HistoryRollup.step == step,
                HistoryRollup.t < before,
            )
            removed += int(getattr(self.db.execute(query), "rowcount", 0) or 0)
        self.db.commit()
        return removed

    def _prune_raw(self, before: int) -> int:
        """Whole days first (PostgreSQL), then the rest series by series, each in a
        transaction of its own with its byte count (a writer waits for one at most)."""
        removed = self._drop_partitions(before) if self.partitioned else 0
        for series_id in list(self.db.scalars(select(HistorySeries.id))):
            where = (HistoryPoint.series_id == series_id, HistoryPoint.t < before)
            size = self.db.scalar(select(func.sum(self._bytes_of_row())).where(*where))
            if size:
                self._count_bytes({series_id: int(size)}, -1)
                result = self.db.execute(delete(HistoryPoint).where(*where))
                removed += int(getattr(result, "rowcount", 0) or 0)
                self.db.commit()
        self.db.commit()
        return removed

    def _bytes_of_row(self) -> Any:
        """:func:`stored_bytes` of a stored value, in SQL."""
        value = HistoryPoint.value
        if self.partitioned:
            return func.octet_length(value) + ROW_BYTES
        return func.length(cast(value, LargeBinary)) + ROW_BYTES

    def _drop_partitions(self, before: int) -> int:
        """Drop the day partitions wholly older than ``before``, one transaction each:
        count their rows and bytes per series, drop, take the bytes off the series."""
        removed = 0
        self.db.commit()
        for day, name in sorted(self.partitions().items()):
            if (day + 1) * DAY_MS > before:
                continue
            found = self.db.execute(  # a past day: nothing writes to it any more
                text(
                    f"SELECT series_id, count(*), sum(octet_length(value) + {ROW_BYTES}) "
                    f"FROM {name} GROUP BY series_id"
                )
            ).all()
            self.db.execute(text(_LOCK_SERIES))
            self.db.execute(text(f"DROP TABLE {name}"))
            self._count_bytes({int(s): int(size) for s, _count, size in found}, -1)
            self.db.commit()
            self.days.discard(day)
            removed += sum(int(count) for _s, count, _size in found)
        return removed


def merged(buckets: Iterable[Bucket]) -> Bucket:
    """One bucket of several (at least one)."""
    iterator = iter(buckets)
    first = next(iterator)
    total = Bucket(**vars(first))
    for bucket in iterator:
        total.merge(bucket)
    return total


def _add(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else a + b


def _pick(function: Any, a: float, b: float | None) -> float:
    return a if b is None else float(function(a, b))
