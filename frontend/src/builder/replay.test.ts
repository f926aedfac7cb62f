import { describe, expect, it } from "vitest";

import { type ReplayEvent, ReplayPlayer, type ReplayState, type Timers, timeline } from "./replay";

/** A clock the test moves: timers fire in due order as time is advanced. */
class FakeTimers implements Timers {
  wall = 1_000_000;
  private queue: { due: number; id: number; callback: () => void }[] = [];
  private ids = 0;

  now(): number {
    return this.wall;
  }

  set(callback: () => void, ms: number): unknown {
    const id = ++this.ids;
    this.queue.push({ due: this.wall + ms, id, callback });
    return id;
  }

  clear(handle: unknown): void {
    this.queue = this.queue.filter((t) => t.id !== handle);
  }

  /** Move the wall clock forward by `ms`, running each timer at its due time. */
  advance(ms: number): void {
    const end = this.wall + ms;
    for (;;) {
      this.queue.sort((a, b) => a.due - b.due || a.id - b.id);
      const first = this.queue[0];
      if (!first || first.due > end) break;
      this.queue.shift();
      this.wall = first.due;
      first.callback();
    }
    this.wall = end;
  }
}

const T0 = Date.UTC(2026, 11, 2, 17, 0, 0);

/** A recorded temperature every 7 s and a status that changed twice, over 10 minutes. */
function recorded(): ReplayEvent[] {
  const temperature: [number, unknown][] = [];
  for (let s = 0; s <= 600; s += 7) temperature.push([T0 + s * 1000, 20 + s / 100]);
  const status: [number, unknown][] = [
    [T0 + 90_000, "ok"],
    [T0 + 420_500, "low battery"],
  ];
  return timeline(
    [
      ["/i1/temperature", temperature],
      ["/i1/status", status],
    ],
    T0,
    T0 + 600_000,
  );
}

function player(events: ReplayEvent[], timers: FakeTimers) {
  const delivered: { wall: number; event: ReplayEvent }[] = [];
  const states: ReplayState[] = [];
  const p = new ReplayPlayer(
    events,
    { from: T0, to: T0 + 600_000 },
    (event) => delivered.push({ wall: timers.now(), event }),
    (state) => states.push(state),
    timers,
  );
  return { p, delivered, states };
}

describe("replay", () => {
  it("merges the sources into one timeline in time order", () => {
    const events = recorded();
    expect(events.length).toBe(86 + 2);
    for (let i = 1; i < events.length; i++) expect(events[i].t).toBeGreaterThanOrEqual(events[i - 1].t);
    expect(timeline([["/a", [[T0 - 1, 1], [T0, 2], [T0 + 5, 3]]]], T0, T0 + 4).map((e) => e.value)).toEqual([2]);
  });

  it("at 60× delivers the recorded values in order with their relative timing", () => {
    const events = recorded();
    const timers = new FakeTimers();
    const { p, delivered, states } = player(events, timers);
    const start = timers.now();
    p.setSpeed(60);
    p.play();
    // Ten recorded minutes take ten seconds at 60×.
    timers.advance(9_000);
    expect(p.state.playing).toBe(true);
    timers.advance(1_100);
    expect(states.at(-1)).toMatchObject({ playing: false, ended: true, at: T0 + 600_000 });

    expect(delivered.map((d) => d.event)).toEqual(events);
    for (const { wall, event } of delivered) {
      // Each value arrives when its recorded time comes on the replay clock (within 1 ms
      // of wall time: the timers round up to whole milliseconds), never early.
      const due = start + (event.t - T0) / 60;
      expect(wall).toBeGreaterThanOrEqual(due);
      expect(wall - due).toBeLessThanOrEqual(1);
    }
  });

  it("pauses, resumes where it paused, and changes speed without a jump", () => {
    const events = recorded();
    const timers = new FakeTimers();
    const { p, delivered } = player(events, timers);
    p.setSpeed(10);
    p.play();
    timers.advance(3_000); // 30 recorded seconds: 0, 7, 14, 21, 28
    p.pause();
    expect(p.position()).toBe(T0 + 30_000);
    expect(delivered.map((d) => d.event.t - T0)).toEqual([0, 7_000, 14_000, 21_000, 28_000]);
    timers.advance(60_000);
    expect(delivered.length).toBe(5);
    expect(p.position()).toBe(T0 + 30_000);
    p.play();
    p.setSpeed(1);
    timers.advance(5_000); // 35 s recorded: one more value (35 s)
    expect(delivered.map((d) => d.event.t - T0).slice(5)).toEqual([35_000]);
    expect(p.position()).toBe(T0 + 35_000);
  });

  it("seeks: every source gets its value at the new position, and play goes on from there", () => {
    const events = recorded();
    const timers = new FakeTimers();
    const { p, delivered, states } = player(events, timers);
    p.seek(T0 + 421_000);
    expect(states.at(-1)).toMatchObject({ at: T0 + 421_000, seek: 1, playing: false });
    const atSeek = new Map(delivered.map((d) => [d.event.source, d.event.value]));
    expect(atSeek.get("/i1/status")).toBe("low battery");
    expect(atSeek.get("/i1/temperature")).toBe(20 + 420 / 100);
    delivered.length = 0;
    p.setSpeed(60);
    p.play();
    timers.advance(1_000); // one recorded minute: the values from 427 s to 476 s
    expect(delivered.map((d) => (d.event.t - T0) / 1000)).toEqual([427, 434, 441, 448, 455, 462, 469, 476]);
    // Back before the status changed: it is "ok" again.
    delivered.length = 0;
    p.seek(T0 + 100_000);
    expect(new Map(delivered.map((d) => [d.event.source, d.event.value])).get("/i1/status")).toBe("ok");
    expect(p.state.seek).toBe(2);
  });

  it("plays again from the start once it has ended", () => {
    const timers = new FakeTimers();
    const { p, delivered } = player(recorded(), timers);
    p.setSpeed(60);
    p.play();
    timers.advance(11_000);
    expect(p.state.ended).toBe(true);
    delivered.length = 0;
    p.play();
    expect(p.state).toMatchObject({ playing: true, ended: false });
    // Back at the start: the first temperature, and no status yet.
    expect(delivered.map((d) => [d.event.source, d.event.value])).toEqual([
      ["/i1/temperature", 20],
      ["/i1/status", null],
    ]);
    p.destroy();
    timers.advance(60_000);
    expect(delivered.length).toBe(2);
  });
});
