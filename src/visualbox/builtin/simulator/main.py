"""Simulated IoT device: sensors, a GPS track and a battery, no network needed.

Every `interval` seconds it outputs one reading of each sensor, its position and
battery level, plus a bounded history for line charts (see README.md).
"""

import math
import random
import sys
import time
from collections import deque

import visualbox

RESERVED = {"device", "t", "battery", "position", "track", "history"}
METRES_PER_DEGREE = 111_320.0
HOME_RADIUS_M = 400.0
config = visualbox.MODEL
rng = random.Random(config["seed"] or None)


class Sensor:
    """One simulated signal: a sine wave, noise around a centre, or a random walk."""

    def __init__(self, name, kind, centre, spread, period):
        self.name, self.kind = name, kind
        self.centre, self.spread, self.period = centre, spread, period
        self.value = centre

    def read(self, elapsed):
        if self.kind == "sine":
            wave = math.sin(2 * math.pi * elapsed / self.period)
            return self.centre + self.spread * wave + rng.gauss(0, self.spread * 0.03)
        if self.kind == "noise":
            return self.centre + rng.gauss(0, self.spread / 3)
        # random walk, pulled back towards the centre and kept within centre ± spread
        self.value += rng.gauss(0, self.spread * 0.08) + (self.centre - self.value) * 0.02
        low, high = self.centre - self.spread, self.centre + self.spread
        self.value = min(max(self.value, low), high)
        return self.value


def sensors_from(config):
    sensors = []
    for i in (1, 2, 3):
        name = (config[f"sensor{i}"] or "").strip()
        kind = config[f"sensor{i}_kind"]
        if not name or kind == "off":
            continue
        if name in RESERVED or any(s.name == name for s in sensors):
            print(f"sensor{i}: the name {name!r} is taken; using {name}_{i}", file=sys.stderr)
            name = f"{name}_{i}"
        centre, spread = config[f"sensor{i}_centre"], config[f"sensor{i}_spread"]
        sensors.append(Sensor(name, kind, centre, spread, config[f"sensor{i}_period"]))
    return sensors


class Walker:
    """A GPS position wandering at `speed` around its start, never far from it."""

    def __init__(self, lat, lon, speed):
        self.home = (lat, lon)
        self.lat, self.lon, self.speed = lat, lon, speed
        self.heading = rng.uniform(0, 2 * math.pi)

    def step(self, seconds):
        north = (self.home[0] - self.lat) * METRES_PER_DEGREE
        east = (self.home[1] - self.lon) * METRES_PER_DEGREE * math.cos(math.radians(self.lat))
        if math.hypot(north, east) > HOME_RADIUS_M:
            self.heading = math.atan2(east, north)  # turn back home
        self.heading += rng.gauss(0, 0.25)
        metres = self.speed * seconds
        self.lat += metres * math.cos(self.heading) / METRES_PER_DEGREE
        scale = METRES_PER_DEGREE * math.cos(math.radians(self.lat))
        self.lon += metres * math.sin(self.heading) / scale
        return {"lat": round(self.lat, 6), "lon": round(self.lon, 6)}


def main():
    interval = config["interval"]
    keep = config["history"]
    sensors = sensors_from(config)
    walker = Walker(config["lat"], config["lon"], config["speed"]) if config["gps"] else None
    battery = 100.0 if config["battery"] else None
    drain_per_second = config["battery_drain"] / 60
    history = {s.name: deque(maxlen=keep) for s in sensors}
    track = deque(maxlen=keep)
    names = ", ".join(s.name for s in sensors) or "no sensors"
    print(f"{config['device']}: {names}, a reading every {interval} s", flush=True)

    start = last = next_at = time.monotonic()
    while True:
        now = time.monotonic()
        t = int(time.time() * 1000)
        reading = {"device": config["device"], "t": t}
        for sensor in sensors:
            value = round(sensor.read(now - start), 2)
            reading[sensor.name] = value
            if keep:
                history[sensor.name].append([t, value])
        if battery is not None:
            battery -= drain_per_second * (now - last) * rng.uniform(0.8, 1.2)
            if battery < 5:
                print("battery swapped: back to 100 %", flush=True)
                battery = 100.0
            reading["battery"] = round(battery, 1)
        if walker is not None:
            position = walker.step(now - last)
            reading["position"] = position
            if keep:
                track.append([position["lat"], position["lon"]])
                reading["track"] = list(track)
        if keep:
            reading["history"] = {name: list(points) for name, points in history.items()}
        visualbox.output(reading)
        last = now
        next_at = max(next_at + interval, time.monotonic())  # steady pace, no catching up
        time.sleep(next_at - time.monotonic())


main()
