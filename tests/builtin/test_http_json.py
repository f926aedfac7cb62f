"""The built-in HTTP JSON poller, run for real in the sandbox against a loopback API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.builtin.harness import HOST_ALIAS, Collector, checked_builtin, run_builtin, start_builtin
from tests.fixtures.http_api import HttpApi, Reply
from visualbox.errors import InvalidInput
from visualbox.runtime.messages import Output, RunState, Status, StatusLevel
from visualbox.runtime.sandbox.base import EX_CONFIG, ExitReason

NAME = "http-json"
SECRET = "Bearer s3cr3t-t0ken-42"
DOC = {"data": {"items": [{"id": "a", "v": 1.5}, {"id": "b", "v": None}], "ok": True}}


def config(api: HttpApi, path: str = "/data", **values: Any) -> dict[str, Any]:
    return {"url": f"http://{HOST_ALIAS}:{api.port}{path}", "interval": 0.2, **values}


def run(
    api: HttpApi, cache_dir: Path, cfg: dict[str, Any], until: Callable[[Collector], bool]
) -> Collector:
    return run_builtin(NAME, cfg, cache_dir, until=until, allow_host_ports=[api.port], timeout=60)


def errors(c: Collector) -> list[str]:
    return c.statuses(StatusLevel.ERROR)


def said(c: Collector, text: str, level: StatusLevel = StatusLevel.ERROR) -> int:
    """How many status lines of ``level`` contain ``text``.

    Statuses (stdout/stderr) and outputs travel on different pipes, so a test waits
    for the statuses it checks as well as for the outputs.
    """
    return sum(text in s for s in c.statuses(level))


def test_outputs_the_json_the_api_serves(api: HttpApi, cache_dir: Path) -> None:
    api.serve("/data", Reply.json(DOC), Reply.json({"n": 2}))
    got = run(
        api,
        cache_dir,
        config(api),
        lambda c: len(c.outputs) >= 3 and said(c, "polling GET", StatusLevel.INFO) > 0,
    )
    assert got.outputs[:3] == [DOC, {"n": 2}, {"n": 2}]
    assert [r.method for r in api.seen("/data")][:3] == ["GET"] * 3
    assert api.requests[0].headers["user-agent"] == "VisualBox-http-json/1.0"
    assert any("polling GET" in s for s in got.statuses(StatusLevel.INFO))
    assert errors(got) == []


def test_a_json_pointer_selects_a_sub_tree(api: HttpApi, cache_dir: Path) -> None:
    api.serve("/data", Reply.json(DOC), Reply.json({"data": {"items": [0]}}), Reply.json(DOC))
    got = run(
        api,
        cache_dir,
        config(api, pointer="/data/items/1"),
        lambda c: len(c.outputs) >= 2 and said(c, "pointer") > 0,
    )
    # the second answer has one item only: a clear status, then the third is selected again
    assert got.outputs[:2] == [{"id": "b", "v": None}, {"id": "b", "v": None}]
    assert any("pointer /data/items/1: only 1 items at 1" in e for e in errors(got)), errors(got)


def test_headers_body_and_the_secret_reach_the_server_but_never_a_message(
    api: HttpApi, cache_dir: Path
) -> None:
    # the API's error phrase echoes the token back: the status must not repeat it
    api.serve("/data", Reply(401, b"{}", reason=f"bad token {SECRET}"), Reply.json(DOC))
    cfg = config(
        api,
        "/data?key=abc",
        method="POST",
        body='{"query": "temp"}',
        headers="Accept: application/json\n\nX-Trace:  t-1 \nUser-Agent: probe/2",
        secretHeaderName="Authorization",
        secretHeaderValue=SECRET,
    )
    got = run(api, cache_dir, cfg, lambda c: len(c.outputs) >= 1 and said(c, "HTTP 401") > 0)
    first = api.requests[0]
    assert first.method == "POST"
    assert first.body == b'{"query": "temp"}'
    assert first.headers["content-type"] == "application/json"
    assert first.headers["accept"] == "application/json"
    assert first.headers["x-trace"] == "t-1"
    assert first.headers["user-agent"] == "probe/2"
    assert first.headers["authorization"] == SECRET
    assert got.outputs[0] == DOC
    assert any("HTTP 401 bad token ***" in e for e in errors(got)), errors(got)
    shown = [m for m in got.messages if isinstance(m, Status | Output)]
    assert shown and all(SECRET not in json.dumps(m.data) for m in shown)
    assert all("key=abc" not in s for s in got.statuses(StatusLevel.INFO))


def test_the_secret_follows_a_redirect_only_to_the_same_origin(
    api: HttpApi, cache_dir: Path
) -> None:
    with HttpApi() as other:
        api.serve("/old", Reply.redirect("/data"))
        api.serve("/data", Reply.redirect(f"http://{HOST_ALIAS}:{other.port}/moved"))
        other.serve("/moved", Reply.json(DOC))
        cfg = config(
            api,
            "/old",
            headers="X-Plain: yes",
            secretHeaderName="X-Api-Key",
            secretHeaderValue=SECRET,
        )
        got = run_builtin(
            NAME,
            cfg,
            cache_dir,
            until=lambda c: len(c.outputs) >= 1,
            allow_host_ports=[api.port, other.port],
            timeout=20,
        )
        assert got.outputs[0] == DOC
        old, same = api.requests[:2]
        moved = other.requests[0]
    assert (old.path, same.path, moved.path) == ("/old", "/data", "/moved")
    assert old.headers["x-api-key"] == same.headers["x-api-key"] == SECRET
    assert "x-api-key" not in moved.headers
    assert moved.headers["x-plain"] == "yes"


def test_failures_back_off_then_recover_without_exiting(api: HttpApi, cache_dir: Path) -> None:
    api.serve("/data", Reply(500, b"{}"), Reply(500, b"{}"), Reply(500, b"{}"), Reply.json(DOC))

    async def go() -> Collector:
        running = await start_builtin(NAME, config(api), cache_dir, allow_host_ports=[api.port])
        try:
            await running.wait_for(
                lambda c: len(c.outputs) >= 2 and said(c, "recovered", StatusLevel.INFO) > 0, 60
            )
            assert running.collector.exits() == []
        finally:
            await running.stop()
        return running.collector

    got = asyncio.run(go())
    assert got.outputs[:2] == [DOC, DOC]
    assert sum("HTTP 500 Internal Server Error" in e for e in errors(got)) == 3, errors(got)
    assert any("recovered after 3 failed poll(s)" in s for s in got.statuses(StatusLevel.INFO))
    at = [r.at for r in api.seen("/data")]
    gaps = [b - a for a, b in zip(at, at[1:], strict=False)]
    # waits after 1, 2, 3 failures: 0.4, 0.8, 1.6 s; after the success: 0.2 s again
    assert 0.35 < gaps[0] < gaps[1] < gaps[2], gaps
    assert gaps[1] > 1.4 * gaps[0] and gaps[2] > 1.4 * gaps[1], gaps
    assert gaps[3] < gaps[2] / 3, gaps


def test_invalid_json_is_a_status_and_polling_goes_on(api: HttpApi, cache_dir: Path) -> None:
    api.serve("/data", Reply(200, b'{"a": 1,'), Reply(200, b"NaN"), Reply.json([1, "two"]))
    got = run(api, cache_dir, config(api), lambda c: bool(c.outputs) and said(c, "not JSON") >= 2)
    assert got.outputs[0] == [1, "two"]
    assert len([e for e in errors(got) if "the response is not JSON" in e]) == 2, errors(got)
    assert [e for e in got.exits() if e.reason != "terminated"] == []


def test_a_slow_answer_times_out_and_polling_goes_on(api: HttpApi, cache_dir: Path) -> None:
    api.serve("/data", Reply(200, b"{}", delay=1.5), Reply.json(DOC))
    got = run(
        api,
        cache_dir,
        config(api, timeout=0.3),
        lambda c: bool(c.outputs) and said(c, "no answer") > 0,
    )
    assert got.outputs[0] == DOC
    assert errors(got)[0] == "no answer within 0.3 s; next try in 0.4 s", errors(got)


def test_a_json_string_stays_a_string(api: HttpApi, cache_dir: Path) -> None:
    api.serve("/data", Reply.json({"n": "42"}))
    got = run(api, cache_dir, config(api, pointer="/n"), lambda c: len(c.outputs) >= 1)
    assert got.outputs[0] == "42"


def ended_for_its_config(c: Collector) -> bool:
    """It ended by itself with status 78: ``config``, which a dashboard does not restart."""
    return [(e.state, e.reason, e.code) for e in c.exits()] == [
        (RunState.EXITED, ExitReason.CONFIG, EX_CONFIG)
    ]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"headers": "Accept: application/json\nno colon here"},
            "config: headers: line 2 'no colon here' is not 'Name: value'",
        ),
        ({"url": "ftp://{host}/data"}, "config: url: must be an http:// or https:// address"),
        (
            {"url": "http://me:pw@{host}/data"},
            "config: url: must not contain credentials; use the secret header",
        ),
        (
            {"secretHeaderValue": SECRET},
            "config: secretHeaderName: is needed when a secret header value is set",
        ),
        (
            {"pointer": "data/0"},
            "config: pointer: 'data/0' must be empty or start with '/' (e.g. /data/0)",
        ),
    ],
)
def test_a_setting_that_cannot_work_is_named_then_it_exits_with_78(
    api: HttpApi, cache_dir: Path, values: dict[str, str], message: str
) -> None:
    api.serve("/data", Reply.json(DOC))
    host = f"{HOST_ALIAS}:{api.port}"
    cfg = config(api, **{name: value.format(host=host) for name, value in values.items()})
    got = run(api, cache_dir, cfg, lambda c: bool(c.exits()))
    assert ended_for_its_config(got), got.exits()
    assert errors(got) == [message]
    assert got.outputs == []
    assert api.requests == []
    assert all(SECRET not in json.dumps(m.to_json()) for m in got.messages)


def test_the_config_schema_refuses_bad_values() -> None:
    schema = checked_builtin(NAME).schema
    good = {"url": "http://example.invalid/", "interval": 0.5}
    assert schema.validate_values(good)["method"] == "GET"
    refusals: list[tuple[dict[str, Any], str]] = [
        ({"interval": 0}, "config.interval"),
        ({"method": "HEAD"}, "config.method"),
        ({"url": ""}, "config.url"),
        ({"timeout": 1000}, "config.timeout"),
        ({"verifyTls": "no"}, "config.verifyTls"),
    ]
    for bad, field in refusals:
        with pytest.raises(InvalidInput) as refused:
            schema.validate_values({**good, **bad})
        assert [f.field for f in refused.value.fields] == [field]
