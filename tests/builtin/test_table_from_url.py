"""The built-in Table from URL integration, run for real in the sandbox against a loopback API."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.builtin.harness import HOST_ALIAS, Collector, checked_builtin, run_builtin
from tests.fixtures.http_api import HttpApi, Reply
from visualbox.errors import InvalidInput
from visualbox.runtime.messages import Output, RunState, Status, StatusLevel
from visualbox.runtime.sandbox.base import EX_CONFIG, ExitReason

NAME = "table-from-url"
SECRET = "Bearer t4ble-s3cret-99"
CSV = b"city;temp;station;note\r\nOslo;3.5;007;\r\n\r\nRome;18;112;warm\r\nLima;-2e1;.5;1_000\r\n"


def config(api: HttpApi, path: str, **values: Any) -> dict[str, Any]:
    return {"url": f"http://{HOST_ALIAS}:{api.port}{path}", "interval": 0.2, **values}


def run(
    api: HttpApi, cache_dir: Path, cfg: dict[str, Any], until: Callable[[Collector], bool]
) -> Collector:
    return run_builtin(NAME, cfg, cache_dir, until=until, allow_host_ports=[api.port], timeout=60)


def errors(c: Collector) -> list[str]:
    return c.statuses(StatusLevel.ERROR)


def until_table_status(c: Collector) -> bool:
    """An output and the table's size status (statuses and outputs use different pipes)."""
    return bool(c.outputs) and any(s.startswith("table: ") for s in c.statuses(StatusLevel.INFO))


def without_time(table: dict[str, Any]) -> dict[str, Any]:
    """``table`` without ``fetched_at``, which must be whole Unix seconds of about now."""
    rest = dict(table)
    fetched_at = rest.pop("fetched_at")
    assert type(fetched_at) is int and abs(fetched_at - time.time()) < 60, fetched_at
    return rest


def test_csv_with_a_header_row_and_typed_numbers(api: HttpApi, cache_dir: Path) -> None:
    api.serve("/weather", Reply(200, CSV, "text/plain; charset=utf-8"))
    before = time.time()
    got = run(
        api,
        cache_dir,
        config(api, "/weather"),
        lambda c: len(c.outputs) >= 2 and until_table_status(c),
    )
    table = got.outputs[0]
    assert table["columns"] == ["city", "temp", "station", "note"]
    assert table["rows"] == [
        ["Oslo", 3.5, "007", ""],
        ["Rome", 18, 112, "warm"],
        ["Lima", -20.0, 0.5, "1_000"],
    ]
    assert before - 1 <= table["fetched_at"] <= time.time() + 1
    assert isinstance(table["fetched_at"], int)
    assert got.outputs[1]["rows"] == table["rows"]
    assert "table: 3 rows × 4 columns" in got.statuses(StatusLevel.INFO)
    assert errors(got) == []


def test_csv_without_header_with_a_given_delimiter_and_max_rows(
    api: HttpApi, cache_dir: Path
) -> None:
    api.serve("/t.tsv", Reply(200, b"1\ta,b\n2\tc\tx\n3\td\n", "text/tab-separated-values"))
    cfg = config(api, "/t.tsv", header=False, delimiter="tab", maxRows=2)
    got = run(api, cache_dir, cfg, until_table_status)
    assert got.outputs[0]["columns"] == ["column 1", "column 2", "column 3"]
    assert got.outputs[0]["rows"] == [[1, "a,b", None], [2, "c", "x"]]
    assert "table: 2 rows × 3 columns (maxRows reached)" in got.statuses(StatusLevel.INFO)


def test_json_array_of_objects_takes_the_union_of_keys(api: HttpApi, cache_dir: Path) -> None:
    items = [{"id": 1, "name": "a"}, {"name": "b", "tags": ["x"]}, {"id": 3, "ok": None}]
    api.serve("/items", Reply.json(items))
    got = run(api, cache_dir, config(api, "/items"), lambda c: len(c.outputs) >= 1)
    assert got.outputs[0]["columns"] == ["id", "name", "tags", "ok"]
    assert got.outputs[0]["rows"] == [
        [1, "a", None, None],
        [None, "b", ["x"], None],
        [3, None, None, None],
    ]


def test_json_arrays_and_columns_rows_shapes(api: HttpApi, cache_dir: Path) -> None:
    # JSON sent as text/plain: "auto" knows it by its first character
    api.serve(
        "/t",
        Reply(200, b' [["a", "b"], [1, "2"], [3]]', "text/plain"),
        Reply(200, b'{"columns": ["x"], "rows": [[true], [null]]}', "text/plain"),
    )
    got = run(api, cache_dir, config(api, "/t"), lambda c: len(c.outputs) >= 2)
    assert [without_time(o) for o in got.outputs[:2]] == [
        {"columns": ["a", "b"], "rows": [[1, "2"], [3, None]]},
        {"columns": ["x"], "rows": [[True], [None]]},
    ]


def test_interval_0_fetches_once_and_finishes_with_code_0(api: HttpApi, cache_dir: Path) -> None:
    api.serve("/once.csv", Reply(200, b"a,b\n1,2\n", "text/csv"))
    got = run(api, cache_dir, config(api, "/once.csv", interval=0), lambda c: bool(c.exits()))
    assert [(e.reason, e.code) for e in got.exits()] == [("exited", 0)]
    assert [without_time(o) for o in got.outputs] == [{"columns": ["a", "b"], "rows": [[1, 2]]}]
    assert len(api.requests) == 1
    assert "fetched once (interval 0): finished" in got.statuses(StatusLevel.INFO)


def test_errors_back_off_until_a_fetch_works(api: HttpApi, cache_dir: Path) -> None:
    # interval 0: retried after 1, 2 s; once a fetch works, the run finishes
    api.serve(
        "/t.csv",
        Reply(404, b"{}"),
        Reply(200, b"[1, 2", "application/json"),
        Reply(200, b"a\n1\n", "text/csv"),
    )
    got = run(api, cache_dir, config(api, "/t.csv", interval=0), lambda c: bool(c.exits()))
    assert errors(got)[0] == "HTTP 404 Not Found; next try in 1 s"
    assert errors(got)[1].startswith("the response is not JSON: ")
    assert errors(got)[1].endswith("; next try in 2 s")
    assert [without_time(o) for o in got.outputs] == [{"columns": ["a"], "rows": [[1]]}]
    assert "recovered after 2 failed fetch(es)" in got.statuses(StatusLevel.INFO)
    assert [e.code for e in got.exits()] == [0]
    at = [r.at for r in api.requests]
    assert 0.9 < at[1] - at[0] < at[2] - at[1], at


def test_the_secret_header_reaches_the_server_but_never_a_message(
    api: HttpApi, cache_dir: Path
) -> None:
    api.serve("/t", Reply(403, b"", reason=f"refused {SECRET}"), Reply.json([{"a": 1}]))
    cfg = config(api, "/t?token=abc", secretHeaderName="Authorization", secretHeaderValue=SECRET)
    got = run(
        api,
        cache_dir,
        cfg,
        lambda c: bool(c.outputs) and any("HTTP 403" in e for e in errors(c)),
    )
    assert [r.headers["authorization"] for r in api.requests[:2]] == [SECRET, SECRET]
    assert api.requests[0].headers["user-agent"] == "VisualBox-table-from-url/1.0"
    assert any("HTTP 403 refused ***" in e for e in errors(got)), errors(got)
    shown = [m for m in got.messages if isinstance(m, Status | Output)]
    assert shown and all(SECRET not in json.dumps(m.data) for m in shown)
    assert all("token=abc" not in s for s in got.statuses(StatusLevel.INFO))


def ended_for_its_config(c: Collector) -> bool:
    """It ended by itself with status 78: ``config``, which a dashboard does not restart."""
    return [(e.state, e.reason, e.code) for e in c.exits()] == [
        (RunState.EXITED, ExitReason.CONFIG, EX_CONFIG)
    ]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"delimiter": ";;"}, "config: delimiter: ';;' must be one character, 'tab' or empty"),
        ({"url": "file:///etc/passwd"}, "config: url: must be an http:// or https:// address"),
        (
            {"url": "http://me:pw@{host}/t.csv"},
            "config: url: must not contain credentials; use the secret header",
        ),
        (
            {"secretHeaderName": "Authorization"},
            "config: secretHeaderValue: is empty while a secret header name is set",
        ),
        (
            {"secretHeaderName": "Bad Name", "secretHeaderValue": SECRET},
            "config: secretHeaderName: 'Bad Name' is not a valid header name",
        ),
    ],
)
def test_a_setting_that_cannot_work_is_named_then_it_exits_with_78(
    api: HttpApi, cache_dir: Path, values: dict[str, str], message: str
) -> None:
    api.serve("/t.csv", Reply(200, b"a\n1\n", "text/csv"))
    host = f"{HOST_ALIAS}:{api.port}"
    cfg = config(api, "/t.csv", **{name: value.format(host=host) for name, value in values.items()})
    got = run(api, cache_dir, cfg, lambda c: bool(c.exits()))
    assert ended_for_its_config(got), got.exits()
    assert errors(got) == [message]
    assert got.outputs == []
    assert api.requests == []
    assert all(SECRET not in json.dumps(m.to_json()) for m in got.messages)


def test_the_config_schema_refuses_bad_values() -> None:
    schema = checked_builtin(NAME).schema
    good = {"url": "http://example.invalid/t.csv"}
    assert schema.validate_values(good)["format"] == "auto"
    refusals: list[tuple[dict[str, Any], str]] = [
        ({"interval": -1}, "config.interval"),
        ({"maxRows": 0}, "config.maxRows"),
        ({"maxRows": 2.5}, "config.maxRows"),
        ({"format": "xml"}, "config.format"),
        ({"header": "yes"}, "config.header"),
        ({"url": None}, "config.url"),
    ]
    for bad, field in refusals:
        with pytest.raises(InvalidInput) as refused:
            schema.validate_values({**good, **bad})
        assert [f.field for f in refused.value.fields] == [field]
