"""An arctic field station's day files, as the thesis's DAO case (§7.5) kept them.

    truth = write_field_site(tmp_path / "site", days=3)
    truth["station-a"]["temperature"]     # [(t_ms, (value,)), ...] exactly as written

Two devices (``station-a`` at Ny-Ålesund, ``station-b`` at Longyearbyen), each
with ``temperature`` (°C, around −20 with a daily cycle), ``humidity`` (%),
``battery`` (volts, slowly draining) and ``gps`` (lat/lon), one file per UTC
day in ``<root>/<device>/<sensor>/YYYY-MM-DD.txt``, a row every 10 minutes up
to ``now``. The sensors use the formats such loggers write: CSV with ISO times,
whitespace columns with unix seconds, semicolons with decimal commas, and a
header naming lat/lon. Values are seeded per device, sensor and day, so calling
it again later the same day only appends rows to today's file.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

Rows = list[tuple[int, tuple[float, ...]]]
FieldSite = dict[str, dict[str, Rows]]

STEP = timedelta(minutes=10)
STATIONS = {
    # name: (latitude, longitude, temperature offset °C, battery volts at the start)
    "station-a": (78.9235, 11.9300, 0.0, 3.95),
    "station-b": (78.2232, 15.6267, -3.0, 3.80),
}
SENSORS = ("temperature", "humidity", "battery", "gps")


def _times(day: date, now: datetime) -> list[datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    count = min(144, int((now - start) / STEP) + 1)
    return [start + STEP * n for n in range(max(count, 0))]


def _value(
    sensor: str,
    station: tuple[float, float, float, float],
    moment: datetime,
    first: datetime,
    rng: random.Random,
) -> tuple[float, ...]:
    lat, lon, offset, volts = station
    hours = moment.hour + moment.minute / 60
    cycle = math.sin(2 * math.pi * (hours - 9) / 24)  # warmest mid-afternoon
    if sensor == "temperature":
        return (round(-20 + offset + 4 * cycle + rng.gauss(0, 0.3), 2),)
    if sensor == "humidity":
        return (round(min(100.0, max(0.0, 72 - 8 * cycle + rng.gauss(0, 1.5))), 1),)
    if sensor == "battery":
        days = (moment - first).total_seconds() / 86400
        return (round(volts - 0.04 * days + rng.gauss(0, 0.004), 3),)
    return (round(lat + rng.gauss(0, 0.0002), 5), round(lon + rng.gauss(0, 0.0004), 5))


def _line(sensor: str, moment: datetime, values: tuple[float, ...]) -> str:
    if sensor == "temperature":  # CSV, ISO 8601 UTC
        return f"{moment:%Y-%m-%dT%H:%M:%SZ},{values[0]:.2f}"
    if sensor == "humidity":  # whitespace columns, unix seconds
        return f"{int(moment.timestamp())} {values[0]:.1f}"
    if sensor == "battery":  # semicolons, local-style decimal comma, time without zone (UTC)
        return f"{moment:%Y-%m-%d %H:%M:%S};{values[0]:.3f}".replace(".", ",")
    return f"{moment:%Y-%m-%dT%H:%M:%SZ} {values[0]:.5f} {values[1]:.5f} 12.0"


HEADERS = {
    "temperature": "# internal temperature, degrees C\ntime,temperature\n",
    "humidity": "# unix time, relative humidity %\n",
    "battery": "time;volts\n",
    "gps": "# GNSS fix\ntime lat lon alt\n",
}


def write_field_site(root: Path, days: int = 3, now: datetime | None = None) -> FieldSite:
    """Write ``days`` UTC days (up to ``now``) of every station's sensors; return the rows."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    first_day = now.date() - timedelta(days=days - 1)
    first = datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC)
    truth: FieldSite = {}
    for name, station in STATIONS.items():
        truth[name] = {}
        for sensor in SENSORS:
            rows: Rows = []
            folder = root / name / sensor
            folder.mkdir(parents=True, exist_ok=True)
            for n in range(days):
                day = first_day + timedelta(days=n)
                rng = random.Random(f"{name}/{sensor}/{day}")
                lines = []
                for moment in _times(day, now):
                    values = _value(sensor, station, moment, first, rng)
                    rows.append((round(moment.timestamp() * 1000), values))
                    lines.append(_line(sensor, moment, values))
                text = HEADERS[sensor] + "".join(line + "\n" for line in lines)
                (folder / f"{day:%Y-%m-%d}.txt").write_text(text)
            truth[name][sensor] = rows
    return truth
