"""History: record what integration instances output as time series, and read it back.

**Recording.** The live service hands every output of a dashboard's instance to
:meth:`Recorder.record`, on the event loop: it only appends ``(dashboard, instance, t,
data)`` to a bounded buffer (no await, no copy, no encoding). Every
``history.flush_interval_s`` :meth:`Recorder.flush` takes the buffer and, in a worker
thread, keeps the values under the JSON Pointers that widgets of the dashboard bind to
(and the whole output of an instance set to ``"history": "output"``; nothing of one set
to ``"off"``), then writes them and their rollups in one transaction through a
:class:`~visualbox.services.history_store.HistoryStore`. When the buffer is full (the
database cannot keep up) new values are dropped and the owner's log says so. An account
at its ``history_bytes`` quota gets nothing more recorded (its instances are not even
buffered until retention or an administrator makes room), and each instance's log says
so once.

**Reading.** :func:`owner_history` and :func:`public_history` authorise, check the
parameters and answer one series over a time range at the level that suits it (every
value, 1-minute or 1-hour rollups), downsampled to about the points asked for.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import math
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic_core import to_json
from sqlalchemy import select
from sqlalchemy.orm import Session

from visualbox.db.engine import Database
from visualbox.db.tables.accounts import User
from visualbox.db.tables.dashboards import Dashboard
from visualbox.errors import FieldError, InvalidInput, NotFound, invalid, plural
from visualbox.hub import Envelope, Hub
from visualbox.schemas.history import HistoryPublic, Level
from visualbox.schemas.live import StatusLevel
from visualbox.services import dashboards, quotas, sharing
from visualbox.services.history_store import (
    HOUR,
    MINUTE,
    ROW_BYTES,
    Bucket,
    Point,
    SeriesKey,
    SqlHistoryStore,
)
from visualbox.services.live_rooms import Instance
from visualbox.settings import HistorySettings

log = logging.getLogger(__name__)

MODES = ("bound", "output", "off")
"""An integration instance's ``history``: the values its widgets bind to (the default),
those and its whole output, or nothing."""
WARN_EVERY_S = 60.0
"""At most one "values were dropped" line per instance in this time."""
DAY_MS = 86_400_000
DAYS_AHEAD = 2
"""Partitions (PostgreSQL) are made for today and this many days ahead."""
MAX_POINTS = 10_000
MAX_CSV_POINTS = 100_000
DEFAULT_RANGE_MS = HOUR
_ITEM_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
MISSING = object()
"""What :func:`resolve` answers for a pointer with nothing under it."""


# --- what is recorded ------------------------------------------------------------------


def split_source(source: str) -> tuple[str, str] | None:
    """A widget's source ``/i1/temperature`` as ``("i1", "/temperature")``; ``/i1`` is
    ``("i1", "")`` (the whole output)."""
    if not source.startswith("/"):
        return None
    first, slash, rest = source[1:].partition("/")
    return first.replace("~1", "/").replace("~0", "~"), slash + rest


def widget_sources(document: dict[str, Any]) -> set[tuple[str, str]]:
    """``(instance, pointer)`` of every widget source of a dashboard document."""
    found = set()
    for widget in document.get("widgets", []):
        parts = split_source(widget.get("source") or "")
        if parts is not None:
            found.add(parts)
    return found


def bindings_of(document: dict[str, Any]) -> dict[str, frozenset[str]]:
    """``{instance id: the pointers to record}`` for every integration instance."""
    sources = widget_sources(document)
    result = {}
    for item in document.get("integrations", []):
        mode = item.get("history", "bound")
        pointers = {p for i, p in sources if i == item["id"]}
        if mode == "output":
            pointers.add("")
        result[item["id"]] = frozenset(pointers) if mode != "off" else frozenset()
    return result


_VARIABLE = re.compile(r"\\\$\\\{[^}]*\\\}")
MAX_EXPANDED = 100
"""A source with ``${name}`` (a dashboard variable) records at most this many values per
variable part: the keys or items of what is there in each output."""


def _token_pattern(token: str) -> re.Pattern[str]:
    """A pointer token with ``${name}`` parts as a pattern: each part is any text."""
    return re.compile(_VARIABLE.sub(lambda _m: "[^/]*", re.escape(token)))


def shows(sources: set[tuple[str, str]], instance: str, pointer: str) -> bool:
    """Whether ``(instance, pointer)`` is one of ``sources``, a ``${name}`` part of a
    source standing for any one token (what a viewer's choice of a variable gives)."""
    if (instance, pointer) in sources:
        return True
    tokens = pointer.split("/")
    for i, pattern in sources:
        parts = pattern.split("/")
        if i == instance and "${" in pattern and len(parts) == len(tokens):
            if all(_token_pattern(p).fullmatch(t) for p, t in zip(parts, tokens, strict=True)):
                return True
    return False


def bound_values(data: Any, patterns: Iterable[str]) -> Iterator[tuple[str, Any]]:
    """``(pointer, value)`` of each value at ``patterns`` in ``data``: one per plain
    pointer (none if missing); for a source with ``${name}`` parts, each key or index
    there that fits (at most :data:`MAX_EXPANDED` per part)."""
    for pattern in patterns:
        if "${" in pattern:
            yield from _expand(data, pattern[1:].split("/"), "")
            continue
        value = data if pattern == "" else resolve(data, pattern)
        if value is not MISSING:
            yield pattern, value


def _expand(data: Any, tokens: list[str], prefix: str) -> Iterator[tuple[str, Any]]:
    if not tokens:
        yield prefix, data
        return
    token, rest = tokens[0], tokens[1:]
    if "${" not in token:
        value = resolve(data, "/" + token)
        if value is not MISSING:
            yield from _expand(value, rest, f"{prefix}/{token}")
        return
    if isinstance(data, dict):
        keys = [str(k).replace("~", "~0").replace("/", "~1") for k in data]
    elif isinstance(data, list):
        keys = [str(i) for i in range(len(data))]
    else:
        return
    pattern = _token_pattern(token)
    for key in [k for k in keys if pattern.fullmatch(k)][:MAX_EXPANDED]:
        yield from _expand(resolve(data, "/" + key), rest, f"{prefix}/{key}")


def resolve(data: Any, pointer: str) -> Any:
    """The value under a JSON Pointer (RFC 6901), or ``MISSING``."""
    if pointer == "":
        return data
    for token in pointer[1:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(data, dict):
            if token not in data:
                return MISSING
            data = data[token]
        elif isinstance(data, list):
            if not token.isdigit() or (len(token) > 1 and token[0] == "0"):
                return MISSING
            index = int(token)
            if index >= len(data):
                return MISSING
            data = data[index]
        else:
            return MISSING
    return data


def _dumps(value: Any) -> str:
    return to_json(value).decode()


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


# --- the recorder ----------------------------------------------------------------------

Pending = tuple[str, Instance, int, Any, str]
"""An output waiting to be written: dashboard, instance, time (ms), data, JSON text."""


class Recorder:
    """Buffers outputs on the event loop and writes the bound values in batches."""

    def __init__(self, settings: HistorySettings, database: Database, hub: Hub) -> None:
        self.settings = settings
        self.database = database
        self.hub = hub
        self.pending: list[Pending] = []
        self.silent: frozenset[tuple[str, str]] = frozenset()
        """Instances known to record nothing (skipped on the relay path)."""
        self.recorded = 0
        """Values written since the start."""
        self.dropped = 0
        """Outputs dropped since the start because the buffer was full."""
        self._drops: dict[Instance, int] = {}
        self._warned: dict[Instance, float] = {}
        self._bindings: dict[str, tuple[int, dict[str, frozenset[str]]]] = {}
        self._ids: dict[SeriesKey, int] = {}
        self._days: set[int] = set()
        """Days known to have a partition (PostgreSQL)."""
        self._full: dict[tuple[str, str], tuple[int, int]] = {}
        """Instances of accounts at their history quota: ``(bytes used, limit)`` when
        they stopped (told once, and silent until there is room again)."""
        self._last: dict[SeriesKey, tuple[int, int]] = {}
        """``(t, seq)`` of each series' last value: the next one in that ms gets seq + 1."""
        self._gap_ms = 1000 / settings.max_rate if settings.max_rate else 0.0
        self._held: dict[Instance, tuple[int, Pending]] = {}
        """Each instance's latest output not yet buffered, and its 1/max_rate window."""
        self._lock = asyncio.Lock()

    def record(self, instance: Instance, data: Any, text: str) -> None:
        """An output of ``instance``: its ``data`` and their JSON ``text`` (called on the
        relay path: keep it lean)."""
        dashboard_id = instance.room.dashboard_id
        if dashboard_id is None or (dashboard_id, instance.id) in self.silent:
            return
        at = time.time_ns() // 1_000_000
        output: Pending = (dashboard_id, instance, at, data, text)
        if self._gap_ms:  # keep the last output of each window; buffer the one before
            window = int(at // self._gap_ms)
            held = self._held.get(instance)
            self._held[instance] = (window, output)
            if held is None or held[0] == window:
                return
            output = held[1]
        self._buffer(output)

    def _buffer(self, output: Pending) -> None:
        if len(self.pending) >= self.settings.buffer:
            self._drop(output[1])
            return
        self.pending.append(output)

    def _drop(self, instance: Instance) -> None:
        self.dropped += 1
        self._drops[instance] = self._drops.get(instance, 0) + 1
        now = time.monotonic()
        if now - self._warned.get(instance, -math.inf) < WARN_EVERY_S:
            return
        self._warned[instance] = now
        count = self._drops.pop(instance)
        text = (
            f"history: the database cannot keep up, so {plural(count, 'output')} of this "
            f"instance {'was' if count == 1 else 'were'} not recorded (recording resumes as "
            "soon as it catches up)"
        )
        notice = instance.status(StatusLevel.WARNING, text)
        self.hub.publish(instance.room.name, Envelope(notice, owner_only=True))

    async def flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.flush_interval_s)
            await self.flush()

    async def flush(self) -> None:
        """Write what is buffered now (one transaction, in a worker thread)."""
        async with self._lock:
            held, self._held = self._held, {}
            for _window, output in held.values():
                self._buffer(output)
            batch, self.pending = self.pending, []
            if not batch and not self.silent:
                return
            try:
                written, silent, full = await asyncio.to_thread(self._write, batch)
            except Exception:
                log.exception("recording %s failed", plural(len(batch), "output"))
                return
            self.recorded += written
            self._tell_full(batch, full)
            self.silent = silent | frozenset(full)
            now = time.monotonic()
            for instance, at in list(self._warned.items()):
                if now - at >= WARN_EVERY_S:
                    del self._warned[instance]

    def _tell_full(self, batch: list[Pending], full: dict[tuple[str, str], Any]) -> None:
        """Tell the owner once for each instance that has just stopped being recorded."""
        for dashboard_id, instance, _t, _data, _text in batch:
            key = (dashboard_id, instance.id)
            if key not in full or key in self._full:
                continue
            used, limit = self._full[key] = full[key]
            text = (
                f"history: the account has {quotas.amount('history_bytes', used)} of "
                f"{quotas.amount('history_bytes', limit)} of recorded history allowed, so new "
                "values of this instance are not recorded (they are still shown live); "
                "recording resumes when retention frees room or an administrator raises the "
                "history_bytes quota"
            )
            notice = instance.status(StatusLevel.WARNING, text)
            self.hub.publish(instance.room.name, Envelope(notice, owner_only=True))
        for key in [k for k in self._full if k not in full]:
            del self._full[key]

    def _write(
        self, batch: list[Pending]
    ) -> tuple[int, frozenset[tuple[str, str]], dict[tuple[str, str], tuple[int, int]]]:
        with self.database.session() as db:
            wanted = {d for d, _, _, _, _ in batch} | {d for d, _ in self.silent}
            bindings, owners = self._refresh(db, wanted)
            # Bytes each limited account may still add; an instance stopped at the quota
            # stays so until there is room for any value.
            room = quotas.history_room(db, set(owners.values()))
            limits = {o: r[1] for o, r in room.items() if r is not None}
            left = {o: r[1] - r[0] for o, r in room.items() if r is not None}
            roomy = self.settings.value_bytes + ROW_BYTES
            full = {
                key: at
                for key, at in self._full.items()
                if key[0] in owners and left.get(owners[key[0]], roomy) < roomy
            }
            points = []
            cap = self.settings.value_bytes
            for dashboard_id, instance, t, data, whole in batch:
                instance_id = instance.id
                owner = owners.get(dashboard_id, "")
                patterns = bindings.get(dashboard_id, {}).get(instance_id, ())
                for pointer, value in bound_values(data, patterns):
                    text = whole if pointer == "" else _dumps(value)
                    if len(text) > cap:
                        continue
                    key = (dashboard_id, instance_id, pointer)
                    last_t, last_seq = self._last.get(key, (-1, 0))
                    point = Point(key, t, text, _number(value), last_seq + 1 if last_t == t else 0)
                    if owner in left:
                        if (dashboard_id, instance_id) in full or point.size > left[owner]:
                            limit = limits[owner]
                            full.setdefault(
                                (dashboard_id, instance_id), (limit - left[owner], limit)
                            )
                            left[owner] = 0  # and nothing more of this account in this batch
                            continue
                        left[owner] -= point.size
                    self._last[key] = (t, point.seq)
                    points.append(point)
            written = SqlHistoryStore(db, self._ids, self._days).write(points)
        silent = frozenset(
            (d, i) for d, instances in bindings.items() for i, p in instances.items() if not p
        )
        return written, silent, full

    def _refresh(
        self, db: Session, wanted: set[str]
    ) -> tuple[dict[str, dict[str, frozenset[str]]], dict[str, str]]:
        """The bindings of the ``wanted`` dashboards that exist, reloaded when changed, and
        their owners."""
        if not wanted:
            return {}, {}
        query = select(Dashboard.id, Dashboard.revision, Dashboard.owner_id)
        rows = db.execute(query.where(Dashboard.id.in_(wanted))).all()
        revisions: dict[str, int] = {d: revision for d, revision, _owner in rows}
        for dashboard_id in wanted - revisions.keys():
            self._bindings.pop(dashboard_id, None)
        for dashboard_id, revision in revisions.items():
            cached = self._bindings.get(dashboard_id)
            if cached is None or cached[0] != revision:
                document = db.scalar(select(Dashboard.document).where(Dashboard.id == dashboard_id))
                self._bindings[dashboard_id] = (revision, bindings_of(document or {}))
        owners = {d: owner for d, _revision, owner in rows}
        return {d: self._bindings[d][1] for d in revisions}, owners

    async def prune_forever(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.make_partitions)
                await asyncio.to_thread(self.prune)
            except Exception:
                log.exception("pruning history failed")
            await asyncio.sleep(self.settings.prune_interval_s)

    def make_partitions(self, now_ms: int | None = None) -> None:
        """Create the partitions (PostgreSQL) of today and :data:`DAYS_AHEAD` days ahead,
        so a write rarely has to make one."""
        today = (now_ms if now_ms is not None else time.time_ns() // 1_000_000) // DAY_MS
        with self.database.session() as db:
            SqlHistoryStore(db, days=self._days).make_partitions(
                range(today, today + DAYS_AHEAD + 1)
            )

    def prune(self, now_ms: int | None = None) -> dict[str, int]:
        """Delete what is older than its level's retention; ``{level: rows deleted}``."""
        now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
        removed: dict[str, int] = {}
        with self.database.session() as db:
            store = SqlHistoryStore(db, days=self._days)
            for level, step, days in levels(self.settings):
                if days > 0:
                    removed[level] = store.prune(step, now - int(days * DAY_MS))
        return removed


def levels(settings: HistorySettings) -> list[tuple[Level, int, float]]:
    """``(level, step in ms, retention in days)``, finest first (0 days: forever)."""
    return [
        ("raw", 0, settings.raw_days),
        ("minute", MINUTE, settings.minute_days),
        ("hour", HOUR, settings.hour_days),
    ]


# --- reading ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesQuery:
    instance: str
    pointer: str
    start: int
    end: int
    points: int


def parse_query(
    instance: str | None,
    pointer: str | None,
    start: str | None,
    end: str | None,
    points: str | None,
    *,
    default_points: int,
    max_points: int,
    now_ms: int,
) -> SeriesQuery:
    """Check the parameters of a history request; every problem is named at once."""
    errors: list[FieldError] = []
    if not instance:
        errors.append(FieldError("instance", "is required: the id of an integration instance"))
    elif not _ITEM_ID.fullmatch(instance):
        errors.append(
            FieldError("instance", "must be an instance id (1-32 letters, digits, - or _)")
        )
    pointer = pointer or ""
    if pointer and (not pointer.startswith("/") or len(pointer) > 1000 or "\x00" in pointer):
        errors.append(
            FieldError(
                "pointer",
                "must be a JSON Pointer such as /temperature (empty: the whole output), "
                "at most 1000 characters",
            )
        )
    end_ms = _moment(end, "to", errors) if end else now_ms
    start_ms = _moment(start, "from", errors) if start else None
    if start_ms is None and end_ms is not None:
        start_ms = end_ms - DEFAULT_RANGE_MS
    if start_ms is not None and end_ms is not None and start_ms >= end_ms:
        errors.append(FieldError("from", "must be before to"))
    count = default_points
    if points:
        if not points.isdigit() or not 1 <= int(points) <= max_points:
            errors.append(FieldError("points", f"must be a whole number from 1 to {max_points}"))
        else:
            count = int(points)
    if errors:
        raise InvalidInput("The history request is not valid.", errors)
    assert instance is not None and start_ms is not None and end_ms is not None
    return SeriesQuery(instance, pointer, start_ms, end_ms, count)


_LATEST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def _moment(text: str, field: str, errors: list[FieldError]) -> int | None:
    """ISO 8601 (UTC unless it says otherwise) or milliseconds since the epoch."""
    value: int | None = None
    if re.fullmatch(r"-?\d{1,16}", text):
        value = int(text)
    else:
        try:
            moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is not None:
            aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            value = int(aware.timestamp() * 1000)
    if value is None or not 0 <= value <= _LATEST_MS:
        errors.append(
            FieldError(
                field,
                "must be a time: ISO 8601 such as 2026-12-02T17:00:00Z, or milliseconds "
                "since 1970-01-01",
            )
        )
        return None
    return value


def choose_level(settings: HistorySettings, query: SeriesQuery, now_ms: int) -> tuple[Level, int]:
    """The coarsest level whose buckets are no wider than the points asked for need, or a
    coarser one when that level no longer keeps the start of the range."""
    width = (query.end - query.start) / query.points
    options = levels(settings)
    index = 2 if width >= HOUR else 1 if width >= MINUTE else 0
    while index < 2:
        days = options[index][2]
        if days == 0 or query.start >= now_ms - days * DAY_MS:
            break
        index += 1
    level, step, _days = options[index]
    return level, step


RAW_READ_LIMIT = 20
"""Read raw values only when there are at most this many per point asked for (else the
1-minute rollups, when they are kept for the range)."""


def read_series(
    db: Session, settings: HistorySettings, dashboard_id: str, query: SeriesQuery, now_ms: int
) -> HistoryPublic:
    store = SqlHistoryStore(db)
    level, step = choose_level(settings, query, now_ms)
    series_id = store.series_id((dashboard_id, query.instance, query.pointer))
    items: list[Bucket] = []
    if series_id is not None and level == "raw":
        many = store.count_raw(series_id, query.start, query.end)
        if many > RAW_READ_LIMIT * query.points:
            level, step = "minute", MINUTE
    if series_id is not None:
        if level == "raw":
            items = store.raw(series_id, query.start, query.end)
        else:
            items = store.rollups(series_id, step, query.start - query.start % step, query.end)
    last = store.last(series_id, query.start, query.end) if series_id is not None else None
    answer = downsample(items, step, query)
    return HistoryPublic(
        instance=query.instance,
        pointer=query.pointer,
        start=query.start,
        end=query.end,
        level=level,
        step_ms=answer[0],
        points=answer[1],
        bands=answer[2],
        last=(last[0], json.loads(last[1])) if last is not None else None,
    )


def downsample(
    items: list[Bucket], step: int, query: SeriesQuery
) -> tuple[int, list[tuple[int, Any]], list[tuple[int, float, float]]]:
    """``(bucket width, points, bands)`` of at most about ``query.points`` points."""
    if step == 0 and len(items) <= query.points:
        return 0, [(b.t, json.loads(b.last)) for b in items], []
    width = max(step, math.ceil((query.end - query.start) / query.points))
    if step:
        width = step if len(items) <= query.points else math.ceil(width / step) * step
    groups: dict[int, Bucket] = {}
    for bucket in items:
        key = bucket.t - bucket.t % width
        if key in groups:
            groups[key].merge(bucket)
        else:
            groups[key] = Bucket(**{**vars(bucket), "t": key})
    points: list[tuple[int, Any]] = []
    bands: list[tuple[int, float, float]] = []
    for t, bucket in groups.items():
        if bucket.numbers and bucket.sum is not None:
            points.append((t, bucket.sum / bucket.numbers))
        else:
            points.append((t, json.loads(bucket.last)))
        if bucket.min is not None and bucket.max is not None:
            bands.append((t, bucket.min, bucket.max))
    return width, points, bands


def owner_history(
    db: Session,
    settings: HistorySettings,
    user: User,
    dashboard_id: str,
    params: dict[str, str | None],
    *,
    csv_export: bool = False,
) -> HistoryPublic:
    """A series of the caller's dashboard (any instance of it, any recorded pointer);
    team viewers too (it is the live data's past)."""
    dashboard = dashboards.get_dashboard(db, user, dashboard_id, need="view")
    now = time.time_ns() // 1_000_000
    query = _parse(params, now, csv_export)
    instances = {item["id"] for item in dashboard.document["integrations"]}
    if query.instance not in instances:
        raise invalid("instance", f"this dashboard has no integration instance {query.instance!r}")
    return read_series(db, settings, dashboard.id, query, now)


def public_history(
    db: Session,
    settings: HistorySettings,
    token: str,
    params: dict[str, str | None],
    *,
    csv_export: bool = False,
) -> HistoryPublic:
    """A series of a public dashboard: only one its widgets show (instance and pointer)."""
    dashboard = sharing.shared_dashboard(db, token)
    now = time.time_ns() // 1_000_000
    query = _parse(params, now, csv_export)
    if not shows(widget_sources(dashboard.document), query.instance, query.pointer):
        raise NotFound(
            "This public dashboard shows no such series: ask for the instance and pointer "
            "of one of its widgets' sources."
        )
    return read_series(db, settings, dashboard.id, query, now)


def _parse(params: dict[str, str | None], now: int, csv_export: bool) -> SeriesQuery:
    return parse_query(
        params.get("instance"),
        params.get("pointer"),
        params.get("from"),
        params.get("to"),
        params.get("points"),
        default_points=MAX_POINTS if csv_export else 500,
        max_points=MAX_CSV_POINTS if csv_export else MAX_POINTS,
        now_ms=now,
    )


def to_csv(series: HistoryPublic) -> str:
    """``time,t_ms,value,min,max``: one row per point (min and max for buckets of numbers;
    strings as they are, other non-numbers as JSON)."""
    bands = {t: (low, high) for t, low, high in series.bands}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["time", "t_ms", "value", "min", "max"])
    for t, value in series.points:
        low, high = bands.get(t, ("", ""))
        writer.writerow([_iso(t), t, _cell(value), low, high])
    return out.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _dumps(value)
    return value


def _iso(t: int) -> str:
    moment = datetime.fromtimestamp(t / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
