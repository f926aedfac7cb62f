"""History: how long reading one series takes from a big store (prints figures; not a
test).

    .venv/bin/python bench/history_query.py [--values 5000000] [--series 5] [--days 9]

Builds a fresh SQLite database (the embedded default) the way the recorder fills it:
``--values`` numbers spread over ``--series`` series of one dashboard and the last
``--days`` days, written in batches through the history store (raw values plus their
1-minute and 1-hour rollups). Then it reads one series over the last day and the last
7 days at about 500 points, as ``GET /api/dashboards/{id}/history`` does (level choice,
downsampling), 20 times each, and prints the median and p95 next to a baseline
measured in the same run: reading the last 5 minutes (a few hundred raw values).
Targets (issue 14): 1 day <= 20 ms, 7 days <= 50 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet

from visualbox.db.engine import Database
from visualbox.db.schema import migrate
from visualbox.schemas.dashboards import DashboardContent
from visualbox.services import accounts, dashboards
from visualbox.services.history import SeriesQuery, read_series
from visualbox.services.history_store import Point, SqlHistoryStore
from visualbox.services.secrets import SecretBox
from visualbox.settings import HistorySettings

DAY_MS = 86_400_000
BATCH = 20_000


def fill(database: Database, values: int, series: int, days: int, now: int) -> str:
    with database.session() as db:
        owner = accounts.create_user(
            db, name="Bench", email="bench@example.test", password="x" * 12, verified=True
        )
        box = SecretBox([Fernet.generate_key().decode()])
        dashboard_id = dashboards.create_dashboard(db, box, owner, DashboardContent(name="B")).id
    per_series = values // series
    step = days * DAY_MS // per_series
    rng = random.Random(7)
    started = time.perf_counter()
    written = 0
    for n in range(series):
        key = (dashboard_id, f"i{n}", "/value")
        level = 20.0
        batch: list[Point] = []
        for k in range(per_series):
            level += rng.uniform(-0.5, 0.5)
            t = now - (per_series - k) * step  # the newest a step before now
            batch.append(Point(key, t, f"{level:.3f}", round(level, 3)))
            if len(batch) == BATCH:
                written += _write(database, batch)
                batch = []
        written += _write(database, batch)
    seconds = time.perf_counter() - started
    print(f"stored {written:,} values in {seconds:.0f} s ({written / seconds:,.0f} values/s)")
    return dashboard_id


def _write(database: Database, batch: list[Point]) -> int:
    with database.session() as db:
        return SqlHistoryStore(db).write(batch)


def timed(database: Database, dashboard_id: str, span_ms: int, now: int) -> tuple[float, str]:
    settings = HistorySettings()
    query = SeriesQuery("i0", "/value", now - span_ms, now, 500)
    times = []
    level = ""
    for _ in range(20):
        started = time.perf_counter()
        with database.session() as db:
            answer = read_series(db, settings, dashboard_id, query, now)
        times.append((time.perf_counter() - started) * 1000)
        level = f"{answer.level}, {len(answer.points)} points"
    times.sort()
    return statistics.median(times), f"p95 {times[18]:.1f} ms ({level})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--values", type=int, default=5_000_000)
    parser.add_argument("--series", type=int, default=5)
    parser.add_argument("--days", type=int, default=9)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        database = Database(f"sqlite:///{Path(folder) / 'bench.db'}")
        migrate(database.engine)
        now = time.time_ns() // 1_000_000
        dashboard_id = fill(database, options.values, options.series, options.days, now)
        base, base_note = timed(database, dashboard_id, 5 * 60_000, now)
        print(f"last 5 minutes (baseline): median {base:.1f} ms, {base_note}")
        for name, span, target in (("1 day", DAY_MS, 20), ("7 days", 7 * DAY_MS, 50)):
            median, note = timed(database, dashboard_id, span, now)
            verdict = "met" if median <= target else "NOT met"
            print(
                f"{name}: median {median:.1f} ms ({median / base:.1f}x baseline), {note}; "
                f"target <= {target} ms: {verdict}"
            )
        database.dispose()


if __name__ == "__main__":
    main()
