"""The File collector built-in, run for real in the sandbox against a real HTTP file server.

The server (``FileSite``) serves a temporary folder under ``/data/`` with
autoindex pages, ``ETag``/``Last-Modified`` and 304 answers, optional Basic
auth, and logs every request with its status. Its index pages also link
outside the base URL: to ``/elsewhere/`` on the same server and to a second
server (``trap``) that must never be asked anything.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import importlib.util
import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from tests.builtin.fieldcase import write_field_site
from tests.builtin.harness import HOST_ALIAS, Collector, builtin_dir, run_builtin, start_builtin
from visualbox.runtime.messages import RunState, StatusLevel
from visualbox.runtime.sandbox.base import EX_CONFIG, ExitReason

NAME = "file-collector"
PREFIX = "/data/"


class FileSite:
    """A threaded HTTP file server of ``root`` at ``/data/``, with a request log."""

    def __init__(
        self,
        root: Path,
        *,
        auth: tuple[str, str] | None = None,
        trap: int = 0,
        validators: str = "etag",
    ) -> None:
        self.root = root
        self.validators = validators
        self.redirects: dict[str, str] = {}
        """Paths (under ``/data/``) answered with a redirect to another URL."""
        """``etag`` (ETag and Last-Modified), ``last-modified`` (as http.server) or ``none``."""
        self.auth = auth
        self.trap = trap
        self.log: list[tuple[str, int]] = []
        self.lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server API)
                status = site.answer(self)
                with site.lock:
                    site.log.append((unquote(urlsplit(self.path).path), status))

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://{HOST_ALIAS}:{self.port}{PREFIX}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def requests(self, path: str) -> list[int]:
        """The statuses of the requests for ``path`` (relative to ``/data/``)."""
        with self.lock:
            return [status for logged, status in self.log if logged == PREFIX + path]

    def paths(self) -> list[str]:
        with self.lock:
            return [path for path, _ in self.log]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 20) -> None:
        """Wait until the server's state (its log) satisfies ``predicate``."""

        async def check() -> None:
            while not predicate():
                await asyncio.sleep(0.05)

        await asyncio.wait_for(check(), timeout)

    def answer(self, request: BaseHTTPRequestHandler) -> int:
        if self.auth is not None:
            token = base64.b64encode(":".join(self.auth).encode()).decode()
            if request.headers.get("Authorization") != f"Basic {token}":
                return self.send(request, 401, b"no", {"WWW-Authenticate": 'Basic realm="dao"'})
        path = unquote(urlsplit(request.path).path)
        if path[len(PREFIX) :] in self.redirects:
            return self.send(request, 302, b"", {"Location": self.redirects[path[len(PREFIX) :]]})
        if not path.startswith(PREFIX) or ".." in path.split("/"):
            return self.send(request, 404, b"not here")
        target = self.root / path[len(PREFIX) :]
        if target.is_dir():
            if not path.endswith("/"):
                return self.send(request, 301, b"", {"Location": path + "/"})
            return self.send(request, 200, self.index(path, target), {"Content-Type": "text/html"})
        if not target.is_file():
            return self.send(request, 404, b"no such file")
        stat = target.stat()
        etag = '"' + hashlib.sha1(f"{stat.st_size}-{stat.st_mtime_ns}".encode()).hexdigest() + '"'
        modified = formatdate(stat.st_mtime, usegmt=True)
        headers = {"ETag": etag, "Last-Modified": modified, "Content-Type": "text/plain"}
        if self.validators != "etag":
            del headers["ETag"]
        if self.validators == "none":
            del headers["Last-Modified"]
        match = request.headers.get("If-None-Match")
        since = request.headers.get("If-Modified-Since")
        if match is not None:
            unchanged = match == etag
        else:
            unchanged = since is not None and parsedate_to_datetime(since).timestamp() >= int(
                stat.st_mtime
            )
        if unchanged:
            return self.send(request, 304, b"", headers)
        return self.send(request, 200, target.read_bytes(), headers)

    def index(self, path: str, folder: Path) -> bytes:
        """An Apache-style autoindex page, with links that must not be followed."""
        rows = [
            '<a href="?C=N;O=D">Name</a> <a href="?C=M;O=A">Last modified</a>',
            '<a href="../">Parent Directory</a>',
            '<a href="/elsewhere/">Elsewhere on this server</a>',
            f'<a href="http://{HOST_ALIAS}:{self.trap}/trap/">Mirror</a>',
            '<a href="#top">Top</a>',
        ]
        for entry in sorted(folder.iterdir()):
            name = entry.name + ("/" if entry.is_dir() else "")
            rows.append(f'<a href="{html.escape(name)}">{html.escape(name)}</a>')
        listing = "\n".join(rows)
        return f"<html><body><h1>Index of {html.escape(path)}</h1><pre>{listing}</pre>".encode()

    def send(
        self,
        request: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> int:
        request.send_response(status)
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        if status != 304:
            request.wfile.write(body)
        return status


@pytest.fixture
def trap(tmp_path: Path) -> Iterator[FileSite]:
    """A server that the collector must never reach (off-site links point here)."""
    (tmp_path / "trap").mkdir()
    server = FileSite(tmp_path / "trap")
    yield server
    server.close()


@pytest.fixture
def site(tmp_path: Path, trap: FileSite) -> Iterator[FileSite]:
    (tmp_path / "site").mkdir()
    server = FileSite(tmp_path / "site", trap=trap.port)
    yield server
    server.close()


def config(site: FileSite, **values: Any) -> dict[str, Any]:
    return {"baseUrl": site.url, "interval": 0.3, **values}


def ports(*servers: FileSite) -> list[int]:
    return [server.port for server in servers]


def series(rows: list[tuple[int, tuple[float, ...]]]) -> list[list[float]]:
    return [[t, values[0]] for t, values in rows]


def day_file(day: datetime | Any) -> str:
    return f"{day:%Y-%m-%d}.txt"


def errors(collector: Collector) -> list[str]:
    return collector.statuses(StatusLevel.ERROR)


def everything(collector: Collector) -> str:
    return "\n".join(json.dumps(message.to_json()) for message in collector.messages)


# --- the whole field site ------------------------------------------------------------------


def test_discovers_devices_and_sensors_and_merges_what_the_files_hold(
    site: FileSite, trap: FileSite, cache_dir: Path
) -> None:
    truth = write_field_site(site.root, days=2)
    got = run_builtin(
        NAME,
        config(site, lastDays=2),
        cache_dir,
        allow_host_ports=ports(site, trap),
        until=lambda c: bool(c.outputs),
    )
    model = got.outputs[0]
    assert sorted(model["devices"]) == ["station-a", "station-b"]
    for device, sensors in truth.items():
        assert sorted(model["devices"][device]) == ["battery", "humidity", "temperature"]
        for sensor in ("battery", "humidity", "temperature"):
            assert model["devices"][device][sensor] == series(sensors[sensor]), (device, sensor)
            t, (v,) = sensors[sensor][-1]
            assert model["latest"][device][sensor] == {"t": t, "v": v}
        fixes = sensors["gps"]
        assert model["positions"][device] == {
            "t": fixes[-1][0],
            "lat": fixes[-1][1][0],
            "lon": fixes[-1][1][1],
            "track": [list(values) for _, values in fixes],
        }
    assert model["markers"] == [
        {"lat": fix["lat"], "lon": fix["lon"], "label": device, "t": fix["t"]}
        for device, fix in sorted(model["positions"].items())
    ]
    assert errors(got) == []


def test_links_and_redirects_off_the_base_url_are_never_followed(
    site: FileSite, trap: FileSite, cache_dir: Path
) -> None:
    write_field_site(site.root, days=1)
    moved = f"station-b/battery/{day_file(datetime.now(UTC))}"
    site.redirects[moved] = f"http://{HOST_ALIAS}:{trap.port}/trap/{day_file(datetime.now(UTC))}"
    got = run_builtin(
        NAME,
        config(site, lastDays=1),
        cache_dir,
        allow_host_ports=ports(site, trap),
        until=lambda c: bool(c.outputs) and bool(errors(c)),
    )
    assert trap.paths() == []
    assert site.requests(moved) == [302]
    refused = f"refused a redirect off the base URL (to {site.redirects[moved]})"
    assert errors(got) == [f"{moved}: {refused}"]
    assert sorted(got.outputs[0]["devices"]) == ["station-a", "station-b"]
    assert all(path.startswith(PREFIX) for path in site.paths()), site.paths()


def test_max_points_keeps_the_newest_points(site: FileSite, cache_dir: Path) -> None:
    truth = write_field_site(site.root, days=2)
    got = run_builtin(
        NAME,
        config(site, devices="station-b", lastDays=2, maxPoints=50),
        cache_dir,
        allow_host_ports=[site.port],
        until=lambda c: bool(c.outputs),
    )
    model = got.outputs[0]
    for sensor in ("battery", "humidity", "temperature"):
        assert model["devices"]["station-b"][sensor] == series(truth["station-b"][sensor][-50:])
    fixes = truth["station-b"]["gps"][-50:]
    assert model["positions"]["station-b"]["track"] == [list(values) for _, values in fixes]


# --- which day files ----------------------------------------------------------------------


def test_last_days_and_a_date_range_select_the_right_files(site: FileSite, cache_dir: Path) -> None:
    write_field_site(site.root, days=5)
    today = datetime.now(UTC).date()
    one = {"devices": "station-a", "sensors": "temperature"}
    wanted = lambda c: bool(c.outputs)  # noqa: E731

    got = run_builtin(
        NAME, config(site, lastDays=2, **one), cache_dir, allow_host_ports=[site.port], until=wanted
    )
    asked = sorted(p for p in site.paths() if p.endswith(".txt"))
    days = [today - timedelta(days=n) for n in (1, 0)]
    assert asked == [f"{PREFIX}station-a/temperature/{day_file(d)}" for d in days]
    first = datetime(days[0].year, days[0].month, days[0].day, tzinfo=UTC).timestamp() * 1000
    assert got.outputs[0]["devices"]["station-a"]["temperature"][0][0] == first

    with site.lock:
        site.log.clear()
    start, end = today - timedelta(days=4), today - timedelta(days=3)
    got = run_builtin(
        NAME,
        config(site, dateFrom=start.isoformat(), dateTo=end.isoformat(), **one),
        cache_dir,
        allow_host_ports=[site.port],
        until=wanted,
    )
    asked = sorted(p for p in site.paths() if p.endswith(".txt"))
    assert asked == [f"{PREFIX}station-a/temperature/{day_file(d)}" for d in (start, end)]
    rows = got.outputs[0]["devices"]["station-a"]["temperature"]
    assert len(rows) == 2 * 144
    assert rows[-1][0] == (
        datetime(end.year, end.month, end.day, 23, 50, tzinfo=UTC).timestamp() * 1000
    )


# --- between polls --------------------------------------------------------------------------


@pytest.mark.parametrize("validators", ["etag", "last-modified", "none"])
def test_repolls_fetch_new_and_changed_files_only(
    tmp_path: Path, validators: str, cache_dir: Path
) -> None:
    (tmp_path / "site").mkdir()
    site = FileSite(tmp_path / "site", validators=validators)
    truth = write_field_site(site.root, days=3)
    an_hour_ago = datetime.now(UTC).timestamp() - 3600
    for path in site.root.rglob("*.txt"):  # written earlier, as on a real site
        os.utime(path, (an_hour_ago, an_hour_ago))
    today, yesterday, before = (datetime.now(UTC).date() - timedelta(days=n) for n in range(3))
    new = f"station-a/temperature/{day_file(today)}"
    grown = f"station-a/humidity/{day_file(yesterday)}"
    closed = f"station-a/battery/{day_file(before)}"
    steady = f"station-a/battery/{day_file(today)}"
    held = (site.root / new).read_text()
    (site.root / new).unlink()  # the device has not uploaded today's temperature yet

    async def go() -> Collector:
        running = await start_builtin(
            NAME,
            config(site, devices="station-a", lastDays=3),
            cache_dir,
            allow_host_ports=[site.port],
        )
        try:
            await running.wait_for(lambda c: bool(c.outputs))
            first = running.collector.outputs[0]["devices"]["station-a"]
            assert first["temperature"] == series(truth["station-a"]["temperature"][: 2 * 144])
            assert site.requests(new) == [404]

            (site.root / new).write_text(held)
            last = datetime(yesterday.year, yesterday.month, yesterday.day, 23, 55, tzinfo=UTC)
            with (site.root / grown).open("a") as file:
                file.write(f"{int(last.timestamp())} 64.5\n")

            def merged(c: Collector) -> bool:
                model = c.outputs[-1]["devices"]["station-a"]
                return (
                    bool(model["temperature"])
                    and model["temperature"][-1] == series(truth["station-a"]["temperature"])[-1]
                    and [last.timestamp() * 1000, 64.5] in model["humidity"]
                )

            await running.wait_for(merged, 20)
            polls, outputs = len(site.requests(steady)), len(running.collector.outputs)
            await site.wait_for(lambda: len(site.requests(steady)) >= polls + 3)
            assert len(running.collector.outputs) == outputs, "an unchanged poll sent an output"
        finally:
            await running.stop()
        return running.collector

    try:
        got = asyncio.run(go())
    finally:
        site.close()
    latest = got.outputs[-1]["devices"]["station-a"]
    assert latest["temperature"] == series(truth["station-a"]["temperature"])
    late = datetime(yesterday.year, yesterday.month, yesterday.day, 23, 55, tzinfo=UTC)
    appended = [round(late.timestamp() * 1000), 64.5]
    assert latest["humidity"] == sorted([*series(truth["station-a"]["humidity"]), appended])
    assert site.requests(closed) == [200], "a closed day's file was asked for again"
    assert site.requests(new)[0] == 404 and 200 in site.requests(new)
    if validators == "none":  # downloaded again, re-read only when the bytes differ
        assert set(site.requests(steady)) == {200}
    else:  # asked for conditionally: 304 after the first read
        assert site.requests(steady)[0] == 200
        assert set(site.requests(steady)[1:]) == {304}, site.requests(steady)
    if validators == "etag":  # read twice: at the start and once after it grew
        assert site.requests(grown).count(200) == 2, site.requests(grown)
    assert errors(got) == [], "a missing day file is not an error"


# --- problems --------------------------------------------------------------------------------


def test_a_wrong_password_is_an_error_and_never_shown(
    tmp_path: Path, trap: FileSite, cache_dir: Path
) -> None:
    (tmp_path / "private").mkdir()
    write_field_site(tmp_path / "private", days=1)
    secret, wrong = "Pol4r-night-s3cret", "Wr0ng-guess-x"
    site = FileSite(tmp_path / "private", auth=("dao", secret), trap=trap.port)
    try:
        got = run_builtin(
            NAME,
            config(site, username="dao", password=wrong, lastDays=1),
            cache_dir,
            allow_host_ports=[site.port],
            until=lambda c: any("401" in e for e in errors(c)),
        )
        assert any("check the username and password" in e for e in errors(got))
        assert got.outputs == [] or got.outputs[0]["devices"] == {}
        ok = run_builtin(
            NAME,
            config(site, username="dao", password=secret, lastDays=1),
            cache_dir,
            allow_host_ports=[site.port],
            until=lambda c: bool(c.outputs),
        )
        assert sorted(ok.outputs[0]["devices"]) == ["station-a", "station-b"]
    finally:
        site.close()
    for run, password in ((got, wrong), (ok, secret)):
        text = everything(run)
        token = base64.b64encode(f"dao:{password}".encode()).decode()
        assert password not in text and token not in text


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"baseUrl": "ftp://dao:Pol4r-s3cret@{host}/data/"},
            "config: baseUrl: must be an http:// or https:// URL, not 'ftp://{host}/data/'",
        ),
        (
            {"baseUrl": "http://{alias}:port/data/"},
            "config: baseUrl: Port could not be cast to integer value as 'port'",
        ),
        (
            {"filePattern": "today.txt"},
            "config: filePattern: 'today.txt' has no date field such as %Y-%m-%d",
        ),
        ({"dateFrom": "2024-02-01", "dateTo": "2024-01-31"}, "config: dateFrom: is after dateTo"),
        (
            {"timeFormat": "yesterday"},
            "config: timeFormat: use auto, iso, unix, unix_ms or a pattern like %d.%m.%Y",
        ),
        ({"devices": "station-a, .."}, "config: devices/sensors: '..' is not a folder name"),
    ],
)
def test_a_config_that_cannot_work_is_named_then_it_exits_with_78(
    site: FileSite, cache_dir: Path, values: dict[str, str], message: str
) -> None:
    host = f"{HOST_ALIAS}:{site.port}"
    cfg = config(
        site, **{name: value.format(host=host, alias=HOST_ALIAS) for name, value in values.items()}
    )
    got = run_builtin(
        NAME, cfg, cache_dir, allow_host_ports=[site.port], until=lambda c: bool(c.exits())
    )
    # it ended by itself with status 78: reason "config", which a dashboard does not restart
    assert [(e.state, e.reason, e.code) for e in got.exits()] == [
        (RunState.EXITED, ExitReason.CONFIG, EX_CONFIG)
    ]
    assert errors(got) == [message.format(host=host)]
    assert got.outputs == []
    assert site.paths() == []
    assert "Pol4r-s3cret" not in everything(got)


def test_bad_lines_are_reported_and_the_rest_is_kept(site: FileSite, cache_dir: Path) -> None:
    today = datetime.now(UTC).date()
    folder = site.root / "buoy-1" / "temperature"
    folder.mkdir(parents=True)
    lines = [
        "# buoy, degrees C",
        "time value",
        f"{today}T00:00:00Z -1.5",
        f"{today}T00:10:00Z sensor-fault",
        "garbage",
        f"{today}T00:20:00Z nan",
        f"{today}T00:30:00Z -1.25",
    ]
    (folder / day_file(today)).write_text("\n".join(lines) + "\n")

    async def go() -> Collector:
        running = await start_builtin(
            NAME, config(site, lastDays=1), cache_dir, allow_host_ports=[site.port]
        )
        try:
            await running.wait_for(lambda c: bool(c.outputs) and bool(errors(c)))
            asked = len(site.paths())
            await site.wait_for(lambda: len(site.paths()) >= asked + 4)  # still polling
        finally:
            await running.stop()
        return running.collector

    got = asyncio.run(go())
    start = datetime(today.year, today.month, today.day, tzinfo=UTC).timestamp() * 1000
    rows = got.outputs[0]["devices"]["buoy-1"]["temperature"]
    assert rows == [[start, -1.5], [start + 30 * 60_000, -1.25]]
    problem = [e for e in errors(got) if "bad lines" in e]
    assert len(problem) == 1, errors(got)
    assert problem[0].startswith(f"buoy-1/temperature/{day_file(today)}: 3 bad lines skipped")
    assert "line 4: '" in problem[0] and "garbage" in problem[0]
    assert [s.reason for s in got.exits()] == ["terminated"], "it ended before it was stopped"


# --- reading rows in-process (fast) ----------------------------------------------------------


def load(name: str) -> ModuleType:
    """One of the module's files, imported from its folder."""
    path = builtin_dir(NAME) / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"file_collector_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


T0 = 1_704_412_800_000  # 2024-01-05T00:00:00Z


@pytest.mark.parametrize(
    ("text", "layout", "rows"),
    [
        ("time,temp\n2024-01-05T00:00:00Z,-20.5\n", {}, [(T0, (-20.5,))]),
        ("1704412800 -20,5\n1704413400000 7\n", {}, [(T0, (-20.5,)), (T0 + 600_000, (7.0,))]),
        ("2024-01-05 00:00:00 3\n", {}, [(T0, (3.0,))]),
        ("2024-01-05T01:00:00+01:00;4,25\n", {}, [(T0, (4.25,))]),
        ("a,b,c\n1704412800,9,8\n", {"value_column": "C"}, [(T0, (8.0,))]),
        (
            "v t\n2 05.01.2024 00:00\n",
            {"time_column": "1", "value_column": "0", "time_format": "%d.%m.%Y %H:%M"},
            [(T0, (2.0,))],
        ),
        (
            "time alt lon lat\n2024-01-05T00:00:00Z 9 15.6 78.2\n",
            {"position": True},
            [(T0, (78.2, 15.6))],
        ),
        ("2024-01-05T00:00:00Z 78.2 15.6\n", {"position": True}, [(T0, (78.2, 15.6))]),
    ],
)
def test_rows_are_read_from_csv_and_whitespace_columns(
    text: str, layout: dict[str, Any], rows: list[Any]
) -> None:
    readings = load("readings")
    parsed = readings.read_rows(text, readings.Layout(**layout))
    assert (parsed.rows, parsed.bad, parsed.error) == (rows, 0, None)


def test_a_named_column_the_file_lacks_is_a_file_problem() -> None:
    readings = load("readings")
    parsed = readings.read_rows(
        "time,temp\n2024-01-05T00:00:00Z,1\n", readings.Layout(value_column="volts")
    )
    assert parsed.rows == []
    assert parsed.problem() == 'column "volts" not found in the header (time, temp)'


def test_index_pages_yield_only_child_folders() -> None:
    fileserver = load("fileserver")
    page = (
        '<a href="?C=N;O=D">Name</a><a href="../">up</a><a href="/">root</a>'
        '<a href="https://elsewhere.example/x/">x</a><a href="//elsewhere.example/y/">y</a>'
        '<a href="station%20a/">a</a><a href="station-b/">b</a><a href="notes.txt">n</a>'
        '<a href="http://h/data/station-c/">c</a><a href="station-b/2024/">deep</a>'
        '<a href=".hidden/">h</a><a href="#top">top</a>'
    )
    assert fileserver.folder_links(page, "http://h/data/") == [
        "station a",
        "station-b",
        "station-c",
    ]


def test_odd_bytes_are_bad_lines_not_crashes() -> None:
    readings = load("readings")
    text = 'time,v\n2024-01-05T00:00:00Z,1\n2024-01-05T00:10:00Z,"2\x00\n\x00\x01,\n,,\n'
    parsed = readings.read_rows(text, readings.Layout())
    assert parsed.rows == [(T0, (1.0,))]
    assert parsed.bad == 3
