"""The Simulated IoT device, run for real in the sandbox with no network at all."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from tests.builtin.harness import Collector, run_builtin
from visualbox.errors import InvalidInput
from visualbox.runtime.messages import StatusLevel

FAST = {"interval": 0.2, "seed": 7}


def run(cache_dir: Path, outputs: int, **config: Any) -> Collector:
    return run_builtin(
        "simulator",
        {**FAST, **config},
        cache_dir,
        network="none",
        until=lambda c: len(c.outputs) >= outputs,
    )


def test_every_reading_has_the_sensors_battery_position_and_bounded_history(
    cache_dir: Path,
) -> None:
    got = run(cache_dir, 8, history=5, battery_drain=60)
    readings: list[dict[str, Any]] = got.outputs
    last = readings[7]
    assert {"device", "t", "temperature", "humidity", "signal", "battery", "position"} <= set(last)
    assert last["device"] == "demo-device"
    assert [r["t"] for r in readings] == sorted(r["t"] for r in readings)
    for reading in readings:
        assert 21 - 4 * 1.3 <= reading["temperature"] <= 21 + 4 * 1.3
        assert 55 - 15 <= reading["humidity"] <= 55 + 15
        assert -70 - 10 <= reading["signal"] <= -70 + 10
    # history: the last 5 readings of each sensor, oldest first; the track likewise
    assert last["history"]["temperature"] == [[r["t"], r["temperature"]] for r in readings[3:8]]
    assert last["track"] == [[r["position"]["lat"], r["position"]["lon"]] for r in readings[3:8]]
    # 60 % per minute: the battery falls at every reading
    levels = [r["battery"] for r in readings]
    assert all(later < earlier for earlier, later in zip(levels[1:], levels[2:], strict=False))


def test_the_device_moves_at_its_speed(cache_dir: Path) -> None:
    got = run(cache_dir, 6, speed=50)
    readings = got.outputs
    for a, b in zip(readings[1:], readings[2:], strict=False):
        north = (b["position"]["lat"] - a["position"]["lat"]) * 111_320
        east = (
            (b["position"]["lon"] - a["position"]["lon"])
            * 111_320
            * math.cos(math.radians(a["position"]["lat"]))
        )
        seconds = (b["t"] - a["t"]) / 1000
        assert math.hypot(north, east) == pytest.approx(50 * seconds, rel=0.35)


def test_a_sine_sensor_sweeps_its_amplitude(cache_dir: Path) -> None:
    got = run(
        cache_dir,
        14,
        sensor1_centre=0,
        sensor1_spread=10,
        sensor1_period=2,
        sensor2_kind="off",
        sensor3="",
        gps=False,
        battery=False,
        history=0,
    )
    values = [r["temperature"] for r in got.outputs]
    assert max(values) > 7 and min(values) < -7  # a whole cycle fits in 14 × 0.2 s
    assert set(got.outputs[0]) == {"device", "t", "temperature"}


def test_the_same_seed_gives_the_same_noise(cache_dir: Path) -> None:
    only_noise = {"sensor1_kind": "noise", "sensor2_kind": "off", "sensor3_kind": "off"}
    first = run(cache_dir, 4, **only_noise, gps=False, battery=False)
    again = run(cache_dir, 4, **only_noise, gps=False, battery=False)
    values = [r["temperature"] for r in first.outputs[:4]]
    assert values == [r["temperature"] for r in again.outputs[:4]]
    assert len(set(values)) == 4


def test_clashing_sensor_names_are_renamed_and_reported(cache_dir: Path) -> None:
    got = run(cache_dir, 1, sensor2="battery", sensor3="temperature")
    assert {"battery", "battery_2", "temperature", "temperature_3"} <= set(got.outputs[0])
    errors = got.statuses(StatusLevel.ERROR)
    assert any("sensor2" in line and "battery_2" in line for line in errors)


def test_bad_values_are_refused_by_the_config_schema(cache_dir: Path) -> None:
    with pytest.raises(InvalidInput) as info:
        run(cache_dir, 1, interval=0, sensor1_kind="square", lat=91)
    fields = {f.field for f in info.value.fields}
    assert fields == {"config.interval", "config.sensor1_kind", "config.lat"}
