"""The collection: which day files to ask for, what changed, and the merged data model.

    collection = Collection(plan, FileServer(base_url, user, password))
    report = collection.poll(datetime.now(UTC))     # report.changed, counts, problems
    model = collection.model(now)       # {"devices", "latest", "positions", "markers", ...}

**Which files are requested.** A file is named by (device, sensor, day). Days
are UTC. The first poll asks for every file in the window. After that:

* today's and yesterday's files are *open*: asked for at every poll, with
  ``If-None-Match`` / ``If-Modified-Since`` when the server gave an ``ETag`` /
  ``Last-Modified`` (304 = unchanged, nothing re-read); a ``Last-Modified``
  equal to the answer's ``Date`` is not used (one-second resolution: the file
  may change again within that second); without validators the body is
  compared with the last one and re-read only when it differs;
* older files are *closed*: once read, never asked for again; a missing one
  (404) is asked for again at most once an hour (a device back online may
  upload its backlog); a failed one at the next poll.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

from fileserver import FetchError, FileServer, Response, child
from readings import Layout, Row, read_rows

OPEN_DAYS = 2
"""Today and yesterday may still grow; older day files are final."""
MISSING_RETRY_S = 3600.0
MAX_DAYS = 366
WORKERS = 4
POSITION_NAMES = ("gps", "position", "location")

Key = tuple[str, str, date]
Pair = tuple[str, str]


@dataclass(frozen=True)
class Plan:
    """What to collect (from the module's config)."""

    devices: list[str] = field(default_factory=list)
    sensors: list[str] = field(default_factory=list)
    pattern: str = "%Y-%m-%d.txt"
    date_from: date | None = None
    date_to: date | None = None
    last_days: int = 3
    layout: Layout = Layout()
    max_points: int = 10_000


def is_position(sensor: str) -> bool:
    """A sensor whose rows are latitude and longitude (``gps``, ``gps-1``, ``position``, ...)."""
    lower = sensor.lower()
    return lower in POSITION_NAMES or lower.startswith("gps")


def window(plan: Plan, today: date) -> list[date]:
    """The days to collect, oldest first, never after ``today`` and at most ``MAX_DAYS``."""
    if plan.date_from is not None:
        first, last = plan.date_from, plan.date_to or today
    else:
        last = plan.date_to or today
        first = last - timedelta(days=plan.last_days - 1)
    last = min(last, today)
    first = max(first, last - timedelta(days=MAX_DAYS - 1))
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


@dataclass
class FileState:
    status: int = 0
    """200 read, 404 missing, 0 never answered."""
    etag: str | None = None
    last_modified: str | None = None
    digest: str | None = None
    rows: list[Row] = field(default_factory=list)
    checked: float = 0.0
    """Monotonic time of the last answer."""


@dataclass
class Report:
    """What one poll did."""

    changed: bool = False
    read: int = 0
    unchanged: int = 0
    missing: int = 0
    failed: int = 0
    problems: list[str] = field(default_factory=list)


class Collection:
    def __init__(
        self, plan: Plan, server: FileServer, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.plan = plan
        self.server = server
        self.monotonic = monotonic
        self.files: dict[Key, FileState] = {}
        self.series: dict[Pair, list[Row]] = {}
        self.sensors: dict[str, list[str]] = {}
        """The sensors of each device, as last discovered (or configured)."""
        self.polls = 0

    def url(self, key: Key) -> str:
        device, sensor, day = key
        folder = child(self.server.base, device, folder_child=True)
        folder = child(folder, sensor, folder_child=True)
        return folder + quote(day.strftime(self.plan.pattern), safe="/")

    def discover(self, problems: list[str]) -> dict[str, list[str]]:
        """Devices and their sensors: configured, or listed by the server's index pages."""
        devices = self.plan.devices
        if not devices:
            try:
                listed = self.server.folders(self.server.base)
            except FetchError as error:
                problems.append(f"listing devices: {error}")
                return self.sensors
            if listed is None:
                problems.append(f"listing devices: {self.server.base} does not exist (HTTP 404)")
                return self.sensors
            devices = listed
        found: dict[str, list[str]] = {}
        for device in devices:
            if self.plan.sensors:
                found[device] = list(self.plan.sensors)
                continue
            try:
                sensors = self.server.folders(child(self.server.base, device, folder_child=True))
            except FetchError as error:
                problems.append(f"listing the sensors of {device}: {error}")
                sensors = self.sensors.get(device, [])
            if sensors is not None:
                found[device] = sensors
        return found

    def due(self, key: Key, today: date, now: float) -> bool:
        state = self.files.get(key)
        if state is None or key[2] >= today - timedelta(days=OPEN_DAYS - 1):
            return True
        if state.status == 200:
            return False
        if state.status == 404:
            return now - state.checked >= MISSING_RETRY_S
        return True

    def fetch(self, key: Key) -> Response | FetchError:
        state = self.files.get(key) or FileState()
        try:
            return self.server.get(self.url(key), state.etag, state.last_modified)
        except FetchError as error:
            return error

    def poll(self, now: datetime) -> Report:
        """Ask for the files that are due and merge what changed."""
        today = now.astimezone(UTC).date()
        report = Report(changed=self.polls == 0)
        self.polls += 1
        sensors = self.discover(report.problems)
        if sensors != self.sensors:
            self.sensors, report.changed = sensors, True
        days = window(self.plan, today)
        wanted = {(d, s, day) for d, names in sensors.items() for s in names for day in days}
        dirty: set[Pair] = set()
        for key in [k for k in self.files if k not in wanted]:
            if self.files.pop(key).rows:
                dirty.add(key[:2])
        clock = self.monotonic()
        due = sorted(key for key in wanted if self.due(key, today, clock))
        with ThreadPoolExecutor(WORKERS) as pool:
            for key, answer in zip(due, pool.map(self.fetch, due), strict=True):
                if self.apply(key, answer, report, clock):
                    dirty.add(key[:2])
        for pair in sorted(dirty):
            self.merge(pair)
        for pair in [p for p in self.series if p[1] not in sensors.get(p[0], [])]:
            del self.series[pair]
        report.changed = report.changed or bool(dirty)
        return report

    def apply(self, key: Key, answer: Response | FetchError, report: Report, now: float) -> bool:
        """Record one answer; True when the file's rows changed."""
        state = self.files.setdefault(key, FileState())
        if isinstance(answer, FetchError):
            report.failed += 1
            report.problems.append(str(answer))
            return False
        state.checked = now
        if answer.status == 304:
            report.unchanged += 1
            return False
        if answer.status == 404:
            report.missing += 1
            had = bool(state.rows)
            self.files[key] = FileState(status=404, checked=now)
            return had
        state.status, state.etag, state.last_modified = 200, answer.etag, answer.last_modified
        digest = hashlib.sha256(answer.body).hexdigest()
        if digest == state.digest:
            report.unchanged += 1
            return False
        state.digest = digest
        report.read += 1
        layout = dataclasses.replace(self.plan.layout, position=is_position(key[1]))
        parsed = read_rows(answer.body.decode("utf-8-sig", errors="replace"), layout)
        problem = parsed.problem()
        if problem:
            report.problems.append(f"{self.server.name(self.url(key))}: {problem}")
        state.rows = parsed.rows[-self.plan.max_points :]
        return True

    def merge(self, pair: Pair) -> None:
        """The sensor's rows from all its files: sorted, one per time, the newest ``max_points``.

        Rows older than what is kept are dropped from the files too (bounded memory).
        """
        keys = sorted(key for key in self.files if key[:2] == pair)
        by_time: dict[int, tuple[float, ...]] = {}
        for key in keys:
            by_time.update(self.files[key].rows)
        rows = sorted(by_time.items())[-self.plan.max_points :]
        self.series[pair] = rows
        if rows and len(rows) == self.plan.max_points:
            cutoff = rows[0][0]
            for key in keys:
                state = self.files[key]
                state.rows = [row for row in state.rows if row[0] >= cutoff]

    def model(self, now: datetime) -> dict[str, Any]:
        """The data model: series per device and sensor, latest values, positions, markers."""
        devices: dict[str, dict[str, list[list[float]]]] = {}
        latest: dict[str, dict[str, dict[str, float]]] = {}
        positions: dict[str, dict[str, Any]] = {}
        for device, names in sorted(self.sensors.items()):
            devices[device], latest[device] = {}, {}
            for sensor in sorted(names):
                rows = self.series.get((device, sensor), [])
                if is_position(sensor):
                    if rows and device not in positions:
                        t, (lat, lon) = rows[-1]
                        track = [[values[0], values[1]] for _, values in rows]
                        positions[device] = {"t": t, "lat": lat, "lon": lon, "track": track}
                    continue
                devices[device][sensor] = [[t, values[0]] for t, values in rows]
                if rows:
                    latest[device][sensor] = {"t": rows[-1][0], "v": rows[-1][1][0]}
        markers = [
            {"lat": fix["lat"], "lon": fix["lon"], "label": device, "t": fix["t"]}
            for device, fix in positions.items()
        ]
        return {
            "devices": devices,
            "latest": latest,
            "positions": positions,
            "markers": markers,
            "updated_at": round(now.timestamp() * 1000),
        }
