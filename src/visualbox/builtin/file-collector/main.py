"""Built-in File collector: day files of IoT devices from an HTTP file server, merged.

The server holds ``<base>/<device>/<sensor>/<day file>``; see README.md. Each
poll asks only for new or changed files (collector.py says which) and outputs
the merged model when something changed. Progress goes to stdout, problems to
stderr (each at most every ``REPEAT_S`` seconds while it lasts). A config that
cannot work is one stderr line naming the field, then exit status 78 (EX_CONFIG:
not restarted, since a restart would not help).
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, date, datetime
from typing import Any

from collector import MAX_DAYS, Collection, Plan, Report
from fileserver import FileServer
from readings import DELIMITERS, Layout

import visualbox

EX_CONFIG = 78
"""Exit status for "the config cannot work" (sysexits.h): the run is not restarted."""
SHOWN = 5
"""Problems printed per poll; the rest are counted."""
REPEAT_S = 300.0
TIME_FORMATS = ("auto", "iso", "unix", "unix_ms")


def names(value: Any) -> list[str]:
    """A comma-separated list of names ("" = none)."""
    return [name.strip() for name in str(value or "").split(",") if name.strip()]


def day(config: dict[str, Any], name: str) -> date | None:
    value = config.get(name)
    try:
        return date.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {value!r} is not a date like 2024-01-31") from None


def server_from(config: dict[str, Any]) -> FileServer:
    """The file server of ``config``, or ValueError naming the field."""
    try:
        return FileServer(
            str(config.get("baseUrl") or ""),
            str(config.get("username") or ""),
            str(config.get("password") or ""),
        )
    except ValueError as error:
        raise ValueError(f"baseUrl: {error}") from None


def plan_from(config: dict[str, Any]) -> Plan:
    """The plan of ``config``, or ValueError naming the field (never a secret's value)."""
    pattern = str(config.get("filePattern") or "%Y-%m-%d.txt")
    if "%" not in pattern:
        raise ValueError(f"filePattern: {pattern!r} has no date field such as %Y-%m-%d")
    time_format = str(config.get("timeFormat") or "auto").strip()
    if time_format not in TIME_FORMATS and "%" not in time_format:
        raise ValueError("timeFormat: use auto, iso, unix, unix_ms or a pattern like %d.%m.%Y")
    delimiter = str(config.get("delimiter") or "auto")
    if delimiter != "auto" and delimiter not in DELIMITERS:
        raise ValueError(f"delimiter: unknown delimiter {delimiter!r}")
    date_from, date_to = day(config, "dateFrom"), day(config, "dateTo")
    if date_from and date_to and date_from > date_to:
        raise ValueError("dateFrom: is after dateTo")
    for name in names(config.get("devices")) + names(config.get("sensors")):
        if name in (".", "..") or "/" in name:
            raise ValueError(f"devices/sensors: {name!r} is not a folder name")
    layout = Layout(
        time_column=str(config.get("timeColumn") or "0"),
        value_column=str(config.get("valueColumn") or ""),
        delimiter=delimiter,
        time_format=time_format,
    )
    return Plan(
        devices=names(config.get("devices")),
        sensors=names(config.get("sensors")),
        pattern=pattern,
        date_from=date_from,
        date_to=date_to,
        last_days=int(min(max(config.get("lastDays") or 3, 1), MAX_DAYS)),
        layout=layout,
        max_points=int(max(config.get("maxPoints") or 10_000, 1)),
    )


def main() -> int:
    config: dict[str, Any] = visualbox.MODEL
    try:
        server = server_from(config)
        plan = plan_from(config)
    except ValueError as error:
        print(f"config: {error}", file=sys.stderr, flush=True)
        return EX_CONFIG
    interval = max(float(config.get("interval") or 60), 0.1)
    collection = Collection(plan, server)
    shown: dict[str, float] = {}
    print(f"collecting from {server.base} every {interval:g} s", flush=True)
    while True:
        started = time.monotonic()
        try:
            report = collection.poll(datetime.now(UTC))
            if report.changed:
                visualbox.output(collection.model(datetime.now(UTC)))
        except Exception as error:  # a bug must not become a crash loop
            report = Report(problems=[f"poll failed: {error!r}"])
        problems = [p for p in report.problems if started - shown.get(p, -REPEAT_S) >= REPEAT_S]
        shown = {p: t for p, t in shown.items() if p in report.problems}
        for problem in problems[:SHOWN]:
            print(problem, file=sys.stderr, flush=True)
            shown[problem] = started
        if len(problems) > SHOWN:
            print(f"... and {len(problems) - SHOWN} more problems", file=sys.stderr, flush=True)
        if report.changed or problems:
            devices = len(collection.sensors)
            sensors = sum(len(names) for names in collection.sensors.values())
            print(
                f"poll {collection.polls}: {devices} devices, {sensors} sensors; files "
                f"{report.read} read, {report.unchanged} unchanged, {report.missing} missing, "
                f"{report.failed} failed",
                flush=True,
            )
        time.sleep(max(interval - (time.monotonic() - started), 0.0))


if __name__ == "__main__":
    sys.exit(main())
