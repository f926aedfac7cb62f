"""The MQTT subscriber built-in, run in the sandbox against a real Mosquitto broker.

Messages are published with ``mosquitto_pub`` (QoS 1, so each has reached the
broker when the call returns). A test publishes only once the integration has
said ``subscribed to ...``, and ends with a last message it waits for: the
broker delivers in order, so everything published before it has arrived too.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.builtin.harness import HOST_ALIAS, Collector, start_builtin
from tests.fixtures.mosquitto import Mosquitto, make_tls, mosquitto_broker
from visualbox.runtime.messages import RunState, StatusLevel
from visualbox.runtime.sandbox.base import EX_CONFIG, ExitReason

Scenario = Callable[[], Awaitable[None]]


def run(scenario: Scenario) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 50))


def config(broker: Mosquitto, topics: str, **more: Any) -> dict[str, Any]:
    return {"host": HOST_ALIAS, "port": broker.port, "topics": topics, **more}


def latest(c: Collector) -> dict[str, Any]:
    outputs = c.outputs
    return outputs[-1] if outputs else {"topics": {}}


def record(model: dict[str, Any], topic: str) -> dict[str, Any] | None:
    """The record of ``topic`` in an output: at its levels in the tree, under '#'."""
    node: Any = model["topics"]
    for level in topic.split("/"):
        if not isinstance(node, dict) or level not in node:
            return None
        node = node[level]
    found: dict[str, Any] | None = node.get("#")
    return found


def topic_names(tree: dict[str, Any], prefix: tuple[str, ...] = ()) -> set[str]:
    names = {"/".join(prefix)} if "#" in tree else set()
    for level, child in tree.items():
        if level != "#":
            names |= topic_names(child, (*prefix, level))
    return names


def value_of(topic: str) -> Callable[[Collector], Any]:
    def get(c: Collector) -> Any:
        found = record(latest(c), topic)
        return None if found is None else found["value"]

    return get


def subscribed(times: int = 1) -> Callable[[Collector], bool]:
    def check(c: Collector) -> bool:
        return sum("subscribed to" in s for s in c.statuses(StatusLevel.INFO)) >= times

    return check


def only_stopped(c: Collector) -> bool:
    """It ran until the test stopped it: one exit, ``terminated``, no crash before."""
    return [s.reason for s in c.exits()] == ["terminated"]


def errors_with(text: str, times: int = 1) -> Callable[[Collector], bool]:
    def check(c: Collector) -> bool:
        return sum(text in s for s in c.statuses(StatusLevel.ERROR)) >= times

    return check


def test_json_and_text_payloads_with_latest_value_and_bounded_history(
    tmp_path: Path, cache_dir: Path
) -> None:
    async def scenario() -> None:
        with mosquitto_broker(tmp_path) as broker:
            running = await start_builtin(
                "mqtt",
                config(broker, "sensors/#", history=3),
                cache_dir,
                allow_host_ports=[broker.port],
            )
            try:
                await running.wait_for(subscribed())
                publish = broker.publish
                for n in range(1, 6):
                    await asyncio.to_thread(publish, "sensors/a/temp", f"{n}.5")
                await asyncio.to_thread(publish, "sensors/a", '{"state": "ON", "level": 2}')
                await asyncio.to_thread(publish, "sensors/text", "hello, world")
                await asyncio.to_thread(publish, "sensors/nan", "NaN")
                await asyncio.to_thread(publish, "sensors/bin", b"\xff\x00\xfe")
                await asyncio.to_thread(publish, "sensors/last", "true")
                await running.wait_for(lambda c: value_of("sensors/last")(c) is True)
            finally:
                await running.stop()
        got = running.collector
        model = latest(got)
        assert model["connected"] is True
        assert got.outputs[0] == {"topics": {}, "connected": False, "updated_at": None}

        temp = record(model, "sensors/a/temp")
        assert temp is not None
        assert temp["value"] == 5.5
        assert [v for _, v in temp["history"]] == [3.5, 4.5, 5.5]  # only the last 3 (history=3)
        times = [t for t, _ in temp["history"]]
        assert times == sorted(times) and temp["t"] == times[-1]
        # "sensors/a" is a topic and a prefix of another: its record sits beside the child
        assert record(model, "sensors/a") is not None
        assert value_of("sensors/a")(got) == {"state": "ON", "level": 2}
        assert value_of("sensors/text")(got) == "hello, world"
        assert value_of("sensors/nan")(got) == "NaN"  # not JSON's NaN: kept as text
        assert value_of("sensors/bin")(got) == "<binary payload of 3 bytes>"
        last = record(model, "sensors/last")
        assert last is not None and model["updated_at"] == last["t"]
        assert only_stopped(got)

    run(scenario)


def test_a_burst_is_coalesced_into_at_most_ten_outputs_a_second(
    tmp_path: Path, cache_dir: Path
) -> None:
    count = 500

    async def scenario() -> None:
        with mosquitto_broker(tmp_path) as broker:
            running = await start_builtin(
                "mqtt",
                config(broker, "burst", history=1000),
                cache_dir,
                allow_host_ports=[broker.port],
            )
            try:
                await running.wait_for(subscribed())
                before = len(running.collector.outputs)
                started = time.monotonic()
                lines = [str(n) for n in range(1, count + 1)]
                await asyncio.to_thread(broker.publish_lines, "burst", lines)
                await running.wait_for(lambda c: value_of("burst")(c) == count)
                elapsed = time.monotonic() - started
            finally:
                await running.stop()
        got = running.collector
        sent = len(got.outputs) - before
        assert sent <= elapsed * 10 + 2, (sent, elapsed)  # not one output per message
        burst = record(latest(got), "burst")
        assert burst is not None
        assert [v for _, v in burst["history"]] == list(range(1, count + 1))  # none lost

    run(scenario)


def test_a_model_too_large_for_one_output_keeps_shorter_histories(
    tmp_path: Path, cache_dir: Path
) -> None:
    count, size = 20, 60_000  # 20 values of 60 kB: 1.2 MB, over the 1 MiB output limit

    async def scenario() -> None:
        with mosquitto_broker(tmp_path) as broker:
            running = await start_builtin(
                "mqtt", config(broker, "big"), cache_dir, allow_host_ports=[broker.port]
            )
            try:
                await running.wait_for(subscribed())
                for n in range(1, count + 1):
                    await asyncio.to_thread(broker.publish, "big", f"{n:02d}" + "x" * size)
                await running.wait_for(lambda c: str(value_of("big")(c)).startswith(f"{count:02d}"))
            finally:
                await running.stop()
        got = running.collector
        assert any("keeping only the last" in e for e in got.statuses(StatusLevel.ERROR))
        big = record(latest(got), "big")
        assert big is not None
        kept = [int(v[:2]) for _, v in big["history"]]
        assert 0 < len(kept) < count and kept == list(range(count - len(kept) + 1, count + 1))
        assert max(len(json.dumps(o)) for o in got.outputs) < 1_000_000

    run(scenario)


def test_wildcard_filters_select_only_matching_topics(tmp_path: Path, cache_dir: Path) -> None:
    async def scenario() -> None:
        with mosquitto_broker(tmp_path) as broker:
            running = await start_builtin(
                "mqtt",
                config(broker, "home/+/temp\n\n  office/#  \n", history=0),
                cache_dir,
                allow_host_ports=[broker.port],
            )
            try:
                await running.wait_for(subscribed())
                for topic in (
                    "home/kitchen/temp",
                    "home/kitchen/humidity",
                    "home/a/b/temp",
                    "office",
                    "office/a/b",
                    "garden/temp",
                    "home/zz/temp",
                ):
                    await asyncio.to_thread(broker.publish, topic, "1")
                await running.wait_for(lambda c: value_of("home/zz/temp")(c) == 1)
            finally:
                await running.stop()
        names = topic_names(latest(running.collector)["topics"])
        assert names == {"home/kitchen/temp", "home/zz/temp", "office", "office/a/b"}
        office = record(latest(running.collector), "office")
        assert office is not None and office["value"] == 1 and office["history"] == []

    run(scenario)


def test_password_protected_broker(tmp_path: Path, cache_dir: Path) -> None:
    right, wrong = "correct horse 7f3a", "wrong pony 91bc"

    async def scenario() -> None:
        with mosquitto_broker(tmp_path, users={"ann": right}) as broker:
            good = await start_builtin(
                "mqtt",
                config(broker, "private/#", username="ann", password=right),
                cache_dir,
                allow_host_ports=[broker.port],
            )
            bad = await start_builtin(
                "mqtt",
                config(broker, "private/#", username="ann", password=wrong),
                cache_dir,
                allow_host_ports=[broker.port],
            )
            try:
                await good.wait_for(subscribed())
                await asyncio.to_thread(broker.publish, "private/x", "42", user=("ann", right))
                await good.wait_for(lambda c: value_of("private/x")(c) == 42)
                # refused, then refused again after the back-off: it retries, never exits
                await bad.wait_for(errors_with("refused the connection", times=2))
            finally:
                await good.stop()
                await bad.stop()
        refusal = bad.collector.statuses(StatusLevel.ERROR)[0]
        assert "not authori" in refusal.lower(), refusal
        assert not bad.collector.outputs[-1]["connected"]
        assert only_stopped(bad.collector)
        for running in (good, bad):
            text = json.dumps([m.to_json() for m in running.collector.messages])
            assert right not in text and wrong not in text

    run(scenario)


def test_reconnects_when_the_broker_comes_back(tmp_path: Path, cache_dir: Path) -> None:
    async def scenario() -> None:
        with mosquitto_broker(tmp_path) as broker:
            await asyncio.to_thread(broker.stop)  # not there yet when it starts
            running = await start_builtin(
                "mqtt", config(broker, "x/#"), cache_dir, allow_host_ports=[broker.port]
            )
            try:
                await running.wait_for(errors_with("cannot connect"))
                await asyncio.to_thread(broker.start)
                await running.wait_for(subscribed())
                await asyncio.to_thread(broker.publish, "x/1", "1")
                await running.wait_for(lambda c: value_of("x/1")(c) == 1)

                await asyncio.to_thread(broker.stop)
                await running.wait_for(errors_with("lost the connection"))
                await running.wait_for(lambda c: latest(c)["connected"] is False)

                await asyncio.to_thread(broker.start)
                await running.wait_for(subscribed(times=2))  # subscribed again
                await running.wait_for(lambda c: latest(c)["connected"] is True)
                await asyncio.to_thread(broker.publish, "x/1", "2")
                await running.wait_for(lambda c: value_of("x/1")(c) == 2)
            finally:
                await running.stop()
        history = record(latest(running.collector), "x/1")
        assert history is not None and [v for _, v in history["history"]] == [1, 2]
        assert only_stopped(running.collector)  # the same process reconnected

    run(scenario)


def ends_for_its_config(cache_dir: Path, values: dict[str, Any]) -> Collector:
    """Run with ``values`` (no network: it must stop before connecting) until it exits.

    It must end by itself with status 78: reason ``config``, which a dashboard
    does not restart, with nothing sent.
    """

    async def scenario() -> Collector:
        running = await start_builtin("mqtt", values, cache_dir, network="none")
        try:
            await running.wait_for(lambda c: bool(c.exits()))
        finally:
            await running.stop()
        return running.collector

    got = asyncio.run(asyncio.wait_for(scenario(), 50))
    assert [(e.state, e.reason, e.code) for e in got.exits()] == [
        (RunState.EXITED, ExitReason.CONFIG, EX_CONFIG)
    ]
    assert not got.outputs
    return got


def test_bad_topic_filters_are_named_on_one_line_then_it_exits_with_78(cache_dir: Path) -> None:
    got = ends_for_its_config(
        cache_dir, {"host": HOST_ALIAS, "topics": "ok/#\nsensors/#/temp\nhome/a+"}
    )
    assert got.statuses(StatusLevel.ERROR) == [
        "config: topics: line 2: topic filter 'sensors/#/temp': '#' must be a whole level "
        "and the last one (like sensors/#); topics: line 3: topic filter 'home/a+': "
        "'+' must be a whole level (like home/+/temp)"
    ]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"password": "Br0ker-s3cret"},
            "config: password: MQTT sends a password only with a user name",
        ),
        (
            {"tls": True, "caCert": "-----BEGIN CERTIFICATE-----\nnot base64\n"},
            "config: caCert: not a usable PEM certificate (",
        ),
        (
            {"tls": True, "caCert": "certificat signé"},
            "config: caCert: not a usable PEM certificate (",
        ),
        ({"host": "   "}, "config: host: give the broker's host name or address"),
    ],
)
def test_a_setting_that_cannot_work_is_named_then_it_exits_with_78(
    cache_dir: Path, values: dict[str, Any], message: str
) -> None:
    got = ends_for_its_config(cache_dir, {"host": HOST_ALIAS, "topics": "a/#", **values})
    [line] = got.statuses(StatusLevel.ERROR)
    assert line.startswith(message), line
    assert "Br0ker-s3cret" not in json.dumps([m.to_json() for m in got.messages])


def test_tls_with_a_self_signed_ca(tmp_path: Path, cache_dir: Path) -> None:
    tls = make_tls(tmp_path)

    async def scenario() -> None:
        with mosquitto_broker(tmp_path, tls=tls) as broker:
            trusted = await start_builtin(
                "mqtt",
                config(broker, "secure/#", tls=True, caCert=tls.ca_pem),
                cache_dir,
                allow_host_ports=[broker.port],
            )
            untrusted = await start_builtin(
                "mqtt",
                config(broker, "secure/#", tls=True),  # the public CAs do not know it
                cache_dir,
                allow_host_ports=[broker.port],
            )
            try:
                await trusted.wait_for(subscribed())
                await asyncio.to_thread(broker.publish, "secure/a", '"hi"')
                await trusted.wait_for(lambda c: value_of("secure/a")(c) == "hi")
                await untrusted.wait_for(errors_with("certificate verify failed"))
            finally:
                await trusted.stop()
                await untrusted.stop()
        assert not untrusted.collector.outputs[-1]["connected"]

    run(scenario)
