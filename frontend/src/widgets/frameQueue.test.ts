import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { OFF_SCREEN_WAIT_MS, queueFrame } from "./frameQueue";

// No DOM here: a viewport of 1400 × 700, elements that are only their rectangle, and an
// IntersectionObserver the test triggers itself.
const observed = new Set<unknown>();
let trigger: ((target: unknown) => void) | null = null;

class FakeObserver {
  constructor(callback: (changes: { isIntersecting: boolean; target: unknown }[]) => void) {
    trigger = (target) => callback([{ isIntersecting: true, target }]);
  }
  observe(target: unknown): void {
    observed.add(target);
  }
  unobserve(target: unknown): void {
    observed.delete(target);
  }
}

function at(top: number, left: number): HTMLElement {
  const rect = { top, left, bottom: top + 150, right: left + 300, width: 300, height: 150 };
  return { getBoundingClientRect: () => rect } as unknown as HTMLElement;
}

async function settled(): Promise<void> {
  await Promise.resolve();
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.stubGlobal("window", { innerHeight: 700, innerWidth: 1400 });
  vi.stubGlobal("document", { documentElement: { clientHeight: 700, clientWidth: 1400 } });
  vi.stubGlobal("IntersectionObserver", FakeObserver);
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe("queueFrame", () => {
  it("starts frames in reading order, whatever order they were queued in", async () => {
    const started: string[] = [];
    const cells: [string, number, number][] = [
      ["bottom right", 300, 700],
      ["top right", 0, 700],
      ["bottom left", 300, 0],
      ["top left", 0, 0],
    ];
    const queued = cells.map(([name, top, left]) => queueFrame(at(top, left), () => started.push(name)));
    expect(started).toEqual([]); // after the mounting, not during it
    await settled();
    expect(started).toEqual(["top left", "top right", "bottom left", "bottom right"]);
    for (const frame of queued) frame.ready();
  });

  it("starts off-screen frames once those in view are ready", async () => {
    const started: string[] = [];
    const below = queueFrame(at(2000, 0), () => started.push("below"));
    const first = queueFrame(at(0, 0), () => started.push("first"));
    const second = queueFrame(at(0, 700), () => started.push("second"));
    await settled();
    expect(started).toEqual(["first", "second"]);
    first.ready();
    expect(started).toEqual(["first", "second"]);
    second.ready();
    expect(started).toEqual(["first", "second", "below"]);
    below.ready();
    expect(observed.size).toBe(0);
  });

  it("starts an off-screen frame when it comes near the view, or after a while", async () => {
    const started: string[] = [];
    const inView = queueFrame(at(0, 0), () => started.push("in view"));
    const scrolled = at(2000, 0);
    queueFrame(scrolled, () => started.push("scrolled to"));
    queueFrame(at(4000, 0), () => started.push("far"));
    await settled();
    trigger?.(scrolled);
    expect(started).toEqual(["in view", "scrolled to"]);
    vi.advanceTimersByTime(OFF_SCREEN_WAIT_MS); // the one in view never got ready
    expect(started).toEqual(["in view", "scrolled to", "far"]);
    inView.ready();
  });

  it("never starts a frame cancelled before its turn", async () => {
    const started: string[] = [];
    const gone = queueFrame(at(0, 0), () => started.push("gone"));
    const kept = queueFrame(at(0, 700), () => started.push("kept"));
    gone.cancel();
    await settled();
    expect(started).toEqual(["kept"]);
    kept.ready();
  });
});
